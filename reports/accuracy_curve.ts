/**
 * The accuracy-curve chart: training (solid) and validation (dashed)
 * accuracy per epoch of several runs on one chart.
 *
 * @module
 */

import { accuracyChartRows, accuracyTooltip, accuracyY, epochX, splitDash } from "./_accuracy.ts";
import { chartRuns } from "./chart_label.ts";
import type { LabelledRun } from "./run_data.ts";
import { chartFrame, type CurveOptions, runColor, type VegaLiteSpec } from "./theme.ts";

/**
 * Training (solid) and validation (dashed) accuracy per epoch for several
 * runs, one colour per run. Data: dataset `accuracy` (rows
 * `{ run, epoch, iteration, split: "training" | "validation", accuracy }`).
 */
export function accuracyCurveSpec(runs: readonly LabelledRun[], options: CurveOptions = {}): VegaLiteSpec {
  const shown = chartRuns("accuracyCurveSpec", runs);
  const labels = shown.map((r) => r.label);
  const runTitle = options.runTitle ?? "Run";
  return {
    ...chartFrame(
      "accuracy",
      accuracyChartRows(shown),
      options.title ?? "Accuracy",
      options.subtitle ?? "Solid: training (subsample) · dashed: validation",
    ),
    width: options.width ?? 700,
    height: options.height ?? 320,
    encoding: {
      x: epochX,
      y: accuracyY,
      color: runColor(labels, runTitle),
      strokeDash: splitDash("validation"),
      tooltip: accuracyTooltip(runTitle),
    },
    layer: [
      { mark: { type: "line" } },
      { mark: { type: "point", size: 36 } },
    ],
  };
}
