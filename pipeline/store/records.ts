/**
 * The records a training run emits, one JSON object per line of its NDJSON
 * run log. Reports read only these, so this file is the log's schema.
 *
 * A log is: one `start` record, then per iteration one `iteration` record,
 * an `epoch` record after each accuracy check (first iteration, every epoch
 * end, last iteration), and finally one `end` record — or a `stopped` record
 * when the loss stopped being finite. A resumed run appends a second `start`
 * record (`resumed: true`, `startIteration` > 0) after the records up to its
 * checkpoint; records written after that checkpoint by the interrupted
 * process are dropped on resume.
 *
 * Iterations count from 1 (`iteration` = optimizer steps taken so far), as
 * the course prints them; `epoch` is the number of completed epochs.
 *
 * @module
 */

/** Run log format version, bumped when a record's meaning changes. */
export const RUN_LOG_VERSION = 1;

/** What a run trains and how, as recorded in `start` records and checkpoints (JSON-able). */
export interface RunDescription {
  /** Model description (kind, architecture flags), as the caller gives it. */
  model?: Record<string, unknown>;
  /** Dataset description (name, source, sizes), as the caller gives it. */
  dataset?: Record<string, unknown>;
  /** Anything else the caller wants in the log (seed, command line, …). */
  [key: string]: unknown;
}

/** First record of a run (and of each resumed segment). */
export interface StartRecord {
  /** Record kind: `"start"`. */
  kind: "start";
  /** {@link RUN_LOG_VERSION}. */
  version: number;
  /** Wall-clock start, ISO 8601. */
  time: string;
  /** True when this segment continues from a checkpoint. */
  resumed: boolean;
  /** Steps already taken when this segment starts (0 for a fresh run). */
  startIteration: number;
  /** Optimizer: `"sgd"`, `"sgdMomentum"`, `"rmsprop"`, `"adam"` or a custom rule's name. */
  updateRule: string;
  /** The per-parameter optimizer config the run started from (scalars only). */
  optimConfig: Record<string, number>;
  /** Learning-rate factor applied after every epoch. */
  lrDecay: number;
  /** Examples per minibatch. */
  batchSize: number;
  /** Epochs in the whole run. */
  numEpochs: number;
  /** Training examples. */
  numTrain: number;
  /** Validation examples. */
  numVal: number;
  /** `max(floor(numTrain / batchSize), 1)`. */
  iterationsPerEpoch: number;
  /** `numEpochs · iterationsPerEpoch`. */
  numIterations: number;
  /** `"replacement"` (the course: `choice(numTrain, batchSize)` per step) or `"shuffle"` (a permutation per epoch). */
  sampling: "replacement" | "shuffle";
  /** Examples drawn for the training-accuracy estimate (null: all). */
  numTrainSamples: number | null;
  /** Examples drawn for the validation-accuracy estimate (null: all). */
  numValSamples: number | null;
  /** Names and shapes of the learnable parameters. */
  params: Record<string, number[]>;
  /** Caller-supplied description of the run. */
  run: RunDescription;
}

/** One optimizer step. */
export interface IterationRecord {
  /** Record kind: `"iteration"`. */
  kind: "iteration";
  /** Steps taken, this one included (1 … numIterations). */
  iteration: number;
  /** Epoch this step belongs to, counting from 0. */
  epoch: number;
  /** Minibatch loss (data loss plus regularization) before this step's update. */
  loss: number;
  /** Training time so far in ms (summed over resumed segments). */
  elapsedMs: number;
}

/** An accuracy check: at the first step, at every epoch end and at the last step. */
export interface EpochRecord {
  /** Record kind: `"epoch"`. */
  kind: "epoch";
  /** Completed epochs (0 for the check after the very first step). */
  epoch: number;
  /** Steps taken. */
  iteration: number;
  /** Whether this check closes an epoch (false only for the first-step check of a multi-step epoch). */
  epochEnd: boolean;
  /** Accuracy on the training subsample. */
  trainAcc: number;
  /** Accuracy on the validation set (or its subsample). */
  valAcc: number;
  /** Best validation accuracy so far, this check included. */
  bestValAcc: number;
  /** Whether this check set a new best (its parameters were kept). */
  isBest: boolean;
  /** Learning rate of the steps just taken (before this epoch's decay). */
  learningRate: number;
  /** Training time so far in ms (summed over resumed segments). */
  elapsedMs: number;
  /** Training examples per second since the previous check (accuracy checks included in the time). */
  examplesPerSec: number;
}

/** The run finished its schedule. */
export interface EndRecord {
  /** Record kind: `"end"`. */
  kind: "end";
  /** Steps taken (= numIterations). */
  iteration: number;
  /** Completed epochs (= numEpochs). */
  epoch: number;
  /** Best validation accuracy; its parameters are the model's final ones. */
  bestValAcc: number;
  /** Training accuracy of the last check. */
  finalTrainAcc: number;
  /** Validation accuracy of the last check. */
  finalValAcc: number;
  /** Training time in ms (summed over resumed segments). */
  elapsedMs: number;
  /** Wall time of this segment in ms. */
  wallMs: number;
  /** Average training examples per second over this segment. */
  examplesPerSec: number;
}

/** The run stopped early: the loss (or a parameter) stopped being finite. */
export interface StoppedRecord {
  /** Record kind: `"stopped"`. */
  kind: "stopped";
  /** Why: `"non-finite-loss"` or `"non-finite-params"`. */
  reason: "non-finite-loss" | "non-finite-params";
  /** The step whose loss (or update) was not finite. */
  iteration: number;
  /** Its epoch, counting from 0. */
  epoch: number;
  /** The offending loss as text (`"NaN"`, `"Infinity"`, …; JSON has no NaN), or null for `non-finite-params`. */
  loss: string | null;
  /** A one-line explanation. */
  message: string;
}

/** Every record kind; discriminate on `kind`. */
export type TrainRecord = StartRecord | IterationRecord | EpochRecord | EndRecord | StoppedRecord;
