import { assert, assertEquals, assertLessOrEqual, assertRejects, assertStrictEquals, assertThrows } from "@std/assert";
import { array, Tensor, zeros } from "../layers/tensor.ts";
import {
  decodeSafetensors,
  encodeSafetensors,
  type IntTensor,
  intTensor,
  readSafetensors,
  readSafetensorsSync,
  type SafetensorsDType,
  SafetensorsError,
  type SafetensorsInput,
  type SafetensorsValue,
  writeSafetensors,
  writeSafetensorsSync,
} from "../pipeline/store/safetensors.ts";
import { writeFileAtomic, writeFileAtomicSync } from "../pipeline/store/atomic_write.ts";
import { readFixture } from "./helpers.ts";
import { withTempDir } from "./_bytes.ts";

const fixtures = new URL("./fixtures/", import.meta.url);
const checkScript = new URL("safetensors_check.py", fixtures).pathname;

// ---------------------------------------------------------------------------
// Helpers

/** Deterministic pseudo-random numbers (a small LCG), so tests need no seed plumbing. */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  };
}

function randomTensor(shape: number[], dtype: "float32" | "float64", next: () => number): Tensor {
  const t = zeros(shape, dtype);
  for (let i = 0; i < t.size; i++) t.data[i] = next();
  return t;
}

function assertSameValue(actual: SafetensorsValue, expected: SafetensorsInput, name: string): void {
  if (expected instanceof Tensor) {
    assert(actual instanceof Tensor, name);
    assertEquals(actual.dtype, expected.dtype, name);
    assertEquals([...actual.shape], [...expected.shape], name);
    assertEquals(actual.data, expected.data, name);
  } else if (ArrayBuffer.isView(expected)) {
    const data = actual.data;
    assertEquals(data.constructor, expected.constructor, name);
    assertEquals([...actual.shape], [(expected as Uint8Array).length], name);
    assertEquals(data, expected, name);
  } else {
    const e = expected as IntTensor;
    assert(!(actual instanceof Tensor), name);
    assertEquals((actual as IntTensor).dtype, e.dtype, name);
    assertEquals([...actual.shape], [...e.shape], name);
    assertEquals(actual.data, e.data, name);
  }
}

/** A file with a hand-written header (text, padded or not) and `dataLength` zero bytes of data. */
function craft(header: string | object, dataLength: number): Uint8Array {
  const text = typeof header === "string" ? header : JSON.stringify(header);
  const json = new TextEncoder().encode(text);
  const out = new Uint8Array(8 + json.length + dataLength);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  return out;
}

function decodeError(bytes: Uint8Array, source = "run.safetensors"): SafetensorsError {
  return assertThrows(() => decodeSafetensors(bytes, { source }), SafetensorsError);
}

async function sha256(bytes: ArrayBufferView): Promise<string> {
  const view = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", view.slice()));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

// ---------------------------------------------------------------------------
// Round trips

Deno.test("encode then decode gives back F32 and F64 tensors and metadata exactly", () => {
  const next = lcg(1);
  const tensors = {
    W1: randomTensor([3, 4], "float64", next),
    b1: randomTensor([4], "float32", next),
    W2: randomTensor([2, 3, 2, 2], "float32", next),
  };
  const metadata = { epoch: "3", note: "ünïcode — ok", "": "empty key" };
  const file = decodeSafetensors(encodeSafetensors(tensors, metadata));
  assertEquals(Object.keys(file.tensors), ["W1", "b1", "W2"]);
  for (const [name, t] of Object.entries(tensors)) assertSameValue(file.tensors[name], t, name);
  assertEquals(file.metadata, metadata);
  assertEquals(file.dtypes, { W1: "F64", b1: "F32", W2: "F32" });
});

Deno.test("special float values survive bit for bit (−0, subnormals, ±Infinity, NaN)", () => {
  const f64 = new Float64Array([-0, 5e-324, Number.MAX_VALUE, Infinity, -Infinity, NaN]);
  const f32 = new Float32Array([-0, 1e-45, 3.4028234663852886e38, -Infinity, NaN]);
  const back = decodeSafetensors(encodeSafetensors({ f64, f32 })).tensors;
  assertEquals(new Uint8Array(back.f64.data.buffer), new Uint8Array(f64.buffer));
  assertEquals(new Uint8Array(back.f32.data.buffer), new Uint8Array(f32.buffer));
});

Deno.test("no metadata writes no __metadata__ and decodes as {}", () => {
  for (const metadata of [undefined, {}]) {
    const bytes = encodeSafetensors({ x: array([1, 2]) }, metadata);
    const header = new TextDecoder().decode(
      bytes.subarray(8, 8 + Number(new DataView(bytes.buffer).getBigUint64(0, true))),
    );
    assert(!header.includes("__metadata__"), header);
    assertEquals(decodeSafetensors(bytes).metadata, {});
  }
});

Deno.test("zero-size and 0-d tensors round-trip, and an empty file of no tensors is valid", () => {
  const tensors = {
    before: array([1, 2, 3], "float32"),
    empty: zeros([0, 3], "float32"),
    empty2: zeros([4, 0, 2]),
    scalar: new Tensor(new Float64Array([7.5]), []),
    after: array([[4]], "float32"),
  };
  const file = decodeSafetensors(encodeSafetensors(tensors));
  for (const [name, t] of Object.entries(tensors)) assertSameValue(file.tensors[name], t, name);
  const none = encodeSafetensors({});
  assertEquals(none.length, 16); // length + "{}" padded to 8
  assertEquals(decodeSafetensors(none), { tensors: {}, metadata: {}, dtypes: {} });
});

Deno.test("many tensors (300, mixed dtypes and shapes) round-trip in order", () => {
  const next = lcg(7);
  const tensors: Record<string, SafetensorsInput> = {};
  for (let i = 0; i < 300; i++) {
    const shape = [1 + ((i * 7) % 5), (i * 3) % 4];
    tensors[`layer${i}.${i % 2 ? "W" : "b"}`] = i % 3 === 0
      ? new Int32Array([i, -i, i * 1000])
      : randomTensor(shape, i % 2 ? "float32" : "float64", next);
  }
  const file = decodeSafetensors(encodeSafetensors(tensors, { count: "300" }));
  assertEquals(Object.keys(file.tensors), Object.keys(tensors));
  for (const [name, t] of Object.entries(tensors)) assertSameValue(file.tensors[name], t, name);
});

Deno.test("integer and bool tensors round-trip as IntTensors over the matching typed array", () => {
  const tensors: Record<string, SafetensorsInput> = {
    i64: intTensor("I64", new BigInt64Array([2n ** 62n, -(2n ** 62n), -1n, 2n ** 53n + 1n]), [2, 2]),
    u64: new BigUint64Array([2n ** 64n - 1n]),
    i32: intTensor("I32", new Int32Array([-(2 ** 31), 2 ** 31 - 1, 0, 5, 6, 7]), [2, 3]),
    u32: new Uint32Array([2 ** 32 - 1]),
    i16: new Int16Array([-32768, 32767]),
    u16: new Uint16Array([65535]),
    i8: new Int8Array([-128, 127]),
    u8: new Uint8Array([0, 255, 3]), // 3 bytes: the next tensor starts unaligned
    f32after: array([1.5, -2.25], "float32"),
    mask: intTensor("BOOL", new Uint8Array([1, 0, 1])),
  };
  const file = decodeSafetensors(encodeSafetensors(tensors));
  for (const [name, t] of Object.entries(tensors)) assertSameValue(file.tensors[name], t, name);
  assertEquals(file.dtypes, {
    i64: "I64",
    u64: "U64",
    i32: "I32",
    u32: "U32",
    i16: "I16",
    u16: "U16",
    i8: "I8",
    u8: "U8",
    f32after: "F32",
    mask: "BOOL",
  });
});

Deno.test("names such as __proto__, constructor and non-ASCII text are ordinary keys", () => {
  const tensors: Record<string, SafetensorsInput> = {};
  Object.defineProperty(tensors, "__proto__", { value: array([1]), enumerable: true });
  tensors["constructor"] = array([2]);
  tensors["é λ/x.y"] = array([3]);
  const metadata: Record<string, string> = {};
  Object.defineProperty(metadata, "__proto__", { value: "meta", enumerable: true });
  const file = decodeSafetensors(encodeSafetensors(tensors, metadata));
  assertEquals(Object.keys(file.tensors), ["__proto__", "constructor", "é λ/x.y"]);
  assertEquals(Array.from(Object.getOwnPropertyDescriptor(file.tensors, "__proto__")!.value.data), [1]);
  assertEquals(Object.getOwnPropertyDescriptor(file.metadata, "__proto__")!.value, "meta");
  assertEquals(Object.getPrototypeOf(file.tensors), Object.prototype);
});

Deno.test("decoded tensors are copies that do not share the file's bytes", () => {
  const bytes = encodeSafetensors({ x: array([1, 2], "float32") });
  const { tensors } = decodeSafetensors(bytes);
  bytes.fill(0, bytes.length - 8);
  assertEquals(Array.from(tensors.x.data as Float32Array), [1, 2]);
});

Deno.test("encoding a Tensor that views part of a larger buffer writes only its elements", () => {
  const big = new Float64Array([9, 1, 2, 9]);
  const t = new Tensor(big.subarray(1, 3), [2]);
  assertEquals(Array.from(decodeSafetensors(encodeSafetensors({ t })).tensors.t.data as Float64Array), [1, 2]);
});

// ---------------------------------------------------------------------------
// Byte layout

Deno.test("a tiny file is byte-exact: u64 header length, compact JSON padded with spaces to 8, little-endian data", () => {
  const bytes = encodeSafetensors({ a: array([1, 2], "float32") }, { k: "v" });
  const header = '{"__metadata__":{"k":"v"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}';
  assertEquals(header.length, 79);
  const expected = new Uint8Array([
    80,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    ...new TextEncoder().encode(header + " "),
    0,
    0,
    0x80,
    0x3f, // 1.0f
    0,
    0,
    0,
    0x40, // 2.0f
  ]); // deno-fmt-ignore
  assertEquals(bytes, expected);
});

Deno.test("the header is padded to a multiple of 8 for every name length, so the data is 8-byte aligned", () => {
  for (let extra = 0; extra < 9; extra++) {
    const bytes = encodeSafetensors({ ["x".repeat(1 + extra)]: array([1]) });
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    assertEquals(n % 8, 0, `name length ${1 + extra}`);
    const text = new TextDecoder().decode(bytes.subarray(8, 8 + n));
    assertEquals(text, text.trimEnd() + " ".repeat(n - text.trimEnd().length));
    assertLessOrEqual(n - text.trimEnd().length, 7);
    assertEquals(new Float64Array(bytes.slice(8 + n).buffer)[0], 1);
  }
});

// ---------------------------------------------------------------------------
// Decode errors

Deno.test("decode rejects a file shorter than the 8-byte header length", () => {
  const e = decodeError(new Uint8Array(5));
  assertEquals(e.message, "run.safetensors: file is 5 bytes, too short to hold the 8-byte header length (byte 0)");
  assertEquals([e.source, e.byte], ["run.safetensors", 0]);
});

Deno.test("decode rejects a header length beyond the file", () => {
  const bytes = craft("{}", 0);
  new DataView(bytes.buffer).setBigUint64(0, 2n ** 63n, true);
  assertEquals(
    decodeError(bytes).message,
    "run.safetensors: header length 9223372036854775808 runs beyond the 10-byte file (byte 0)",
  );
  new DataView(bytes.buffer).setBigUint64(0, 3n, true);
  assertEquals(decodeError(bytes).message, "run.safetensors: header length 3 runs beyond the 10-byte file (byte 0)");
});

Deno.test("decode rejects a header that is not UTF-8, not JSON, or not an object", () => {
  const bad = craft("{} ", 0);
  bad[10] = 0xff;
  assertEquals(decodeError(bad).message, "run.safetensors: header is not valid UTF-8 (byte 8)");
  const notJson = decodeError(craft('{"a": ', 0)).message;
  assert(notJson.startsWith("run.safetensors: header is not valid JSON: "), notJson);
  assert(notJson.endsWith(" (byte 8)"), notJson);
  assertEquals(
    decodeError(craft("[1, 2]", 0)).message,
    "run.safetensors: header is an array, not a JSON object (byte 8)",
  );
  assertEquals(decodeError(craft("null", 0)).message, "run.safetensors: header is null, not a JSON object (byte 8)");
});

Deno.test("decode rejects metadata that is not an object of strings", () => {
  assertEquals(
    decodeError(craft({ __metadata__: ["x"] }, 0)).message,
    "run.safetensors: __metadata__ is an array, not an object of strings (byte 8)",
  );
  assertEquals(
    decodeError(craft({ __metadata__: { epoch: 3 } }, 0)).message,
    'run.safetensors: __metadata__ "epoch" is a number, not a string (byte 8)',
  );
});

Deno.test("decode rejects malformed entries: not an object, unknown dtype, bad shape, bad data_offsets", () => {
  const entry = (e: unknown) => decodeError(craft({ W1: e }, 80)).message;
  assertEquals(
    entry([1]),
    'run.safetensors: tensor "W1" is an array, not an object with dtype, shape, data_offsets (byte 8)',
  );
  assertEquals(
    entry({ dtype: "F8_E4M3", shape: [80], data_offsets: [0, 80] }),
    'run.safetensors: tensor "W1" has unknown dtype "F8_E4M3"; known: F64, F32, F16, BF16, I64, I32, I16, I8, U64, U32, U16, U8, BOOL (byte 8)',
  );
  assertEquals(
    entry({ shape: [80], data_offsets: [0, 80] }),
    'run.safetensors: tensor "W1" has unknown dtype undefined; known: F64, F32, F16, BF16, I64, I32, I16, I8, U64, U32, U16, U8, BOOL (byte 8)',
  );
  for (const shape of [[4, -5], [2.5], "20", [1e300]]) {
    assertEquals(
      entry({ dtype: "F32", shape, data_offsets: [0, 80] }),
      `run.safetensors: tensor "W1" shape ${JSON.stringify(shape)} is not a list of non-negative integers (byte 8)`,
    );
  }
  for (const offsets of [[0], [80, 0], [0, 80, 80], [-8, 72], [0, "80"], null]) {
    assertEquals(
      entry({ dtype: "F32", shape: [4, 5], data_offsets: offsets }),
      `run.safetensors: tensor "W1" data_offsets ${
        JSON.stringify(offsets)
      } are not two integers 0 ≤ begin ≤ end (byte 8)`,
    );
  }
});

Deno.test("decode rejects data_offsets whose length disagrees with shape and dtype", () => {
  const bytes = craft({ W1: { dtype: "F32", shape: [4, 5], data_offsets: [0, 96] } }, 96);
  const dataStart = bytes.length - 96;
  assertEquals(
    decodeError(bytes).message,
    `run.safetensors: tensor "W1" data_offsets [0, 96] hold 96 bytes but F32 shape (4, 5) needs 80 (byte ${dataStart})`,
  );
  // A shape whose byte count overflows 2^53 cannot match.
  const huge = craft({ x: { dtype: "F64", shape: [2 ** 26, 2 ** 26, 2 ** 26], data_offsets: [0, 8] } }, 8);
  assert(decodeError(huge).message.includes("needs 2.4178516392292583e+24"));
});

Deno.test("decode rejects truncated data: the brief's example message", () => {
  // A good file cut short: its last tensor now ends beyond the data.
  const good = encodeSafetensors({ b: array([1, 2]), W1: zeros([4, 6], "float32") });
  const bytes = good.subarray(0, good.length - 16);
  const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  const e = decodeError(bytes);
  assertEquals(
    e.message,
    `run.safetensors: tensor "W1" data_offsets [16, 112] end beyond the 96 data bytes (byte ${8 + n + 112})`,
  );
  assertEquals(e.byte, 8 + n + 112);
});

Deno.test("decode rejects overlapping ranges, holes, and trailing bytes", () => {
  const f32 = (begin: number) => ({ dtype: "F32", shape: [2], data_offsets: [begin, begin + 8] });
  let bytes = craft({ a: f32(0), b: f32(4) }, 12);
  let start = bytes.length - 12;
  assertEquals(
    decodeError(bytes).message,
    `run.safetensors: tensor "b" data_offsets [4, 12] overlaps tensor "a" data_offsets [0, 8] (byte ${start + 4})`,
  );
  bytes = craft({ a: f32(0), b: f32(0) }, 8);
  assert(decodeError(bytes).message.includes('tensor "b" data_offsets [0, 8] overlaps tensor "a"'));
  // A zero-size tensor inside another's range overlaps it too.
  bytes = craft({ a: f32(0), z: { dtype: "F32", shape: [0], data_offsets: [4, 4] } }, 8);
  assert(decodeError(bytes).message.includes('tensor "z" data_offsets [4, 4] overlaps tensor "a"'));
  bytes = craft({ a: f32(0), b: f32(12) }, 20);
  start = bytes.length - 20;
  assertEquals(
    decodeError(bytes).message,
    `run.safetensors: 4 data bytes before tensor "b" data_offsets [12, 20] belong to no tensor (byte ${start + 8})`,
  );
  bytes = craft({ b: f32(8) }, 16);
  start = bytes.length - 16;
  assertEquals(
    decodeError(bytes).message,
    `run.safetensors: 8 data bytes before tensor "b" data_offsets [8, 16] belong to no tensor (byte ${start})`,
  );
  bytes = craft({ a: f32(0) }, 11);
  start = bytes.length - 11;
  assertEquals(
    decodeError(bytes).message,
    `run.safetensors: 3 data bytes after the last tensor belong to no tensor (byte ${start + 8})`,
  );
  assertEquals(
    decodeError(craft({}, 1)).message,
    `run.safetensors: 1 data bytes after the last tensor belong to no tensor (byte 10)`,
  );
});

Deno.test("decode accepts what the format allows: unpadded headers, any entry order, unknown entry keys", () => {
  const bytes = craft({
    b: { dtype: "F32", shape: [1], data_offsets: [4, 8], extra: "ignored" },
    a: { dtype: "F32", shape: [1], data_offsets: [0, 4] },
  }, 8);
  const file = decodeSafetensors(bytes);
  assertEquals(Object.keys(file.tensors), ["a", "b"]); // data order
  const fails = decodeSafetensors(craft({}, 0), { source: "x" });
  assertEquals(fails.tensors, {});
});

Deno.test("decode errors name <bytes> when no source is given", () => {
  assertThrows(() => decodeSafetensors(new Uint8Array(3)), SafetensorsError, "<bytes>: file is 3 bytes");
  assertThrows(() => decodeSafetensors([1, 2] as unknown as Uint8Array), TypeError, "decodeSafetensors: <bytes>");
});

// ---------------------------------------------------------------------------
// Encode errors

Deno.test("encode rejects non-string metadata, a tensor named __metadata__, and values it cannot store", () => {
  assertThrows(
    () => encodeSafetensors({}, { epoch: 3 as unknown as string }),
    TypeError,
    'encodeSafetensors: metadata "epoch" is a number; values must be strings',
  );
  assertThrows(
    () => encodeSafetensors({ __metadata__: array([1]) }),
    Error,
    'encodeSafetensors: "__metadata__" cannot name a tensor',
  );
  assertThrows(
    () => encodeSafetensors({ x: [1, 2] as unknown as Tensor }),
    TypeError,
    'encodeSafetensors: tensor "x" is a Array; expected a Tensor, an IntTensor or a typed array',
  );
  assertThrows(
    () => encodeSafetensors({ x: new Uint8ClampedArray(2) as unknown as Uint8Array }),
    TypeError,
    'tensor "x" is a Uint8ClampedArray',
  );
  assertThrows(
    () => encodeSafetensors({ x: { dtype: "I64", data: new Int32Array(2), shape: [2] } }),
    TypeError,
    'encodeSafetensors: tensor "x" has dtype I64, which needs a BigInt64Array, got Int32Array',
  );
  assertThrows(
    () => encodeSafetensors({ x: { dtype: "F16" as "I8", data: new Int8Array(2), shape: [2] } }),
    TypeError,
    'tensor "x" has dtype "F16"; integer dtypes are I64, I32, I16, I8, U64, U32, U16, U8, BOOL',
  );
  assertThrows(
    () => encodeSafetensors({ x: { dtype: "I32", data: new Int32Array(6), shape: [4, 2] } }),
    RangeError,
    'encodeSafetensors: tensor "x" shape (4, 2) holds 8 elements but data has 6',
  );
  assertThrows(() => intTensor("U8", new Uint8Array(6), [2, -3]), RangeError, "intTensor: data shape [2,-3]");
});

// ---------------------------------------------------------------------------
// Files written by Python's safetensors (tests/fixtures/safetensors_check.py make)

interface Described {
  metadata: Record<string, string>;
  order: string[];
  tensors: Record<string, { dtype: SafetensorsDType; shape: number[]; values: (number | string)[] }>;
}
const described = await readFixture("safetensors_check.json");

function expectedValue(v: number | string, dtype: SafetensorsDType): number | bigint {
  if (dtype === "I64" || dtype === "U64") return BigInt(v);
  if (v === "nan") return NaN;
  if (v === "inf") return Infinity;
  if (v === "-inf") return -Infinity;
  return v as number;
}

function checkAgainstDescription(file: ReturnType<typeof decodeSafetensors>, d: Described): void {
  assertEquals(file.metadata, d.metadata);
  assertEquals(Object.keys(file.tensors), d.order);
  for (const name of d.order) {
    const want = d.tensors[name];
    const got = file.tensors[name];
    assertEquals(file.dtypes[name], want.dtype, name);
    assertEquals([...got.shape], want.shape, name);
    const isFloat = ["F64", "F32", "F16", "BF16"].includes(want.dtype);
    assertEquals(got instanceof Tensor, isFloat, name);
    if (got instanceof Tensor) assertEquals(got.dtype, want.dtype === "F64" ? "float64" : "float32", name);
    else assertEquals(got.dtype, want.dtype, name);
    // Object.is: -0 and NaN are checked exactly too.
    assertEquals(
      Array.from(got.data as ArrayLike<number | bigint>),
      want.values.map((v) => expectedValue(v, want.dtype)),
      name,
    );
  }
}

Deno.test("a file written by Python's safetensors decodes exactly (every dtype, 0-d, zero-size, metadata)", async () => {
  const bytes = await Deno.readFile(new URL("safetensors_check.safetensors", fixtures));
  checkAgainstDescription(decodeSafetensors(bytes), described["safetensors_check.safetensors"]);
});

Deno.test("re-encoding the Python-written file reproduces it byte for byte", async () => {
  const bytes = await Deno.readFile(new URL("safetensors_check.safetensors", fixtures));
  const { tensors, metadata } = decodeSafetensors(bytes);
  assertEquals(encodeSafetensors(tensors, metadata), bytes);
});

Deno.test("F16 and BF16 from Python decode to exactly equal float32 tensors", async () => {
  const bytes = await Deno.readFile(new URL("safetensors_check_half.safetensors", fixtures));
  const file = decodeSafetensors(bytes);
  checkAgainstDescription(file, described["safetensors_check_half.safetensors"]);
  assertEquals(file.dtypes, { bf: "BF16", h: "F16" });
});

// ---------------------------------------------------------------------------
// Interoperability: Python reads a file our encoder wrote (skipped when Python or the module is missing)

const PYTHON = "/usr/bin/python3";
function probePython(): { numpy: boolean; safetensors: boolean } {
  try {
    const out = new Deno.Command(PYTHON, {
      args: [
        "-c",
        "import importlib.util as u; print(u.find_spec('numpy') is not None, u.find_spec('safetensors') is not None)",
      ],
      stdout: "piped",
      stderr: "null",
    }).outputSync();
    const [numpy, safetensors] = new TextDecoder().decode(out.stdout).trim().split(" ");
    return { numpy: out.success && numpy === "True", safetensors: out.success && safetensors === "True" };
  } catch {
    return { numpy: false, safetensors: false };
  }
}
const python = probePython();
if (!python.numpy) {
  console.warn(`safetensors_test: ${PYTHON} with numpy not found; Python interoperability tests skipped`);
} else if (!python.safetensors) {
  console.warn(
    "safetensors_test: Python module safetensors not installed; the official-library test is skipped " +
      `(install: ${PYTHON} -m pip install --break-system-packages safetensors)`,
  );
}

interface PythonView {
  official: unknown;
  reference: unknown;
  ours: Record<string, unknown>;
  metadata: Record<string, string>;
}
let pythonView: Promise<PythonView> | undefined;

/** Writes a file with our encoder and asks safetensors_check.py what Python sees (once for both tests). */
function askPython(): Promise<PythonView> {
  pythonView ??= (async () => {
    const dir = await Deno.makeTempDir({ prefix: "gradstream-st-" });
    try {
      const next = lcg(42);
      const tensors: Record<string, SafetensorsInput> = {
        W1: randomTensor([3, 4], "float64", next),
        b1: randomTensor([4], "float32", next),
        "conv.W": randomTensor([2, 3, 3, 3], "float32", next),
        scalar: new Tensor(new Float32Array([2.5]), []),
        empty: zeros([0, 5]),
        labels: new Int32Array([3, 1, 4, 1, 5]),
        big: intTensor("I64", new BigInt64Array([2n ** 62n, -3n, 2n ** 53n + 1n, 0n]), [2, 2]),
        pixels: intTensor("U8", new Uint8Array([0, 255, 7, 9, 11, 13]), [2, 3]),
        mask: intTensor("BOOL", new Uint8Array([1, 0, 0, 1])),
        "é λ": new Float64Array([-0, 1e-310]),
      };
      const metadata = { epoch: "3", model: "FullyConnectedNet", note: "ünïcode — ok" };
      const path = `${dir}/ours.safetensors`;
      await writeSafetensors(path, tensors, metadata);
      const out = await new Deno.Command(PYTHON, {
        args: [checkScript, "check", path],
        stdout: "piped",
        stderr: "piped",
      })
        .output();
      if (!out.success) throw new Error(`safetensors_check.py failed: ${new TextDecoder().decode(out.stderr)}`);
      const ours: Record<string, unknown> = {};
      for (const [name, t] of Object.entries(tensors)) {
        const data = (t instanceof Tensor ? t.data : ArrayBuffer.isView(t) ? t : t.data) as ArrayLike<number | bigint>;
        const shape = t instanceof Tensor || !ArrayBuffer.isView(t) ? [...(t as Tensor).shape] : [data.length];
        const isFloat = t instanceof Tensor || t instanceof Float64Array || t instanceof Float32Array;
        let sum: number | string;
        if (isFloat) sum = Array.from(data as ArrayLike<number>).reduce((a, b) => a + b, 0);
        else sum = String(Array.from(data, (x) => BigInt(x)).reduce((a, b) => a + b, 0n));
        ours[name] = { shape, sum, sha256: await sha256(data as unknown as ArrayBufferView) };
      }
      return { ...JSON.parse(new TextDecoder().decode(out.stdout)), ours, metadata };
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  })();
  return pythonView;
}

function compareWithPython(seen: unknown, ours: Record<string, unknown>, metadata: unknown): void {
  const view = seen as {
    error?: string;
    metadata: unknown;
    tensors: Record<string, { shape: number[]; sum: number | string; sha256: string }>;
  };
  assertEquals(view.error, undefined, `Python could not read our file: ${view.error}`);
  assertEquals(view.metadata, metadata);
  assertEquals(Object.keys(view.tensors).sort(), Object.keys(ours).sort());
  for (
    const [name, mine] of Object.entries(ours) as [string, { shape: number[]; sum: number | string; sha256: string }][]
  ) {
    const theirs = view.tensors[name];
    assertEquals(theirs.shape, mine.shape, name);
    assertEquals(theirs.sha256, mine.sha256, `${name}: element bytes differ`);
    if (typeof mine.sum === "number") {
      // numpy sums pairwise, we sum left to right: equal to rounding.
      const diff = Math.abs((theirs.sum as number) - mine.sum);
      assertLessOrEqual(diff, 1e-12 * Math.max(1, Math.abs(mine.sum)), `${name}: sum ${theirs.sum} vs ${mine.sum}`);
    } else assertEquals(theirs.sum, mine.sum, name);
  }
}

Deno.test({
  name: "a plain-Python reference decoder (struct + json + numpy) reads our file: same names, shapes, bytes, sums",
  ignore: !python.numpy,
  fn: async () => {
    const { reference, ours, metadata } = await askPython();
    compareWithPython(reference, ours, metadata);
  },
});

Deno.test({
  name: "Python's official safetensors (safetensors.torch.load_file) reads our file: same names, shapes, bytes, sums",
  ignore: !python.safetensors,
  fn: async () => {
    const { official, ours, metadata } = await askPython();
    assert(official !== null, "safetensors_check.py found no safetensors module");
    console.log(`  read by ${(official as { library: string }).library}`);
    compareWithPython(official, ours, metadata);
  },
});

// ---------------------------------------------------------------------------
// Files and atomic writes

async function listDir(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) names.push(e.name);
  return names.sort();
}

Deno.test("writeSafetensors then readSafetensors round-trips through a file; read errors name the path", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/run.safetensors`;
    const tensors = { W1: array([[1, 2], [3, 4]], "float32"), labels: new Int32Array([1, 0]) };
    await writeSafetensors(path, tensors, { epoch: "1" });
    const file = await readSafetensors(path);
    assertSameValue(file.tensors.W1, tensors.W1, "W1");
    assertSameValue(file.tensors.labels, tensors.labels, "labels");
    assertEquals(file.metadata, { epoch: "1" });
    writeSafetensorsSync(path, { x: array([5]) });
    assertEquals(Object.keys(readSafetensorsSync(path).tensors), ["x"]);
    assertEquals(await listDir(dir), ["run.safetensors"]);
    await Deno.writeFile(path, (await Deno.readFile(path)).subarray(0, 20));
    await assertRejects(() => readSafetensors(path), SafetensorsError, `${path}: header length`);
  });
});

Deno.test("writeFileAtomic writes text and bytes, replaces the old file, and leaves no temporaries", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/log.json`;
    await writeFileAtomic(path, '{"a": 1}');
    assertEquals(await Deno.readTextFile(path), '{"a": 1}');
    await writeFileAtomic(path, new Uint8Array([104, 105]));
    assertEquals(await Deno.readTextFile(path), "hi");
    writeFileAtomicSync(path, "sync ü");
    assertEquals(await Deno.readTextFile(path), "sync ü");
    await writeFileAtomic(path, "", { sync: false });
    assertEquals((await Deno.stat(path)).size, 0);
    assertEquals(await listDir(dir), ["log.json"]);
  });
});

Deno.test({
  name: "writeFileAtomic keeps the old file's permission bits",
  ignore: Deno.build.os === "windows",
  fn: async () => {
    await withTempDir(async (dir) => {
      const path = `${dir}/private.bin`;
      await Deno.writeTextFile(path, "old");
      await Deno.chmod(path, 0o600);
      await writeFileAtomic(path, "new");
      assertEquals((await Deno.stat(path)).mode! & 0o777, 0o600);
    });
  },
});

Deno.test("a failed rename leaves the target intact and removes the temporary", async () => {
  await withTempDir(async (dir) => {
    // The target is a non-empty directory: writing the temporary succeeds, the rename over it fails.
    const path = `${dir}/target`;
    await Deno.mkdir(path);
    await Deno.writeTextFile(`${path}/keep.txt`, "kept");
    await assertRejects(() => writeFileAtomic(path, "new content"));
    assertThrows(() => writeFileAtomicSync(path, "new content"));
    assertEquals(await Deno.readTextFile(`${path}/keep.txt`), "kept");
    assertEquals(await listDir(dir), ["target"]);
  });
});

Deno.test("a write into a missing directory fails with NotFound and creates nothing; bad arguments are TypeErrors", async () => {
  await withTempDir(async (dir) => {
    await assertRejects(() => writeFileAtomic(`${dir}/missing/x.bin`, "x"), Deno.errors.NotFound);
    assertEquals(await listDir(dir), []);
    await assertRejects(
      () => writeFileAtomic(`${dir}/x`, 42 as unknown as string),
      TypeError,
      "writeFileAtomic: data must be a Uint8Array or a string, got number",
    );
    await assertRejects(() => writeFileAtomic(`${dir}/`, "x"), Error, "does not name a file");
    assertEquals(await listDir(dir), []);
  });
});

Deno.test("a process killed while rewriting a file never leaves it partial", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/ckpt.bin`;
    const size = 1 << 21;
    await Deno.writeFile(path, new Uint8Array(size).fill(65));
    // The child rewrites the whole file over and over, alternating "B…" and "C…"; we kill it mid-stream.
    const moduleUrl = new URL("../pipeline/store/atomic_write.ts", import.meta.url).href;
    const code = `import { writeFileAtomicSync } from ${JSON.stringify(moduleUrl)};
      const a = new Uint8Array(${size}).fill(66), b = new Uint8Array(${size}).fill(67);
      console.log("ready");
      for (let i = 0; ; i++) writeFileAtomicSync(${JSON.stringify(path)}, i % 2 ? a : b);`;
    const child = new Deno.Command(Deno.execPath(), { args: ["eval", code], stdout: "piped", stderr: "null" }).spawn();
    const reader = child.stdout.getReader();
    await reader.read(); // "ready"
    await new Promise((r) => setTimeout(r, 150));
    child.kill("SIGKILL");
    await child.status;
    reader.releaseLock();
    await child.stdout.cancel();
    const data = await Deno.readFile(path);
    assertEquals(data.length, size);
    const first = data[0];
    assert([65, 66, 67].includes(first), `first byte ${first}`);
    assertStrictEquals(data.every((x) => x === first), true, "the file mixes two writes");
    // A kill can leave the child's temporary behind; nothing else.
    for (const name of await listDir(dir)) {
      assert(name === "ckpt.bin" || /^\.ckpt\.bin\.tmp-\d+-[0-9a-f]{8}$/.test(name), name);
    }
  });
});
