/**
 * The course Solver's schedule (cs231n/solver.py `train`): how many steps,
 * where epochs end, when accuracy is checked, and how minibatches are drawn.
 *
 * Steps are numbered t = 0 … numIterations − 1 here, as in the course loop.
 *
 * @module
 */

import type { RandomState } from "../layers/random.ts";

/** The fixed shape of a run. */
export interface Schedule {
  /** Training examples. */
  numTrain: number;
  /** Examples per minibatch. */
  batchSize: number;
  /** Epochs. */
  numEpochs: number;
  /** `max(floor(numTrain / batchSize), 1)`. */
  iterationsPerEpoch: number;
  /** `numEpochs · iterationsPerEpoch`. */
  numIterations: number;
}

function positiveInteger(where: string, name: string, v: number): void {
  if (!Number.isSafeInteger(v) || v <= 0) throw new RangeError(`${where}: ${name} ${v} is not a positive integer`);
}

/**
 * The course schedule: `iterationsPerEpoch = max(floor(numTrain / batchSize), 1)`
 * and `numIterations = numEpochs · iterationsPerEpoch`.
 *
 * @example
 * ```ts
 * import { courseSchedule } from "./schedule.ts";
 * courseSchedule({ numTrain: 1000, batchSize: 50, numEpochs: 10 }).numIterations; // 200
 * ```
 */
export function courseSchedule(
  { numTrain, batchSize, numEpochs }: { numTrain: number; batchSize: number; numEpochs: number },
): Schedule {
  positiveInteger("courseSchedule", "numTrain", numTrain);
  positiveInteger("courseSchedule", "batchSize", batchSize);
  if (!Number.isSafeInteger(numEpochs) || numEpochs < 0) {
    throw new RangeError(`courseSchedule: numEpochs ${numEpochs} is not a non-negative integer`);
  }
  const iterationsPerEpoch = Math.max(Math.floor(numTrain / batchSize), 1);
  return { numTrain, batchSize, numEpochs, iterationsPerEpoch, numIterations: numEpochs * iterationsPerEpoch };
}

/** Whether step `t` closes an epoch: `(t + 1) % iterationsPerEpoch == 0`. */
export function isEpochEnd(s: Schedule, t: number): boolean {
  return (t + 1) % s.iterationsPerEpoch === 0;
}

/** Whether accuracy is checked after step `t`: first step, last step, or an epoch end. */
export function isAccuracyCheck(s: Schedule, t: number): boolean {
  return t === 0 || t === s.numIterations - 1 || isEpochEnd(s, t);
}

/**
 * Whether step `t` gets an extra accuracy check of `--check-every N`: every
 * N-th step (t + 1 divisible by N) that is not already one of the course's
 * checks ({@link isAccuracyCheck}). `every` 0 means none.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { courseSchedule, isExtraCheck } from "./schedule.ts";
 * const s = courseSchedule({ numTrain: 1000, batchSize: 50, numEpochs: 2 }); // 20 steps per epoch
 * const steps = [...Array(s.numIterations).keys()].filter((t) => isExtraCheck(s, t, 8));
 * assertEquals(steps, [7, 15, 23, 31]); // t + 1 = 8, 16, 24, 32; 40 is an epoch end
 * ```
 */
export function isExtraCheck(s: Schedule, t: number, every: number): boolean {
  return every > 0 && (t + 1) % every === 0 && !isAccuracyCheck(s, t);
}

/**
 * The seed of the generator that draws the training subsample of the extra
 * check after step `t` (a 32-bit mix of the run's check seed and the step),
 * so that extra checks take nothing from the run's own generator and a
 * resumed run draws the same subsamples as an uninterrupted one.
 *
 * @example
 * ```ts
 * import { assert, assertEquals } from "@std/assert";
 * import { extraCheckSeed } from "./schedule.ts";
 * assertEquals(extraCheckSeed(0, 99), extraCheckSeed(0, 99));
 * assert(extraCheckSeed(0, 99) !== extraCheckSeed(1, 99) && extraCheckSeed(0, 99) !== extraCheckSeed(0, 100));
 * ```
 */
export function extraCheckSeed(seed: number, t: number): number {
  // murmur3's 32-bit finaliser over seed and step: neighbouring inputs give unrelated seeds.
  let h = (Math.imul(seed >>> 0, 0x9e3779b1) ^ (t + 1)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

/** The epoch (from 0) that step `t` belongs to. */
export function epochOf(s: Schedule, t: number): number {
  return Math.floor(t / s.iterationsPerEpoch);
}

/** How minibatches are drawn. */
export type SamplingMode = "replacement" | "shuffle";

/**
 * Draws minibatch indices.
 *
 * - `"replacement"` (the course): each step draws `choice(numTrain, batchSize)`,
 *   i.e. with replacement — an example may appear twice in a batch and some
 *   examples are never seen in an epoch.
 * - `"shuffle"`: at the first step of each epoch one `permutation(numTrain)` is
 *   drawn, and step i of the epoch takes its slice `[i·B, (i+1)·B)`; the
 *   `numTrain mod B` leftover examples of that permutation are skipped (when
 *   numTrain < B the one step of the epoch takes all numTrain examples).
 *
 * Both draw from `random` only inside `next`, in step order, so any loop that
 * calls `next(0), next(1), …` on the same generator gets the same batches.
 */
export class BatchSampler {
  readonly #schedule: Schedule;
  readonly #mode: SamplingMode;
  #perm: Int32Array | null = null;

  /** A sampler for `schedule` in `mode` (default `"replacement"`). */
  constructor(schedule: Schedule, mode: SamplingMode = "replacement") {
    if (mode !== "replacement" && mode !== "shuffle") {
      throw new TypeError(`BatchSampler: mode "${mode}" is not "replacement" or "shuffle"`);
    }
    this.#schedule = schedule;
    this.#mode = mode;
  }

  /** The sampling mode. */
  get mode(): SamplingMode {
    return this.#mode;
  }

  /**
   * Indices of step `t`'s minibatch, drawn from `random`. In shuffle mode a
   * step inside an epoch needs the permutation drawn at that epoch's first
   * step, so a resumed run must start at an epoch boundary (checkpoints are
   * only written there).
   */
  next(t: number, random: RandomState): Int32Array {
    const { numTrain, batchSize, iterationsPerEpoch } = this.#schedule;
    if (this.#mode === "replacement") return random.choice(numTrain, batchSize);
    const i = t % iterationsPerEpoch;
    if (i === 0) this.#perm = random.permutation(numTrain);
    if (this.#perm === null) {
      throw new Error(
        `BatchSampler.next: shuffle mode cannot start at step ${t}, inside an epoch (start at an epoch boundary)`,
      );
    }
    return this.#perm.slice(i * batchSize, Math.min((i + 1) * batchSize, numTrain));
  }
}
