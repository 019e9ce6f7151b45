/**
 * One training run in its own folder, the way every command writes a run
 * (`deno task train`, each run of an experiment, and anything that runs
 * one run of a plan by itself): {@link runInFolder} locks the folder,
 * removes temporaries a killed write left there, refuses to write over
 * another run's results unless told what to do with them (`resume`,
 * `force`), keeps a finished run or continues an unfinished one from its
 * checkpoint, trains, and writes the run's result (`result.json`) beside
 * its log and checkpoint.
 *
 * A run folder holds `run.ndjson` (the run log), `checkpoint.safetensors`
 * (written at every epoch end), `result.json` (once the run is over),
 * `run.lock` while a process writes it, and whatever the command adds
 * (`train` adds `report.html`).
 *
 * @module
 */

import { runTraining, type TrainingOutcome, type TrainingOutputs, type TrainingSpec } from "../run_training.ts";
import { writeFileAtomic } from "../store/atomic_write.ts";
import {
  type Checkpoint,
  CheckpointError,
  computeChange,
  currentCompute,
  loadCheckpoint,
} from "../store/checkpoint.ts";
import { TrainingStoppedError } from "../solver.ts";
import type { StoppedRecord, TrainRecord } from "../store/records.ts";
import {
  clearRunResults,
  describeRemovedTemporaries,
  describeRunFolder,
  guardRunFolder,
  readCheckpointProgress,
  removeStaleTemporaries,
  RUN_FILES,
} from "../store/run_folder.ts";
import { acquireRunLock, describeHolder, type RunLock } from "../store/run_lock.ts";
import { readRunLog } from "../store/run_log.ts";
import { UsageError } from "./cli.ts";

/** Where a run is written and what to do with what is there: plain data (it crosses to Web Workers). */
export interface RunPlace {
  /** The run's folder (made when missing). */
  dir: string;
  /** Keep the run when it is over, continue it from its checkpoint when not (start it when nothing is there). */
  resume: boolean;
  /** Replace whatever is there. */
  force: boolean;
  /** With `resume`: continue although the checkpoint was written with another gemm backend or thread count. */
  allowBackendChange?: boolean;
  /** How the refusal names the way to write elsewhere. Default `--run-name NAME`. */
  elsewhere?: string;
  /** The command line the lock records (default: this process's). */
  command?: string;
  /**
   * With `resume`, what a folder without a run gets: `start` (an experiment's run not begun yet) or
   * `refuse` (`train --resume` with flags that name no run: the checkpoint loader's error). Default `start`.
   */
  emptyResume?: "start" | "refuse";
}

/** What `result.json` holds: how the run ended, in a few numbers. */
export interface RunResultFile {
  /** The run's label (an experiment's) or folder name. */
  label: string;
  /** `finished` or `stopped` (the loss stopped being finite). */
  status: "finished" | "stopped";
  /** Steps taken. */
  iterations: number;
  /** Training time of every segment together, ms (the `end` records', or the last checkpoint's). */
  trainingMs: number;
  /** Wall time of the last segment in this process, ms (for kept runs: the one that finished it). */
  wallMs: number;
  /** Best validation accuracy. */
  bestValAcc: number | null;
  /** Training accuracy at the last check. */
  finalTrainAcc: number | null;
  /** Validation accuracy at the last check. */
  finalValAcc: number | null;
  /** What was trained: a kept run is checked against it (absent in files written before it was recorded). */
  spec?: TrainingSpec;
}

/** A run {@link runInFolder} has seen to its end. */
export interface FolderRun {
  /** `fresh`: trained from the start; `resumed`: continued from its checkpoint; `kept`: over already, left as it was. */
  how: "fresh" | "resumed" | "kept";
  /** Where a resumed run continued from. */
  resumedFrom?: { iteration: number; epoch: number };
  /** Why it stopped early (a non-finite loss): from this segment, or for a kept run from its log. */
  stopped: { message: string } | null;
  /** The training of this process (undefined for a kept run). */
  outcome?: TrainingOutcome;
  /** The whole run log as it is on disk now (every segment). */
  records: TrainRecord[];
  /** What `result.json` now says. */
  result: RunResultFile;
  /** The lock taken over from a process that had gone, in words (null when the folder was free). */
  tookOver: string | null;
}

/** Options of {@link runInFolder}. */
export interface RunInFolderOptions extends RunPlace {
  /** The run's label in `result.json`. Default the folder's name. */
  label?: string;
  /** Sinks, progress, the start record's description: everything of `runTraining`'s outputs but files and hooks. */
  outputs?: Omit<TrainingOutputs, "runLog" | "checkpoint" | "beforeTrain">;
  /** One line for each thing the user should know (a lock taken over, temporaries removed, a resume). */
  notice?: (line: string) => void;
  /** Called with the folder's lock once it is held (a signal handler releases it before the process exits). */
  onLocked?: (lock: RunLock) => void;
  /**
   * Called with the records a resumed run keeps from its log (those up to its checkpoint) before it trains on,
   * and with the whole log of a kept run: so a live page or a progress line sees the run whole.
   */
  replay?: (records: readonly TrainRecord[]) => void;
  /** Called once the Solver is built (and restored), before training: `resumedFrom` says where it continues. */
  beforeTrain?: (
    prepared: Parameters<NonNullable<TrainingOutputs["beforeTrain"]>>[0],
    resumedFrom: { iteration: number; epoch: number } | undefined,
  ) => void | Promise<void>;
}

/** The paths of a run folder's files. */
export function runFolderPaths(dir: string): { dir: string; log: string; checkpoint: string; result: string } {
  const base = dir.replace(/\/+$/, "") || "/";
  return {
    dir: base,
    log: `${base}/${RUN_FILES.log}`,
    checkpoint: `${base}/${RUN_FILES.checkpoint}`,
    result: `${base}/${RUN_FILES.result}`,
  };
}

/** The records a resumed run keeps of its log (as `prepareRunLog` keeps them). */
function keptBeforeResume(records: readonly TrainRecord[], resumeAt: number): TrainRecord[] {
  return records.filter((r) =>
    r.kind === "start" || (r.kind !== "end" && r.kind !== "stopped" && r.iteration <= resumeAt)
  );
}

/** The result of a run from its whole log. */
function resultOf(
  label: string,
  records: readonly TrainRecord[],
  wallMs: number,
  spec: TrainingSpec,
): RunResultFile {
  let iterations = 0, trainingMs = 0, status: RunResultFile["status"] = "finished";
  let bestValAcc: number | null = null, finalTrainAcc: number | null = null, finalValAcc: number | null = null;
  for (const r of records) {
    if (r.kind === "start") continue;
    iterations = Math.max(iterations, r.iteration);
    if (r.kind === "stopped") status = "stopped";
    if (r.kind === "iteration" || r.kind === "epoch" || r.kind === "end") {
      trainingMs = Math.max(trainingMs, r.elapsedMs);
    }
    if (r.kind === "epoch") {
      finalTrainAcc = r.trainAcc;
      finalValAcc = r.valAcc;
      if (Number.isFinite(r.valAcc) && (bestValAcc === null || r.valAcc > bestValAcc)) bestValAcc = r.valAcc;
    }
  }
  return { label, status, iterations, trainingMs, wallMs, bestValAcc, finalTrainAcc, finalValAcc, spec };
}

/** JSON with object keys sorted, so that equal settings compare equal whatever their order. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(",")}]`;
  if (v !== null && typeof v === "object") {
    const entries = Object.entries(v as Record<string, unknown>).filter(([, x]) => x !== undefined).sort(([a], [b]) =>
      a < b ? -1 : a > b ? 1 : 0
    );
    return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${canonical(x)}`).join(",")}}`;
  }
  return JSON.stringify(v) ?? "null";
}

/**
 * A run kept by `resume` must be the run asked for: a folder named by hand
 * (`--run-name`) may hold a run of other settings.
 *
 * @throws CheckpointError naming the first setting that differs
 */
function checkSameRun(dir: string, saved: TrainingSpec, wanted: TrainingSpec): void {
  for (const key of ["data", "model", "solver", "seed"] as const) {
    const a = canonical(saved[key]), b = canonical(wanted[key]);
    if (a !== b) throw new CheckpointError(`${dir}: holds another run: its ${key} is ${a}, this run's is ${b}`);
  }
}

async function readResultFile(path: string): Promise<RunResultFile | null> {
  try {
    return JSON.parse(await Deno.readTextFile(path)) as RunResultFile;
  } catch {
    return null;
  }
}

/**
 * Runs `spec` in the folder `options.dir` (see the module docs):
 *
 * 1. makes the folder and locks it (`run.lock`; a lock whose process is gone is taken over and said so);
 * 2. removes temporaries of killed writes (`.checkpoint.safetensors.tmp-*`) and says how much;
 * 3. refuses, when the folder holds results, unless `resume` or `force` says what to do with them;
 * 4. `force`: removes them; `resume`: keeps a run that is over (finished or stopped), continues an
 *    unfinished one from its checkpoint (or starts it when it has none), starts one that is not there;
 * 5. trains (the log and checkpoint in the folder), writes `result.json`, and releases the lock.
 *
 * @throws RunLockedError when another live process writes the folder
 * @throws RunFolderTakenError when it holds results and neither `resume` nor `force` is set
 * @throws UsageError when the checkpoint was written with another gemm backend or thread count
 *   (unless `allowBackendChange`)
 * @throws CheckpointError when the checkpoint cannot be used (another run's, damaged)
 */
export async function runInFolder(spec: TrainingSpec, options: RunInFolderOptions): Promise<FolderRun> {
  const paths = runFolderPaths(options.dir);
  const notice = options.notice ?? (() => {});
  const label = options.label ?? paths.dir.split("/").pop()!;
  await Deno.mkdir(paths.dir, { recursive: true });
  const lock = await acquireRunLock(paths.dir, options.command === undefined ? {} : { command: options.command });
  options.onLocked?.(lock);
  try {
    const tookOver = lock.tookOver === null
      ? null
      : `took over the lock of ${describeHolder(lock.tookOver)}, which is gone`;
    if (tookOver !== null) notice(`${paths.dir}: ${tookOver}`);
    const removed = describeRemovedTemporaries(await removeStaleTemporaries(paths.dir));
    if (removed !== null) notice(`${paths.dir}: ${removed}`);
    const contents = await guardRunFolder(paths.dir, options);
    if (options.force && contents.hasResults && !options.resume) {
      notice(`${paths.dir}: replacing ${describeRunFolder(contents)} (--force)`);
      await clearRunResults(paths.dir);
    }
    const over = contents.log?.status === "finished" || contents.log?.status === "stopped";
    if (options.resume && over) {
      const records = await readRunLog(paths.log);
      let result = await readResultFile(paths.result);
      if (result?.spec !== undefined) checkSameRun(paths.dir, result.spec, spec);
      if (result === null) {
        result = resultOf(label, records, 0, spec);
        await writeFileAtomic(paths.result, JSON.stringify(result, null, 2) + "\n");
      }
      options.replay?.(records);
      const stoppedRecord = records.findLast((r): r is StoppedRecord => r.kind === "stopped");
      let stopped: { message: string } | null = null;
      if (stoppedRecord !== undefined) {
        const saved = await readCheckpointProgress(paths.checkpoint).catch(() => null);
        const kept = saved === null ? null : { path: paths.checkpoint, iteration: saved.iteration, epoch: saved.epoch };
        stopped = { message: new TrainingStoppedError(stoppedRecord, kept).message };
      }
      return { how: "kept", stopped, records, result, tookOver };
    }
    let checkpoint: Checkpoint | undefined;
    const refuseEmpty = options.resume && options.emptyResume === "refuse" && !contents.hasResults;
    if (refuseEmpty || (options.resume && contents.checkpoint !== undefined)) {
      checkpoint = await loadCheckpoint(paths.checkpoint);
      for (const line of checkpoint.notices) notice(line);
      const change = computeChange(checkpoint, currentCompute(), paths.checkpoint);
      if (change !== null && !options.allowBackendChange) {
        throw new UsageError(`${change} (pass --allow-backend-change to continue anyway)`);
      }
      if (change !== null) notice(`${change}; continuing as --allow-backend-change asks`);
    } else {
      if (options.resume && contents.hasResults) {
        notice(`${paths.dir}: no checkpoint yet (${describeRunFolder(contents)}): starting the run over`);
      }
      // A checkpoint of an earlier run must not outlive this run's fresh log.
      await Deno.remove(paths.checkpoint).catch((e) => {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
      });
    }
    const resumedFrom = checkpoint === undefined
      ? undefined
      : { iteration: checkpoint.snapshot.iteration, epoch: checkpoint.snapshot.epoch };
    const t0 = performance.now();
    const outcome = await runTraining(spec, {
      ...options.outputs,
      runLog: paths.log,
      checkpoint: paths.checkpoint,
      beforeTrain: async (prepared) => {
        if (checkpoint !== undefined) {
          prepared.solver.restore(checkpoint, paths.checkpoint);
          if (options.replay) {
            const before = await readRunLog(paths.log).catch(() => [] as TrainRecord[]);
            options.replay(keptBeforeResume(before, resumedFrom!.iteration));
          }
        }
        await options.beforeTrain?.(prepared, resumedFrom);
      },
    });
    const records = await readRunLog(paths.log);
    const result = resultOf(label, records, performance.now() - t0, spec);
    await writeFileAtomic(paths.result, JSON.stringify(result, null, 2) + "\n");
    return {
      how: checkpoint === undefined ? "fresh" : "resumed",
      ...(resumedFrom ? { resumedFrom } : {}),
      stopped: outcome.stopped === null ? null : { message: outcome.stopped.message },
      outcome,
      records,
      result,
      tookOver,
    };
  } finally {
    await lock.release();
  }
}
