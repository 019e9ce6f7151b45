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
  const lossCap = offScaleCap(rows.map((r) => r.finalTrainLoss));
  const panel = (field: keyof WeightScaleRow, title: string, yTitle: string, format: string) => {
    // Losses of runs that blew up would flatten every other point: they are drawn at the top edge, as triangles.
    const capped = field === "finalTrainLoss" && lossCap !== null;
    return {
      title: capped ? `${title} (▲ above the plot)` : title,
      width: options.width ?? 228,
      height: options.height ?? 220,
      transform: [
        { filter: `isValid(datum.${field})` },
        { calculate: capped ? `min(datum.${field}, ${lossCap})` : `datum.${field}`, as: "shown" },
        { calculate: capped ? `datum.${field} > ${lossCap}` : "false", as: "offScale" },
      ],
      encoding: {
        x: {
          field: "weightScale",
          type: "quantitative" as const,
          title: "Weight scale σ (log)",
          scale: { type: "log" as const, domain: [decades[0], decades.at(-1)!] },
          axis: { values: decades, format: "~e", gridOpacity: 1 },
        },
        y: {
          field: "shown",
          type: "quantitative" as const,
          title: yTitle,
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
          ...(capped
            ? [{ field: "offScale", type: "nominal" as const, title: "Above the plot (drawn at its edge)" }]
            : []),
        ],
      },
      layer: [
        // No line runs out of a panel's plot (off-scale points sit at its edge, whole).
        { mark: { type: "line" as const, clip: true } },
        {
          mark: { type: "point" as const, size: 40 },
          encoding: {
            shape: {
              field: "offScale",
              type: "nominal" as const,
              scale: { domain: [false, true], range: ["circle", "triangle-up"] },
              legend: capped
                ? { title: null, orient: "bottom" as const, labelExpr: "datum.value ? 'above the plot' : 'in range'" }
                : null,
            },
            size: { condition: { test: "datum.offScale", value: 90 }, value: 40 },
          },
        },
      ],
    };
  };
  return {
    ...chartFrame(
      "weightScale",
      rows.map((r) => ({ run: r.group, ...r })),
      options.title ?? "Sensitivity to weight initialization",
      options.subtitle,
    ),
    hconcat: [
      panel("bestValAcc", "Best validation accuracy", "Validation accuracy", ".2%"),
      panel("bestTrainAcc", "Best training accuracy", "Training accuracy", ".2%"),
      panel("finalTrainLoss", "Final training loss", "Loss (mean of last 100 steps)", ".4f"),
    ],
    resolve: { scale: { color: "shared" } },
  };
}

/**
 * Where a loss axis stops so that runs that blew up do not flatten the
 * others: 4 × the median of the finite values, or null when every value is
 * within it (nothing is off the scale).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { offScaleCap } from "./weight_scale.ts";
 * assertEquals(offScaleCap([2.1, 2.2, 2.3, 1e6]), 9);
 * assertEquals(offScaleCap([2.1, 2.2, 2.3]), null);
 * ```
 */
export function offScaleCap(values: readonly (number | null)[]): number | null {
  const finite = values.filter((v): v is number => v !== null && Number.isFinite(v)).sort((a, b) => a - b);
  if (finite.length === 0) return null;
  const mid = finite.length >> 1;
  const median = finite.length % 2 === 1 ? finite[mid] : (finite[mid - 1] + finite[mid]) / 2;
  const cap = 4 * median;
  return finite.at(-1)! > cap ? cap : null;
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
