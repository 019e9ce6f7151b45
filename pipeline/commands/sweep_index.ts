/**
 * `deno task experiment --plan FILE --index I`: runs exactly run I of a
 * plan (`store/plan.ts`), the form GNU parallel, a Slurm job array or a
 * Kubernetes Indexed Job call once per index. Idempotent, so an engine may
 * run an index again after a crash, a requeue or a pre-emption:
 *
 * - a finished run is left alone and says so (exit 0);
 * - an unfinished one continues from its checkpoint, bit for bit as if it
 *   had never stopped (the run log keeps its records up to the checkpoint);
 * - a run whose folder a live process holds (`store/run_lock.ts`) is
 *   refused (exit 4), whoever holds it.
 *
 * A training run goes through `executeTask` with a run folder, so through
 * `runInFolder`, as the in-process workers' runs of `experiment --resume`
 * do: the same folder (run log, checkpoint, `result.json`, `run.lock`),
 * the same lock, the same resume. Besides those, the folder (the plan's
 * `dir`) holds:
 *
 * - `run.json`: the plan line the folder belongs to (a folder of another
 *   plan's run is refused, exit 2, rather than continued or overwritten);
 * - `task-result.json`: written last, once the task has finished: what the
 *   in-process workers hand back (wall time, whether it stopped, returned
 *   parameters, gradient-check rows), the gemm backend and the threads;
 * - `failure.json`: the error of the last attempt that failed (removed
 *   when an attempt starts).
 *
 * Exit codes ({@link SWEEP_EXIT_CODES}): 0 finished now or before, 1 the
 * run failed, 2 a command-line or plan mistake (one line), 4 locked by a
 * live process; 130 / 143 when stopped by SIGINT / SIGTERM (a line says
 * where, and the same command continues it).
 *
 * This module is what an engine starts hundreds of times: it imports the
 * engine and the store only, never the reports or the experiments'
 * registry, so a process is ready to train in a fraction of a second.
 *
 * @module
 */

import { describeGemmBackend, type GemmBackendName, useGemmBackend } from "../../layers/kernels/gemm_backends.ts";
import { setThreads, threads } from "../../layers/kernels/threads.ts";
import { writeFileAtomic } from "../store/atomic_write.ts";
import { type Plan, PlanError, planPath, type PlanRun, readPlan } from "../store/plan.ts";
import { readCheckpointProgress, readRunLogState } from "../store/run_folder.ts";
import {
  acquireRunLock,
  heldRunLock,
  RUN_LOCK_FILE,
  type RunLock,
  RunLockedError,
  type RunLockInfo,
} from "../store/run_lock.ts";
import { UsageError } from "./cli.ts";
import { runFolderPaths } from "./run_in_folder.ts";
import { indexCommand } from "./launchers.ts";
import { executeTask, type ParamData, type Task, type TaskResult } from "./experiments/tasks.ts";
import { onStopSignals, STOP_EXIT_CODES } from "./stop_signals.ts";

/**
 * The exit codes of `--index` and `--collect`, by meaning. A finished run
 * run again is a success (0, with an "already finished" line), so that an
 * engine re-running a whole sweep reports no failures.
 */
export const SWEEP_EXIT_CODES = Object.freeze({
  /** `--index`: the run finished now or had finished before; `--collect`: every run finished, report written. */
  done: 0,
  /** `--index`: the run failed (its error is printed and kept in `failure.json`); `--collect`: some run failed. */
  failed: 1,
  /** A command-line or plan mistake, or a run folder holding another run (one line naming it). */
  usage: 2,
  /** `--collect`: no run failed but some have not finished (not started, running or interrupted): wait and retry. */
  missing: 3,
  /** `--index`: a live process holds the run's folder (the line names it); nothing was touched. */
  locked: 4,
});

/** What each of {@link SWEEP_EXIT_CODES} means, in the words `--help` and README use. */
export const SWEEP_EXIT_MEANINGS: Readonly<Record<keyof typeof SWEEP_EXIT_CODES, string>> = Object.freeze({
  done: "done (a run that had finished is left alone and says so)",
  failed: "a run failed",
  usage: "a command-line or plan mistake",
  missing: "--collect: runs not finished yet",
  locked: "--index: the run is locked by a live process",
});

/**
 * The exit codes in one line: `0 done (…), 1 a run failed, …`.
 *
 * @example
 * ```ts
 * import { assertStringIncludes } from "@std/assert";
 * import { sweepExitCodesText } from "./sweep_index.ts";
 * assertStringIncludes(sweepExitCodesText(), "4 --index: the run is locked by a live process");
 * ```
 */
export function sweepExitCodesText(): string {
  return (Object.keys(SWEEP_EXIT_CODES) as (keyof typeof SWEEP_EXIT_CODES)[])
    .map((k) => `${SWEEP_EXIT_CODES[k]} ${SWEEP_EXIT_MEANINGS[k]}`).join(", ");
}

/** Files of a planned run's folder besides the run log and the checkpoint (see the module docs). */
export const PLANNED_RUN_FILES = Object.freeze({
  /** The plan line the folder belongs to. */
  plan: "run.json",
  /** What the finished task handed back, as the workers hand it back (`runInFolder`'s `result.json` is a summary). */
  result: "task-result.json",
  /** The last failed attempt's error. */
  failure: "failure.json",
});

/** What a finished planned run's `task-result.json` holds: the task's result and how it was computed. */
export interface PlannedRunResult {
  /** The plan line's index. */
  index: number;
  /** The task's result (parameters as plain arrays in the file; typed arrays here). */
  result: TaskResult;
  /** The gemm backend it ran on, in words (`blas (OpenBLAS 0.3.21 Haswell, 1 of its threads per gradstream thread)`). */
  gemm: string;
  /** The layers' threads it ran on (the numbers do not depend on it). */
  threads: number;
  /** When it finished, ISO 8601. */
  finishedAt: string;
}

/** Where a planned run stands, as its folder says. */
export type PlannedRunState =
  | { state: "finished"; result: PlannedRunResult }
  | { state: "running"; holder: RunLockInfo }
  | { state: "failed"; message: string }
  | { state: "unfinished"; iterations: number; planned?: number; checkpointAt?: number }
  | { state: "unrecorded" }
  | { state: "not started" };

/** A planned run's files: a run folder's log and checkpoint ({@link runFolderPaths}), and the plan's own files. */
export function plannedRunPaths(dir: string) {
  const { dir: base, log, checkpoint } = runFolderPaths(dir);
  return {
    dir: base,
    log,
    checkpoint,
    plan: `${base}/${PLANNED_RUN_FILES.plan}`,
    result: `${base}/${PLANNED_RUN_FILES.result}`,
    failure: `${base}/${PLANNED_RUN_FILES.failure}`,
  };
}

/** Tag of a non-finite number in a result file (JSON has no NaN or Infinity). */
const NON_FINITE = "$nonFinite";

/** A planned run's result as the text of `task-result.json`: typed arrays as `{ dtype, shape, data }`, NaN and ±Infinity tagged. */
export function formatPlannedResult(r: PlannedRunResult): string {
  const params = r.result.params === undefined ? undefined : Object.fromEntries(
    Object.entries(r.result.params).map(([name, p]) => [name, {
      shape: p.shape,
      dtype: p.data instanceof Float64Array ? "float64" : "float32",
      data: Array.from(p.data),
    }]),
  );
  const plain = { ...r, result: { ...r.result, ...(params ? { params } : {}) } };
  return JSON.stringify(
    plain,
    (_k, v) => typeof v === "number" && !Number.isFinite(v) ? { [NON_FINITE]: String(v) } : v,
    1,
  ) + "\n";
}

/**
 * Reads `task-result.json` text back (see {@link formatPlannedResult}); the
 * parameters come back as the typed arrays they were, value for value.
 *
 * @throws Error naming `source` when it is not a result file
 */
export function parsePlannedResult(text: string, source: string = PLANNED_RUN_FILES.result): PlannedRunResult {
  let value: unknown;
  try {
    value = JSON.parse(text, (_k, v) => {
      if (v !== null && typeof v === "object" && !Array.isArray(v) && Object.keys(v).length === 1 && NON_FINITE in v) {
        return Number(v[NON_FINITE]);
      }
      return v;
    });
  } catch (e) {
    throw new Error(`${source}: not JSON (${(e as Error).message})`);
  }
  const r = value as PlannedRunResult;
  if (typeof r !== "object" || r === null || typeof r.result?.label !== "string" || !Number.isInteger(r.index)) {
    throw new Error(`${source}: not a planned run's result (no index or result label)`);
  }
  if (r.result.params !== undefined) {
    const params: Record<string, ParamData> = {};
    for (const [name, p] of Object.entries(r.result.params as unknown as Record<string, PlainParam>)) {
      params[name] = {
        shape: p.shape,
        data: p.dtype === "float64" ? Float64Array.from(p.data) : Float32Array.from(p.data),
      };
    }
    r.result.params = params;
  }
  return r;
}

interface PlainParam {
  shape: number[];
  dtype: "float32" | "float64";
  data: number[];
}

async function readText(path: string): Promise<string | undefined> {
  try {
    return await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
}

/** A planned run's result, or undefined when it has none (not finished). */
export async function readPlannedResult(dir: string): Promise<PlannedRunResult | undefined> {
  const path = plannedRunPaths(dir).result;
  const text = await readText(path);
  return text === undefined ? undefined : parsePlannedResult(text, path);
}

/** Where the run in `dir` stands (see {@link PlannedRunState}); reads, never writes. */
export async function plannedRunState(dir: string): Promise<PlannedRunState> {
  const paths = plannedRunPaths(dir);
  const result = await readPlannedResult(dir);
  if (result !== undefined) return { state: "finished", result };
  const holder = await heldRunLock(paths.dir).catch(() => null);
  if (holder !== null) return { state: "running", holder };
  const failure = await readText(paths.failure);
  if (failure !== undefined) {
    let message = failure.trim();
    try {
      message = String(JSON.parse(failure).message ?? message);
    } catch { /* a hand-edited file: show it as it is */ }
    return { state: "failed", message };
  }
  const log = await readRunLogState(paths.log);
  // Over, but its task result was never written (trained in process, or killed in between): its index records it.
  if (log?.status === "finished" || log?.status === "stopped") return { state: "unrecorded" };
  const checkpoint = await readCheckpointProgress(paths.checkpoint).catch(() => null);
  if (!log && !checkpoint) return { state: "not started" };
  return {
    state: "unfinished",
    iterations: log?.iterations ?? 0,
    ...(log?.planned !== undefined ? { planned: log.planned } : {}),
    ...(checkpoint ? { checkpointAt: checkpoint.iteration } : {}),
  };
}

/** A planned run's state in words: `unfinished (iteration 130 of 200, checkpoint at 100)`. */
export function describePlannedRunState(s: PlannedRunState): string {
  switch (s.state) {
    case "finished":
      return s.result.result.stopped ? "finished (stopped: the loss stopped being finite)" : "finished";
    case "running":
      return `running (process ${s.holder.pid}${
        s.holder.hostname ? ` on ${s.holder.hostname}` : ""
      }, since ${s.holder.startedAt})`;
    case "failed":
      return `failed: ${s.message}`;
    case "unfinished":
      return `unfinished (iteration ${s.iterations}${s.planned !== undefined ? ` of ${s.planned}` : ""}` +
        (s.checkpointAt !== undefined ? `, checkpoint at ${s.checkpointAt})` : ", no checkpoint yet)");
    case "not started":
      return "not started";
    case "unrecorded":
      return "trained, but its result not recorded yet (running its index records it)";
  }
}

/**
 * Reads the experiment plan `path` for a command, every line checked by
 * {@link checkPlannedTask}. A plan that cannot be read (malformed, or no such
 * file: then `missingHint` follows the message) is told to `err` in one line
 * and gives undefined, so that the command exits with the usage code.
 */
export async function readExperimentPlan(
  path: string,
  err: (line: string) => void,
  missingHint = "",
): Promise<Plan | undefined> {
  try {
    return await readPlan(path, { checkRun: checkPlannedTask });
  } catch (e) {
    if (e instanceof PlanError) {
      err(`experiment: ${e.message}`);
      return undefined;
    }
    if (e instanceof Deno.errors.NotFound) {
      err(`experiment: --plan ${path}: no such file${missingHint}`);
      return undefined;
    }
    throw e;
  }
}

/**
 * What is wrong with a plan line as a run of `deno task experiment`, or
 * undefined: its configuration must be an experiment task (`kind` train or
 * gradcheck) labelled as the line names it; a training task needs its data,
 * model, solver and an integer seed. For `readPlan`'s `checkRun`.
 */
export function checkPlannedTask(run: PlanRun): string | undefined {
  const config = run.config as Record<string, unknown>;
  if (config.kind !== "train" && config.kind !== "gradcheck") {
    return `run ${run.index}'s config has kind ${JSON.stringify(config.kind ?? null)}; expected "train" or "gradcheck"`;
  }
  if (config.label !== run.name) {
    return `run ${run.index}'s config is labelled ${JSON.stringify(config.label ?? null)}, not ${
      JSON.stringify(run.name)
    }`;
  }
  if (config.kind === "gradcheck" && typeof config.check !== "string") {
    return `run ${run.index}'s config names no check`;
  }
  if (config.kind === "train") {
    for (const key of ["data", "model", "solver"]) {
      if (typeof config[key] !== "object" || config[key] === null) {
        return `run ${run.index}'s config has no "${key}" object`;
      }
    }
    if (!Number.isInteger(config.seed)) return `run ${run.index}'s config has no integer "seed"`;
  }
  return undefined;
}

/** What `--index` is asked to do, after parsing. */
export interface IndexArgs {
  /** The plan file. */
  plan: string;
  /** The run's index. */
  index: number;
  /** gemm backend (undefined: the plan's, else auto). */
  gemm?: GemmBackendName | "auto";
  /** Layer threads (undefined: {@link plannedRunThreads}). */
  threads?: number;
  /** Continue although the checkpoint was written with another gemm backend or thread count. */
  allowBackendChange?: boolean;
  /** No progress lines (errors and the result line only). */
  quiet?: boolean;
}

/** Where `runPlannedIndex` writes (replaceable in tests). */
export interface IndexIO {
  /** A line for stdout. */
  out?: (line: string) => void;
  /** A line for stderr. */
  err?: (line: string) => void;
  /** Listen for SIGINT and SIGTERM (end with a line saying how to continue). Default true. */
  signals?: boolean;
}

/**
 * The layer threads of a planned run without `--threads`: env
 * `GRADSTREAM_THREADS`, else the CPUs Slurm gave the task
 * (`SLURM_CPUS_PER_TASK`), else 1: an engine runs one process per slot,
 * and each taking every core would crowd the others out. The numbers are
 * the same on any count.
 */
export function plannedRunThreads(): number {
  for (const name of ["GRADSTREAM_THREADS", "SLURM_CPUS_PER_TASK"]) {
    let value: string | undefined;
    try {
      value = Deno.env.get(name);
    } catch { /* no --allow-env */ }
    const n = Number(value);
    if (value !== undefined && Number.isInteger(n) && n >= 1) return n;
  }
  return 1;
}

/**
 * Runs index `args.index` of the plan `args.plan` (see the module docs) and
 * returns the exit code ({@link SWEEP_EXIT_CODES}, or 130 / 143 on a signal).
 */
export async function runPlannedIndex(args: IndexArgs, io: IndexIO = {}): Promise<number> {
  const out = io.out ?? ((line: string) => console.log(line));
  const err = io.err ?? ((line: string) => console.error(line));
  const say = args.quiet ? () => {} : err;
  const plan = await readExperimentPlan(
    args.plan,
    err,
    " (write one with: deno task experiment NAME --plan FILE)",
  );
  if (plan === undefined) return SWEEP_EXIT_CODES.usage;
  const n = plan.runs.length;
  if (args.index >= n) {
    err(`experiment: --index ${args.index} is not a run of ${args.plan}, which has ${n} (0 to ${n - 1})`);
    return SWEEP_EXIT_CODES.usage;
  }
  const run = plan.runs[args.index];
  const task = run.config as unknown as Task;
  const paths = plannedRunPaths(planPath(args.plan, run.dir));
  const name = `run ${args.index} (${run.name})`;
  const command = indexCommand(args.plan, String(args.index));
  const line = JSON.stringify({
    experiment: plan.header.experiment,
    index: run.index,
    name: run.name,
    config: run.config,
  });
  const owner = await readText(paths.plan);
  if (owner !== undefined && owner.trim() !== line) {
    err(
      `experiment: ${paths.dir} holds another plan's run (${paths.plan} differs from line ${
        run.index + 2
      } of ${args.plan}); move it away or give the plan another output folder`,
    );
    return SWEEP_EXIT_CODES.usage;
  }
  if (await readPlannedResult(paths.dir) !== undefined) {
    out(`experiment: ${name} already finished in ${paths.dir}; left alone`);
    return SWEEP_EXIT_CODES.done;
  }
  const refused = (e: RunLockedError) => {
    err(`experiment: ${name} refused: ${e.message}`);
    return SWEEP_EXIT_CODES.locked;
  };
  const holder = await heldRunLock(paths.dir).catch(() => null);
  if (holder !== null) return refused(new RunLockedError(paths.dir, holder));
  await Deno.mkdir(paths.dir, { recursive: true });
  // A training run's folder is locked by runInFolder; a gradient check has no such folder, so it is locked here.
  let lock: RunLock | undefined;
  if (task.kind !== "train") {
    try {
      lock = await acquireRunLock(paths.dir, { command });
    } catch (e) {
      if (e instanceof RunLockedError) return refused(e);
      throw e;
    }
  }
  let lastIteration = 0;
  const stopListening = io.signals === false ? () => {} : onStopSignals((signal) => {
    // The checkpoint of the last finished epoch is on disk; the same command continues from it.
    err(`experiment: ${name} stopped by ${signal} at iteration ${lastIteration}; continue it with: ${command}`);
    if (lock !== undefined) lock.releaseSync();
    else releaseOwnLockSync(paths.dir);
    Deno.exit(STOP_EXIT_CODES[signal]);
  });
  try {
    if (owner === undefined) await writeFileAtomic(paths.plan, line + "\n");
    await Deno.remove(paths.failure).catch((e) => {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    });
    setThreads(args.threads ?? plannedRunThreads());
    useGemmBackend(args.gemm ?? (plan.header.options.gemm as GemmBackendName | "auto" | undefined), { quiet: true });
    const log = task.kind === "train" ? await readRunLogState(paths.log) : undefined;
    const saved = task.kind === "train" ? await readCheckpointProgress(paths.checkpoint).catch(() => null) : null;
    if (saved && log?.status === "unfinished") {
      lastIteration = saved.iteration;
      say(
        `experiment: ${name}: continuing in ${paths.dir} from its checkpoint at iteration ${saved.iteration} (epoch ${saved.epoch})`,
      );
    } else if (log?.status !== "finished" && log?.status !== "stopped") {
      say(`experiment: ${name} of ${plan.header.experiment} (${n} runs) in ${paths.dir}`);
    }
    let result: TaskResult;
    try {
      result = await executeTask(
        task,
        (record) => {
          if (record.kind !== "start") lastIteration = record.iteration;
        },
        task.kind === "train"
          ? {
            dir: paths.dir,
            resume: true,
            force: false,
            allowBackendChange: args.allowBackendChange === true,
            elsewhere: "another output folder for the plan (--out or --run-name when planning)",
            command,
          }
          : undefined,
      );
    } catch (e) {
      if (e instanceof RunLockedError) return refused(e);
      if (e instanceof UsageError) {
        err(`experiment: ${name}: ${e.message}`);
        return SWEEP_EXIT_CODES.usage;
      }
      throw e;
    }
    for (const notice of result.notices ?? []) say(`experiment: ${name}: ${notice.replace(`${paths.dir}: `, "")}`);
    await writeFileAtomic(
      paths.result,
      formatPlannedResult({
        index: run.index,
        result,
        gemm: describeGemmBackend(),
        threads: threads(),
        finishedAt: new Date().toISOString(),
      }),
    );
    out(
      result.how === "kept"
        ? `experiment: ${name} already finished in ${paths.dir}; left alone`
        : `experiment: ${name}: ${result.note ?? "done"} (${(result.wallMs / 1000).toFixed(1)} s)`,
    );
    return SWEEP_EXIT_CODES.done;
  } catch (e) {
    const message = e instanceof Error ? e.message.split("\n")[0] : String(e);
    await writeFileAtomic(
      paths.failure,
      JSON.stringify({ index: run.index, message, failedAt: new Date().toISOString() }) + "\n",
    ).catch(() => {});
    err(`experiment: ${name} failed: ${message}`);
    return SWEEP_EXIT_CODES.failed;
  } finally {
    stopListening();
    await lock?.release();
  }
}

/** Removes `dir`'s lock file when this process wrote it (runInFolder holds it), before exiting on a signal. */
function releaseOwnLockSync(dir: string): void {
  try {
    const path = `${dir}/${RUN_LOCK_FILE}`;
    if (JSON.parse(Deno.readTextFileSync(path))?.pid === Deno.pid) Deno.removeSync(path);
  } catch { /* no lock there, or not ours */ }
}
