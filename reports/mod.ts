/**
 * Reports: run records → Vega-Lite specs → self-contained HTML pages (and a
 * live view that streams records to the page while a run trains).
 *
 * Reports only read records (`pipeline/store/records.ts`) and plain data
 * (gradient-check rows, filter weights); they never train.
 *
 * @example
 * ```ts
 * import { assertStringIncludes } from "@std/assert";
 * import { parseRunLog } from "../pipeline/store/run_log.ts";
 * import { trainingReport, writeReport } from "./mod.ts";
 *
 * // A run's log, as `train` writes it to OUT/RUN/run.ndjson (read it with `readRunLog`).
 * const log = [
 *   { kind: "start", version: 1, numIterations: 2, numTrain: 100, numVal: 10, batchSize: 50 },
 *   { kind: "iteration", iteration: 1, epoch: 0, loss: 2.3 },
 *   { kind: "iteration", iteration: 2, epoch: 0, loss: 2.1 },
 *   { kind: "epoch", iteration: 2, epoch: 1, trainAcc: 0.2, valAcc: 0.1 },
 * ].map((r) => JSON.stringify(r)).join("\n");
 * const runs = [{ label: "baseline", records: parseRunLog(log) }];
 * const dir = await Deno.makeTempDir();
 * await writeReport(`${dir}/report.html`, trainingReport({ title: "Baseline", runs }));
 * assertStringIncludes(await Deno.readTextFile(`${dir}/report.html`), "<title>Baseline</title>");
 * await Deno.remove(dir, { recursive: true });
 * ```
 *
 * @module
 */

export {
  type Cell,
  type Column,
  EMBED_OPTIONS,
  escapeHtml,
  type Highlight,
  jsonForScript,
  type LiveOptions,
  type PageAssets,
  renderReportHtml,
  type Report,
  type ReportImage,
  type ReportSection,
  type ReportTable,
} from "./html.ts";
export { formatDuration, formatNumber, formatPercent, type FormatPercentOptions, percentCell } from "./format.ts";
export { CHART_LABEL_MAX, chartLabel, chartRuns } from "./chart_label.ts";
export { addToAverage, keepsLossStep, type MovingAverage, movingAverage } from "./loss_smoothing.ts";
export {
  crc32,
  encodePng,
  filterGridImage,
  type FilterGridOptions,
  type ImageArray,
  imageFromArray,
  type ImageFromArrayOptions,
  pngDataUrl,
  type RasterImage,
  scaleImage,
  visualizeGrid,
  type VisualizeGridOptions,
} from "./images.ts";
export { type RunServer, safeRelativePath, serveRun, type ServeRunOptions } from "./live_server.ts";
export {
  type CompiledSpec,
  type CompiledVegaSpec,
  compileSpec,
  prefixSvgIds,
  renderReport,
  renumberSvgIds,
  specToSvg,
  type SpecToSvgOptions,
  writeReport,
} from "./render.ts";
export {
  type AccuracyRow,
  accuracyRows,
  checkLabels,
  defaultSmoothingSpan,
  type LabelledRun,
  type LossRow,
  lossRows,
  type LossRowsOptions,
  lossStride,
  meanFinalLoss,
  type RunSeries,
  runSeries,
  type RunStatus,
  type RunSummary,
  summarizeRun,
} from "./run_data.ts";
export {
  filterGridSection,
  gradientCheckSection,
  imagesSection,
  type ImagesSectionOptions,
  runHighlights,
  type SectionImage,
  summaryTable,
  trainingReport,
  type TrainingReportInput,
} from "./run_report.ts";
export * from "./specs.ts";
export { VEGA_VERSIONS, type VendorScripts, vendorScripts } from "./vendor.ts";
export type * from "../pipeline/store/records.ts";
