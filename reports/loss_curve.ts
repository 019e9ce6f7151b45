/**
 * The loss-curve chart: training loss per iteration of several runs, every
 * kept step as a faint point and the smoothed loss as a line (data: dataset
 * `loss`, which a live page appends to).
 *
 * @module
 */

import { chartRuns } from "./chart_label.ts";
import { type LabelledRun, lossRows, type LossRowsOptions } from "./run_data.ts";
import { chartFrame, type CurveOptions, runColor, type VegaLiteSpec } from "./theme.ts";

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
  const shown = chartRuns("lossCurveSpec", runs);
  const labels = shown.map((r) => r.label);
  const rows = shown.flatMap((r) => lossRows(r, options));
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
    ...chartFrame(
      "loss",
      rows,
      options.title ?? "Training loss",
      options.subtitle ?? "Points: minibatch loss · line: moving average",
    ),
    width: options.width ?? 700,
    height: options.height ?? 320,
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
