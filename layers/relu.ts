/**
 * The rectified linear unit, `max(0, x)` elementwise.
 *
 * @module
 */

import { assertSameShape, type Tensor, zerosLike } from "./tensor.ts";

/** What `reluForward` keeps for `reluBackward`: its input. */
export interface ReluCache {
  /** Input, any shape. */
  x: Tensor;
}

/**
 * Forward pass of a ReLU: `out = max(0, x)` elementwise.
 *
 * @param x input, any shape
 * @returns `out` (shape and dtype of `x`) and the cache
 *
 * @example
 * ```ts
 * import { array } from "./tensor.ts";
 * import { reluForward } from "./relu.ts";
 * reluForward(array([-1, 2])).out.data; // [0, 2]
 * ```
 */
export function reluForward(x: Tensor): { out: Tensor; cache: ReluCache } {
  const out = zerosLike(x);
  const o = out.data, src = x.data;
  for (let i = 0; i < o.length; i++) {
    const v = src[i];
    // The comparison also keeps a NaN input a NaN instead of silently zeroing it.
    o[i] = v > 0 || v !== v ? v : 0;
  }
  return { out, cache: { x } };
}

/**
 * Backward pass of a ReLU: `dx = dout` where `x > 0`, else 0.
 *
 * @param dout upstream gradient, shape of `x`
 * @param cache from `reluForward`
 * @returns `dx`, shape and dtype of `x`
 */
export function reluBackward(dout: Tensor, cache: ReluCache): { dx: Tensor } {
  const { x } = cache;
  assertSameShape(dout, x, "reluBackward", ["dout", "x"]);
  if (dout.dtype !== x.dtype) {
    throw new TypeError(`reluBackward: dout is ${dout.dtype} but x is ${x.dtype}; they must share one dtype`);
  }
  const dx = zerosLike(x);
  const o = dx.data, g = dout.data, src = x.data;
  for (let i = 0; i < o.length; i++) if (src[i] > 0) o[i] = g[i];
  return { dx };
}
