/**
 * The lock of a run folder: while a process writes a run (its log, its
 * checkpoint, its report), the folder holds `run.lock`, a small JSON file
 * naming the process (PID, hostname, when it took the lock, its command
 * line). A second writer is refused with a {@link RunLockedError} naming
 * the holder; a lock whose process is gone (killed, crashed, the machine
 * rebooted) is taken over, and {@link RunLock.tookOver} says whose it was.
 *
 * How "gone" is told: the holder keeps `run.lock` open with an exclusive
 * advisory lock (flock) for as long as it holds it, and the kernel drops
 * that lock the moment the process ends, however it ends (`kill -9`
 * included). A lock file nobody holds flocked belongs to nobody. This needs
 * no process table (`/proc` is closed to Deno without `--allow-all`) and
 * cannot be fooled by a reused PID.
 *
 * The lock file appears atomically with its whole content, already flocked:
 * it is written to a temporary, flocked, then hard-linked into place, which
 * fails when a lock exists (the O_EXCL of link(2)). Acquirers of one folder
 * are serialised by a short flock on the folder itself, so two processes
 * taking over the same stale lock cannot both win.
 *
 * @module
 */

/** File name of the lock inside a run folder. */
export const RUN_LOCK_FILE = "run.lock";

/** What a lock file says about the process holding it. */
export interface RunLockInfo {
  /** The holder's process id. */
  pid: number;
  /** The holder's host name ("" when the process could not read it). */
  hostname: string;
  /** When the holder took the lock, ISO 8601. */
  startedAt: string;
  /** The holder's command line, as a user would type it (for messages). */
  command: string;
  /** A random token that tells this acquisition from any other. */
  token: string;
}

/** Another process writes the folder: the run is refused (the command's exit code 2). */
export class RunLockedError extends Error {
  /** The folder. */
  readonly dir: string;
  /** Who holds it. */
  readonly holder: RunLockInfo;

  /** Builds the one-line message naming the holder. */
  constructor(dir: string, holder: RunLockInfo) {
    super(
      `${dir} is being written by another run (${describeHolder(holder)}` +
        (holder.command ? `: ${holder.command}` : "") + "); wait for it to finish or stop it (Ctrl-C) first",
    );
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
  /** Removes the lock file (if it is still this lock's) and drops the flock. */
  release(): Promise<void>;
  /** {@link release}, synchronously (for signal and exit handlers). */
  releaseSync(): void;
}

/** Options of {@link acquireRunLock}. */
export interface AcquireRunLockOptions {
  /** The command line to record (default: `deno task SCRIPT` and `Deno.args`). */
  command?: string;
}

/** `dir/run.lock`. */
export function lockPath(dir: string): string {
  return `${dir.replace(/\/+$/, "") || "/"}/${RUN_LOCK_FILE}`;
}

function hexToken(bytes = 8): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(bytes)), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** This machine's host name where `--allow-sys=hostname` (or `$HOSTNAME`) gives it, else "". */
export function hostname(): string {
  try {
    if (Deno.permissions.querySync({ name: "sys", kind: "hostname" }).state === "granted") return Deno.hostname();
  } catch { /* not supported here */ }
  try {
    return Deno.env.get("HOSTNAME") ?? "";
  } catch {
    return "";
  }
}

/** A lock's holder in words: `process 123 on vm, since 2025-…`. */
export function describeHolder(info: RunLockInfo): string {
  return `process ${info.pid}${info.hostname ? ` on ${info.hostname}` : ""}, since ${info.startedAt}`;
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
        token: v.token,
      };
    }
  } catch { /* not a lock we wrote */ }
  return null;
}

/** What an unreadable lock file (written by hand, cut short) is taken for. */
const UNKNOWN_HOLDER: RunLockInfo = Object.freeze({
  pid: 0,
  hostname: "",
  startedAt: "an unknown time",
  command: "",
  token: "",
});

/**
 * Whether a live process holds the file at `path` flocked: true when it
 * does, false when nobody does (or the file is gone).
 */
export function isHeld(path: string): boolean {
  let file: Deno.FsFile;
  try {
    file = Deno.openSync(path, { read: true });
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
  try {
    if (!file.tryLockSync(true)) return true;
    file.unlockSync();
    return false;
  } finally {
    file.close();
  }
}

/**
 * The lock of `dir` while a live process holds it, else null (no lock
 * file, or one that its process left behind when it ended).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { acquireRunLock, heldRunLock } from "./run_lock.ts";
 * const dir = await Deno.makeTempDir();
 * const lock = await acquireRunLock(dir, { command: "deno task train" });
 * assertEquals((await heldRunLock(dir))?.command, "deno task train");
 * lock.releaseSync();
 * assertEquals(await heldRunLock(dir), null);
 * ```
 */
export async function heldRunLock(dir: string): Promise<RunLockInfo | null> {
  const path = lockPath(dir);
  if (!isHeld(path)) return null;
  const text = await Deno.readTextFile(path).catch(() => null);
  return text === null ? null : parseLock(text) ?? UNKNOWN_HOLDER;
}

/** The lock file of `dir` as it reads, held or not; null when there is none. */
export async function readRunLock(dir: string): Promise<RunLockInfo | null> {
  let text: string;
  try {
    text = await Deno.readTextFile(lockPath(dir));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
  return parseLock(text) ?? UNKNOWN_HOLDER;
}

/** The default command line of this process, as `deno task NAME ARGS` reads it. */
function defaultCommand(): string {
  const script = Deno.mainModule.split("/").pop()?.replace(/\.ts$/, "") ?? "deno";
  return [`deno task ${script}`, ...Deno.args.map(shellWord)].join(" ");
}

/** A word as a POSIX shell reads it back: unquoted when plain, else in single quotes. */
export function shellWord(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : "'" + word.replaceAll("'", "'\"'\"'") + "'";
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
 * Locks the run folder `dir` (which must exist) for this process, until
 * `release` or the process's end. A lock whose holder is gone is taken over
 * (see {@link RunLock.tookOver}).
 *
 * @throws RunLockedError when a live process holds it (this one included)
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
    token: hexToken(),
  };
  const tmp = `${dir.replace(/\/+$/, "") || "/"}/.${RUN_LOCK_FILE}.tmp-${Deno.pid}-${hexToken(4)}`;
  const file = await Deno.open(tmp, { read: true, write: true, createNew: true });
  try {
    // Flocked before it is linked: the lock file is never seen unheld while its process lives.
    await file.lock(true);
    const bytes = new TextEncoder().encode(JSON.stringify(info) + "\n");
    for (let written = 0; written < bytes.length;) written += await file.write(bytes.subarray(written));
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
        if (isHeld(path)) throw new RunLockedError(dir, holder);
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
        file.close();
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
        file.close();
      },
    };
  } catch (e) {
    file.close();
    throw e;
  } finally {
    await Deno.remove(tmp).catch(() => {});
  }
}
