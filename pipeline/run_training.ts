/**
 * One training run from plain data: {@link runTraining} loads the data a
 * {@link TrainingSpec} names, builds its model and trains it with one
 * `RandomState(seed)` (initial weights, dropout masks, minibatches and
 * accuracy subsamples, as the course's single `np.random` stream). `deno
 * task train`, every experiment and the Web Workers run their training
 * through it, so the same spec gives the same numbers bit for bit wherever
 * it runs.
 *
 * @module
 */

import type { Dataset } from "../datasets/dataset.ts";
import { loadDataset } from "../datasets/registry.ts";
import { buildModel, type ModelSpec } from "../layers/models/model_spec.ts";
import type { Model } from "../layers/models/model.ts";
import { RandomState } from "../layers/random.ts";
import type { DType } from "../layers/tensor.ts";
import type { TrainEvent } from "./messages.ts";
import type { ProgressSinkOptions } from "./progress.ts";
import type { SamplingMode } from "./schedule.ts";
import { Solver, TrainingStoppedError } from "./solver.ts";
import type { RunDescription } from "./store/records.ts";
import type { UpdateRuleName } from "./update_rules.ts";

/** Which data a training run loads (see `loadDataset` in `datasets/registry.ts`). */
export interface DataSpec {
  /** `sample`, `cifar10:DIR`, `fashion-mnist[:DIR]` or `mnist:DIR`. */
  spec: string;
  /** Training examples (the first ones). */
  numTrain: number;
  /** Validation examples (null: the loader's default, 1,000 for CIFAR-10 and the sample). */
  numVal: number | null;
  /** Dtype of the images and of the model. */
  dtype: DType;
  /** Test examples to load as well (the first ones; the Solver never reads them). Default 0. */
  numTest?: number;
}

/** How the Solver trains (the course's Solver arguments); what is left out takes the Solver's default. */
export interface SolverSpec {
  /** Update rule by name. */
  updateRule: UpdateRuleName;
  /** Initial learning rate. */
  learningRate: number;
  /** Minibatch size. */
  batchSize: number;
  /** Epochs. */
  numEpochs: number;
  /** Learning-rate factor after each epoch. Default: the Solver's, 1. */
  lrDecay?: number;
  /** Minibatch sampling. Default: the Solver's, `"replacement"` (the course's). */
  sampling?: SamplingMode;
  /** Training examples per accuracy check (null: all). Default: the Solver's, 1000. */
  numTrainSamples?: number | null;
  /**
   * Extra accuracy checks every this many steps (`--check-every`), drawn from generators of their own seeded
   * by the run's seed, so the losses are those of a run without them. Default 0: only the course's checks.
   */
  checkEvery?: number;
  /** More settings of the update rule besides the learning rate, e.g. `{ weightDecay: 5e-4 }`. Default none. */
  optimConfig?: Record<string, number>;
  /** A per-step learning-rate schedule in its compact form (`onecycle`, `cosine:min=1e-4`; see `parseLrSchedule`). */
  lrSchedule?: string;
  /** Augmentation of the training batches in its compact form (`flip,crop4`; see `parseAugmentSpec`). */
  augment?: string;
}

/** Everything that decides a training run's numbers. */
export interface TrainingSpec {
  /** The data. */
  data: DataSpec;
  /** The model. */
  model: ModelSpec;
  /** The Solver's settings. */
  solver: SolverSpec;
  /** Seeds the run's one generator. */
  seed: number;
}

/** A run set up and about to train. */
export interface PreparedTraining {
  /** The loaded data. */
  data: Dataset;
  /** The model, with its initial weights. */
  model: Model;
  /** The Solver, not yet trained. */
  solver: Solver;
}

/** A finished run. */
export interface TrainingOutcome extends PreparedTraining {
  /** Why the run stopped early (a non-finite loss), or null when it ran to the end. */
  stopped: TrainingStoppedError | null;
}

/** Where a run's records go, and what it writes; none of it changes the numbers. */
export interface TrainingOutputs {
  /** Sinks that receive every event. */
  sinks?: WritableStream<TrainEvent>[];
  /** NDJSON run log path. */
  runLog?: string;
  /** Checkpoint path (written every epoch). */
  checkpoint?: string;
  /** Progress on stderr (or `progress.writable`). Default false. */
  verbose?: boolean;
  /** Course lines: loss every this many steps. Default: the Solver's, 10. */
  printEvery?: number;
  /** More progress options. */
  progress?: ProgressSinkOptions;
  /** Description for the start record; `dataset` is filled in from the loaded data. */
  run?: RunDescription;
  /** Keep the loaded data for later runs of this thread with the same {@link DataSpec}. Default false. */
  cacheData?: boolean;
  /** Called once the Solver is built, before training (to restore a checkpoint, print a line, make directories). */
  beforeTrain?: (prepared: PreparedTraining) => void | Promise<void>;
}

// Loaded datasets of this thread: the runs of one experiment share one, and a worker runs its tasks one after another.
const cachedData = new Map<string, Promise<Dataset>>();

/**
 * Loads the data `spec` names (test images only when `numTest` asks: training never reads them).
 * With `cache`, loads once per thread and spec; a failed load is not kept.
 */
export function loadTrainingData(spec: DataSpec, options: { cache?: boolean } = {}): Promise<Dataset> {
  const load = () =>
    loadDataset(spec.spec, {
      numTraining: spec.numTrain,
      ...(spec.numVal === null ? {} : { numValidation: spec.numVal }),
      numTest: spec.numTest ?? 0,
      dtype: spec.dtype,
    });
  if (!options.cache) return load();
  const key = JSON.stringify([spec.spec, spec.numTrain, spec.numVal, spec.dtype, spec.numTest ?? 0]);
  let data = cachedData.get(key);
  if (data === undefined) {
    data = load();
    cachedData.set(key, data);
    data.catch(() => cachedData.delete(key));
  }
  return data;
}

/**
 * Runs `spec`: loads its data, builds its model from `RandomState(seed)`,
 * trains it with a Solver drawing from the same generator, and returns the
 * data, model and Solver (its histories, best parameters). A run that stops
 * on a non-finite loss is an outcome (`stopped`), not an error.
 *
 * @throws whatever loading, building or training throws besides a stop (a dataset that cannot be read, a bad spec)
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { runTraining } from "./run_training.ts";
 * const { solver, stopped } = await runTraining({
 *   data: { spec: "sample", numTrain: 20, numVal: 10, dtype: "float32" },
 *   model: { kind: "fc", hiddenDims: [8], normalization: null, dropout: 0, weightScale: 1e-2, reg: 0 },
 *   solver: { updateRule: "adam", learningRate: 1e-3, batchSize: 10, numEpochs: 1 },
 *   seed: 0,
 * });
 * assertEquals([stopped, solver.lossHistory.length], [null, 2]);
 * ```
 */
export async function runTraining(spec: TrainingSpec, outputs: TrainingOutputs = {}): Promise<TrainingOutcome> {
  const data = await loadTrainingData(spec.data, { cache: outputs.cacheData });
  const random = new RandomState(spec.seed);
  const [, ...inputShape] = data.xTrain.shape;
  const model = buildModel(spec.model, {
    inputShape,
    numClasses: data.classNames.length,
    dtype: spec.data.dtype,
    random,
  });
  const s = spec.solver;
  const solver = new Solver(model, data, {
    updateRule: s.updateRule,
    optimConfig: { ...s.optimConfig, learningRate: s.learningRate },
    lrSchedule: s.lrSchedule,
    augment: s.augment,
    batchSize: s.batchSize,
    numEpochs: s.numEpochs,
    lrDecay: s.lrDecay,
    sampling: s.sampling,
    numTrainSamples: s.numTrainSamples,
    ...(s.checkEvery ? { checkEvery: s.checkEvery, checkSeed: spec.seed } : {}),
    random,
    verbose: outputs.verbose ?? false,
    printEvery: outputs.printEvery,
    progress: outputs.progress,
    runLog: outputs.runLog,
    checkpoint: outputs.checkpoint,
    sinks: outputs.sinks,
    run: withDataset(outputs.run ?? {}, {
      spec: spec.data.spec,
      name: data.name,
      numTrain: data.xTrain.shape[0],
      numVal: data.xVal.shape[0],
    }),
  });
  const prepared = { data, model, solver };
  await outputs.beforeTrain?.(prepared);
  try {
    await solver.train();
  } catch (e) {
    if (!(e instanceof TrainingStoppedError)) throw e;
    return { ...prepared, stopped: e };
  }
  return { ...prepared, stopped: null };
}

/** `run` with `dataset` right after `model` (where the run logs have always had it), else at the end. */
function withDataset(run: RunDescription, dataset: Record<string, unknown>): RunDescription {
  const out: RunDescription = {};
  for (const [k, v] of Object.entries(run)) {
    if (k === "dataset") continue;
    out[k] = v;
    if (k === "model") out.dataset = dataset;
  }
  out.dataset = dataset;
  return out;
}
