/**
 * The weight-initialization chart: best validation and training accuracy
 * and final training loss against the initial weight scale (log axis), one
 * line per group, as three panels.
 *
 * @module
 */

import { type LabelledRun, meanFinalLoss, summarizeRun } from "./run_data.ts";
import { chartFrame, type CurveOptions, RUN_COLORS, type VegaLiteSpec } from "./theme.ts";

/** One run of the weight-initialization experiment. */
export interface WeightScaleRun {
  /** Series the run belongs to (e.g. "baseline", "batchnorm"). */
  group: string;
  /** Standard deviation of the initial weights. */
  weightScale: number;
  /** The run's log, in order. */
  records: LabelledRun["records"];
}

/** One point of the weight-initialization charts. */
export interface WeightScaleRow {
  /** Series the run belongs to (its line in the charts). */
  group: string;
  /** Standard deviation of the initial weights (> 0; the x axis is logarithmic). */
  weightScale: number;
  /** Best validation accuracy over all checks, a fraction in [0, 1]; null when the run has none. */
  bestValAcc: number | null;
  /** Best training accuracy over all checks, a fraction in [0, 1]; null when the run has none. */
  bestTrainAcc: number | null;
  /** Mean loss of the last `finalLossSteps` (default 100) steps with a finite loss; null when no step has one. */
  finalTrainLoss: number | null;
}

/** Options of {@link weightScaleRows} and {@link weightScaleSpec}. */
export interface WeightScaleRowsOptions {
  /**
   * The final training loss is the mean loss of this many last steps, as the
   * notebook's `np.mean(solver.loss_history[-100:])` (see {@link meanFinalLoss}).
   * Default 100; 1 gives the last step's loss.
   */
  finalLossSteps?: number;
}

/**
 * Best validation / training accuracy and final training loss (the mean of
 * the last 100 steps' losses, by default) of each run, sorted by group and
 * weight scale, for {@link weightScaleSpec}.
 *
 * @throws RangeError when a weight scale is not positive (the axis is
 * logarithmic) or `finalLossSteps` is not a positive integer
 */
export function weightScaleRows(
  runs: readonly WeightScaleRun[],
  { finalLossSteps = 100 }: WeightScaleRowsOptions = {},
): WeightScaleRow[] {
  if (!Number.isSafeInteger(finalLossSteps) || finalLossSteps < 1) {
    throw new RangeError(`weightScaleRows: finalLossSteps ${finalLossSteps} must be a positive integer`);
  }
  return runs.map((r) => {
    if (!(r.weightScale > 0)) {
      throw new RangeError(
        `weightScaleRows: weight scale ${r.weightScale} of group "${r.group}" is not positive (the axis is logarithmic)`,
      );
    }
    const s = summarizeRun({ label: r.group, records: r.records });
    return {
      group: r.group,
      weightScale: r.weightScale,
      bestValAcc: s.bestValAcc ?? null,
      bestTrainAcc: s.bestTrainAcc ?? null,
      finalTrainLoss: meanFinalLoss(r.records, finalLossSteps),
    };
  }).sort((a, b) => a.group < b.group ? -1 : a.group > b.group ? 1 : a.weightScale - b.weightScale);
}

/** Options of {@link weightScaleSpec}. */
export interface WeightScaleSpecOptions extends CurveOptions, WeightScaleRowsOptions {}

/**
 * Best validation accuracy, best training accuracy and final training
 * loss (mean of the last 100 steps, see {@link weightScaleRows}) against the
 * weight-initialization scale (log x axis), one line per group (baseline vs
 * batchnorm), as three panels. Data: dataset `weightScale`.
 */
export function weightScaleSpec(runs: readonly WeightScaleRun[], options: WeightScaleSpecOptions = {}): VegaLiteSpec {
  const rows = weightScaleRows(runs, options);
  const groups = [...new Set(runs.map((r) => r.group))];
  const groupTitle = options.runTitle ?? "Model";
  const decades = decadeTicks(rows.map((r) => r.weightScale));
  const panel = (field: keyof WeightScaleRow, title: string, format: string) => ({
    title,
    width: options.width ?? 220,
    height: options.height ?? 200,
    transform: [{ filter: `isValid(datum.${field})` }],
    encoding: {
      x: {
        field: "weightScale",
        type: "quantitative" as const,
        title: "Weight scale σ (log)",
        scale: { type: "log" as const, domain: [decades[0], decades.at(-1)!] },
        axis: { values: decades, format: "~e", gridOpacity: 1 },
      },
      y: {
        field,
        type: "quantitative" as const,
        title: null,
        axis: { format: format === ".2%" ? ".0%" : "~r" },
        scale: { zero: false },
      },
      color: {
        field: "run",
        type: "nominal" as const,
        title: groupTitle,
        scale: { domain: groups, range: RUN_COLORS },
        legend: { orient: "bottom" as const, direction: "horizontal" as const, symbolOpacity: 1 },
      },
      tooltip: [
        { field: "run", type: "nominal" as const, title: groupTitle },
        { field: "weightScale", type: "quantitative" as const, title: "Weight scale", format: ".2e" },
        { field, type: "quantitative" as const, title, format },
      ],
    },
    layer: [{ mark: { type: "line" as const } }, { mark: { type: "point" as const, size: 40 } }],
  });
  return {
    ...chartFrame(
      "weightScale",
      rows.map((r) => ({ run: r.group, ...r })),
      options.title ?? "Sensitivity to weight initialization",
      options.subtitle,
    ),
    hconcat: [
      panel("bestValAcc", "Best validation accuracy", ".2%"),
      panel("bestTrainAcc", "Best training accuracy", ".2%"),
      panel("finalTrainLoss", "Final training loss", ".4f"),
    ],
    resolve: { scale: { color: "shared" } },
  };
}

/** Powers of ten from the one at or below the smallest value to the one at or above the largest (at least two). */
export function decadeTicks(values: readonly number[]): number[] {
  const positive = values.filter((v) => v > 0 && Number.isFinite(v));
  if (positive.length === 0) return [1e-1, 1];
  const lo = Math.floor(Math.log10(Math.min(...positive)) + 1e-9);
  let hi = Math.ceil(Math.log10(Math.max(...positive)) - 1e-9);
  if (hi === lo) hi = lo + 1;
  const out: number[] = [];
  for (let e = lo; e <= hi; e++) out.push(Number(`1e${e}`));
  return out;
}
