/**
 * Layer normalization (Ba, Kiros & Hinton, 2016): each example is normalised
 * over its own features, so train and test time compute the same thing and
 * no running statistics are kept.
 *
 * The same per-row core serves spatial group normalization
 * (`spatial_groupnorm.ts`), where each row is one (example, group) block of
 * C/G channels × H·W values.
 *
 * @module
 */

import { checkChannelParams, checkEps, type NormGrads } from "./batchnorm.ts";
import { type Data, formatShape, type Tensor, zeros } from "./tensor.ts";

/** Settings of a layer-norm layer. */
export interface LayernormParam {
  /** Added to the variance before the square root, so constant rows give 0, never NaN. Default 1e-5. */
  eps?: number;
}

/**
 * How a row-normalised input is laid out: `rows` rows, each holding
 * `channelsPerRow × inner` row-major values normalised together; row `r`
 * scales its channel `j` by `gamma[(r mod groups)·channelsPerRow + j]`.
 * (N, D) layer norm is `{ rows: N, groups: 1, channelsPerRow: D, inner: 1 }`;
 * (N, C, H, W) group norm with G groups is
 * `{ rows: N·G, groups: G, channelsPerRow: C/G, inner: H·W }`.
 */
export interface RowLayout {
  /** Rows normalised separately. */
  rows: number;
  /** Consecutive rows that make up one example (each uses its own slice of gamma). */
  groups: number;
  /** Channels in one row. */
  channelsPerRow: number;
  /** Contiguous values per channel in a row. */
  inner: number;
}

/** What a layer-norm forward pass keeps for the backward pass. */
export interface LayernormCache {
  /** Shape of the input. */
  shape: readonly number[];
  /** How the input splits into rows and channels. */
  layout: RowLayout;
  /** Normalised input `(x − mean) / sqrt(var + eps)` per row, shape of x, dtype of x. */
  xhat: Data;
  /** Per-row `1 / sqrt(var + eps)`. */
  istd: Float64Array;
  /** Scale (shape (D,) for layer norm, (1, C, 1, 1) for group norm). */
  gamma: Tensor;
}

/** Output of a layer-norm forward pass. */
export interface LayernormForwardResult {
  /** `gamma·x̂ + beta`, shape and dtype of x. */
  out: Tensor;
  /** Kept for the backward pass. */
  cache: LayernormCache;
}

/**
 * Forward pass of layer normalization on (N, D) input: each row is
 * normalised with its own mean and biased variance over its D features,
 * then scaled by `gamma` and shifted by `beta` per feature. The same in
 * train and test mode.
 *
 * @param x input, shape (N, D)
 * @param gamma scale, shape (D,)
 * @param beta shift, shape (D,)
 * @param lnParam `eps` (default 1e-5)
 * @returns `out` (N, D) in x's dtype, and the cache
 *
 * @example
 * ```ts
 * import { assertAlmostEquals, assertEquals } from "@std/assert";
 * import { array } from "./tensor.ts";
 * import { layernormForward } from "./layernorm.ts";
 *
 * const { out } = layernormForward(array([[1, 3]]), array([1, 1]), array([0, 0]));
 * assertAlmostEquals(out.data[0], -1, 1e-5);
 * assertAlmostEquals(out.data[1], 1, 1e-5);
 * ```
 */
export function layernormForward(
  x: Tensor,
  gamma: Tensor,
  beta: Tensor,
  lnParam: LayernormParam = {},
): LayernormForwardResult {
  const where = "layernormForward";
  if (x.ndim !== 2) throw new RangeError(`${where}: x ${formatShape(x.shape)} must be 2-D (N, D)`);
  const [n, d] = x.shape;
  checkChannelParams(where, x, gamma, beta, d, "(D,)");
  return rownormForward(where, x, gamma, beta, lnParam.eps ?? 1e-5, {
    rows: n,
    groups: 1,
    channelsPerRow: d,
    inner: 1,
  });
}

/**
 * Backward pass of layer normalization. Per row, with `x̂` the normalised
 * input, `g = dout·gamma` and D features:
 * `dx = istd/D·(D·g − Σg − x̂·Σ(g·x̂))`; `dgamma` and `dbeta` sum over rows.
 *
 * @param dout upstream gradient, shape (N, D)
 * @param cache from `layernormForward`
 * @returns `dx` (N, D), `dgamma` (D,), `dbeta` (D,), all in x's dtype
 */
export function layernormBackward(dout: Tensor, cache: LayernormCache): NormGrads {
  return rownormBackward("layernormBackward", dout, cache);
}

/**
 * Internal: the normalise-each-row forward pass on any `RowLayout`, shared
 * by `layernormForward` and `spatialGroupnormForward` (which validate shapes
 * first). Not part of the public API.
 */
export function rownormForward(
  where: string,
  x: Tensor,
  gamma: Tensor,
  beta: Tensor,
  eps: number,
  layout: RowLayout,
): LayernormForwardResult {
  checkEps(where, eps);
  const { rows, groups, channelsPerRow: cpr, inner } = layout;
  const len = cpr * inner;
  const out = zeros(x.shape, x.dtype);
  const xhat = zeros(x.shape, x.dtype).data;
  const istd = new Float64Array(rows);
  const od = out.data, src = x.data, gam = gamma.data, bet = beta.data;
  for (let r = 0; r < rows; r++) {
    const start = r * len, end = start + len;
    // Corrected two-pass algorithm (Chan, Golub & LeVeque): a first mean, then the squared deviations
    // from it together with their plain sum r, which is the rounding error of that mean times len; it
    // refines the mean and the variance. Accurate when |mean| ≫ std.
    let mean = 0;
    for (let k = start; k < end; k++) mean += src[k];
    mean /= len;
    let resid = 0, sq = 0;
    for (let k = start; k < end; k++) {
      const v = src[k] - mean;
      resid += v;
      sq += v * v;
    }
    mean += resid / len;
    const variance = Math.max(0, sq - (resid * resid) / len) / len;
    const is = 1 / Math.sqrt(variance + eps);
    istd[r] = is;
    const ch0 = (r % groups) * cpr;
    for (let j = 0, k = start; j < cpr; j++) {
      const gj = gam[ch0 + j], bj = bet[ch0 + j];
      for (const stop = k + inner; k < stop; k++) {
        const h = (src[k] - mean) * is;
        xhat[k] = h;
        od[k] = gj * h + bj;
      }
    }
  }
  return { out, cache: { shape: x.shape, layout, xhat, istd, gamma } };
}

/**
 * Internal: the closed-form backward pass on any `RowLayout`, shared by
 * `layernormBackward` and `spatialGroupnormBackward`. Not part of the public
 * API.
 */
export function rownormBackward(where: string, dout: Tensor, cache: LayernormCache): NormGrads {
  const { shape, layout, xhat, istd, gamma } = cache;
  if (dout.ndim !== shape.length || dout.shape.some((v, i) => v !== shape[i])) {
    throw new RangeError(
      `${where}: dout ${formatShape(dout.shape)} and x ${formatShape(shape)} must have the same shape`,
    );
  }
  if (dout.dtype !== gamma.dtype) {
    throw new TypeError(`${where}: dout is ${dout.dtype} but x is ${gamma.dtype}; they must share one dtype`);
  }
  const { rows, groups, channelsPerRow: cpr, inner } = layout;
  const len = cpr * inner;
  const dx = zeros(shape, dout.dtype);
  const dgamma = zeros(gamma.shape, gamma.dtype), dbeta = zeros(gamma.shape, gamma.dtype);
  const dxd = dx.data, g = dout.data, gam = gamma.data;
  // Accumulate in float64 whatever the dtype; copied into dgamma/dbeta at the end.
  const dg = new Float64Array(gamma.size), db = new Float64Array(gamma.size);
  for (let r = 0; r < rows; r++) {
    const start = r * len;
    const ch0 = (r % groups) * cpr;
    // Σg and Σ(g·x̂) over the row, with g = dout·gamma the gradient at x̂.
    let sumG = 0, sumGXhat = 0;
    for (let j = 0, k = start; j < cpr; j++) {
      const gj = gam[ch0 + j];
      let sd = 0, sdx = 0;
      for (const stop = k + inner; k < stop; k++) {
        sd += g[k];
        sdx += g[k] * xhat[k];
      }
      db[ch0 + j] += sd;
      dg[ch0 + j] += sdx;
      sumG += gj * sd;
      sumGXhat += gj * sdx;
    }
    const is = istd[r], meanG = sumG / len, meanGXhat = sumGXhat / len;
    for (let j = 0, k = start; j < cpr; j++) {
      const gj = gam[ch0 + j];
      for (const stop = k + inner; k < stop; k++) dxd[k] = is * (gj * g[k] - meanG - xhat[k] * meanGXhat);
    }
  }
  dgamma.data.set(dg);
  dbeta.data.set(db);
  return { dx, dgamma, dbeta };
}
