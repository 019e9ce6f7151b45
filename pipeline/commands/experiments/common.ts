/**
 * The `Experiment` interface each experiment of `deno task experiment`
 * implements, and helpers their plans and reports share. The tasks
 * themselves (what a Web Worker runs) are in `tasks.ts`.
 *
 * Reports list runs in the order of the plan, never in order of
 * completion, and show no timing outside the wall-time cells, so a report
 * is the same however many workers produced it.
 *
 * @module
 */

import type { Report, ReportSection, ReportTable } from "../../../reports/html.ts";
import type { LabelledRun } from "../../../reports/run_data.ts";
import {
  FINAL_LOSS_LABEL,
  FINAL_LOSS_TITLE,
  meanFinalLoss,
  runSeries,
  summarizeRun,
} from "../../../reports/run_data.ts";
import { formatPercent, type FormatPercentOptions, percentCell } from "../../../reports/format.ts";
import { trainingReport } from "../../../reports/run_report.ts";
import { RUN_COLORS } from "../../../reports/specs.ts";
import type { TrainRecord } from "../../store/records.ts";
import type { DataSpec, FcModelSpec, ModelSpec, SolverSpec, Task, TaskResult, TrainTask } from "./tasks.ts";

/** How an experiment is asked to run. */
export interface ExperimentOptions {
  /** Dataset spec. Default `sample`. */
  dataset: string;
  /** Fewer epochs, runs and examples (documented per experiment). */
  quick: boolean;
  /** Seed of every run. Default 0. */
  seed: number;
  /** Override: training examples. */
  numTrain?: number;
  /** Override: epochs. */
  epochs?: number;
  /** Extra accuracy checks every this many steps in every run (`--check-every`; the losses are unchanged). */
  checkEvery?: number;
}

/** What an experiment's report is made from. */
export interface ExperimentOutcome {
  /** What the experiment was asked to do. */
  options: ExperimentOptions;
  /** The tasks, in plan order. */
  tasks: readonly Task[];
  /** Each training run's records, in plan order. */
  runs: readonly LabelledRun[];
  /** Each task's result, by label. */
  results: ReadonlyMap<string, TaskResult>;
  /** Wall time of the whole experiment, ms. */
  wallMs: number;
  /** Workers used. */
  workers: number;
  /** How the runs ran when not on this process's workers (a plan's processes, collected), in words. */
  engine?: string;
  /** The gemm backend, in words. */
  gemm: string;
}

/** A report plus the numbers the command prints and writes to `summary.json`. */
export interface ExperimentReport {
  /** The report page's contents. */
  report: Report;
  /** Key numbers (accuracies as fractions, errors, counts), by name. */
  keyNumbers: Record<string, number | string | boolean | null>;
}

/** An experiment of the course, runnable by `deno task experiment NAME`. */
export interface Experiment {
  /** The command-line name (`batchnorm`, `weight-scale`, …). */
  name: string;
  /** The report's title. */
  title: string;
  /** One line for `--list`. */
  summary: string;
  /** What `--quick` changes, in words (shown by `--list` and in the report). */
  quick: string;
  /** Whether the experiment trains (and so uses `--dataset`, `--num-train`, `--epochs`). */
  trains: boolean;
  /**
   * The tasks to run. May read the dataset directory to check what is
   * there (convnet); throws a `UsageError` (`../cli.ts`) for a request that
   * cannot be met.
   */
  plan(options: ExperimentOptions): Promise<Task[]>;
  /** Builds the report once every task has finished. */
  report(outcome: ExperimentOutcome): Promise<ExperimentReport>;
}

/** numpy's `logspace(start, stop, num)`: `10 ** linspace(start, stop, num)`. */
export function logspace(start: number, stop: number, num: number): number[] {
  if (!Number.isInteger(num) || num < 1) throw new RangeError(`logspace: num ${num} is not a positive integer`);
  if (num === 1) return [10 ** start];
  return Array.from({ length: num }, (_, i) => 10 ** (start + (i * (stop - start)) / (num - 1)));
}

/** A label as a file name: lower case, runs of anything but `a-z 0-9 . _ -` become `-`. */
export function fileNameOf(label: string): string {
  const s = label.toLowerCase().replace(/[^a-z0-9._-]+/g, "-").replace(/^-+|-+$/g, "");
  return s === "" ? "run" : s;
}

/** The fields of a record that depend on timing (wall clock, speed), for comparisons. */
export const TIMING_FIELDS: readonly string[] = Object.freeze(["time", "elapsedMs", "examplesPerSec", "wallMs"]);

/** A copy of `record` without its timing fields ({@link TIMING_FIELDS}). */
export function withoutTiming(record: TrainRecord): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(record)) if (!TIMING_FIELDS.includes(k)) out[k] = v;
  return out;
}

/** The training runs of an outcome by label (throws when a planned run has no records). */
export function runByLabel(outcome: ExperimentOutcome, label: string): LabelledRun {
  const run = outcome.runs.find((r) => r.label === label);
  if (run === undefined) throw new Error(`experiment: run "${label}" has no records`);
  return run;
}

/** Best training / validation accuracy, final accuracies and final loss of a run, for tables and key numbers. */
export function runNumbers(run: LabelledRun): {
  bestTrainAcc: number | null;
  bestValAcc: number | null;
  finalTrainAcc: number | null;
  finalValAcc: number | null;
  finalLoss: number | null;
} {
  const s = summarizeRun(run);
  return {
    bestTrainAcc: s.bestTrainAcc ?? null,
    bestValAcc: s.bestValAcc ?? null,
    finalTrainAcc: s.finalTrainAcc ?? null,
    finalValAcc: s.finalValAcc ?? null,
    finalLoss: s.finalLoss ?? null,
  };
}

/**
 * A table of runs by what distinguishes them: best and final training and
 * validation accuracy, and the mean loss of the last steps (no timing, so it
 * is the same however the runs were scheduled).
 */
export function accuracyTable(runs: readonly LabelledRun[], lossWindow = 100): ReportTable {
  return {
    columns: [
      "Run",
      { label: "Best train acc", numeric: true, title: "Best training accuracy (subsample) over all checks" },
      { label: "Final train acc", numeric: true },
      { label: "Best val acc", numeric: true, title: "Best validation accuracy over all checks" },
      { label: "Final val acc", numeric: true },
      { label: "Train − val gap", numeric: true, title: "Final training accuracy minus final validation accuracy" },
      lossWindow === 100
        ? { label: FINAL_LOSS_LABEL, numeric: true, title: FINAL_LOSS_TITLE }
        : { label: `Final loss (mean of last ${lossWindow} steps)`, numeric: true },
    ],
    rows: runs.map((run) => {
      const n = runNumbers(run);
      const loss = meanFinalLoss(run.records, lossWindow);
      const gap = n.finalTrainAcc !== null && n.finalValAcc !== null ? n.finalTrainAcc - n.finalValAcc : null;
      return [
        run.label,
        percentCell(n.bestTrainAcc),
        percentCell(n.finalTrainAcc),
        percentCell(n.bestValAcc),
        percentCell(n.finalValAcc),
        gap === null ? null : { text: `${(100 * gap).toFixed(2)} pt`, numeric: true },
        loss === null ? null : { text: loss.toFixed(4), numeric: true },
      ];
    }),
  };
}

/** The experiment's settings for the report's configuration block. */
export function configOf(outcome: ExperimentOutcome, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const o = outcome.options;
  return {
    dataset: o.dataset,
    quick: o.quick,
    seed: o.seed,
    ...(o.numTrain !== undefined ? { numTrainOverride: o.numTrain } : {}),
    ...(o.epochs !== undefined ? { epochsOverride: o.epochs } : {}),
    ...(o.checkEvery !== undefined ? { checkEvery: o.checkEvery } : {}),
    ...extra,
    ...(outcome.tasks.length > 0
      ? { runs: outcome.tasks.length, ...(outcome.engine ? { ran: outcome.engine } : { workers: outcome.workers }) }
      : {}),
    gemm: outcome.gemm,
  };
}

/** The description line every training report ends with: the dataset and what quick mode did. */
export function datasetNote(outcome: ExperimentOutcome, quickNote: string): string {
  const first = outcome.runs[0];
  const start = first ? runSeries(first.records).start : undefined;
  const d = start?.run?.dataset as { name?: string; numTrain?: number; numVal?: number } | undefined;
  const data = d?.name
    ? `Data: ${d.name}, ${d.numTrain?.toLocaleString("en-US")} training / ${
      d.numVal?.toLocaleString("en-US")
    } validation images.`
    : `Data: ${outcome.options.dataset}.`;
  return outcome.options.quick ? `${data} Quick mode: ${quickNote}` : data;
}

/** What an experiment's report says in its own words; {@link reportFrame} adds what every report shares. */
export interface ExperimentReportInput {
  /** What the experiment shows and what came out, without the dataset line ({@link datasetNote} is appended). */
  description: string;
  /** The experiment's own settings, after the options' (see {@link configOf}). Default none. */
  config?: Record<string, unknown>;
  /** Sections after the loss and accuracy curves (only {@link experimentTrainingReport} uses them). */
  extraSections?: ReportSection[];
}

/**
 * The head of an experiment's report: its title (with "(quick)" in quick
 * mode), the description followed by a blank line and the dataset note for
 * the experiment's `quick` text, and the configuration ({@link configOf}).
 */
export function reportFrame(
  experiment: Experiment,
  outcome: ExperimentOutcome,
  input: ExperimentReportInput,
): { title: string; description: string; config: Record<string, unknown> } {
  return {
    title: outcome.options.quick ? `${experiment.title} (quick)` : experiment.title,
    description: `${input.description}\n\n${datasetNote(outcome, experiment.quick)}`,
    config: configOf(outcome, input.config),
  };
}

/**
 * A training experiment's report: `trainingReport` of every run of the
 * outcome under the {@link reportFrame} head, then `input.extraSections`.
 */
export function experimentTrainingReport(
  experiment: Experiment,
  outcome: ExperimentOutcome,
  input: ExperimentReportInput,
): Report {
  return trainingReport({
    ...reportFrame(experiment, outcome, input),
    runs: outcome.runs,
    extraSections: input.extraSections,
  });
}

/** A fraction as a percentage for a report's text (`formatPercent`, default 2 digits), or "n/a" when missing. */
export function percentText(v: number | null | undefined, options: FormatPercentOptions = {}): string {
  return formatPercent(v, options) ?? "n/a";
}

/** Key numbers of every run by label: all best validation accuracies, then all final training accuracies. */
export function perRunAccuracies(runs: readonly LabelledRun[]): Record<string, number | null> {
  const keyNumbers: Record<string, number | null> = {};
  for (const run of runs) keyNumbers[`bestValAcc[${run.label}]`] = runNumbers(run).bestValAcc;
  for (const run of runs) keyNumbers[`finalTrainAcc[${run.label}]`] = runNumbers(run).finalTrainAcc;
  return keyNumbers;
}

/** The planned number of training examples: `--num-train`, else `quick` in quick mode, else `full`. */
export function numTrainOf(options: ExperimentOptions, full: number, quick: number): number {
  return options.numTrain ?? (options.quick ? quick : full);
}

/** The planned number of epochs: `--epochs`, else `quick` in quick mode, else `full`. */
function epochsOf(options: ExperimentOptions, full: number, quick: number): number {
  return options.epochs ?? (options.quick ? quick : full);
}

/** Validation examples: all (the loader's default) in full mode, `quick` in quick mode. */
function numValOf(options: ExperimentOptions, quick: number): number | null {
  return options.quick ? quick : null;
}

/** A fully connected net spec with the course's defaults (no normalization, no dropout, reg 0). */
export function fcModel(
  hiddenDims: number[],
  options: Partial<Omit<FcModelSpec, "kind" | "hiddenDims">> = {},
): FcModelSpec {
  return {
    kind: "fc",
    hiddenDims,
    normalization: options.normalization ?? null,
    dropout: options.dropout ?? 0,
    weightScale: options.weightScale ?? 1e-2,
    reg: options.reg ?? 0,
  };
}

/** The data spec of an experiment's runs: `numTrain` examples, all validation examples (quick: `quickVal`), float32. */
export function dataOf(options: ExperimentOptions, numTrain: number, quickVal = 200): DataSpec {
  return { spec: options.dataset, numTrain, numVal: numValOf(options, quickVal), dtype: "float32" };
}

/** The full and quick sizes of an experiment, each as `[full, quick]`. */
export interface ExperimentScale {
  /** Training examples (`--num-train` overrides both). */
  numTrain: readonly [full: number, quick: number];
  /** Epochs (`--epochs` overrides both). */
  numEpochs: readonly [full: number, quick: number];
  /** Validation examples in quick mode (full mode takes all); 200 when left out. */
  quickVal?: number;
}

/**
 * An experiment's data spec and epochs at the scale `options` ask for: `--num-train` and `--epochs` when given,
 * else the quick sizes with `--quick`, else the full ones.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { experimentScale } from "./common.ts";
 *
 * const scale = { numTrain: [1000, 500], numEpochs: [10, 4] } as const;
 * const quick = experimentScale({ dataset: "sample", quick: true, seed: 0 }, scale);
 * assertEquals([quick.numTrain, quick.numEpochs, quick.data.numVal], [500, 4, 200]);
 * const full = experimentScale({ dataset: "sample", quick: false, seed: 0, epochs: 2 }, scale);
 * assertEquals([full.numTrain, full.numEpochs, full.data.numVal], [1000, 2, null]);
 * ```
 */
export function experimentScale(
  options: ExperimentOptions,
  scale: ExperimentScale,
): { data: DataSpec; numTrain: number; numEpochs: number } {
  const numTrain = numTrainOf(options, ...scale.numTrain);
  return {
    data: dataOf(options, numTrain, scale.quickVal),
    numTrain,
    numEpochs: epochsOf(options, ...scale.numEpochs),
  };
}

/** An Adam solver spec (the update rule of the course's experiments). */
export function adamSolver(learningRate: number, batchSize: number, numEpochs: number): SolverSpec {
  return { updateRule: "adam", learningRate, batchSize, numEpochs };
}

/** A training task with Adam and the course's defaults. */
export function trainTask(
  label: string,
  options: ExperimentOptions,
  task: { data: DataSpec; model: ModelSpec; solver: SolverSpec; facts?: TrainTask["facts"]; returnParams?: string[] },
): TrainTask {
  const solver = options.checkEvery ? { ...task.solver, checkEvery: options.checkEvery } : task.solver;
  return { kind: "train", label, seed: options.seed, ...task, solver };
}

/**
 * Gives each run the colour it has in the experiment's main charts (its
 * position in `labels`), in a chart that shows only some of the runs: every
 * colour encoding of the `run` field gets a range matching its domain.
 * Returns `spec`, changed in place.
 */
export function recolorRuns<T extends object>(spec: T, labels: readonly string[]): T {
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(visit);
    if (node === null || typeof node !== "object") return;
    const o = node as Record<string, unknown>;
    const color = o.color as { field?: string; scale?: { domain?: unknown; range?: unknown } } | undefined;
    if (color && color.field === "run" && Array.isArray(color.scale?.domain)) {
      color.scale!.range = (color.scale!.domain as string[]).map((l) => {
        const i = labels.indexOf(l);
        return RUN_COLORS[(i < 0 ? 0 : i) % RUN_COLORS.length];
      });
    }
    for (const v of Object.values(o)) visit(v);
  };
  visit(spec);
  return spec;
}
