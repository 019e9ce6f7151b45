/**
 * The course's training experiments, reproduced on the embedded CIFAR-10
 * sample through the streaming Solver:
 *
 * - ThreeLayerConvNet overfits 100 training examples (≥ 0.9 training
 *   accuracy after 15 epochs of batch 50, Adam 1e-3, weight scale 1e-2),
 *   as in ConvolutionalNetworks.ipynb "Overfit small data".
 * - A six-layer FullyConnectedNet ([100]×5) with batch norm trains faster
 *   than the same net without it (higher training accuracy after 10
 *   epochs on 1,000 examples, batch 50, Adam 1e-3, weight scale 2e-2), as in
 *   BatchNormalization.ipynb.
 *
 * Both use the fastest gemm backend available (OpenBLAS with --allow-ffi).
 */

import { assertGreater, assertGreaterOrEqual } from "@std/assert";
import { loadSample } from "../datasets/sample.ts";
import { useGemmBackend } from "../layers/kernels/gemm_backends.ts";
import { FullyConnectedNet } from "../layers/models/fully_connected_net.ts";
import type { Model } from "../layers/models/model.ts";
import { ThreeLayerConvNet } from "../layers/models/three_layer_convnet.ts";
import { RandomState } from "../layers/random.ts";
import { Solver, type SolverData } from "../pipeline/solver.ts";

useGemmBackend("auto", { quiet: true });

/** Trains `model` as both notebooks do (Adam 1e-3, batch 50); returns the solver and the time taken in ms. */
async function trainAdam(model: Model, data: SolverData, random: RandomState, numEpochs: number) {
  const t0 = performance.now();
  const solver = new Solver(model, data, {
    updateRule: "adam",
    optimConfig: { learningRate: 1e-3 },
    numEpochs,
    batchSize: 50,
    random,
    verbose: false,
  });
  await solver.train();
  return { solver, ms: (performance.now() - t0).toFixed(0) };
}

Deno.test("ThreeLayerConvNet overfits 100 training examples to ≥ 0.9 training accuracy in 15 epochs", async () => {
  // Validation accuracy plays no part here, so 100 validation images keep the 16 checks cheap.
  const data = await loadSample({ numTraining: 100, numValidation: 100 });
  const random = new RandomState(0);
  const { solver, ms } = await trainAdam(new ThreeLayerConvNet({ weightScale: 1e-2, random }), data, random, 15);
  const acc = solver.trainAccHistory.at(-1)!;
  console.log(`cnn overfit: train acc ${acc}, val acc ${solver.valAccHistory.at(-1)}, ${ms} ms`);
  assertGreaterOrEqual(acc, 0.9);
});

Deno.test("batch norm beats no normalization in training accuracy after 10 epochs ([100]×5, 1,000 examples)", async () => {
  const data = await loadSample({ numTraining: 1000 });
  const acc: Record<string, number> = {};
  for (const normalization of ["batchnorm", null] as const) {
    const random = new RandomState(0);
    const model = new FullyConnectedNet([100, 100, 100, 100, 100], { normalization, weightScale: 2e-2, random });
    const { solver, ms } = await trainAdam(model, data, random, 10);
    acc[String(normalization)] = solver.trainAccHistory.at(-1)!;
    console.log(
      `fc ${normalization}: train acc ${solver.trainAccHistory.at(-1)}, val acc ${
        solver.valAccHistory.at(-1)
      }, best val ${solver.bestValAcc}, ${ms} ms`,
    );
  }
  assertGreater(acc.batchnorm, acc.null);
});
