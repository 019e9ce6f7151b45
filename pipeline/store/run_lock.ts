/**
 * The lock of a run folder: while a process writes a run (its log, its
 * checkpoint, its report), the folder holds `run.lock`, a small JSON file
 * naming the process (PID, hostname, when it started, its command line).
 * A second writer is refused with a {@link RunLockedError} naming the
 * holder; a lock whose process is gone (killed, crashed, machine rebooted)
 * is taken over, and {@link RunLock.tookOver} says whose it was.
 *
 * The lock file appears atomically with its whole content (written to a
 * temporary, then hard-linked into place, which fails when a lock exists:
 * the O_EXCL of link(2)), so a reader never sees a half-written lock.
 * Acquirers of one folder are serialised by a short advisory lock (flock)
 * on the folder itself, which the kernel drops when a process dies, so two
 * processes taking over the same stale lock cannot both win.
 *
 * Whether a holder is alive is read from `/proc/PID/stat` (Linux): a PID
 * that is gone, a zombie, or a PID reused by a process started at another
 * time all mean the holder is gone. Where `/proc` is missing, or for a lock
 * of another host, the holder counts as alive: the lock is never taken
 * over on a guess.
 *
 * @module
 */

/** File name of the lock inside a run folder. */
export const RUN_LOCK_FILE = "run.lock";

/** What a lock file says about the process holding it. */
export interface RunLockInfo {
  /** The holder's process id. */
  pid: number;
  /** The holder's host name. */
  hostname: string;
  /** When the holder took the lock, ISO 8601. */
  startedAt: string;
  /** The holder's command line, as a user would type it (for messages). */
  command: string;
  /** The holder's start time in clock ticks since boot (`/proc/PID/stat` field 22), to tell a reused PID apart. */
  processStart?: string;
  /** A random token that tells this acquisition from any other. */
  token: string;
}

/** Whether a lock's holder is still there: `alive`, `gone`, or `unknown` (another host, or no `/proc`). */
export type HolderState = "alive" | "gone" | "unknown";

/** Another process writes the folder: the run is refused (the command's exit code 2). */
export class RunLockedError extends Error {
  /** The folder. */
  readonly dir: string;
  /** Who holds it. */
  readonly holder: RunLockInfo;

  /** Builds the one-line message naming the holder. */
  constructor(dir: string, holder: RunLockInfo, state: HolderState) {
    const who = `process ${holder.pid} on ${holder.hostname}, since ${holder.startedAt}` +
      (holder.command ? `: ${holder.command}` : "");
    const advice = state === "unknown"
      ? `if that process is no longer running, delete ${lockPath(dir)}`
      : "wait for it to finish or stop it (Ctrl-C) first";
    super(`${dir} is being written by another run (${who}); ${advice}`);
    this.name = "RunLockedError";
    this.dir = dir;
    this.holder = holder;
  }
}

/** A lock this process holds. */
export interface RunLock {
  /** The lock file. */
  readonly path: string;
  /** What it says. */
  readonly info: RunLockInfo;
  /** The lock of a process that had gone, replaced by this one (null when the folder was free). */
  readonly tookOver: RunLockInfo | null;
  /** Removes the lock file, if it is still this lock's. */
  release(): Promise<void>;
  /** {@link release}, synchronously (for signal and exit handlers). */
  releaseSync(): void;
}

/** Options of {@link acquireRunLock}. */
export interface AcquireRunLockOptions {
  /** The command line to record (default: `Deno.args` after the script). */
  command?: string;
}

/** `dir/run.lock`. */
export function lockPath(dir: string): string {
  return `${dir.replace(/\/+$/, "") || "/"}/${RUN_LOCK_FILE}`;
}

function hexToken(bytes = 8): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(bytes)), (b) => b.toString(16).padStart(2, "0")).join("");
}

let cachedHostname: string | undefined;

/** This machine's host name: `/proc/sys/kernel/hostname`, else `Deno.hostname()`, else `"localhost"`. */
export function hostname(): string {
  if (cachedHostname !== undefined) return cachedHostname;
  let name = "";
  try {
    name = Deno.readTextFileSync("/proc/sys/kernel/hostname").trim();
  } catch { /* not Linux, or not readable */ }
  if (name === "") {
    try {
      name = Deno.hostname();
    } catch { /* no --allow-sys */ }
  }
  return cachedHostname = name || "localhost";
}

/**
 * A process's start time and state from `/proc/PID/stat`, or null when
 * there is no such process (or no `/proc`). Fields after the command name
 * (which may hold spaces and parentheses) are read from its last `)`.
 */
function procStat(pid: number): { state: string; start: string } | null {
  let text: string;
  try {
    text = Deno.readTextFileSync(`/proc/${pid}/stat`);
  } catch {
    return null;
  }
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  // fields[0] is field 3 (state); field 22 (starttime) is fields[19].
  return { state: fields[0], start: fields[19] };
}

/**
 * Whether process `pid` of this machine is certainly gone (no such process,
 * or a zombie); false when it runs or cannot be checked (no `/proc`).
 */
export function processGone(pid: number): boolean {
  if (pid === Deno.pid || !hasProc()) return false;
  const stat = procStat(pid);
  return stat === null || stat.state === "Z" || stat.state === "X";
}

function hasProc(): boolean {
  try {
    return Deno.statSync("/proc/self/stat").isFile;
  } catch {
    return false;
  }
}

/** This process's start time in clock ticks since boot, when `/proc` has it. */
function ownProcessStart(): string | undefined {
  return procStat(Deno.pid)?.start;
}

/**
 * Whether the process a lock names is still there (see the module docs):
 * `unknown` for another host or where `/proc` cannot be read.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { holderState, hostname } from "./run_lock.ts";
 * const me = { pid: Deno.pid, hostname: hostname(), startedAt: "", command: "", token: "t" };
 * assertEquals(holderState(me), Deno.build.os === "linux" ? "alive" : "unknown");
 * ```
 */
export function holderState(info: RunLockInfo): HolderState {
  if (info.hostname !== hostname() || !hasProc()) return "unknown";
  if (info.pid === Deno.pid) {
    return info.processStart === undefined || info.processStart === ownProcessStart() ? "alive" : "gone";
  }
  if (processGone(info.pid)) return "gone";
  return info.processStart !== undefined && procStat(info.pid)?.start !== info.processStart ? "gone" : "alive";
}

function parseLock(text: string): RunLockInfo | null {
  try {
    const v = JSON.parse(text);
    if (typeof v === "object" && v !== null && Number.isInteger(v.pid) && typeof v.token === "string") {
      return {
        pid: v.pid,
        hostname: String(v.hostname ?? ""),
        startedAt: String(v.startedAt ?? ""),
        command: String(v.command ?? ""),
        ...(typeof v.processStart === "string" ? { processStart: v.processStart } : {}),
        token: v.token,
      };
    }
  } catch { /* not a lock we wrote */ }
  return null;
}

/**
 * The lock of `dir`, or null when the folder is not locked. A lock file
 * that cannot be parsed (written by hand, cut short by a full disk) reads
 * as a lock of an unknown process on an unknown host, so it is never taken
 * over silently.
 */
export async function readRunLock(dir: string): Promise<RunLockInfo | null> {
  let text: string;
  try {
    text = await Deno.readTextFile(lockPath(dir));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
  return parseLock(text) ??
    { pid: 0, hostname: "an unknown host", startedAt: "an unknown time", command: "", token: "" };
}

/** The default command line of this process, as `deno task NAME ARGS` reads it. */
function defaultCommand(): string {
  const script = Deno.mainModule.split("/").pop()?.replace(/\.ts$/, "") ?? "deno";
  return [`deno task ${script}`, ...Deno.args.map(shellWord)].join(" ");
}

/** A word as a POSIX shell reads it back: unquoted when plain, else in single quotes. */
export function shellWord(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'"'"'`)}'`;
}

/** Runs `fn` holding an exclusive flock on the folder (best effort where directories cannot be opened). */
async function serialised<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  let handle: Deno.FsFile | undefined;
  try {
    handle = await Deno.open(dir, { read: true });
    await handle.lock(true);
  } catch {
    handle?.close();
    handle = undefined;
  }
  try {
    return await fn();
  } finally {
    handle?.close(); // closing drops the flock
  }
}

/**
 * Locks the run folder `dir` (which must exist) for this process. A lock
 * whose holder is gone is taken over (see {@link RunLock.tookOver}).
 *
 * @throws RunLockedError when a live process (or one that cannot be checked) holds it
 *
 * @example
 * ```ts
 * import { assertEquals, assertRejects } from "@std/assert";
 * import { acquireRunLock, readRunLock, RunLockedError } from "./run_lock.ts";
 * const dir = await Deno.makeTempDir();
 * const lock = await acquireRunLock(dir, { command: "deno task train" });
 * assertEquals((await readRunLock(dir))?.pid, Deno.pid);
 * await assertRejects(() => acquireRunLock(dir), RunLockedError);
 * await lock.release();
 * assertEquals(await readRunLock(dir), null);
 * ```
 */
export async function acquireRunLock(dir: string, options: AcquireRunLockOptions = {}): Promise<RunLock> {
  const path = lockPath(dir);
  const info: RunLockInfo = {
    pid: Deno.pid,
    hostname: hostname(),
    startedAt: new Date().toISOString(),
    command: options.command ?? defaultCommand(),
    ...(ownProcessStart() !== undefined ? { processStart: ownProcessStart() } : {}),
    token: hexToken(),
  };
  const tmp = `${dir.replace(/\/+$/, "") || "/"}/.${RUN_LOCK_FILE}.tmp-${Deno.pid}-${hexToken(4)}`;
  await Deno.writeTextFile(tmp, JSON.stringify(info) + "\n", { createNew: true });
  try {
    const tookOver = await serialised(dir, async () => {
      let previous: RunLockInfo | null = null;
      // A holder may release between our attempts; a few rounds settle it.
      for (let attempt = 0; attempt < 5; attempt++) {
        try {
          await Deno.link(tmp, path);
          return previous;
        } catch (e) {
          if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
        }
        const holder = await readRunLock(dir);
        if (holder === null) continue;
        const state = holderState(holder);
        if (state !== "gone") throw new RunLockedError(dir, holder, state);
        await Deno.remove(path).catch((e) => {
          if (!(e instanceof Deno.errors.NotFound)) throw e;
        });
        previous = holder;
      }
      throw new Error(`acquireRunLock: ${path} kept changing; try again`);
    });
    let released = false;
    const ours = (text: string | null) => text !== null && parseLock(text)?.token === info.token;
    return {
      path,
      info,
      tookOver,
      async release() {
        if (released) return;
        released = true;
        const text = await Deno.readTextFile(path).catch(() => null);
        if (ours(text)) await Deno.remove(path).catch(() => {});
      },
      releaseSync() {
        if (released) return;
        released = true;
        let text: string | null = null;
        try {
          text = Deno.readTextFileSync(path);
        } catch { /* already gone */ }
        if (ours(text)) {
          try {
            Deno.removeSync(path);
          } catch { /* already gone */ }
        }
      },
    };
  } finally {
    await Deno.remove(tmp).catch(() => {});
  }
}

/** A lock's holder in words, for "took over" notes: `process 123 on host (since …)`. */
export function describeHolder(info: RunLockInfo): string {
  return `process ${info.pid} on ${info.hostname} (since ${info.startedAt})`;
}
