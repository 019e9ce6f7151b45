/**
 * `deno task experiment NAME`: runs one of the course's experiments
 * (`--list` names them), its independent runs in parallel on Web Workers
 * (one per core by default), and writes to a folder of its own for each
 * dataset and configuration, `<out>/NAME-DATASET-…-HASH/` (`--run-name`
 * names another):
 *
 * - `report.html`: the report (charts, tables, images; opens offline);
 * - `runs/<run>/`: every training run in its own folder (`runInFolder`): its
 *   records (`run.ndjson`), checkpoint, `result.json`;
 * - `summary.json`: the key numbers, the runs and their wall times.
 *
 * Nothing is lost without `--force`: the folder is locked while written, a
 * folder holding results is refused (exit 2) unless `--resume` (finished
 * runs kept, unfinished ones continued from their checkpoints, then the
 * report) or `--force` (replace them) says what to do, and Ctrl-C ends with
 * one line naming the runs that are over and the command that continues.
 *
 * Runs use the embedded CIFAR-10 sample unless `--dataset` says otherwise;
 * `--quick` runs a reduced version (fewer epochs, runs and examples; `--list`
 * says what each experiment drops). The report does not depend on the
 * number of workers: every run has its own seed, and runs are shown in the
 * order of the plan.
 *
 * @module
 */

import type { ScanOptions } from "./run_index.ts";
import { DATASET_SPECS } from "../../datasets/registry.ts";
import { describeGemmBackend, type GemmBackendName, useGemmBackend } from "../../layers/kernels/gemm_backends.ts";
import { setThreads, threads } from "../../layers/kernels/threads.ts";
import { gemmBackend } from "../../layers/kernels/gemm.ts";
// The report renderer (vega) and the live server load only when an in-process run needs them: `--plan FILE
// --index I` starts once per run of a sweep and must be ready in a fraction of a second.
import type { RunServer } from "../../reports/live_server.ts";
import type { LabelledRun } from "../../reports/run_data.ts";
import { formatDuration } from "../../reports/format.ts";
import { writeFileAtomic } from "../store/atomic_write.ts";
import {
  clearRunResults,
  describeRemovedTemporaries,
  describeRunFolder,
  guardRunFolder,
  removeStaleTemporaries,
  RUN_FILES,
  RunFolderTakenError,
} from "../store/run_folder.ts";
import { acquireRunLock, describeHolder, type RunLock, RunLockedError, shellWord } from "../store/run_lock.ts";
import { readRunLog } from "../store/run_log.ts";
import { fileNameOf } from "./experiments/common.ts";
import { expandSeeds, MAX_SEEDS, type SeedGroup } from "./experiments/seeds.ts";
import {
  type Experiment,
  type ExperimentOptions,
  type ExperimentOutcome,
  EXPERIMENTS,
  findExperiment,
} from "./experiments/index.ts";
import type { LabelledRecord, RunPlace, Task } from "./experiments/tasks.ts";
import type { TrainRecord } from "../store/records.ts";
import { defaultWorkerCount, runTasks, TaskFailedError } from "./worker_pool.ts";
import { ExperimentProgress } from "./experiment_progress.ts";
import { readableRunName } from "./run_names.ts";
import { continueCommand, onStopSignals, STOP_EXIT_CODES } from "./stop_signals.ts";
import { runPlannedIndex, sweepExitCodesText } from "./sweep_index.ts";
import {
  commandErrorExit,
  count,
  datasetSpec,
  directory,
  flagTable,
  gemmChoice,
  helpRows,
  numberValue,
  parseFlags,
  plainName,
  positiveInteger,
  seedValue,
  threadCount,
  UsageError,
} from "./cli.ts";

/** Key numbers printed on stdout (all go to summary.json). */
const KEY_NUMBERS_SHOWN = 12;

/** Flags of the command, as `node:util` parseArgs takes them. */
const FLAGS = flagTable(
  [
    ...["dataset", "workers", "num-train", "epochs", "seed", "seeds", "out", "gemm", "threads", "run-name"],
    ...["check-every", "port", "plan", "index", "sbatch", "slots"],
  ] as const,
  ["quick", "serve", "quiet", "list", "help", "resume", "force", "allow-backend-change", "collect"] as const,
);

const FLAG_HINTS: Record<keyof typeof FLAGS, string> = {
  "dataset": "--dataset SPEC",
  "quick": "--quick",
  "workers": "--workers N",
  "num-train": "--num-train N",
  "epochs": "--epochs N",
  "seed": "--seed S",
  "seeds": "--seeds K",
  "threads": "--threads N",
  "plan": "--plan FILE",
  "index": "--index I",
  "collect": "--collect",
  "sbatch": "--sbatch FILE",
  "slots": "--slots K",
  "out": "--out DIR",
  "run-name": "--run-name NAME",
  "check-every": "--check-every N",
  "resume": "--resume",
  "force": "--force",
  "allow-backend-change": "--allow-backend-change",
  "serve": "--serve",
  "port": "--port N",
  "gemm": "--gemm blas|wasm|ts|auto",
  "quiet": "--quiet",
  "list": "--list",
  "help": "--help",
};

/** The usage text printed by `--help`. */
export function experimentUsage(): string {
  const width = Math.max(...EXPERIMENTS.map((e) => e.name.length));
  return `Usage: deno task experiment NAME [flags]
       deno task experiment NAME --plan FILE [--sbatch FILE [--slots K]] [flags]
       deno task experiment --plan FILE --index I | --collect | --sbatch FILE [--slots K]
       deno task experiment --list

Runs one of the CS231n notebooks' experiments, its independent runs in parallel on Web
Workers, and writes to a folder of its own for each dataset and configuration,
<out>/NAME-DATASET-…-HASH/: report.html, summary.json (the key numbers) and runs/<run>/,
each run in its own folder (run.ndjson, checkpoint.safetensors, result.json).

Experiments
${helpRows(EXPERIMENTS.map((e) => [e.name, e.summary]), width + 1)}

Flags
  --dataset SPEC     ${DATASET_SPECS.join(" | ")} (default sample: the embedded
                     CIFAR-10 sample, 1,000 training and 1,000 validation images)
  --quick            a reduced run: fewer epochs, runs and examples (--list says what changes)
  --workers N        parallel workers (default: one per core, ${defaultWorkerCount()} here)
  --num-train N      training examples (overrides the experiment's)
  --epochs N         epochs (overrides the experiment's)
  --seed S           seed of every run, 0 ≤ S < 2^32 (default 0)
  --seeds K          repeat every run with K seeds, the first being --seed's; the report adds
                     each configuration's mean with a min–max band over its seeds (default 1)
  --check-every N    also check accuracy every N iterations in every run (the losses are unchanged)
  --out DIR          output root (default out)
  --run-name NAME    the experiment's folder under --out (default: NAME, the dataset, the settings
                     that differ from the defaults, and a hash of all of them)
  --resume           continue: finished runs are kept, unfinished ones continue from their
                     checkpoints, the rest start; then the report
  --force            replace what the experiment's folder holds (with --plan: a different plan in FILE)
  --allow-backend-change
                     with --resume: continue runs whose checkpoints were written with another gemm
                     backend or thread count (their results will not be bit-identical)
  --serve            live view: serve the experiment's folder on 127.0.0.1 and stream the records to
                     the page while the runs train; keeps serving the final report until Ctrl-C
  --port N           the live view's port (default: a free one)
  --gemm blas|wasm|ts|auto
                     matrix-product backend (default auto, or env GRADSTREAM_GEMM)
  --threads N        layer threads in all, shared out among the workers (default: env
                     GRADSTREAM_THREADS, else every core); results are the same bits on any number
  --quiet            no progress output
  --list             the experiments, with what --quick changes
  --help             this text

Sweeps on other engines (GNU parallel, Slurm, Kubernetes: README, "Sweeps")
  --plan FILE        with NAME: write the runs' plan (NDJSON, one line per run) instead of running
                     them, and print the commands that run it; without NAME: the plan to use
  --index I          run exactly run I of the plan: a finished run is left alone, an interrupted
                     one continues from its checkpoint, a locked one is refused; on --threads N
                     (default env GRADSTREAM_THREADS, else SLURM_CPUS_PER_TASK, else 1)
  --collect          render the report from the plan's finished runs, list the missing ones
  --sbatch FILE      write a Slurm batch script: the plan as a job array; bash FILE also submits
                     a collect job that waits for the array
  --slots K          with --sbatch: array tasks running at once (default all)
Exit codes with --plan: ${sweepExitCodesText()}
`;
}

/** The text printed by `--list`. */
export function experimentList(): string {
  const width = Math.max(...EXPERIMENTS.map((e) => e.name.length));
  return EXPERIMENTS.map((e) => `${e.name.padEnd(width)}  ${e.summary}\n${" ".repeat(width)}  --quick: ${e.quick}`)
    .join("\n");
}

/** Where `main` writes, and how a test stops it (replaceable in tests). */
export interface ExperimentIO {
  /** A line for stdout. */
  out?: (line: string) => void;
  /** A line for stderr (progress, errors). */
  err?: (line: string) => void;
  /** Aborting it stops the runs (exit 1) or, once they are done, the `--serve` server (exit 0). */
  signal?: AbortSignal;
  /** Called with the live view's URL once it is serving (`--serve`). */
  onServe?: (url: string) => void;
  /** Progress: a summary line at least this often while runs train, ms. Default 10,000. */
  heartbeatMs?: number;
  /** Listen to SIGINT and SIGTERM (default: when run as the program). */
  stopSignals?: boolean;
}

/** What the command line asks for, after parsing and defaults. */
export interface ExperimentArgs {
  /** The experiment. */
  experiment: Experiment;
  /** What it is asked to do. */
  options: ExperimentOptions;
  /** Workers. */
  workers: number;
  /** Output root. */
  out: string;
  /** The experiment's folder under `out` (null: {@link defaultExperimentFolder}). */
  runName: string | null;
  /** Keep finished runs, continue unfinished ones. */
  resume: boolean;
  /** Replace what the folder holds. */
  force: boolean;
  /** With `resume`: continue runs whose checkpoints were written with another gemm backend or thread count. */
  allowBackendChange: boolean;
  /** Live view. */
  serve: boolean;
  /** The live view's port (0: a free one). */
  port: number;
  /** gemm backend, or undefined for the default (env GRADSTREAM_GEMM, else auto). */
  gemm: GemmBackendName | "auto" | undefined;
  /** Layer threads in all (null: env GRADSTREAM_THREADS, else every core). */
  threads: number | null;
  /** No progress output. */
  quiet: boolean;
  /** Seeds per configuration (`--seeds`, default 1). */
  seeds: number;
  /** `--plan FILE`: write the plan there instead of running. */
  plan?: string;
  /** `--sbatch FILE` (with `plan`): write the Slurm script there too. */
  sbatch?: string;
  /** `--slots K` (with `sbatch`). */
  slots?: number;
}

/** `--plan FILE` without an experiment's name: run one index, collect, or write a Slurm script for the plan. */
export type PlanArgs =
  | {
    action: "index";
    plan: string;
    index: number;
    gemm?: GemmBackendName | "auto";
    threads?: number;
    allowBackendChange: boolean;
    quiet: boolean;
  }
  | { action: "collect"; plan: string; quiet: boolean }
  | { action: "sbatch"; plan: string; sbatch: string; slots?: number };

/** Flags that only go with an experiment's name (they say what to plan or how to run it here). */
const EXPERIMENT_ONLY = [
  ...["dataset", "workers", "num-train", "epochs", "seed", "seeds", "out", "serve", "quick", "run-name"],
  ...["check-every", "port", "resume", "force"],
] as const;

/**
 * Parses the command line. Returns `"help"` or `"list"` when those were
 * asked for.
 *
 * @throws UsageError naming the flag and what it expects
 */
export function parseExperimentArgs(args: string[]): ExperimentArgs | PlanArgs | "help" | "list" {
  const { values, positionals } = parseFlags(args, FLAGS, {
    allowPositionals: true,
    unknownFlagHint: `; expected NAME and ${Object.values(FLAG_HINTS).join(", ")}`,
    valueHint: (flag) => FLAG_HINTS[flag as keyof typeof FLAGS],
  });
  if (values.help) return "help";
  if (values.list) return "list";
  const names = EXPERIMENTS.map((e) => e.name).join(", ");
  for (const flag of ["index", "collect"] as const) {
    if (values[flag] === undefined) continue;
    if (values.plan === undefined) throw new UsageError(`--${flag} needs --plan FILE, the plan it works on`);
    if (positionals.length > 0) {
      throw new UsageError(
        `--${flag} works on an existing plan: give --plan FILE without an experiment name (got ${positionals[0]})`,
      );
    }
  }
  if (values.slots !== undefined && values.sbatch === undefined) {
    throw new UsageError("--slots goes with --sbatch FILE: the Slurm array's tasks running at once");
  }
  const slots = values.slots === undefined ? undefined : positiveInteger("slots", values.slots);
  if (positionals.length === 0 && values.plan !== undefined) return planArgs(values, slots);
  if (positionals.length === 0) {
    throw new UsageError(`expects an experiment name, one of ${names} (--list describes them)`);
  }
  if (positionals.length > 1) {
    throw new UsageError(
      `expects one experiment name, got ${positionals.map((p) => JSON.stringify(p)).join(" ")}`,
    );
  }
  const experiment = findExperiment(positionals[0]);
  if (experiment === undefined) {
    throw new UsageError(`unknown experiment ${JSON.stringify(positionals[0])}; expected one of ${names}`);
  }
  const dataset = values.dataset ?? "sample";
  const { format } = datasetSpec("dataset", dataset);
  if (!experiment.trains) {
    for (const flag of ["num-train", "epochs"] as const) {
      if (values[flag] !== undefined) {
        throw new UsageError(`--${flag} does not apply to ${experiment.name}: it trains nothing`);
      }
    }
    if (experiment.name === "gradcheck" && values.dataset !== undefined) {
      throw new UsageError(
        "--dataset does not apply to gradcheck: its checks use the notebooks' random inputs",
      );
    }
  }
  const options: ExperimentOptions = { dataset, quick: values.quick === true, seed: 0 };
  if (values["num-train"] !== undefined) options.numTrain = positiveInteger("num-train", values["num-train"]);
  if (values.epochs !== undefined) options.epochs = positiveInteger("epochs", values.epochs);
  if (options.numTrain !== undefined && options.numTrain > format.maxTraining) {
    throw new UsageError(
      `--num-train ${options.numTrain} is more than the ${format.name}'s ${format.maxTraining} training images`,
    );
  }
  if (values.seed !== undefined) options.seed = seedValue("seed", values.seed);
  if (values["check-every"] !== undefined) {
    if (!experiment.trains) {
      throw new UsageError(`--check-every does not apply to ${experiment.name}: it trains nothing`);
    }
    options.checkEvery = positiveInteger("check-every", values["check-every"]);
  }
  if (values.resume === true && values.force === true) {
    throw new UsageError("--resume and --force contradict each other: --resume keeps the runs, --force replaces them");
  }
  const seeds = values.seeds === undefined
    ? 1
    : positiveInteger("seeds", values.seeds, { max: MAX_SEEDS, why: "seeds per configuration" });
  if (seeds > 1 && !experiment.trains) {
    throw new UsageError(`--seeds does not apply to ${experiment.name}: it trains nothing`);
  }
  if (values.plan === undefined && values.sbatch !== undefined) throw new UsageError("--sbatch goes with --plan FILE");
  if (values.plan !== undefined) {
    for (const flag of ["workers", "serve", "port", "resume", "allow-backend-change"] as const) {
      if (values[flag] !== undefined) {
        throw new UsageError(`--${flag} does not apply with --plan: the engine that runs the plan decides`);
      }
    }
  }
  let port = 0;
  if (values.port !== undefined) {
    port = numberValue(
      "port",
      values.port,
      "a port number in [0, 65535] (0: a free one)",
      (v) => Number.isInteger(v) && v >= 0 && v <= 65535,
    );
    if (values.serve !== true) throw new UsageError("--port applies to --serve only (the live view's port)");
  }
  return {
    experiment,
    options,
    workers: values.workers === undefined ? defaultWorkerCount() : positiveInteger("workers", values.workers),
    out: directory("out", values.out ?? "out"),
    runName: values["run-name"] === undefined ? null : plainName("run-name", values["run-name"]),
    resume: values.resume === true,
    force: values.force === true,
    allowBackendChange: values["allow-backend-change"] === true,
    serve: values.serve === true,
    port,
    gemm: values.gemm === undefined ? undefined : gemmChoice("gemm", values.gemm),
    threads: values.threads === undefined ? null : threadCount("threads", values.threads),
    quiet: values.quiet === true,
    seeds,
    ...(values.plan !== undefined ? { plan: values.plan } : {}),
    ...(values.sbatch !== undefined ? { sbatch: values.sbatch } : {}),
    ...(slots !== undefined ? { slots } : {}),
  };
}

/** The `--plan FILE` forms without an experiment's name (see {@link PlanArgs}). */
function planArgs(
  values: ReturnType<typeof parseFlags<typeof FLAGS>>["values"],
  slots: number | undefined,
): PlanArgs {
  const given = (Object.keys(values) as (keyof typeof FLAGS)[]).filter((f) => values[f] !== undefined);
  const other = given.find((f) => (EXPERIMENT_ONLY as readonly string[]).includes(f));
  if (other !== undefined) {
    throw new UsageError(
      `--${other} does not apply to an existing plan: it was planned with its settings (give NAME to plan anew)`,
    );
  }
  const actions = (["index", "collect", "sbatch"] as const).filter((f) => values[f] !== undefined);
  if (actions.length !== 1) {
    throw new UsageError(
      actions.length === 0
        ? "--plan FILE without an experiment name expects --index I, --collect or --sbatch FILE"
        : `--${actions[0]} and --${actions[1]} do not go together; give one`,
    );
  }
  const plan = values.plan!;
  if (values.index !== undefined) {
    if (!/^\d+$/.test(values.index)) {
      throw new UsageError(`--index expects a run's index, an integer from 0, got ${JSON.stringify(values.index)}`);
    }
    return {
      action: "index",
      plan,
      index: Number(values.index),
      ...(values.gemm !== undefined ? { gemm: gemmChoice("gemm", values.gemm) } : {}),
      ...(values.threads !== undefined ? { threads: threadCount("threads", values.threads) } : {}),
      allowBackendChange: values["allow-backend-change"] === true,
      quiet: values.quiet === true,
    };
  }
  for (const flag of ["gemm", "threads", "allow-backend-change"] as const) {
    if (values[flag] !== undefined) {
      throw new UsageError(`--${flag} goes with NAME or --index: it says how runs compute`);
    }
  }
  if (values.collect) return { action: "collect", plan, quiet: values.quiet === true };
  return { action: "sbatch", plan, sbatch: values.sbatch!, ...(slots !== undefined ? { slots } : {}) };
}

/**
 * A rough cost of a task, for the time-left estimate: steps weighted by
 * batch size plus a fixed cost per step (small batches cost more per
 * example), and the accuracy checks; a convnet example costs about 50 FC ones.
 */
function workOf(task: Task): number {
  if (task.kind !== "train") return 1;
  const { batchSize, numEpochs } = task.solver;
  const steps = numEpochs * Math.max(1, Math.floor(task.data.numTrain / batchSize));
  return (steps * (batchSize + 25) + (numEpochs + 1) * 700) * (task.model.kind === "cnn" ? 50 : 1);
}

/** A live page listing every planned run, fed by `serveRun`. */
async function liveReport(experiment: Experiment, tasks: readonly Task[]) {
  const labels = tasks.filter((t) => t.kind === "train").map((t) => t.label);
  const { trainingReport } = await import("../../reports/run_report.ts");
  return trainingReport({
    title: `${experiment.title} (live)`,
    description: `${labels.length} runs training: ${
      labels.join(", ")
    }. The final report replaces this page when they are done (reload).`,
    runs: labels.map((label) => ({ label, records: [] })),
    live: { runLabel: labels[0] ?? "run" },
  });
}

/**
 * The default folder of an experiment under `--out`: its name, the dataset,
 * the settings that differ from the defaults (`quick`, `--num-train`,
 * `--epochs`, `--check-every`, `--seed`, `--seeds`) and a hash of all of them, so
 * that a run on another dataset or configuration never writes over this one's
 * (`convnet-cifar10-5a1e09ab`, `batchnorm-sample-quick-0c7d2e11`).
 */
export async function defaultExperimentFolder(
  experiment: Experiment,
  options: ExperimentOptions,
  seeds = 1,
): Promise<string> {
  const settings: Record<string, unknown> = {
    experiment: experiment.name,
    quick: options.quick,
    ...(experiment.trains ? { dataset: options.dataset, seed: options.seed } : {}),
    ...(options.numTrain !== undefined ? { numTrain: options.numTrain } : {}),
    ...(options.epochs !== undefined ? { epochs: options.epochs } : {}),
    ...(options.checkEvery !== undefined ? { checkEvery: options.checkEvery } : {}),
    ...(seeds > 1 ? { seeds } : {}),
  };
  return await readableRunName({
    prefix: [experiment.name, ...(experiment.trains ? [options.dataset.split(":")[0]] : [])],
    settings,
    defaults: { quick: false, seed: 0 },
    spellings: [
      { key: "quick", short: "quick" },
      { key: "numTrain", short: "n" },
      { key: "epochs", short: "e" },
      { key: "checkEvery", short: "check" },
      { key: "seed", short: "s" },
      { key: "seeds", short: "seeds" },
    ],
  });
}

/**
 * Each training task's folder name under an experiment's `runs/`: its label
 * as a file name (`fileNameOf`), made unique in plan order, so the same
 * plan always names the same folders (what `--resume` relies on).
 */
export function runFolderNames(tasks: readonly Task[]): Map<string, string> {
  const names = new Map<string, string>();
  const used = new Set<string>();
  for (const t of tasks) {
    if (t.kind !== "train") continue;
    let name = fileNameOf(t.label);
    for (let k = 2; used.has(name); k++) name = `${fileNameOf(t.label)}-${k}`;
    used.add(name);
    names.set(t.label, name);
  }
  return names;
}

/** Where each run stands, from the records seen: for the line printed when the experiment is stopped. */
function stopSummary(
  labels: readonly string[],
  finished: ReadonlySet<string>,
  seen: ReadonlyMap<string, { iteration: number; planned: number }>,
): string {
  const interrupted = labels.filter((l) => !finished.has(l) && seen.has(l)).map((l) => {
    const s = seen.get(l)!;
    return `${l} at iteration ${s.iteration}${s.planned ? ` of ${s.planned}` : ""}`;
  });
  const notStarted = labels.length - finished.size - interrupted.length;
  return `${finished.size} of ${count(labels.length, "run")} over` +
    (interrupted.length > 0 ? `, ${interrupted.length} interrupted (${interrupted.join("; ")})` : "") +
    (notStarted > 0 ? `, ${notStarted} not started` : "");
}

/**
 * The command: parses `args`, runs the experiment in its folder, writes its
 * files, prints where. Returns the exit code: 0 done, 1 a run failed (its
 * label and error are printed), 2 a command-line mistake (one line naming
 * the flag) or a folder that is not this command's to write (locked by
 * another process, or holding results without `--resume` or `--force`).
 */
export async function main(args: string[], io: ExperimentIO = {}): Promise<number> {
  const out = io.out ?? ((line: string) => console.log(line));
  const err = io.err ?? ((line: string) => console.error(line));
  let parsed;
  try {
    parsed = parseExperimentArgs(args);
  } catch (e) {
    if (e instanceof UsageError) {
      err(`experiment: ${e.message}`);
      return 2;
    }
    throw e;
  }
  if (parsed === "help") {
    out(experimentUsage().trimEnd());
    return 0;
  }
  if (parsed === "list") {
    out(experimentList());
    return 0;
  }
  if ("action" in parsed) {
    if (parsed.action === "index") return await runPlannedIndex(parsed, { out, err });
    if (parsed.action === "collect") {
      return await (await import("./sweep_collect.ts")).collectPlan(parsed, { out, err });
    }
    return await (await import("./sweep_plan.ts")).writeSbatchOfPlan(parsed, { out, err });
  }
  const { experiment, options } = parsed;
  const progressLine = parsed.quiet ? () => {} : err;
  let tasks: Task[];
  let groups: SeedGroup[];
  try {
    ({ tasks, groups } = expandSeeds(await experiment.plan(options), parsed.seeds));
  } catch (e) {
    if (e instanceof UsageError) {
      err(`experiment: ${e.message}`);
      return 2;
    }
    throw e;
  }
  const t0 = performance.now();
  const root = parsed.out.replace(/\/+$/, "") || "/";
  const dir = `${root}/${parsed.runName ?? await defaultExperimentFolder(experiment, options, parsed.seeds)}`;
  if (parsed.plan !== undefined) {
    const { writeExperimentPlan } = await import("./sweep_plan.ts");
    return await writeExperimentPlan({ ...parsed, experiment: experiment.name, dir, plan: parsed.plan }, tasks, {
      out,
      err,
    });
  }
  const { writeReport } = await import("../../reports/render.ts");
  const runsDir = `${dir}/${RUN_FILES.runs}`;
  const reportPath = `${dir}/${RUN_FILES.report}`;
  const trainTasks = tasks.filter((t) => t.kind === "train");
  const labels = trainTasks.map((t) => t.label);
  const folders = runFolderNames(tasks);
  const command = ["deno task experiment", ...args.map(shellWord)].join(" ");
  let server: RunServer | undefined;
  let progress: ExperimentProgress<Task> | undefined;
  let lock: RunLock | undefined;
  let over = false;
  const finished = new Set<string>();
  const seen = new Map<string, { iteration: number; planned: number }>();
  const stopped = Promise.withResolvers<void>();
  const index = (exiting = false) => writeIndexPage(root, { exiting }).catch(() => {});
  let removeListeners = () => {};
  try {
    if (parsed.threads !== null) setThreads(parsed.threads);
    useGemmBackend(parsed.gemm, { quiet: parsed.quiet });
    const backend = gemmBackend().name as GemmBackendName;
    await Deno.mkdir(dir, { recursive: true });
    lock = await acquireRunLock(dir, { command });
    if (lock.tookOver !== null) {
      out(`experiment: ${dir}: took over the lock of ${describeHolder(lock.tookOver)}, which is gone`);
    }
    const removed = describeRemovedTemporaries(await removeStaleTemporaries(dir));
    if (removed !== null) out(`experiment: ${dir}: ${removed}`);
    const contents = await guardRunFolder(dir, {
      resume: parsed.resume,
      force: parsed.force,
      elsewhere: "--run-name NAME",
    });
    if (parsed.force && contents.hasResults) {
      out(`experiment: ${dir}: replacing ${describeRunFolder(contents)} (--force)`);
      await clearRunResults(dir);
    }
    if (parsed.resume && contents.hasResults) out(`experiment: resuming ${dir} (${describeRunFolder(contents)})`);
    if (trainTasks.length > 0) await Deno.mkdir(runsDir, { recursive: true });
    const placeOf = (t: Task): RunPlace | undefined =>
      t.kind !== "train" ? undefined : {
        dir: `${runsDir}/${folders.get(t.label)}`,
        resume: parsed.resume,
        force: false,
        allowBackendChange: parsed.allowBackendChange,
        elsewhere: "--run-name NAME",
        command,
      };

    if (io.stopSignals ?? import.meta.main) {
      removeListeners = onStopSignals((signal) => {
        if (over) return stopped.resolve();
        // The runs go on while the index is written; then nothing else runs: the line is the last one printed.
        void index(true).finally(() => {
          err(
            `experiment: stopped (${signal}): ${stopSummary(labels, finished, seen)}; ${dir} keeps the runs that ` +
              `are over and the others' checkpoints; continue with: ${continueCommand("experiment", args)}`,
          );
          releaseOwnLocksSync([...trainTasks.map((t) => placeOf(t)!.dir)]);
          lock?.releaseSync();
          Deno.exit(STOP_EXIT_CODES[signal]);
        });
      });
    }

    progress = new ExperimentProgress(tasks, progressLine, { heartbeatMs: io.heartbeatMs, weightOf: workOf });
    const batch = runTasks(tasks, {
      workers: parsed.workers,
      gemm: backend,
      cost: workOf,
      placeOf,
      onStart: (task) => progress!.started(task),
      onDone: (task, result) => {
        finished.add(task.label);
        for (const line of result.notices ?? []) out(`experiment: ${line}`);
        progress!.finished(task, result);
      },
      signal: io.signal,
    });
    const each = Math.max(1, Math.floor(threads() / batch.workers));
    const gemmText = `${describeGemmBackend()}; ${batch.workers} worker${batch.workers === 1 ? "" : "s"} × ${each} ` +
      `thread${each === 1 ? "" : "s"}`;
    progressLine(
      `experiment ${experiment.name}${options.quick ? " (quick)" : ""}: ` +
        (tasks.length === 0
          ? "no runs, computed here"
          : `${count(tasks.length, trainTasks.length > 0 ? "run" : "task")} on ${count(batch.workers, "worker")}`) +
        ` · gemm ${gemmText}${experiment.name === "gradcheck" ? "" : ` · dataset ${options.dataset}`}` +
        ` · ${dir}`,
    );

    let records: ReadableStream<LabelledRecord> = batch.records;
    if (parsed.serve) {
      const [mine, live] = records.tee();
      records = mine;
      await writeReport(reportPath, await liveReport(experiment, tasks));
      const labelled = live.pipeThrough(
        new TransformStream<LabelledRecord, TrainRecord>({
          transform({ label, record }, controller) {
            // The run's label rides along, so a page can tell the runs apart.
            controller.enqueue(Object.assign({}, record, { label }));
          },
        }),
      );
      const { serveRun } = await import("../../reports/live_server.ts");
      server = await serveRun(dir, labelled, { port: parsed.port });
      out(`experiment: live view at ${server.url}`);
      io.onServe?.(server.url);
    }

    for await (const { label, record } of records) {
      progress.record(label, record);
      const s = seen.get(label) ?? { iteration: 0, planned: 0 };
      if (record.kind === "start") s.planned = record.numIterations;
      else s.iteration = record.iteration;
      seen.set(label, s);
    }
    const resultList = await batch.results;
    progress.stop();

    // The report reads every run from its folder: runs kept or resumed are whole there, as if never interrupted.
    const runs: LabelledRun[] = [];
    for (const t of trainTasks) {
      runs.push({ label: t.label, records: await readRunLog(`${placeOf(t)!.dir}/${RUN_FILES.log}`) });
    }
    const outcome: ExperimentOutcome = {
      options,
      tasks,
      runs,
      results: new Map(resultList.map((r) => [r.label, r])),
      wallMs: performance.now() - t0,
      workers: batch.workers,
      gemm: gemmText,
    };
    const { experimentReport } = await import("./experiments/seed_report.ts");
    const { report, keyNumbers } = await experimentReport(experiment, outcome, groups);
    await writeReport(reportPath, report);
    const totalMs = performance.now() - t0;
    const summary = {
      experiment: experiment.name,
      options,
      ...(parsed.seeds > 1 ? { seeds: parsed.seeds } : {}),
      workers: batch.workers,
      gemm: gemmText,
      wallMs: Math.round(totalMs),
      tasks: resultList.map((r) => ({
        label: r.label,
        wallMs: Math.round(r.wallMs),
        ...(r.stopped !== undefined ? { stopped: r.stopped } : {}),
        ...(r.how !== undefined ? { how: r.how } : {}),
        ...(folders.has(r.label) ? { records: `${RUN_FILES.runs}/${folders.get(r.label)}/${RUN_FILES.log}` } : {}),
      })),
      keyNumbers,
    };
    await writeFileAtomic(`${dir}/${RUN_FILES.summary}`, JSON.stringify(summary, null, 2) + "\n");
    over = true;
    out(`experiment: report ${reportPath}`);
    if (trainTasks.length > 0) out(`experiment: runs ${runsDir}/ (${count(trainTasks.length, "run folder")})`);
    out(`experiment: key numbers ${dir}/${RUN_FILES.summary}`);
    const shown = Object.entries(keyNumbers);
    for (const [k, v] of shown.slice(0, KEY_NUMBERS_SHOWN)) {
      out(`  ${k}: ${typeof v === "number" && !Number.isInteger(v) ? v.toPrecision(4) : v}`);
    }
    if (shown.length > KEY_NUMBERS_SHOWN) out(`  … ${shown.length - KEY_NUMBERS_SHOWN} more in summary.json`);
    out(
      `experiment: ${experiment.name} done in ${formatDuration(totalMs)}` +
        (tasks.length === 0
          ? ""
          : ` (${count(tasks.length, trainTasks.length > 0 ? "run" : "task")} on ${count(batch.workers, "worker")})`),
    );
    await lock.release();
    out(`experiment: all runs ${await writeIndexPage(root)}`);
    if (server !== undefined) {
      await server.recordsDone.catch(() => {});
      out(`experiment: serving the final report at ${server.url} (Ctrl-C to stop)`);
      await Promise.race([waitForStop(io.signal), stopped.promise]);
    }
    return 0;
  } catch (e) {
    const name = e instanceof TaskFailedError ? e.errorName : e instanceof Error ? e.name : undefined;
    if (
      e instanceof UsageError || e instanceof RunLockedError || e instanceof RunFolderTakenError ||
      (e instanceof TaskFailedError && ["UsageError", "RunLockedError", "RunFolderTakenError"].includes(name ?? ""))
    ) {
      err(`experiment: ${e instanceof TaskFailedError ? `${e.label}: ${e.taskMessage}` : e.message}`);
      return 2;
    }
    if (e instanceof TaskFailedError) {
      err(`experiment: ${e.message}`);
      if (e.workerStack) err(e.workerStack.split("\n").slice(1, 4).join("\n"));
      return 1;
    }
    return commandErrorExit("experiment", e, err);
  } finally {
    removeListeners();
    progress?.stop();
    await server?.shutdown();
    if (lock !== undefined) {
      await lock.release();
      if (!over) await index();
    }
  }
}

/**
 * Removes the lock files of `dirs` that this process wrote (its Web Workers
 * hold them), before it exits on a signal: the next run finds the folders
 * free rather than taking over locks of a process that is gone.
 */
function releaseOwnLocksSync(dirs: readonly string[]): void {
  for (const dir of dirs) {
    const path = `${dir}/run.lock`;
    try {
      const info = JSON.parse(Deno.readTextFileSync(path));
      if (info?.pid === Deno.pid) Deno.removeSync(path);
    } catch { /* no lock there */ }
  }
}

/** `out/index.html` (see `run_index.ts`), loaded on first use: the index page pulls in the report renderer. */
async function writeIndexPage(root: string, options: ScanOptions = {}): Promise<string> {
  return await (await import("./run_index.ts")).writeIndexPage(root, options);
}

/** Resolves on Ctrl-C (SIGINT) or when `signal` aborts. */
function waitForStop(signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = () => {
      try {
        Deno.removeSignalListener("SIGINT", done);
      } catch { /* not listening */ }
      signal?.removeEventListener("abort", done);
      resolve();
    };
    if (signal?.aborted) return resolve();
    signal?.addEventListener("abort", done, { once: true });
    try {
      Deno.addSignalListener("SIGINT", done);
    } catch { /* signals unsupported here: the signal alone stops it */ }
  });
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
