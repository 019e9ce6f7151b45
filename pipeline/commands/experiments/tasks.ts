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

import type { CnnModelSpec, FcModelSpec, ModelSpec, SequentialModelSpec } from "../../../layers/models/model_spec.ts";
import {
  type DataSpec,
  runTraining,
  type SolverSpec,
  type TrainingOutputs,
  type TrainingSpec,
} from "../../run_training.ts";
import { evaluateModel, type Evaluation } from "../../test_evaluation.ts";
import type { TrainEvent } from "../../messages.ts";
import type { TrainRecord } from "../../store/records.ts";
import { type GradientCheckResult, runGradientCheck } from "../../../layers/gradient_checks.ts";

export type { CnnModelSpec, DataSpec, Evaluation, FcModelSpec, ModelSpec, SequentialModelSpec, SolverSpec };

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
}

/** A record of one run, as the merged stream of an experiment carries it. */
export interface LabelledRecord {
  /** The run's label. */
  label: string;
  /** The record. */
  record: TrainRecord;
}

/**
 * Runs one task here. A training run's records go to `onRecord` as the
 * Solver emits them (a run that stops on a non-finite loss is a result,
 * `stopped: true`, not an error); a gradient check emits none. `outputs`
 * adds what a long run outside the worker pool wants (a run log, a
 * checkpoint, progress, a restore before training); none of it changes the
 * numbers.
 *
 * @throws whatever the task throws (a dataset that cannot be read, an unknown check, …)
 */
export async function executeTask(
  task: Task,
  onRecord: (record: TrainRecord) => void = () => {},
  outputs: Omit<TrainingOutputs, "sinks" | "run" | "cacheData"> = {},
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
  const { data, model, solver, stopped: stoppedBy } = await runTraining(task, {
    ...outputs,
    sinks: [sink],
    cacheData: true,
    run: {
      label: task.label,
      model: { ...task.model, dtype: task.data.dtype },
      seed: task.seed,
      ...(task.facts ? { facts: task.facts } : {}),
    },
  });
  const stopped = stoppedBy !== null;
  const params: Record<string, ParamData> = {};
  for (const name of task.returnParams ?? []) {
    const p = model.params[name];
    if (p === undefined) throw new Error(`executeTask: run "${task.label}" has no parameter ${name}`);
    params[name] = { shape: [...p.shape], data: p.data.slice() };
  }
  let evaluation: Evaluation | undefined;
  if (task.evaluate !== undefined && !stopped) {
    const [x, y] = task.evaluate === "test" ? [data.xTest, data.yTest] : [data.xVal, data.yVal];
    if (x === undefined || y === undefined) {
      throw new Error(`executeTask: run "${task.label}" asks for a test evaluation but data.numTest is 0`);
    }
    evaluation = evaluateModel(model, x, y, data.classNames, task.evaluate);
  }
  const last = solver.valAccHistory.length - 1;
  return {
    label: task.label,
    wallMs: performance.now() - t0,
    stopped,
    ...(task.returnParams ? { params } : {}),
    ...(evaluation ? { evaluation } : {}),
    note: stopped
      ? "stopped: the loss stopped being finite"
      : `train acc ${(100 * solver.trainAccHistory[last]).toFixed(1)} %, val acc ${
        (100 * solver.valAccHistory[last]).toFixed(1)
      } %, best val ${(100 * solver.bestValAcc).toFixed(1)} %`,
  };
}
