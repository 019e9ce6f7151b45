/**
 * The max-pooling layer written as plain loops: the readable reference that
 * `max_pool_fast.ts` must reproduce.
 *
 * Ties and NaN follow numpy's `argmax` over each window read in row-major
 * order: the first largest element wins, and a NaN beats every number (the
 * first NaN wins), so a window holding a NaN pools to NaN.
 *
 * @module
 */

import { checkDout, type ConvGeometry, poolGeometry, type PoolParam } from "./conv_params.ts";
import { type Tensor, zeros } from "./tensor.ts";

export type { PoolParam } from "./conv_params.ts";

/**
 * What a max-pool forward pass keeps for its backward pass. The naive and
 * fast versions share it, so either backward accepts the other forward's
 * cache.
 */
export interface MaxPoolCache {
  /** Input, shape (N, C, H, W). */
  x: Tensor;
  /** Window (`HH × WW`), stride and output extent. */
  geometry: ConvGeometry;
  /**
   * Flat index into `x` of the element each output was taken from, one per
   * output in row-major (N, C, H', W') order. Set by the fast forward pass;
   * recomputed from `x` when absent.
   */
  argmax?: Int32Array;
}

/** Output of a max-pool forward pass. */
export interface MaxPoolForwardResult {
  /** The window maxima, shape (N, C, H', W'), in the dtype of `x`. */
  out: Tensor;
  /** What the backward pass needs. */
  cache: MaxPoolCache;
}

/** Gradient of a max-pool backward pass. */
export interface MaxPoolGrads {
  /** Gradient with respect to `x`, shape (N, C, H, W). */
  dx: Tensor;
}

// The first element of the window is taken as the running best, so this only
// decides whether a later one replaces it.
function beats(v: number, best: number): boolean {
  return v > best || (v !== v && best === best);
}

/** Flat index into x of the argmax of window (nc, oh, ow). */
function windowArgmax(xd: Tensor["data"], g: ConvGeometry, nc: number, oh: number, ow: number): number {
  const { H, W, HH, WW, stride } = g;
  let bestIndex = (nc * H + oh * stride) * W + ow * stride;
  let best = xd[bestIndex];
  for (let i = 0; i < HH; i++) {
    for (let j = 0; j < WW; j++) {
      const idx = (nc * H + oh * stride + i) * W + ow * stride + j;
      if (beats(xd[idx], best)) {
        best = xd[idx];
        bestIndex = idx;
      }
    }
  }
  return bestIndex;
}

/**
 * Forward pass of a max-pooling layer, as plain loops (the reference
 * implementation): the maximum of every `poolHeight × poolWidth` window,
 * windows `stride` apart, per example and channel.
 *
 * @param x input, shape (N, C, H, W)
 * @param param `poolHeight`, `poolWidth` and `stride` (each default 2); the
 *   window must fit in x and `H − poolHeight`, `W − poolWidth` must be
 *   divisible by `stride`
 * @returns `out` (N, C, H', W') with H' = 1 + (H − poolHeight) / stride and
 *   W' = 1 + (W − poolWidth) / stride, in x's dtype, and the cache
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { array } from "./tensor.ts";
 * import { maxPoolForwardNaive } from "./max_pool_naive.ts";
 *
 * const { out } = maxPoolForwardNaive(array([[[[1, 5], [3, 2]]]]));
 * assertEquals([...out.data], [5]);
 * ```
 */
export function maxPoolForwardNaive(x: Tensor, param: PoolParam = {}): MaxPoolForwardResult {
  const g = poolGeometry("maxPoolForwardNaive", x, param);
  const { N, C, outH, outW } = g;
  const out = zeros([N, C, outH, outW], x.dtype);
  const xd = x.data, o = out.data;
  for (let nc = 0; nc < N * C; nc++) {
    for (let oh = 0; oh < outH; oh++) {
      for (let ow = 0; ow < outW; ow++) {
        o[(nc * outH + oh) * outW + ow] = xd[windowArgmax(xd, g, nc, oh, ow)];
      }
    }
  }
  return { out, cache: { x, geometry: g } };
}

/**
 * Backward pass of a max-pooling layer, as plain loops (the reference
 * implementation): each upstream gradient goes to the first maximum of its
 * window (row-major order, as numpy's `argmax`); overlapping windows add up.
 *
 * @param dout upstream gradient, shape (N, C, H', W') as the forward output
 * @param cache from `maxPoolForwardNaive` or `maxPoolForwardFast`
 * @returns `dx` (N, C, H, W) in x's dtype
 */
export function maxPoolBackwardNaive(dout: Tensor, cache: MaxPoolCache): MaxPoolGrads {
  const { x, geometry: g } = cache;
  const { N, C, outH, outW } = g;
  checkDout("maxPoolBackwardNaive", dout, [N, C, outH, outW], x);
  const dx = zeros(x.shape, x.dtype);
  const xd = x.data, gd = dout.data, dxd = dx.data;
  for (let nc = 0; nc < N * C; nc++) {
    for (let oh = 0; oh < outH; oh++) {
      for (let ow = 0; ow < outW; ow++) {
        dxd[windowArgmax(xd, g, nc, oh, ow)] += gd[(nc * outH + oh) * outW + ow];
      }
    }
  }
  return { dx };
}
