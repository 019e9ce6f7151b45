/**
 * The affine (fully connected) layer: `out = x·w + b` with each example of
 * `x` flattened to a row.
 *
 * @module
 */

import { gemm } from "./kernels/gemm.ts";
import type { Workspace } from "./kernels/scratch.ts";
import { formatShape, type Tensor, zeros } from "./tensor.ts";

/** What `affineForward` keeps for `affineBackward`: its inputs. */
export interface AffineCache {
  /** Input, shape (N, d1, …, dk). */
  x: Tensor;
  /** Weights, shape (D, M). */
  w: Tensor;
  /** Biases, shape (M,). */
  b: Tensor;
}

/** Output of `affineForward`. */
export interface AffineForwardResult {
  /** `x·w + b`, shape (N, M). */
  out: Tensor;
  /** Inputs kept for the backward pass. */
  cache: AffineCache;
}

/** Gradients of `affineBackward`. */
export interface AffineGrads {
  /** Gradient with respect to `x`, shape of `x`. */
  dx: Tensor;
  /** Gradient with respect to `w`, shape (D, M). */
  dw: Tensor;
  /** Gradient with respect to `b`, shape (M,). */
  db: Tensor;
}

function checkDtypes(where: string, tensors: Record<string, Tensor>): void {
  const entries = Object.entries(tensors);
  const dtype = entries[0][1].dtype;
  if (entries.some(([, t]) => t.dtype !== dtype)) {
    throw new TypeError(
      `${where}: ${entries.map(([n, t]) => `${n} is ${t.dtype}`).join(", ")}; they must share one dtype`,
    );
  }
}

/**
 * Forward pass of an affine layer. Each of the N examples of `x` is
 * flattened to a row of D = d1·…·dk values.
 *
 * @param x input, shape (N, d1, …, dk)
 * @param w weights, shape (D, M)
 * @param b biases, shape (M,)
 * @returns `out` (N, M) in the dtype of the inputs, and the cache
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { array } from "./tensor.ts";
 * import { affineForward } from "./affine.ts";
 *
 * const { out } = affineForward(array([[1, 2]]), array([[1], [1]]), array([0.5]));
 * assertEquals([...out.data], [3.5]);
 * ```
 */
export function affineForward(x: Tensor, w: Tensor, b: Tensor): AffineForwardResult {
  if (x.ndim < 2) {
    throw new RangeError(`affineForward: x ${formatShape(x.shape)} must have at least 2 axes (N, d1, …, dk)`);
  }
  if (w.ndim !== 2 || b.ndim !== 1) {
    throw new RangeError(
      `affineForward: w ${formatShape(w.shape)} must be 2-D (D, M) and b ${formatShape(b.shape)} 1-D (M,)`,
    );
  }
  const n = x.shape[0];
  const d = n === 0 ? x.shape.slice(1).reduce((p, v) => p * v, 1) : x.size / n;
  const [dw, m] = w.shape;
  if (d !== dw || b.shape[0] !== m) {
    throw new RangeError(
      `affineForward: x ${formatShape(x.shape)} (D = ${d}), w ${formatShape(w.shape)} and b ${
        formatShape(b.shape)
      } do not fit: expected w (D, M) and b (M,)`,
    );
  }
  checkDtypes("affineForward", { x, w, b });
  const out = zeros([n, m], x.dtype);
  const o = out.data, bd = b.data;
  // Seed every row with b, then accumulate x·w on top (beta = 1).
  for (let i = 0; i < n; i++) o.set(bd, i * m);
  gemm({ m: n, n: m, k: d, a: x.data, b: w.data, beta: 1, c: o });
  return { out, cache: { x, w, b } };
}

/**
 * Backward pass of an affine layer.
 *
 * @param dout upstream gradient, shape (N, M)
 * @param cache from `affineForward`
 * @returns `dx` (shape of x), `dw` (D, M), `db` (M,)
 */
export function affineBackward(dout: Tensor, cache: AffineCache): AffineGrads {
  const { dx, dw, db } = affineBackwardInternal(dout, cache, true);
  return { dx: dx!, dw, db };
}

/**
 * Internal: `affineBackward`, computing `dx` only when `wantDx` (a model's
 * first layer needs no gradient of its input: a third of the layer's
 * products), into a tensor of `workspace` when one is given. Not part of the
 * public API.
 */
export function affineBackwardInternal(
  dout: Tensor,
  cache: AffineCache,
  wantDx: boolean,
  workspace: Workspace | null = null,
): { dx: Tensor | null; dw: Tensor; db: Tensor } {
  const { x, w } = cache;
  const n = x.shape[0];
  const [d, m] = w.shape;
  if (dout.ndim !== 2 || dout.shape[0] !== n || dout.shape[1] !== m) {
    throw new RangeError(
      `affineBackward: dout ${formatShape(dout.shape)} must be (N, M) = (${n}, ${m}) for x ${
        formatShape(x.shape)
      } and w ${formatShape(w.shape)}`,
    );
  }
  checkDtypes("affineBackward", { dout, x, w });
  // dx from the workspace (as `affine.dx`) when given: the product overwrites all of it (beta = 0).
  const dx = !wantDx
    ? null
    : workspace === null
    ? zeros(x.shape, x.dtype)
    : workspace.tensor("affine.dx", x.shape, x.dtype);
  const dW = zeros([d, m], x.dtype);
  const db = zeros([m], x.dtype);
  // dx = dout·wᵀ, dw = xᵀ·dout.
  if (dx !== null) gemm({ transB: true, m: n, n: d, k: m, a: dout.data, b: w.data, c: dx.data });
  gemm({ transA: true, m: d, n: m, k: n, a: x.data, b: dout.data, c: dW.data });
  const g = dout.data, dbd = db.data;
  for (let j = 0; j < m; j++) {
    let s = 0;
    for (let i = 0; i < n; i++) s += g[i * m + j];
    dbd[j] = s;
  }
  return { dx, dw: dW, db };
}
