/**
 * The course's three-layer convolutional network (`cnn.py`):
 * conv – ReLU – 2×2 max pool – affine – ReLU – affine – softmax.
 *
 * @module
 */

import { affineBackward, affineForward } from "../affine.ts";
import { globalRandomState, RandomState } from "../random.ts";
import { Workspace } from "../kernels/scratch.ts";
import {
  affineNormReluBackwardInternal,
  affineReluForward,
  convReluPoolBackwardInternal,
  convReluPoolForwardInternal,
} from "../sandwich.ts";
import { softmaxLoss } from "../softmax_loss.ts";
import { astype, type DType, formatShape, scale, type Tensor, zeros } from "../tensor.ts";
import type { Labels } from "../labels.ts";
import { addL2, checkPositiveInteger } from "./_model_helpers.ts";
import type { LossAndGrads, Model } from "./model.ts";

/** Options of `ThreeLayerConvNet`; every one has the course's default. */
export interface ThreeLayerConvNetOptions {
  /** Size of one input, (C, H, W); H and W must be even (the 2×2 pool). Default (3, 32, 32). */
  inputDim?: readonly [number, number, number];
  /** Filters of the convolutional layer. Default 32. */
  numFilters?: number;
  /** Filter height and width; odd, so that padding (filterSize − 1)/2 keeps H and W. Default 7. */
  filterSize?: number;
  /** Units of the hidden affine layer. Default 100. */
  hiddenDim?: number;
  /** Classes scored. Default 10. */
  numClasses?: number;
  /** Standard deviation of the initial weights. Default 1e-3. */
  weightScale?: number;
  /** L2 regularization strength: the loss adds `0.5·reg·ΣW²` over W1, W2, W3. Default 0. */
  reg?: number;
  /** Dtype of the parameters and of the computation. Default `"float32"`. */
  dtype?: DType;
  /** Seeds a fresh `RandomState` for the initial weights (ignored when `random` is given). */
  seed?: number;
  /** Generator the initial weights are drawn from. Default: `new RandomState(seed)`, else the global one. */
  random?: RandomState;
}

/**
 * A three-layer convnet on (N, C, H, W) input:
 * conv (F filters, stride 1, padding (filterSize − 1)/2) – ReLU – 2×2/2 max
 * pool – affine (hiddenDim) – ReLU – affine (numClasses) – softmax, built on
 * the fast conv and pool layers.
 *
 * Parameters, as the course: `W1` (F, C, fs, fs), `b1` (F,),
 * `W2` (F·H/2·W/2, hiddenDim), `b2`, `W3` (hiddenDim, numClasses), `b3`. Each
 * W is `weightScale·randn(...)` drawn in that order, biases are zeros, so that
 * with `{ seed: s }` (or the global generator after `globalRandomState.seed(s)`)
 * the initial weights equal numpy's after `np.random.seed(s)`.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { ThreeLayerConvNet } from "./three_layer_convnet.ts";
 * import { RandomState } from "../random.ts";
 *
 * const model = new ThreeLayerConvNet({ inputDim: [3, 8, 8], numFilters: 2, filterSize: 3, hiddenDim: 5, seed: 0 });
 * const X = new RandomState(1).randn(4, 3, 8, 8);
 * const { loss, grads } = model.loss(X, new Int32Array([0, 1, 2, 3]));
 * assertEquals([Number.isFinite(loss), grads.W1.shape], [true, [2, 3, 3, 3]]);
 * assertEquals(model.loss(X).shape, [4, 10]); // scores
 * ```
 */
export class ThreeLayerConvNet implements Model {
  /** `W1`, `b1`, `W2`, `b2`, `W3`, `b3`. */
  params: Record<string, Tensor>;
  /** L2 regularization strength. */
  readonly reg: number;
  /** Dtype of the parameters; inputs of another dtype are converted. */
  readonly dtype: DType;
  /** Size of one input, (C, H, W). */
  readonly inputDim: readonly [number, number, number];
  /** The previous call's big intermediates, lent to the next (memory that is already faulted in). */
  readonly #workspace = new Workspace();

  /** Builds the network and draws its initial weights; see {@link ThreeLayerConvNetOptions}. */
  constructor(options: ThreeLayerConvNetOptions = {}) {
    const where = "ThreeLayerConvNet";
    const {
      inputDim = [3, 32, 32],
      numFilters = 32,
      filterSize = 7,
      hiddenDim = 100,
      numClasses = 10,
      weightScale = 1e-3,
      reg = 0,
      dtype = "float32",
      seed,
    } = options;
    if (inputDim.length !== 3) {
      throw new RangeError(`${where}: inputDim ${formatShape(inputDim)} must be (C, H, W)`);
    }
    const [c, h, w] = inputDim;
    for (const [name, v] of Object.entries({ C: c, H: h, W: w, numFilters, filterSize, hiddenDim, numClasses })) {
      checkPositiveInteger(where, name, v);
    }
    if (filterSize % 2 !== 1) {
      throw new RangeError(
        `${where}: filterSize ${filterSize} must be odd so that padding (filterSize − 1)/2 keeps H, W`,
      );
    }
    if (h % 2 !== 0 || w % 2 !== 0) {
      throw new RangeError(`${where}: inputDim ${formatShape(inputDim)} must have even H and W for the 2×2 pool`);
    }
    if (!(weightScale >= 0) || !(reg >= 0)) {
      throw new RangeError(`${where}: weightScale ${weightScale} and reg ${reg} must be ≥ 0`);
    }
    const random = options.random ?? (seed === undefined ? globalRandomState : new RandomState(seed));
    this.reg = reg;
    this.dtype = dtype;
    this.inputDim = [c, h, w];
    const draw = (...shape: number[]) => astype(scale(random.randn(...shape), weightScale), dtype);
    this.params = {};
    this.params.W1 = draw(numFilters, c, filterSize, filterSize);
    this.params.b1 = zeros([numFilters], dtype);
    this.params.W2 = draw(numFilters * (h / 2) * (w / 2), hiddenDim);
    this.params.b2 = zeros([hiddenDim], dtype);
    this.params.W3 = draw(hiddenDim, numClasses);
    this.params.b3 = zeros([numClasses], dtype);
  }

  /** Class scores (N, numClasses) for X (N, C, H, W). */
  loss(X: Tensor): Tensor;
  /** Softmax loss plus `0.5·reg·ΣW²`, and the gradient of every parameter, for X (N, C, H, W) and labels y. */
  loss(X: Tensor, y: Labels): LossAndGrads;
  loss(X: Tensor, y?: Labels): Tensor | LossAndGrads {
    const [c, h, w] = this.inputDim;
    if (X.ndim !== 4 || X.shape[1] !== c || X.shape[2] !== h || X.shape[3] !== w) {
      throw new RangeError(
        `ThreeLayerConvNet.loss: X ${formatShape(X.shape)} must be (N, ${c}, ${h}, ${w}) for inputDim ${
          formatShape(this.inputDim)
        }`,
      );
    }
    if (X.dtype !== this.dtype) X = astype(X, this.dtype);
    const { W1, b1, W2, b2, W3, b3 } = this.params;
    const filterSize = W1.shape[2];
    const convParam = { stride: 1, pad: (filterSize - 1) / 2 };
    const poolParam = { poolHeight: 2, poolWidth: 2, stride: 2 };
    // The big intermediates live in this model's workspace: no cache of this call outlives it.
    const ws = this.#workspace;
    const l1 = convReluPoolForwardInternal(X, W1, b1, convParam, poolParam, ws);
    const l2 = affineReluForward(l1.out, W2, b2);
    const l3 = affineForward(l2.out, W3, b3);
    if (y === undefined) return l3.out;

    const { loss: dataLoss, dx: dscores } = softmaxLoss(l3.out, y);
    const g3 = affineBackward(dscores, l3.cache);
    const g2 = affineNormReluBackwardInternal(g3.dx, l2.cache, true, ws);
    // The input needs no gradient: skip dx (a third of the conv layer's backward products).
    const g1 = convReluPoolBackwardInternal(g2.dx!, l1.cache, false, ws);
    const grads: Record<string, Tensor> = { W1: g1.dw, b1: g1.db, W2: g2.dw, b2: g2.db, W3: g3.dw, b3: g3.db };
    let loss = dataLoss;
    for (const k of ["W1", "W2", "W3"]) loss += addL2(this.params[k], grads[k], this.reg);
    return { loss, grads };
  }

  /** No batch norm here: always `{}`. */
  state(): Record<string, Tensor> {
    return {};
  }

  /** Accepts only an empty state (this model has none). */
  loadState(state: Record<string, Tensor>): void {
    const keys = Object.keys(state);
    if (keys.length > 0) {
      throw new Error(`ThreeLayerConvNet.loadState: this model has no state, got ${keys.join(", ")}`);
    }
  }
}
