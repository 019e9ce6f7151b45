/**
 * im2col / col2im: the data movement that turns a convolution into one matrix
 * product, plus the grow-only scratch buffers the fast layers reuse between
 * calls.
 *
 * The column matrix has one row per filter tap `(c, i, j)` and one column per
 * output position `(n, oh, ow)`: shape `(C·HH·WW, N·H'·W')`, the layout of the
 * course's `im2col_cython`. With it, a convolution is `w (F, C·HH·WW) · cols`.
 * (`im2col_wasm.ts` does the same for float32 in WebAssembly SIMD; the fast
 * convolution uses it where it can.)
 *
 * Also here: `Workspace`, the tensors a model lends its layers from one step
 * to the next.
 *
 * @module
 */

import { releaseColumnKernel } from "./im2col_wasm.ts";
import { type Data, type DType, formatShape, type Tensor, zeros } from "../tensor.ts";

/**
 * The geometry of one convolution (or pooling) window sweep over an
 * (N, C, H, W) input: window `HH × WW`, one stride for both axes, zero padding
 * `pad` on every side, and the output extent `outH × outW`. Callers validate
 * it; `im2col` and `col2im` trust it.
 */
export interface ConvGeometry {
  /** Batch size. */
  N: number;
  /** Input channels. */
  C: number;
  /** Input height. */
  H: number;
  /** Input width. */
  W: number;
  /** Window height. */
  HH: number;
  /** Window width. */
  WW: number;
  /** Step between windows, both axes. */
  stride: number;
  /** Zeros added on each side of both spatial axes. */
  pad: number;
  /** Output height, `1 + (H + 2·pad − HH) / stride`. */
  outH: number;
  /** Output width, `1 + (W + 2·pad − WW) / stride`. */
  outW: number;
}

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
 * import { im2col } from "./im2col.ts";
 * const x = new Float64Array([1, 2, 3, 4]); // (1, 1, 2, 2)
 * const cols = new Float64Array(4);
 * im2col(x, { N: 1, C: 1, H: 2, W: 2, HH: 1, WW: 1, stride: 1, pad: 0, outH: 2, outW: 2 }, cols);
 * cols; // [1, 2, 3, 4]
 * ```
 */
export function im2col(x: Data, g: ConvGeometry, cols: Data): void {
  const { N, C, H, W, HH, WW, stride, pad, outH, outW } = g;
  const P = outH * outW, NP = N * P, Hp = H + 2 * pad, Wp = W + 2 * pad;
  const xp = scratchBuffer(x instanceof Float32Array ? "float32" : "float64", PADDED, C * Hp * Wp);
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
  const dxp = scratchBuffer(cols instanceof Float32Array ? "float32" : "float64", PADDED, C * Hp * Wp);
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

const scratch: Record<DType, Data[]> = { float32: [], float64: [] };

/** Scratch slot of the zero-padded image `im2col` reads and `col2im` sums into. */
const PADDED = 7;

/**
 * A module-level scratch array of `dtype` with at least `length` elements,
 * one per `slot`: it grows when asked for more and is otherwise handed out
 * again, so that the fast layers allocate no temporaries in steady state.
 * The contents are garbage; a later call with the same slot and dtype may
 * reuse (overwrite) it, so never keep it past the call that asked.
 */
export function scratchBuffer(dtype: DType, slot: number, length: number): Data {
  const pool = scratch[dtype];
  const have = pool[slot];
  if (have !== undefined && have.length >= length) return have;
  const fresh = dtype === "float32" ? new Float32Array(length) : new Float64Array(length);
  pool[slot] = fresh;
  return fresh;
}

/**
 * Drops every scratch array `scratchBuffer` holds, and the memory of the
 * WebAssembly column kernel of the fast convolution, giving them back to the
 * garbage collector (after one large batch, say).
 */
export function releaseScratchBuffers(): void {
  scratch.float32.length = 0;
  scratch.float64.length = 0;
  // The WebAssembly column kernel's memory cannot shrink: drop the instance, re-made on next use.
  releaseColumnKernel();
}

/**
 * Internal: tensors a model lends its layers from one training step to the
 * next, by name. A step's big intermediates (a conv layer's output, its ReLU
 * and pooled outputs, their gradients) are dead once the model's `loss` has
 * returned, and fresh ones cost the page faults of tens of megabytes every
 * step (an `ArrayBuffer`'s memory is given back on collection and faulted in
 * again when touched); taken from here they reuse the previous step's. Only
 * a caller that owns every cache the tensors end up in (a model's `loss`,
 * which returns none of them) may use one. Not part of the public API.
 */
export class Workspace {
  readonly #tensors = new Map<string, Tensor>();
  readonly #ints = new Map<string, Int32Array>();

  /**
   * The tensor named `name` if it has `shape` and `dtype`, else a new one
   * (zeros) that replaces it. Its contents are whatever the last user left:
   * callers overwrite or zero every element.
   */
  tensor(name: string, shape: readonly number[], dtype: DType): Tensor {
    const have = this.#tensors.get(name);
    if (have !== undefined && have.dtype === dtype && sameShape(have.shape, shape)) return have;
    const fresh = zeros(shape, dtype);
    this.#tensors.set(name, fresh);
    return fresh;
  }

  /** As `tensor`, for an Int32Array of `length` (argmax indices). */
  ints(name: string, length: number): Int32Array {
    const have = this.#ints.get(name);
    if (have !== undefined && have.length === length) return have;
    const fresh = new Int32Array(length);
    this.#ints.set(name, fresh);
    return fresh;
  }
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/** Convolution hyperparameters, as the course's `conv_param`. */
export interface ConvParam {
  /** Step between neighbouring filter positions, both axes. Default 1. */
  stride?: number;
  /** Zeros added on each side of both spatial axes. Default 0. */
  pad?: number;
}

/** Pooling hyperparameters, as the course's `pool_param`. */
export interface PoolParam {
  /** Window height. Default 2. */
  poolHeight?: number;
  /** Window width. Default 2. */
  poolWidth?: number;
  /** Step between windows, both axes. Default 2. */
  stride?: number;
}

function checkInteger(where: string, name: string, v: number, min: number): void {
  if (!Number.isInteger(v) || v < min) {
    throw new RangeError(`${where}: ${name} must be a ${min > 0 ? "positive" : "non-negative"} integer, got ${v}`);
  }
}

function check4d(where: string, name: string, t: Tensor, axes: string): void {
  if (t.ndim !== 4) throw new RangeError(`${where}: ${name} ${formatShape(t.shape)} must be 4-D ${axes}`);
}

/**
 * Validates the inputs of a convolution forward pass and returns its
 * geometry. `where` names the caller in the errors; every rule the shapes
 * must obey is checked here, so that no output extent is ever silently
 * floored.
 */
export function convGeometry(where: string, x: Tensor, w: Tensor, b: Tensor, param: ConvParam): ConvGeometry {
  const { stride = 1, pad = 0 } = param;
  check4d(where, "x", x, "(N, C, H, W)");
  check4d(where, "w", w, "(F, C, HH, WW)");
  if (b.ndim !== 1) throw new RangeError(`${where}: b ${formatShape(b.shape)} must be 1-D (F,)`);
  if (x.dtype !== w.dtype || x.dtype !== b.dtype) {
    throw new TypeError(`${where}: x is ${x.dtype}, w is ${w.dtype}, b is ${b.dtype}; they must share one dtype`);
  }
  checkInteger(where, "stride", stride, 1);
  checkInteger(where, "pad", pad, 0);
  const [N, C, H, W] = x.shape;
  const [F, CW, HH, WW] = w.shape;
  const xs = formatShape(x.shape), ws = formatShape(w.shape);
  if (C !== CW) throw new RangeError(`${where}: x ${xs} has C = ${C} channels but w ${ws} has ${CW}`);
  if (b.shape[0] !== F) {
    throw new RangeError(
      `${where}: b ${formatShape(b.shape)} must have F = ${F} elements, one per filter of w ${ws}`,
    );
  }
  if (HH === 0 || WW === 0) throw new RangeError(`${where}: w ${ws} has an empty ${HH} × ${WW} filter`);
  const Hp = H + 2 * pad, Wp = W + 2 * pad;
  if (HH > Hp || WW > Wp) {
    throw new RangeError(
      `${where}: filter ${HH} × ${WW} of w ${ws} is larger than the padded input ${Hp} × ${Wp} (pad ${pad}) of x ${xs}`,
    );
  }
  if ((Hp - HH) % stride !== 0) {
    throw new RangeError(
      `${where}: (H + 2·pad − HH) = ${Hp - HH} is not divisible by stride ${stride} for x ${xs} and w ${ws}`,
    );
  }
  if ((Wp - WW) % stride !== 0) {
    throw new RangeError(
      `${where}: (W + 2·pad − WW) = ${Wp - WW} is not divisible by stride ${stride} for x ${xs} and w ${ws}`,
    );
  }
  return { N, C, H, W, HH, WW, stride, pad, outH: 1 + (Hp - HH) / stride, outW: 1 + (Wp - WW) / stride };
}

/**
 * Validates the input of a max-pool forward pass and returns its geometry
 * (window `HH × WW` = `poolHeight × poolWidth`, no padding). Windows must fit
 * in the input and tile it exactly with the stride.
 */
export function poolGeometry(where: string, x: Tensor, param: PoolParam): ConvGeometry {
  const { poolHeight = 2, poolWidth = 2, stride = 2 } = param;
  check4d(where, "x", x, "(N, C, H, W)");
  checkInteger(where, "poolHeight", poolHeight, 1);
  checkInteger(where, "poolWidth", poolWidth, 1);
  checkInteger(where, "stride", stride, 1);
  const [N, C, H, W] = x.shape;
  const xs = formatShape(x.shape);
  if (poolHeight > H || poolWidth > W) {
    throw new RangeError(`${where}: pool window ${poolHeight} × ${poolWidth} does not fit in x ${xs}`);
  }
  if ((H - poolHeight) % stride !== 0) {
    throw new RangeError(
      `${where}: (H − poolHeight) = ${H - poolHeight} is not divisible by stride ${stride} for x ${xs}`,
    );
  }
  if ((W - poolWidth) % stride !== 0) {
    throw new RangeError(
      `${where}: (W − poolWidth) = ${W - poolWidth} is not divisible by stride ${stride} for x ${xs}`,
    );
  }
  return {
    N,
    C,
    H,
    W,
    HH: poolHeight,
    WW: poolWidth,
    stride,
    pad: 0,
    outH: 1 + (H - poolHeight) / stride,
    outW: 1 + (W - poolWidth) / stride,
  };
}

/**
 * Throws unless the upstream gradient `dout` has the forward output's
 * `shape` and the dtype of the forward input `x`.
 */
export function checkDout(where: string, dout: Tensor, shape: readonly number[], x: Tensor): void {
  if (dout.ndim !== shape.length || dout.shape.some((d, i) => d !== shape[i])) {
    throw new RangeError(
      `${where}: dout ${formatShape(dout.shape)} must have the forward output's shape ${formatShape(shape)}`,
    );
  }
  if (dout.dtype !== x.dtype) {
    throw new TypeError(`${where}: dout is ${dout.dtype} but x is ${x.dtype}; they must share one dtype`);
  }
}
