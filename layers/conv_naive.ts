/**
 * The convolutional layer written as plain loops: the readable reference
 * that `conv_fast.ts` must reproduce.
 *
 * @module
 */

import { checkDout, type ConvGeometry, convGeometry, type ConvParam } from "./conv_params.ts";
import { astype, type Tensor, zeros } from "./tensor.ts";

export type { ConvParam } from "./conv_params.ts";

/**
 * What a convolution forward pass keeps for its backward pass: the inputs
 * and the validated geometry. The naive and fast versions share it, so either
 * backward accepts the other forward's cache.
 */
export interface ConvCache {
  /** Input, shape (N, C, H, W). */
  x: Tensor;
  /** Filters, shape (F, C, HH, WW). */
  w: Tensor;
  /** Biases, shape (F,). */
  b: Tensor;
  /** Sizes, stride, padding and output extent. */
  geometry: ConvGeometry;
}

/** Output of a convolution forward pass. */
export interface ConvForwardResult {
  /** The convolution, shape (N, F, H', W'), in the dtype of the inputs. */
  out: Tensor;
  /** Inputs kept for the backward pass. */
  cache: ConvCache;
}

/** Gradients of a convolution backward pass. */
export interface ConvGrads {
  /** Gradient with respect to `x`, shape (N, C, H, W). */
  dx: Tensor;
  /** Gradient with respect to `w`, shape (F, C, HH, WW). */
  dw: Tensor;
  /** Gradient with respect to `b`, shape (F,). */
  db: Tensor;
}

/**
 * Forward pass of a convolutional layer, as plain loops (the reference
 * implementation). Each of the F filters is slid over the zero-padded input
 * with the given stride: `out[n, f, oh, ow] = b[f] + Σ_{c,i,j}
 * w[f, c, i, j] · xpad[n, c, oh·stride + i, ow·stride + j]`.
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
 * import { assertEquals } from "@std/assert";
 * import { full, zeros } from "./tensor.ts";
 * import { convForwardNaive } from "./conv_naive.ts";
 *
 * const { out } = convForwardNaive(full([1, 1, 3, 3], 1), full([1, 1, 3, 3], 1), zeros([1]), { pad: 1 });
 * assertEquals([...out.data], [4, 6, 4, 6, 9, 6, 4, 6, 4]);
 * ```
 */
export function convForwardNaive(x: Tensor, w: Tensor, b: Tensor, param: ConvParam = {}): ConvForwardResult {
  const g = convGeometry("convForwardNaive", x, w, b, param);
  const { N, C, H, W, HH, WW, stride, pad, outH, outW } = g;
  const F = w.shape[0];
  const out = zeros([N, F, outH, outW], x.dtype);
  const xd = x.data, wd = w.data, o = out.data;
  for (let n = 0; n < N; n++) {
    for (let f = 0; f < F; f++) {
      for (let oh = 0; oh < outH; oh++) {
        for (let ow = 0; ow < outW; ow++) {
          let s = b.data[f];
          for (let c = 0; c < C; c++) {
            for (let i = 0; i < HH; i++) {
              const h = oh * stride + i - pad;
              if (h < 0 || h >= H) continue;
              for (let j = 0; j < WW; j++) {
                const col = ow * stride + j - pad;
                if (col < 0 || col >= W) continue;
                s += wd[((f * C + c) * HH + i) * WW + j] * xd[((n * C + c) * H + h) * W + col];
              }
            }
          }
          o[((n * F + f) * outH + oh) * outW + ow] = s;
        }
      }
    }
  }
  return { out, cache: { x, w, b, geometry: g } };
}

/**
 * Backward pass of a convolutional layer, as plain loops (the reference
 * implementation).
 *
 * @param dout upstream gradient, shape (N, F, H', W') as the forward output
 * @param cache from `convForwardNaive` or `convForwardFast`
 * @returns `dx` (N, C, H, W), `dw` (F, C, HH, WW) and `db` (F,), in the
 *   inputs' dtype
 */
export function convBackwardNaive(dout: Tensor, cache: ConvCache): ConvGrads {
  const { x, w, geometry } = cache;
  const { N, C, H, W, HH, WW, stride, pad, outH, outW } = geometry;
  const F = w.shape[0];
  checkDout("convBackwardNaive", dout, [N, F, outH, outW], x);
  // Sums run in float64 whatever the dtype, and are rounded once at the end.
  const dx = zeros(x.shape), dw = zeros(w.shape), db = zeros([F]);
  const xd = x.data, wd = w.data, g = dout.data, dxd = dx.data, dwd = dw.data, dbd = db.data;
  for (let n = 0; n < N; n++) {
    for (let f = 0; f < F; f++) {
      for (let oh = 0; oh < outH; oh++) {
        for (let ow = 0; ow < outW; ow++) {
          const go = g[((n * F + f) * outH + oh) * outW + ow];
          dbd[f] += go;
          for (let c = 0; c < C; c++) {
            for (let i = 0; i < HH; i++) {
              const h = oh * stride + i - pad;
              if (h < 0 || h >= H) continue;
              for (let j = 0; j < WW; j++) {
                const col = ow * stride + j - pad;
                if (col < 0 || col >= W) continue;
                const xi = ((n * C + c) * H + h) * W + col;
                const wi = ((f * C + c) * HH + i) * WW + j;
                dwd[wi] += go * xd[xi];
                dxd[xi] += go * wd[wi];
              }
            }
          }
        }
      }
    }
  }
  if (x.dtype === "float64") return { dx, dw, db };
  return { dx: astype(dx, x.dtype), dw: astype(dw, x.dtype), db: astype(db, x.dtype) };
}
