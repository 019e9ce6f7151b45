/**
 * The softmax (cross-entropy) loss over class scores, with its gradient.
 *
 * @module
 */

import { defineTask, parallelFor } from "./kernels/parallel.ts";
import type { Labels } from "./labels.ts";
import { type Data, formatShape, type Tensor, zerosLike } from "./tensor.ts";

/** A loss value and its gradient with respect to the scores. */
export interface LossResult {
  /** Mean loss over the N examples. */
  loss: number;
  /** Gradient of `loss` with respect to the scores, shape (N, C), dtype of the scores. */
  dx: Tensor;
}

/**
 * Throws unless `x` is a non-empty (N, C) score matrix and `y` holds N integer
 * labels in [0, C). `where` names the caller in the message.
 */
export function checkScoresAndLabels(where: string, x: Tensor, y: Labels): void {
  if (x.ndim !== 2) throw new RangeError(`${where}: x ${formatShape(x.shape)} must be 2-D (N, C)`);
  const [n, c] = x.shape;
  if (n === 0 || c === 0) throw new RangeError(`${where}: x ${formatShape(x.shape)} has no scores`);
  if (y.length !== n) {
    throw new RangeError(`${where}: y has ${y.length} labels but x ${formatShape(x.shape)} has ${n} rows`);
  }
  for (let i = 0; i < n; i++) {
    const v = y[i];
    if (!Number.isInteger(v) || v < 0 || v >= c) {
      throw new RangeError(`${where}: label y[${i}] = ${v} is outside [0, ${c}) for x ${formatShape(x.shape)}`);
    }
  }
}

/** Per-row losses of the last call (grow-only). */
let rowLoss = new Float64Array(0);

/** Rows `begin … end − 1`: each row's loss into `rowLoss` and its gradient into `dx`. */
const SOFTMAX = defineTask(import.meta.url, "softmax_loss.rows", (arrays, args, begin, end) => {
  const [s, g] = arrays as Data[];
  const y = arrays[2] as Int32Array, losses = arrays[3] as Float64Array;
  const c = args[0], n = args[1];
  for (let i = begin; i < end; i++) {
    const row = i * c;
    let max = -Infinity;
    for (let j = 0; j < c; j++) if (s[row + j] > max) max = s[row + j];
    let z = 0;
    for (let j = 0; j < c; j++) z += Math.exp(s[row + j] - max);
    const logZ = Math.log(z) + max;
    losses[i] = logZ - s[row + y[i]];
    for (let j = 0; j < c; j++) g[row + j] = Math.exp(s[row + j] - logZ) / n;
    g[row + y[i]] -= 1 / n;
  }
});

/**
 * Softmax loss `−mean log softmax(x)[i, y[i]]` and its gradient. Each row is
 * shifted by its maximum before exponentiating (log-sum-exp), so large
 * scores neither overflow nor lose precision.
 *
 * @param x scores, shape (N, C), float32 or float64
 * @param y labels, N integers in [0, C)
 * @returns `loss` (a number, accumulated in float64) and `dx` (N, C) in the dtype of `x`
 *
 * @example
 * ```ts
 * import { assertAlmostEquals, assertEquals } from "@std/assert";
 * import { array } from "./tensor.ts";
 * import { softmaxLoss } from "./softmax_loss.ts";
 *
 * assertAlmostEquals(softmaxLoss(array([[0, 0]]), new Int32Array([1])).loss, Math.log(2));
 * ```
 */
export function softmaxLoss(x: Tensor, y: Labels): LossResult {
  checkScoresAndLabels("softmaxLoss", x, y);
  const [n, c] = x.shape;
  const dx = zerosLike(x);
  if (rowLoss.length < n) rowLoss = new Float64Array(n);
  parallelFor(SOFTMAX, n, [x.data, dx.data, y, rowLoss], [c, n], {
    grain: Math.max(1, Math.floor((1 << 14) / c)),
    serial: x.size < 1 << 17,
  });
  // The rows' losses added in row order, whatever the thread count.
  let loss = 0;
  for (let i = 0; i < n; i++) loss += rowLoss[i];
  return { loss: loss / n, dx };
}
