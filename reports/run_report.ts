/**
 * Ready-made report contents for training runs: the summary table, the
 * headline numbers, and a whole training report (loss and accuracy charts)
 * from labelled run logs.
 *
 * @module
 */

import type { Cell, Highlight, LiveOptions, Report, ReportImage, ReportSection, ReportTable } from "./html.ts";
import { formatDuration, formatPercent, percentCell } from "./format.ts";
import { filterGridImage, type ImageArray, imageFromArray, pngDataUrl, scaleImage } from "./images.ts";
import {
  checkLabels,
  FINAL_LOSS_LABEL,
  FINAL_LOSS_TITLE,
  type LabelledRun,
  runSeries,
  type RunSummary,
  summarizeRun,
} from "./run_data.ts";
import { accuracyCurveSpec } from "./accuracy_curve.ts";
import { type GradientCheckRow, gradientCheckSpec } from "./gradient_check.ts";
import { type LossCurveOptions, lossCurveSpec } from "./loss_curve.ts";

function statusCell(s: RunSummary): Cell {
  if (s.status === "finished") return { text: "finished", tone: "good" };
  if (s.status === "stopped") return { text: "stopped", tone: "bad", title: s.stoppedMessage };
  return { text: "running", tone: "muted" };
}

/**
 * The summary table of several runs: status, steps, final and best
 * validation accuracy, final training accuracy and loss, training time, and
 * the dataset when the runs do not all share one (otherwise it is among the
 * headline numbers); the best validation accuracy over the runs is in bold.
 */
export function summaryTable(runs: readonly LabelledRun[]): ReportTable {
  checkLabels("summaryTable", runs.map((r) => r.label));
  const summaries = runs.map(summarizeRun);
  const best = Math.max(...summaries.map((s) => s.bestValAcc ?? -Infinity));
  const showDataset = new Set(summaries.map((s) => s.dataset)).size > 1;
  const pct = (v: number | undefined, strong = false): Cell => {
    const cell = percentCell(v);
    return cell !== null && strong ? { ...cell, tone: "strong" } : cell;
  };
  return {
    columns: [
      "Run",
      "Status",
      ...(showDataset ? ["Dataset"] : []),
      { label: "Iterations", numeric: true },
      { label: "Final train acc", numeric: true, title: "Training accuracy (subsample) at the last check" },
      { label: "Final val acc", numeric: true, title: "Validation accuracy at the last check" },
      { label: "Best val acc", numeric: true, title: "Best validation accuracy over all checks" },
      { label: FINAL_LOSS_LABEL, numeric: true, title: FINAL_LOSS_TITLE },
      { label: "Training time", numeric: true },
    ],
    rows: summaries.map((s) => [
      s.label,
      statusCell(s),
      ...(showDataset ? [s.dataset ?? null] : []),
      s.numIterations !== undefined && s.numIterations !== s.iterations
        ? {
          text: `${s.iterations.toLocaleString("en-US")} / ${s.numIterations.toLocaleString("en-US")}`,
          numeric: true,
        }
        : s.iterations,
      pct(s.finalTrainAcc),
      pct(s.finalValAcc),
      pct(s.bestValAcc, s.bestValAcc !== undefined && s.bestValAcc === best && summaries.length > 1),
      s.finalLoss === undefined ? null : { text: s.finalLoss.toFixed(4), numeric: true },
      formatDuration(s.trainingMs) ?? null,
    ]),
  };
}

/**
 * The wall time of runs together: from the first start to the last end,
 * each run ending at its last segment's start plus that segment's training
 * time. Null when the logs carry no start times.
 */
export function wallTimeMs(runs: readonly LabelledRun[]): number | null {
  let first = Infinity, last = -Infinity;
  for (const run of runs) {
    const s = runSeries(run.records);
    const startTimes = s.starts.map((r) => Date.parse(r.time)).filter(Number.isFinite);
    if (startTimes.length === 0) continue;
    first = Math.min(first, ...startTimes);
    const lastStart = s.starts.at(-1)!;
    // Training time is summed over segments: the last segment's share is what it added after its start.
    const before = s.iterations.find((r) => r.iteration === lastStart.startIteration)?.elapsedMs ?? 0;
    const total = Math.max(s.end?.elapsedMs ?? 0, s.iterations.at(-1)?.elapsedMs ?? 0, s.checks.at(-1)?.elapsedMs ?? 0);
    last = Math.max(
      last,
      Date.parse(lastStart.time) + (s.end?.wallMs ?? total - (lastStart.startIteration ? before : 0)),
    );
  }
  return Number.isFinite(first) && Number.isFinite(last) ? last - first : null;
}

/**
 * Headline numbers of runs: best validation accuracy (and which run), runs, steps, and time: one run's training
 * time, or for several the wall time from the first start to the last end and their summed run time, two figures.
 */
export function runHighlights(runs: readonly LabelledRun[]): Highlight[] {
  const summaries = runs.map(summarizeRun);
  if (summaries.length === 0) return [];
  const withAcc = summaries.filter((s) => s.bestValAcc !== undefined);
  const best = withAcc.reduce<RunSummary | undefined>(
    (a, s) => (a === undefined || s.bestValAcc! > a.bestValAcc! ? s : a),
    undefined,
  );
  const totalMs = summaries.reduce((a, s) => a + (s.trainingMs ?? 0), 0);
  const steps = summaries.reduce((a, s) => a + s.iterations, 0);
  const stopped = summaries.filter((s) => s.status === "stopped").length;
  const out: Highlight[] = [];
  if (best) {
    out.push({
      label: "Best validation accuracy",
      value: formatPercent(best.bestValAcc)!,
      note: summaries.length > 1 ? best.label : undefined,
    });
  }
  out.push({
    label: summaries.length === 1 ? "Run" : "Runs",
    value: String(summaries.length),
    note: stopped > 0
      ? `${stopped} stopped early`
      : summaries.every((s) => s.status === "finished")
      ? "all finished"
      : undefined,
  });
  out.push({ label: "Iterations", value: steps.toLocaleString("en-US") });
  if (summaries.length === 1) {
    out.push({ label: "Training time", value: formatDuration(totalMs) ?? "—" });
  } else {
    // Runs that trained side by side: the time it took is not the sum of their times.
    const wall = wallTimeMs(runs);
    if (wall !== null) out.push({ label: "Wall time", value: formatDuration(wall)!, note: "first start to last end" });
    out.push({ label: "Run time, summed", value: formatDuration(totalMs) ?? "—", note: `${summaries.length} runs` });
  }
  const datasets = new Set(summaries.map((s) => s.dataset));
  const [dataset] = datasets;
  if (datasets.size === 1 && dataset !== undefined) {
    const cut = dataset.lastIndexOf(" (");
    out.push(
      cut > 0
        ? { label: "Dataset", value: dataset.slice(0, cut), note: dataset.slice(cut + 2, -1) }
        : { label: "Dataset", value: dataset },
    );
  }
  return out;
}

/** What {@link trainingReport} builds a report from. */
export interface TrainingReportInput {
  /** Page title and main heading. */
  title: string;
  /** Text under the title; blank lines separate paragraphs. */
  description?: string;
  /** The experiment's configuration, shown in its own section (nested objects with dotted keys). */
  config?: Record<string, unknown>;
  /** The runs to show, each with a unique, non-empty label. */
  runs: readonly LabelledRun[];
  /** Loss chart options (points per run, smoothing, log y). */
  loss?: LossCurveOptions;
  /** Sections after the loss and accuracy charts. */
  extraSections?: ReportSection[];
  /** When the report was made (a string is shown as is). Default now. */
  generatedAt?: Date | string;
  /** Make it a live page for this run label (its records come from `serveRun`; `runs` may then hold no records yet). */
  live?: LiveOptions;
}

/**
 * The checks `--check-every N` added between epoch ends, in words: ", every 200 iterations" when every run that has
 * them shares N (a run's first such check is at iteration N), ", between epoch ends" when runs differ, "" without any.
 */
function checksBetweenEpochs(runs: readonly LabelledRun[]): string {
  const every = new Set(runs.flatMap((run) => {
    const between = run.records.flatMap((r) =>
      r.kind === "epoch" && !r.epochEnd && r.iteration > 1 ? [r.iteration] : []
    );
    return between.length === 0 ? [] : [Math.min(...between)];
  }));
  if (every.size === 0) return "";
  return every.size === 1 ? `, every ${[...every][0].toLocaleString("en-US")} iterations` : ", between epoch ends";
}

/**
 * A training report: headline numbers, the summary table, training loss per
 * iteration and accuracy per epoch for every run, then any extra sections.
 * A live page has no headline numbers or summary table (they would be
 * those of the moment the page was written); its status line shows the
 * latest numbers instead.
 */
export function trainingReport(input: TrainingReportInput): Report {
  const { runs } = input;
  const maxPoints = input.live?.maxPoints ?? input.loss?.maxPoints ?? 1000;
  const live = input.live && { smoothingSpan: input.loss?.smoothingSpan, ...input.live, maxPoints };
  const sections: ReportSection[] = [
    {
      heading: "Training loss",
      text: "Minibatch loss at every step (faint points; long runs are thinned to at most " +
        `${maxPoints} points per run) with its exponential moving average on top. ` +
        "Click a legend entry to single out a run; drag to pan and scroll to zoom.",
      spec: lossCurveSpec(runs, { ...input.loss, maxPoints }),
      live: "loss",
    },
    {
      heading: "Accuracy",
      text: "Training accuracy (on a subsample of the training set) and validation accuracy at every check: " +
        `after the first step${checksBetweenEpochs(runs)} and at the end of every epoch.`,
      spec: accuracyCurveSpec(runs),
      live: "accuracy",
    },
    ...(input.extraSections ?? []),
  ];
  return {
    title: input.title,
    description: input.description,
    config: input.config,
    highlights: live ? undefined : runHighlights(runs),
    summary: live ? undefined : summaryTable(runs),
    sections,
    generatedAt: input.generatedAt,
    live,
  };
}

/** A gradient-check section: the chart of errors against thresholds and the table of every gradient. */
export function gradientCheckSection(rows: readonly GradientCheckRow[], heading = "Gradient checks"): ReportSection {
  const failed = rows.filter((r) => !r.pass).length;
  return {
    heading,
    text:
      `Analytic gradients against centered numerical differences (h = 1e-5, float64). ${rows.length} gradients checked, ` +
      (failed === 0 ? "all within their thresholds." : `${failed} above their threshold.`),
    spec: gradientCheckSpec(rows),
    table: gradientTable(
      "Relative error",
      "Threshold",
      rows.map((r) => ({
        layer: r.layer,
        gradient: r.gradient,
        value: Number.isFinite(r.relError) ? r.relError.toExponential(3) : String(r.relError),
        bound: r.threshold.toExponential(0),
        pass: r.pass,
      })),
    ),
  };
}

/** One row of {@link gradientTable}: a gradient, what was measured of it and its bound (as text), and the verdict. */
export interface GradientTableRow {
  /** The layer or model. */
  layer: string;
  /** The gradient's name (`dx`, `W1`, …). */
  gradient: string;
  /** What was measured (a relative error, a largest magnitude), formatted. */
  value: string;
  /** The bound it is held to, formatted. */
  bound: string;
  /** Whether it is within its bound. */
  pass: boolean;
}

/** A table of gradients against their bounds: Layer, Gradient, `valueLabel`, `boundLabel` (both numeric), Result. */
export function gradientTable(valueLabel: string, boundLabel: string, rows: readonly GradientTableRow[]): ReportTable {
  return {
    columns: [
      "Layer",
      "Gradient",
      { label: valueLabel, numeric: true },
      { label: boundLabel, numeric: true },
      "Result",
    ],
    rows: rows.map((r) => [
      r.layer,
      { text: r.gradient, tone: "strong" },
      { text: r.value, numeric: true },
      { text: r.bound, numeric: true },
      r.pass,
    ]),
  };
}

/** One image of {@link imagesSection}: numbers as `imageFromArray` reads them. */
export interface SectionImage {
  /** `(H, W)`, `(H, W, C)` or, with `layout: "CHW"`, `(C, H, W)`; C = 1 or 3. */
  image: ImageArray;
  /** A line under the image. */
  caption?: string;
  /** Default: the caption, else "image". */
  alt?: string;
  /** Scale to 0–255 by the image's own min and max (filter responses). Default false. */
  normalize?: boolean;
  /** Axis order of a 3-D `image`: `"HWC"` (the default) or `"CHW"`. */
  layout?: "HWC" | "CHW";
}

/** Options of {@link imagesSection}. */
export interface ImagesSectionOptions {
  /** Text above the images; blank lines separate paragraphs. */
  text?: string;
  /** Images per row (the course's subplot grid). Default: as many as fit. */
  columns?: number;
  /** Largest display width of each image in CSS px: small images are upscaled by the largest whole factor within it. Default 160. */
  width?: number;
}

/**
 * A section of images, e.g. the course's convolution aside: input images
 * and their filter responses (`normalize: true`), `columns` per row.
 */
export async function imagesSection(
  heading: string,
  images: readonly SectionImage[],
  options: ImagesSectionOptions = {},
): Promise<ReportSection> {
  const width = options.width ?? 160;
  const out: ReportImage[] = [];
  for (const item of images) {
    const raster = imageFromArray(item.image, { normalize: item.normalize, layout: item.layout });
    // Whole factors only, shown at their natural size: every source pixel stays a sharp square.
    const scaled = scaleImage(raster, Math.max(1, Math.floor(width / raster.width)));
    out.push({
      src: await pngDataUrl(scaled),
      alt: item.alt ?? item.caption ?? "image",
      caption: item.caption,
      width: scaled.width,
    });
  }
  return { heading, text: options.text, images: out, imageColumns: options.columns };
}

/**
 * The first-layer filters `w: (F, C, HH, WW)` as the course's
 * `visualize_grid` shows them (each filter normalised on its own, a padded
 * grid), upscaled by the largest whole factor that keeps it within
 * `width` CSS px (default 320), so every weight is a sharp square.
 */
export async function filterGridSection(
  w: ImageArray,
  options: { heading?: string; text?: string; width?: number } = {},
): Promise<ReportSection> {
  const grid = filterGridImage(w, { minWidth: 1 });
  const img = scaleImage(grid, Math.max(1, Math.floor((options.width ?? 320) / grid.width)));
  const [f, c, hh, ww] = w.shape;
  return {
    heading: options.heading ?? "First-layer filters",
    text: options.text,
    images: [{
      src: await pngDataUrl(img),
      alt: `${f} first-layer filters of ${hh}×${ww}×${c}, each normalised to its own range`,
      caption: `${f} filters, ${hh} × ${ww} × ${c}`,
      width: img.width,
    }],
  };
}
