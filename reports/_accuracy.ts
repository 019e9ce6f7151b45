/**
 * Pieces shared by the accuracy charts (`accuracy_curve.ts`,
 * `accuracy_panels.ts`): rows with the split in words, the epoch and
 * accuracy encodings and the tooltip.
 *
 * @module
 */

import { type AccuracyRow, accuracyRows, type LabelledRun } from "./run_data.ts";

/** One accuracy row as a chart shows it (split in words). */
export interface AccuracyChartRow extends Omit<AccuracyRow, "split"> {
  split: "training" | "validation";
}

/** The accuracy rows of runs, with the split in words. */
export function accuracyChartRows(runs: readonly LabelledRun[]): AccuracyChartRow[] {
  return runs.flatMap(accuracyRows).map((r) => ({ ...r, split: r.split === "train" ? "training" : "validation" }));
}

/** The tooltip of an accuracy point. */
export const accuracyTooltip = (runTitle: string) => [
  { field: "run", type: "nominal" as const, title: runTitle },
  { field: "split", type: "nominal" as const, title: "Split" },
  { field: "epoch", type: "quantitative" as const, title: "Epoch", format: ".2~f" },
  { field: "iteration", type: "quantitative" as const, title: "Iteration", format: ",d" },
  { field: "accuracy", type: "quantitative" as const, title: "Accuracy", format: ".2%" },
];

/** The y encoding of accuracy (a fraction, shown as a percentage). */
export const accuracyY = {
  field: "accuracy",
  type: "quantitative" as const,
  title: "Accuracy",
  axis: { format: ".0%" },
};
/**
 * The stroke-dash encoding of the split: the `dashed` split drawn dashed,
 * the other solid, with stroke samples in the legend.
 */
export function splitDash(dashed: "training" | "validation") {
  return {
    field: "split",
    type: "nominal" as const,
    title: "Split",
    scale: { domain: ["training", "validation"], range: dashed === "training" ? [[6, 4], [1, 0]] : [[1, 0], [6, 4]] },
    legend: { symbolType: "stroke", symbolStrokeColor: "#59636e", symbolSize: 300, symbolStrokeWidth: 2 },
  };
}

/** The x encoding of completed epochs. */
export const epochX = {
  field: "epoch",
  type: "quantitative" as const,
  title: "Epoch (completed passes over the training set)",
  axis: { tickMinStep: 1, format: "d" },
};
