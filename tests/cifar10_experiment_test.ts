/**
 * The `cifar10` experiment's plan: the course's split and the recipe
 * in full mode, the embedded sample in quick mode, and one line naming the
 * flag for data it cannot train on. (Its quick run and report are checked in
 * `experiments_test.ts`, with every experiment.)
 */

import { assertEquals, assertRejects } from "@std/assert";
import { UsageError } from "../pipeline/commands/cli.ts";
import { CIFAR10_MODEL, CIFAR10_NET, CIFAR10_SOLVER, cifar10Task } from "../pipeline/commands/experiments/cifar10.ts";
import { parseSequentialSpec } from "../layers/models/sequential.ts";

async function fakeCifar(batches: number[]): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "gradstream_cifar10_plan_" });
  for (const b of batches) await Deno.writeFile(`${dir}/data_batch_${b}.bin`, new Uint8Array(0));
  await Deno.writeFile(`${dir}/test_batch.bin`, new Uint8Array(0));
  return dir;
}

Deno.test("cifar10 trains the issue's net: five 3×3 convs with spatial batch norm, three pools, one affine layer", () => {
  const layers = parseSequentialSpec(CIFAR10_NET).blocks.flat();
  assertEquals(
    layers.filter((l) => l.kind === "conv").map((l) => l.kind === "conv" && [l.filters, l.size]),
    [[32, 3], [32, 3], [64, 3], [64, 3], [128, 3]],
  );
  assertEquals(layers.filter((l) => l.kind === "spatialBatchnorm").length, 5);
  assertEquals(layers.filter((l) => l.kind === "maxPool").length, 3);
  assertEquals(layers.at(-1), { kind: "affine", units: 10 });
  assertEquals(CIFAR10_MODEL.weightScale, "kaiming");
  assertEquals(
    [CIFAR10_SOLVER.updateRule, CIFAR10_SOLVER.learningRate, CIFAR10_SOLVER.optimConfig, CIFAR10_SOLVER.lrSchedule],
    ["sgdNesterov", 0.1, { momentum: 0.9, weightDecay: 5e-4 }, "onecycle"],
  );
  assertEquals(
    [CIFAR10_SOLVER.augment, CIFAR10_SOLVER.batchSize, CIFAR10_SOLVER.numEpochs],
    ["flip,crop4", 128, 8],
  );
});

Deno.test("cifar10 in full mode uses the course's split and evaluates the first 1,000 test images", async () => {
  const dir = await fakeCifar([1, 2, 3, 4, 5]);
  try {
    const task = await cifar10Task({ dataset: `cifar10:${dir}`, quick: false, seed: 0 });
    assertEquals(task.data, { spec: `cifar10:${dir}`, numTrain: 49000, numVal: null, dtype: "float32", numTest: 1000 });
    assertEquals(task.evaluate, "test");
    assertEquals([task.model, task.solver], [CIFAR10_MODEL, CIFAR10_SOLVER]);
    const short = await cifar10Task({ dataset: `cifar10:${dir}`, quick: false, seed: 1, epochs: 2, numTrain: 5000 });
    assertEquals([short.seed, short.solver.numEpochs, short.data.numTrain], [1, 2, 5000]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cifar10 --quick trains a few sample images and evaluates the validation images (the sample has no test split)", async () => {
  const task = await cifar10Task({ dataset: "sample", quick: true, seed: 0 });
  assertEquals([task.data.numTrain, task.data.numVal, task.data.numTest], [96, 100, undefined]);
  assertEquals([task.solver.batchSize, task.solver.numEpochs, task.evaluate], [32, 2, "validation"]);
  assertEquals(task.solver.learningRate, 0.005, "quick mode's gentler peak rate (six steps diverge at 0.1)");
  assertEquals(task.model, CIFAR10_MODEL);
});

Deno.test("cifar10 refuses data it cannot train on with one line naming the flag", async () => {
  await assertRejects(
    () => cifar10Task({ dataset: "mnist:/data", quick: false, seed: 0 }),
    UsageError,
    "--dataset: cifar10 trains on cifar10:DIR or the sample, not mnist:/data",
  );
  const dir = await fakeCifar([1, 2]);
  try {
    await assertRejects(
      () => cifar10Task({ dataset: `cifar10:${dir}`, quick: false, seed: 0 }),
      UsageError,
      "49,000 training images need data_batch_1–5, and only 20,000 can be read (pass --num-train 20000",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  await assertRejects(
    () => cifar10Task({ dataset: "sample", quick: false, seed: 0, numTrain: 2000 }),
    UsageError,
    "--num-train 2000 is more than the sample's 1000 training images",
  );
});
