/**
 * Inverted dropout: in training, zero each unit with probability `p` and
 * scale the survivors by `1 / (1 − p)`, so that the expected activation is
 * unchanged and test time needs no rescaling.
 *
 * @module
 */

import { globalRandomState, RandomState } from "./random.ts";
import { allocData, assertSameShape, clone, Tensor } from "./tensor.ts";

/** Whether dropout drops units (`"train"`) or passes its input through (`"test"`). */
export type DropoutMode = "train" | "test";

/** Options of {@link dropoutForward}. */
export interface DropoutParam {
  /**
   * Probability of DROPPING (zeroing) each unit, in [0, 1), as PyTorch's
   * `nn.Dropout(p)` and the course's seed notebooks (older course versions
   * used p as the keep probability).
   */
  p: number;
  /** `"train"` drops units; `"test"` is the identity. */
  mode: DropoutMode;
  /**
   * Seed of a fresh `RandomState` for the mask, so that the same seed gives
   * the same mask on every call (what the course's gradient checks rely on;
   * the course reseeds the global `np.random` with it, which draws the same
   * numbers). Takes precedence over `random`.
   */
  seed?: number;
  /** Generator to draw the mask from when no `seed` is given. Default: `globalRandomState`. */
  random?: RandomState;
}

/** What {@link dropoutBackward} needs; produced by {@link dropoutForward}. */
export interface DropoutCache {
  /** The drop probability used. */
  p: number;
  /** The mode of the forward pass. */
  mode: DropoutMode;
  /** Train mode: `0` or `1 / (1 − p)` per element, shape and dtype of `x`. Test mode: `null`. */
  mask: Tensor | null;
}

function validate(p: number, mode: string, where: string): void {
  if (typeof p !== "number" || !(p >= 0 && p < 1)) {
    throw new Error(`${where}: p ${p} is not in [0, 1) (p is the probability of dropping a unit)`);
  }
  if (mode !== "train" && mode !== "test") {
    throw new Error(`${where}: mode ${JSON.stringify(mode)} is neither "train" nor "test"`);
  }
}

/**
 * Inverted dropout forward pass.
 *
 * Train mode: `mask = (u >= p) / (1 − p)` with `u` uniform in [0, 1) drawn
 * as `rand(...x.shape)` (row-major, numpy's legacy stream), `out = x · mask`.
 * Test mode: `out` is a copy of `x`.
 *
 * @param x input, any shape, float32 or float64 (`out` has its dtype)
 * @param param `{ p, mode, seed?, random? }`, see {@link DropoutParam}
 * @returns `out` (shape of `x`) and the cache for {@link dropoutBackward}
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { dropoutForward } from "./dropout.ts";
 * import { full } from "./tensor.ts";
 *
 * const { out } = dropoutForward(full([2, 4], 1), { p: 0.5, mode: "train", seed: 0 });
 * assertEquals([...out.data].every((v) => v === 0 || v === 2), true); // dropped, or kept and scaled by 1/(1 − p)
 * ```
 */
export function dropoutForward(x: Tensor, param: DropoutParam): { out: Tensor; cache: DropoutCache } {
  const { p, mode } = param;
  validate(p, mode, "dropoutForward");
  if (mode === "test") return { out: clone(x), cache: { p, mode, mask: null } };
  const rs = param.seed !== undefined ? new RandomState(param.seed) : (param.random ?? globalRandomState);
  const n = x.size, xd = x.data;
  const mask = allocData(x.dtype, n), out = allocData(x.dtype, n);
  // One float64 division, as numpy's `bool / (1 - p)`; stored in x's dtype.
  const keep = 1 / (1 - p);
  for (let i = 0; i < n; i++) {
    const m = rs.randomSample() >= p ? keep : 0;
    mask[i] = m;
    out[i] = xd[i] * mask[i];
  }
  return { out: new Tensor(out, x.shape), cache: { p, mode, mask: new Tensor(mask, x.shape) } };
}

/**
 * Inverted dropout backward pass: `dx = dout · mask` in train mode; in test
 * mode `dx` is a copy of `dout`.
 *
 * @param dout upstream gradient, shape of the forward input
 * @param cache from {@link dropoutForward}
 * @returns `{ dx }`, shape and dtype of `dout`
 */
export function dropoutBackward(dout: Tensor, cache: DropoutCache): { dx: Tensor } {
  validate(cache.p, cache.mode, "dropoutBackward");
  if (cache.mode === "test") return { dx: clone(dout) };
  const mask = cache.mask;
  if (mask === null) throw new Error("dropoutBackward: train-mode cache has no mask");
  assertSameShape(dout, mask, "dropoutBackward", ["dout", "mask"]);
  const dx = allocData(dout.dtype, dout.size), dd = dout.data, md = mask.data;
  for (let i = 0; i < dx.length; i++) dx[i] = dd[i] * md[i];
  return { dx: new Tensor(dx, dout.shape) };
}
