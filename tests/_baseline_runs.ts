/**
 * The two float32 Solver runs of tests/fixtures/solver_baseline.json, shared
 * by the script that records them and by tests/augment_test.ts, which replays
 * them with the recipe's options off (Deno std's `_name.ts` convention: not a
 * test file).
 *
 * @module
 */

import { loadSample } from "../datasets/sample.ts";
import { FullyConnectedNet } from "../layers/models/fully_connected_net.ts";
import type { Model } from "../layers/models/model.ts";
import { ThreeLayerConvNet } from "../layers/models/three_layer_convnet.ts";
import { RandomState } from "../layers/random.ts";
import { Solver, type SolverOptions } from "../pipeline/solver.ts";
import type { SolverState } from "../pipeline/training_state.ts";

/** What the baseline keeps of a run. */
export type Histories = Pick<SolverState, "lossHistory" | "trainAccHistory" | "valAccHistory">;

/** One baseline run: sample sizes, the seed of its one RandomState, its model and its Solver options. */
interface BaselineRun {
  numTraining: number;
  numValidation: number;
  seed: number;
  model: (random: RandomState) => Model;
  options: SolverOptions;
}

const RUNS: Record<"fcAdamLockstep" | "cnnMomentumShuffle", BaselineRun> = {
  // A batch-norm and dropout FullyConnectedNet with adam in the course's sampling.
  fcAdamLockstep: {
    numTraining: 500,
    numValidation: 200,
    seed: 5,
    model: (random) =>
      new FullyConnectedNet([50, 50], { normalization: "batchnorm", dropout: 0.2, weightScale: 2e-2, random }),
    options: {
      updateRule: "adam",
      optimConfig: { learningRate: 1e-3 },
      lrDecay: 0.9,
      batchSize: 50,
      numEpochs: 2,
      numTrainSamples: 300,
    },
  },
  // A ThreeLayerConvNet with sgdMomentum on shuffled epochs.
  cnnMomentumShuffle: {
    numTraining: 120,
    numValidation: 100,
    seed: 6,
    model: (random) =>
      new ThreeLayerConvNet({ numFilters: 4, filterSize: 3, hiddenDim: 20, weightScale: 1e-2, random }),
    options: {
      updateRule: "sgdMomentum",
      optimConfig: { learningRate: 1e-3 },
      batchSize: 25,
      numEpochs: 2,
      sampling: "shuffle",
    },
  },
};

/**
 * The baseline runs by name, on the embedded sample, each returning its histories. `extra` options are
 * spread last over each run's own (the tests pass options that must change nothing).
 */
export const BASELINE_RUNS: Readonly<Record<keyof typeof RUNS, (extra?: SolverOptions) => Promise<Histories>>> = Object
  .fromEntries(
    Object.entries(RUNS).map(([name, run]) => [name, (extra: SolverOptions = {}) => train(run, extra)]),
  ) as Record<keyof typeof RUNS, (extra?: SolverOptions) => Promise<Histories>>;

async function train(run: BaselineRun, extra: SolverOptions): Promise<Histories> {
  const data = await loadSample({ numTraining: run.numTraining, numValidation: run.numValidation });
  const random = new RandomState(run.seed);
  const model = run.model(random);
  const r = await new Solver(model, data, { ...run.options, random, verbose: false, ...extra }).train();
  return { lossHistory: r.lossHistory, trainAccHistory: r.trainAccHistory, valAccHistory: r.valAccHistory };
}
