/**
 * The max-pooling layer, fast: two forward strategies that record, for every
 * output, where its maximum came from, and a backward pass that scatters the
 * upstream gradient to those places.
 *
 * - Reshape path, when the windows tile the input (`poolHeight == poolWidth
 *   == stride`; the divisibility rule then makes H and W multiples of it): the
 *   course's `max_pool_forward_reshape`, i.e. the max over axes 3 and 5 of x
 *   seen as (N, C, H', p, W', p), in one pass over the input (unrolled for 2 × 2).
 * - General path otherwise (overlapping or gapped windows, non-square
 *   windows): the column-wise argmax of the im2col matrix (pool window ×
 *   output positions), swept one window offset at a time over all outputs
 *   without materializing the matrix.
 *
 * Ties: both paths send the gradient to the FIRST maximum of each window in
 * row-major order, as numpy's `argmax` and `maxPoolBackwardNaive` do. (The
 * course's `max_pool_backward_reshape` instead sends it to every tied
 * maximum, duplicating it, and disagrees with the naive version; we do
 * not copy that.) A NaN beats every number, the first NaN winning, so a
 * window holding a NaN pools to NaN, as `np.max` gives.
 *
 * @module
 */

import { checkDout, type ConvGeometry, poolGeometry, type PoolParam, scratchBuffer } from "./im2col.ts";
import type { MaxPoolCache, MaxPoolForwardResult, MaxPoolGrads } from "./max_pool_naive.ts";
import { type Data, formatShape, type Tensor, zeros } from "./tensor.ts";

export type { MaxPoolCache, MaxPoolForwardResult, MaxPoolGrads } from "./max_pool_naive.ts";

const MAX_INDEX = 2 ** 31 - 1;
/** Scratch slot (in im2col.ts's pool) for maxima recomputed by the backward pass. */
const MAXIMA = 3;

/** Whether the windows tile the input, so the reshape path applies. */
function tiles(g: ConvGeometry): boolean {
  return g.HH === g.stride && g.WW === g.stride && g.H === g.outH * g.stride && g.W === g.outW * g.stride;
}

/**
 * Reshape path: maxima of non-overlapping p × p windows into `o`, their flat
 * x indices into `arg`. Each input row is read once, left to right; a window
 * is thus visited in row-major order and a strictly larger value (or a first
 * NaN) is needed to displace the running maximum.
 */
function poolTiled(xd: Data, g: ConvGeometry, o: Data, arg: Int32Array): void {
  const { N, C, W, stride: p, outH, outW } = g;
  if (p === 2) return poolTiled2(xd, N * C * outH, W, outW, o, arg);
  for (let r = 0; r < N * C * outH; r++) {
    // Output row r = (nc, oh) covers input rows r·p … r·p + p − 1.
    const dst = r * outW;
    let src = r * p * W;
    for (let ow = 0; ow < outW; ow++) {
      const start = src + ow * p;
      let best = xd[start], bi = start;
      for (let j = 1; j < p; j++) {
        const v = xd[start + j];
        if (v > best || (v !== v && best === best)) {
          best = v;
          bi = start + j;
        }
      }
      o[dst + ow] = best;
      arg[dst + ow] = bi;
    }
    for (let i = 1; i < p; i++) {
      src += W;
      for (let ow = 0; ow < outW; ow++) {
        let best = o[dst + ow], bi = arg[dst + ow];
        const start = src + ow * p;
        for (let j = 0; j < p; j++) {
          const v = xd[start + j];
          if (v > best || (v !== v && best === best)) {
            best = v;
            bi = start + j;
          }
        }
        o[dst + ow] = best;
        arg[dst + ow] = bi;
      }
    }
  }
}

/**
 * The reshape path for the common 2 × 2 windows, unrolled: a third faster
 * than the loops above, whose cost on random data is mostly mispredicted
 * comparisons.
 */
function poolTiled2(xd: Data, rows: number, W: number, outW: number, o: Data, arg: Int32Array): void {
  for (let r = 0; r < rows; r++) {
    const dst = r * outW;
    let a = 2 * r * W;
    for (let ow = 0; ow < outW; ow++, a += 2) {
      let best = xd[a], bi = a;
      let v = xd[a + 1];
      if (v > best || (v !== v && best === best)) {
        best = v;
        bi = a + 1;
      }
      v = xd[a + W];
      if (v > best || (v !== v && best === best)) {
        best = v;
        bi = a + W;
      }
      v = xd[a + W + 1];
      if (v > best || (v !== v && best === best)) {
        best = v;
        bi = a + W + 1;
      }
      o[dst + ow] = best;
      arg[dst + ow] = bi;
    }
  }
}

/**
 * General path: the column argmax of the im2col matrix of x seen as
 * (N·C, 1, H, W), one window offset (i, j) at a time in row-major order, so
 * that the first maximum of each window wins.
 */
function poolGeneral(xd: Data, g: ConvGeometry, o: Data, arg: Int32Array): void {
  const { N, C, H, W, HH, WW, stride, outH, outW } = g;
  const rows = N * C * outH;
  for (let i = 0; i < HH; i++) {
    for (let j = 0; j < WW; j++) {
      const first = i === 0 && j === 0;
      for (let r = 0; r < rows; r++) {
        // Output row r = (nc, oh) reads input row nc·H + oh·stride + i.
        const oh = r % outH;
        const dst = r * outW;
        let src = ((r - oh) / outH * H + oh * stride + i) * W + j;
        if (first) {
          for (let ow = 0; ow < outW; ow++, src += stride) {
            o[dst + ow] = xd[src];
            arg[dst + ow] = src;
          }
          continue;
        }
        for (let ow = 0; ow < outW; ow++, src += stride) {
          const v = xd[src], best = o[dst + ow];
          if (v > best || (v !== v && best === best)) {
            o[dst + ow] = v;
            arg[dst + ow] = src;
          }
        }
      }
    }
  }
}

function checkIndexable(where: string, x: Tensor): void {
  if (x.size > MAX_INDEX) {
    throw new RangeError(`${where}: x ${formatShape(x.shape)} has more than 2³¹ − 1 elements to index`);
  }
}

/**
 * Forward pass of a max-pooling layer, fast: the reshape path when the
 * windows tile the input (`poolHeight == poolWidth == stride`), the general
 * path otherwise. Equals `maxPoolForwardNaive` exactly.
 *
 * @param x input, shape (N, C, H, W)
 * @param param `poolHeight`, `poolWidth` and `stride` (each default 2); the
 *   window must fit in x and `H − poolHeight`, `W − poolWidth` must be
 *   divisible by `stride`
 * @returns `out` (N, C, H', W') with H' = 1 + (H − poolHeight) / stride and
 *   W' = 1 + (W − poolWidth) / stride, in x's dtype, and the cache (which
 *   holds the argmax of every window)
 *
 * @example
 * ```ts
 * import { array } from "./tensor.ts";
 * import { maxPoolForwardFast } from "./max_pool_fast.ts";
 * const { out } = maxPoolForwardFast(array([[[[1, 5], [3, 2]]]]));
 * out.data; // [5]
 * ```
 */
export function maxPoolForwardFast(x: Tensor, param: PoolParam = {}): MaxPoolForwardResult {
  const g = poolGeometry("maxPoolForwardFast", x, param);
  checkIndexable("maxPoolForwardFast", x);
  const out = zeros([g.N, g.C, g.outH, g.outW], x.dtype);
  const argmax = new Int32Array(out.size);
  if (tiles(g)) poolTiled(x.data, g, out.data, argmax);
  else poolGeneral(x.data, g, out.data, argmax);
  return { out, cache: { x, geometry: g, argmax } };
}

/**
 * Backward pass of a max-pooling layer, fast: each upstream gradient is
 * added to the element of x its window's maximum came from (the first
 * maximum in row-major order on ties; overlapping windows add up). Equals
 * `maxPoolBackwardNaive` exactly.
 *
 * @param dout upstream gradient, shape (N, C, H', W') as the forward output
 * @param cache from `maxPoolForwardFast` or `maxPoolForwardNaive`
 * @returns `dx` (N, C, H, W) in x's dtype
 */
export function maxPoolBackwardFast(dout: Tensor, cache: MaxPoolCache): MaxPoolGrads {
  const { x, geometry: g } = cache;
  checkDout("maxPoolBackwardFast", dout, [g.N, g.C, g.outH, g.outW], x);
  let argmax = cache.argmax;
  if (argmax === undefined) {
    // A naive forward pass's cache: find the maxima now.
    checkIndexable("maxPoolBackwardFast", x);
    argmax = new Int32Array(dout.size);
    const maxima = scratchBuffer(x.dtype, MAXIMA, dout.size);
    if (tiles(g)) poolTiled(x.data, g, maxima, argmax);
    else poolGeneral(x.data, g, maxima, argmax);
  }
  const dx = zeros(x.shape, x.dtype);
  const dxd = dx.data, gd = dout.data;
  for (let m = 0; m < gd.length; m++) dxd[argmax[m]] += gd[m];
  return { dx };
}
