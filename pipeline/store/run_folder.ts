/**
 * What a run folder holds, and the rules for writing into one: a command
 * never writes into a folder holding another run's results unless told to
 * (`--resume` continues them, `--force` replaces them), and temporaries a
 * killed write left behind (`.checkpoint.safetensors.tmp-PID-XXXXXXXX`, see
 * `atomic_write.ts`) are removed when a run starts.
 *
 * A run folder of `deno task train` holds `run.ndjson`, `checkpoint.safetensors`,
 * `result.json` and `report.html`; an experiment's folder holds `report.html`,
 * `summary.json` and its runs under `runs/`. Either may hold `run.lock`
 * while a process writes it (`run_lock.ts`).
 *
 * @module
 */

import { isHeld, RUN_LOCK_FILE } from "./run_lock.ts";
import { readRunLog } from "./run_log.ts";

/** Files of a run folder, by role. */
export const RUN_FILES = Object.freeze({
  log: "run.ndjson",
  checkpoint: "checkpoint.safetensors",
  report: "report.html",
  summary: "summary.json",
  runs: "runs",
  result: "result.json",
});

/** What a checkpoint's header says about where its run is (read without loading its tensors). */
export interface CheckpointProgress {
  /** Steps taken. */
  iteration: number;
  /** Completed epochs. */
  epoch: number;
  /** Training time so far, ms. */
  elapsedMs: number;
  /** Best validation accuracy so far. */
  bestValAcc: number;
}

/** What a run log says about its run. */
export interface RunLogState {
  /** `finished` (an `end` record), `stopped` (a `stopped` record: the loss stopped being finite) or `unfinished`. */
  status: "finished" | "stopped" | "unfinished";
  /** The last step logged. */
  iterations: number;
  /** Steps planned (the first `start` record's), when logged. */
  planned?: number;
}

/** What is in a run folder. */
export interface RunFolderContents {
  /** The folder. */
  dir: string;
  /** Whether the folder exists. */
  exists: boolean;
  /** The run log's state, when `run.ndjson` holds records (null: unreadable). */
  log?: RunLogState | null;
  /** The checkpoint's progress, when there is one (null: unreadable). */
  checkpoint?: CheckpointProgress | null;
  /** Whether `report.html` is there. */
  report: boolean;
  /** Whether `summary.json` is there (an experiment's key numbers). */
  summary: boolean;
  /** Entries under `runs/` (an experiment's runs). */
  runs: number;
  /** Whether any of the above is a result a new run would overwrite. */
  hasResults: boolean;
}

const decoder = new TextDecoder();

/**
 * Reads `__metadata__.progress` from a checkpoint's safetensors header
 * (8-byte little-endian length, then JSON) without reading its tensors.
 * Null when the file is missing; throws naming the file when it is not a
 * gradstream checkpoint.
 */
export async function readCheckpointProgress(path: string): Promise<CheckpointProgress | null> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
  try {
    const readExactly = async (n: number, what: string): Promise<Uint8Array> => {
      const buf = new Uint8Array(n);
      for (let got = 0; got < n;) {
        const r = await file.read(buf.subarray(got));
        if (r === null) throw new Error(`${path}: file ends inside the ${what} (byte ${got} of ${n})`);
        got += r;
      }
      return buf;
    };
    const size = new DataView((await readExactly(8, "header length")).buffer).getBigUint64(0, true);
    if (size > 100_000_000n) throw new Error(`${path}: header length ${size} at byte offset 0 is not plausible`);
    const header = JSON.parse(decoder.decode(await readExactly(Number(size), "header")));
    const progress = JSON.parse(header?.__metadata__?.progress ?? "null");
    if (header?.__metadata__?.format !== "gradstream-checkpoint" || typeof progress?.iteration !== "number") {
      throw new Error(`${path}: not a gradstream checkpoint (its header has no progress)`);
    }
    return {
      iteration: progress.iteration,
      epoch: progress.epoch,
      elapsedMs: progress.elapsedMs,
      bestValAcc: progress.bestValAcc,
    };
  } finally {
    file.close();
  }
}

/** The state of the run log at `path`, undefined when it is missing or empty, null when unreadable. */
export async function readRunLogState(path: string): Promise<RunLogState | null | undefined> {
  let records;
  try {
    records = await readRunLog(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    return null;
  }
  if (records.length === 0) return undefined;
  let iterations = 0, planned: number | undefined, status: RunLogState["status"] = "unfinished";
  for (const r of records) {
    if (r.kind === "start") planned ??= r.numIterations;
    else {
      iterations = Math.max(iterations, r.iteration);
      if (r.kind === "end") status = "finished";
      if (r.kind === "stopped") status = "stopped";
    }
  }
  return { status, iterations, ...(planned !== undefined ? { planned } : {}) };
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch {
    return false;
  }
}

/** Looks at what `dir` holds (see {@link RunFolderContents}). */
export async function inspectRunFolder(dir: string): Promise<RunFolderContents> {
  const base = dir.replace(/\/+$/, "") || "/";
  let exists = true;
  try {
    exists = (await Deno.stat(base)).isDirectory;
  } catch {
    exists = false;
  }
  const contents: RunFolderContents = { dir, exists, report: false, summary: false, runs: 0, hasResults: false };
  if (!exists) return contents;
  const log = await readRunLogState(`${base}/${RUN_FILES.log}`);
  if (log !== undefined) contents.log = log;
  const checkpointPath = `${base}/${RUN_FILES.checkpoint}`;
  if (await isFile(checkpointPath)) {
    contents.checkpoint = await readCheckpointProgress(checkpointPath).catch(() => null);
  }
  contents.report = await isFile(`${base}/${RUN_FILES.report}`);
  contents.summary = await isFile(`${base}/${RUN_FILES.summary}`);
  try {
    for await (const e of Deno.readDir(`${base}/${RUN_FILES.runs}`)) if (!e.name.startsWith(".")) contents.runs++;
  } catch { /* no runs/ */ }
  contents.hasResults = contents.log !== undefined || contents.checkpoint !== undefined || contents.report ||
    contents.summary || contents.runs > 0;
  return contents;
}

const count = (n: number, noun: string) => `${n.toLocaleString("en-US")} ${noun}${n === 1 ? "" : "s"}`;

/**
 * What a folder holds, in words: `a finished run (200 of 200 iterations;
 * checkpoint at iteration 200; report.html)`.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { describeRunFolder } from "./run_folder.ts";
 * assertEquals(
 *   describeRunFolder({
 *     dir: "out/r", exists: true, report: true, summary: false, runs: 0, hasResults: true,
 *     log: { status: "unfinished", iterations: 130, planned: 200 },
 *     checkpoint: { iteration: 100, epoch: 5, elapsedMs: 900, bestValAcc: 0.3 },
 *   }),
 *   "an unfinished run (130 of 200 iterations; checkpoint at iteration 100, epoch 5; report.html)",
 * );
 * ```
 */
export function describeRunFolder(c: RunFolderContents): string {
  const parts: string[] = [];
  let what = "results";
  if (c.log) {
    what = c.log.status === "finished"
      ? "a finished run"
      : c.log.status === "stopped"
      ? "a stopped run"
      : "an unfinished run";
    parts.push(
      c.log.planned !== undefined
        ? `${c.log.iterations.toLocaleString("en-US")} of ${count(c.log.planned, "iteration")}`
        : count(c.log.iterations, "iteration"),
    );
  } else if (c.log === null) {
    what = "a run";
    parts.push(`${RUN_FILES.log} unreadable`);
  } else if (c.summary || c.runs > 0) {
    what = "an experiment";
  }
  if (c.checkpoint) parts.push(`checkpoint at iteration ${c.checkpoint.iteration}, epoch ${c.checkpoint.epoch}`);
  else if (c.checkpoint === null) parts.push(`${RUN_FILES.checkpoint} unreadable`);
  if (c.runs > 0) parts.push(`${count(c.runs, "run")} in ${RUN_FILES.runs}/`);
  const files = [c.summary ? RUN_FILES.summary : "", c.report ? RUN_FILES.report : ""].filter(Boolean);
  if (files.length > 0) parts.push(files.join(", "));
  return `${what} (${parts.join("; ")})`;
}

/** The folder holds another run's results and the command was not told what to do with them (exit code 2). */
export class RunFolderTakenError extends Error {
  /** What the folder holds. */
  readonly contents: RunFolderContents;

  /** Builds the one-line message: what is there and what to type. */
  constructor(message: string, contents: RunFolderContents) {
    super(message);
    this.name = "RunFolderTakenError";
    this.contents = contents;
  }
}

/** Options of {@link guardRunFolder}: what the command was told, and how its flags are spelled. */
export interface GuardRunFolderOptions {
  /** `--resume`: continue what is there. */
  resume: boolean;
  /** `--force`: replace what is there. */
  force: boolean;
  /** The flag that writes elsewhere, as the message should show it. Default `--run-name NAME`. */
  elsewhere?: string;
}

/**
 * Refuses to write into a folder holding results unless `resume` or
 * `force` says what to do with them; returns what the folder holds.
 *
 * @throws RunFolderTakenError with one line naming what is there and what to type
 */
export async function guardRunFolder(dir: string, options: GuardRunFolderOptions): Promise<RunFolderContents> {
  const contents = await inspectRunFolder(dir);
  if (!contents.hasResults || options.resume || options.force) return contents;
  const elsewhere = options.elsewhere ?? "--run-name NAME";
  const done = contents.log?.status === "finished" || contents.log?.status === "stopped" ||
    (contents.log === undefined && contents.summary);
  const advice = done
    ? `add ${elsewhere} to write a new run elsewhere, --resume to keep it (and redo its report), or --force to replace it`
    : `add --resume to continue it, ${elsewhere} to write a new run elsewhere, or --force to replace it`;
  throw new RunFolderTakenError(`${dir} already holds ${describeRunFolder(contents)}; ${advice}`, contents);
}

/**
 * Removes a run's results from `dir` (for `--force`): the run log,
 * checkpoint, report, summary and `runs/`. Other files are left alone.
 */
export async function clearRunResults(dir: string): Promise<void> {
  const base = dir.replace(/\/+$/, "") || "/";
  for (const name of Object.values(RUN_FILES)) {
    await Deno.remove(`${base}/${name}`, { recursive: true }).catch((e) => {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    });
  }
}

/** A temporary of `writeFileAtomic` (`.NAME.tmp-PID-XXXXXXXX`) or of a lock being created. */
const TEMPORARY = /^\.(.+)\.tmp-(\d+)-[0-9a-f]{8}$/;

/** A removed temporary file. */
export interface RemovedTemporary {
  /** Its path. */
  path: string;
  /** Its size in bytes. */
  bytes: number;
}

/**
 * Removes the temporaries killed writes left in `dir` and in its
 * subfolders down to `depth` levels (default 3: an experiment's
 * `runs/<run>/` included). Call
 * it holding the folder's lock: every writer of the folder is this process
 * then, and it has not started writing. The temporary of a lock that a
 * live process is taking (it holds it flocked) is left to it.
 */
export async function removeStaleTemporaries(dir: string, depth = 3): Promise<RemovedTemporary[]> {
  const removed: RemovedTemporary[] = [];
  const base = dir.replace(/\/+$/, "") || "/";
  let entries: Deno.DirEntry[] = [];
  try {
    entries = await Array.fromAsync(Deno.readDir(base));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return removed;
    throw e;
  }
  for (const e of entries) {
    const path = `${base}/${e.name}`;
    const temporary = e.isFile ? TEMPORARY.exec(e.name) : null;
    // Another process may be about to link its lock's temporary into place: leave those a live process holds.
    if (temporary !== null && (temporary[1] !== RUN_LOCK_FILE || !isHeld(path))) {
      const bytes = await Deno.stat(path).then((s) => s.size, () => 0);
      await Deno.remove(path).then(() => removed.push({ path, bytes }), () => {});
    } else if (e.isDirectory && depth > 1 && !e.name.startsWith(".")) {
      removed.push(...await removeStaleTemporaries(path, depth - 1));
    }
  }
  return removed;
}

/** `removed 2 temporary files (5.6 MB) left by an interrupted write`, or null when none were removed. */
export function describeRemovedTemporaries(removed: readonly RemovedTemporary[]): string | null {
  if (removed.length === 0) return null;
  const bytes = removed.reduce((a, r) => a + r.bytes, 0);
  const size = bytes >= 1e6
    ? `${(bytes / 1e6).toFixed(1)} MB`
    : bytes >= 1e3
    ? `${(bytes / 1e3).toFixed(1)} kB`
    : `${bytes} B`;
  return `removed ${count(removed.length, "temporary file")} (${size}) left by an interrupted write`;
}
