/**
 * Batch normalization (Ioffe & Szegedy, 2015): each feature is normalised
 * with the mean and variance of the minibatch during training and with
 * running averages of them at test time, then scaled by `gamma` and shifted
 * by `beta`.
 *
 * The same per-channel core serves the spatial variant
 * (`spatial_batchnorm.ts`), which normalises each channel of an
 * (N, C, H, W) input over N·H·W values without transposing it.
 *
 * @module
 */

import { defineTask, parallelFor } from "./kernels/parallel.ts";
import { type Data, formatShape, type Tensor, zeros } from "./tensor.ts";

/**
 * Settings and state of a batch-norm layer. `runningMean` and `runningVar`
 * are written back into this object by every train-mode forward pass, as
 * the course's `bn_param` dictionary is.
 */
export interface BatchnormParam {
  /** `"train"` normalises with minibatch statistics; `"test"` with the running averages. */
  mode: "train" | "test";
  /** Added to the variance before the square root, so constant features give 0, never NaN. Default 1e-5. */
  eps?: number;
  /**
   * Weight of the old running average: `running = momentum·running + (1 − momentum)·sample`.
   * Default 0.9. PyTorch's `momentum` weighs the new sample instead (its 0.1 is this 0.9).
   */
  momentum?: number;
  /** Running average of the per-feature mean, shape (D,); zeros when absent. */
  runningMean?: Tensor;
  /** Running average of the per-feature biased variance, shape (D,); zeros when absent. */
  runningVar?: Tensor;
}

/**
 * How a batch-norm input is laid out: `outer × channels × inner` row-major
 * values, each channel normalised over its `outer·inner` values. (N, D) is
 * `{ outer: N, channels: D, inner: 1 }`; (N, C, H, W) is
 * `{ outer: N, channels: C, inner: H·W }`.
 */
export interface ChannelLayout {
  /** Blocks before the channel axis (N). */
  outer: number;
  /** Channels normalised separately (D or C). */
  channels: number;
  /** Contiguous values per channel and block (1 or H·W). */
  inner: number;
}

/** What a train-mode batch-norm forward pass keeps for the backward pass (the nodes of its graph). */
export interface BatchnormCache {
  /** Shape of the input. */
  shape: readonly number[];
  /** How the input splits into channels. */
  layout: ChannelLayout;
  /** `x − mean`, shape of x, dtype of x. */
  xmu: Data;
  /** Normalised input `(x − mean) / sqrt(var + eps)`, shape of x, dtype of x. */
  xhat: Data;
  /** Per-channel biased minibatch variance. */
  variance: Float64Array;
  /** Per-channel `sqrt(var + eps)`. */
  std: Float64Array;
  /** Per-channel `1 / sqrt(var + eps)`. */
  istd: Float64Array;
  /** Scale, shape (D,). */
  gamma: Tensor;
  /** The eps used. */
  eps: number;
}

/** Output of a batch-norm forward pass. */
export interface BatchnormForwardResult {
  /** `gamma·x̂ + beta`, shape and dtype of x. */
  out: Tensor;
  /** Graph nodes for the backward pass; `null` in test mode, which has no backward pass here. */
  cache: BatchnormCache | null;
}

/** Gradients of a normalization layer. */
export interface NormGrads {
  /** Gradient with respect to x, shape and dtype of x. */
  dx: Tensor;
  /** Gradient with respect to gamma, shape of gamma. */
  dgamma: Tensor;
  /** Gradient with respect to beta, shape of beta. */
  dbeta: Tensor;
}

/**
 * Forward pass of batch normalization on (N, D) input.
 *
 * Train mode normalises each of the D features with the minibatch mean and
 * the BIASED minibatch variance (divided by N), returns
 * `gamma·x̂ + beta`, and replaces `bnParam.runningMean` / `bnParam.runningVar`
 * with `momentum·running + (1 − momentum)·sample` (new tensors; the old ones
 * are left untouched). The running variance therefore averages biased
 * variances — PyTorch averages unbiased ones (N − 1) and its `momentum` 0.1
 * is this `momentum` 0.9. Test mode normalises with the running averages and
 * changes nothing. Absent running averages start as zeros of (D,) in x's
 * dtype, in either mode, as in the course.
 *
 * @param x input, shape (N, D)
 * @param gamma scale, shape (D,)
 * @param beta shift, shape (D,)
 * @param bnParam mode, `eps` (1e-5), `momentum` (0.9) and the running averages
 * @returns `out` (N, D) in x's dtype, and the cache (`null` in test mode)
 *
 * @example
 * ```ts
 * import { assertAlmostEquals, assertEquals } from "@std/assert";
 * import { array } from "./tensor.ts";
 * import { batchnormForward, type BatchnormParam } from "./batchnorm.ts";
 *
 * const bnParam: BatchnormParam = { mode: "train" };
 * const { out } = batchnormForward(array([[1], [3]]), array([1]), array([0]), bnParam);
 * assertAlmostEquals(out.data[0], -1, 1e-5);
 * assertAlmostEquals(out.data[1], 1, 1e-5);
 * assertAlmostEquals(bnParam.runningMean!.data[0], 0.2); // 0.9·0 + 0.1·2
 * ```
 */
export function batchnormForward(
  x: Tensor,
  gamma: Tensor,
  beta: Tensor,
  bnParam: BatchnormParam,
): BatchnormForwardResult {
  const where = "batchnormForward";
  if (x.ndim !== 2) throw new RangeError(`${where}: x ${formatShape(x.shape)} must be 2-D (N, D)`);
  const [n, d] = x.shape;
  checkChannelParams(where, x, gamma, beta, d, "(D,)");
  return batchnormForwardLayout(where, x, gamma, beta, bnParam, { outer: n, channels: d, inner: 1 });
}

/**
 * Backward pass of batch normalization, going node by node back through the
 * forward computation graph (mean, centring, variance, square root, inverse,
 * product, scale and shift), as the course's first version does. See
 * `batchnormBackwardAlt` for the same gradients in closed form.
 *
 * @param dout upstream gradient, shape (N, D)
 * @param cache from a train-mode `batchnormForward`
 * @returns `dx` (N, D), `dgamma` (D,), `dbeta` (D,), all in x's dtype
 */
export function batchnormBackward(dout: Tensor, cache: BatchnormCache | null): NormGrads {
  const c = checkBackward("batchnormBackward", dout, cache);
  const { outer, channels: nc, inner } = c.layout;
  const m = outer * inner;
  const { xmu, xhat, variance, std, istd, gamma, eps } = c;
  const g = dout.data, gam = gamma.data;
  const dbeta = zeros([nc], gamma.dtype), dgamma = zeros([nc], gamma.dtype);
  const dx = zeros(c.shape, dout.dtype);
  const dxd = dx.data;

  // out = gammax + beta; gammax = gamma·xhat.
  const sumDout = new Float64Array(nc), sumDoutXhat = new Float64Array(nc);
  for (let o = 0, k = 0; o < outer; o++) {
    for (let ch = 0; ch < nc; ch++) {
      for (const end = k + inner; k < end; k++) {
        sumDout[ch] += g[k];
        sumDoutXhat[ch] += g[k] * xhat[k];
      }
    }
  }
  // xhat = xmu·ivar: the xmu branch and the ivar branch.
  const dxhat = new Float64Array(xhat.length);
  const divar = new Float64Array(nc);
  for (let o = 0, k = 0; o < outer; o++) {
    for (let ch = 0; ch < nc; ch++) {
      for (const end = k + inner; k < end; k++) {
        dxhat[k] = g[k] * gam[ch];
        divar[ch] += dxhat[k] * xmu[k];
      }
    }
  }
  const dxmu1 = new Float64Array(xhat.length);
  for (let o = 0, k = 0; o < outer; o++) {
    for (let ch = 0; ch < nc; ch++) {
      for (const end = k + inner; k < end; k++) dxmu1[k] = dxhat[k] * istd[ch];
    }
  }
  // ivar = 1 / sqrtvar; sqrtvar = sqrt(var + eps); var = mean(sq); sq = xmu².
  const dsq = new Float64Array(nc);
  for (let ch = 0; ch < nc; ch++) {
    const dsqrtvar = -divar[ch] / (std[ch] * std[ch]);
    const dvar = 0.5 / Math.sqrt(variance[ch] + eps) * dsqrtvar;
    dsq[ch] = dvar / m;
  }
  // xmu = x − mu: sum both xmu branches, then the mu branch.
  const dx1 = new Float64Array(xhat.length);
  const dmu = new Float64Array(nc);
  for (let o = 0, k = 0; o < outer; o++) {
    for (let ch = 0; ch < nc; ch++) {
      for (const end = k + inner; k < end; k++) {
        dx1[k] = dxmu1[k] + 2 * xmu[k] * dsq[ch];
        dmu[ch] -= dx1[k];
      }
    }
  }
  // mu = mean(x).
  for (let o = 0, k = 0; o < outer; o++) {
    for (let ch = 0; ch < nc; ch++) {
      for (const end = k + inner; k < end; k++) dxd[k] = dx1[k] + dmu[ch] / m;
    }
  }

  dgamma.data.set(sumDoutXhat);
  dbeta.data.set(sumDout);
  return { dx, dgamma, dbeta };
}

/**
 * Backward pass of batch normalization in closed form:
 * `dx = (1/N)·gamma·istd·(N·dout − Σdout − x̂·Σ(dout·x̂))` per feature, with
 * `istd = 1 / sqrt(var + eps)` and sums over the batch. Derived on paper from
 * the graph `batchnormBackward` walks; it gives the same gradients, faster.
 *
 * @param dout upstream gradient, shape (N, D)
 * @param cache from a train-mode `batchnormForward`
 * @returns `dx` (N, D), `dgamma` (D,), `dbeta` (D,), all in x's dtype
 */
export function batchnormBackwardAlt(dout: Tensor, cache: BatchnormCache | null): NormGrads {
  return batchnormBackwardAltLayout("batchnormBackwardAlt", dout, cache);
}

/**
 * Internal: the batch-norm forward pass on any `ChannelLayout`, shared by
 * `batchnormForward` and `spatialBatchnormForward` (which validate shapes
 * first). Not part of the public API.
 */
export function batchnormForwardLayout(
  where: string,
  x: Tensor,
  gamma: Tensor,
  beta: Tensor,
  bnParam: BatchnormParam,
  layout: ChannelLayout,
): BatchnormForwardResult {
  const mode = bnParam.mode as string;
  if (mode !== "train" && mode !== "test") {
    throw new Error(`${where}: invalid batchnorm mode "${mode}"; bnParam.mode must be "train" or "test"`);
  }
  const eps = bnParam.eps ?? 1e-5;
  const momentum = bnParam.momentum ?? 0.9;
  checkEps(where, eps);
  if (!(momentum >= 0 && momentum <= 1)) {
    throw new RangeError(`${where}: momentum ${momentum} must lie in [0, 1] (the weight of the old running average)`);
  }
  const { outer, channels: nc, inner } = layout;
  const runningMean = bnParam.runningMean ?? zeros([nc], x.dtype);
  const runningVar = bnParam.runningVar ?? zeros([nc], x.dtype);
  checkRunning(where, x, runningMean, "runningMean", nc);
  checkRunning(where, x, runningVar, "runningVar", nc);

  const out = zeros(x.shape, x.dtype);
  const src = x.data, gam = gamma.data, bet = beta.data;
  if (mode === "test") {
    const rm = runningMean.data, rv = runningVar.data;
    const scale = new Float64Array(nc), shift = new Float64Array(nc);
    for (let ch = 0; ch < nc; ch++) {
      scale[ch] = gam[ch] / Math.sqrt(rv[ch] + eps);
      shift[ch] = bet[ch] - rm[ch] * scale[ch];
    }
    parallelFor(BN_TEST, nc, [src, out.data, scale, shift], [outer, nc, inner], channelOptions(x.size, nc));
    bnParam.runningMean = runningMean;
    bnParam.runningVar = runningVar;
    return { out, cache: null };
  }

  const m = outer * inner;
  if (m === 0) {
    throw new RangeError(
      `${where}: x ${formatShape(x.shape)} has no values per channel; train mode needs at least one to take statistics`,
    );
  }
  const mean = new Float64Array(nc), variance = new Float64Array(nc);
  const std = new Float64Array(nc), istd = new Float64Array(nc);
  const xmu = zeros(x.shape, x.dtype).data;
  const xhat = zeros(x.shape, x.dtype).data;
  const arrays = [src, xmu, xhat, out.data, gam, bet, mean, variance, std, istd];
  parallelFor(BN_TRAIN, nc, arrays, [outer, nc, inner, eps], channelOptions(x.size, nc));

  const newMean = zeros([nc], runningMean.dtype), newVar = zeros([nc], runningVar.dtype);
  for (let ch = 0; ch < nc; ch++) {
    newMean.data[ch] = momentum * runningMean.data[ch] + (1 - momentum) * mean[ch];
    newVar.data[ch] = momentum * runningVar.data[ch] + (1 - momentum) * variance[ch];
  }
  bnParam.runningMean = newMean;
  bnParam.runningVar = newVar;
  return { out, cache: { shape: x.shape, layout, xmu, xhat, variance, std, istd, gamma, eps } };
}

/**
 * Internal: the closed-form batch-norm backward pass on any
 * `ChannelLayout`, shared by `batchnormBackwardAlt` and
 * `spatialBatchnormBackward`. Not part of the public API.
 */
export function batchnormBackwardAltLayout(where: string, dout: Tensor, cache: BatchnormCache | null): NormGrads {
  const c = checkBackward(where, dout, cache);
  const { outer, channels: nc, inner } = c.layout;
  const { xhat, istd, gamma } = c;
  const dbeta = zeros([nc], gamma.dtype), dgamma = zeros([nc], gamma.dtype);
  const sumDout = new Float64Array(nc), sumDoutXhat = new Float64Array(nc);
  const dx = zeros(c.shape, dout.dtype);
  const arrays = [dout.data, xhat, dx.data, gamma.data, istd, sumDout, sumDoutXhat];
  parallelFor(BN_BACKWARD, nc, arrays, [outer, nc, inner], channelOptions(dout.size, nc));
  dgamma.data.set(sumDoutXhat);
  dbeta.data.set(sumDout);
  return { dx, dgamma, dbeta };
}

/** Work below this many values runs on the calling thread alone. */
const PARALLEL_MIN = 1 << 17;

/**
 * Channels are the items of the batch-norm jobs: each channel's statistics
 * add its values in the order one thread over the whole input would (blocks
 * of the outer axis in order), so any split of the channels gives the same
 * bits.
 */
function channelOptions(size: number, nc: number): { grain: number; serial: boolean } {
  return { grain: Math.max(1, Math.floor(nc * (1 << 14) / Math.max(1, size))), serial: size < PARALLEL_MIN };
}

/** Channels `begin … end − 1` of the train-mode forward pass: statistics, then `xmu`, `x̂` and the output. */
const BN_TRAIN = defineTask(import.meta.url, "batchnorm.forwardTrain", (arrays, args, begin, end) => {
  const [src, xmu, xhat, od, gam, bet] = arrays as Data[];
  const [mean, variance, std, istd] = arrays.slice(6) as Float64Array[];
  const outer = args[0], nc = args[1], inner = args[2], eps = args[3];
  const m = outer * inner, step = nc * inner;
  for (let ch = begin; ch < end; ch++) {
    // Corrected two-pass algorithm (Chan, Golub & LeVeque): a first mean, then the squared deviations
    // from it together with their plain sum r, which is the rounding error of that mean times m; it
    // refines the mean and the variance. Accurate when |mean| ≫ std, where a one-pass Σx² formula
    // cancels catastrophically. Each block of `inner` values is summed first, then the blocks in order.
    let sum = 0;
    for (let o = 0, k0 = ch * inner; o < outer; o++, k0 += step) {
      if (inner === 1) {
        sum += src[k0];
        continue;
      }
      let s = 0;
      for (let k = k0, e = k0 + inner; k < e; k++) s += src[k];
      sum += s;
    }
    const mu0 = sum / m;
    let resid = 0, sq = 0;
    for (let o = 0, k0 = ch * inner; o < outer; o++, k0 += step) {
      if (inner === 1) {
        const v = src[k0] - mu0;
        resid += v;
        sq += v * v;
        continue;
      }
      let r = 0, s = 0;
      for (let k = k0, e = k0 + inner; k < e; k++) {
        const v = src[k] - mu0;
        r += v;
        s += v * v;
      }
      resid += r;
      sq += s;
    }
    const mu = mu0 + resid / m;
    const va = Math.max(0, sq - (resid * resid) / m) / m;
    const sd = Math.sqrt(va + eps), is = 1 / sd;
    mean[ch] = mu;
    variance[ch] = va;
    std[ch] = sd;
    istd[ch] = is;
    const gc = gam[ch], bc = bet[ch];
    for (let o = 0, k0 = ch * inner; o < outer; o++, k0 += step) {
      for (let k = k0, e = k0 + inner; k < e; k++) {
        const v = src[k] - mu;
        const h = v * is;
        xmu[k] = v;
        xhat[k] = h;
        od[k] = gc * h + bc;
      }
    }
  }
});

/** Channels `begin … end − 1` of the test-mode forward pass: `out = x·scale + shift`. */
const BN_TEST = defineTask(import.meta.url, "batchnorm.forwardTest", (arrays, args, begin, end) => {
  const [src, od] = arrays as Data[];
  const [scale, shift] = arrays.slice(2) as Float64Array[];
  const outer = args[0], nc = args[1], inner = args[2];
  const step = nc * inner;
  for (let ch = begin; ch < end; ch++) {
    const sc = scale[ch], sh = shift[ch];
    for (let o = 0, k0 = ch * inner; o < outer; o++, k0 += step) {
      for (let k = k0, e = k0 + inner; k < e; k++) od[k] = src[k] * sc + sh;
    }
  }
});

/** Channels `begin … end − 1` of the closed-form backward pass: the channel's sums, then its dx. */
const BN_BACKWARD = defineTask(import.meta.url, "batchnorm.backwardAlt", (arrays, args, begin, end) => {
  const [g, xhat, dxd, gam] = arrays as Data[];
  const [istd, sumDout, sumDoutXhat] = arrays.slice(4) as Float64Array[];
  const outer = args[0], nc = args[1], inner = args[2];
  const m = outer * inner, step = nc * inner;
  for (let ch = begin; ch < end; ch++) {
    let sdAll = 0, sdxAll = 0;
    for (let o = 0, k0 = ch * inner; o < outer; o++, k0 += step) {
      if (inner === 1) {
        sdAll += g[k0];
        sdxAll += g[k0] * xhat[k0];
        continue;
      }
      let sd = 0, sdx = 0;
      for (let k = k0, e = k0 + inner; k < e; k++) {
        sd += g[k];
        sdx += g[k] * xhat[k];
      }
      sdAll += sd;
      sdxAll += sdx;
    }
    sumDout[ch] = sdAll;
    sumDoutXhat[ch] = sdxAll;
    const sc = gam[ch] * istd[ch], md = sdAll / m, mdx = sdxAll / m;
    for (let o = 0, k0 = ch * inner; o < outer; o++, k0 += step) {
      for (let k = k0, e = k0 + inner; k < e; k++) dxd[k] = sc * (g[k] - md - xhat[k] * mdx);
    }
  }
});

/** Internal: checks that gamma and beta have `shape` (channel count `nc`) and share x's dtype. */
export function checkChannelParams(
  where: string,
  x: Tensor,
  gamma: Tensor,
  beta: Tensor,
  nc: number,
  rule: string,
  shape: readonly number[] = [nc],
): void {
  for (const [name, t] of [["gamma", gamma], ["beta", beta]] as const) {
    if (t.ndim !== shape.length || t.shape.some((v, i) => v !== shape[i])) {
      throw new RangeError(
        `${where}: ${name} ${formatShape(t.shape)} must have shape ${rule} = ${formatShape(shape)} for x ${
          formatShape(x.shape)
        }`,
      );
    }
  }
  if (gamma.dtype !== x.dtype || beta.dtype !== x.dtype) {
    throw new TypeError(
      `${where}: x is ${x.dtype}, gamma is ${gamma.dtype}, beta is ${beta.dtype}; they must share one dtype`,
    );
  }
}

/** Internal: eps must be a positive finite number, or constant inputs would divide 0 by 0. */
export function checkEps(where: string, eps: number): void {
  if (!(eps > 0 && Number.isFinite(eps))) {
    throw new RangeError(`${where}: eps ${eps} must be a positive finite number`);
  }
}

function checkRunning(where: string, x: Tensor, t: Tensor, name: string, nc: number): void {
  if (t.ndim !== 1 || t.shape[0] !== nc) {
    throw new RangeError(
      `${where}: bnParam.${name} ${formatShape(t.shape)} must have shape (${nc},), one value per channel of x ${
        formatShape(x.shape)
      }`,
    );
  }
  if (t.dtype !== x.dtype) {
    throw new TypeError(`${where}: bnParam.${name} is ${t.dtype} but x is ${x.dtype}; they must share one dtype`);
  }
}

function checkBackward(where: string, dout: Tensor, cache: BatchnormCache | null): BatchnormCache {
  if (cache === null) {
    throw new Error(`${where}: the cache is null; only a train-mode forward pass can be differentiated`);
  }
  const shape = cache.shape;
  if (dout.ndim !== shape.length || dout.shape.some((v, i) => v !== shape[i])) {
    throw new RangeError(
      `${where}: dout ${formatShape(dout.shape)} and x ${formatShape(shape)} must have the same shape`,
    );
  }
  if (dout.dtype !== cache.gamma.dtype) {
    throw new TypeError(`${where}: dout is ${dout.dtype} but x is ${cache.gamma.dtype}; they must share one dtype`);
  }
  return cache;
}
