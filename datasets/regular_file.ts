/**
 * Opening only regular files. Every reader of data (dataset files,
 * safetensors, checkpoints) checks what its path is before opening it: a
 * FIFO blocks `open` until a writer comes (for ever, in practice), a device
 * such as `/dev/zero` never ends, and a directory has a size that means
 * nothing. A symbolic link loop gets a message of ours rather than the
 * system's.
 *
 * The check is made with `stat` before the open and again on the open file
 * (same device and inode, still a regular file), so a path swapped in
 * between is refused too.
 *
 * @module
 */

/** Makes the caller's named error from a message (which already names the file). */
export type ErrorFactory = (message: string) => Error;

function kindOf(info: Deno.FileInfo): string {
  if (info.isDirectory) return "a directory";
  if (info.isFifo) return "a FIFO (named pipe)";
  if (info.isCharDevice) return "a character device";
  if (info.isBlockDevice) return "a block device";
  if (info.isSocket) return "a socket";
  if (info.isSymlink) return "a symbolic link";
  return "not a plain file";
}

function checkInfo(info: Deno.FileInfo, label: string, fail: ErrorFactory): number {
  if (!info.isFile) throw fail(`${label}: is ${kindOf(info)}, not a regular file`);
  return info.size;
}

function statError(e: unknown, label: string, fail: ErrorFactory): unknown {
  if (e instanceof Deno.errors.FilesystemLoop) {
    return fail(`${label}: is a symbolic link loop (too many levels of links), not a regular file`);
  }
  return e;
}

/**
 * The size of `path` in bytes, after checking that it is a regular file
 * (symbolic links are followed).
 *
 * @param path the file
 * @param label prefix of error messages, naming the caller and the file
 * @param fail makes the caller's named error (a `DatasetFormatError`, a `CheckpointError`, …)
 * @throws what `fail` makes for a directory, FIFO, device, socket or link loop; Deno's `NotFound` for a missing path
 *
 * @example
 * ```ts
 * import { regularFileSize } from "./regular_file.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeFile(`${dir}/a.bin`, new Uint8Array(3));
 * const size = await regularFileSize(`${dir}/a.bin`, "example", (m) => new Error(m));
 * if (size !== 3) throw new Error("unexpected size");
 * const error = await regularFileSize(dir, "example", (m) => new Error(m)).catch((e) => e);
 * if (error.message !== "example: is a directory, not a regular file") throw error;
 * ```
 */
export async function regularFileSize(path: string | URL, label: string, fail: ErrorFactory): Promise<number> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch (e) {
    throw statError(e, label, fail);
  }
  return checkInfo(info, label, fail);
}

/** The synchronous twin of {@linkcode regularFileSize}. */
export function regularFileSizeSync(path: string | URL, label: string, fail: ErrorFactory): number {
  let info: Deno.FileInfo;
  try {
    info = Deno.statSync(path);
  } catch (e) {
    throw statError(e, label, fail);
  }
  return checkInfo(info, label, fail);
}

function sameFile(a: Deno.FileInfo, b: Deno.FileInfo): boolean {
  return a.dev === b.dev && (a.ino === null || b.ino === null || a.ino === b.ino);
}

/**
 * Opens `path` for reading after checking that it is a regular file, and
 * checks the open file again (same file, still regular). Returns the open
 * file and its size; the caller closes the file.
 */
export async function openRegularFile(
  path: string | URL,
  label: string,
  fail: ErrorFactory,
): Promise<{ file: Deno.FsFile; size: number }> {
  let before: Deno.FileInfo;
  try {
    before = await Deno.stat(path);
  } catch (e) {
    throw statError(e, label, fail);
  }
  checkInfo(before, label, fail);
  const file = await Deno.open(path, { read: true });
  try {
    const after = await file.stat();
    const size = checkInfo(after, label, fail);
    if (!sameFile(before, after)) throw fail(`${label}: was replaced while it was being opened`);
    return { file, size };
  } catch (e) {
    file.close();
    throw e;
  }
}

/**
 * Reads a whole regular file (see {@linkcode openRegularFile}); at most
 * `maxBytes` (default: no limit beyond the file's own size), so memory is
 * bounded by the file's size whatever its content says.
 */
export async function readRegularFile(
  path: string | URL,
  label: string,
  fail: ErrorFactory,
  maxBytes = Infinity,
): Promise<Uint8Array> {
  const { file, size } = await openRegularFile(path, label, fail);
  try {
    if (size > maxBytes) throw fail(`${label}: is ${size} bytes, more than the ${maxBytes} bytes such a file may have`);
    const out = new Uint8Array(size);
    let at = 0;
    while (at < size) {
      const n = await file.read(out.subarray(at));
      if (n === null) break;
      at += n;
    }
    // A file that shrank while read ends early; one that grew is read only as far as its size was.
    return at < size ? out.subarray(0, at) : out;
  } finally {
    file.close();
  }
}

/** The synchronous twin of {@linkcode readRegularFile}. */
export function readRegularFileSync(
  path: string | URL,
  label: string,
  fail: ErrorFactory,
  maxBytes = Infinity,
): Uint8Array {
  let before: Deno.FileInfo;
  try {
    before = Deno.statSync(path);
  } catch (e) {
    throw statError(e, label, fail);
  }
  checkInfo(before, label, fail);
  const file = Deno.openSync(path, { read: true });
  try {
    const after = file.statSync();
    const size = checkInfo(after, label, fail);
    if (!sameFile(before, after)) throw fail(`${label}: was replaced while it was being opened`);
    if (size > maxBytes) throw fail(`${label}: is ${size} bytes, more than the ${maxBytes} bytes such a file may have`);
    const out = new Uint8Array(size);
    let at = 0;
    while (at < size) {
      const n = file.readSync(out.subarray(at));
      if (n === null) break;
      at += n;
    }
    return at < size ? out.subarray(0, at) : out;
  } finally {
    file.close();
  }
}
