/**
 * Property-based fuzzing of every file reader (issue 12): valid files are
 * generated, then mutated (truncated, extended, bits flipped, header fields
 * rewritten with huge, negative, fractional and prototype-named values).
 * Every input must either load exactly the data an independent reference
 * decoder finds in it, or throw the reader's named error; nothing else. No
 * input may make a reader allocate more than a small multiple of its size.
 *
 * Fixed seeds and bounded counts keep the whole file well under a minute.
 * Each test prints its tally: inputs, named errors, correct loads, other (0),
 * and the worst allocation ratio seen.
 */

import fc from "fast-check";
import { assert, assertEquals } from "@std/assert";
import { watchAllocations } from "../datasets/_allocations.ts";
import { readCifar10Records } from "../datasets/cifar10.ts";
import { loadMnist } from "../datasets/idx.ts";
import { DatasetFormatError } from "../datasets/records.ts";
import { FullyConnectedNet } from "../layers/models/fully_connected_net.ts";
import { RandomState } from "../layers/random.ts";
import { Tensor, zeros } from "../layers/tensor.ts";
import { CheckpointError, decodeCheckpoint, encodeCheckpoint } from "../pipeline/store/checkpoint.ts";
import {
  decodeSafetensors,
  encodeSafetensors,
  SafetensorsError,
  type SafetensorsInput,
} from "../pipeline/store/safetensors.ts";
import { Solver } from "../pipeline/solver.ts";

const SEED = 20261205;
/** The most output bytes a reader may ask for per byte of its input (float32 per pixel byte, plus labels). */
const MAX_ALLOCATION_RATIO = 8;

// ---------------------------------------------------------------- tallies

interface Tally {
  reader: string;
  inputs: number;
  named: number;
  correct: number;
  other: number;
  worstRatio: number;
  peakRssMiB: number;
  worstGrowthKiB: number;
  otherExamples: string[];
}

function tally(reader: string): Tally {
  return {
    reader,
    inputs: 0,
    named: 0,
    correct: 0,
    other: 0,
    worstRatio: 0,
    peakRssMiB: 0,
    worstGrowthKiB: 0,
    otherExamples: [],
  };
}

function report(t: Tally): void {
  console.log(
    `fuzz ${t.reader}: ${t.inputs} inputs, ${t.named} named errors, ${t.correct} correct loads, ${t.other} other; ` +
      `worst allocation ${t.worstRatio.toFixed(2)}× the input, worst heap + external growth during one input ` +
      `${t.worstGrowthKiB.toFixed(0)} KiB, process peak RSS ${t.peakRssMiB.toFixed(0)} MiB`,
  );
  assertEquals(t.other, 0, `${t.reader}: ${t.otherExamples.join("\n")}`);
  assertEquals(t.inputs, t.named + t.correct);
}

function noteRss(t: Tally): void {
  t.peakRssMiB = Math.max(t.peakRssMiB, Deno.memoryUsage().rss / 2 ** 20);
}

/**
 * Runs `load`, classifying the outcome: a success that `check` accepts is a
 * correct load, an error of class `named` is a named error, anything else
 * (another error, a wrong success) is "other". Returns whether it was fine.
 */
async function classify(
  t: Tally,
  named: new (...args: never[]) => Error,
  load: () => Promise<unknown>,
  check: (value: unknown) => string | null,
  describe: () => string,
): Promise<void> {
  t.inputs++;
  let value: unknown;
  const used = () => {
    const m = Deno.memoryUsage();
    return m.heapUsed + m.external;
  };
  const before = used();
  try {
    value = await load();
  } catch (e) {
    t.worstGrowthKiB = Math.max(t.worstGrowthKiB, (used() - before) / 1024);
    if (e instanceof named) t.named++;
    else {
      t.other++;
      if (t.otherExamples.length < 5) t.otherExamples.push(`${describe()}: ${(e as Error)?.stack ?? e}`);
    }
    return;
  }
  t.worstGrowthKiB = Math.max(t.worstGrowthKiB, (used() - before) / 1024);
  const wrong = check(value);
  if (wrong === null) t.correct++;
  else {
    t.other++;
    if (t.otherExamples.length < 5) t.otherExamples.push(`${describe()}: wrong load: ${wrong}`);
  }
}

// ---------------------------------------------------------------- byte mutations

type Mutation =
  | { kind: "none" }
  | { kind: "truncate"; at: number }
  | { kind: "extend"; bytes: Uint8Array }
  | { kind: "flip"; flips: [number, number][] }
  | { kind: "field"; field: number; value: number };

/** uint32 header values: huge, "negative" (high bit set), zero, one, off by one. */
const HOSTILE_U32 = [0, 1, 2, 3, 7, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xfffffffb, 0xffffffff];

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.constant<Mutation>({ kind: "none" }),
  fc.record({ kind: fc.constant("truncate" as const), at: fc.nat() }),
  fc.record({ kind: fc.constant("extend" as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 40 }) }),
  fc.record({
    kind: fc.constant("flip" as const),
    flips: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 7 })), { minLength: 1, maxLength: 6 }),
  }),
  fc.record({
    kind: fc.constant("field" as const),
    field: fc.nat({ max: 3 }),
    value: fc.oneof(fc.constantFrom(...HOSTILE_U32), fc.nat()),
  }),
);

/** Applies `m` to `bytes`; a "field" rewrites big-endian uint32 number `field` after the first 4 bytes. */
function mutate(bytes: Uint8Array, m: Mutation): Uint8Array {
  switch (m.kind) {
    case "none":
      return bytes;
    case "truncate":
      return bytes.slice(0, m.at % Math.max(bytes.length, 1));
    case "extend":
      return new Uint8Array([...bytes, ...m.bytes]);
    case "flip": {
      const out = bytes.slice();
      for (const [at, bit] of m.flips) if (out.length > 0) out[at % out.length] ^= 1 << bit;
      return out;
    }
    case "field": {
      const out = bytes.slice();
      const at = 4 + 4 * m.field;
      if (at + 4 <= out.length) new DataView(out.buffer).setUint32(at, m.value >>> 0, false);
      return out;
    }
  }
}

async function gzip(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** The reference decompressor: the decompressed bytes, or null when the data is not one whole gzip member. */
async function gunzipReference(bytes: Uint8Array): Promise<Uint8Array | null> {
  try {
    const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new DecompressionStream("gzip"));
    return new Uint8Array(await new Response(stream).arrayBuffer());
  } catch {
    return null;
  }
}

const dir = await Deno.makeTempDir({ prefix: "gradstream_fuzz_" });
addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));

function describeMutation(m: Mutation): string {
  return JSON.stringify(m, (_, v) => v instanceof Uint8Array ? `bytes(${v.length})` : v);
}

// ---------------------------------------------------------------- CIFAR-10

/** Reference CIFAR-10 decoding: labels and pixels of `n` records, or null when the bytes are not exactly that. */
function cifarReference(bytes: Uint8Array, n: number): { x: Float32Array; y: Int32Array } | null {
  if (bytes.length !== n * 3073) return null;
  const x = new Float32Array(n * 3072), y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    if (bytes[i * 3073] > 9) return null;
    y[i] = bytes[i * 3073];
    for (let j = 0; j < 3072; j++) x[i * 3072 + j] = bytes[i * 3073 + 1 + j];
  }
  return { x, y };
}

const cifarFile = fc.record({
  n: fc.integer({ min: 1, max: 3 }),
  seed: fc.nat(),
  labels: fc.array(fc.integer({ min: 0, max: 9 }), { minLength: 3, maxLength: 3 }),
});

function cifarBytes({ n, seed, labels }: { n: number; seed: number; labels: number[] }): Uint8Array {
  const out = new Uint8Array(n * 3073);
  for (let i = 0; i < n; i++) {
    out[i * 3073] = labels[i];
    for (let j = 0; j < 3072; j++) out[i * 3073 + 1 + j] = (seed + 31 * i + 7 * j) & 0xff;
  }
  return out;
}

for (const gz of [false, true]) {
  Deno.test(`fuzz: readCifar10Records (${gz ? "gzip" : "plain"}) loads exactly the data or throws DatasetFormatError`, async () => {
    const t = tally(`CIFAR-10 ${gz ? "gzip" : "plain"}`);
    const path = `${dir}/cifar${gz ? ".bin.gz" : ".bin"}`;
    await fc.assert(
      fc.asyncProperty(cifarFile, mutation, async (file, m) => {
        const raw = cifarBytes(file);
        const bytes = gz ? mutate(await gzip(raw), m) : mutate(raw, m);
        await Deno.writeFile(path, bytes);
        const plain = gz ? await gunzipReference(bytes) : bytes;
        const expected = plain === null ? null : cifarReference(plain, file.n);
        const x = zeros([file.n, 3, 32, 32], "float32"), y = new Int32Array(file.n);
        await classify(
          t,
          DatasetFormatError,
          () => readCifar10Records(path, { expectedRecords: file.n, x, y, where: "fuzz" }),
          () => {
            if (expected === null) return "the reference decoder rejects this file";
            if (!expected.y.every((v, i) => v === y[i])) return "labels differ";
            if (!expected.x.every((v, i) => v === x.data[i])) return "pixels differ";
            // The outputs are the caller's, sized by it; the reader itself holds at most a record in flight.
            t.worstRatio = Math.max(t.worstRatio, (x.data.byteLength + y.byteLength) / plain!.length);
            return null;
          },
          () => `${describeMutation(m)} of ${JSON.stringify(file)}`,
        );
        noteRss(t);
      }),
      { seed: SEED, numRuns: 400 },
    );
    report(t);
  });
}

// ---------------------------------------------------------------- IDX (MNIST)

const IDX_NAMES = [
  "train-images-idx3-ubyte",
  "train-labels-idx1-ubyte",
  "t10k-images-idx3-ubyte",
  "t10k-labels-idx1-ubyte",
] as const;

function idx(dims: number[], values: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + 4 * dims.length + values.length);
  out.set([0, 0, 8, dims.length]);
  const view = new DataView(out.buffer);
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  out.set(values, 4 + 4 * dims.length);
  return out;
}

const mnistSet = fc.record({
  nTrain: fc.integer({ min: 3, max: 5 }),
  nTest: fc.integer({ min: 1, max: 3 }),
  rows: fc.integer({ min: 1, max: 4 }),
  cols: fc.integer({ min: 1, max: 4 }),
  seed: fc.nat({ max: 255 }),
});

type MnistSet = { nTrain: number; nTest: number; rows: number; cols: number; seed: number };

function mnistFiles(s: MnistSet): Uint8Array[] {
  const size = s.rows * s.cols;
  const px = (n: number, off: number) => Uint8Array.from({ length: n * size }, (_, k) => (s.seed + off + k) & 0xff);
  const lb = (n: number, off: number) => Uint8Array.from({ length: n }, (_, k) => (s.seed + off + k) % 10);
  return [
    idx([s.nTrain, s.rows, s.cols], px(s.nTrain, 0)),
    idx([s.nTrain], lb(s.nTrain, 0)),
    idx([s.nTest, s.rows, s.cols], px(s.nTest, 100)),
    idx([s.nTest], lb(s.nTest, 3)),
  ];
}

const MNIST_OPTIONS = { numTraining: 2, numValidation: 1, numTest: 1, subtractMean: false, dtype: "float32" } as const;

/** Reference parse of one IDX file: dims and values, or null when it is not a well-formed byte IDX of `ndim`. */
function idxReference(bytes: Uint8Array, ndim: number): { dims: number[]; values: Uint8Array } | null {
  const head = 4 + 4 * ndim;
  if (bytes.length < head || bytes[0] !== 0 || bytes[1] !== 0 || bytes[2] !== 8 || bytes[3] !== ndim) return null;
  const view = new DataView(bytes.buffer, bytes.byteOffset);
  const dims = Array.from({ length: ndim }, (_, i) => view.getUint32(4 + 4 * i, false));
  if (dims.slice(1).some((d) => d === 0)) return null;
  if (bytes.length - head !== dims.reduce((p, d) => p * d, 1)) return null;
  return { dims, values: bytes.subarray(head) };
}

/** What loadMnist must give for these four files (already decompressed), or null when it must refuse them. */
function mnistReference(files: Uint8Array[], gz: boolean) {
  const [ti, tl, si, sl] = files.map((f, i) => idxReference(f, i % 2 === 0 ? 3 : 1));
  if (!ti || !tl || !si || !sl) return null;
  const n = ti.dims[0], size = ti.dims[1] * ti.dims[2];
  if (tl.dims[0] !== n || sl.dims[0] !== si.dims[0]) return null;
  if (si.dims[1] !== ti.dims[1] || si.dims[2] !== ti.dims[2]) return null;
  const { numTraining, numValidation, numTest } = MNIST_OPTIONS;
  if (numTraining + numValidation > n || numTest > si.dims[0]) return null;
  // Plain files are read only where the splits are; gzipped ones are read (and checked) whole.
  const readTrain = gz ? [...Array(n).keys()] : [0, 1, n - 1];
  const readTest = gz ? [...Array(si.dims[0]).keys()] : [0];
  if (readTrain.some((i) => tl.values[i] > 9) || readTest.some((i) => sl.values[i] > 9)) return null;
  const images = (r: { values: Uint8Array }, rows: number[]) =>
    rows.flatMap((i) => [...r.values.subarray(i * size, (i + 1) * size)]);
  return {
    xTrain: images(ti, [0, 1]),
    yTrain: [tl.values[0], tl.values[1]],
    xVal: images(ti, [n - 1]),
    yVal: [tl.values[n - 1]],
    xTest: images(si, [0]),
    yTest: [sl.values[0]],
  };
}

for (const gz of [false, true]) {
  Deno.test(`fuzz: loadMnist (${gz ? "gzip" : "plain"} IDX) loads exactly the data or throws DatasetFormatError, allocating within ${MAX_ALLOCATION_RATIO}× its input`, async () => {
    const t = tally(`IDX ${gz ? "gzip" : "plain"}`);
    const set = `${dir}/mnist-${gz ? "gz" : "plain"}`;
    await Deno.mkdir(set, { recursive: true });
    await fc.assert(
      fc.asyncProperty(mnistSet, fc.nat({ max: 3 }), mutation, async (s, which, m) => {
        const files = mnistFiles(s);
        const written: Uint8Array[] = [];
        for (let i = 0; i < 4; i++) {
          const bytes = gz ? await gzip(files[i]) : files[i];
          written.push(i === which ? mutate(bytes, m) : bytes);
          await Deno.writeFile(`${set}/${IDX_NAMES[i]}${gz ? ".gz" : ""}`, written[i]);
        }
        const plain = gz ? await Promise.all(written.map(gunzipReference)) : written;
        const expected = plain.some((p) => p === null) ? null : mnistReference(plain as Uint8Array[], gz);
        const inputBytes = Math.max(
          written.reduce((a, b) => a + b.length, 0),
          plain.reduce((a, b) => a + (b?.length ?? 0), 0),
        );
        let allocated = 0;
        const stop = watchAllocations((bytes) => allocated += bytes);
        try {
          await classify(
            t,
            DatasetFormatError,
            () => loadMnist(set, MNIST_OPTIONS),
            (value) => {
              if (expected === null) return "the reference decoder rejects these files";
              const d = value as Awaited<ReturnType<typeof loadMnist>>;
              const same = (a: ArrayLike<number>, b: number[]) =>
                a.length === b.length && b.every((v, i) => a[i] === v);
              if (!same(d.xTrain.data, expected.xTrain) || !same(d.yTrain, expected.yTrain)) {
                return "training split differs";
              }
              if (!same(d.xVal.data, expected.xVal) || !same(d.yVal, expected.yVal)) return "validation split differs";
              if (!same(d.xTest!.data, expected.xTest) || !same(d.yTest!, expected.yTest)) return "test split differs";
              return null;
            },
            () => `file ${IDX_NAMES[which]}: ${describeMutation(m)} of ${JSON.stringify(s)}`,
          );
        } finally {
          stop();
        }
        const ratio = allocated / inputBytes;
        t.worstRatio = Math.max(t.worstRatio, ratio);
        assert(ratio <= MAX_ALLOCATION_RATIO, `allocated ${allocated} bytes for ${inputBytes} bytes of input`);
        noteRss(t);
      }),
      { seed: SEED, numRuns: 400 },
    );
    report(t);
  });
}

// ---------------------------------------------------------------- safetensors

/** JSON values a hostile header field may hold. */
const HOSTILE_JSON: unknown[] = [
  1e300,
  2 ** 53,
  2 ** 64,
  Number.MAX_SAFE_INTEGER,
  -1,
  -5,
  0.5,
  4.5,
  "__proto__",
  "toString",
  "constructor",
  "hasOwnProperty",
  "F16",
  "BF16",
  "U8",
  null,
  [],
  {},
  "1",
  [1e300],
  [-1, 4],
  [0.5, 2],
  [0, 2 ** 60],
  [2 ** 31, 2 ** 31],
];

const DTYPE_NAMES = ["F64", "F32", "I64", "I32", "I16", "I8", "U64", "U32", "U16", "U8"] as const;

const tensorSpec = fc.record({
  name: fc.oneof(fc.stringMatching(/^[a-z]{1,3}$/), fc.constantFrom("__proto__", "toString", "constructor")),
  dtype: fc.constantFrom(...DTYPE_NAMES),
  shape: fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 3 }),
  seed: fc.nat({ max: 255 }),
});

function buildTensors(specs: { name: string; dtype: string; shape: number[]; seed: number }[]) {
  const tensors: Record<string, SafetensorsInput> = {};
  for (const s of specs) {
    const n = s.shape.reduce((p, d) => p * d, 1);
    const bytes = Uint8Array.from({ length: n * 8 }, (_, i) => (s.seed + 13 * i) & 0xff);
    let value: SafetensorsInput;
    switch (s.dtype) {
      case "F64":
        value = new Tensor(new Float64Array(n).map((_, i) => s.seed + i / 4), s.shape);
        break;
      case "F32":
        value = new Tensor(new Float32Array(n).map((_, i) => s.seed - i / 8), s.shape);
        break;
      default: {
        const arrays = {
          I64: BigInt64Array,
          I32: Int32Array,
          I16: Int16Array,
          I8: Int8Array,
          U64: BigUint64Array,
          U32: Uint32Array,
          U16: Uint16Array,
          U8: Uint8Array,
        } as const;
        const Array_ = arrays[s.dtype as keyof typeof arrays];
        value = { dtype: s.dtype as keyof typeof arrays, data: new Array_(bytes.buffer, 0, n), shape: s.shape };
      }
    }
    Object.defineProperty(tensors, s.name, { value, enumerable: true, writable: true, configurable: true });
  }
  return tensors;
}

type JsonEdit = { entry: number; field: "dtype" | "shape" | "data_offsets" | "__metadata__" | "name"; value: unknown };

const jsonEdit: fc.Arbitrary<JsonEdit> = fc.record({
  entry: fc.nat(),
  field: fc.constantFrom("dtype", "shape", "data_offsets", "__metadata__", "name"),
  value: fc.constantFrom(...HOSTILE_JSON),
});

/** Rewrites one field of a safetensors header, keeping the data bytes. */
function editHeader(bytes: Uint8Array, edit: JsonEdit): Uint8Array {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
  const names = Object.keys(header).filter((k) => k !== "__metadata__");
  if (edit.field === "__metadata__") header.__metadata__ = edit.value;
  else if (names.length > 0) {
    const name = names[edit.entry % names.length];
    if (edit.field === "name") {
      const entry = header[name];
      delete header[name];
      Object.defineProperty(header, String(edit.value), {
        value: entry,
        enumerable: true,
        writable: true,
        configurable: true,
      });
    } else header[name][edit.field] = edit.value;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const padded = json.length + ((8 - (json.length % 8)) % 8);
  const out = new Uint8Array(8 + padded + (bytes.length - 8 - n));
  new DataView(out.buffer).setBigUint64(0, BigInt(padded), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + padded);
  out.set(bytes.subarray(8 + n), 8 + padded);
  return out;
}

/** Whether every decoded tensor holds exactly the file's bytes at its data_offsets (F16/BF16 widened: skipped). */
function safetensorsMatchesBytes(bytes: Uint8Array, decoded: ReturnType<typeof decodeSafetensors>): string | null {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
  let total = 0;
  for (const [name, entry] of Object.entries(header) as [string, { dtype: string; data_offsets: number[] }][]) {
    if (name === "__metadata__") continue;
    if (!Object.hasOwn(decoded.tensors, name)) return `tensor ${JSON.stringify(name)} missing`;
    const value = decoded.tensors[name];
    const [begin, end] = entry.data_offsets;
    total += end - begin;
    if (entry.dtype === "F16" || entry.dtype === "BF16") continue;
    const data = value.data;
    const got = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    const want = bytes.subarray(8 + n + begin, 8 + n + end);
    if (got.length !== want.length || !got.every((b, i) => b === want[i])) return `tensor ${name} bytes differ`;
  }
  if (8 + n + total !== bytes.length) return "the tensors do not cover the data";
  return null;
}

Deno.test("fuzz: decodeSafetensors loads exactly the file's tensors or throws SafetensorsError", async () => {
  const t = tally("safetensors");
  const edit = fc.oneof(mutation.map((m) => ({ bytes: m })), jsonEdit.map((j) => ({ json: j })));
  await fc.assert(
    fc.asyncProperty(fc.array(tensorSpec, { maxLength: 4 }), edit, async (specs, e) => {
      const valid = encodeSafetensors(buildTensors(specs), { note: "fuzz" });
      // A "field" byte mutation rewrites the header length (bytes 4–7 hold its high half, little-endian).
      const bytes = "json" in e ? editHeader(valid, e.json) : mutate(valid, e.bytes);
      await classify(
        t,
        SafetensorsError,
        () => Promise.resolve(decodeSafetensors(bytes, { source: "fuzz.safetensors" })),
        (value) => {
          const decoded = value as ReturnType<typeof decodeSafetensors>;
          let out = 0;
          for (const v of Object.values(decoded.tensors)) out += v.data.byteLength;
          t.worstRatio = Math.max(t.worstRatio, out / Math.max(bytes.length, 1));
          if (out > MAX_ALLOCATION_RATIO * bytes.length) return `${out} output bytes for ${bytes.length}`;
          return safetensorsMatchesBytes(bytes, decoded);
        },
        () =>
          `${JSON.stringify(e, (_, v) => v instanceof Uint8Array ? `bytes(${v.length})` : v)} of ${
            JSON.stringify(specs)
          }`,
      );
      noteRss(t);
    }),
    { seed: SEED, numRuns: 1500 },
  );
  report(t);
});

// ---------------------------------------------------------------- checkpoints

async function baseCheckpoint(): Promise<Uint8Array> {
  const rs = new RandomState(5);
  const xTrain = rs.randn(16, 6), xVal = rs.randn(8, 6);
  const yTrain = Int32Array.from(rs.randint(0, 3, [16]).data), yVal = Int32Array.from(rs.randint(0, 3, [8]).data);
  const random = new RandomState(1);
  const model = new FullyConnectedNet([5], { inputDim: 6, numClasses: 3, random, weightScale: 0.1 });
  let last: Uint8Array | undefined;
  const solver = new Solver(model, { xTrain, yTrain, xVal, yVal }, {
    updateRule: "adam",
    batchSize: 4,
    numEpochs: 2,
    random,
    verbose: false,
    sinks: [
      new WritableStream({
        async write(e) {
          if (e.snapshot) last = await encodeCheckpoint(e.snapshot, solver.runInfo());
        },
      }),
    ],
  });
  await solver.train();
  return last!;
}

const METADATA_FIELDS = [
  ["progress", "iteration"],
  ["progress", "epoch"],
  ["progress", "bestValAcc"],
  ["progress", "elapsedMs"],
  ["random", "pos"],
  ["random", "gauss"],
  ["random", "hasGauss"],
  ["optim", "W1"],
  ["run", "numTrain"],
  ["run", "batchSize"],
  ["run", "numEpochs"],
  ["run", "updateRule"],
  ["compute", "threads"],
  ["compute", "gemm"],
] as const;

Deno.test("fuzz: decodeCheckpoint loads exactly the saved tensors or throws CheckpointError", async () => {
  const t = tally("checkpoints");
  const base = await baseCheckpoint();
  const original = decodeSafetensors(base);
  const metaEdit = fc.record({
    field: fc.constantFrom(...METADATA_FIELDS),
    value: fc.constantFrom(...HOSTILE_JSON, 0, 4, 8, 1, true, "adam", "ts"),
  });
  const edit = fc.oneof(
    mutation.map((m) => ({ bytes: m })),
    jsonEdit.map((j) => ({ json: j })),
    metaEdit.map((m) => ({ meta: m })),
  );
  await fc.assert(
    fc.asyncProperty(edit, async (e) => {
      let bytes: Uint8Array;
      if ("bytes" in e) bytes = mutate(base, e.bytes);
      else if ("json" in e) bytes = editHeader(base, e.json);
      else {
        const metadata = { ...original.metadata };
        const [key, field] = e.meta.field;
        const parsed = JSON.parse(metadata[key]);
        parsed[field] = e.meta.value;
        metadata[key] = JSON.stringify(parsed);
        bytes = encodeSafetensors(original.tensors, metadata);
      }
      await classify(
        t,
        CheckpointError,
        () => decodeCheckpoint(bytes, "fuzz.safetensors"),
        () => {
          // A load must give the saved tensors bit for bit (the checksum covers them all).
          const again = decodeSafetensors(bytes);
          for (const [name, v] of Object.entries(original.tensors)) {
            if (!Object.hasOwn(again.tensors, name)) return `tensor ${name} missing`;
            const a = new Uint8Array(v.data.buffer, v.data.byteOffset, v.data.byteLength);
            const w = again.tensors[name].data;
            const b = new Uint8Array(w.buffer, w.byteOffset, w.byteLength);
            if (a.length !== b.length || !a.every((x, i) => x === b[i])) return `tensor ${name} differs`;
          }
          let out = 0;
          for (const v of Object.values(again.tensors)) out += v.data.byteLength;
          t.worstRatio = Math.max(t.worstRatio, out / bytes.length);
          return null;
        },
        () => JSON.stringify(e, (_, v) => v instanceof Uint8Array ? `bytes(${v.length})` : v),
      );
      noteRss(t);
    }),
    { seed: SEED, numRuns: 1000 },
  );
  report(t);
});
