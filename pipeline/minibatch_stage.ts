/**
 * The source of step tickets and the minibatch stage: draws each step's
 * indices and gathers its rows.
 *
 * @module
 */

import type { Labels } from "../layers/labels.ts";
import type { RandomState } from "../layers/random.ts";
import type { Tensor } from "../layers/tensor.ts";
import { drawAccuracySubsample, takeLabels, takeRows } from "./check_accuracy.ts";
import type { Minibatch, Ticket } from "./messages.ts";
import { type BatchSampler, epochOf, isAccuracyCheck, isEpochEnd, type Schedule } from "./schedule.ts";
import type { StepGate } from "./step_gate.ts";

/**
 * A readable stream of tickets for steps `start … end − 1`, produced on
 * demand (pull), so at most `highWaterMark` tickets wait in its queue.
 */
export function ticketSource(start: number, end: number, highWaterMark = 1): ReadableStream<Ticket> {
  let t = start;
  return new ReadableStream<Ticket>({
    pull(controller) {
      if (t < end) controller.enqueue({ kind: "ticket", iteration: t++ });
      if (t >= end) controller.close();
    },
  }, { highWaterMark });
}

/** Options of {@link minibatchStage}. */
export interface MinibatchStageOptions {
  /** Training inputs `(N, …)`. */
  xTrain: Tensor;
  /** Training labels, N. */
  yTrain: Labels;
  /** The run's schedule. */
  schedule: Schedule;
  /** Draws each step's indices. */
  sampler: BatchSampler;
  /** The sampling generator. */
  random: RandomState;
  /**
   * Lockstep sampling: when given, step t's indices are drawn only after step
   * t − 1 is finished. Needed when the model draws from `random` too (dropout),
   * since drawing ahead would then interleave the two differently from the
   * plain loop. Without it the stage runs ahead as far as the queues allow.
   */
  gate?: StepGate;
  /**
   * Run-ahead only: also draw the accuracy-check subsamples of check steps
   * here, right after the step's batch (where the plain loop draws them,
   * relative to the other draws from `random`), and attach the generator's
   * state at epoch ends. `numVal` is the validation set's size.
   */
  checks?: { numTrainSamples: number | null; numValSamples: number | null; numVal: number };
  /** Readable-side queue size (gathered batches). Default 1. */
  highWaterMark?: number;
}

/**
 * Ticket → {@link Minibatch}: draws step t's batch indices from the sampler
 * and gathers `xTrain[idx]`, `yTrain[idx]`.
 *
 * Draw order on `random` is exactly the plain loop's: batch 0, [checks 0],
 * batch 1, … (with `checks`), or batch t only after step t − 1 finished
 * (with `gate`, the checks then being drawn by the evaluation stage).
 */
export function minibatchStage(options: MinibatchStageOptions): TransformStream<Ticket, Minibatch> {
  const { xTrain, yTrain, schedule, sampler, random, gate, checks, highWaterMark = 1 } = options;
  if (gate && checks) {
    throw new Error("minibatchStage: give gate (lockstep) or checks (run-ahead), not both");
  }
  return new TransformStream<Ticket, Minibatch>(
    {
      async transform({ iteration: t }, controller) {
        if (gate) await gate.ready(t);
        const idx = sampler.next(t, random);
        const batch: Minibatch = {
          kind: "batch",
          iteration: t,
          epoch: epochOf(schedule, t),
          x: takeRows(xTrain, idx),
          y: takeLabels(yTrain, idx),
        };
        if (checks) {
          if (isAccuracyCheck(schedule, t)) {
            batch.trainCheck = drawAccuracySubsample(schedule.numTrain, checks.numTrainSamples, random);
            batch.valCheck = drawAccuracySubsample(checks.numVal, checks.numValSamples, random);
          }
          if (isEpochEnd(schedule, t)) batch.randomState = random.getState();
        }
        controller.enqueue(batch);
      },
    },
    { highWaterMark: 1 },
    { highWaterMark },
  );
}
