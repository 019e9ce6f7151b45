/**
 * Numeric gradients by centered differences, and the relative error the
 * course reports, to check every analytic backward pass.
 *
 * @module
 */

import { formatShape, type Tensor, zerosLike } from "./tensor.ts";

/** Options of the numeric gradient functions. */
export interface NumericGradientOptions {
  /** Step of the centered difference. Default 1e-5. */
  h?: number;
}

/**
 * The numeric gradient of a scalar function `f` at `x`:
 * `(f(x + h·eᵢ) − f(x − h·eᵢ)) / 2h` for every element `i`.
 * `f` reads `x` in place; `x` is restored after each probe.
 *
 * @param f a function of `x` returning a number
 * @param x the point, shape any (float64 for gradient checks)
 * @returns the gradient, shape of `x`
 *
 * @example
 * ```ts
 * import { assertAlmostEquals, assertEquals } from "@std/assert";
 * import { array } from "./tensor.ts";
 * import { evalNumericalGradient } from "./gradient_check.ts";
 *
 * const grad = evalNumericalGradient((t) => t.data[0] ** 2 + 3 * t.data[1], array([1, 2]));
 * assertAlmostEquals(grad.data[0], 2, 1e-8);
 * assertAlmostEquals(grad.data[1], 3, 1e-8);
 * ```
 */
export function evalNumericalGradient(
  f: (x: Tensor) => number,
  x: Tensor,
  { h = 1e-5 }: NumericGradientOptions = {},
): Tensor {
  const grad = zerosLike(x);
  const xd = x.data;
  for (let i = 0; i < xd.length; i++) {
    const old = xd[i];
    xd[i] = old + h;
    const fxph = f(x);
    xd[i] = old - h;
    const fxmh = f(x);
    xd[i] = old;
    grad.data[i] = (fxph - fxmh) / (2 * h);
  }
  return grad;
}

/**
 * The numeric gradient of `sum(f(x) · dout)` at `x`, for a function `f` that
 * returns a tensor: what a layer's backward pass computes from upstream
 * gradient `dout`.
 *
 * @param f a function of `x` returning a tensor of `dout`'s shape
 * @param x the point, shape any
 * @param dout upstream gradient, shape of `f(x)`
 * @returns the gradient with respect to `x`, shape of `x`
 */
export function evalNumericalGradientArray(
  f: (x: Tensor) => Tensor,
  x: Tensor,
  dout: Tensor,
  { h = 1e-5 }: NumericGradientOptions = {},
): Tensor {
  const grad = zerosLike(x);
  const xd = x.data, dd = dout.data;
  for (let i = 0; i < xd.length; i++) {
    const old = xd[i];
    xd[i] = old + h;
    // Copy: f may return a view of a buffer it reuses.
    const pos = f(x).data.slice();
    xd[i] = old - h;
    const neg = f(x).data;
    xd[i] = old;
    if (pos.length !== dd.length) {
      throw new RangeError(
        `evalNumericalGradientArray: f(x) has ${pos.length} elements but dout ${
          formatShape(dout.shape)
        } has ${dd.length}`,
      );
    }
    let s = 0;
    for (let j = 0; j < dd.length; j++) s += (pos[j] - neg[j]) * dd[j];
    grad.data[i] = s / (2 * h);
  }
  return grad;
}

/** One sampled coordinate of `gradCheckSparse`. */
export interface SparseCheck {
  /** Flat index of the element checked. */
  index: number;
  /** Numeric derivative. */
  numerical: number;
  /** Analytic derivative. */
  analytic: number;
  /** `|numerical − analytic| / (|numerical| + |analytic|)`. */
  relError: number;
}

/**
 * Checks `numTests` randomly chosen coordinates of an analytic gradient
 * against centered differences, as the course's `grad_check_sparse`.
 * `random` supplies uniform numbers in [0, 1) (pass a seeded generator for
 * reproducible picks).
 */
export function gradCheckSparse(
  f: (x: Tensor) => number,
  x: Tensor,
  analyticGrad: Tensor,
  { numTests = 10, h = 1e-5, random = Math.random }: { numTests?: number; h?: number; random?: () => number } = {},
): SparseCheck[] {
  const checks: SparseCheck[] = [];
  const xd = x.data;
  for (let t = 0; t < numTests; t++) {
    const index = Math.floor(random() * xd.length);
    const old = xd[index];
    xd[index] = old + h;
    const fxph = f(x);
    xd[index] = old - h;
    const fxmh = f(x);
    xd[index] = old;
    const numerical = (fxph - fxmh) / (2 * h);
    const analytic = analyticGrad.data[index];
    const denom = Math.abs(numerical) + Math.abs(analytic);
    checks.push({ index, numerical, analytic, relError: denom === 0 ? 0 : Math.abs(numerical - analytic) / denom });
  }
  return checks;
}

/**
 * The course's relative error: `max(|x − y| / max(1e-8, |x| + |y|))`.
 *
 * @example
 * ```ts
 * import { assertAlmostEquals, assertEquals } from "@std/assert";
 * import { array } from "./tensor.ts";
 * import { relError } from "./gradient_check.ts";
 *
 * assertAlmostEquals(relError(array([1, 2]), array([1, 2.000002])), 5e-7, 1e-12);
 * ```
 */
export function relError(x: Tensor, y: Tensor): number {
  if (x.size !== y.size) {
    throw new RangeError(`relError: x ${formatShape(x.shape)} and y ${formatShape(y.shape)} differ in size`);
  }
  let worst = 0;
  const xd = x.data, yd = y.data;
  for (let i = 0; i < xd.length; i++) {
    const e = Math.abs(xd[i] - yd[i]) / Math.max(1e-8, Math.abs(xd[i]) + Math.abs(yd[i]));
    // A NaN anywhere must fail a check, never hide behind a larger error.
    if (Number.isNaN(e)) return NaN;
    if (e > worst) worst = e;
  }
  return worst;
}
