/**
 * Atomic file replacement for checkpoints and reports: a reader (or a run
 * resumed after a crash) sees either the old file or the whole new one,
 * never a partial write.
 *
 * The data goes to a temporary file in the target's directory
 * (`.${name}.tmp-${pid}-${random}`), is flushed to disk (`syncData`), and
 * the temporary is then renamed over the target, which POSIX makes atomic
 * within one file system. On any error the temporary is removed and the old
 * target is left as it was. A process killed mid-write can leave a temporary
 * behind, never a damaged target. A symlink at the target is replaced by a
 * regular file, not followed.
 *
 * @module
 */

/** Options of `writeFileAtomic` and `writeFileAtomicSync`. */
export interface AtomicWriteOptions {
  /** Permission bits of the new file (subject to the umask). Default: the old file's bits, else the system default. */
  mode?: number;
  /** Flush the data to disk before the rename (`syncData`) and the directory after it. Default true. */
  sync?: boolean;
}

const encoder = new TextEncoder();

function toBytes(data: Uint8Array | string, where: string): Uint8Array {
  if (typeof data === "string") return encoder.encode(data);
  if (data instanceof Uint8Array) return data;
  throw new TypeError(`${where}: data must be a Uint8Array or a string, got ${typeof data}`);
}

/** The directory and file name of `path` (`/` or, on Windows, `\` separated). */
function splitPath(path: string, where: string): { dir: string; name: string } {
  if (typeof path !== "string" || path === "") throw new TypeError(`${where}: path must be a non-empty string`);
  const cut = Math.max(path.lastIndexOf("/"), Deno.build.os === "windows" ? path.lastIndexOf("\\") : -1);
  const name = path.slice(cut + 1);
  if (name === "" || name === "." || name === "..") throw new Error(`${where}: path "${path}" does not name a file`);
  return { dir: cut < 0 ? "." : cut === 0 ? path.slice(0, 1) : path.slice(0, cut), name };
}

function tempPath(dir: string, name: string): string {
  const random = Array.from(crypto.getRandomValues(new Uint8Array(4)), (b) => b.toString(16).padStart(2, "0")).join("");
  const sep = dir.endsWith("/") || dir.endsWith("\\") ? "" : "/";
  return `${dir}${sep}.${name}.tmp-${Deno.pid}-${random}`;
}

function existingMode(path: string): number | undefined {
  try {
    const mode = Deno.statSync(path).mode;
    return mode === null ? undefined : mode & 0o7777;
  } catch {
    return undefined;
  }
}

/**
 * Puts the target's path into a failed write's message ("No space left on
 * device" says nothing of which file), keeping the error's class (a
 * `Deno.errors.NotFound` stays one) and its cause.
 */
function namePath(e: unknown, where: string, path: string): unknown {
  if (e instanceof Error && !e.message.startsWith(`${where}: `)) {
    e.message = `${where}: cannot write ${path}: ${e.message}`;
  }
  return e;
}

function isNotSupported(e: unknown): boolean {
  return e instanceof Deno.errors.NotSupported;
}

/**
 * Writes `data` to `path` atomically: the target is replaced in one step
 * or not at all. Text is written as UTF-8.
 *
 * @param path the file to create or replace; its directory must exist
 * @param data the whole new content
 * @param options `{ mode, sync = true }`
 * @throws the underlying Deno error (NotFound for a missing directory, …), its message prefixed with
 *   `writeFileAtomic: cannot write PATH: `; the old file is untouched
 *
 * @example
 * ```ts
 * import { writeFileAtomic } from "./atomic_write.ts";
 * const dir = await Deno.makeTempDir();
 * await writeFileAtomic(`${dir}/run.json`, JSON.stringify({ epoch: 3 }));
 * ```
 */
export async function writeFileAtomic(
  path: string,
  data: Uint8Array | string,
  options: AtomicWriteOptions = {},
): Promise<void> {
  const where = "writeFileAtomic";
  const bytes = toBytes(data, where);
  const { dir, name } = splitPath(path, where);
  const sync = options.sync ?? true;
  const tmp = tempPath(dir, name);
  let file: Deno.FsFile | undefined;
  try {
    file = await Deno.open(tmp, { write: true, createNew: true, mode: options.mode ?? existingMode(path) });
    for (let written = 0; written < bytes.length;) written += await file.write(bytes.subarray(written));
    if (sync) {
      try {
        await file.syncData();
      } catch (e) {
        if (!isNotSupported(e)) throw e;
      }
    }
    file.close();
    file = undefined;
    await Deno.rename(tmp, path);
  } catch (e) {
    try {
      file?.close();
    } catch { /* already closed */ }
    try {
      await Deno.remove(tmp);
    } catch { /* never created, or already gone */ }
    throw namePath(e, where, path);
  }
  if (sync) await syncDirectory(dir);
}

/**
 * The synchronous twin of `writeFileAtomic`, for exit handlers and scripts.
 *
 * @param path the file to create or replace; its directory must exist
 * @param data the whole new content
 * @param options `{ mode, sync = true }`
 */
export function writeFileAtomicSync(path: string, data: Uint8Array | string, options: AtomicWriteOptions = {}): void {
  const where = "writeFileAtomicSync";
  const bytes = toBytes(data, where);
  const { dir, name } = splitPath(path, where);
  const sync = options.sync ?? true;
  const tmp = tempPath(dir, name);
  let file: Deno.FsFile | undefined;
  try {
    file = Deno.openSync(tmp, { write: true, createNew: true, mode: options.mode ?? existingMode(path) });
    for (let written = 0; written < bytes.length;) written += file.writeSync(bytes.subarray(written));
    if (sync) {
      try {
        file.syncDataSync();
      } catch (e) {
        if (!isNotSupported(e)) throw e;
      }
    }
    file.close();
    file = undefined;
    Deno.renameSync(tmp, path);
  } catch (e) {
    try {
      file?.close();
    } catch { /* already closed */ }
    try {
      Deno.removeSync(tmp);
    } catch { /* never created, or already gone */ }
    throw namePath(e, where, path);
  }
  if (sync) syncDirectorySync(dir);
}

// The rename is only durable once the directory entry is flushed. Not every
// platform can open a directory (Windows cannot), so this is best effort.
async function syncDirectory(dir: string): Promise<void> {
  let handle: Deno.FsFile | undefined;
  try {
    handle = await Deno.open(dir, { read: true });
    await handle.sync();
  } catch {
    /* best effort */
  } finally {
    handle?.close();
  }
}

function syncDirectorySync(dir: string): void {
  let handle: Deno.FsFile | undefined;
  try {
    handle = Deno.openSync(dir, { read: true });
    handle.syncSync();
  } catch {
    /* best effort */
  } finally {
    handle?.close();
  }
}
