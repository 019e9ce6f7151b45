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

import { checkDout, type ConvGeometry, poolGeometry, type PoolParam } from "./conv_params.ts";
import { SCRATCH_SLOTS, scratchBuffer, type Workspace } from "./kernels/scratch.ts";
import { defineTask, parallelFor } from "./kernels/parallel.ts";
import type { MaxPoolCache, MaxPoolForwardResult, MaxPoolGrads } from "./max_pool_naive.ts";
import { reluBackward, reluForward } from "./relu.ts";
import { type Data, formatShape, type Tensor, zeros } from "./tensor.ts";

export type { MaxPoolCache, MaxPoolForwardResult, MaxPoolGrads } from "./max_pool_naive.ts";

const MAX_INDEX = 2 ** 31 - 1;

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
function poolTiled(xd: Data, g: ConvGeometry, o: Data, arg: Int32Array, r0: number, r1: number): void {
  const { W, stride: p, outW } = g;
  if (p === 2 && xd instanceof Float32Array && o instanceof Float32Array) {
    const bits = (d: Float32Array) => new Int32Array(d.buffer, d.byteOffset, d.length);
    // Exact for finite inputs only; a NaN or an infinity in these rows re-pools them by the branchy loop below.
    if (Number.isFinite(poolTiled2F32(xd, bits(xd), r0, r1, W, outW, bits(o), arg))) return;
  }
  if (p === 2) return poolTiled2(xd, r0, r1, W, outW, o, arg);
  for (let r = r0; r < r1; r++) {
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
function poolTiled2(xd: Data, r0: number, r1: number, W: number, outW: number, o: Data, arg: Int32Array): void {
  for (let r = r0; r < r1; r++) {
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
 * The 2 × 2 reshape path for float32 without branches: on random data the
 * compare-and-branch of `poolTiled2` mispredicts about every other window.
 * Comparisons become 0/1 integers (`+(a > b)`, a flag move, not a jump) and
 * masks select the winner's bits (`xi`, the Int32Array view of `xf`) and
 * index. Pairs (0, 1) and (2, 3) are decided first, then the pair winners,
 * from the six pairwise comparisons; strict comparisons keep the first
 * maximum in row-major order, as `poolTiled2` does.
 *
 * Returns the sum of the rows' inputs: non-finite exactly when one is a
 * NaN or an infinity, where the comparisons no longer say what `poolTiled2`
 * does (a NaN must win) and the caller redoes the pooling by that loop.
 */
function poolTiled2F32(
  xf: Float32Array,
  xi: Int32Array,
  r0: number,
  r1: number,
  W: number,
  outW: number,
  oi: Int32Array,
  arg: Int32Array,
): number {
  let check = 0;
  for (let r = r0; r < r1; r++) {
    let a = 2 * r * W, d = r * outW;
    for (let ow = 0; ow < outW; ow++, a += 2, d++) {
      const v0 = xf[a], v1 = xf[a + 1], v2 = xf[a + W], v3 = xf[a + W + 1];
      check += v0 + v1 + v2 + v3;
      // m01, m23: all ones when the second of the pair wins; m: when pair (2, 3)'s winner beats (0, 1)'s.
      const m01 = -(+(v1 > v0)), m23 = -(+(v3 > v2));
      const c20 = +(v2 > v0), c21 = +(v2 > v1), c30 = +(v3 > v0), c31 = +(v3 > v1);
      const cA = c20 ^ ((c20 ^ c21) & m01), cB = c30 ^ ((c30 ^ c31) & m01);
      const m = -(cA ^ ((cA ^ cB) & m23));
      const b0 = xi[a], b1 = xi[a + 1], b2 = xi[a + W], b3 = xi[a + W + 1];
      const b01 = b0 ^ ((b0 ^ b1) & m01), b23 = b2 ^ ((b2 ^ b3) & m23);
      const i01 = a + (1 & m01), i23 = a + W + (1 & m23);
      oi[d] = b01 ^ ((b01 ^ b23) & m);
      arg[d] = i01 ^ ((i01 ^ i23) & m);
    }
  }
  return check;
}

/**
 * General path for output rows `r0 … r1 − 1`: the column argmax of the
 * im2col matrix of x seen as (N·C, 1, H, W), one window offset (i, j) at a
 * time in row-major order, so that the first maximum of each window wins.
 */
function poolGeneral(xd: Data, g: ConvGeometry, o: Data, arg: Int32Array, r0: number, r1: number): void {
  const { H, W, HH, WW, stride, outH, outW } = g;
  for (let i = 0; i < HH; i++) {
    for (let j = 0; j < WW; j++) {
      const first = i === 0 && j === 0;
      for (let r = r0; r < r1; r++) {
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

/** Per (n, c) plane of the last fused ReLU and pool: 1 where the plane held a NaN or an infinity (grow-only). */
let flags = new Int32Array(0);

/** Pool work below this many outputs runs on the calling thread alone. */
const PARALLEL_MIN_OUTPUTS = 1 << 14;
/** (n, c) planes per claimed chunk of a parallel pooling job. */
const PLANES_PER_CHUNK = 16;

/** Output rows `r0 … r1 − 1` (of N·C·outH) by the path the geometry takes. */
function poolRows(xd: Data, g: ConvGeometry, o: Data, arg: Int32Array, r0: number, r1: number): void {
  if (tiles(g)) poolTiled(xd, g, o, arg, r0, r1);
  else poolGeneral(xd, g, o, arg, r0, r1);
}

/** Pools all of `x` into `o` and `arg`, plane by plane across the threads. */
function pool(xd: Data, g: ConvGeometry, o: Data, arg: Int32Array): void {
  const planes = g.N * g.C;
  parallelFor(POOL, planes, [xd, o, arg], [g.N, g.C, g.H, g.W, g.HH, g.WW, g.stride, g.outH, g.outW], {
    grain: PLANES_PER_CHUNK,
    serial: planes * g.outH * g.outW < PARALLEL_MIN_OUTPUTS,
  });
}

/** Planes `begin … end − 1` of `pool`. */
const POOL = defineTask(import.meta.url, "max_pool_fast.pool", (arrays, a, begin, end) => {
  const [xd, o] = arrays as Data[];
  const g: ConvGeometry = {
    N: a[0],
    C: a[1],
    H: a[2],
    W: a[3],
    HH: a[4],
    WW: a[5],
    stride: a[6],
    pad: 0,
    outH: a[7],
    outW: a[8],
  };
  poolRows(xd, g, o, arrays[2] as Int32Array, begin * g.outH, end * g.outH);
});

/** Planes `begin … end − 1` of the fused ReLU and 2 × 2 pool; a plane's flag is 1 when its rows held a NaN or ∞. */
const RELU_POOL2 = defineTask(import.meta.url, "max_pool_fast.reluPool2", (arrays, a, begin, end) => {
  const [xi, ri, oi, arg, flags] = arrays as Int32Array[];
  const outH = a[0];
  const bad = reluPool2F32(xi, ri, begin * outH, end * outH, a[1], a[2], oi, arg);
  for (let p = begin; p < end; p++) flags[p] = bad;
});

/**
 * `dx = 0`, then each upstream gradient `gd[m]` added to `dx[arg[m]]` (unless
 * `reluX[arg[m]] ≤ 0` when a ReLU came before the pool), plane by plane
 * across the threads: a window never leaves its (n, c) plane, so the planes'
 * sums are independent and each adds in the order one thread would.
 */
function scatter(gd: Data, arg: Int32Array, reluX: Data | null, dx: Data, g: ConvGeometry): void {
  const planes = g.N * g.C;
  const arrays = reluX === null ? [gd, arg, dx] : [gd, arg, dx, reluX];
  parallelFor(SCATTER, planes, arrays, [g.outH * g.outW, g.H * g.W], {
    grain: PLANES_PER_CHUNK,
    serial: planes * g.outH * g.outW < PARALLEL_MIN_OUTPUTS,
  });
}

/** Planes `begin … end − 1` of `scatter`. */
const SCATTER = defineTask(import.meta.url, "max_pool_fast.scatter", (arrays, a, begin, end) => {
  const [gd, , dxd] = arrays as Data[];
  const arg = arrays[1] as Int32Array;
  const rx = arrays.length > 3 ? arrays[3] as Data : null;
  const outPlane = a[0], inPlane = a[1];
  dxd.fill(0, begin * inPlane, end * inPlane);
  const m0 = begin * outPlane, m1 = end * outPlane;
  if (rx === null) {
    for (let m = m0; m < m1; m++) dxd[arg[m]] += gd[m];
    return;
  }
  for (let m = m0; m < m1; m++) {
    const k = arg[m];
    if (rx[k] > 0) dxd[k] += gd[m];
  }
});

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
 * import { assertEquals } from "@std/assert";
 * import { array } from "./tensor.ts";
 * import { maxPoolForwardFast } from "./max_pool_fast.ts";
 *
 * const { out } = maxPoolForwardFast(array([[[[1, 5], [3, 2]]]]));
 * assertEquals([...out.data], [5]);
 * ```
 */
export function maxPoolForwardFast(x: Tensor, param: PoolParam = {}): MaxPoolForwardResult {
  const g = poolGeometry("maxPoolForwardFast", x, param);
  checkIndexable("maxPoolForwardFast", x);
  const out = zeros([g.N, g.C, g.outH, g.outW], x.dtype);
  const argmax = new Int32Array(out.size);
  pool(x.data, g, out.data, argmax);
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
    const maxima = scratchBuffer(x.dtype, SCRATCH_SLOTS.maxima, dout.size);
    poolRows(x.data, g, maxima, argmax, 0, g.N * g.C * g.outH);
  }
  const dx = zeros(x.shape, x.dtype);
  scatter(dout.data, argmax, null, dx.data, g);
  return { dx };
}

/**
 * Internal: `reluBackward(maxPoolBackwardFast(dout, cache).dx, { x: reluX }).dx`
 * in one pass, for a ReLU followed by this pool (`cache.x` = max(0, reluX)):
 * each upstream gradient goes to its window's maximum unless the ReLU
 * blocked it there (`reluX ≤ 0`). Same values, same summation order, one
 * gradient tensor instead of two full passes. Not part of the public API.
 */
export function maxPoolReluBackward(
  dout: Tensor,
  cache: MaxPoolCache,
  reluX: Tensor,
  workspace: Workspace | null = null,
): Tensor {
  const { x, geometry: g, argmax } = cache;
  checkDout("maxPoolBackwardFast", dout, [g.N, g.C, g.outH, g.outW], x);
  if (argmax === undefined || reluX.dtype !== x.dtype || reluX.size !== x.size) {
    const dp = maxPoolBackwardFast(dout, cache).dx;
    return reluBackward(dp, { x: reluX }).dx;
  }
  // From the workspace (as `pool.dx`) when given: the scatter zeroes it plane by plane before it adds.
  const dx = workspace === null ? zeros(x.shape, x.dtype) : workspace.tensor("pool.dx", x.shape, x.dtype);
  scatter(dout.data, argmax, reluX.data, dx.data, g);
  return dx;
}

/**
 * Internal: `reluForward(x)` and then `maxPoolForwardFast` of its output,
 * the ReLU – pool half of `convReluPoolForward`, with the same outputs and
 * caches. For float32 and 2 × 2 windows of stride 2 it is one pass over `x`:
 * each window's four values are rectified on their bit patterns (written to
 * the ReLU output) and pooled as integers, exact because the bit patterns of
 * non-negative floats order as the floats do (+0 being 0). A NaN or an
 * infinity anywhere in `x` sends the whole call to the two separate passes,
 * which define what those give. Not part of the public API.
 */
export function reluMaxPoolForward(
  x: Tensor,
  param: PoolParam = {},
  workspace: Workspace | null = null,
): { relu: { out: Tensor; cache: { x: Tensor } }; pool: MaxPoolForwardResult } {
  const g = poolGeometry("maxPoolForwardFast", x, param);
  if (x.data instanceof Float32Array && g.stride === 2 && tiles(g)) {
    checkIndexable("maxPoolForwardFast", x);
    // The fused pass writes every element of all three, so reused ones (`relu.out`, `pool.out`,
    // `pool.argmax` of the workspace) need no zeroing.
    const shape = [g.N, g.C, g.outH, g.outW];
    const r = workspace === null ? zeros(x.shape, x.dtype) : workspace.tensor("relu.out", x.shape, x.dtype);
    const out = workspace === null ? zeros(shape, x.dtype) : workspace.tensor("pool.out", shape, x.dtype);
    const argmax = workspace === null ? new Int32Array(out.size) : workspace.ints("pool.argmax", out.size);
    const bits = (d: Data) => new Int32Array(d.buffer, d.byteOffset, d.length);
    const planes = g.N * g.C;
    const arrays = [bits(x.data), bits(r.data), bits(out.data), argmax];
    if (flags.length < planes) flags = new Int32Array(planes);
    parallelFor(RELU_POOL2, planes, [...arrays, flags], [g.outH, g.W, g.outW], {
      grain: PLANES_PER_CHUNK,
      serial: planes * g.outH * g.outW < PARALLEL_MIN_OUTPUTS,
    });
    let bad = 0;
    for (let i = 0; i < planes; i++) bad |= flags[i];
    if (bad === 0) return { relu: { out: r, cache: { x } }, pool: { out, cache: { x: r, geometry: g, argmax } } };
  }
  const relu = reluForward(x);
  return { relu, pool: maxPoolForwardFast(relu.out, param) };
}

/**
 * The fused ReLU and 2 × 2 pool on float32 bits, output rows `r0 … r1 − 1`:
 * `xi` in, ReLU output `ri`, pooled bits `oi` and argmax out. Returns 1 when
 * one of the rows' inputs is a NaN or an infinity (exponent bits all set),
 * else 0.
 */
function reluPool2F32(
  xi: Int32Array,
  ri: Int32Array,
  r0: number,
  r1: number,
  W: number,
  outW: number,
  oi: Int32Array,
  arg: Int32Array,
): number {
  let bad = 0;
  for (let r = r0; r < r1; r++) {
    let a = 2 * r * W, d = r * outW;
    for (let ow = 0; ow < outW; ow++, a += 2, d++) {
      const z0 = xi[a], z1 = xi[a + 1], z2 = xi[a + W], z3 = xi[a + W + 1];
      // An exponent of all ones (∞ or NaN) carries into the sign bit.
      bad |= (((z0 & 0x7f800000) + 0x00800000) | ((z1 & 0x7f800000) + 0x00800000) |
        ((z2 & 0x7f800000) + 0x00800000) | ((z3 & 0x7f800000) + 0x00800000)) >>> 31;
      // max(0, z): a set sign bit clears the value (−0 becomes +0).
      const b0 = z0 & ~(z0 >> 31), b1 = z1 & ~(z1 >> 31), b2 = z2 & ~(z2 >> 31), b3 = z3 & ~(z3 >> 31);
      ri[a] = b0;
      ri[a + 1] = b1;
      ri[a + W] = b2;
      ri[a + W + 1] = b3;
      // Strict comparisons keep the first maximum in row-major order; masks select without branching.
      const m01 = -(+(b1 > b0)), m23 = -(+(b3 > b2));
      const v01 = b0 ^ ((b0 ^ b1) & m01), v23 = b2 ^ ((b2 ^ b3) & m23);
      const m = -(+(v23 > v01));
      const i01 = a + (1 & m01), i23 = a + W + (1 & m23);
      oi[d] = v01 ^ ((v01 ^ v23) & m);
      arg[d] = i01 ^ ((i01 ^ i23) & m);
    }
  }
  return bad;
}
