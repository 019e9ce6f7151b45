/**
 * Streaming building blocks for the dataset readers: file bytes → (gunzip) →
 * fixed-size records → a visitor that writes each example straight into its
 * preallocated output tensor.
 *
 * Every reader names the file and the byte offset when the data breaks a
 * rule, and no reader hands back a partial load: any problem is an error.
 *
 * @module
 */

import { openRegularFile, readRegularFile, regularFileSize } from "./regular_file.ts";

/**
 * A dataset file that breaks its format: wrong size, a truncated record, a
 * bad header, an out-of-range label, mismatched counts. The message names the
 * file and the byte offset where the rule is broken.
 */
export class DatasetFormatError extends Error {
  /** Wraps `message` (already naming the file and offset). */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "DatasetFormatError";
  }
}

/** Options of {@linkcode RecordChunker}. */
export interface RecordChunkerOptions {
  /** Prefix of error messages, e.g. `"loadCifar10: /data/data_batch_1.bin"`. Default `"records"`. */
  label?: string;
  /** Byte offset (in the file, or in the decompressed stream) of the first byte this stream sees. Default 0. */
  startOffset?: number;
}

/**
 * A `TransformStream` that re-chunks a byte stream into whole fixed-size
 * records: every output chunk holds k ≥ 1 complete records (k · recordSize
 * bytes), record boundaries never fall inside a chunk's end, and a record
 * split across input chunks is carried over and completed from the next
 * ones. Aligned runs of records are passed on as zero-copy `subarray` views;
 * only records that straddle input chunks are copied.
 *
 * A stream that ends inside a record errors with a {@linkcode DatasetFormatError}
 * naming the label and the byte offset where the truncated record starts.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { RecordChunker } from "./records.ts";
 *
 * const bytes = ReadableStream.from([new Uint8Array([1, 2, 3]), new Uint8Array([4, 5, 6, 7, 8])]);
 * const records = await Array.fromAsync(bytes.pipeThrough(new RecordChunker(4)));
 * assertEquals(records.map((r) => [...r]), [[1, 2, 3, 4], [5, 6, 7, 8]]);
 * ```
 */
export class RecordChunker extends TransformStream<Uint8Array, Uint8Array> {
  /** Bytes per record. */
  readonly recordSize: number;

  /** A chunker for records of `recordSize` bytes (a positive integer). */
  constructor(recordSize: number, options: RecordChunkerOptions = {}) {
    if (!Number.isInteger(recordSize) || recordSize < 1) {
      throw new RangeError(`RecordChunker: recordSize ${recordSize} is not a positive integer`);
    }
    const label = options.label ?? "records";
    const startOffset = options.startOffset ?? 0;
    // The carry grows with the bytes actually received, so a record size from a lying header costs nothing.
    let carry = new Uint8Array(0);
    let carried = 0;
    let seen = 0; // bytes received so far
    const room = (bytes: number) => {
      if (bytes <= carry.length) return;
      const grown = new Uint8Array(Math.min(recordSize, Math.max(bytes, 2 * carry.length)));
      grown.set(carry.subarray(0, carried), 0);
      carry = grown;
    };
    super({
      transform(chunk, controller) {
        let pos = 0;
        if (carried > 0) {
          const take = Math.min(recordSize - carried, chunk.length);
          room(carried + take);
          carry.set(chunk.subarray(0, take), carried);
          carried += take;
          pos = take;
          if (carried < recordSize) {
            seen += chunk.length;
            return;
          }
          controller.enqueue(carry);
          // The consumer owns the record just passed on, so the next partial record needs fresh storage.
          carry = new Uint8Array(0);
          carried = 0;
        }
        const whole = Math.floor((chunk.length - pos) / recordSize) * recordSize;
        if (whole > 0) controller.enqueue(chunk.subarray(pos, pos + whole));
        pos += whole;
        if (pos < chunk.length) {
          room(chunk.length - pos);
          carry.set(chunk.subarray(pos), 0);
          carried = chunk.length - pos;
        }
        seen += chunk.length;
      },
      flush() {
        if (carried > 0) {
          const at = startOffset + seen - carried;
          throw new DatasetFormatError(
            `${label}: truncated record at byte ${at}: the data ends after ${carried} of its ${recordSize} bytes`,
          );
        }
      },
    });
    this.recordSize = recordSize;
  }
}

/**
 * Visits one record: `chunk.subarray(at, at + recordSize)` is record number
 * `index` (counted from the start of the stream given to
 * {@linkcode forEachRecord}). Return `false` to stop reading early.
 */
export type RecordVisitor = (chunk: Uint8Array, at: number, index: number) => boolean | void;

/**
 * Pipes `stream` through a {@linkcode RecordChunker} and calls `visit` on
 * every record until the stream ends or `visit` returns `false` (the rest of
 * the stream is then cancelled, which closes the file). A failing read (a
 * corrupt gzip stream, an I/O error) becomes a {@linkcode DatasetFormatError}
 * naming `label` and the offset reached; errors thrown by `visit` pass
 * through unchanged, after the stream is cancelled.
 *
 * @returns the number of records visited.
 */
export async function forEachRecord(
  stream: ReadableStream<Uint8Array>,
  recordSize: number,
  visit: RecordVisitor,
  options: RecordChunkerOptions = {},
): Promise<number> {
  const reader = stream.pipeThrough(new RecordChunker(recordSize, options)).getReader();
  let index = 0;
  try {
    while (true) {
      let result: ReadableStreamReadResult<Uint8Array>;
      try {
        result = await reader.read();
      } catch (e) {
        if (e instanceof DatasetFormatError) throw e;
        const at = (options.startOffset ?? 0) + index * recordSize;
        const why = e instanceof Error ? e.message : String(e);
        throw new DatasetFormatError(`${options.label ?? "records"}: cannot read past byte ${at}: ${why}`, {
          cause: e,
        });
      }
      if (result.done) return index;
      const chunk = result.value;
      for (let at = 0; at < chunk.length; at += recordSize) {
        if (visit(chunk, at, index++) === false) {
          await reader.cancel();
          return index;
        }
      }
    }
  } catch (e) {
    // Cancelling closes the file behind the stream; a stream that already failed rejects, which changes nothing.
    await reader.cancel().catch(() => {});
    throw e;
  } finally {
    reader.releaseLock();
  }
}

/** A file opened as a byte stream by {@linkcode openBytes}. */
export interface ByteSource {
  /**
   * The bytes from `offset` on (decompressed for `.gz`). Cancelling it closes the file. A corrupt gzip stream
   * errors with a {@linkcode DatasetFormatError} naming the file and how far the data went.
   */
  stream: ReadableStream<Uint8Array>;
  /** Whether the file is gzip-compressed (its name ends in `.gz`). */
  compressed: boolean;
  /** The size of the file in bytes (compressed, for `.gz`); undefined for a remote file. */
  size?: number;
}

/**
 * The most a deflate stream can expand: 1032 output bytes per input byte
 * (258-byte matches in 2-bit codes), plus slack for the gzip header and
 * the last block. A header promising more than this of a `.gz` file is a
 * lie, refused before anything is allocated or decompressed.
 */
export const MAX_GZIP_EXPANSION = 1032;

const failFormat = (message: string) => new DatasetFormatError(message);

/**
 * Opens `path` as a byte stream: a plain file from byte `offset` on (by
 * seeking, so the bytes before it are never read), or a `.gz` file through
 * `DecompressionStream("gzip")` (where `offset` must be 0: skip records
 * instead). `path` may be a `file:` URL, or an `http(s):` URL (fetched; for
 * a module imported from a web server), where `offset` must be 0 too.
 * A local path must be a regular file (not a FIFO, device or directory):
 * anything else is a {@linkcode DatasetFormatError} naming `label`
 * (default `"openBytes: " + path`), as is a corrupt gzip stream.
 */
export async function openBytes(path: string | URL, offset = 0, label?: string): Promise<ByteSource> {
  const shown = displayPath(path);
  const named = label ?? `openBytes: ${shown}`;
  const compressed = shown.endsWith(".gz");
  const remote = typeof path !== "string" && path.protocol !== "file:";
  if ((compressed || remote) && offset !== 0) {
    throw new RangeError(
      `openBytes: ${shown} is ${compressed ? "gzip-compressed" : "remote"} and cannot be opened at byte ${offset}`,
    );
  }
  let raw: ReadableStream<Uint8Array<ArrayBuffer>>;
  let size: number | undefined;
  if (remote) {
    const response = await fetch(path);
    if (!response.ok || !response.body) {
      await response.body?.cancel();
      throw new Error(`openBytes: fetching ${path.href} failed with HTTP ${response.status}`);
    }
    raw = response.body;
  } else {
    const opened = await openRegularFile(path, named, failFormat);
    const file = opened.file;
    size = opened.size;
    try {
      if (offset > 0) await file.seek(offset, Deno.SeekMode.Start);
    } catch (e) {
      file.close();
      throw e;
    }
    raw = file.readable;
  }
  if (!compressed) return { stream: raw, compressed, ...(size === undefined ? {} : { size }) };
  return { stream: gunzip(raw, named), compressed, ...(size === undefined ? {} : { size }) };
}

/**
 * Decompresses `raw`, turning the decompressor's errors into
 * {@linkcode DatasetFormatError}s that name `label`, the decompressed bytes
 * delivered and the compressed bytes read so far (the corrupt byte lies
 * within them), and that say plainly when data follows the gzip stream.
 */
function gunzip(raw: ReadableStream<Uint8Array<ArrayBuffer>>, label: string): ReadableStream<Uint8Array> {
  let compressedRead = 0;
  const counted = raw.pipeThrough(
    new TransformStream<Uint8Array<ArrayBuffer>, Uint8Array<ArrayBuffer>>({
      transform(chunk, controller) {
        compressedRead += chunk.length;
        controller.enqueue(chunk);
      },
    }),
  );
  const reader = counted.pipeThrough(new DecompressionStream("gzip")).getReader();
  let delivered = 0;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      let result: ReadableStreamReadResult<Uint8Array>;
      try {
        result = await reader.read();
      } catch (e) {
        const why = e instanceof Error ? e.message : String(e);
        // Deno's decompressor reports bytes after the end of the gzip member (junk, a second member) this way.
        const message = why.includes("failed to write whole buffer")
          ? `${label}: unexpected bytes after the end of the gzip stream, within the first ${compressedRead} ` +
            `compressed bytes (the decompressed data ends at byte ${delivered}); only one gzip member is read`
          : `${label}: corrupt gzip data within the first ${compressedRead} compressed bytes, after ${delivered} ` +
            `decompressed bytes: ${why}`;
        controller.error(new DatasetFormatError(message, { cause: e }));
        return;
      }
      if (result.done) controller.close();
      else {
        delivered += result.value.length;
        controller.enqueue(result.value);
      }
    },
    async cancel(reason) {
      await reader.cancel(reason).catch(() => {});
    },
  });
}

/** Reads a whole text file (a `file:` URL or path, or a fetched `http(s):` URL). */
export async function readText(path: string | URL): Promise<string> {
  if (typeof path !== "string" && path.protocol !== "file:") {
    const response = await fetch(path);
    if (!response.ok) {
      await response.body?.cancel();
      throw new Error(`readText: fetching ${path.href} failed with HTTP ${response.status}`);
    }
    return await response.text();
  }
  const label = `readText: ${displayPath(path)}`;
  // A text file of a data set is small (class names); 1 MiB bounds what a wrong file can make us hold.
  return new TextDecoder().decode(await readRegularFile(path, label, failFormat, 1 << 20));
}

/** One run of records to copy out of a file: records [first, first + count). */
export interface RecordSegment {
  /** Index of the first record (0 = the first record after the header). */
  first: number;
  /** How many records. */
  count: number;
  /** Stores record `first + k`, which is `chunk.subarray(at, at + recordSize)`. */
  write(chunk: Uint8Array, at: number, k: number): void;
}

/** What {@linkcode readRecordFile} reads. */
export interface RecordFileSpec {
  /** The file (plain, or gzip-compressed when its name ends in `.gz`). */
  path: string | URL;
  /** Prefix of error messages; should name the calling function and the file. */
  label: string;
  /** Bytes per record. */
  recordSize: number;
  /** Bytes before the first record (already validated by the caller). Default 0. */
  headerSize?: number;
  /** Records the file must hold. */
  expectedRecords: number;
  /**
   * Validates one record (a label range, say) before it is stored; throw a
   * {@linkcode DatasetFormatError} naming `offset`, the record's byte offset.
   */
  check?(chunk: Uint8Array, at: number, offset: number): void;
  /** The runs to copy out, in increasing order, not overlapping. */
  segments: RecordSegment[];
}

/** What {@linkcode checkRecordFile} checks: a file of `expectedRecords` records of `recordSize` bytes after a header. */
export type RecordFileShape = Pick<RecordFileSpec, "path" | "label" | "recordSize" | "headerSize" | "expectedRecords">;

function sizeRule(spec: RecordFileShape): { headerSize: number; expectedSize: number } {
  const headerSize = spec.headerSize ?? 0;
  return { headerSize, expectedSize: headerSize + spec.expectedRecords * spec.recordSize };
}

function checkPlainSize(spec: RecordFileShape, size: number): void {
  const { label, recordSize, expectedRecords } = spec;
  const { headerSize, expectedSize } = sizeRule(spec);
  if (size < headerSize || (size - headerSize) % recordSize !== 0) {
    const whole = Math.max(0, Math.floor((size - headerSize) / recordSize));
    const at = headerSize + whole * recordSize;
    throw new DatasetFormatError(
      `${label}: size ${size} bytes is not ${
        headerSize > 0 ? `a ${headerSize}-byte header plus ` : ""
      }a multiple of the ` +
        `${recordSize}-byte record size: the record at byte ${at} is truncated to ${size - at} bytes`,
    );
  }
  if (size !== expectedSize) {
    throw new DatasetFormatError(
      `${label}: holds ${(size - headerSize) / recordSize} records (${size} bytes), expected ${expectedRecords} ` +
        `(${expectedSize} bytes): the data ${size < expectedSize ? "ends" : "goes on past the last record"} at byte ${
          Math.min(size, expectedSize)
        }`,
    );
  }
}

/**
 * Checks, before anything is allocated for it, that a fixed-record file
 * holds exactly `expectedRecords` records of `recordSize` bytes after its
 * `headerSize`-byte header, reading no more than that:
 *
 * - a plain file must be a regular file of exactly that size (`stat`);
 * - a `.gz` file must be a regular file that could expand that far (at most
 *   {@linkcode MAX_GZIP_EXPANSION} times its size), and is then decompressed
 *   with nothing kept, stopping as soon as the data goes past the promised
 *   length.
 *
 * Memory stays bounded by a read chunk whatever the promise. Remote files
 * are not checked here (their size is only known by reading them).
 *
 * @throws DatasetFormatError naming the file, the byte offset and the rule
 */
export async function checkRecordFile(spec: RecordFileShape): Promise<void> {
  const { path, label } = spec;
  const { headerSize, expectedSize } = sizeRule(spec);
  if (typeof path !== "string" && path.protocol !== "file:") return;
  if (!displayPath(path).endsWith(".gz")) {
    checkPlainSize(spec, await regularFileSize(path, label, failFormat));
    return;
  }
  const { stream, size } = await openBytes(path, 0, label);
  const bound = size! * MAX_GZIP_EXPANSION + 1024;
  if (!Number.isSafeInteger(expectedSize) || expectedSize > bound) {
    await stream.cancel();
    throw new DatasetFormatError(
      `${label}: the header promises ${expectedSize} bytes (${headerSize}-byte header and ${spec.expectedRecords} ` +
        `records of ${spec.recordSize} bytes), more than a ${size}-byte gzip file can hold (at most ${bound})`,
    );
  }
  let seen = 0;
  for await (const chunk of stream) {
    seen += chunk.length;
    if (seen > expectedSize) {
      throw new DatasetFormatError(
        `${label}: holds more than the expected ${spec.expectedRecords} records: extra data at byte ${expectedSize} ` +
          `of the decompressed data`,
      );
    }
  }
  if (seen < expectedSize) {
    if (seen < headerSize) {
      throw new DatasetFormatError(`${label}: the data ends at byte ${seen}, inside the ${headerSize}-byte header`);
    }
    const n = Math.floor((seen - headerSize) / spec.recordSize);
    const partial = seen - headerSize - n * spec.recordSize;
    if (partial > 0) {
      throw new DatasetFormatError(
        `${label}: truncated record at byte ${seen - partial}: the data ends after ${partial} of its ` +
          `${spec.recordSize} bytes`,
      );
    }
    throw new DatasetFormatError(
      `${label}: holds ${n} records, expected ${spec.expectedRecords}: the data ends at byte ${seen} of the ` +
        `decompressed data`,
    );
  }
}

/**
 * Reads the records of `spec.segments` out of a fixed-record file and
 * validates the file's length.
 *
 * A plain file must be a regular file of exactly
 * `headerSize + expectedRecords · recordSize` bytes (checked with `stat`
 * before reading), and only the requested records are read: each segment is
 * streamed from a seek to its first record. A `.gz` file cannot be seeked or
 * sized up front, so it is streamed whole: every record is checked, reading
 * stops at the first byte past the expected length, and the decompressed
 * length must match (offsets in its errors count decompressed bytes). Call
 * {@linkcode checkRecordFile} first to check a file before allocating the
 * outputs.
 */
export async function readRecordFile(spec: RecordFileSpec): Promise<void> {
  const { path, label, recordSize, expectedRecords, check, segments } = spec;
  const headerSize = spec.headerSize ?? 0;
  const compressed = displayPath(path).endsWith(".gz");
  let end = 0;
  for (const s of segments) {
    if (s.first < end || s.first + s.count > expectedRecords) {
      throw new RangeError(
        `readRecordFile: segment [${s.first}, ${
          s.first + s.count
        }) overlaps the previous one or runs past record ${expectedRecords}`,
      );
    }
    end = s.first + s.count;
  }
  const remote = typeof path !== "string" && path.protocol !== "file:";
  if (!compressed && !remote) {
    checkPlainSize(spec, await regularFileSize(path, label, failFormat));
    for (const s of segments) {
      if (s.count === 0) continue;
      const startOffset = headerSize + s.first * recordSize;
      const { stream } = await openBytes(path, startOffset, label);
      await forEachRecord(stream, recordSize, (chunk, at, k) => {
        check?.(chunk, at, startOffset + k * recordSize);
        s.write(chunk, at, k);
        return k + 1 < s.count;
      }, { label, startOffset });
    }
    return;
  }
  let { stream } = await openBytes(path, 0, label);
  if (headerSize > 0) stream = (await takeHeader(stream, () => headerSize, label)).rest;
  const where = compressed ? " of the decompressed data" : "";
  let seg = 0;
  const n = await forEachRecord(stream, recordSize, (chunk, at, index) => {
    const offset = headerSize + index * recordSize;
    if (index >= expectedRecords) {
      throw new DatasetFormatError(
        `${label}: holds more than the expected ${expectedRecords} records: extra data at byte ${offset}${where}`,
      );
    }
    check?.(chunk, at, offset);
    while (seg < segments.length && index >= segments[seg].first + segments[seg].count) seg++;
    if (seg < segments.length && index >= segments[seg].first) {
      segments[seg].write(chunk, at, index - segments[seg].first);
    }
  }, { label, startOffset: headerSize });
  if (n < expectedRecords) {
    throw new DatasetFormatError(
      `${label}: holds ${n} records, expected ${expectedRecords}: the data ends at byte ${
        headerSize + n * recordSize
      }${where}`,
    );
  }
}

/**
 * Reads the header at the start of `stream`: `need(prefix)` says how many
 * bytes the header has given the bytes read so far (it may ask again once it
 * has more, e.g. to read a dimension count first). Returns the header and
 * the rest of the stream (cancelling `rest` cancels `stream`). A stream that
 * ends inside the header is a {@linkcode DatasetFormatError}.
 */
export async function takeHeader(
  stream: ReadableStream<Uint8Array>,
  need: (prefix: Uint8Array) => number,
  label = "header",
): Promise<{ header: Uint8Array; rest: ReadableStream<Uint8Array> }> {
  const reader = stream.getReader();
  let buf = new Uint8Array(0);
  let want = need(buf);
  try {
    while (true) {
      while (buf.length < want) {
        const { done, value } = await reader.read();
        if (done) {
          throw new DatasetFormatError(`${label}: the data ends at byte ${buf.length}, inside the ${want}-byte header`);
        }
        const grown = new Uint8Array(buf.length + value.length);
        grown.set(buf, 0);
        grown.set(value, buf.length);
        buf = grown;
      }
      // `need` may ask for more once it sees more of the header (a dimension count, say).
      const again = need(buf.subarray(0, want));
      if (again <= want) break;
      want = again;
    }
  } catch (e) {
    await reader.cancel().catch(() => {});
    reader.releaseLock();
    if (e instanceof DatasetFormatError) throw e;
    const why = e instanceof Error ? e.message : String(e);
    throw new DatasetFormatError(`${label}: cannot read the header: ${why}`, { cause: e });
  }
  const header = buf.slice(0, want);
  let leftover: Uint8Array | undefined = buf.length > want ? buf.subarray(want) : undefined;
  const rest = new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (leftover) {
        controller.enqueue(leftover);
        leftover = undefined;
        return;
      }
      const { done, value } = await reader.read();
      if (done) {
        reader.releaseLock();
        controller.close();
      } else controller.enqueue(value);
    },
    async cancel(reason) {
      await reader.cancel(reason);
    },
  });
  return { header, rest };
}

/** A path or `file:` URL as people read it (the pathname of a URL). */
export function displayPath(path: string | URL): string {
  return typeof path === "string" ? path : decodeURIComponent(path.pathname);
}

/** Whether `path` exists (and is readable as far as `stat` goes). */
export async function exists(path: string | URL): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    // A symbolic link loop is there; the reader that opens it names it in its own words.
    if (e instanceof Deno.errors.FilesystemLoop) return true;
    throw e;
  }
}

/** Joins a directory and a file name with one `/`. */
export function joinPath(dir: string, name: string): string {
  return dir.endsWith("/") ? dir + name : `${dir}/${name}`;
}

/**
 * Finds `name`, or failing that its gzipped `name.gz`, in `dir` (the loaders
 * read either); undefined when neither exists.
 */
export async function findDataFile(dir: string, name: string): Promise<string | undefined> {
  for (const candidate of [name, `${name}.gz`]) {
    const path = joinPath(dir, candidate);
    if (await exists(path)) return path;
  }
  return undefined;
}
