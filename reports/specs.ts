/**
 * Vega-Lite specs for the charts of the course's experiments: plain data in,
 * a spec out. Every chart has a title, axis titles, a shared look
 * ({@link chartConfig}) and tooltips; run labels colour the marks in the
 * order the runs are given, so a run keeps its colour across the charts of a
 * report.
 *
 * Data sits in named top-level `datasets` (`loss`, `accuracy`, …) so that a
 * live page can append rows to them by name.
 *
 * @module
 */

import type { Config, TopLevelSpec } from "vega-lite";
import {
  type AccuracyRow,
  accuracyRows,
  checkLabels,
  type LabelledRun,
  lossRows,
  type LossRowsOptions,
  meanFinalLoss,
  runSeries,
  summarizeRun,
} from "./run_data.ts";

/** A Vega-Lite specification (the JSON vega-lite 6 compiles). */
export type VegaLiteSpec = TopLevelSpec;

/** A Vega-Lite config (vega-lite's `Config`): the look of a chart. */
export type VegaLiteConfig = Config;

const SCHEMA = "https://vega.github.io/schema/vega-lite/v6.json";

/** The font stack of the pages and charts: the system's own UI font, nothing fetched. */
export const REPORT_FONT =
  'system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "Liberation Sans", "DejaVu Sans", Arial, sans-serif';

/** Colours of runs, in order (Tableau 10, darkened slightly for print). */
export const RUN_COLORS = [
  "#4e79a7",
  "#f28e2b",
  "#e15759",
  "#59a14f",
  "#b07aa1",
  "#76b7b2",
  "#edc948",
  "#9c755f",
  "#ff9da7",
  "#bab0ac",
];

/** The look shared by every chart: light, quiet grid, system font. */
export const chartConfig: VegaLiteConfig = {
  font: REPORT_FONT,
  background: "#ffffff",
  padding: 6,
  view: { stroke: null },
  title: {
    fontSize: 14,
    fontWeight: 600,
    anchor: "start",
    color: "#1f2328",
    subtitleColor: "#59636e",
    subtitleFontSize: 12,
    offset: 12,
  },
  axis: {
    labelColor: "#59636e",
    labelFontSize: 11,
    titleColor: "#1f2328",
    titleFontSize: 12,
    titleFontWeight: 500,
    titlePadding: 8,
    gridColor: "#eef0f3",
    domainColor: "#9ba3ad",
    tickColor: "#9ba3ad",
  },
  legend: {
    labelColor: "#1f2328",
    labelFontSize: 11,
    labelLimit: 240,
    titleColor: "#59636e",
    titleFontSize: 11,
    titleFontWeight: 600,
    symbolStrokeWidth: 2.5,
    rowPadding: 5,
  },
  header: { labelFontSize: 12, labelColor: "#1f2328", titleFontSize: 12 },
  range: { category: RUN_COLORS },
  line: { strokeWidth: 2, strokeCap: "round", strokeJoin: "round" },
  point: { filled: true },
  concat: { spacing: 28 },
};

/** Chart size in px (each panel, for multi-panel charts). */
export interface ChartSize {
  /** Plot width in px. Default depends on the chart (e.g. 700 for the loss curve). */
  width?: number;
  /** Plot height in px. Default depends on the chart; the gradient-check chart ignores it (22 px per row). */
  height?: number;
}

/** Options shared by the run-curve charts. */
export interface CurveOptions extends ChartSize {
  /** Chart title. */
  title?: string;
  /** A line under the title. */
  subtitle?: string;
  /** Legend title for the run labels. Default "Run". */
  runTitle?: string;
}

function titleOf(text: string, subtitle?: string) {
  return subtitle === undefined ? { text } : { text, subtitle };
}

function runColor(labels: string[], title: string) {
  return {
    field: "run",
    type: "nominal" as const,
    title,
    scale: { domain: labels, range: RUN_COLORS },
    sort: labels,
    legend: { symbolOpacity: 1 },
  };
}

/** Options of {@link lossCurveSpec}. */
export interface LossCurveOptions extends CurveOptions, LossRowsOptions {
  /** Log-scale y axis (for runs whose loss spans decades). Default false. */
  logY?: boolean;
}

/**
 * Training loss per iteration for several runs on one chart: every kept
 * step as a faint point, the smoothed loss as a line on top (see
 * `lossRows`: at most `maxPoints` per run, bias-corrected moving average).
 * Click a legend entry to pick a run out; drag or scroll to pan and zoom.
 * Data: dataset `loss` (rows `{ run, iteration, epoch, loss, smoothed }`).
 */
export function lossCurveSpec(runs: readonly LabelledRun[], options: LossCurveOptions = {}): VegaLiteSpec {
  const labels = runs.map((r) => r.label);
  checkLabels("lossCurveSpec", labels);
  const rows = runs.flatMap((r) => lossRows(r, options));
  const yScale = options.logY ? { type: "log" as const } : { zero: false };
  const tooltip = [
    { field: "run", type: "nominal" as const, title: options.runTitle ?? "Run" },
    { field: "iteration", type: "quantitative" as const, title: "Iteration", format: ",d" },
    { field: "epoch", type: "quantitative" as const, title: "Epoch", format: "d" },
    { field: "loss", type: "quantitative" as const, title: "Loss", format: ".4f" },
    { field: "smoothed", type: "quantitative" as const, title: "Smoothed loss", format: ".4f" },
  ];
  const picked = { param: "pickRun", value: 1 };
  return {
    $schema: SCHEMA,
    title: titleOf(
      options.title ?? "Training loss",
      options.subtitle ?? "Points: minibatch loss · line: moving average",
    ),
    width: options.width ?? 700,
    height: options.height ?? 320,
    config: chartConfig,
    datasets: { loss: rows },
    data: { name: "loss" },
    encoding: {
      x: { field: "iteration", type: "quantitative", title: "Iteration (optimizer steps)", axis: { format: "~s" } },
      color: runColor(labels, options.runTitle ?? "Run"),
      tooltip,
    },
    layer: [
      {
        params: [
          { name: "pickRun", select: { type: "point", fields: ["run"] }, bind: "legend" },
          { name: "zoom", select: { type: "interval", encodings: ["x", "y"] }, bind: "scales" },
        ],
        mark: { type: "point", size: 12, strokeWidth: 0 },
        encoding: {
          y: { field: "loss", type: "quantitative", title: "Training loss (cross-entropy per example)", scale: yScale },
          opacity: { condition: { ...picked, value: 0.3 }, value: 0.04 },
        },
      },
      {
        mark: { type: "line", interpolate: "monotone" },
        encoding: {
          y: { field: "smoothed", type: "quantitative" },
          opacity: { condition: { ...picked, value: 1 }, value: 0.12 },
        },
      },
    ],
  };
}

/** One accuracy row as a chart shows it (split in words). */
interface AccuracyChartRow extends Omit<AccuracyRow, "split"> {
  split: "training" | "validation";
}

function accuracyChartRows(runs: readonly LabelledRun[]): AccuracyChartRow[] {
  return runs.flatMap(accuracyRows).map((r) => ({ ...r, split: r.split === "train" ? "training" : "validation" }));
}

const accuracyTooltip = (runTitle: string) => [
  { field: "run", type: "nominal" as const, title: runTitle },
  { field: "split", type: "nominal" as const, title: "Split" },
  { field: "epoch", type: "quantitative" as const, title: "Epoch", format: "d" },
  { field: "iteration", type: "quantitative" as const, title: "Iteration", format: ",d" },
  { field: "accuracy", type: "quantitative" as const, title: "Accuracy", format: ".2%" },
];

const accuracyY = { field: "accuracy", type: "quantitative" as const, title: "Accuracy", axis: { format: ".0%" } };
const epochX = {
  field: "epoch",
  type: "quantitative" as const,
  title: "Epoch (completed passes over the training set)",
  axis: { tickMinStep: 1, format: "d" },
};

/**
 * Training (solid) and validation (dashed) accuracy per epoch for several
 * runs, one colour per run. Data: dataset `accuracy` (rows
 * `{ run, epoch, iteration, split: "training" | "validation", accuracy }`).
 */
export function accuracyCurveSpec(runs: readonly LabelledRun[], options: CurveOptions = {}): VegaLiteSpec {
  const labels = runs.map((r) => r.label);
  checkLabels("accuracyCurveSpec", labels);
  const runTitle = options.runTitle ?? "Run";
  return {
    $schema: SCHEMA,
    title: titleOf(options.title ?? "Accuracy", options.subtitle ?? "Solid: training (subsample) · dashed: validation"),
    width: options.width ?? 700,
    height: options.height ?? 320,
    config: chartConfig,
    datasets: { accuracy: accuracyChartRows(runs) },
    data: { name: "accuracy" },
    encoding: {
      x: epochX,
      y: accuracyY,
      color: runColor(labels, runTitle),
      strokeDash: {
        field: "split",
        type: "nominal",
        title: "Split",
        scale: { domain: ["training", "validation"], range: [[1, 0], [6, 4]] },
        legend: { symbolType: "stroke", symbolStrokeColor: "#59636e", symbolSize: 300, symbolStrokeWidth: 2 },
      },
      tooltip: accuracyTooltip(runTitle),
    },
    layer: [
      { mark: { type: "line" } },
      { mark: { type: "point", size: 36 } },
    ],
  };
}

/** Options of {@link accuracyPanelsSpec}. */
export interface AccuracyPanelsOptions extends CurveOptions {
  /** Panel titles. Default "Training accuracy", "Validation accuracy". */
  panelTitles?: [string, string];
}

/**
 * Two panels side by side, training accuracy and validation accuracy per
 * epoch, one colour per run: the course's comparison of batch sizes,
 * normalizations and dropout values. Label the runs by what differs
 * (see {@link runFacts}). Data: dataset `accuracy`, as {@link accuracyCurveSpec}.
 */
export function accuracyPanelsSpec(runs: readonly LabelledRun[], options: AccuracyPanelsOptions = {}): VegaLiteSpec {
  const labels = runs.map((r) => r.label);
  checkLabels("accuracyPanelsSpec", labels);
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
    $schema: SCHEMA,
    title: titleOf(options.title ?? "Accuracy per epoch", options.subtitle),
    config: chartConfig,
    datasets: { accuracy: accuracyChartRows(runs) },
    data: { name: "accuracy" },
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

/** What a run's start record says about the settings the course's comparisons vary. */
export interface RunFacts {
  /** Examples per minibatch. */
  batchSize?: number;
  /** Normalization layer, as the run describes it (e.g. `"batchnorm"`); `"none"` when recorded as null. */
  normalization?: string;
  /** Probability of dropping a unit (0: no dropout). */
  dropout?: number;
  /** Standard deviation of the initial weights. */
  weightScale?: number;
  /** Optimizer: `"sgd"`, `"sgdMomentum"`, `"rmsprop"`, `"adam"` or a custom rule's name. */
  updateRule?: string;
  /** Learning rate the run started with (`optimConfig.learningRate`). */
  learningRate?: number;
}

/**
 * The batch size, normalization, dropout, weight scale and optimizer of a
 * run, read from its first `start` record (`run.model.{normalization,
 * dropout, weightScale}`, falling back to the same keys on `run`; a `null`
 * normalization reads as `"none"`), for labelling runs by what differs.
 */
export function runFacts(records: LabelledRun["records"]): RunFacts {
  const start = runSeries(records).start;
  if (start === undefined) return {};
  const model = (start.run?.model ?? {}) as Record<string, unknown>;
  const run = (start.run ?? {}) as Record<string, unknown>;
  const pick = (key: string) => (key in model ? model[key] : run[key]);
  const num = (v: unknown) => (typeof v === "number" ? v : undefined);
  const norm = pick("normalization");
  return {
    batchSize: start.batchSize,
    normalization: norm === null ? "none" : norm === undefined ? undefined : String(norm),
    dropout: num(pick("dropout")),
    weightScale: num(pick("weightScale")),
    updateRule: start.updateRule,
    learningRate: start.optimConfig?.learningRate,
  };
}

/** What {@link labelRuns} can label runs by. */
export type FactKey = "batchSize" | "normalization" | "dropout" | "weightScale" | "updateRule" | "learningRate";

const FACT_WORDS: Record<FactKey, (v: number | string) => string> = {
  batchSize: (v) => `batch ${v}`,
  normalization: (v) => (v === "none" ? "no normalization" : String(v)),
  dropout: (v) => (v === 0 ? "no dropout" : `dropout ${v}`),
  weightScale: (v) => `σ ${v}`,
  updateRule: (v) => String(v),
  learningRate: (v) => `lr ${v}`,
};

/**
 * Labels runs by the settings that tell them apart (the course's batch-size
 * and normalization comparisons): `labelRuns(logs, ["normalization",
 * "batchSize"])` gives labels such as `"batchnorm · batch 50"`. A setting a
 * run's log does not record is left out of its label.
 */
export function labelRuns(logs: readonly LabelledRun["records"][], by: readonly FactKey[]): LabelledRun[] {
  return logs.map((records) => {
    const facts = runFacts(records);
    const parts = by.flatMap((k) => (facts[k] === undefined ? [] : [FACT_WORDS[k](facts[k]!)]));
    return { label: parts.join(" · ") || "run", records };
  });
}

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
    $schema: SCHEMA,
    title: titleOf(options.title ?? "Sensitivity to weight initialization", options.subtitle),
    config: chartConfig,
    datasets: { weightScale: rows.map((r) => ({ run: r.group, ...r })) },
    data: { name: "weightScale" },
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

/** One gradient compared with its numeric estimate. */
export interface GradientCheckRow {
  /** Layer or model under test (`"affine"`, `"batchnorm"`, …). */
  layer: string;
  /** Which gradient (`"dx"`, `"dW1"`, …). */
  gradient: string;
  /** `relError(analytic, numeric)`: max |a − n| / max(1e-8, |a| + |n|). */
  relError: number;
  /** The test's bound for this gradient. */
  threshold: number;
  /** Whether relError ≤ threshold. */
  pass: boolean;
}

/** Smallest error a log axis shows: exact zeros are drawn here (the tooltip keeps the true value). */
export const LOG_AXIS_FLOOR = 1e-16;

/**
 * Relative error of each gradient (dot, log x axis) against its
 * threshold (tick), coloured by pass / fail.
 * Data: dataset `gradientCheck`.
 */
export function gradientCheckSpec(rows: readonly GradientCheckRow[], options: CurveOptions = {}): VegaLiteSpec {
  const data = rows.map((r) => ({
    name: `${r.layer} · ${r.gradient}`,
    layer: r.layer,
    gradient: r.gradient,
    relError: r.relError,
    plotted: Number.isFinite(r.relError) ? Math.max(r.relError, LOG_AXIS_FLOOR) : null,
    threshold: r.threshold,
    result: r.pass ? "pass" : "FAIL",
  }));
  const tooltip = [
    { field: "layer", type: "nominal" as const, title: "Layer" },
    { field: "gradient", type: "nominal" as const, title: "Gradient" },
    { field: "relError", type: "quantitative" as const, title: "Relative error", format: ".3e" },
    { field: "threshold", type: "quantitative" as const, title: "Threshold", format: ".0e" },
    { field: "result", type: "nominal" as const, title: "Result" },
  ];
  const y = { field: "name", type: "nominal" as const, title: null, sort: null };
  return {
    $schema: SCHEMA,
    title: titleOf(
      options.title ?? "Gradient check",
      options.subtitle ?? "Relative error (dot) against its threshold (tick), log scale",
    ),
    width: options.width ?? 560,
    height: { step: 22 },
    config: chartConfig,
    datasets: { gradientCheck: data },
    data: { name: "gradientCheck" },
    encoding: { y, tooltip },
    layer: [
      {
        mark: { type: "rule", color: "#d0d7de", strokeWidth: 1 },
        encoding: { x: { field: "plotted", type: "quantitative" }, x2: { field: "threshold" } },
      },
      {
        mark: { type: "tick", thickness: 2, color: "#59636e", size: 16 },
        encoding: { x: { field: "threshold", type: "quantitative" } },
      },
      {
        mark: { type: "point", size: 70, strokeWidth: 0 },
        encoding: {
          x: {
            field: "plotted",
            type: "quantitative",
            title: "Relative error (log scale)",
            scale: { type: "log" },
            axis: { format: "~e", grid: true },
          },
          color: {
            field: "result",
            type: "nominal",
            title: "Result",
            scale: { domain: ["pass", "FAIL"], range: ["#1a7f37", "#cf222e"] },
          },
        },
      },
    ],
  };
}
