/**
 * The gradient-check chart: the relative error of each gradient against
 * its threshold, on a log axis.
 *
 * @module
 */

import type { GradientCheckRow } from "../layers/gradient_checks.ts";
import { chartFrame, type CurveOptions, type VegaLiteSpec } from "./theme.ts";

export type { GradientCheckRow };

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
    ...chartFrame(
      "gradientCheck",
      data,
      options.title ?? "Gradient check",
      options.subtitle ?? "Relative error (dot) against its threshold (tick), log scale",
    ),
    width: options.width ?? 560,
    height: { step: 22 },
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
