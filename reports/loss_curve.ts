/**
 * The loss-curve chart: training loss of several runs, every kept step as a
 * faint point and the smoothed loss as a line (data: dataset `loss`, which a
 * live page appends to), with the controls people know from TensorBoard,
 * bound in the spec itself (Vega-Lite params), so they work in an offline
 * page: a smoothing slider (0 to 0.999), a log-scale toggle, and an x axis
 * of iterations, epochs or training time. The static SVG of the page draws
 * the chart at the controls' defaults.
 *
 * @module
 */

import { chartRuns } from "./chart_label.ts";
import {
  defaultSmoothingSpan,
  type LabelledRun,
  lossRows,
  type LossRowsOptions,
  lossStride,
  runSeries,
} from "./run_data.ts";
import { chartFrame, type CurveOptions, runColor, type VegaLiteSpec } from "./theme.ts";

/** Options of {@link lossCurveSpec}. */
export interface LossCurveOptions extends CurveOptions, LossRowsOptions {
  /** Start with the loss on a log axis (the toggle can switch it off). Default false. */
  logY?: boolean;
  /** Start with this smoothing weight in [0, 1) (the slider's value). Default: as `lossRows`' span, per kept point. */
  smoothing?: number;
}

/** Points between the anchors of the smoothing sums (see {@link smoothingTransforms}). */
const ANCHOR_STEP = 100;

/**
 * The smoothing weight a chart starts with: the weight per kept point of
 * `lossRows`' default span (`β = 1 − 2/(span + 1)` per step, to the power of
 * the thinning stride), so the line drawn at first is the moving average the
 * rows carry; TensorBoard's 0.6 when no run has steps yet (a live page).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { defaultSmoothing } from "./loss_curve.ts";
 * assertEquals(defaultSmoothing(0), 0.6);
 * assertEquals(defaultSmoothing(400), 0.905); // span 20: 1 − 2/21
 * ```
 */
export function defaultSmoothing(numIterations: number, maxPoints = 1000): number {
  if (!(numIterations > 0)) return 0.6;
  const beta = 1 - 2 / (defaultSmoothingSpan(numIterations) + 1);
  const perPoint = beta ** lossStride(numIterations, maxPoints);
  return Math.min(0.999, Math.round(perPoint * 1000) / 1000);
}

/**
 * Vega-Lite transforms that add `smooth`, the debiased exponential moving
 * average of `loss` over each run's points in iteration order, with weight
 * `smoothing` (a param: 0 draws the points themselves), as TensorBoard
 * smooths: `s_t = Σ_{i≤t} β^(t−i) x_i / Σ_{i≤t} β^(t−i)`.
 *
 * A spec has no recursion, but the ratio equals `Σ w_i x_i / Σ w_i` for any
 * weights `w_i = β^(a−i)`, whatever the anchor `a`: cumulative sums (a
 * window transform) give it. Those weights overflow or vanish far from the
 * anchor, so the sums are kept for anchors every {@link ANCHOR_STEP} points
 * and each point reads the pair of its nearest anchor, where the weights
 * stay within `β^(±50)`: exact for every β ≥ 1e-6 with up to
 * `anchors · 100` points per run.
 */
export function smoothingTransforms(maxPoints: number): object[] {
  const anchors = Math.ceil((maxPoints + 1) / ANCHOR_STEP) + 1;
  const ks = [...Array(anchors).keys()];
  return [
    { window: [{ op: "row_number", as: "point" }], groupby: ["run"], sort: [{ field: "iteration" }] },
    { calculate: "smoothing > 0 ? -log(smoothing) : 0", as: "decay" },
    ...ks.flatMap((k) => [
      { calculate: `exp((datum.point - ${k * ANCHOR_STEP}) * datum.decay)`, as: `w${k}` },
      { calculate: `datum.w${k} * datum.loss`, as: `wx${k}` },
    ]),
    {
      window: ks.flatMap((k) => [
        { op: "sum", field: `w${k}`, as: `sw${k}` },
        { op: "sum", field: `wx${k}`, as: `swx${k}` },
      ]),
      groupby: ["run"],
      sort: [{ field: "iteration" }],
      frame: [null, 0],
    },
    { calculate: `clamp(round(datum.point / ${ANCHOR_STEP}), 0, ${anchors - 1})`, as: "anchor" },
    {
      calculate: "smoothing > 0 ? datum['swx' + datum.anchor] / datum['sw' + datum.anchor] : datum.loss",
      as: "smooth",
    },
  ];
}

/** The x axis the switch picks: the field and how its ticks read (no `0k 0.05k`). */
const X_AXIS = {
  calculate: "xAxis === 'epoch' ? datum.epochs : xAxis === 'time' ? datum.seconds : datum.iteration",
  labelExpr: "xAxis === 'time' ? (datum.value >= 120 ? format(datum.value / 60, '.1~f') + ' min' : " +
    "format(datum.value, '~g') + ' s') : xAxis === 'epoch' ? format(datum.value, '~g') : format(datum.value, ',~d')",
};

/**
 * Training loss for several runs on one chart: every kept step as a faint
 * point, the smoothed loss as a line on top (see `lossRows`: at most
 * `maxPoints` per run). Under the chart: the smoothing slider, the log-scale
 * toggle and the x-axis switch (iteration, epoch, training time). Click a
 * legend entry to pick a run out; drag or scroll to pan and zoom. Data:
 * dataset `loss` (rows `{ run, iteration, epoch, epochs, seconds, loss, smoothed }`).
 */
export function lossCurveSpec(runs: readonly LabelledRun[], options: LossCurveOptions = {}): VegaLiteSpec {
  const shown = chartRuns("lossCurveSpec", runs);
  const labels = shown.map((r) => r.label);
  const maxPoints = options.maxPoints ?? 1000;
  const rows = shown.flatMap((r) => lossRows(r, options));
  const longest = Math.max(
    0,
    ...shown.map((r) => {
      const s = runSeries(r.records);
      return Math.max(s.start?.numIterations ?? 0, s.iterations.at(-1)?.iteration ?? 0);
    }),
  );
  const smoothing = options.smoothing ?? defaultSmoothing(longest, maxPoints);
  const tooltip = [
    { field: "run", type: "nominal" as const, title: options.runTitle ?? "Run" },
    { field: "iteration", type: "quantitative" as const, title: "Iteration", format: ",d" },
    { field: "epochs", type: "quantitative" as const, title: "Epoch", format: ".2f" },
    { field: "seconds", type: "quantitative" as const, title: "Training time (s)", format: ",.1f" },
    { field: "loss", type: "quantitative" as const, title: "Loss", format: ".4f" },
    { field: "smooth", type: "quantitative" as const, title: "Smoothed loss", format: ".4f" },
  ];
  const picked = { param: "pickRun", value: 1 };
  // A scale's type cannot follow a param, so the log toggle draws log10 of the loss on a linear scale (zoom and
  // pan keep working) and labels its ticks with the loss they stand for.
  const yAxis = {
    labelExpr: "logScale ? format(pow(10, datum.value), '.3~r') : format(datum.value, '~g')",
  };
  return {
    ...chartFrame(
      "loss",
      rows,
      options.title ?? "Training loss",
      options.subtitle ?? "Points: minibatch loss · line: smoothed (debiased exponential moving average)",
    ),
    width: options.width ?? 700,
    height: options.height ?? 320,
    params: [
      {
        name: "smoothing",
        value: smoothing,
        bind: { input: "range", min: 0, max: 0.999, step: 0.001, name: "Smoothing " },
      },
      { name: "logScale", value: options.logY ?? false, bind: { input: "checkbox", name: "Log scale " } },
      {
        name: "xAxis",
        value: "iteration",
        bind: {
          input: "radio",
          options: ["iteration", "epoch", "time"],
          labels: ["iteration", "epoch", "training time"],
          name: "x axis: ",
        },
      },
    ],
    transform: [
      ...smoothingTransforms(maxPoints),
      { calculate: X_AXIS.calculate, as: "x" },
      { calculate: "logScale ? log(max(datum.loss, 1e-12)) / LN10 : datum.loss", as: "y" },
      { calculate: "logScale ? log(max(datum.smooth, 1e-12)) / LN10 : datum.smooth", as: "ySmooth" },
    ],
    encoding: {
      x: {
        field: "x",
        type: "quantitative",
        title: "Training progress (iterations, epochs or time: the switch below)",
        axis: { labelExpr: X_AXIS.labelExpr, labelFlush: true },
      },
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
          y: {
            field: "y",
            type: "quantitative",
            title: "Training loss (cross-entropy per example)",
            scale: { zero: false },
            axis: yAxis,
          },
          opacity: { condition: { ...picked, value: 0.3 }, value: 0.04 },
        },
      },
      {
        mark: { type: "line", interpolate: "monotone" },
        encoding: {
          y: { field: "ySmooth", type: "quantitative" },
          opacity: { condition: { ...picked, value: 1 }, value: 0.12 },
        },
      },
    ],
  } as VegaLiteSpec;
}
