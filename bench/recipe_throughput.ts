/**
 * Training throughput of the issue-13 recipe on real CIFAR-10: the five-conv
 * batch-norm net (3×3 convs of 32, 32, 64, 64, 128 channels, each with
 * spatial batch norm and ReLU, 2×2 max pools after the 2nd, 4th and 5th, one
 * affine layer), batch 128, SGD with Nesterov momentum 0.9, weight decay
 * 5e-4, a one-cycle rate peaking at 0.1, flip + 4-pixel crop augmentation,
 * through the streaming Solver, float32.
 *
 * ```sh
 * deno run -A bench/recipe_throughput.ts [--steps 50] [--dataset ../shared/datasets/cifar-10-batches-bin]
 * ```
 *
 * It trains `steps` steps (one epoch of `steps · 128` images) and reports
 * images per second between the second and the last step's records, which
 * leaves out the accuracy checks after the first and last steps and the
 * first step's warm-up.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { loadCifar10 } from "../datasets/cifar10.ts";
import { describeGemmBackend, useGemmBackend } from "../layers/kernels/gemm_backends.ts";
import { Sequential } from "../layers/models/sequential.ts";
import { RandomState } from "../layers/random.ts";
import { CIFAR10_NET } from "../pipeline/commands/experiments/cifar10.ts";
import { Solver } from "../pipeline/solver.ts";
import type { TrainRecord } from "../pipeline/store/records.ts";
import { collectRecords } from "../pipeline/store/run_log.ts";

/** The net as a Sequential spec (the cifar10 experiment's). */
export const RECIPE_SPEC = CIFAR10_NET;

const { values } = parseArgs({
  args: Deno.args,
  options: { steps: { type: "string", default: "50" }, dataset: { type: "string" }, gemm: { type: "string" } },
});
const steps = Number(values.steps);
const dir = values.dataset ?? new URL("../../shared/datasets/cifar-10-batches-bin", import.meta.url).pathname;
const batchSize = 128;
useGemmBackend((values.gemm ?? "auto") as "auto");
const data = await loadCifar10(dir, { numTraining: steps * batchSize, numValidation: 1000, numTest: 0 });
const random = new RandomState(0);
const model = new Sequential(RECIPE_SPEC, { weightScale: "kaiming", random });
const records: TrainRecord[] = [];
const solver = new Solver(model, data, {
  updateRule: "sgdNesterov",
  optimConfig: { learningRate: 0.1, momentum: 0.9, weightDecay: 5e-4 },
  lrSchedule: "onecycle",
  augment: "flip,crop4",
  batchSize,
  numEpochs: 1,
  sampling: "shuffle",
  random,
  verbose: false,
  sinks: [collectRecords(records)],
});
await solver.train();
const its = records.filter((r) => r.kind === "iteration");
const first = its[1], last = its.at(-1)!;
if (first?.kind !== "iteration" || last.kind !== "iteration") throw new Error("too few steps to time");
const seconds = (last.elapsedMs - first.elapsedMs) / 1000;
const images = (last.iteration - first.iteration) * batchSize;
console.log(
  `recipe: ${RECIPE_SPEC}, batch ${batchSize}, ${steps} steps, gemm ${describeGemmBackend()}: ` +
    `${(images / seconds).toFixed(1)} images/s (${
      (seconds / (last.iteration - first.iteration) * 1000).toFixed(0)
    } ms/step), ` +
    `loss ${solver.lossHistory[0].toFixed(3)} → ${solver.lossHistory.at(-1)!.toFixed(3)}, val acc ${
      solver.valAccHistory.at(-1)!.toFixed(3)
    }; a 49,000-image epoch would take ${(49000 / (images / seconds) / 60).toFixed(1)} min`,
);
