/**
 * The optimizer stage: one update-rule call per parameter, and the
 * learning-rate decay at epoch ends.
 *
 * @module
 */

import type { Model } from "../layers/models/model.ts";
import type { Gradients, Step, Stop } from "./messages.ts";
import { isEpochEnd, type Schedule } from "./schedule.ts";
import type { OptimConfig, UpdateRule } from "./update_rules.ts";

/** Options of {@link optimizerStage}. */
export interface OptimizerStageOptions {
  /** The model whose `params` are updated (and reassigned to the rule's `nextW`). */
  model: Model;
  /** The update rule, `(w, dw, config) → { nextW, config }`. */
  updateRule: UpdateRule;
  /** One config per parameter; replaced by what the rule returns. */
  optimConfigs: Record<string, OptimConfig>;
  /** The run's schedule (for epoch ends). */
  schedule: Schedule;
  /** Factor applied to every config's `learningRate` after each epoch. Default 1. */
  lrDecay?: number;
  /**
   * A per-step schedule: the learning rate step t runs with, from the
   * config's (epoch-decayed) `learningRate`, which the config keeps; see
   * `scheduledLearningRate`. Default none: the config's rate as it is.
   */
  learningRateAt?: (t: number, learningRate: number) => number;
  /** Readable-side queue size. Default 0. */
  highWaterMark?: number;
}

/**
 * {@link Gradients} → {@link Step}: for every parameter in `model.params`
 * order, `{ nextW, config } = updateRule(w, dw, config)`, then
 * `model.params[p] = nextW` (the course's `_step`). After an epoch's last
 * step every config's `learningRate` is multiplied by `lrDecay` (the course's
 * `train` loop). With `learningRateAt`, each step runs with the scheduled
 * rate, reported in the chunk's `learningRate`.
 */
export function optimizerStage(options: OptimizerStageOptions): TransformStream<Gradients | Stop, Step | Stop> {
  const { model, updateRule, optimConfigs, schedule, lrDecay = 1, learningRateAt, highWaterMark = 0 } = options;
  return new TransformStream<Gradients | Stop, Step | Stop>(
    {
      transform(chunk, controller) {
        if (chunk.kind === "stop") {
          controller.enqueue(chunk);
          return;
        }
        const { grads, kind: _k, ...rest } = chunk;
        let learningRate = NaN;
        for (const [p, w] of Object.entries(model.params)) {
          const base = optimConfigs[p].learningRate;
          if (learningRateAt !== undefined) {
            if (typeof base !== "number") {
              throw new Error(`optimizerStage: config of ${p} has no learningRate for the schedule to start from`);
            }
            optimConfigs[p].learningRate = learningRateAt(chunk.iteration, base);
          }
          const { nextW, config } = updateRule(w, grads[p], optimConfigs[p]);
          model.params[p] = nextW;
          optimConfigs[p] = config;
          if (Number.isNaN(learningRate) && typeof config.learningRate === "number") learningRate = config.learningRate;
          // The config keeps the schedule's base, which the epoch decay below scales.
          if (learningRateAt !== undefined) config.learningRate = base;
        }
        if (isEpochEnd(schedule, chunk.iteration)) {
          for (const [p, config] of Object.entries(optimConfigs)) {
            const lr = config.learningRate;
            if (typeof lr !== "number") {
              throw new Error(`optimizerStage: config of ${p} has no learningRate to decay (the rule did not set one)`);
            }
            config.learningRate = lr * lrDecay;
          }
        }
        controller.enqueue({ ...rest, kind: "step", learningRate });
      },
    },
    { highWaterMark: 1 },
    { highWaterMark },
  );
}
