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
import { ThreeLayerConvNet } from "../layers/models/three_layer_convnet.ts";
import { RandomState } from "../layers/random.ts";
import { Solver, type SolverOptions } from "../pipeline/solver.ts";

/** What the baseline keeps of a run. */
export interface Histories {
  /** Minibatch loss of every step. */
  lossHistory: number[];
  /** Training accuracy of every check. */
  trainAccHistory: number[];
  /** Validation accuracy of every check. */
  valAccHistory: number[];
}

/**
 * The baseline runs by name, on the embedded sample: a batch-norm and dropout FullyConnectedNet with adam in
 * the course's sampling, and a ThreeLayerConvNet with sgdMomentum on shuffled epochs. `extra` options are
 * spread last over each run's own (the tests pass options that must change nothing).
 */
export const BASELINE_RUNS: Readonly<
  Record<"fcAdamLockstep" | "cnnMomentumShuffle", (extra?: SolverOptions) => Promise<Histories>>
> = {
  async fcAdamLockstep(extra = {}) {
    const data = await loadSample({ numTraining: 500, numValidation: 200 });
    const random = new RandomState(5);
    const model = new FullyConnectedNet([50, 50], {
      normalization: "batchnorm",
      dropout: 0.2,
      weightScale: 2e-2,
      random,
    });
    return histories(
      await new Solver(model, data, {
        updateRule: "adam",
        optimConfig: { learningRate: 1e-3 },
        lrDecay: 0.9,
        batchSize: 50,
        numEpochs: 2,
        numTrainSamples: 300,
        random,
        verbose: false,
        ...extra,
      }).train(),
    );
  },
  async cnnMomentumShuffle(extra = {}) {
    const data = await loadSample({ numTraining: 120, numValidation: 100 });
    const random = new RandomState(6);
    const model = new ThreeLayerConvNet({ numFilters: 4, filterSize: 3, hiddenDim: 20, weightScale: 1e-2, random });
    return histories(
      await new Solver(model, data, {
        updateRule: "sgdMomentum",
        optimConfig: { learningRate: 1e-3 },
        batchSize: 25,
        numEpochs: 2,
        sampling: "shuffle",
        random,
        verbose: false,
        ...extra,
      }).train(),
    );
  },
};

function histories({ lossHistory, trainAccHistory, valAccHistory }: Histories): Histories {
  return { lossHistory, trainAccHistory, valAccHistory };
}
