/**
 * The work of an experiment as plain, structured-clone-friendly tasks (a
 * training run or a gradient check) and {@link executeTask}, which runs one
 * in whichever thread it is called from: `run_worker.ts` calls it inside a
 * Web Worker and posts the records back.
 *
 * A training run draws everything from one `RandomState(seed)` (initial
 * weights, minibatches, dropout masks, accuracy subsamples), as `deno task
 * train` does, so its records are the same whichever worker runs it and
 * whatever runs beside it.
 *
 * @module
 */

import { type Dataset, loadDataset } from "../../../datasets/dataset.ts";
import { FullyConnectedNet } from "../../../layers/models/fully_connected_net.ts";
import type { Model } from "../../../layers/models/model.ts";
import { ThreeLayerConvNet } from "../../../layers/models/three_layer_convnet.ts";
import { RandomState } from "../../../layers/random.ts";
import type { DType } from "../../../layers/tensor.ts";
import type { TrainEvent } from "../../messages.ts";
import type { TrainRecord } from "../../store/records.ts";
import { Solver, TrainingStoppedError } from "../../solver.ts";
import type { UpdateRuleName } from "../../update_rules.ts";
import { type GradientCheckResult, runGradientCheck } from "../../../layers/gradient_checks.ts";

/** Which data a training run loads (see `loadDataset`). */
export interface DataSpec {
  /** `sample`, `cifar10:DIR`, `fashion-mnist[:DIR]` or `mnist:DIR`. */
  spec: string;
  /** Training examples (the first ones). */
  numTrain: number;
  /** Validation examples (null: the loader's default, 1,000 for CIFAR-10 and the sample). */
  numVal: number | null;
  /** Dtype of the images and of the model. */
  dtype: DType;
}

/** A fully connected net (`FullyConnectedNet`). */
export interface FcModelSpec {
  /** Discriminator. */
  kind: "fc";
  /** Hidden layer sizes. */
  hiddenDims: number[];
  /** Normalization after each hidden affine layer (null: none). */
  normalization: "batchnorm" | "layernorm" | null;
  /** Probability of dropping a hidden unit (0: no dropout). */
  dropout: number;
  /** Standard deviation of the initial weights. */
  weightScale: number;
  /** L2 regularization strength. */
  reg: number;
}

/** The three-layer convnet (`ThreeLayerConvNet`). */
export interface CnnModelSpec {
  /** Discriminator. */
  kind: "cnn";
  /** Filters of the conv layer. */
  numFilters: number;
  /** Odd filter size. */
  filterSize: number;
  /** Units of the hidden affine layer. */
  hiddenDim: number;
  /** Standard deviation of the initial weights. */
  weightScale: number;
  /** L2 regularization strength. */
  reg: number;
}

/** A model to build. */
export type ModelSpec = FcModelSpec | CnnModelSpec;

/** How the Solver trains (the course's Solver arguments). */
export interface SolverSpec {
  /** Update rule by name. */
  updateRule: UpdateRuleName;
  /** Initial learning rate. */
  learningRate: number;
  /** Minibatch size. */
  batchSize: number;
  /** Epochs. */
  numEpochs: number;
  /** Training examples per accuracy check (null: all). Default 1000, as the course. */
  numTrainSamples?: number | null;
}

/** One training run: everything a worker needs, as plain data. */
export interface TrainTask {
  /** Discriminator. */
  kind: "train";
  /** Unique within the experiment; legends, tables and file names come from it. */
  label: string;
  /** The data. */
  data: DataSpec;
  /** The model. */
  model: ModelSpec;
  /** The Solver's settings. */
  solver: SolverSpec;
  /** Seeds the run's one generator (weights, minibatches, dropout masks, accuracy subsamples). */
  seed: number;
  /** Parameters to send back after training (the best ones, as the Solver leaves them), e.g. `["W1"]`. */
  returnParams?: string[];
  /** Experiment-specific facts about the run (its weight scale in a sweep, …), copied into its start record. */
  facts?: Record<string, string | number | boolean | null>;
}

/** One gradient check of `gradient_checks.ts`. */
export interface GradCheckTask {
  /** Discriminator. */
  kind: "gradcheck";
  /** Unique within the experiment. */
  label: string;
  /** The check's name in `GRADIENT_CHECKS`. */
  check: string;
}

/** Work for a worker. */
export type Task = TrainTask | GradCheckTask;

/** A parameter sent back from a worker. */
export interface ParamData {
  /** Its shape. */
  shape: number[];
  /** Its values, row-major. */
  data: Float32Array | Float64Array;
}

/** What a finished task sends back besides its records. */
export interface TaskResult {
  /** The task's label. */
  label: string;
  /** Wall time of the task where it ran, ms. */
  wallMs: number;
  /** Training: whether the run stopped early (a non-finite loss). */
  stopped?: boolean;
  /** Training: the parameters asked for in `returnParams`. */
  params?: Record<string, ParamData>;
  /** Gradient check: what it measured. */
  gradCheck?: GradientCheckResult;
  /** A short line for the progress output. */
  note?: string;
}

/** A record of one run, as the merged stream of an experiment carries it. */
export interface LabelledRecord {
  /** The run's label. */
  label: string;
  /** The record. */
  record: TrainRecord;
}

// Loaded datasets of this thread: runs of one experiment share one, and a worker runs its tasks one after another.
const datasets = new Map<string, Promise<Dataset>>();

/** Loads (once per thread) the data a task asks for. */
export function loadTaskData(spec: DataSpec): Promise<Dataset> {
  const key = JSON.stringify([spec.spec, spec.numTrain, spec.numVal, spec.dtype]);
  let data = datasets.get(key);
  if (data === undefined) {
    data = loadDataset(spec.spec, {
      numTraining: spec.numTrain,
      ...(spec.numVal === null ? {} : { numValidation: spec.numVal }),
      numTest: 0,
      dtype: spec.dtype,
    });
    datasets.set(key, data);
    // A failed load is not kept: the next task gets the error afresh.
    data.catch(() => datasets.delete(key));
  }
  return data;
}

/** Builds the model a task describes, drawing its weights from `random`. */
export function buildTaskModel(spec: ModelSpec, data: Dataset, dtype: DType, random: RandomState): Model {
  const numClasses = data.classNames.length;
  const [, ...image] = data.xTrain.shape;
  if (spec.kind === "fc") {
    return new FullyConnectedNet(spec.hiddenDims, {
      inputDim: image.reduce((p, v) => p * v, 1),
      numClasses,
      dropout: spec.dropout,
      normalization: spec.normalization,
      reg: spec.reg,
      weightScale: spec.weightScale,
      dtype,
      random,
    });
  }
  if (image.length !== 3) {
    throw new RangeError(
      `buildTaskModel: a convnet needs images (N, C, H, W); ${data.name} gives (N, ${image.join(", ")})`,
    );
  }
  return new ThreeLayerConvNet({
    inputDim: image as [number, number, number],
    numFilters: spec.numFilters,
    filterSize: spec.filterSize,
    hiddenDim: spec.hiddenDim,
    numClasses,
    weightScale: spec.weightScale,
    reg: spec.reg,
    dtype,
    random,
  });
}

/**
 * Runs one task here. A training run's records go to `onRecord` as the
 * Solver emits them (a run that stops on a non-finite loss is a result,
 * `stopped: true`, not an error); a gradient check emits none.
 *
 * @throws whatever the task throws (a dataset that cannot be read, an unknown check, …)
 */
export async function executeTask(task: Task, onRecord: (record: TrainRecord) => void = () => {}): Promise<TaskResult> {
  const t0 = performance.now();
  if (task.kind === "gradcheck") {
    const gradCheck = runGradientCheck(task.check);
    const failed = gradCheck.rows.filter((r) => !r.pass).length + gradCheck.vanishing.filter((r) => !r.pass).length;
    const worst = Math.max(...gradCheck.rows.map((r) => r.relError / r.threshold));
    return {
      label: task.label,
      wallMs: performance.now() - t0,
      gradCheck,
      note: failed === 0
        ? `${gradCheck.rows.length + gradCheck.vanishing.length} gradients within their bounds (worst at ${
          (100 * worst).toPrecision(2)
        } % of its bound)`
        : `${failed} gradient${failed === 1 ? "" : "s"} above the bound`,
    };
  }
  const data = await loadTaskData(task.data);
  const random = new RandomState(task.seed);
  const model = buildTaskModel(task.model, data, task.data.dtype, random);
  const sink = new WritableStream<TrainEvent>({
    write({ record }) {
      onRecord(record);
    },
  });
  const solver = new Solver(model, data, {
    updateRule: task.solver.updateRule,
    optimConfig: { learningRate: task.solver.learningRate },
    batchSize: task.solver.batchSize,
    numEpochs: task.solver.numEpochs,
    ...(task.solver.numTrainSamples !== undefined ? { numTrainSamples: task.solver.numTrainSamples } : {}),
    random,
    verbose: false,
    sinks: [sink],
    run: {
      label: task.label,
      model: { ...task.model, dtype: task.data.dtype },
      dataset: { spec: task.data.spec, name: data.name, numTrain: data.xTrain.shape[0], numVal: data.xVal.shape[0] },
      seed: task.seed,
      ...(task.facts ? { facts: task.facts } : {}),
    },
  });
  let stopped = false;
  try {
    await solver.train();
  } catch (e) {
    if (!(e instanceof TrainingStoppedError)) throw e;
    stopped = true;
  }
  const params: Record<string, ParamData> = {};
  for (const name of task.returnParams ?? []) {
    const p = model.params[name];
    if (p === undefined) throw new Error(`executeTask: run "${task.label}" has no parameter ${name}`);
    params[name] = { shape: [...p.shape], data: p.data.slice() };
  }
  const last = solver.valAccHistory.length - 1;
  return {
    label: task.label,
    wallMs: performance.now() - t0,
    stopped,
    ...(task.returnParams ? { params } : {}),
    note: stopped
      ? "stopped: the loss stopped being finite"
      : `train acc ${(100 * solver.trainAccHistory[last]).toFixed(1)} %, val acc ${
        (100 * solver.valAccHistory[last]).toFixed(1)
      } %, best val ${(100 * solver.bestValAcc).toFixed(1)} %`,
  };
}
