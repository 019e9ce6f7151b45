// Real-data checks: loadCifar10 on ../shared/datasets/cifar-10-batches-bin and
// loadFashionMnist on Debian's /usr/share/datasets/fashion-mnist, against what
// numpy computes (tests/fixtures/cifar10_real.py, tests/fixtures/fashion_mnist_real.py).
// Each test is ignored, saying so in its name, when its data is not on the machine.

import { assert, assertEquals, assertRejects } from "@std/assert";
import type { Tensor } from "../layers/tensor.ts";
import { loadCifar10 } from "../datasets/cifar10.ts";
import type { Dataset } from "../datasets/dataset.ts";
import { loadDataset } from "../datasets/registry.ts";
import { DEBIAN_FASHION_MNIST_DIR, loadFashionMnist } from "../datasets/idx.ts";
import { SAMPLE_TRAIN_URL, SAMPLE_VAL_URL } from "../datasets/sample.ts";
import { readFixture } from "./helpers.ts";

const CIFAR_URL = new URL("../../shared/datasets/cifar-10-batches-bin", import.meta.url);
const CIFAR_DIR = decodeURIComponent(CIFAR_URL.pathname);

async function isDir(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isDirectory;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

const haveCifar = await isDir(CIFAR_DIR);
const haveFashion = await isDir(DEBIAN_FASHION_MNIST_DIR);
const cifarNote = haveCifar ? "" : ` (skipped: ${CIFAR_DIR} not found)`;
const fashionNote = haveFashion ? "" : ` (skipped: ${DEBIAN_FASHION_MNIST_DIR} not found)`;

async function sha256(t: Tensor): Promise<string> {
  const bytes = new Uint8Array(t.data.buffer as ArrayBuffer, t.data.byteOffset, t.data.byteLength);
  const digest = await crypto.subtle.digest("SHA-256", bytes);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

interface SplitFixture {
  shape: number[];
  labels: number[];
  sha256_float32: string;
  sha256_float64: string;
}

async function assertMatchesFixture(d: Dataset, f: Record<string, SplitFixture & { sha256_float64: string }>) {
  const splits: [string, Tensor, Int32Array][] = [
    ["train", d.xTrain, d.yTrain],
    ["val", d.xVal, d.yVal],
    ["test", d.xTest!, d.yTest!],
  ];
  for (const [name, x, y] of splits) {
    assertEquals(x.shape, f[name].shape, `${name} shape`);
    assertEquals([...y], f[name].labels, `${name} labels`);
    assertEquals(
      await sha256(x),
      x.dtype === "float32" ? f[name].sha256_float32 : f[name].sha256_float64,
      `${name} values`,
    );
  }
  assertEquals(await sha256(d.meanImage!), f.mean_image.sha256_float64, "mean image");
}

Deno.test({
  name:
    `loadCifar10 numTraining 1000 (+1000 val, 1000 test) equals numpy's get_CIFAR10_data split bit for bit${cifarNote}`,
  ignore: !haveCifar,
  async fn() {
    const fixture = await readFixture("cifar10_real.json");
    const d = await loadCifar10(CIFAR_DIR, { numTraining: 1000, numValidation: 1000, numTest: 1000 });
    assertEquals(d.xTrain.dtype, "float32");
    await assertMatchesFixture(d, fixture);
    const d64 = await loadCifar10(CIFAR_DIR, {
      numTraining: 1000,
      numValidation: 1000,
      numTest: 1000,
      dtype: "float64",
    });
    await assertMatchesFixture(d64, fixture);
  },
});

Deno.test({
  name:
    `the embedded sample is byte for byte data_batch_1 records 0–999 and data_batch_5 records 9000–9999${cifarNote}`,
  ignore: !haveCifar,
  async fn() {
    const gunzip = async (url: URL) =>
      new Uint8Array(
        await new Response((await Deno.open(url)).readable.pipeThrough(new DecompressionStream("gzip"))).arrayBuffer(),
      );
    const train = await gunzip(SAMPLE_TRAIN_URL);
    const val = await gunzip(SAMPLE_VAL_URL);
    const b1 = await Deno.readFile(`${CIFAR_DIR}/data_batch_1.bin`);
    const b5 = await Deno.readFile(`${CIFAR_DIR}/data_batch_5.bin`);
    assertEquals(train.length, 1000 * 3073);
    assertEquals(val.length, 1000 * 3073);
    assert(train.every((v, i) => v === b1[i]), "train sample differs from data_batch_1.bin");
    assert(val.every((v, i) => v === b5[9000 * 3073 + i]), "validation sample differs from data_batch_5.bin");
  },
});

Deno.test({
  name: `loadCifar10 numTraining 20000 reads data_batch_2 when present and names it when not${cifarNote}`,
  ignore: !haveCifar,
  async fn() {
    const opts = { numTraining: 20000, numValidation: 0, numTest: 0, subtractMean: false };
    let batch2: Uint8Array | undefined;
    try {
      batch2 = await Deno.readFile(`${CIFAR_DIR}/data_batch_2.bin`);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
    if (!batch2) {
      await assertRejects(
        () => loadCifar10(CIFAR_DIR, opts),
        Error,
        `loadCifar10: ${CIFAR_DIR} is missing data_batch_2.bin (numTraining 20000 needs it for training images 10000–19999)`,
      );
      return;
    }
    const d = await loadCifar10(CIFAR_DIR, opts);
    for (const i of [0, 1, 4999, 9999]) {
      assertEquals(d.yTrain[10000 + i], batch2[i * 3073], `label of training image ${10000 + i}`);
      assertEquals(d.xTrain.data[(10000 + i) * 3072 + 1500], batch2[i * 3073 + 1 + 1500]);
    }
  },
});

Deno.test({
  name: `loadFashionMnist from Debian's folder equals numpy's split bit for bit${fashionNote}`,
  ignore: !haveFashion,
  async fn() {
    const fixture = await readFixture("fashion_mnist_real.json");
    const d = await loadDataset("fashion-mnist", { numTraining: 1000, numValidation: 1000, numTest: 1000 });
    assertEquals(d.name, "fashion-mnist");
    assertEquals(d.source, DEBIAN_FASHION_MNIST_DIR);
    assertEquals(d.xTrain.shape, [1000, 1, 28, 28]);
    await assertMatchesFixture(d, fixture);
    const d64 = await loadFashionMnist(undefined, {
      numTraining: 1000,
      numValidation: 1000,
      numTest: 1000,
      dtype: "float64",
    });
    await assertMatchesFixture(d64, fixture);
  },
});
