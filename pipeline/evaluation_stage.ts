/**
 * The evaluation stage: histories, accuracy checks, best parameters, and
 * the records (and epoch-end snapshots) the sinks consume.
 *
 * @module
 */

import type { Labels, Model } from "../layers/models/model.ts";
import { RandomState } from "../layers/random.ts";
import { clone, type Tensor } from "../layers/tensor.ts";
import { checkAccuracy, drawAccuracySubsample } from "./check_accuracy.ts";
import type { Step, Stop, TrainEvent } from "./messages.ts";
import type { EpochRecord } from "./store/records.ts";
import { extraCheckSeed, isAccuracyCheck, isEpochEnd, isExtraCheck, type Schedule } from "./schedule.ts";
import type { StepGate } from "./step_gate.ts";
import { captureSnapshot, firstNonFinite, type SolverState } from "./training_state.ts";

/** Options of {@link evaluationStage}. */
export interface EvaluationStageOptions {
  /** The model (test-mode `loss(X)` for scores). */
  model: Model;
  /** Training data, for the training-accuracy check. */
  xTrain: Tensor;
  /** Training labels. */
  yTrain: Labels;
  /** Validation data. */
  xVal: Tensor;
  /** Validation labels. */
  yVal: Labels;
  /** The run's schedule. */
  schedule: Schedule;
  /** The live state this stage appends to. */
  state: SolverState;
  /** Training examples per check (course: 1000; null: all). */
  numTrainSamples: number | null;
  /** Validation examples per check (course: null, all). */
  numValSamples: number | null;
  /** The sampling generator: subsamples are drawn from it here unless the minibatch stage drew them. */
  random: RandomState;
  /** The model's own generator, if it has one apart from `random`: its state goes into snapshots. */
  modelRandom: RandomState | null;
  /** Marks each step finished once it is fully processed. */
  gate: StepGate;
  /** Examples per check forward pass. Default 100. */
  checkBatchSize?: number;
  /**
   * Extra accuracy checks every this many steps besides the course's (0: none;
   * see `isExtraCheck`). Their training subsamples come from a generator of
   * their own (`extraCheckSeed(checkSeed, t)`), never from `random`, so the
   * minibatches, dropout masks and loss history are those of a run without
   * them; they count as checks otherwise (histories, best parameters). Default 0.
   */
  checkEvery?: number;
  /** Seeds the extra checks' generators (the run's seed). Default 0. */
  checkSeed?: number;
  /** Readable-side queue size (events). Default 1. */
  highWaterMark?: number;
  /** Clock in ms. Default `performance.now`. */
  now?: () => number;
}

/**
 * {@link Step} → {@link TrainEvent}s, as the body of the course's `train`
 * loop after `_step`: appends the loss, emits an `iteration` record; after
 * an epoch's last step counts the epoch; at the first step, every epoch end
 * and the last step (and every `checkEvery`-th step) checks training and validation accuracy, keeps a copy of
 * the parameters when validation accuracy beats the best (strictly), and
 * emits an `epoch` record — with a snapshot of the run at epoch ends.
 * After the last step it emits the `end` record; a {@link Stop} becomes a
 * `stopped` record and ends the stream.
 *
 * Before an epoch-end snapshot the parameters are checked: a non-finite
 * value stops the run too, so a snapshot (checkpoint) is always usable.
 */
export function evaluationStage(options: EvaluationStageOptions): TransformStream<Step | Stop, TrainEvent> {
  const {
    model,
    xTrain,
    yTrain,
    xVal,
    yVal,
    schedule,
    state,
    numTrainSamples,
    numValSamples,
    random,
    modelRandom,
    gate,
    checkBatchSize = 100,
    checkEvery = 0,
    checkSeed = 0,
    highWaterMark = 1,
    now = () => performance.now(),
  } = options;
  const startMs = now();
  const startIteration = state.iteration;
  let lastCheckMs = startMs, lastCheckIteration = startIteration;
  let last: EpochRecord | null = null;
  const elapsed = (t: number) => state.elapsedMsBefore + (t - startMs);

  return new TransformStream<Step | Stop, TrainEvent>(
    {
      transform(step, controller) {
        if (step.kind === "stop") {
          controller.enqueue({
            record: {
              kind: "stopped",
              reason: step.reason,
              iteration: step.iteration + 1,
              epoch: step.epoch,
              loss: step.loss === null ? null : String(step.loss),
              message: step.message,
            },
          });
          gate.close(step.message);
          controller.terminate();
          return;
        }
        const t = step.iteration;
        state.lossHistory.push(step.loss);
        state.iteration = t + 1;
        const tNow = now();
        controller.enqueue({
          record: { kind: "iteration", iteration: t + 1, epoch: step.epoch, loss: step.loss, elapsedMs: elapsed(tNow) },
        });
        const epochEnd = isEpochEnd(schedule, t);
        if (epochEnd) state.epoch += 1;
        const extra = isExtraCheck(schedule, t, checkEvery);
        if (extra || isAccuracyCheck(schedule, t)) {
          const checkRandom = extra ? new RandomState(extraCheckSeed(checkSeed, t)) : random;
          const trainIdx = step.trainCheck !== undefined
            ? step.trainCheck
            : drawAccuracySubsample(xTrain.shape[0], numTrainSamples, checkRandom);
          const valIdx = step.valCheck !== undefined
            ? step.valCheck
            : drawAccuracySubsample(xVal.shape[0], numValSamples, checkRandom);
          const trainAcc = checkAccuracy(model, xTrain, yTrain, { indices: trainIdx, batchSize: checkBatchSize });
          const valAcc = checkAccuracy(model, xVal, yVal, { indices: valIdx, batchSize: checkBatchSize });
          state.trainAccHistory.push(trainAcc);
          state.valAccHistory.push(valAcc);
          const isBest = valAcc > state.bestValAcc;
          if (isBest) {
            state.bestValAcc = valAcc;
            state.bestParams = {};
            for (const [k, v] of Object.entries(model.params)) state.bestParams[k] = clone(v);
          }
          const tCheck = now();
          const examples = (t + 1 - lastCheckIteration) * schedule.batchSize;
          const record: EpochRecord = {
            kind: "epoch",
            epoch: state.epoch,
            iteration: t + 1,
            epochEnd,
            trainAcc,
            valAcc,
            bestValAcc: state.bestValAcc,
            isBest,
            learningRate: step.learningRate,
            elapsedMs: elapsed(tCheck),
            examplesPerSec: tCheck > lastCheckMs ? (examples * 1000) / (tCheck - lastCheckMs) : 0,
          };
          lastCheckMs = tCheck;
          lastCheckIteration = t + 1;
          last = record;
          if (epochEnd) {
            const bad = firstNonFinite(model.params);
            if (bad !== null) {
              const message = `parameter ${bad} is not finite after iteration ${t + 1} (during epoch ${
                step.epoch + 1
              })`;
              controller.enqueue({ record });
              controller.enqueue({
                record: {
                  kind: "stopped",
                  reason: "non-finite-params",
                  iteration: t + 1,
                  epoch: step.epoch,
                  loss: null,
                  message,
                },
              });
              gate.close(message);
              controller.terminate();
              return;
            }
            // Run-ahead sampling recorded the generator's state right after this step's draws; lockstep sampling has not drawn past it.
            const randomState = step.randomState ?? random.getState();
            const snapshot = captureSnapshot(model, state, randomState, modelRandom, elapsed(tCheck));
            if (step.augmentRandomState) snapshot.augmentRandom = step.augmentRandomState;
            controller.enqueue({ record, snapshot });
          } else {
            controller.enqueue({ record });
          }
        }
        gate.finish(t);
      },
      flush(controller) {
        if (state.iteration !== schedule.numIterations) return;
        const tEnd = now();
        const steps = state.iteration - startIteration;
        controller.enqueue({
          record: {
            kind: "end",
            iteration: state.iteration,
            epoch: state.epoch,
            bestValAcc: state.bestValAcc,
            finalTrainAcc: last?.trainAcc ?? state.trainAccHistory.at(-1) ?? NaN,
            finalValAcc: last?.valAcc ?? state.valAccHistory.at(-1) ?? NaN,
            elapsedMs: elapsed(tEnd),
            wallMs: tEnd - startMs,
            examplesPerSec: tEnd > startMs ? (steps * schedule.batchSize * 1000) / (tEnd - startMs) : 0,
          },
        });
      },
    },
    { highWaterMark: 1 },
    { highWaterMark },
  );
}
