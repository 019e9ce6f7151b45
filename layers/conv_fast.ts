/**
 * The convolutional layer as im2col + matrix products: the input is unfolded
 * into a column matrix and every product goes through `gemm`. Same results as
 * `conv_naive.ts`, much faster.
 *
 * Temporaries (the column matrix, its gradient, the product) live in the
 * grow-only scratch buffers of `im2col.ts`; the backward pass re-unfolds the
 * cached `x` instead of keeping the column matrix in the cache, so a cache
 * holds no scratch memory and several layers' forward passes may run before
 * their backward passes.
 *
 * @module
 */

import { gemm } from "./gemm.ts";
import { checkDout, col2im, convGeometry, type ConvParam, im2col, scratchBuffer } from "./im2col.ts";
import type { ConvCache, ConvForwardResult, ConvGrads } from "./conv_naive.ts";
import { type Tensor, zeros } from "./tensor.ts";

export type { ConvCache, ConvForwardResult, ConvGrads } from "./conv_naive.ts";

// Scratch slots (per dtype) in im2col.ts's pool.
const COLS = 0;
const PRODUCT = 1;
const DCOLS = 2;

/**
 * Forward pass of a convolutional layer by im2col and a single `gemm`:
 * `w (F, C·HH·WW) · cols (C·HH·WW, N·H'·W')`, then a reorder to (N, F, H', W').
 * Equals `convForwardNaive` (up to summation order).
 *
 * @param x input, shape (N, C, H, W)
 * @param w filters, shape (F, C, HH, WW)
 * @param b biases, shape (F,)
 * @param param `stride` (default 1) and `pad` (default 0); `H + 2·pad − HH`
 *   and `W + 2·pad − WW` must be divisible by `stride`
 * @returns `out` (N, F, H', W') with H' = 1 + (H + 2·pad − HH) / stride and
 *   W' = 1 + (W + 2·pad − WW) / stride, in the inputs' dtype, and the cache
 *
 * @example
 * ```ts
 * import { full, zeros } from "./tensor.ts";
 * import { convForwardFast } from "./conv_fast.ts";
 * const { out } = convForwardFast(full([1, 1, 3, 3], 1), full([1, 1, 3, 3], 1), zeros([1]), { pad: 1 });
 * out.data; // [4, 6, 4, 6, 9, 6, 4, 6, 4]
 * ```
 */
export function convForwardFast(x: Tensor, w: Tensor, b: Tensor, param: ConvParam = {}): ConvForwardResult {
  const g = convGeometry("convForwardFast", x, w, b, param);
  const { N, C, HH, WW, outH, outW } = g;
  const F = w.shape[0];
  const K = C * HH * WW, P = outH * outW, NP = N * P;
  const out = zeros([N, F, outH, outW], x.dtype);
  if (out.size === 0) return { out, cache: { x, w, b, geometry: g } };
  const cols = scratchBuffer(x.dtype, COLS, K * NP);
  const prod = scratchBuffer(x.dtype, PRODUCT, F * NP);
  im2col(x.data, g, cols);
  // Seed each row of the product with its bias and accumulate onto it
  // (beta = 1): the bias joins the sum before the one rounding to the dtype.
  const bd = b.data;
  for (let f = 0; f < F; f++) prod.fill(bd[f], f * NP, (f + 1) * NP);
  gemm({ m: F, n: NP, k: K, a: w.data, b: cols, beta: 1, c: prod });
  // (F, N, P) → (N, F, P).
  const o = out.data;
  for (let f = 0; f < F; f++) {
    for (let n = 0; n < N; n++) {
      const src = f * NP + n * P, dst = (n * F + f) * P;
      for (let p = 0; p < P; p++) o[dst + p] = prod[src + p];
    }
  }
  return { out, cache: { x, w, b, geometry: g } };
}

/**
 * Backward pass of a convolutional layer by matrix products:
 * `dw = dout (F, N·H'·W') · colsᵀ`, `dcols = wᵀ · dout`, and `dx = col2im(dcols)`.
 * Equals `convBackwardNaive` (up to summation order).
 *
 * @param dout upstream gradient, shape (N, F, H', W') as the forward output
 * @param cache from `convForwardFast` or `convForwardNaive`
 * @returns `dx` (N, C, H, W), `dw` (F, C, HH, WW) and `db` (F,), in the
 *   inputs' dtype
 */
export function convBackwardFast(dout: Tensor, cache: ConvCache): ConvGrads {
  const { x, w, geometry: g } = cache;
  const { N, C, HH, WW, outH, outW } = g;
  const F = w.shape[0];
  checkDout("convBackwardFast", dout, [N, F, outH, outW], x);
  const K = C * HH * WW, P = outH * outW, NP = N * P;
  const dx = zeros(x.shape, x.dtype), dw = zeros(w.shape, x.dtype), db = zeros([F], x.dtype);
  if (dout.size === 0) return { dx, dw, db };
  // (N, F, P) → (F, N, P), summing db on the way.
  const doutT = scratchBuffer(x.dtype, PRODUCT, F * NP);
  const gd = dout.data, dbd = db.data;
  for (let f = 0; f < F; f++) {
    let s = 0;
    for (let n = 0; n < N; n++) {
      const src = (n * F + f) * P, dst = f * NP + n * P;
      for (let p = 0; p < P; p++) {
        const v = gd[src + p];
        doutT[dst + p] = v;
        s += v;
      }
    }
    dbd[f] = s;
  }
  const cols = scratchBuffer(x.dtype, COLS, K * NP);
  im2col(x.data, g, cols);
  gemm({ transB: true, m: F, n: K, k: NP, a: doutT, b: cols, c: dw.data });
  const dcols = scratchBuffer(x.dtype, DCOLS, K * NP);
  gemm({ transA: true, m: K, n: NP, k: F, a: w.data, b: doutT, c: dcols });
  col2im(dcols, g, dx.data);
  return { dx, dw, db };
}
