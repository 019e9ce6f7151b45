/**
 * Row gathering and the course Solver's `check_accuracy`.
 *
 * @module
 */

import type { Labels, Model } from "../layers/models/model.ts";
import type { RandomState } from "../layers/random.ts";
import { allocData, argmaxRows, formatShape, Tensor } from "../layers/tensor.ts";

/**
 * Rows `indices[start … end)` of `x` (axis 0) as a new tensor of the same
 * dtype, as numpy's `x[indices[start:end]]`.
 *
 * @param x any tensor with at least one axis, e.g. `(N, C, H, W)`
 * @returns `(end − start, …x.shape[1:])`
 */
export function takeRows(x: Tensor, indices: Int32Array, start = 0, end = indices.length): Tensor {
  if (x.ndim === 0) throw new RangeError(`takeRows: x ${formatShape(x.shape)} has no rows`);
  const n = x.shape[0], row = n === 0 ? 0 : x.size / n;
  const out = allocData(x.dtype, (end - start) * row);
  const src = x.data;
  for (let i = start; i < end; i++) {
    const r = indices[i];
    if (!(r >= 0 && r < n)) {
      throw new RangeError(`takeRows: index ${r} is outside [0, ${n}) for x ${formatShape(x.shape)}`);
    }
    out.set(src.subarray(r * row, (r + 1) * row), (i - start) * row);
  }
  return new Tensor(out, [end - start, ...x.shape.slice(1)]);
}

/** Labels `y[indices[start … end)]`, as numpy's `y[indices[start:end]]`. */
export function takeLabels(y: Labels, indices: Int32Array, start = 0, end = indices.length): Labels {
  const out = new Int32Array(end - start);
  for (let i = start; i < end; i++) {
    const r = indices[i];
    if (!(r >= 0 && r < y.length)) throw new RangeError(`takeLabels: index ${r} is outside [0, ${y.length})`);
    out[i - start] = y[r];
  }
  return out;
}

/** Rows `start … end` of `x` without copying (a view on the same data), as numpy's `x[start:end]`. */
export function sliceRows(x: Tensor, start: number, end: number): Tensor {
  const n = x.shape[0], row = n === 0 ? 0 : x.size / n;
  end = Math.min(end, n);
  return new Tensor(x.data.subarray(start * row, end * row), [end - start, ...x.shape.slice(1)]);
}

/**
 * The indices `check_accuracy` evaluates on: when `numSamples` is set and
 * smaller than `n`, `random.choice(n, numSamples)` (with replacement, as the
 * course); otherwise null, meaning all `n` examples in order.
 */
export function drawAccuracySubsample(n: number, numSamples: number | null, random: RandomState): Int32Array | null {
  return numSamples !== null && n > numSamples ? random.choice(n, numSamples) : null;
}

/** Options of {@link checkAccuracy}. */
export interface CheckAccuracyOptions {
  /** Evaluate on a subsample of this many examples when there are more (null: all). Default null. */
  numSamples?: number | null;
  /** Examples per forward pass. Default 100. */
  batchSize?: number;
  /** Generator for the subsample; needed when a subsample is drawn. */
  random?: RandomState;
  /**
   * Subsample indices drawn beforehand (as {@link drawAccuracySubsample} would),
   * or null for all examples; when given, nothing is drawn.
   */
  indices?: Int32Array | null;
}

/**
 * The course Solver's `check_accuracy`: the fraction of examples whose
 * highest score (`argmax` of `model.loss(X)`, test mode) is the label,
 * computed in batches of `batchSize`, optionally on a random subsample.
 *
 * @param x inputs `(N, …)`, as the model takes them
 * @param y labels, N integers
 * @returns accuracy in [0, 1], `correct / N` (N after subsampling)
 */
export function checkAccuracy(model: Model, x: Tensor, y: Labels, options: CheckAccuracyOptions = {}): number {
  const { numSamples = null, batchSize = 100 } = options;
  const n = x.shape[0];
  if (y.length !== n) {
    throw new RangeError(`checkAccuracy: x ${formatShape(x.shape)} has ${n} rows but y has ${y.length} labels`);
  }
  let indices: Int32Array | null;
  if (options.indices !== undefined) {
    indices = options.indices;
  } else if (numSamples !== null && n > numSamples) {
    if (options.random === undefined) {
      throw new TypeError(`checkAccuracy: a random generator is needed to draw ${numSamples} of ${n} examples`);
    }
    indices = options.random.choice(n, numSamples);
  } else {
    indices = null;
  }
  const total = indices === null ? n : indices.length;
  if (total === 0) throw new RangeError(`checkAccuracy: no examples to evaluate (x ${formatShape(x.shape)})`);
  let correct = 0;
  for (let start = 0; start < total; start += batchSize) {
    const end = Math.min(start + batchSize, total);
    const xb = indices === null ? sliceRows(x, start, end) : takeRows(x, indices, start, end);
    const scores = model.loss(xb);
    if (scores.ndim !== 2 || scores.shape[0] !== end - start) {
      throw new RangeError(
        `checkAccuracy: model.loss(X) returned scores ${formatShape(scores.shape)} for ${
          end - start
        } examples, expected (${end - start}, numClasses)`,
      );
    }
    const pred = argmaxRows(scores);
    for (let i = start; i < end; i++) if (pred[i - start] === y[indices === null ? i : indices[i]]) correct++;
  }
  return correct / total;
}
