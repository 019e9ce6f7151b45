// Dataset readers: the embedded CIFAR-10 sample, record re-chunking, and every
// validation error on small synthetic files (no real data needed; the real
// CIFAR-10 and Fashion-MNIST checks are in tests/cifar10_real_test.ts).

import {
  assert,
  assertEquals,
  assertGreaterOrEqual,
  assertLess,
  assertLessOrEqual,
  assertRejects,
  assertStringIncludes,
} from "@std/assert";
import type { Tensor } from "../layers/tensor.ts";
import { CIFAR10_CLASS_NAMES, loadCifar10, parseCifar10Meta, readCifar10Records } from "../datasets/cifar10.ts";
import { DATASET_SPECS, loadDataset } from "../datasets/registry.ts";
import { FASHION_MNIST_CLASS_NAMES, loadFashionMnist, loadMnist, readIdxHeader } from "../datasets/idx.ts";
import { DatasetFormatError, forEachRecord, RecordChunker, takeHeader } from "../datasets/records.ts";
import { loadSample } from "../datasets/sample.ts";
import { zeros } from "../layers/tensor.ts";
import { readFixture } from "./helpers.ts";

const REAL_CIFAR_DIR = new URL("../../shared/datasets/cifar-10-batches-bin/", import.meta.url);
const fixture = await readFixture("cifar10_real.json");

async function sha256(t: Tensor): Promise<string> {
  const bytes = new Uint8Array(t.data.buffer as ArrayBuffer, t.data.byteOffset, t.data.byteLength);
  const digest = await crypto.subtle.digest("SHA-256", bytes);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

async function gzip(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

async function collect(stream: ReadableStream<Uint8Array>): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for await (const c of stream) out.push(c.slice());
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Splits `bytes` into chunks of the given sizes, cycling through them. */
function chunked(bytes: Uint8Array, sizes: number[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let at = 0, i = 0; at < bytes.length; i++) {
    const n = sizes[i % sizes.length];
    out.push(bytes.slice(at, at + n));
    at += n;
  }
  return out;
}

/** `n` CIFAR-10 records: label `label(i)`, pixel j of record i = (i + j) mod 256. */
function cifarRecords(n: number, label: (i: number) => number = (i) => i % 10): Uint8Array {
  const out = new Uint8Array(n * 3073);
  for (let i = 0; i < n; i++) {
    out[i * 3073] = label(i);
    for (let j = 0; j < 3072; j++) out[i * 3073 + 1 + j] = (i + j) % 256;
  }
  return out;
}

/** An IDX file of unsigned bytes with the given dimensions and values. */
function idx(dims: number[], values: Uint8Array | number[], typeByte = 0x08): Uint8Array {
  const out = new Uint8Array(4 + 4 * dims.length + values.length);
  out.set([0, 0, typeByte, dims.length]);
  const view = new DataView(out.buffer);
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  out.set(values, 4 + 4 * dims.length);
  return out;
}

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "gradstream_datasets_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

// ---------------------------------------------------------------- the embedded sample

Deno.test("loadSample gives 1000 training and 1000 validation CIFAR-10 images (N, 3, 32, 32) float32", async () => {
  const d = await loadSample();
  assertEquals(d.name, "cifar10-sample");
  assertEquals(d.classNames, [...CIFAR10_CLASS_NAMES]);
  assertEquals(d.xTrain.shape, [1000, 3, 32, 32]);
  assertEquals(d.xVal.shape, [1000, 3, 32, 32]);
  assertEquals(d.xTrain.dtype, "float32");
  assertEquals(d.yTrain.length, 1000);
  assertEquals(d.yVal.length, 1000);
  assertEquals(d.xTest, undefined);
  assertEquals(d.meanImage?.shape, [3, 32, 32]);
  assertStringIncludes(d.source, "embedded sample");
  for (const y of [d.yTrain, d.yVal]) {
    const counts = new Array(10).fill(0);
    for (const v of y) counts[v]++;
    // Roughly 100 per class in 1,000 CIFAR images; a broken reader gives one class or labels outside 0–9.
    for (const c of counts) assertGreaterOrEqual(c, 50);
  }
});

Deno.test("loadSample subtracts the training mean: every training pixel's mean is 0 within float32 rounding", async () => {
  const d = await loadSample();
  const mean = new Float64Array(3072);
  for (let i = 0; i < 1000; i++) for (let j = 0; j < 3072; j++) mean[j] += d.xTrain.data[i * 3072 + j];
  let worst = 0;
  for (let j = 0; j < 3072; j++) worst = Math.max(worst, Math.abs(mean[j] / 1000));
  // Each stored value is within 2^-18 of the exact float64 difference (|x| < 256).
  assertLess(worst, 4e-6);
  for (const m of d.meanImage!.data) {
    assertGreaterOrEqual(m, 0);
    assertLessOrEqual(m, 255);
  }
  // The mean image is what was subtracted: adding it back gives integer pixel values.
  const raw = await loadSample({ subtractMean: false, dtype: "float64" });
  for (let i = 0; i < 3072 * 5; i++) {
    assertEquals(Math.round(d.xVal.data[i] + d.meanImage!.data[i % 3072]) + 0, raw.xVal.data[i]);
  }
});

Deno.test("loadSample's first training labels are data_batch_1's first labels", async () => {
  let expected: number[] = fixture.first_labels_data_batch_1;
  let from = "tests/fixtures/cifar10_real.json";
  try {
    const head = new Uint8Array(20 * 3073);
    using file = await Deno.open(new URL("data_batch_1.bin", REAL_CIFAR_DIR));
    for (let got = 0; got < head.length;) got += (await file.read(head.subarray(got))) ?? head.length;
    expected = Array.from({ length: 20 }, (_, i) => head[i * 3073]);
    from = "the real data_batch_1.bin";
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  const d = await loadSample({ numValidation: 0 });
  assertEquals([...d.yTrain.subarray(0, 20)], expected, `labels read from ${from}`);
  assertEquals(expected.slice(0, 10), [6, 9, 9, 4, 1, 1, 2, 7, 8, 3]);
});

Deno.test("loadSample equals numpy's split of the real batches bit for bit (float32 and float64 sha256)", async () => {
  const d = await loadSample();
  assertEquals(await sha256(d.xTrain), fixture.train.sha256_float32);
  assertEquals(await sha256(d.xVal), fixture.val.sha256_float32);
  assertEquals([...d.yTrain], fixture.train.labels);
  assertEquals([...d.yVal], fixture.val.labels);
  assertEquals(await sha256(d.meanImage!), fixture.mean_image.sha256_float64);
  const d64 = await loadSample({ dtype: "float64" });
  assertEquals(d64.xTrain.dtype, "float64");
  assertEquals(await sha256(d64.xTrain), fixture.train.sha256_float64);
  assertEquals(await sha256(d64.xVal), fixture.val.sha256_float64);
});

Deno.test("loadSample with subtractMean false and smaller counts gives the first raw images", async () => {
  const all = await loadSample({ subtractMean: false });
  const some = await loadSample({ numTraining: 10, numValidation: 3, subtractMean: false });
  assertEquals(some.xTrain.shape, [10, 3, 32, 32]);
  assertEquals(some.xVal.shape, [3, 3, 32, 32]);
  assertEquals(some.meanImage, undefined);
  assertEquals([...some.xTrain.data], [...all.xTrain.data.subarray(0, 10 * 3072)]);
  assertEquals([...some.yVal], [...all.yVal.subarray(0, 3)]);
  for (const v of all.xTrain.data) assert(Number.isInteger(v) && v >= 0 && v <= 255, `pixel ${v}`);
});

Deno.test("loadSample rejects counts it cannot meet", async () => {
  await assertRejects(
    () => loadSample({ numTraining: 1001 }),
    RangeError,
    "numTraining 1001 is not an integer in [0, 1000]",
  );
  await assertRejects(() => loadSample({ numTest: 5 } as never), RangeError, "the sample has no test images");
  await assertRejects(() => loadSample({ numTraining: 0 }), RangeError, "numTraining 0 leaves no training images");
  await assertRejects(() => loadSample({ dtype: "int8" as never }), TypeError, `dtype "int8"`);
});

// ---------------------------------------------------------------- record re-chunking

Deno.test("RecordChunker re-chunks 1-byte, odd-sized and large chunks into whole records", async () => {
  const bytes = Uint8Array.from({ length: 7 * 5 }, (_, i) => i);
  for (const sizes of [[1], [2, 3], [3, 1, 4, 1, 5], [6], [7], [8], [13, 1], [35], [100]]) {
    const out = await collect(ReadableStream.from(chunked(bytes, sizes)).pipeThrough(new RecordChunker(7)));
    for (const c of out) assertEquals(c.length % 7, 0, `chunk of ${c.length} bytes from sizes ${sizes}`);
    assert(out.every((c) => c.length > 0));
    assertEquals([...concat(out)], [...bytes], `sizes ${sizes}`);
  }
});

Deno.test("RecordChunker names the label and byte offset of a truncated final record", async () => {
  const stream = ReadableStream.from(chunked(new Uint8Array(7 * 3 + 4), [5])).pipeThrough(
    new RecordChunker(7, { label: "t: f.bin", startOffset: 16 }),
  );
  await assertRejects(
    () => collect(stream),
    DatasetFormatError,
    "t: f.bin: truncated record at byte 37: the data ends after 4 of its 7 bytes",
  );
});

Deno.test("forEachRecord visits records in order with their indices and stops when asked", async () => {
  const bytes = Uint8Array.from({ length: 30 }, (_, i) => i);
  const seen: number[] = [];
  const n = await forEachRecord(ReadableStream.from(chunked(bytes, [4, 1])), 3, (chunk, at, index) => {
    assertEquals(chunk[at], index * 3);
    seen.push(index);
    return index < 4;
  });
  assertEquals(n, 5);
  assertEquals(seen, [0, 1, 2, 3, 4]);
});

Deno.test("takeHeader reads a variable-length header from 1-byte chunks and hands on the rest", async () => {
  const bytes = idx([2, 3], [9, 8, 7, 6, 5, 4]);
  const { header, rest } = await takeHeader(
    ReadableStream.from(chunked(bytes, [1])),
    (p) => p.length < 4 ? 4 : 4 + 4 * p[3],
  );
  assertEquals(header.length, 12);
  assertEquals([...concat(await collect(rest))], [9, 8, 7, 6, 5, 4]);
  await assertRejects(
    () => takeHeader(ReadableStream.from([bytes.slice(0, 6)]), (p) => p.length < 4 ? 4 : 4 + 4 * p[3], "h: x"),
    DatasetFormatError,
    "h: x: the data ends at byte 6, inside the 12-byte header",
  );
});

// ---------------------------------------------------------------- CIFAR-10 files

Deno.test("readCifar10Records reads planar records into (N, 3, 32, 32), plain and gzipped alike", async () => {
  await withTempDir(async (dir) => {
    const bytes = cifarRecords(5);
    await Deno.writeFile(`${dir}/b.bin`, bytes);
    await Deno.writeFile(`${dir}/b.bin.gz`, await gzip(bytes));
    for (const name of ["b.bin", "b.bin.gz"]) {
      const x = zeros([4, 3, 32, 32], "float64");
      const y = new Int32Array(4);
      await readCifar10Records(`${dir}/${name}`, { first: 2, count: 3, expectedRecords: 5, x, y, row: 1 });
      assertEquals([...y], [0, 2, 3, 4], name);
      // Row 1 is record 2: pixel j = (2 + j) mod 256; channel 1 starts at j = 1024.
      assertEquals(x.data[3072], 2);
      assertEquals(x.data[3072 + 1024], (2 + 1024) % 256);
      assertEquals(x.data[3 * 3072 + 3071], (4 + 3071) % 256);
      assertEquals(x.data[0], 0);
    }
  });
});

Deno.test("readCifar10Records names the file and byte offset of every format error", async () => {
  await withTempDir(async (dir) => {
    const read = (name: string, expectedRecords = 3) =>
      readCifar10Records(`${dir}/${name}`, {
        expectedRecords,
        x: zeros([expectedRecords, 3, 32, 32], "float32"),
        y: new Int32Array(expectedRecords),
        where: "test",
      });
    await Deno.writeFile(`${dir}/odd.bin`, new Uint8Array(3073 * 3 + 5));
    await assertRejects(
      () => read("odd.bin"),
      DatasetFormatError,
      `test: ${dir}/odd.bin: size 9224 bytes is not a multiple of the 3073-byte record size: the record at byte 9219 is truncated to 5 bytes`,
    );
    await Deno.writeFile(`${dir}/four.bin`, cifarRecords(4));
    await assertRejects(
      () => read("four.bin"),
      DatasetFormatError,
      `${dir}/four.bin: holds 4 records (12292 bytes), expected 3`,
    );
    await Deno.writeFile(`${dir}/label.bin`, cifarRecords(3, (i) => i === 2 ? 12 : 0));
    await assertRejects(
      () => read("label.bin"),
      DatasetFormatError,
      `test: ${dir}/label.bin: label 12 at byte 6146 is out of range 0–9`,
    );
    await Deno.writeFile(`${dir}/cut.bin.gz`, await gzip(cifarRecords(3).slice(0, 3073 * 2 + 100)));
    await assertRejects(
      () => read("cut.bin.gz"),
      DatasetFormatError,
      `${dir}/cut.bin.gz: truncated record at byte 6146`,
    );
    await Deno.writeFile(`${dir}/short.bin.gz`, await gzip(cifarRecords(2)));
    await assertRejects(
      () => read("short.bin.gz"),
      DatasetFormatError,
      `${dir}/short.bin.gz: holds 2 records, expected 3`,
    );
    await Deno.writeFile(`${dir}/long.bin.gz`, await gzip(cifarRecords(4)));
    await assertRejects(
      () => read("long.bin.gz"),
      DatasetFormatError,
      `${dir}/long.bin.gz: holds more than the expected 3 records: extra data at byte 9219 of the decompressed data`,
    );
    await Deno.writeFile(`${dir}/label.bin.gz`, await gzip(cifarRecords(3, (i) => i === 1 ? 255 : 0)));
    await assertRejects(() => read("label.bin.gz"), DatasetFormatError, `${dir}/label.bin.gz: label 255 at byte 3073`);
    const corrupt = await gzip(cifarRecords(3));
    corrupt.fill(0x55, 20, 60);
    await Deno.writeFile(`${dir}/corrupt.bin.gz`, corrupt);
    await assertRejects(() => read("corrupt.bin.gz"), DatasetFormatError, `test: ${dir}/corrupt.bin.gz: `);
  });
});

/** A CIFAR-10 folder with full-size (sparse, all-zero) batches; `edits` puts records at given indices. */
async function fakeCifarDir(dir: string, files: string[], edits: Record<string, [number, Uint8Array][]> = {}) {
  for (const name of files) {
    const path = `${dir}/${name}`;
    await Deno.writeFile(path, new Uint8Array(0));
    await Deno.truncate(path, 10000 * 3073);
    const f = await Deno.open(path, { write: true });
    try {
      for (const [index, record] of edits[name] ?? []) {
        await f.seek(index * 3073, Deno.SeekMode.Start);
        await f.write(record);
      }
    } finally {
      f.close();
    }
  }
}

Deno.test("loadCifar10 splits as get_CIFAR10_data: train from data_batch_1, val from the end of data_batch_5", async () => {
  await withTempDir(async (dir) => {
    const rec = (label: number, value: number) => {
      const r = new Uint8Array(3073).fill(value);
      r[0] = label;
      return r;
    };
    await fakeCifarDir(dir, ["data_batch_1.bin", "data_batch_5.bin", "test_batch.bin"], {
      "data_batch_1.bin": [[0, rec(3, 10)], [1, rec(4, 30)], [5000, rec(99, 0)]],
      "data_batch_5.bin": [[8999, rec(1, 200)], [9000, rec(7, 50)], [9001, rec(8, 60)]],
      "test_batch.bin": [[0, rec(9, 90)]],
    });
    const d = await loadCifar10(dir, { numTraining: 4, numValidation: 2, numTest: 1 });
    assertEquals(d.name, "cifar10");
    assertEquals(d.source, dir);
    assertEquals(d.classNames, [...CIFAR10_CLASS_NAMES]);
    assertEquals([...d.yTrain], [3, 4, 0, 0]);
    assertEquals([...d.yVal], [7, 8]);
    assertEquals([...d.yTest!], [9]);
    // Mean of the training images is (10 + 30 + 0 + 0) / 4 = 10 at every pixel.
    assertEquals([...new Set(d.meanImage!.data)], [10]);
    assertEquals([d.xTrain.data[0], d.xTrain.data[3072], d.xTrain.data[2 * 3072 + 5]], [0, 20, -10]);
    assertEquals([d.xVal.data[0], d.xVal.data[3072 + 3071], d.xTest!.data[100]], [40, 50, 80]);
    // Record 5000 of data_batch_1 has label 99 but is never read for numTraining 4.
    await assertRejects(
      () => loadCifar10(dir, { numTraining: 5001, numValidation: 0, numTest: 0 }),
      DatasetFormatError,
      `loadCifar10: ${dir}/data_batch_1.bin: label 99 at byte ${5000 * 3073} is out of range 0–9`,
    );
  });
});

Deno.test("loadCifar10 names the missing batch files and what in the request needs them", async () => {
  await withTempDir(async (dir) => {
    await fakeCifarDir(dir, ["data_batch_1.bin"]);
    await assertRejects(
      () => loadCifar10(dir, { numTraining: 1000 }),
      Error,
      `loadCifar10: ${dir} is missing data_batch_5.bin (numValidation 1000 needs it for validation images 49000–49999), ` +
        "test_batch.bin (numTest 1000 needs it for test images 0–999)",
    );
    await assertRejects(
      () => loadCifar10(dir, { numTraining: 20000, numValidation: 0, numTest: 0 }),
      Error,
      "is missing data_batch_2.bin (numTraining 20000 needs it for training images 10000–19999)",
    );
    const d = await loadCifar10(dir, { numTraining: 10, numValidation: 0, numTest: 0, subtractMean: false });
    assertEquals(d.xVal.shape, [0, 3, 32, 32]);
    assertEquals(d.xTest, undefined);
    await assertRejects(() => loadCifar10(`${dir}/nope`), Error, `loadCifar10: directory ${dir}/nope not found`);
    await assertRejects(
      () => loadCifar10(dir, { numTraining: 49001 }),
      RangeError,
      "numTraining 49001 is not an integer in [0, 49000]",
    );
  });
});

Deno.test("parseCifar10Meta reads ten names and rejects any other count", () => {
  assertEquals(parseCifar10Meta(CIFAR10_CLASS_NAMES.join("\n") + "\n\n"), [...CIFAR10_CLASS_NAMES]);
  let err: unknown;
  try {
    parseCifar10Meta("a\nb\n", "m.txt");
  } catch (e) {
    err = e;
  }
  assert(err instanceof DatasetFormatError);
  assertStringIncludes(err.message, "m.txt has 2 lines, expected 10 class names");
});

// ---------------------------------------------------------------- IDX (MNIST, Fashion-MNIST)

/** Six 2×3 training images (image i has every pixel = 10·i + position) and two test images. */
async function writeMnist(dir: string, gz: boolean, override: Record<string, Uint8Array> = {}) {
  const train = Uint8Array.from({ length: 6 * 6 }, (_, k) => 10 * Math.floor(k / 6) + (k % 6));
  const test = Uint8Array.from({ length: 2 * 6 }, (_, k) => 200 + k);
  const files: Record<string, Uint8Array> = {
    "train-images-idx3-ubyte": idx([6, 2, 3], train),
    "train-labels-idx1-ubyte": idx([6], [0, 1, 2, 3, 4, 9]),
    "t10k-images-idx3-ubyte": idx([2, 2, 3], test),
    "t10k-labels-idx1-ubyte": idx([2], [7, 5]),
    ...override,
  };
  for (const [name, bytes] of Object.entries(files)) {
    await Deno.writeFile(`${dir}/${name}${gz ? ".gz" : ""}`, gz ? await gzip(bytes) : bytes);
  }
}

Deno.test("loadMnist reads plain and gzipped IDX files alike: validation is the end of the training file", async () => {
  for (const gz of [false, true]) {
    await withTempDir(async (dir) => {
      await writeMnist(dir, gz);
      const d = await loadMnist(dir, {
        numTraining: 3,
        numValidation: 2,
        numTest: 2,
        subtractMean: false,
        dtype: "float64",
      });
      assertEquals(d.name, "mnist");
      assertEquals(d.classNames, ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]);
      assertEquals(d.xTrain.shape, [3, 1, 2, 3]);
      assertEquals([...d.yTrain], [0, 1, 2]);
      assertEquals([...d.xTrain.data.subarray(6, 12)], [10, 11, 12, 13, 14, 15]);
      assertEquals([...d.yVal], [4, 9]);
      assertEquals([...d.xVal.data], [40, 41, 42, 43, 44, 45, 50, 51, 52, 53, 54, 55]);
      assertEquals([...d.yTest!], [7, 5]);
      assertEquals(d.xTest!.data[11], 211);
      const m = await loadMnist(dir, { numTraining: 2, numValidation: 1, numTest: 1 });
      assertEquals(m.xTrain.dtype, "float32");
      assertEquals([...m.meanImage!.data], [5, 6, 7, 8, 9, 10]);
      assertEquals([...m.xVal.data], [45, 45, 45, 45, 45, 45]);
      assertEquals(m.xTest!.data[0], 195);
    });
  }
});

Deno.test("IDX readers name the file and byte offset of every format error", async () => {
  await withTempDir(async (dir) => {
    const opts = { numTraining: 3, numValidation: 2, numTest: 2 };
    const trainImages = `${dir}/train-images-idx3-ubyte`;
    const trainLabels = `${dir}/train-labels-idx1-ubyte`;
    const cases: [Record<string, Uint8Array>, boolean, string][] = [
      [
        { "train-images-idx3-ubyte": idx([6, 2, 3], new Uint8Array(36), 0x09) },
        false,
        `loadMnist: ${trainImages}: bad magic number 0x00000903 at byte 0, expected 0x00000803 (unsigned bytes, 3 dimensions)`,
      ],
      [
        { "train-labels-idx1-ubyte": idx([3, 2], new Uint8Array(6)) },
        false,
        `loadMnist: ${trainLabels}: dimension count 2 at byte 3, expected 1`,
      ],
      [
        { "train-labels-idx1-ubyte": idx([5], [0, 1, 2, 3, 4]) },
        false,
        `loadMnist: ${trainImages} holds 6 images (byte 4) but ${trainLabels} holds 5 labels (byte 4)`,
      ],
      [
        { "train-labels-idx1-ubyte": idx([6], [0, 1, 2, 3, 4, 10]) },
        false,
        `loadMnist: ${trainLabels}: label 10 at byte 13 is out of range 0–9`,
      ],
      [
        { "train-labels-idx1-ubyte": idx([6], [0, 1, 2, 3, 4, 10]) },
        true,
        `loadMnist: ${trainLabels}.gz: label 10 at byte 13 is out of range 0–9`,
      ],
      [
        { "train-images-idx3-ubyte": idx([6, 2, 3], new Uint8Array(35)) },
        false,
        `loadMnist: ${trainImages}: size 51 bytes is not a 16-byte header plus a multiple of the 6-byte record size: ` +
        "the record at byte 46 is truncated to 5 bytes",
      ],
      [
        { "train-images-idx3-ubyte": idx([6, 2, 3], new Uint8Array(42)) },
        false,
        `loadMnist: ${trainImages}: holds 7 records (58 bytes), expected 6 (52 bytes)`,
      ],
      [
        { "train-images-idx3-ubyte": idx([6, 2, 3], new Uint8Array(35)) },
        true,
        `loadMnist: ${trainImages}.gz: truncated record at byte 46`,
      ],
      [
        { "train-images-idx3-ubyte": idx([6, 2, 3], new Uint8Array(30)) },
        true,
        `loadMnist: ${trainImages}.gz: holds 5 records, expected 6: the data ends at byte 46 of the decompressed data`,
      ],
      [
        { "train-images-idx3-ubyte": idx([6, 2, 3], new Uint8Array(36)).slice(0, 10) },
        true,
        `loadMnist: ${trainImages}.gz: the data ends at byte 10, inside the 16-byte header`,
      ],
      [
        { "t10k-images-idx3-ubyte": idx([2, 3, 2], new Uint8Array(12)) },
        false,
        `loadMnist: ${dir}/t10k-images-idx3-ubyte holds 3×2 images (bytes 8–15) but ${trainImages} holds 2×3`,
      ],
    ];
    for (const [override, gz, message] of cases) {
      for await (const e of Deno.readDir(dir)) await Deno.remove(`${dir}/${e.name}`);
      await writeMnist(dir, gz, override);
      await assertRejects(() => loadMnist(dir, opts), DatasetFormatError, message);
    }
    // A gzipped file without the .gz suffix gets a hint.
    for await (const e of Deno.readDir(dir)) await Deno.remove(`${dir}/${e.name}`);
    await writeMnist(dir, false);
    await Deno.writeFile(trainImages, await gzip(await Deno.readFile(trainImages)));
    await assertRejects(
      () => readIdxHeader(trainImages, 3),
      DatasetFormatError,
      "(the file looks gzip-compressed: name it ….gz)",
    );
  });
});

Deno.test("loadMnist names missing files and rejects splits larger than the training file", async () => {
  await withTempDir(async (dir) => {
    await writeMnist(dir, true);
    await Deno.remove(`${dir}/t10k-labels-idx1-ubyte.gz`);
    await assertRejects(
      () => loadMnist(dir, { numTraining: 3, numValidation: 2 }),
      Error,
      `loadMnist: ${dir} is missing t10k-labels-idx1-ubyte (or t10k-labels-idx1-ubyte.gz)`,
    );
    const d = await loadMnist(dir, { numTraining: 3, numValidation: 2, numTest: 0 });
    assertEquals(d.xTest, undefined);
    await assertRejects(
      () => loadMnist(dir, { numTraining: 5, numValidation: 2, numTest: 0 }),
      DatasetFormatError,
      `loadMnist: ${dir}/train-images-idx3-ubyte.gz: holds 6 images (header field at byte 4), fewer than the 7 of ` +
        "numTraining + numValidation",
    );
  });
});

Deno.test("loadFashionMnist uses the Fashion-MNIST class names", async () => {
  await withTempDir(async (dir) => {
    await writeMnist(dir, false);
    const d = await loadFashionMnist(dir, { numTraining: 4, numValidation: 2, numTest: 2 });
    assertEquals(d.name, "fashion-mnist");
    assertEquals(d.classNames, [...FASHION_MNIST_CLASS_NAMES]);
    assertEquals(d.classNames[0], "T-shirt/top");
    assertEquals(d.classNames[9], "Ankle boot");
  });
});

// ---------------------------------------------------------------- loadDataset

Deno.test("loadDataset parses sample, cifar10:DIR, fashion-mnist[:DIR] and mnist:DIR", async () => {
  const s = await loadDataset("sample", { numTraining: 20, numValidation: 10 });
  assertEquals([s.name, s.xTrain.shape[0], s.xVal.shape[0]], ["cifar10-sample", 20, 10]);
  await withTempDir(async (dir) => {
    await writeMnist(dir, true);
    const opts = { numTraining: 4, numValidation: 2, numTest: 2 };
    assertEquals((await loadDataset(`mnist:${dir}`, opts)).name, "mnist");
    assertEquals((await loadDataset(`fashion-mnist:${dir}`, opts)).name, "fashion-mnist");
    await fakeCifarDir(dir, ["data_batch_1.bin"]);
    const c = await loadDataset(`cifar10:${dir}`, { numTraining: 2, numValidation: 0, numTest: 0 });
    assertEquals(c.name, "cifar10");
  });
  for (const spec of ["cifar100", "mnist", "cifar10", "sample:x", "Sample"]) {
    await assertRejects(
      () => loadDataset(spec),
      Error,
      `loadDataset: unknown dataset spec "${spec}"; accepted: ${DATASET_SPECS.join(", ")}`,
    );
  }
  await assertRejects(() => loadDataset("cifar10:"), Error, `spec "cifar10:" has an empty DIR`);
});
