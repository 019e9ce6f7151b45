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

import {
  buildModel,
  type CnnModelSpec,
  type FcModelSpec,
  type ModelSpec,
  type SequentialModelSpec,
} from "../../../layers/models/model_spec.ts";
import { RandomState } from "../../../layers/random.ts";
import type { Tensor } from "../../../layers/tensor.ts";
import type { Model } from "../../../layers/models/model.ts";
import type { Dataset } from "../../../datasets/dataset.ts";
import {
  type DataSpec,
  loadTrainingData,
  runTraining,
  type SolverSpec,
  type TrainingOutputs,
  type TrainingSpec,
} from "../../run_training.ts";
import { evaluateModel, type Evaluation } from "../../test_evaluation.ts";
import type { TrainEvent } from "../../messages.ts";
import { loadCheckpoint } from "../../store/checkpoint.ts";
import type { TrainRecord } from "../../store/records.ts";
import { type GradientCheckResult, runGradientCheck } from "../../../layers/gradient_checks.ts";
import { runFolderPaths, runInFolder, type RunPlace } from "../run_in_folder.ts";

export type { CnnModelSpec, DataSpec, Evaluation, FcModelSpec, ModelSpec, RunPlace, SequentialModelSpec, SolverSpec };

/** One training run: everything a worker needs, as plain data (a {@link TrainingSpec} with a label). */
export interface TrainTask extends TrainingSpec {
  /** Discriminator. */
  kind: "train";
  /** Unique within the experiment; legends, tables and file names come from it. */
  label: string;
  /** Parameters to send back after training (the best ones, as the Solver leaves them), e.g. `["W1"]`. */
  returnParams?: string[];
  /** Experiment-specific facts about the run (its weight scale in a sweep, …), copied into its start record. */
  facts?: Record<string, string | number | boolean | null>;
  /**
   * After training, evaluate the model (the best parameters, as the Solver
   * leaves them) on the test images (`data.numTest` of them) or the
   * validation images, and send back the confusion matrix. Default: none.
   */
  evaluate?: Evaluation["split"];
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
  /** Training: what `evaluate` asked for. */
  evaluation?: Evaluation;
  /** Gradient check: what it measured. */
  gradCheck?: GradientCheckResult;
  /** A short line for the progress output. */
  note?: string;
  /** Training in a run folder: trained from the start, continued from its checkpoint, or kept as it was. */
  how?: "fresh" | "resumed" | "kept";
  /** Lines the user should read (a lock taken over, temporaries removed, …). */
  notices?: string[];
}

/** A record of one run, as the merged stream of an experiment carries it. */
export interface LabelledRecord {
  /** The run's label. */
  label: string;
  /** The record. */
  record: TrainRecord;
}

/** The note of a finished training run: its last accuracies, or why it stopped. */
function trainNote(stopped: boolean, trainAcc: number | null, valAcc: number | null, best: number | null): string {
  const pct = (v: number | null) => v === null ? "n/a" : `${(100 * v).toFixed(1)} %`;
  return stopped
    ? "stopped: the loss stopped being finite"
    : `train acc ${pct(trainAcc)}, val acc ${pct(valAcc)}, best val ${pct(best)}`;
}

/** The parameters `names` of `params`, copied as plain data. */
function paramData(task: TrainTask, params: Record<string, Tensor>, names: readonly string[]) {
  const out: Record<string, ParamData> = {};
  for (const name of names) {
    const p = params[name];
    if (p === undefined) throw new Error(`executeTask: run "${task.label}" has no parameter ${name}`);
    out[name] = { shape: [...p.shape], data: p.data.slice() };
  }
  return out;
}

/**
 * Runs one task here. A training run's records go to `onRecord` as the
 * Solver emits them (a run that stops on a non-finite loss is a result,
 * `stopped: true`, not an error); a gradient check emits none. `outputs`
 * adds what a long run outside the worker pool wants (a run log, a
 * checkpoint, progress, a restore before training); none of it changes the
 * numbers.
 *
 * With `place`, a training run is written to its own folder through
 * `runInFolder` (locked; its log, checkpoint and `result.json`; `resume`
 * keeps a finished run and continues an unfinished one), and the records a
 * resumed or kept run already had are sent to `onRecord` first, so the
 * caller sees every run whole. Without it, nothing is written.
 *
 * @throws whatever the task throws (a dataset that cannot be read, an unknown check, a locked folder, …)
 */
export async function executeTask(
  task: Task,
  onRecord: (record: TrainRecord) => void = () => {},
  place?: RunPlace,
  progress: Pick<TrainingOutputs, "verbose" | "printEvery" | "progress"> = {},
): Promise<TaskResult> {
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
  const sink = new WritableStream<TrainEvent>({
    write({ record }) {
      onRecord(record);
    },
  });
  const outputs = {
    ...progress,
    sinks: [sink],
    cacheData: true,
    run: {
      label: task.label,
      model: { ...task.model, dtype: task.data.dtype },
      seed: task.seed,
      ...(task.facts ? { facts: task.facts } : {}),
    },
  };
  const spec: TrainingSpec = { data: task.data, model: task.model, solver: task.solver, seed: task.seed };
  if (place === undefined) {
    const { data, model, solver, stopped: stoppedBy } = await runTraining(spec, outputs);
    const stopped = stoppedBy !== null;
    const last = solver.valAccHistory.length - 1;
    const evaluation = task.evaluate === undefined || stopped ? undefined : evaluateTask(task, data, model);
    return {
      label: task.label,
      wallMs: performance.now() - t0,
      stopped,
      ...(task.returnParams ? { params: paramData(task, model.params, task.returnParams) } : {}),
      ...(evaluation ? { evaluation } : {}),
      note: trainNote(stopped, solver.trainAccHistory[last], solver.valAccHistory[last], solver.bestValAcc),
    };
  }
  const notices: string[] = [];
  const run = await runInFolder(spec, {
    ...place,
    label: task.label,
    outputs,
    notice: (line) => notices.push(line),
    replay: (records) => records.forEach(onRecord),
  });
  const r = run.result;
  const stopped = r.status === "stopped";
  // A kept run (over already) is rebuilt from its checkpoint only when something of its model is asked for.
  const trained = run.outcome ??
    (task.returnParams || (task.evaluate !== undefined && !stopped)
      ? await modelFromCheckpoint(task, runFolderPaths(place.dir).checkpoint)
      : undefined);
  const params = task.returnParams && trained ? paramData(task, trained.model.params, task.returnParams) : undefined;
  const evaluation = task.evaluate === undefined || stopped || !trained
    ? undefined
    : evaluateTask(task, trained.data, trained.model);
  return {
    label: task.label,
    wallMs: run.how === "kept" ? r.wallMs : performance.now() - t0,
    stopped,
    ...(params ? { params } : {}),
    ...(evaluation ? { evaluation } : {}),
    how: run.how,
    ...(notices.length > 0 ? { notices } : {}),
    note:
      (run.how === "kept"
        ? "kept (over already): "
        : run.how === "resumed"
        ? `resumed at iteration ${run.resumedFrom!.iteration}: `
        : "") + trainNote(stopped, r.finalTrainAcc, r.finalValAcc, r.bestValAcc),
  };
}

/** The confusion matrix `task.evaluate` asks for, of `model` as training left it (the best parameters). */
function evaluateTask(task: TrainTask, data: Dataset, model: Model): Evaluation {
  const [x, y] = task.evaluate === "test" ? [data.xTest, data.yTest] : [data.xVal, data.yVal];
  if (x === undefined || y === undefined) {
    throw new Error(`executeTask: run "${task.label}" asks for a test evaluation but data.numTest is 0`);
  }
  return evaluateModel(model, x, y, data.classNames, task.evaluate!);
}

/**
 * A finished run's model as the Solver left it, from its checkpoint: the
 * best parameters (the last ones where none were kept) and the last
 * running statistics; with the run's data, for an evaluation.
 */
async function modelFromCheckpoint(task: TrainTask, checkpoint: string): Promise<{ data: Dataset; model: Model }> {
  const { snapshot } = await loadCheckpoint(checkpoint);
  const data = await loadTrainingData(task.data, { cache: true });
  const [, ...inputShape] = data.xTrain.shape;
  const model = buildModel(task.model, {
    inputShape,
    numClasses: data.classNames.length,
    dtype: task.data.dtype,
    random: new RandomState(task.seed),
  });
  const best = Object.keys(snapshot.bestParams).length > 0 ? snapshot.bestParams : snapshot.params;
  for (const [name, value] of Object.entries(best)) model.params[name] = value;
  model.loadState(snapshot.modelState);
  return { data, model };
}
