/**
 * The convolutional layer as im2col + matrix products: the input is unfolded
 * into a column matrix and every product goes through `gemm`. Same results as
 * `conv_naive.ts`, much faster.
 *
 * The batch is processed a chunk of images at a time, each chunk's column
 * matrix small enough (about `CHUNK_COLUMN_ELEMENTS` values) to stay in the
 * L2 cache between being written by im2col and read by the products: the
 * full matrix of a 50-image batch of 32 × 32 images and 7 × 7 filters is
 * 30 MB, and streaming it through memory twice per pass cost more than the
 * products. Forward, each image's product is written straight into its
 * (F, H'·W') block of the output; backward, one image's `dout` block is an
 * operand as it lies, and chunks of several small images are transposed to
 * (F, m·H'·W') for one product per chunk.
 *
 * float32 unfolds and folds in WebAssembly SIMD (`im2col_wasm.ts`) where the
 * engine has it, into the kernel's own memory; otherwise, and for float64,
 * temporaries (the column matrix, its gradient, the transposed `dout`) live
 * in the grow-only scratch buffers of `kernels/scratch.ts`. The backward pass
 * re-unfolds the cached `x` instead of keeping the column matrix in the
 * cache, so a cache holds no scratch memory and several layers' forward
 * passes may run before their backward passes.
 *
 * @module
 */

import { gemm, gemmBackend } from "./kernels/gemm.ts";
import { checkDout, type ConvGeometry, convGeometry, type ConvParam } from "./conv_params.ts";
import { col2im, im2col } from "./kernels/im2col.ts";
import { SCRATCH_SLOTS, scratchBuffer, type Workspace } from "./kernels/scratch.ts";
import { defineTask, parallelFor } from "./kernels/parallel.ts";
import { columnKernel } from "./kernels/im2col_wasm.ts";
import type { ConvCache, ConvForwardResult, ConvGrads } from "./conv_naive.ts";
import { type Data, type DType, type Tensor, zeros } from "./tensor.ts";

export type { ConvCache, ConvForwardResult, ConvGrads } from "./conv_naive.ts";

const { cols: COLS, product: PRODUCT, dcols: DCOLS, dwT: DWT, dwParts: DW_PARTS } = SCRATCH_SLOTS;

/** Convolutions of fewer multiply-adds per product than this run on the calling thread alone. */
const PARALLEL_MIN_MACS = 1 << 20;

/** Per-image, per-filter sums of `dout` of the last backward pass (float64, grow-only). */
let dbParts = new Float64Array(0);

/**
 * Column-matrix values per chunk: 512 KiB of float32, so that the chunk's
 * columns (and, backward, their gradient) stay in a 1 MiB L2 cache.
 */
const CHUNK_COLUMN_ELEMENTS = 1 << 17;

/** Images per chunk for a column matrix of `K` rows and `P` columns per image: at least one. */
function imagesPerChunk(K: number, P: number, N: number): number {
  return Math.max(1, Math.min(N, Math.floor(CHUNK_COLUMN_ELEMENTS / (K * P))));
}

/** The geometry of images n0 … n0 + nb − 1 alone. */
function chunkGeometry(g: ConvGeometry, nb: number): ConvGeometry {
  return { ...g, N: nb };
}

/**
 * Forward pass of a convolutional layer by im2col and `gemm`:
 * `w (F, C·HH·WW) · cols (C·HH·WW, H'·W')` per image. Equals
 * `convForwardNaive` (up to summation order).
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
 * import { convForwardFast } from "./conv_fast.ts";
 *
 * const { out } = convForwardFast(full([1, 1, 3, 3], 1), full([1, 1, 3, 3], 1), zeros([1]), { pad: 1 });
 * assertEquals([...out.data], [4, 6, 4, 6, 9, 6, 4, 6, 4]);
 * ```
 */
export function convForwardFast(x: Tensor, w: Tensor, b: Tensor, param: ConvParam = {}): ConvForwardResult {
  return convForwardFastInternal(x, w, b, param, null);
}

/**
 * Internal: `convForwardFast`, its output taken from `workspace` (as
 * `conv.out`) when one is given. Not part of the public API.
 */
export function convForwardFastInternal(
  x: Tensor,
  w: Tensor,
  b: Tensor,
  param: ConvParam,
  workspace: Workspace | null,
): ConvForwardResult {
  const g = convGeometry("convForwardFast", x, w, b, param);
  const { N, C, HH, WW, outH, outW } = g;
  const F = w.shape[0];
  const K = C * HH * WW, P = outH * outW;
  // Every element is written below (bias, then the product onto it), so a reused tensor needs no zeroing.
  const shape = [N, F, outH, outW];
  const out = workspace === null ? zeros(shape, x.dtype) : workspace.tensor("conv.out", shape, x.dtype);
  if (out.size === 0) return { out, cache: { x, w, b, geometry: g } };
  const nb = imagesPerChunk(K, P, N);
  parallelFor(CONV_FORWARD, Math.ceil(N / nb), [x.data, w.data, b.data, out.data], [...geometryArgs(g), F, nb], {
    backend: gemmBackend(),
    serial: out.size * K < PARALLEL_MIN_MACS,
  });
  return { out, cache: { x, w, b, geometry: g } };
}

/** The geometry as task arguments (`geometryFromArgs` reads them back). */
function geometryArgs(g: ConvGeometry): number[] {
  return [g.N, g.C, g.H, g.W, g.HH, g.WW, g.stride, g.pad, g.outH, g.outW];
}

function geometryFromArgs(a: Float64Array): ConvGeometry {
  return { N: a[0], C: a[1], H: a[2], W: a[3], HH: a[4], WW: a[5], stride: a[6], pad: a[7], outH: a[8], outW: a[9] };
}

/**
 * The forward pass of chunks `begin … end − 1` (chunk c: images c·nb …):
 * unfold the chunk, then one product per image, reading its columns out of
 * the chunk's (row stride m·P) straight into out[n]. Each output row is
 * seeded with its bias and the product accumulated onto it (beta = 1), so
 * the bias joins the sum before its one rounding to the dtype. An image's
 * product does not depend on the chunk it came in.
 */
const CONV_FORWARD = defineTask(import.meta.url, "conv_fast.forward", (arrays, args, begin, end) => {
  const [xd, wd, bd, o] = arrays as Data[];
  const g = geometryFromArgs(args);
  const F = args[10], nb = args[11];
  const { N, C, H, W, HH, WW, outH, outW } = g;
  const K = C * HH * WW, P = outH * outW, CHW = C * H * W;
  // float32 unfolds in WebAssembly SIMD where it can, into the kernel's own memory.
  const wasmCols = xd instanceof Float32Array ? columnKernel()?.columns(g, nb, K * nb * P) ?? null : null;
  const kernel = wasmCols !== null ? columnKernel() : null;
  const cols = wasmCols ?? scratchBuffer(dtypeOf(xd), COLS, K * nb * P);
  for (let c = begin; c < end; c++) {
    const n0 = c * nb, m = Math.min(nb, N - n0), mP = m * P;
    if (kernel !== null) kernel.im2col(xd as Float32Array, n0 * CHW, chunkGeometry(g, m));
    else im2col(xd.subarray(n0 * CHW, (n0 + m) * CHW), chunkGeometry(g, m), cols);
    for (let j = 0; j < m; j++) {
      const base = (n0 + j) * F * P;
      for (let f = 0; f < F; f++) o.fill(bd[f], base + f * P, base + (f + 1) * P);
      gemm({ m: F, n: P, k: K, a: wd, b: cols, bOffset: j * P, ldb: mP, beta: 1, c: o, cOffset: base });
    }
  }
}, { gemm: true });

function dtypeOf(d: Data): DType {
  return d instanceof Float32Array ? "float32" : "float64";
}

/**
 * Backward pass of a convolutional layer by matrix products:
 * `dw = Σ dout (F, H'·W') · colsᵀ`, `dcols = wᵀ · dout`, and
 * `dx = col2im(dcols)`, image by image (or chunk by chunk). Equals
 * `convBackwardNaive` (up to summation order).
 *
 * @param dout upstream gradient, shape (N, F, H', W') as the forward output
 * @param cache from `convForwardFast` or `convForwardNaive`
 * @returns `dx` (N, C, H, W), `dw` (F, C, HH, WW) and `db` (F,), in the
 *   inputs' dtype
 */
export function convBackwardFast(dout: Tensor, cache: ConvCache): ConvGrads {
  const { dx, dw, db } = convBackwardFastInternal("convBackwardFast", dout, cache, true);
  return { dx: dx!, dw, db };
}

/**
 * Internal: `convBackwardFast`, computing `dx` only when `wantDx` (a model's
 * first layer needs no gradient of its input; skipping it saves a third of
 * the products and the col2im). Not part of the public API.
 *
 * The sums over the batch are cut the same way whatever the thread count:
 * each chunk of images writes its own partial `dwᵀ` (and each image its
 * per-filter sums of `dout`), and the partials are added in chunk (image)
 * order afterwards, so that the gradients are the same bit for bit on one
 * thread or many.
 */
export function convBackwardFastInternal(
  where: string,
  dout: Tensor,
  cache: ConvCache,
  wantDx: boolean,
): { dx: Tensor | null; dw: Tensor; db: Tensor } {
  const { x, w, geometry: g } = cache;
  const { N, C, HH, WW, outH, outW } = g;
  const F = w.shape[0];
  checkDout(where, dout, [N, F, outH, outW], x);
  const K = C * HH * WW, P = outH * outW;
  const dx = wantDx ? zeros(x.shape, x.dtype) : null, dw = zeros(w.shape, x.dtype), db = zeros([F], x.dtype);
  if (dout.size === 0) return { dx, dw, db };
  const nb = imagesPerChunk(K, P, N), chunks = Math.ceil(N / nb);
  const dwParts = scratchBuffer(x.dtype, DW_PARTS, chunks * K * F).subarray(0, chunks * K * F);
  if (dbParts.length < N * F) dbParts = new Float64Array(N * F);
  const arrays = [x.data, w.data, dout.data, dwParts, dbParts];
  if (dx !== null) arrays.push(dx.data);
  parallelFor(CONV_BACKWARD, chunks, arrays, [...geometryArgs(g), F, nb], {
    backend: gemmBackend(),
    serial: dout.size * K < PARALLEL_MIN_MACS,
  });
  // The partials, added in chunk order: dwᵀ (K, F) → dw (F, K); db in float64, image by image.
  const dwT = scratchBuffer(x.dtype, DWT, K * F);
  dwT.set(dwParts.subarray(0, K * F));
  for (let c = 1; c < chunks; c++) {
    const off = c * K * F;
    for (let i = 0; i < K * F; i++) dwT[i] += dwParts[off + i];
  }
  const dwd = dw.data, dbd = db.data;
  for (let f = 0; f < F; f++) {
    let s = 0;
    for (let n = 0; n < N; n++) s += dbParts[n * F + f];
    dbd[f] = s;
    for (let k = 0; k < K; k++) dwd[f * K + k] = dwT[k * F + f];
  }
  return { dx, dw, db };
}

/**
 * The backward pass of chunks `begin … end − 1`: each image's per-filter sum
 * of `dout` into `dbParts` (float64, four partial sums deep), the chunk's
 * `dwᵀ = cols · doutᵀ` into its slot of `dwParts`, and, when wanted, the
 * chunk's `dx` (by `dcols = wᵀ · dout` and col2im; chunks own disjoint
 * images of dx). Chunks of several images transpose their `dout` to
 * (F, m·P) first, summing while they copy.
 */
const CONV_BACKWARD = defineTask(import.meta.url, "conv_fast.backward", (arrays, args, begin, end) => {
  const [xd, wd, gd, dwParts] = arrays as Data[];
  const dbParts = arrays[4] as Float64Array;
  const dxd = arrays.length > 5 ? arrays[5] as Data : null;
  const g = geometryFromArgs(args);
  const F = args[10], nb = args[11];
  const { N, C, H, W, HH, WW, outH, outW } = g;
  const K = C * HH * WW, P = outH * outW, CHW = C * H * W;
  const dtype = dtypeOf(xd);
  const wasmCols = xd instanceof Float32Array ? columnKernel()?.columns(g, nb, K * nb * P) ?? null : null;
  const kernel = wasmCols !== null ? columnKernel() : null;
  const cols = wasmCols ?? scratchBuffer(dtype, COLS, K * nb * P);
  const doutT = nb === 1 ? gd : scratchBuffer(dtype, PRODUCT, F * nb * P);
  // The kernel's column gradient overwrites its columns, spent once dw has them.
  const dcols = dxd === null ? null : kernel !== null ? cols : scratchBuffer(dtype, DCOLS, K * nb * P);
  for (let c = begin; c < end; c++) {
    const n0 = c * nb, m = Math.min(nb, N - n0), mP = m * P;
    const cg = chunkGeometry(g, m);
    let gOff = n0 * F * P;
    if (nb > 1) {
      // (m, F, P) → (F, m, P).
      gOff = 0;
      for (let f = 0; f < F; f++) {
        for (let j = 0; j < m; j++) {
          dbParts[(n0 + j) * F + f] = copyBlockSum(gd, ((n0 + j) * F + f) * P, doutT, f * mP + j * P, P);
        }
      }
    } else {
      for (let f = 0; f < F; f++) dbParts[n0 * F + f] = blockSum(gd, (n0 * F + f) * P, P);
    }
    if (kernel !== null) kernel.im2col(xd as Float32Array, n0 * CHW, cg);
    else im2col(xd.subarray(n0 * CHW, (n0 + m) * CHW), cg, cols);
    // dwᵀ (K, F) = cols · doutᵀ: the same sums as dw = dout · colsᵀ, but a (K × F) product with the long
    // inner dimension runs faster than an (F × K) one (OpenBLAS 110 vs 95 GFLOP/s, wasm 47 vs 43 at 7 × 7).
    gemm({ transB: true, m: K, n: F, k: mP, a: cols, b: doutT, bOffset: gOff, c: dwParts, cOffset: c * K * F });
    if (dxd === null || dcols === null) continue;
    gemm({ transA: true, m: K, n: mP, k: F, a: wd, b: doutT, bOffset: gOff, c: dcols });
    // dx is still zero here, so writing the chunk equals adding it.
    if (kernel !== null) kernel.col2imInto(cg, dxd as Float32Array, n0 * CHW);
    else col2im(dcols, cg, dxd.subarray(n0 * CHW, (n0 + m) * CHW));
  }
}, { gemm: true });

/** The sum of `a[s … s + len)`, in four interleaved partial sums. */
function blockSum(a: Data, s: number, len: number): number {
  let s0 = 0, s1 = 0, s2 = 0, s3 = 0, i = s;
  for (const e4 = s + (len & ~3); i < e4; i += 4) {
    s0 += a[i];
    s1 += a[i + 1];
    s2 += a[i + 2];
    s3 += a[i + 3];
  }
  for (const e = s + len; i < e; i++) s0 += a[i];
  return (s0 + s1) + (s2 + s3);
}

/** Copies `a[s … s + len)` to `dst[d …]` and returns its sum, as `blockSum`. */
function copyBlockSum(a: Data, s: number, dst: Data, d: number, len: number): number {
  let s0 = 0, s1 = 0, s2 = 0, s3 = 0, i = s, k = d;
  for (const e4 = s + (len & ~3); i < e4; i += 4, k += 4) {
    const v0 = a[i], v1 = a[i + 1], v2 = a[i + 2], v3 = a[i + 3];
    dst[k] = v0;
    dst[k + 1] = v1;
    dst[k + 2] = v2;
    dst[k + 3] = v3;
    s0 += v0;
    s1 += v1;
    s2 += v2;
    s3 += v3;
  }
  for (const e = s + len; i < e; i++, k++) {
    dst[k] = a[i];
    s0 += a[i];
  }
  return (s0 + s1) + (s2 + s3);
}
