/**
 * The chunks that travel between the stages of the training dataflow:
 *
 * ```
 * tickets → minibatchStage → forwardBackwardStage → optimizerStage → evaluationStage → TrainEvent
 *  Ticket      Minibatch          Gradients              Step              (record + snapshot)
 * ```
 *
 * A `Stop` chunk (the loss stopped being finite) passes through the later
 * stages unchanged and becomes a `stopped` record.
 *
 * @module
 */

import type { Labels } from "../layers/labels.ts";
import type { Tensor } from "../layers/tensor.ts";
import type { TrainRecord } from "./store/records.ts";
import type { RandomSnapshot, TrainingSnapshot } from "./training_state.ts";

/** "Run step t" (t from 0), as the source emits them. */
export interface Ticket {
  /** Message kind: `"ticket"`. */
  kind: "ticket";
  /** The step, 0 … numIterations − 1. */
  iteration: number;
}

/** Step t's minibatch, gathered. */
export interface Minibatch {
  /** Message kind: `"batch"`. */
  kind: "batch";
  /** The step, from 0. */
  iteration: number;
  /** Its epoch, from 0. */
  epoch: number;
  /** Inputs `(B, …)`, rows of xTrain. */
  x: Tensor;
  /** Labels, B. */
  y: Labels;
  /**
   * Accuracy-check subsample indices drawn together with the batch (run-ahead
   * sampling only; undefined when the evaluation stage draws them itself, null
   * for "all examples").
   */
  trainCheck?: Int32Array | null;
  /** Same for the validation set. */
  valCheck?: Int32Array | null;
  /** The sampling generator's state right after this step's draws (run-ahead sampling, epoch ends only). */
  randomState?: RandomSnapshot;
  /** The augmentation stage's own generator's state right after this batch (epoch ends only). */
  augmentRandomState?: RandomSnapshot;
}

/** Step t's loss and gradients, before the update. */
export interface Gradients extends Omit<Minibatch, "kind" | "x" | "y"> {
  /** Message kind: `"grads"`. */
  kind: "grads";
  /** Minibatch loss. */
  loss: number;
  /** Gradient of every parameter. */
  grads: Record<string, Tensor>;
}

/** Step t after its update. */
export interface Step extends Omit<Gradients, "kind" | "grads"> {
  /** Message kind: `"step"`. */
  kind: "step";
  /** Learning rate the update used (before any epoch-end decay). */
  learningRate: number;
}

/** The run must stop at step t. */
export interface Stop {
  /** Message kind: `"stop"`. */
  kind: "stop";
  /** The offending step, from 0. */
  iteration: number;
  /** Its epoch, from 0. */
  epoch: number;
  /** What went wrong. */
  reason: "non-finite-loss" | "non-finite-params";
  /** The loss, when that is what stopped being finite. */
  loss: number | null;
  /** One line for the user. */
  message: string;
}

/** What the evaluation stage emits: a record, plus a snapshot of the run at epoch ends (for checkpoints). */
export interface TrainEvent {
  /** The record (JSON-able). */
  record: TrainRecord;
  /** A deep copy of the run after this step; present on `epoch` records that close an epoch. */
  snapshot?: TrainingSnapshot;
}

/** Queue sizes (readable-side high-water marks, in chunks) between the stages. */
export interface HighWaterMarks {
  /** Tickets waiting for the minibatch stage. Default 1. */
  tickets?: number;
  /** Gathered minibatches waiting for the forward/backward stage. Default 1. */
  batches?: number;
  /** Gradients waiting for the optimizer. Default 0. */
  gradients?: number;
  /** Stepped chunks waiting for evaluation. Default 0. */
  steps?: number;
  /** Events waiting for the sinks. Default 1. */
  events?: number;
}
