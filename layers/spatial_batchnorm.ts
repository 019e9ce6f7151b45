/**
 * Spatial batch normalization for convolutional layers: each channel of an
 * (N, C, H, W) input is normalised over all N·H·W of its values, exactly as
 * batch normalization of `x.transpose(0, 2, 3, 1).reshape(-1, C)` would,
 * but without the transposes.
 *
 * @module
 */

import {
  batchnormBackwardAltLayout,
  type BatchnormCache,
  batchnormForwardLayout,
  type BatchnormForwardResult,
  type BatchnormParam,
  checkChannelParams,
  type NormGrads,
} from "./batchnorm.ts";
import { formatShape, type Tensor } from "./tensor.ts";

/** What `spatialBatchnormForward` keeps for `spatialBatchnormBackward`. */
export type SpatialBatchnormCache = BatchnormCache;

/**
 * Forward pass of spatial batch normalization. `bnParam` is the same as for
 * `batchnormForward` (mode, `eps` 1e-5, `momentum` 0.9, running averages of
 * shape (C,) written back in train mode; see there for the conventions).
 *
 * @param x input, shape (N, C, H, W)
 * @param gamma scale, shape (C,)
 * @param beta shift, shape (C,)
 * @param bnParam mode, eps, momentum and the running averages
 * @returns `out` (N, C, H, W) in x's dtype, and the cache (`null` in test mode)
 *
 * @example
 * ```ts
 * import { assertAlmostEquals, assertEquals } from "@std/assert";
 * import { array } from "./tensor.ts";
 * import { spatialBatchnormForward } from "./spatial_batchnorm.ts";
 *
 * const x = array([[[[1, 3]]]]); // (1, 1, 1, 2)
 * const { out } = spatialBatchnormForward(x, array([1]), array([0]), { mode: "train" });
 * assertAlmostEquals(out.data[0], -1, 1e-5);
 * assertAlmostEquals(out.data[1], 1, 1e-5);
 * ```
 */
export function spatialBatchnormForward(
  x: Tensor,
  gamma: Tensor,
  beta: Tensor,
  bnParam: BatchnormParam,
): BatchnormForwardResult {
  const where = "spatialBatchnormForward";
  if (x.ndim !== 4) throw new RangeError(`${where}: x ${formatShape(x.shape)} must be 4-D (N, C, H, W)`);
  const [n, c, h, w] = x.shape;
  checkChannelParams(where, x, gamma, beta, c, "(C,)");
  return batchnormForwardLayout(where, x, gamma, beta, bnParam, { outer: n, channels: c, inner: h * w });
}

/**
 * Backward pass of spatial batch normalization (the closed form of
 * `batchnormBackwardAlt`, with sums over N·H·W per channel).
 *
 * @param dout upstream gradient, shape (N, C, H, W)
 * @param cache from a train-mode `spatialBatchnormForward`
 * @returns `dx` (N, C, H, W), `dgamma` (C,), `dbeta` (C,), all in x's dtype
 */
export function spatialBatchnormBackward(dout: Tensor, cache: SpatialBatchnormCache | null): NormGrads {
  return batchnormBackwardAltLayout("spatialBatchnormBackward", dout, cache);
}
