/**
 * Spatial group normalization (Wu & He, 2018): the C channels of each
 * example are split into G groups of C/G consecutive channels, and each
 * (example, group) block of C/G·H·W values is normalised with its own mean
 * and variance, then scaled and shifted per channel. Like layer norm it
 * keeps no running statistics and does not depend on the batch.
 *
 * @module
 */

import { checkChannelParams, type NormGrads } from "./batchnorm.ts";
import { type LayernormCache, type LayernormForwardResult, rownormBackward, rownormForward } from "./layernorm.ts";
import { formatShape, type Tensor } from "./tensor.ts";

/** Settings of a group-norm layer. */
export interface GroupnormParam {
  /** Added to the variance before the square root, so constant groups give 0, never NaN. Default 1e-5. */
  eps?: number;
}

/** What `spatialGroupnormForward` keeps for `spatialGroupnormBackward`. */
export type SpatialGroupnormCache = LayernormCache;

/**
 * Forward pass of spatial group normalization.
 *
 * @param x input, shape (N, C, H, W)
 * @param gamma scale, shape (1, C, 1, 1)
 * @param beta shift, shape (1, C, 1, 1)
 * @param G number of groups; must divide C
 * @param gnParam `eps` (default 1e-5)
 * @returns `out` (N, C, H, W) in x's dtype, and the cache
 *
 * @example
 * ```ts
 * import { assertAlmostEquals, assertEquals } from "@std/assert";
 * import { array, full, zeros } from "./tensor.ts";
 * import { spatialGroupnormForward } from "./spatial_groupnorm.ts";
 *
 * const x = array([[[[1]], [[3]], [[5]], [[9]]]]); // (1, 4, 1, 1)
 * const { out } = spatialGroupnormForward(x, full([1, 4, 1, 1], 1), zeros([1, 4, 1, 1]), 2);
 * [-1, 1, -1, 1].forEach((v, i) => assertAlmostEquals(out.data[i], v, 1e-5));
 * ```
 */
export function spatialGroupnormForward(
  x: Tensor,
  gamma: Tensor,
  beta: Tensor,
  G: number,
  gnParam: GroupnormParam = {},
): LayernormForwardResult {
  const where = "spatialGroupnormForward";
  if (x.ndim !== 4) throw new RangeError(`${where}: x ${formatShape(x.shape)} must be 4-D (N, C, H, W)`);
  const [n, c, h, w] = x.shape;
  if (!Number.isInteger(G) || G < 1) {
    throw new RangeError(
      `${where}: G = ${G} must be a positive integer number of groups dividing C = ${c} for x ${formatShape(x.shape)}`,
    );
  }
  if (c % G !== 0) {
    throw new RangeError(
      `${where}: G = ${G} does not divide C = ${c} for x ${
        formatShape(x.shape)
      }; the channels must split into G equal groups`,
    );
  }
  checkChannelParams(where, x, gamma, beta, c, "(1, C, 1, 1)", [1, c, 1, 1]);
  return rownormForward(where, x, gamma, beta, gnParam.eps ?? 1e-5, {
    rows: n * G,
    groups: G,
    channelsPerRow: c / G,
    inner: h * w,
  });
}

/**
 * Backward pass of spatial group normalization: the layer-norm gradient per
 * (example, group) block, with `dgamma` and `dbeta` summed per channel.
 *
 * @param dout upstream gradient, shape (N, C, H, W)
 * @param cache from `spatialGroupnormForward`
 * @returns `dx` (N, C, H, W), `dgamma` (1, C, 1, 1), `dbeta` (1, C, 1, 1), all in x's dtype
 */
export function spatialGroupnormBackward(dout: Tensor, cache: SpatialGroupnormCache): NormGrads {
  return rownormBackward("spatialGroupnormBackward", dout, cache);
}
