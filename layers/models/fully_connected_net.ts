/**
 * The course's fully connected network of any depth (`fc_net.py`), with
 * optional batch or layer normalization and dropout.
 *
 * @module
 */

import { affineBackward, affineForward } from "../affine.ts";
import type { BatchnormParam } from "../batchnorm.ts";
import { dropoutBackward, type DropoutCache, dropoutForward, type DropoutParam } from "../dropout.ts";
import { globalRandomState, RandomState } from "../random.ts";
import {
  type AffineBatchnormReluCache,
  affineBatchnormReluForward,
  type AffineLayernormReluCache,
  affineLayernormReluForward,
  affineNormReluBackwardInternal,
  type AffineReluCache,
  affineReluForward,
} from "../sandwich.ts";
import { softmaxLoss } from "../softmax_loss.ts";
import { astype, clone, type DType, formatShape, full, scale, type Tensor, zeros } from "../tensor.ts";
import type { Labels } from "../labels.ts";
import { addL2, checkPositiveInteger } from "./_model_helpers.ts";
import type { LossAndGrads, Model } from "./model.ts";

/** Normalization after each hidden affine layer. */
export type Normalization = "batchnorm" | "layernorm" | null;

/** Options of `FullyConnectedNet`; defaults as the course's. */
export interface FullyConnectedNetOptions {
  /** Size of one input (inputs of any shape (N, d1, …) are flattened). Default 3·32·32. */
  inputDim?: number;
  /** Classes scored. Default 10. */
  numClasses?: number;
  /**
   * Probability of DROPPING each hidden unit, in [0, 1); 0 (the default)
   * means no dropout layers. The course's `dropout_keep_ratio` is `1 − dropout`.
   */
  dropout?: number;
  /** `"batchnorm"`, `"layernorm"` or `null` (the default) for none. */
  normalization?: Normalization;
  /** L2 regularization strength: the loss adds `0.5·reg·ΣW²` over the weights (not biases, gammas, betas). Default 0. */
  reg?: number;
  /** Standard deviation of the initial weights. Default 1e-2. */
  weightScale?: number;
  /** Dtype of the parameters and of the computation. Default `"float32"`. */
  dtype?: DType;
  /**
   * Seeds a fresh `RandomState` for the initial weights (unless `random` is
   * given) and, as the course's `seed`, fixes the dropout masks: every
   * dropout layer reseeds with it on every pass, so repeated passes drop the
   * same units (what gradient checks need).
   */
  seed?: number;
  /** Generator for the initial weights and, without `seed`, the dropout masks. Default: from `seed`, else the global one. */
  random?: RandomState;
}

type HiddenCache = AffineReluCache | AffineBatchnormReluCache | AffineLayernormReluCache;

/**
 * A fully connected network with L = hiddenDims.length + 1 layers:
 * `{affine – [batch/layer norm] – ReLU – [dropout]} × (L − 1) – affine – softmax`.
 *
 * Parameters use the course's names: `W1`, `b1`, `gamma1`, `beta1`, …, `WL`,
 * `bL`. Each `Wi` is `weightScale·randn(in, out)`, drawn in the order W1, W2, …;
 * biases and betas are zeros, gammas ones — so with `{ seed: s }` (or the global
 * generator after `globalRandomState.seed(s)`) the initial weights equal
 * numpy's after `np.random.seed(s)`.
 *
 * `loss(X)` runs in test mode (batch norm uses its running averages, no
 * dropout) and returns scores; `loss(X, y)` runs in train mode and updates
 * the batch-norm running averages, which `state()` exposes as `runningMean1`,
 * `runningVar1`, ….
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { FullyConnectedNet } from "./fully_connected_net.ts";
 * import { RandomState } from "../random.ts";
 *
 * const model = new FullyConnectedNet([20, 30], { inputDim: 15, normalization: "batchnorm", dtype: "float64", seed: 231 });
 * const X = new RandomState(0).randn(4, 15);
 * const { loss, grads } = model.loss(X, new Int32Array([0, 1, 2, 3]));
 * assertEquals([Number.isFinite(loss), grads.W1.shape], [true, [15, 20]]);
 * assertEquals(Object.keys(model.state()), ["runningMean1", "runningVar1", "runningMean2", "runningVar2"]);
 * ```
 */
export class FullyConnectedNet implements Model {
  /** Weights, biases and normalization scales and shifts by the course's names. */
  params: Record<string, Tensor>;
  /** Number of affine layers, hiddenDims.length + 1. */
  readonly numLayers: number;
  /** Normalization after each hidden affine layer. */
  readonly normalization: Normalization;
  /** Drop probability of the dropout layers (0: none). */
  readonly dropout: number;
  /** L2 regularization strength. */
  readonly reg: number;
  /** Dtype of the parameters; inputs of another dtype are converted. */
  readonly dtype: DType;
  /** Settings and running averages of each batch-norm layer (empty without batch norm). */
  readonly bnParams: BatchnormParam[];
  /** Settings shared by every dropout layer (`null` without dropout). */
  readonly dropoutParam: DropoutParam | null;
  readonly #inputDim: number;

  /**
   * Builds the network and draws its initial weights.
   *
   * @param hiddenDims the size of each hidden layer, e.g. `[100, 100]`
   * @param options see {@link FullyConnectedNetOptions}
   */
  constructor(hiddenDims: readonly number[], options: FullyConnectedNetOptions = {}) {
    const where = "FullyConnectedNet";
    const {
      inputDim = 3 * 32 * 32,
      numClasses = 10,
      dropout = 0,
      normalization = null,
      reg = 0,
      weightScale = 1e-2,
      dtype = "float32",
      seed,
    } = options;
    checkPositiveInteger(where, "inputDim", inputDim);
    checkPositiveInteger(where, "numClasses", numClasses);
    hiddenDims.forEach((d, i) => checkPositiveInteger(where, `hiddenDims[${i}]`, d));
    if (normalization !== null && normalization !== "batchnorm" && normalization !== "layernorm") {
      throw new Error(`${where}: normalization "${normalization}" must be "batchnorm", "layernorm" or null`);
    }
    if (!(dropout >= 0 && dropout < 1)) {
      throw new RangeError(`${where}: dropout ${dropout} (the probability of dropping a unit) must lie in [0, 1)`);
    }
    if (!(weightScale >= 0) || !(reg >= 0)) {
      throw new RangeError(`${where}: weightScale ${weightScale} and reg ${reg} must be ≥ 0`);
    }
    const random = options.random ?? (seed === undefined ? globalRandomState : new RandomState(seed));
    this.numLayers = hiddenDims.length + 1;
    this.normalization = normalization;
    this.dropout = dropout;
    this.reg = reg;
    this.dtype = dtype;
    this.#inputDim = inputDim;

    const dims = [inputDim, ...hiddenDims, numClasses];
    this.params = {};
    for (let i = 1; i <= this.numLayers; i++) {
      this.params[`W${i}`] = astype(scale(random.randn(dims[i - 1], dims[i]), weightScale), dtype);
      this.params[`b${i}`] = zeros([dims[i]], dtype);
      if (normalization !== null && i < this.numLayers) {
        this.params[`gamma${i}`] = full([dims[i]], 1, dtype);
        this.params[`beta${i}`] = zeros([dims[i]], dtype);
      }
    }
    // As the course: with a seed every dropout layer reseeds on every pass; without, masks come from `random`.
    this.dropoutParam = dropout > 0
      ? (seed === undefined ? { mode: "train", p: dropout, random } : { mode: "train", p: dropout, seed })
      : null;
    this.bnParams = normalization === "batchnorm"
      ? hiddenDims.map((d) => ({ mode: "train", runningMean: zeros([d], dtype), runningVar: zeros([d], dtype) }))
      : [];
  }

  /** Class scores (N, numClasses) for X (N, d1, …) in test mode. */
  loss(X: Tensor): Tensor;
  /** Softmax loss plus `0.5·reg·ΣW²`, and the gradient of every parameter, in train mode. */
  loss(X: Tensor, y: Labels): LossAndGrads;
  loss(X: Tensor, y?: Labels): Tensor | LossAndGrads {
    const n = X.shape[0];
    if (X.ndim < 2 || (n > 0 ? X.size / n : 0) !== this.#inputDim) {
      throw new RangeError(
        `FullyConnectedNet.loss: X ${formatShape(X.shape)} must be (N, …) with ${this.#inputDim} values per example`,
      );
    }
    if (X.dtype !== this.dtype) X = astype(X, this.dtype);
    const mode = y === undefined ? "test" : "train";
    for (const p of this.bnParams) p.mode = mode;
    if (this.dropoutParam !== null) this.dropoutParam.mode = mode;

    const p = this.params;
    const L = this.numLayers;
    const hidden: HiddenCache[] = [];
    const drops: DropoutCache[] = [];
    let h = X;
    for (let i = 1; i < L; i++) {
      const [W, b, gamma, beta] = [p[`W${i}`], p[`b${i}`], p[`gamma${i}`], p[`beta${i}`]];
      const r = this.normalization === "batchnorm"
        ? affineBatchnormReluForward(h, W, b, gamma, beta, this.bnParams[i - 1])
        : this.normalization === "layernorm"
        ? affineLayernormReluForward(h, W, b, gamma, beta, {})
        : affineReluForward(h, W, b);
      hidden.push(r.cache);
      h = r.out;
      if (this.dropoutParam !== null) {
        const d = dropoutForward(h, this.dropoutParam);
        drops.push(d.cache);
        h = d.out;
      }
    }
    const last = affineForward(h, p[`W${L}`], p[`b${L}`]);
    if (y === undefined) return last.out;

    const { loss: dataLoss, dx: dscores } = softmaxLoss(last.out, y);
    const grads: Record<string, Tensor> = {};
    const gl = affineBackward(dscores, last.cache);
    grads[`W${L}`] = gl.dw;
    grads[`b${L}`] = gl.db;
    let dh = gl.dx;
    for (let i = L - 1; i >= 1; i--) {
      if (this.dropoutParam !== null) dh = dropoutBackward(dh, drops[i - 1]).dx;
      // The first layer's input (the data) needs no gradient: skip its dx, a third of that layer's products.
      const g = affineNormReluBackwardInternal(dh, hidden[i - 1], i > 1);
      grads[`W${i}`] = g.dw;
      grads[`b${i}`] = g.db;
      if (g.dgamma !== undefined && g.dbeta !== undefined) {
        grads[`gamma${i}`] = g.dgamma;
        grads[`beta${i}`] = g.dbeta;
      }
      if (g.dx !== null) dh = g.dx;
    }
    let loss = dataLoss;
    for (let i = 1; i <= L; i++) loss += addL2(p[`W${i}`], grads[`W${i}`], this.reg);
    return { loss, grads };
  }

  /** Copies of the batch-norm running averages, `runningMean1`, `runningVar1`, …; `{}` without batch norm. */
  state(): Record<string, Tensor> {
    const state: Record<string, Tensor> = {};
    this.bnParams.forEach((bn, i) => {
      state[`runningMean${i + 1}`] = clone(bn.runningMean!);
      state[`runningVar${i + 1}`] = clone(bn.runningVar!);
    });
    return state;
  }

  /** Restores the running averages from what `state()` returned (all keys, matching shapes). */
  loadState(state: Record<string, Tensor>): void {
    const where = "FullyConnectedNet.loadState";
    const expected = Object.keys(this.state());
    const extra = Object.keys(state).filter((k) => !expected.includes(k));
    const missing = expected.filter((k) => !(k in state));
    if (extra.length > 0 || missing.length > 0) {
      throw new Error(
        `${where}: expected keys ${expected.join(", ") || "(none)"}; missing ${missing.join(", ") || "none"}, unknown ${
          extra.join(", ") || "none"
        }`,
      );
    }
    this.bnParams.forEach((bn, i) => {
      for (
        const [key, field] of [[`runningMean${i + 1}`, "runningMean"], [`runningVar${i + 1}`, "runningVar"]] as const
      ) {
        const t = state[key], want = bn[field]!.shape;
        if (t.ndim !== 1 || t.shape[0] !== want[0]) {
          throw new RangeError(`${where}: ${key} ${formatShape(t.shape)} must have shape ${formatShape(want)}`);
        }
      }
    });
    this.bnParams.forEach((bn, i) => {
      bn.runningMean = astype(state[`runningMean${i + 1}`], this.dtype);
      bn.runningVar = astype(state[`runningVar${i + 1}`], this.dtype);
    });
  }
}
