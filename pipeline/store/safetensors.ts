/**
 * The safetensors file format, as Hugging Face's `safetensors` library
 * writes and reads it (`safetensors.torch.load_file` in PyTorch), so that
 * gradstream checkpoints open directly in Python and PyTorch weights open here.
 *
 * Layout of a file:
 *
 * ```text
 * bytes 0..8        N, the header length: an unsigned 64-bit little-endian integer
 * bytes 8..8+N      the header: UTF-8 JSON, padded with spaces to a multiple of 8 bytes
 *                   { "__metadata__": { string: string },            (optional)
 *                     name: { "dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end] }, … }
 * bytes 8+N..       the data: each tensor's elements, row-major and little-endian,
 *                   at [begin, end) counted from byte 8+N; tensors tile the data with no gap or overlap
 * ```
 *
 * Element types: F64 and F32 are read and written as `Tensor`s; F16 and BF16
 * are read (widened exactly to float32 `Tensor`s) but not written; the
 * integer types (I64, I32, I16, I8, U64, U32, U16, U8, BOOL) are read and
 * written as `IntTensor`s over the matching typed array (BigInt64Array for
 * I64, Uint8Array for U8 and BOOL). `decodeSafetensors` reports each
 * tensor's stored dtype in `dtypes`.
 *
 * Decoding trusts nothing in the file: every error names the source and the
 * byte where the problem lies (0 for the header length, 8 for the header
 * itself, the absolute file offset of the bad range for tensor data).
 * Unknown keys inside a tensor's entry are ignored, as the reference
 * implementation does. Only little-endian hosts are supported (every platform
 * Deno runs on).
 *
 * @module
 */

import { formatShape, Tensor } from "../../layers/tensor.ts";
import { readRegularFile, readRegularFileSync } from "../../datasets/regular_file.ts";
import { writeFileAtomic, writeFileAtomicSync } from "./atomic_write.ts";

/** The element types of the format that gradstream reads. */
export type SafetensorsDType = "F64" | "F32" | "F16" | "BF16" | IntDType;

/** The integer (and boolean) element types, stored as `IntTensor`s. */
export type IntDType = "I64" | "I32" | "I16" | "I8" | "U64" | "U32" | "U16" | "U8" | "BOOL";

/** The typed arrays behind `IntTensor`s. */
export type IntData =
  | BigInt64Array
  | Int32Array
  | Int16Array
  | Int8Array
  | BigUint64Array
  | Uint32Array
  | Uint16Array
  | Uint8Array;

/**
 * An integer (or boolean) tensor, as labels or indices are stored: a dtype,
 * its typed array (I64 → BigInt64Array, I32 → Int32Array, …, U8 and BOOL →
 * Uint8Array) and a row-major shape.
 */
export interface IntTensor {
  /** The stored element type. */
  readonly dtype: IntDType;
  /** The elements, row-major. */
  readonly data: IntData;
  /** The extent of each axis; their product is `data.length`. */
  readonly shape: readonly number[];
}

/** A decoded tensor: a float `Tensor` (F64, F32, F16, BF16) or an `IntTensor`. */
export type SafetensorsValue = Tensor | IntTensor;

/**
 * What `encodeSafetensors` takes per name: a `Tensor` (F64 or F32), an
 * `IntTensor`, or a bare typed array, stored as a 1-D tensor of its type.
 */
export type SafetensorsInput = SafetensorsValue | Float64Array | Float32Array | IntData;

/** A decoded file. */
export interface SafetensorsFile {
  /** The tensors by name, in the order of their data in the file. */
  tensors: Record<string, SafetensorsValue>;
  /** The `__metadata__` strings; empty when the file has none. */
  metadata: Record<string, string>;
  /** Each tensor's stored dtype (F16 and BF16 tensors are decoded as float32). */
  dtypes: Record<string, SafetensorsDType>;
}

/** Options of `decodeSafetensors`. */
export interface DecodeSafetensorsOptions {
  /** What the bytes are, for error messages (a path). Default `"<bytes>"`. */
  source?: string;
}

/** A malformed safetensors file; `byte` is the file offset where the problem lies. */
export class SafetensorsError extends Error {
  /** The source named in `decodeSafetensors`'s options (a path or `"<bytes>"`). */
  readonly source: string;
  /** The absolute file offset of the problem. */
  readonly byte: number;

  /** Formats `message` as `${source}: ${message} (byte ${byte})`. */
  constructor(source: string, message: string, byte: number) {
    super(`${source}: ${message} (byte ${byte})`);
    this.name = "SafetensorsError";
    this.source = source;
    this.byte = byte;
  }
}

interface DTypeInfo {
  size: number;
  // deno-lint-ignore no-explicit-any
  array?: new (buffer: ArrayBuffer) => any;
}

const DTYPES: Readonly<Record<SafetensorsDType, DTypeInfo>> = {
  F64: { size: 8, array: Float64Array },
  F32: { size: 4, array: Float32Array },
  F16: { size: 2 },
  BF16: { size: 2 },
  I64: { size: 8, array: BigInt64Array },
  I32: { size: 4, array: Int32Array },
  I16: { size: 2, array: Int16Array },
  I8: { size: 1, array: Int8Array },
  U64: { size: 8, array: BigUint64Array },
  U32: { size: 4, array: Uint32Array },
  U16: { size: 2, array: Uint16Array },
  U8: { size: 1, array: Uint8Array },
  BOOL: { size: 1, array: Uint8Array },
};

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function checkHost(where: string): void {
  if (!LITTLE_ENDIAN) throw new Error(`${where}: this host is big-endian; safetensors needs a little-endian host`);
}

/** Whether `d` names a dtype: an own key of DTYPES, so `"__proto__"`, `"toString"` and the like are not. */
function isDType(d: unknown): d is SafetensorsDType {
  return typeof d === "string" && Object.hasOwn(DTYPES, d);
}

function isIntDType(d: unknown): d is IntDType {
  return isDType(d) && d !== "F64" && d !== "F32" && d !== "F16" && d !== "BF16";
}

/** The dtype of a bare typed array, if it is one `encodeSafetensors` takes. */
function dtypeOfArray(a: unknown): "F64" | "F32" | IntDType | undefined {
  if (a instanceof Float64Array) return "F64";
  if (a instanceof Float32Array) return "F32";
  if (a instanceof BigInt64Array) return "I64";
  if (a instanceof Int32Array) return "I32";
  if (a instanceof Int16Array) return "I16";
  if (a instanceof Int8Array) return "I8";
  if (a instanceof BigUint64Array) return "U64";
  if (a instanceof Uint32Array) return "U32";
  if (a instanceof Uint16Array) return "U16";
  if (a instanceof Uint8Array && !(a instanceof Uint8ClampedArray)) return "U8";
  return undefined;
}

/**
 * Wraps an integer typed array as an `IntTensor`, checking that the array
 * type fits `dtype` and the shape fits its length.
 *
 * @param dtype the stored type: I64 needs a BigInt64Array, U8 and BOOL a Uint8Array, …
 * @param data the elements, row-major
 * @param shape default `[data.length]`
 *
 * @example
 * ```ts
 * import { intTensor } from "./safetensors.ts";
 * const labels = intTensor("I64", new BigInt64Array([3n, 1n, 4n, 1n]), [2, 2]);
 * ```
 */
export function intTensor(dtype: IntDType, data: IntData, shape: readonly number[] = [data.length]): IntTensor {
  const t = { dtype, data, shape: Object.freeze([...shape]) };
  checkIntTensor(t, "intTensor", "data");
  return t;
}

function checkIntTensor(t: IntTensor, where: string, name: string): void {
  if (!isIntDType(t.dtype)) {
    throw new TypeError(`${where}: ${name} has dtype ${JSON.stringify(t.dtype)}; integer dtypes are ${intDTypes()}`);
  }
  const want = DTYPES[t.dtype].array!;
  if (!(t.data instanceof want) || t.data instanceof Uint8ClampedArray) {
    throw new TypeError(
      `${where}: ${name} has dtype ${t.dtype}, which needs a ${want.name}, got ${t.data?.constructor?.name}`,
    );
  }
  if (!Array.isArray(t.shape) || t.shape.some((d) => !Number.isSafeInteger(d) || d < 0)) {
    throw new RangeError(`${where}: ${name} shape [${t.shape}] is not a list of non-negative integers`);
  }
  const size = t.shape.reduce((p, d) => p * d, 1);
  if (size !== t.data.length) {
    throw new RangeError(
      `${where}: ${name} shape ${formatShape(t.shape)} holds ${size} elements but data has ${t.data.length}`,
    );
  }
}

function intDTypes(): string {
  return Object.keys(DTYPES).filter(isIntDType).join(", ");
}

interface Prepared {
  name: string;
  dtype: SafetensorsDType;
  shape: readonly number[];
  bytes: Uint8Array;
}

function prepare(name: string, value: unknown): Prepared {
  const where = "encodeSafetensors";
  const view = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  if (value instanceof Tensor) {
    return { name, dtype: value.dtype === "float32" ? "F32" : "F64", shape: value.shape, bytes: view(value.data) };
  }
  const bare = dtypeOfArray(value);
  if (bare !== undefined) {
    const a = value as ArrayBufferView & { length: number };
    return { name, dtype: bare, shape: [a.length], bytes: view(a) };
  }
  if (typeof value === "object" && value !== null && "dtype" in value && "data" in value && "shape" in value) {
    const t = value as IntTensor;
    checkIntTensor(t, where, `tensor ${JSON.stringify(name)}`);
    return { name, dtype: t.dtype, shape: t.shape, bytes: view(t.data) };
  }
  const what = value === null ? "null" : (value as object)?.constructor?.name ?? typeof value;
  throw new TypeError(
    `${where}: tensor ${JSON.stringify(name)} is a ${what}; expected a Tensor, an IntTensor or a typed array`,
  );
}

/**
 * Serialises tensors and metadata to the bytes of a safetensors file.
 * Tensors are laid out in the order of `tensors`' keys; the header is
 * compact JSON padded with spaces to a multiple of 8 bytes, so the data
 * starts 8-byte aligned. `__metadata__` is written when `metadata` has keys.
 *
 * @param tensors by name: `Tensor` (F64/F32), `IntTensor`, or a bare typed array (1-D)
 * @param metadata string → string pairs, e.g. `{ format: "pt" }`
 * @returns the file's bytes
 *
 * @example
 * ```ts
 * import { array } from "../../layers/tensor.ts";
 * import { decodeSafetensors, encodeSafetensors } from "./safetensors.ts";
 * const bytes = encodeSafetensors({ W1: array([[1, 2], [3, 4]], "float32") }, { epoch: "3" });
 * decodeSafetensors(bytes).metadata; // { epoch: "3" }
 * ```
 */
export function encodeSafetensors(
  tensors: Record<string, SafetensorsInput>,
  metadata: Record<string, string> = {},
): Uint8Array {
  checkHost("encodeSafetensors");
  if (typeof tensors !== "object" || tensors === null) {
    throw new TypeError("encodeSafetensors: tensors must be an object of name → tensor");
  }
  const meta = Object.entries(metadata ?? {});
  for (const [key, value] of meta) {
    if (typeof value !== "string") {
      throw new TypeError(
        `encodeSafetensors: metadata ${JSON.stringify(key)} is a ${typeof value}; values must be strings`,
      );
    }
  }
  const prepared: Prepared[] = [];
  for (const [name, value] of Object.entries(tensors)) {
    if (name === "__metadata__") throw new Error('encodeSafetensors: "__metadata__" cannot name a tensor');
    prepared.push(prepare(name, value));
  }
  // Built from entries so that a tensor named "__proto__" is an ordinary key.
  const entries: [string, unknown][] = [];
  if (meta.length > 0) entries.push(["__metadata__", Object.fromEntries(meta)]);
  let offset = 0;
  for (const p of prepared) {
    const end = offset + p.bytes.length;
    entries.push([p.name, { dtype: p.dtype, shape: [...p.shape], data_offsets: [offset, end] }]);
    offset = end;
  }
  const json = new TextEncoder().encode(JSON.stringify(Object.fromEntries(entries)));
  const headerLength = json.length + ((8 - (json.length % 8)) % 8);
  const out = new Uint8Array(8 + headerLength + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLength), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLength);
  let at = 8 + headerLength;
  for (const p of prepared) {
    out.set(p.bytes, at);
    at += p.bytes.length;
  }
  return out;
}

interface Entry {
  name: string;
  dtype: SafetensorsDType;
  shape: number[];
  begin: number;
  end: number;
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return typeof value === "object" ? "an object" : `a ${typeof value}`;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Parses the bytes of a safetensors file, checking everything: the header
 * length against the file, the header's UTF-8 and JSON, every entry's dtype,
 * shape and offsets, that each range holds exactly `prod(shape)·itemsize`
 * bytes, and that the ranges tile the data with no overlap, hole or trailing
 * bytes. The tensors are copies: they do not keep `bytes` alive.
 *
 * @param bytes the whole file
 * @param options `{ source = "<bytes>" }`, named in errors
 * @returns `{ tensors, metadata, dtypes }`, tensors in data order
 * @throws SafetensorsError like `run.safetensors: tensor "W1" data_offsets [0, 96] end beyond the 80 data bytes (byte 1234)`
 */
export function decodeSafetensors(bytes: Uint8Array, options: DecodeSafetensorsOptions = {}): SafetensorsFile {
  checkHost("decodeSafetensors");
  const source = options.source ?? "<bytes>";
  if (!(bytes instanceof Uint8Array)) {
    throw new TypeError(`decodeSafetensors: ${source} must be a Uint8Array, got ${describe(bytes)}`);
  }
  const fail = (message: string, byte: number) => new SafetensorsError(source, message, byte);

  if (bytes.length < 8) throw fail(`file is ${bytes.length} bytes, too short to hold the 8-byte header length`, 0);
  const n = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(bytes.length - 8)) {
    throw fail(`header length ${n} runs beyond the ${bytes.length}-byte file`, 0);
  }
  const headerLength = Number(n);
  const dataStart = 8 + headerLength;
  const dataLength = bytes.length - dataStart;

  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes.subarray(8, dataStart));
  } catch {
    throw fail("header is not valid UTF-8", 8);
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    throw fail(`header is not valid JSON: ${(e as Error).message}`, 8);
  }
  if (!isRecord(header)) throw fail(`header is ${describe(header)}, not a JSON object`, 8);

  const metadata: [string, string][] = [];
  const entries: Entry[] = [];
  for (const [name, value] of Object.entries(header)) {
    const what = `tensor ${JSON.stringify(name)}`;
    if (name === "__metadata__") {
      if (!isRecord(value)) throw fail(`__metadata__ is ${describe(value)}, not an object of strings`, 8);
      for (const [key, v] of Object.entries(value)) {
        if (typeof v !== "string") throw fail(`__metadata__ ${JSON.stringify(key)} is ${describe(v)}, not a string`, 8);
        metadata.push([key, v]);
      }
      continue;
    }
    if (!isRecord(value)) throw fail(`${what} is ${describe(value)}, not an object with dtype, shape, data_offsets`, 8);
    const { dtype, shape, data_offsets: offsets } = value;
    if (!isDType(dtype)) {
      throw fail(`${what} has unknown dtype ${JSON.stringify(dtype)}; known: ${Object.keys(DTYPES).join(", ")}`, 8);
    }
    if (!Array.isArray(shape) || shape.some((d) => !Number.isSafeInteger(d) || d < 0)) {
      throw fail(`${what} shape ${JSON.stringify(shape)} is not a list of non-negative integers`, 8);
    }
    if (
      !Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) ||
      offsets[0] > offsets[1]
    ) {
      throw fail(`${what} data_offsets ${JSON.stringify(offsets)} are not two integers 0 ≤ begin ≤ end`, 8);
    }
    const [begin, end] = offsets as number[];
    const { size } = DTYPES[dtype];
    let need = size;
    for (const d of shape) need *= d;
    const range = `data_offsets [${begin}, ${end}]`;
    if (!Number.isSafeInteger(need) || end - begin !== need) {
      throw fail(
        `${what} ${range} hold ${end - begin} bytes but ${dtype} shape ${formatShape(shape)} needs ${need}`,
        dataStart + begin,
      );
    }
    if (end > dataLength) throw fail(`${what} ${range} end beyond the ${dataLength} data bytes`, dataStart + end);
    entries.push({ name, dtype: dtype as SafetensorsDType, shape, begin, end });
  }

  // The ranges must tile [0, dataLength): sort, then walk.
  const sorted = entries.map((e, i) => ({ e, i })).sort((a, b) =>
    a.e.begin - b.e.begin || a.e.end - b.e.end || a.i - b.i
  ).map(({ e }) => e);
  let cursor = 0;
  let previous: Entry | undefined;
  for (const e of sorted) {
    const range = `data_offsets [${e.begin}, ${e.end}]`;
    if (e.begin < cursor) {
      throw fail(
        `tensor ${JSON.stringify(e.name)} ${range} overlaps tensor ${JSON.stringify(previous!.name)} ` +
          `data_offsets [${previous!.begin}, ${previous!.end}]`,
        dataStart + e.begin,
      );
    }
    if (e.begin > cursor) {
      throw fail(
        `${e.begin - cursor} data bytes before tensor ${JSON.stringify(e.name)} ${range} belong to no tensor`,
        dataStart + cursor,
      );
    }
    cursor = e.end;
    previous = e;
  }
  if (cursor < dataLength) {
    throw fail(`${dataLength - cursor} data bytes after the last tensor belong to no tensor`, dataStart + cursor);
  }

  const tensors: [string, SafetensorsValue][] = [];
  const dtypes: [string, SafetensorsDType][] = [];
  for (const e of sorted) {
    // slice() copies into a fresh, aligned buffer: the file's ranges need not be aligned.
    const raw = bytes.slice(dataStart + e.begin, dataStart + e.end);
    let value: SafetensorsValue;
    if (e.dtype === "F16") value = new Tensor(halfToFloat32(new Uint16Array(raw.buffer)), e.shape);
    else if (e.dtype === "BF16") value = new Tensor(bfloat16ToFloat32(new Uint16Array(raw.buffer)), e.shape);
    else if (e.dtype === "F64" || e.dtype === "F32") {
      value = new Tensor(new DTYPES[e.dtype].array!(raw.buffer), e.shape);
    } else value = { dtype: e.dtype, data: new DTYPES[e.dtype].array!(raw.buffer), shape: Object.freeze(e.shape) };
    tensors.push([e.name, value]);
    dtypes.push([e.name, e.dtype]);
  }
  return {
    tensors: Object.fromEntries(tensors),
    metadata: Object.fromEntries(metadata),
    dtypes: Object.fromEntries(dtypes),
  };
}

// IEEE half → float32, exactly (every half is a float32), subnormals, infinities and NaNs included.
function halfToFloat32(h: Uint16Array): Float32Array {
  const out = new Float32Array(h.length);
  for (let i = 0; i < h.length; i++) {
    const x = h[i];
    const sign = x & 0x8000 ? -1 : 1;
    const exp = (x >> 10) & 0x1f, frac = x & 0x3ff;
    if (exp === 0) out[i] = sign * frac * 2 ** -24;
    else if (exp === 31) out[i] = frac === 0 ? sign * Infinity : NaN;
    else out[i] = sign * (1024 + frac) * 2 ** (exp - 25);
  }
  return out;
}

// bfloat16 is the top half of a float32.
function bfloat16ToFloat32(h: Uint16Array): Float32Array {
  const bits = new Uint32Array(h.length);
  for (let i = 0; i < h.length; i++) bits[i] = h[i] << 16;
  return new Float32Array(bits.buffer);
}

/**
 * Writes a safetensors file atomically (see `writeFileAtomic`): readers see
 * the old file or the whole new one.
 *
 * @param path the file to create or replace
 * @param tensors as `encodeSafetensors`
 * @param metadata as `encodeSafetensors`
 */
export async function writeSafetensors(
  path: string,
  tensors: Record<string, SafetensorsInput>,
  metadata: Record<string, string> = {},
): Promise<void> {
  await writeFileAtomic(path, encodeSafetensors(tensors, metadata));
}

/** The synchronous twin of `writeSafetensors`. */
export function writeSafetensorsSync(
  path: string,
  tensors: Record<string, SafetensorsInput>,
  metadata: Record<string, string> = {},
): void {
  writeFileAtomicSync(path, encodeSafetensors(tensors, metadata));
}

/**
 * Reads and decodes a safetensors file; errors name `path`. Only a regular
 * file is read (a FIFO, device or directory is a {@linkcode SafetensorsError}),
 * so memory is bounded by the file's size.
 *
 * @example
 * ```ts
 * import { array } from "../../layers/tensor.ts";
 * import { readSafetensors, writeSafetensors } from "./safetensors.ts";
 * const path = `${await Deno.makeTempDir()}/run.safetensors`;
 * await writeSafetensors(path, { W1: array([[1, 2]]) }, { epoch: "1" });
 * const { tensors, metadata } = await readSafetensors(path); // tensors.W1, metadata.epoch
 * ```
 */
export async function readSafetensors(path: string): Promise<SafetensorsFile> {
  return decodeSafetensors(await readRegularFile(path, path, notRegular(path)), { source: path });
}

/** The synchronous twin of `readSafetensors`. */
export function readSafetensorsSync(path: string): SafetensorsFile {
  return decodeSafetensors(readRegularFileSync(path, path, notRegular(path)), { source: path });
}

// The regular-file check's message starts with the path, which SafetensorsError adds itself.
const notRegular = (path: string) => (message: string) => new SafetensorsError(path, message.slice(path.length + 2), 0);
