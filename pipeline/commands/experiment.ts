/**
 * `deno task experiment NAME`: runs one of the course's experiments
 * (`--list` names them), its independent runs in parallel on Web Workers
 * (one per core by default), and writes under `<out>/NAME/`:
 *
 * - `report.html`: the report (charts, tables, images; opens offline);
 * - `runs/<run>.ndjson`: every training run's records (the run log format);
 * - `summary.json`: the key numbers, the runs and their wall times.
 *
 * Runs use the embedded CIFAR-10 sample unless `--dataset` says otherwise;
 * `--quick` runs a reduced version (fewer epochs, runs and examples; `--list`
 * says what each experiment drops). The report does not depend on the
 * number of workers: every run has its own seed, and runs are shown in the
 * order of the plan.
 *
 * @module
 */

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
import { fileNameOf } from "./experiments/common.ts";
import { expandSeeds, MAX_SEEDS, type SeedGroup } from "./experiments/seeds.ts";
import {
  type Experiment,
  type ExperimentOptions,
  type ExperimentOutcome,
  EXPERIMENTS,
  findExperiment,
} from "./experiments/index.ts";
import type { LabelledRecord, Task, TaskResult } from "./experiments/tasks.ts";
import type { TrainEvent } from "../messages.ts";
import type { TrainRecord } from "../store/records.ts";
import { prepareRunLog, runLogSink } from "../store/run_log.ts";
import { runPlannedIndex, sweepExitCodesText } from "./sweep_index.ts";
import { defaultWorkerCount, runTasks, TaskFailedError } from "./worker_pool.ts";
import {
  count,
  datasetSpec,
  directory,
  flagTable,
  gemmChoice,
  helpRows,
  parseFlags,
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
    "dataset",
    "workers",
    "num-train",
    "epochs",
    "seed",
    "seeds",
    "out",
    "gemm",
    "threads",
    "plan",
    "index",
    "sbatch",
    "slots",
  ] as const,
  ["quick", "serve", "quiet", "list", "help", "collect", "force", "allow-backend-change"] as const,
);

const FLAG_HINTS: Record<keyof typeof FLAGS, string> = {
  "dataset": "--dataset SPEC",
  "quick": "--quick",
  "workers": "--workers N",
  "num-train": "--num-train N",
  "epochs": "--epochs N",
  "seed": "--seed S",
  "seeds": "--seeds K",
  "plan": "--plan FILE",
  "index": "--index I",
  "collect": "--collect",
  "sbatch": "--sbatch FILE",
  "slots": "--slots K",
  "force": "--force",
  "allow-backend-change": "--allow-backend-change",
  "out": "--out DIR",
  "serve": "--serve",
  "gemm": "--gemm blas|wasm|ts|auto",
  "threads": "--threads N",
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
Workers, and writes <out>/NAME/report.html, the records <out>/NAME/runs/<run>.ndjson and the
key numbers <out>/NAME/summary.json.

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
  --out DIR          output root (default out)
  --serve            live view: serve <out>/NAME on 127.0.0.1 and stream the records to the page
                     while the runs train; keeps serving the final report until Ctrl-C
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
  --force            with NAME --plan: replace a different plan already in FILE
  --allow-backend-change
                     with --index: continue a checkpoint written with another gemm backend
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
  /** Live view. */
  serve: boolean;
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
  /** `--force`: replace a different plan in `plan`. */
  force: boolean;
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
  "dataset",
  "workers",
  "num-train",
  "epochs",
  "seed",
  "seeds",
  "out",
  "serve",
  "quick",
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
  for (const flag of ["index", "collect", "allow-backend-change"] as const) {
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
  if (positionals.length === 0 && values.plan !== undefined) {
    const given = (Object.keys(values) as (keyof typeof FLAGS)[]).filter((f) => values[f] !== undefined);
    const other = given.find((f) => (EXPERIMENT_ONLY as readonly string[]).includes(f) || f === "force");
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
    const plan = values.plan;
    if (values.index !== undefined) {
      if (!/^\d+$/.test(values.index)) {
        throw new UsageError(`--index expects a run's index, an integer from 0, got ${JSON.stringify(values.index)}`);
      }
      for (const flag of ["sbatch"] as const) {
        if (values[flag] !== undefined) throw new UsageError(`--${flag} does not go with --index`);
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
    for (const flag of ["gemm", "threads"] as const) {
      if (values[flag] !== undefined) {
        throw new UsageError(`--${flag} goes with NAME or --index: it says how runs compute`);
      }
    }
    if (values.collect) return { action: "collect", plan, quiet: values.quiet === true };
    return { action: "sbatch", plan, sbatch: values.sbatch!, ...(slots !== undefined ? { slots } : {}) };
  }
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
  const seeds = values.seeds === undefined
    ? 1
    : positiveInteger("seeds", values.seeds, { max: MAX_SEEDS, why: "seeds per configuration" });
  if (seeds > 1 && !experiment.trains) {
    throw new UsageError(`--seeds does not apply to ${experiment.name}: it trains nothing`);
  }
  if (values.plan === undefined) {
    for (const flag of ["sbatch", "force"] as const) {
      if (values[flag] !== undefined) throw new UsageError(`--${flag} goes with --plan FILE`);
    }
  } else {
    for (const flag of ["workers", "serve"] as const) {
      if (values[flag] !== undefined) {
        throw new UsageError(`--${flag} does not apply with --plan: the engine that runs the plan decides`);
      }
    }
  }
  return {
    experiment,
    options,
    workers: values.workers === undefined ? defaultWorkerCount() : positiveInteger("workers", values.workers),
    out: directory("out", values.out ?? "out"),
    serve: values.serve === true,
    gemm: values.gemm === undefined ? undefined : gemmChoice("gemm", values.gemm),
    threads: values.threads === undefined ? null : threadCount("threads", values.threads),
    quiet: values.quiet === true,
    seeds,
    ...(values.plan !== undefined ? { plan: values.plan } : {}),
    ...(values.sbatch !== undefined ? { sbatch: values.sbatch } : {}),
    ...(slots !== undefined ? { slots } : {}),
    force: values.force === true,
  };
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

/** Progress lines on stderr: which run finished, how many are done, how much time is left. */
class Progress {
  readonly #tasks: readonly Task[];
  readonly #line: (s: string) => void;
  readonly #t0 = performance.now();
  readonly #weights = new Map<string, number>();
  readonly #fraction = new Map<string, number>();
  readonly #planned = new Map<string, number>();
  #done = 0;
  #running = 0;
  #lastLine = performance.now();
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(tasks: readonly Task[], line: (s: string) => void, heartbeatMs: number) {
    this.#tasks = tasks;
    this.#line = line;
    for (const t of tasks) {
      this.#weights.set(t.label, workOf(t));
      this.#fraction.set(t.label, 0);
    }
    this.#timer = setInterval(() => {
      if (performance.now() - this.#lastLine >= heartbeatMs) this.#say(`… ${this.#status()}`);
    }, Math.min(heartbeatMs, 1000));
    Deno.unrefTimer(this.#timer);
  }

  #say(s: string) {
    this.#lastLine = performance.now();
    this.#line(s);
  }

  #status(): string {
    const total = [...this.#weights.values()].reduce((a, b) => a + b, 0);
    const done = this.#tasks.reduce((a, t) => a + this.#weights.get(t.label)! * this.#fraction.get(t.label)!, 0);
    const f = total > 0 ? done / total : 1;
    const elapsed = performance.now() - this.#t0;
    const left = f > 0.01 && f < 1 ? `, about ${formatDuration(elapsed * (1 - f) / f)} left` : "";
    const running = this.#running > 0 ? `, ${this.#running} running` : "";
    return `${this.#done}/${this.#tasks.length} done${running}, ${Math.floor(100 * f)} % of the work, ${
      formatDuration(elapsed)
    } elapsed${left}`;
  }

  started(): void {
    this.#running++;
  }

  record(label: string, record: TrainRecord): void {
    if (record.kind === "start") this.#planned.set(label, record.numIterations);
    else if (record.kind === "iteration") {
      this.#fraction.set(label, record.iteration / (this.#planned.get(label) ?? Infinity));
    }
  }

  finished(task: Task, result: TaskResult): void {
    this.#running--;
    this.#done++;
    this.#fraction.set(task.label, 1);
    this.#say(
      `[${this.#done}/${this.#tasks.length}] ${task.label}: ${result.note ?? "done"} (${
        formatDuration(result.wallMs)
      }) · ${this.#status()}`,
    );
  }

  stop(): void {
    clearInterval(this.#timer);
  }
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
 * The command: parses `args`, runs the experiment, writes its files, prints
 * where. Returns the exit code: 0 done, 1 a run failed (its label and error
 * are printed), 2 a command-line mistake (one line naming the flag).
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
  if (parsed.plan !== undefined) {
    const { writeExperimentPlan } = await import("./sweep_plan.ts");
    return await writeExperimentPlan({ ...parsed, experiment: experiment.name, plan: parsed.plan }, tasks, {
      out,
      err,
    });
  }
  const { writeReport } = await import("../../reports/render.ts");
  const t0 = performance.now();
  const dir = `${parsed.out.replace(/\/+$/, "") || "/"}/${experiment.name}`;
  const runsDir = `${dir}/runs`;
  const reportPath = `${dir}/report.html`;
  let server: RunServer | undefined;
  let progress: Progress | undefined;
  try {
    if (parsed.threads !== null) setThreads(parsed.threads);
    useGemmBackend(parsed.gemm, { quiet: parsed.quiet });
    const backend = gemmBackend().name as GemmBackendName;
    await Deno.mkdir(dir, { recursive: true });
    // Records of an earlier invocation (other labels, other settings) must not sit beside this one's.
    await Deno.remove(runsDir, { recursive: true }).catch((e) => {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    });
    const trainTasks = tasks.filter((t) => t.kind === "train");
    if (trainTasks.length > 0) await Deno.mkdir(runsDir, { recursive: true });
    const files = new Map<string, string>();
    for (const t of trainTasks) {
      let name = fileNameOf(t.label);
      for (let k = 2; [...files.values()].includes(name); k++) name = `${fileNameOf(t.label)}-${k}`;
      files.set(t.label, name);
    }

    progress = new Progress(tasks, progressLine, io.heartbeatMs ?? 10_000);
    const batch = runTasks(tasks, {
      workers: parsed.workers,
      gemm: backend,
      cost: workOf,
      onStart: () => progress!.started(),
      onDone: (task, result) => progress!.finished(task, result),
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
        ` · gemm ${gemmText}${experiment.name === "gradcheck" ? "" : ` · dataset ${options.dataset}`}`,
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
      server = await (await import("../../reports/live_server.ts")).serveRun(dir, labelled);
      out(`experiment: live view at ${server.url}`);
      io.onServe?.(server.url);
    }

    const byLabel = new Map<string, TrainRecord[]>(trainTasks.map((t) => [t.label, []]));
    const writers = new Map<string, WritableStreamDefaultWriter<TrainEvent>>();
    for (const t of trainTasks) {
      const path = `${runsDir}/${files.get(t.label)}.ndjson`;
      await prepareRunLog(path);
      writers.set(t.label, runLogSink(path).getWriter());
    }
    try {
      for await (const { label, record } of records) {
        byLabel.get(label)!.push(record);
        progress.record(label, record);
        await writers.get(label)!.write({ record });
      }
    } finally {
      await Promise.all([...writers.values()].map((w) => w.close().catch(() => {})));
    }
    const resultList = await batch.results;
    progress.stop();

    const runs: LabelledRun[] = trainTasks.map((t) => ({ label: t.label, records: byLabel.get(t.label)! }));
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
        ...(files.has(r.label) ? { records: `runs/${files.get(r.label)}.ndjson` } : {}),
      })),
      keyNumbers,
    };
    await writeFileAtomic(`${dir}/summary.json`, JSON.stringify(summary, null, 2) + "\n");
    out(`experiment: report ${reportPath}`);
    if (trainTasks.length > 0) out(`experiment: records ${runsDir}/ (${count(trainTasks.length, "run log")})`);
    out(`experiment: key numbers ${dir}/summary.json`);
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
    if (server !== undefined) {
      await server.recordsDone.catch(() => {});
      out(`experiment: serving the final report at ${server.url} (Ctrl-C to stop)`);
      await waitForStop(io.signal);
    }
    return 0;
  } catch (e) {
    if (e instanceof TaskFailedError) {
      err(`experiment: ${e.message}`);
      if (e.workerStack) err(e.workerStack.split("\n").slice(1, 4).join("\n"));
      return 1;
    }
    if (e instanceof Error) {
      err(`experiment: ${e.message.split("\n")[0]}`);
      return 1;
    }
    throw e;
  } finally {
    progress?.stop();
    await server?.shutdown();
  }
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
