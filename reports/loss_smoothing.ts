/**
 * How a loss curve is thinned and smoothed: which steps are kept
 * ({@link lossStride}, {@link keepsLossStep}) and the bias-corrected
 * exponential moving average drawn through them ({@link movingAverage},
 * {@link addToAverage}). `lossRows` (final reports) and the live page
 * (`live_client.ts`, where these functions are inlined) use the same code, so
 * a live chart shows the points and line the final report will.
 *
 * Every function here uses nothing outside its own body (the live page
 * inlines their source).
 *
 * @module
 */

/**
 * Steps between kept points so that a run of `numIterations` steps keeps at
 * most `maxPoints` of them: step i is kept when `(i − 1) % stride = 0`, and
 * the last step always.
 *
 * @throws RangeError when `maxPoints` is not an integer ≥ 3
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { lossStride } from "./loss_smoothing.ts";
 *
 * assertEquals(lossStride(500), 1);
 * assertEquals(lossStride(20_000, 1000), 21);
 * ```
 */
export function lossStride(numIterations: number, maxPoints = 1000): number {
  if (!Number.isInteger(maxPoints) || maxPoints < 3) {
    throw new RangeError(`lossStride: maxPoints ${maxPoints} is not an integer ≥ 3`);
  }
  if (!(numIterations > maxPoints)) return 1;
  // ⌊(N − 1)/stride⌋ + 1 regular points plus the last step must fit in maxPoints.
  return Math.ceil((numIterations - 1) / (maxPoints - 2));
}

/**
 * Whether step `iteration` (from 1) is a point of the curve: every
 * `stride`-th step from the first, and the step `last`.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { keepsLossStep } from "./loss_smoothing.ts";
 *
 * assertEquals([1, 2, 3, 4, 5].filter((i) => keepsLossStep(i, 3, 5)), [1, 4, 5]);
 * ```
 */
export function keepsLossStep(iteration: number, stride: number, last: number): boolean {
  return (iteration - 1) % stride === 0 || iteration === last;
}

/**
 * The default smoothing span for a run of `numIterations` steps: `clamp(round(√N), 1, 100)`.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { defaultSmoothingSpan } from "./loss_smoothing.ts";
 *
 * assertEquals([0, 400, 1_000_000].map(defaultSmoothingSpan), [1, 20, 100]);
 * ```
 */
export function defaultSmoothingSpan(numIterations: number): number {
  return Math.min(100, Math.max(1, Math.round(Math.sqrt(Math.max(numIterations, 1)))));
}

/** The state of a bias-corrected exponential moving average (see {@link movingAverage}). */
export interface MovingAverage {
  /** Weight of the old average: `1 − 2/(span + 1)`. */
  beta: number;
  /** Σ (1 − β) β^(t − i) x_i over the values so far. */
  sum: number;
  /** Σ (1 − β) β^(t − i) = 1 − β^t: dividing by it keeps the first values from being pulled towards 0. */
  weight: number;
}

/**
 * An empty moving average of span `span` steps (≥ 1): weight `β = 1 − 2/(span + 1)`.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { movingAverage } from "./loss_smoothing.ts";
 *
 * assertEquals(movingAverage(3), { beta: 0.5, sum: 0, weight: 0 });
 * ```
 */
export function movingAverage(span: number): MovingAverage {
  return { beta: 1 - 2 / (span + 1), sum: 0, weight: 0 };
}

/**
 * Adds a value to a moving average (in place) and returns the bias-corrected average so far.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { addToAverage, movingAverage } from "./loss_smoothing.ts";
 *
 * const avg = movingAverage(3);
 * assertEquals(addToAverage(avg, 2), 2);
 * assertEquals(addToAverage(avg, 5), 4); // (0.25·2 + 0.5·5) / 0.75
 * ```
 */
export function addToAverage(average: MovingAverage, value: number): number {
  average.sum = average.beta * average.sum + (1 - average.beta) * value;
  average.weight = average.beta * average.weight + (1 - average.beta);
  return average.sum / average.weight;
}
