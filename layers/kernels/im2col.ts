/**
 * im2col / col2im: the data movement that turns a convolution into one matrix
 * product.
 *
 * The column matrix has one row per filter tap `(c, i, j)` and one column per
 * output position `(n, oh, ow)`: shape `(C·HH·WW, N·H'·W')`, the layout of the
 * course's `im2col_cython`. With it, a convolution is `w (F, C·HH·WW) · cols`.
 * (`im2col_wasm.ts` does the same for float32 in WebAssembly SIMD; the fast
 * convolution uses it where it can.)
 *
 * @module
 */

import type { ConvGeometry } from "../conv_params.ts";
import type { Data } from "../tensor.ts";
import { SCRATCH_SLOTS, scratchBuffer } from "./scratch.ts";

/**
 * Unfolds `x` (N, C, H, W) into `cols` (C·HH·WW, N·outH·outW): element
 * `[(c·HH + i)·WW + j, (n·outH + oh)·outW + ow]` is
 * `x[n, c, oh·stride + i − pad, ow·stride + j − pad]`, or 0 in the padding.
 * Writes the first `C·HH·WW·N·outH·outW` elements of `cols` (which may be
 * longer, as a reused buffer is). Allocates nothing in steady state: each
 * image is first copied into a zero-padded scratch image (one per dtype,
 * grow-only), so that the unfolding itself is bounds-free row copies.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { im2col } from "./im2col.ts";
 * const x = new Float64Array([1, 2, 3, 4]); // (1, 1, 2, 2)
 * const cols = new Float64Array(4); // taps (j = 0, 1) × outputs (oh = 0, 1) of 1 × 2 windows
 * im2col(x, { N: 1, C: 1, H: 2, W: 2, HH: 1, WW: 2, stride: 1, pad: 0, outH: 2, outW: 1 }, cols);
 * assertEquals([...cols], [1, 3, 2, 4]);
 * ```
 */
export function im2col(x: Data, g: ConvGeometry, cols: Data): void {
  const { N, C, H, W, HH, WW, stride, pad, outH, outW } = g;
  const P = outH * outW, NP = N * P, Hp = H + 2 * pad, Wp = W + 2 * pad;
  const xp = scratchBuffer(x instanceof Float32Array ? "float32" : "float64", SCRATCH_SLOTS.padded, C * Hp * Wp);
  // The padding border is zeroed once per call; padImage rewrites only the interior.
  if (pad > 0) xp.fill(0, 0, C * Hp * Wp);
  const rowStep = stride * Wp;
  for (let n = 0; n < N; n++) {
    padImage(x, n * C * H * W, C, H, W, pad, xp);
    for (let c = 0; c < C; c++) {
      for (let i = 0; i < HH; i++) {
        for (let j = 0; j < WW; j++) {
          let d = ((c * HH + i) * WW + j) * NP + n * P;
          let s0 = (c * Hp + i) * Wp + j;
          if (stride === 1) {
            // Unrolled by four: the loop overhead is a third of a short row's copy.
            const w4 = outW & ~3;
            for (let oh = 0; oh < outH; oh++, s0 += rowStep) {
              let s = s0;
              for (const e4 = d + w4; d < e4; d += 4, s += 4) {
                cols[d] = xp[s];
                cols[d + 1] = xp[s + 1];
                cols[d + 2] = xp[s + 2];
                cols[d + 3] = xp[s + 3];
              }
              for (const e = s0 + outW; s < e;) cols[d++] = xp[s++];
            }
          } else {
            for (let oh = 0; oh < outH; oh++, s0 += rowStep) {
              let s = s0;
              for (const e = d + outW; d < e; s += stride) cols[d++] = xp[s];
            }
          }
        }
      }
    }
  }
}

/** Copies image `x[off … off + C·H·W)` into the interior of the (C, H + 2·pad, W + 2·pad) image `xp`. */
function padImage(x: Data, off: number, C: number, H: number, W: number, pad: number, xp: Data): void {
  const Wp = W + 2 * pad;
  let s = off;
  for (let c = 0; c < C; c++) {
    let d = (c * (H + 2 * pad) + pad) * Wp + pad;
    for (let h = 0; h < H; h++, d += Wp) {
      for (let k = 0; k < W; k++) xp[d + k] = x[s++];
    }
  }
}

/**
 * The adjoint of `im2col`: adds every element of `cols` (C·HH·WW, N·outH·outW)
 * into the element of `dx` (N, C, H, W) it was copied from, dropping those
 * that came from the padding. Accumulates: zero `dx` first for a plain
 * col2im. Allocates nothing in steady state (each image's sums gather in a
 * zero-padded scratch image, as `im2col` reads one).
 */
export function col2im(cols: Data, g: ConvGeometry, dx: Data): void {
  const { N, C, H, W, HH, WW, stride, pad, outH, outW } = g;
  const P = outH * outW, NP = N * P, Hp = H + 2 * pad, Wp = W + 2 * pad;
  const dxp = scratchBuffer(cols instanceof Float32Array ? "float32" : "float64", SCRATCH_SLOTS.padded, C * Hp * Wp);
  const rowStep = stride * Wp;
  for (let n = 0; n < N; n++) {
    dxp.fill(0, 0, C * Hp * Wp);
    for (let c = 0; c < C; c++) {
      for (let i = 0; i < HH; i++) {
        for (let j = 0; j < WW; j++) {
          let d = ((c * HH + i) * WW + j) * NP + n * P;
          let s0 = (c * Hp + i) * Wp + j;
          for (let oh = 0; oh < outH; oh++, s0 += rowStep) {
            let s = s0;
            for (const e = d + outW; d < e; s += stride) dxp[s] += cols[d++];
          }
        }
      }
    }
    // Interior of the padded sums → dx[n].
    let o = n * C * H * W;
    for (let c = 0; c < C; c++) {
      let s = (c * Hp + pad) * Wp + pad;
      for (let h = 0; h < H; h++, s += Wp) {
        for (let k = 0; k < W; k++) dx[o++] += dxp[s + k];
      }
    }
  }
}
