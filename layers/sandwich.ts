/**
 * "Sandwich" layers, the course's `layer_utils.py`: common chains of layers
 * (affine – ReLU, conv – ReLU – pool, …) as one forward and one backward
 * function each, so that models read as a list of blocks.
 *
 * Every forward returns `{ out, cache }` where the cache holds the caches of
 * the layers inside; every backward returns the gradients of all the
 * block's inputs and parameters.
 *
 * @module
 */

import { affineBackward, affineBackwardInternal, type AffineCache, affineForward } from "./affine.ts";
import {
  batchnormBackwardAlt,
  type BatchnormCache,
  batchnormForward,
  type BatchnormParam,
  type NormGrads,
} from "./batchnorm.ts";
import {
  convBackwardFast,
  convBackwardFastInternal,
  type ConvCache,
  convForwardFast,
  convForwardFastInternal,
  type ConvGrads,
} from "./conv_fast.ts";
import type { ConvParam, PoolParam } from "./conv_params.ts";
import type { Workspace } from "./kernels/scratch.ts";
import { layernormBackward, type LayernormCache, layernormForward, type LayernormParam } from "./layernorm.ts";
import { type MaxPoolCache, maxPoolReluBackward, reluMaxPoolForward } from "./max_pool_fast.ts";
import { reluBackward, type ReluCache, reluForward } from "./relu.ts";
import { spatialBatchnormBackward, spatialBatchnormForward } from "./spatial_batchnorm.ts";
import type { Tensor } from "./tensor.ts";

/** Gradients of a block that ends in an affine or convolutional layer: `{ dx, dw, db }`. */
export type LinearGrads = ConvGrads;

/** Gradients of a block with a normalization layer: `{ dx, dw, db, dgamma, dbeta }`. */
export interface LinearNormGrads extends LinearGrads {
  /** Gradient with respect to the normalization scale, shape of gamma. */
  dgamma: Tensor;
  /** Gradient with respect to the normalization shift, shape of beta. */
  dbeta: Tensor;
}

/** Caches of `affineReluForward`. */
export interface AffineReluCache {
  /** Affine layer. */
  fc: AffineCache;
  /** ReLU. */
  relu: ReluCache;
}

/**
 * Affine layer followed by a ReLU.
 *
 * @param x input, shape (N, d1, …, dk)
 * @param w weights, shape (D, M)
 * @param b biases, shape (M,)
 * @returns `out` (N, M) and the caches
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { array } from "./tensor.ts";
 * import { affineReluForward } from "./sandwich.ts";
 *
 * const { out } = affineReluForward(array([[1, 2]]), array([[1, -1], [1, -1]]), array([0, 0]));
 * assertEquals([...out.data], [3, 0]);
 * ```
 */
export function affineReluForward(x: Tensor, w: Tensor, b: Tensor): { out: Tensor; cache: AffineReluCache } {
  const a = affineForward(x, w, b);
  const r = reluForward(a.out);
  return { out: r.out, cache: { fc: a.cache, relu: r.cache } };
}

/**
 * Backward pass of `affineReluForward`.
 *
 * @param dout upstream gradient, shape (N, M)
 * @returns `dx` (shape of x), `dw` (D, M), `db` (M,)
 */
export function affineReluBackward(dout: Tensor, cache: AffineReluCache): LinearGrads {
  const { dx } = reluBackward(dout, cache.relu);
  return affineBackward(dx, cache.fc);
}

/** Caches of `affineBatchnormReluForward`. */
export interface AffineBatchnormReluCache {
  /** Affine layer. */
  fc: AffineCache;
  /** Batch normalization; `null` in test mode. */
  bn: BatchnormCache | null;
  /** ReLU. */
  relu: ReluCache;
}

/**
 * Affine layer, batch normalization, ReLU. `bnParam` is updated in place
 * (running averages) as `batchnormForward` does.
 *
 * @param x input, shape (N, d1, …, dk)
 * @param w weights, shape (D, M)
 * @param b biases, shape (M,)
 * @param gamma batch-norm scale, shape (M,)
 * @param beta batch-norm shift, shape (M,)
 * @param bnParam batch-norm mode, eps, momentum and running averages
 * @returns `out` (N, M) and the caches
 */
export function affineBatchnormReluForward(
  x: Tensor,
  w: Tensor,
  b: Tensor,
  gamma: Tensor,
  beta: Tensor,
  bnParam: BatchnormParam,
): { out: Tensor; cache: AffineBatchnormReluCache } {
  const a = affineForward(x, w, b);
  const n = batchnormForward(a.out, gamma, beta, bnParam);
  const r = reluForward(n.out);
  return { out: r.out, cache: { fc: a.cache, bn: n.cache, relu: r.cache } };
}

/**
 * Backward pass of `affineBatchnormReluForward` (train mode only), using the
 * closed-form batch-norm backward pass.
 *
 * @param dout upstream gradient, shape (N, M)
 * @returns `dx`, `dw`, `db`, `dgamma` (M,), `dbeta` (M,)
 */
export function affineBatchnormReluBackward(dout: Tensor, cache: AffineBatchnormReluCache): LinearNormGrads {
  const { dx: dr } = reluBackward(dout, cache.relu);
  const { dx: dn, dgamma, dbeta }: NormGrads = batchnormBackwardAlt(dr, cache.bn);
  return { ...affineBackward(dn, cache.fc), dgamma, dbeta };
}

/** Caches of `affineLayernormReluForward`. */
export interface AffineLayernormReluCache {
  /** Affine layer. */
  fc: AffineCache;
  /** Layer normalization. */
  ln: LayernormCache;
  /** ReLU. */
  relu: ReluCache;
}

/**
 * Affine layer, layer normalization, ReLU.
 *
 * @param x input, shape (N, d1, …, dk)
 * @param w weights, shape (D, M)
 * @param b biases, shape (M,)
 * @param gamma layer-norm scale, shape (M,)
 * @param beta layer-norm shift, shape (M,)
 * @param lnParam layer-norm `eps` (default 1e-5)
 * @returns `out` (N, M) and the caches
 */
export function affineLayernormReluForward(
  x: Tensor,
  w: Tensor,
  b: Tensor,
  gamma: Tensor,
  beta: Tensor,
  lnParam: LayernormParam = {},
): { out: Tensor; cache: AffineLayernormReluCache } {
  const a = affineForward(x, w, b);
  const n = layernormForward(a.out, gamma, beta, lnParam);
  const r = reluForward(n.out);
  return { out: r.out, cache: { fc: a.cache, ln: n.cache, relu: r.cache } };
}

/**
 * Backward pass of `affineLayernormReluForward`.
 *
 * @param dout upstream gradient, shape (N, M)
 * @returns `dx`, `dw`, `db`, `dgamma` (M,), `dbeta` (M,)
 */
export function affineLayernormReluBackward(dout: Tensor, cache: AffineLayernormReluCache): LinearNormGrads {
  const { dx: dr } = reluBackward(dout, cache.relu);
  const { dx: dn, dgamma, dbeta } = layernormBackward(dr, cache.ln);
  return { ...affineBackward(dn, cache.fc), dgamma, dbeta };
}

/**
 * Internal: the backward pass of an affine – [batch or layer norm] – ReLU
 * block from any of the three forward passes above (told apart by their
 * caches), computing `dx` only when `wantDx` (a model's first layer needs no
 * gradient of its input), into a tensor of `workspace` when one is given.
 * Same gradients as the public backward passes. Not part of the public API.
 */
export function affineNormReluBackwardInternal(
  dout: Tensor,
  cache: AffineReluCache | AffineBatchnormReluCache | AffineLayernormReluCache,
  wantDx: boolean,
  workspace: Workspace | null = null,
): { dx: Tensor | null; dw: Tensor; db: Tensor; dgamma?: Tensor; dbeta?: Tensor } {
  const { dx: dr } = reluBackward(dout, cache.relu);
  if ("bn" in cache) {
    const { dx: dn, dgamma, dbeta } = batchnormBackwardAlt(dr, cache.bn);
    return { ...affineBackwardInternal(dn, cache.fc, wantDx, workspace), dgamma, dbeta };
  }
  if ("ln" in cache) {
    const { dx: dn, dgamma, dbeta } = layernormBackward(dr, cache.ln);
    return { ...affineBackwardInternal(dn, cache.fc, wantDx, workspace), dgamma, dbeta };
  }
  return affineBackwardInternal(dr, cache.fc, wantDx, workspace);
}

/** Caches of `convReluForward`. */
export interface ConvReluCache {
  /** Convolution. */
  conv: ConvCache;
  /** ReLU. */
  relu: ReluCache;
}

/**
 * Convolution (fast, im2col) followed by a ReLU.
 *
 * @param x input, shape (N, C, H, W)
 * @param w filters, shape (F, C, HH, WW)
 * @param b biases, shape (F,)
 * @param convParam `stride` (default 1), `pad` (default 0)
 * @returns `out` (N, F, H', W') and the caches
 */
export function convReluForward(
  x: Tensor,
  w: Tensor,
  b: Tensor,
  convParam: ConvParam = {},
): { out: Tensor; cache: ConvReluCache } {
  const c = convForwardFast(x, w, b, convParam);
  const r = reluForward(c.out);
  return { out: r.out, cache: { conv: c.cache, relu: r.cache } };
}

/**
 * Backward pass of `convReluForward`.
 *
 * @param dout upstream gradient, shape (N, F, H', W')
 * @returns `dx` (N, C, H, W), `dw` (F, C, HH, WW), `db` (F,)
 */
export function convReluBackward(dout: Tensor, cache: ConvReluCache): LinearGrads {
  const { dx } = reluBackward(dout, cache.relu);
  return convBackwardFast(dx, cache.conv);
}

/** Caches of `convReluPoolForward`. */
export interface ConvReluPoolCache {
  /** Convolution. */
  conv: ConvCache;
  /** ReLU. */
  relu: ReluCache;
  /** Max pooling. */
  pool: MaxPoolCache;
}

/**
 * Convolution (fast), ReLU, max pooling (fast).
 *
 * @param x input, shape (N, C, H, W)
 * @param w filters, shape (F, C, HH, WW)
 * @param b biases, shape (F,)
 * @param convParam `stride` (default 1), `pad` (default 0)
 * @param poolParam `poolHeight`, `poolWidth`, `stride` (defaults 2, 2, 2)
 * @returns `out` (N, F, H'', W'') and the caches
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { zeros } from "./tensor.ts";
 * import { convReluPoolForward } from "./sandwich.ts";
 *
 * const conv = { stride: 1, pad: 1 }, pool = { poolHeight: 2, poolWidth: 2, stride: 2 };
 * const { out } = convReluPoolForward(zeros([2, 3, 16, 16]), zeros([3, 3, 3, 3]), zeros([3]), conv, pool);
 * assertEquals(out.shape, [2, 3, 8, 8]);
 * ```
 */
export function convReluPoolForward(
  x: Tensor,
  w: Tensor,
  b: Tensor,
  convParam: ConvParam = {},
  poolParam: PoolParam = {},
): { out: Tensor; cache: ConvReluPoolCache } {
  return convReluPoolForwardInternal(x, w, b, convParam, poolParam, null);
}

/**
 * Internal: `convReluPoolForward`, its big intermediates (conv, ReLU and
 * pool outputs, argmax) taken from `workspace` when one is given (see
 * `Workspace`: only for a caller that owns the returned caches). Not part of
 * the public API.
 */
export function convReluPoolForwardInternal(
  x: Tensor,
  w: Tensor,
  b: Tensor,
  convParam: ConvParam,
  poolParam: PoolParam,
  workspace: Workspace | null,
): { out: Tensor; cache: ConvReluPoolCache } {
  const c = convForwardFastInternal(x, w, b, convParam, workspace);
  // ReLU and pool in one pass where they can (float32, 2 × 2 windows): the same outputs and caches.
  const { relu: r, pool: p } = reluMaxPoolForward(c.out, poolParam, workspace);
  return { out: p.out, cache: { conv: c.cache, relu: r.cache, pool: p.cache } };
}

/**
 * Backward pass of `convReluPoolForward`.
 *
 * @param dout upstream gradient, shape (N, F, H'', W'')
 * @returns `dx` (N, C, H, W), `dw` (F, C, HH, WW), `db` (F,)
 */
export function convReluPoolBackward(dout: Tensor, cache: ConvReluPoolCache): LinearGrads {
  const { dx, dw, db } = convReluPoolBackwardInternal(dout, cache, true);
  return { dx: dx!, dw, db };
}

/**
 * Internal: `convReluPoolBackward`, with the pool and ReLU backward passes
 * fused, computing `dx` only when `wantDx` (a model's first layer needs no
 * gradient of its input), the ReLU's gradient taken from `workspace` when
 * one is given. Not part of the public API.
 */
export function convReluPoolBackwardInternal(
  dout: Tensor,
  cache: ConvReluPoolCache,
  wantDx: boolean,
  workspace: Workspace | null = null,
): { dx: Tensor | null; dw: Tensor; db: Tensor } {
  const dr = maxPoolReluBackward(dout, cache.pool, cache.relu.x, workspace);
  return convBackwardFastInternal("convBackwardFast", dr, cache.conv, wantDx);
}

/** Caches of `convBatchnormReluForward`. */
export interface ConvBatchnormReluCache {
  /** Convolution. */
  conv: ConvCache;
  /** Spatial batch normalization; `null` in test mode. */
  bn: BatchnormCache | null;
  /** ReLU. */
  relu: ReluCache;
}

/**
 * Convolution (fast), spatial batch normalization, ReLU. `bnParam` is
 * updated in place (running averages).
 *
 * @param x input, shape (N, C, H, W)
 * @param w filters, shape (F, C, HH, WW)
 * @param b biases, shape (F,)
 * @param gamma batch-norm scale, shape (F,)
 * @param beta batch-norm shift, shape (F,)
 * @param convParam `stride` (default 1), `pad` (default 0)
 * @param bnParam batch-norm mode, eps, momentum and running averages
 * @returns `out` (N, F, H', W') and the caches
 */
export function convBatchnormReluForward(
  x: Tensor,
  w: Tensor,
  b: Tensor,
  gamma: Tensor,
  beta: Tensor,
  convParam: ConvParam,
  bnParam: BatchnormParam,
): { out: Tensor; cache: ConvBatchnormReluCache } {
  const c = convForwardFast(x, w, b, convParam);
  const n = spatialBatchnormForward(c.out, gamma, beta, bnParam);
  const r = reluForward(n.out);
  return { out: r.out, cache: { conv: c.cache, bn: n.cache, relu: r.cache } };
}

/**
 * Backward pass of `convBatchnormReluForward` (train mode only).
 *
 * @param dout upstream gradient, shape (N, F, H', W')
 * @returns `dx`, `dw`, `db`, `dgamma` (F,), `dbeta` (F,)
 */
export function convBatchnormReluBackward(dout: Tensor, cache: ConvBatchnormReluCache): LinearNormGrads {
  const { dx: dr } = reluBackward(dout, cache.relu);
  const { dx: dn, dgamma, dbeta } = spatialBatchnormBackward(dr, cache.bn);
  return { ...convBackwardFast(dn, cache.conv), dgamma, dbeta };
}
