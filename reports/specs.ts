/**
 * Vega-Lite specs for the charts of the course's experiments, one chart
 * family per file, re-exported here: plain data in, a spec out. Every chart
 * has a title, axis titles, the shared look of `theme.ts` and tooltips; run
 * labels colour the marks in the order the runs are given, so a run keeps its
 * colour across the charts of a report, and charts show labels on one line
 * and shortened (`chart_label.ts`).
 *
 * Data sits in named top-level `datasets` (`loss`, `accuracy`, …) so that a
 * live page can append rows to them by name.
 *
 * @module
 */

export { accuracyCurveSpec } from "./accuracy_curve.ts";
export {
  confusionMatrixSpec,
  type ConfusionRow,
  confusionRows,
  type Evaluation,
  perClassAccuracySpec,
} from "./confusion.ts";
export { type AccuracyPanelsOptions, accuracyPanelsSpec, dropoutSpec } from "./accuracy_panels.ts";
export { type GradientCheckRow, gradientCheckSpec, LOG_AXIS_FLOOR } from "./gradient_check.ts";
export { type LossCurveOptions, lossCurveSpec } from "./loss_curve.ts";
export { type FactKey, labelRuns, type RunFacts, runFacts } from "./run_facts.ts";
export {
  chartConfig,
  type ChartSize,
  type CurveOptions,
  REPORT_FONT,
  RUN_COLORS,
  type VegaLiteConfig,
  type VegaLiteSpec,
} from "./theme.ts";
export {
  decadeTicks,
  type WeightScaleRow,
  weightScaleRows,
  type WeightScaleRowsOptions,
  type WeightScaleRun,
  weightScaleSpec,
  type WeightScaleSpecOptions,
} from "./weight_scale.ts";
