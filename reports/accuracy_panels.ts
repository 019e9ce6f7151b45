/**
 * The accuracy-panels chart: training and validation accuracy per epoch
 * side by side, one colour per run (the course's comparisons of batch
 * sizes, normalizations and dropout), and its dropout preset.
 *
 * @module
 */

import { accuracyChartRows, accuracyTooltip, accuracyY, epochX } from "./_accuracy.ts";
import { chartRuns } from "./chart_label.ts";
import type { LabelledRun } from "./run_data.ts";
import { chartFrame, type CurveOptions, runColor, type VegaLiteSpec } from "./theme.ts";

/** Options of {@link accuracyPanelsSpec}. */
export interface AccuracyPanelsOptions extends CurveOptions {
  /** Panel titles. Default "Training accuracy", "Validation accuracy". */
  panelTitles?: [string, string];
}

/**
 * Two panels side by side, training accuracy and validation accuracy per
 * epoch, one colour per run: the course's comparison of batch sizes,
 * normalizations and dropout values. Label the runs by what differs
 * (see `runFacts`). Data: dataset `accuracy`, as `accuracyCurveSpec`.
 */
export function accuracyPanelsSpec(runs: readonly LabelledRun[], options: AccuracyPanelsOptions = {}): VegaLiteSpec {
  const shown = chartRuns("accuracyPanelsSpec", runs);
  const labels = shown.map((r) => r.label);
  const runTitle = options.runTitle ?? "Run";
  const [trainTitle, valTitle] = options.panelTitles ?? ["Training accuracy", "Validation accuracy"];
  const panel = (split: "training" | "validation", title: string) => ({
    title,
    width: options.width ?? 330,
    height: options.height ?? 240,
    transform: [{ filter: { field: "split", equal: split } }],
    encoding: {
      x: { ...epochX, title: "Epoch" },
      y: accuracyY,
      color: runColor(labels, runTitle),
      tooltip: accuracyTooltip(runTitle),
    },
    layer: [{ mark: { type: "line" as const } }, { mark: { type: "point" as const, size: 30 } }],
  });
  return {
    ...chartFrame("accuracy", accuracyChartRows(shown), options.title ?? "Accuracy per epoch", options.subtitle),
    hconcat: [panel("training", trainTitle), panel("validation", valTitle)],
    resolve: { scale: { y: "shared", color: "shared" } },
  };
}

/**
 * The course's dropout experiment: training and validation accuracy per
 * epoch for each dropout value (`dropout` = probability of dropping a
 * unit; 0 = no dropout), one colour per value.
 */
export function dropoutSpec(
  runs: readonly { dropout: number; records: LabelledRun["records"] }[],
  options: AccuracyPanelsOptions = {},
): VegaLiteSpec {
  const labelled = runs.map((r) => ({
    label: r.dropout === 0 ? "no dropout" : `dropout p = ${r.dropout}`,
    records: r.records,
  }));
  return accuracyPanelsSpec(labelled, {
    title: "Dropout: training vs validation accuracy",
    subtitle: "p = probability of dropping a hidden unit",
    runTitle: "Dropout",
    ...options,
  });
}
