/**
 * Convolution and pooling hyperparameters (the course's `conv_param` and
 * `pool_param`), the window geometry they give on an (N, C, H, W) input, and
 * the shape checks every convolution and pooling layer runs before touching
 * data, so that no output extent is ever silently floored.
 *
 * @module
 */

import { formatShape, type Tensor } from "./tensor.ts";

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
