/**
 * im2col / col2im: the data movement that turns a convolution into one matrix
 * product, plus the grow-only scratch buffers the fast layers reuse between
 * calls.
 *
 * The column matrix has one row per filter tap `(c, i, j)` and one column per
 * output position `(n, oh, ow)`: shape `(C·HH·WW, N·H'·W')`, the layout of the
 * course's `im2col_cython`. With it, a convolution is `w (F, C·HH·WW) · cols`.
 *
 * @module
 */

import { type Data, type DType, formatShape, type Tensor } from "./tensor.ts";

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
 * longer, as a reused buffer is) and allocates nothing.
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
  const P = outH * outW;
  const NP = N * P;
  for (let c = 0; c < C; c++) {
    for (let i = 0; i < HH; i++) {
      for (let j = 0; j < WW; j++) {
        const row = ((c * HH + i) * WW + j) * NP;
        // Output columns whose input column ow·stride + j − pad lies inside [0, W).
        const owLo = Math.max(0, Math.ceil((pad - j) / stride));
        const owHi = Math.min(outW, Math.floor((W - 1 + pad - j) / stride) + 1);
        for (let n = 0; n < N; n++) {
          const xImage = (n * C + c) * H;
          for (let oh = 0; oh < outH; oh++) {
            const dst = row + n * P + oh * outW;
            const h = oh * stride + i - pad;
            if (h < 0 || h >= H || owLo >= owHi) {
              cols.fill(0, dst, dst + outW);
              continue;
            }
            if (owLo > 0) cols.fill(0, dst, dst + owLo);
            let src = (xImage + h) * W + owLo * stride + j - pad;
            for (let ow = owLo; ow < owHi; ow++, src += stride) cols[dst + ow] = x[src];
            if (owHi < outW) cols.fill(0, dst + owHi, dst + outW);
          }
        }
      }
    }
  }
}

/**
 * The adjoint of `im2col`: adds every element of `cols` (C·HH·WW, N·outH·outW)
 * into the element of `dx` (N, C, H, W) it was copied from, dropping those
 * that came from the padding. Accumulates: zero `dx` first for a plain
 * col2im. Allocates nothing.
 */
export function col2im(cols: Data, g: ConvGeometry, dx: Data): void {
  const { N, C, H, W, HH, WW, stride, pad, outH, outW } = g;
  const P = outH * outW;
  const NP = N * P;
  for (let c = 0; c < C; c++) {
    for (let i = 0; i < HH; i++) {
      for (let j = 0; j < WW; j++) {
        const row = ((c * HH + i) * WW + j) * NP;
        const owLo = Math.max(0, Math.ceil((pad - j) / stride));
        const owHi = Math.min(outW, Math.floor((W - 1 + pad - j) / stride) + 1);
        if (owLo >= owHi) continue;
        for (let n = 0; n < N; n++) {
          const xImage = (n * C + c) * H;
          for (let oh = 0; oh < outH; oh++) {
            const h = oh * stride + i - pad;
            if (h < 0 || h >= H) continue;
            const src = row + n * P + oh * outW;
            let dst = (xImage + h) * W + owLo * stride + j - pad;
            for (let ow = owLo; ow < owHi; ow++, dst += stride) dx[dst] += cols[src + ow];
          }
        }
      }
    }
  }
}

const scratch: Record<DType, Data[]> = { float32: [], float64: [] };

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
 * Drops every scratch array `scratchBuffer` holds, giving their memory back
 * to the garbage collector (after one large batch, say).
 */
export function releaseScratchBuffers(): void {
  scratch.float32.length = 0;
  scratch.float64.length = 0;
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
