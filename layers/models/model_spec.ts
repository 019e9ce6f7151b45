/**
 * A model as plain data ({@link ModelSpec}: what a command line, an
 * experiment's plan or a Web Worker message carries) and the one builder,
 * {@link buildModel}, that turns it into a {@link Model}. The builder takes
 * one example's shape and the class count, not a dataset, so models stay
 * below datasets.
 *
 * @module
 */

import type { RandomState } from "../random.ts";
import type { DType } from "../tensor.ts";
import { FullyConnectedNet, type Normalization } from "./fully_connected_net.ts";
import type { Model } from "./model.ts";
import { ThreeLayerConvNet } from "./three_layer_convnet.ts";

export type { Normalization };

/** A fully connected net ({@link FullyConnectedNet}). */
export interface FcModelSpec {
  /** Discriminator. */
  kind: "fc";
  /** Hidden layer sizes. */
  hiddenDims: number[];
  /** Normalization after each hidden affine layer (null: none). */
  normalization: Normalization;
  /** Probability of dropping a hidden unit (0: no dropout). */
  dropout: number;
  /** Standard deviation of the initial weights. */
  weightScale: number;
  /** L2 regularization strength. */
  reg: number;
}

/** The three-layer convnet ({@link ThreeLayerConvNet}). */
export interface CnnModelSpec {
  /** Discriminator. */
  kind: "cnn";
  /** Filters of the conv layer. */
  numFilters: number;
  /** Odd filter size. */
  filterSize: number;
  /** Units of the hidden affine layer. */
  hiddenDim: number;
  /** Standard deviation of the initial weights. */
  weightScale: number;
  /** L2 regularization strength. */
  reg: number;
}

/** A model to build. */
export type ModelSpec = FcModelSpec | CnnModelSpec;

/** What a model is built for, besides its spec. */
export interface ModelInput {
  /** One example's shape, e.g. `(C, H, W)` = `[3, 32, 32]`; a convnet needs three dimensions. */
  inputShape: readonly number[];
  /** Classes scored. */
  numClasses: number;
  /** Dtype of the parameters and of the computation. */
  dtype: DType;
}

/**
 * Builds the model `spec` describes for inputs of `inputShape`, drawing its
 * initial weights from `random` (which, as the course's single generator,
 * also draws the dropout masks while training).
 *
 * @throws RangeError when a convnet is asked for inputs that are not `(C, H, W)`, or the model rejects the spec
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { RandomState } from "../random.ts";
 * import { buildModel } from "./model_spec.ts";
 * const model = buildModel(
 *   { kind: "fc", hiddenDims: [20], normalization: null, dropout: 0, weightScale: 1e-2, reg: 0 },
 *   { inputShape: [3, 8, 8], numClasses: 10, dtype: "float32", random: new RandomState(0) },
 * );
 * assertEquals(model.params.W1.shape, [192, 20]);
 * ```
 */
export function buildModel(spec: ModelSpec, input: ModelInput & { random: RandomState }): Model {
  const { inputShape, numClasses, dtype, random } = input;
  if (spec.kind === "fc") {
    return new FullyConnectedNet(spec.hiddenDims, {
      inputDim: inputShape.reduce((p, v) => p * v, 1),
      numClasses,
      dropout: spec.dropout,
      normalization: spec.normalization,
      reg: spec.reg,
      weightScale: spec.weightScale,
      dtype,
      random,
    });
  }
  if (inputShape.length !== 3) {
    throw new RangeError(
      `buildModel: a convnet needs images (N, C, H, W); the data gives (N, ${inputShape.join(", ")})`,
    );
  }
  return new ThreeLayerConvNet({
    inputDim: inputShape as [number, number, number],
    numFilters: spec.numFilters,
    filterSize: spec.filterSize,
    hiddenDim: spec.hiddenDim,
    numClasses,
    weightScale: spec.weightScale,
    reg: spec.reg,
    dtype,
    random,
  });
}

/** Estimated memory of training a model, bytes (see {@link estimateTrainingBytes}). */
export interface TrainingBytes {
  /** The largest single tensor, in elements (a typed array must hold it). */
  largestTensor: number;
  /** Parameters, their gradients, the best copy and up to two optimizer-state tensors each (Adam's m and v). */
  parameters: number;
  /** Activations and caches of one forward and backward pass over `batchSize` examples. */
  activations: number;
  /** `parameters + activations`. */
  total: number;
}

/**
 * A rough lower bound of the memory training `spec` takes, from its shapes
 * alone: five copies of the parameters (weights, gradients, best weights,
 * two optimizer-state tensors) plus four copies of every activation of a
 * batch (outputs and the caches kept for backward; a convnet adds its
 * im2col columns). Good enough to refuse a model that cannot fit before
 * allocating anything.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { estimateTrainingBytes, type ModelSpec } from "./model_spec.ts";
 * const fc: ModelSpec = { kind: "fc", hiddenDims: [100], normalization: null, dropout: 0, weightScale: 1e-2, reg: 0 };
 * const bytes = estimateTrainingBytes(fc, { inputShape: [3, 32, 32], numClasses: 10, dtype: "float32", batchSize: 50 });
 * assertEquals(bytes.largestTensor, 3072 * 100);
 * assertEquals(bytes.parameters, 5 * 4 * (3072 * 100 + 100 + 100 * 10 + 10));
 * ```
 */
export function estimateTrainingBytes(spec: ModelSpec, input: ModelInput & { batchSize: number }): TrainingBytes {
  const bytesPer = input.dtype === "float64" ? 8 : 4;
  const n = input.batchSize;
  const inputSize = input.inputShape.reduce((p, v) => p * v, 1);
  const tensors: number[] = [];
  let activations = n * inputSize;
  if (spec.kind === "fc") {
    let fanIn = inputSize;
    for (const h of [...spec.hiddenDims, input.numClasses]) {
      tensors.push(fanIn * h, h);
      if (spec.normalization !== null && h !== input.numClasses) tensors.push(h, h);
      activations += 4 * n * h;
      fanIn = h;
    }
  } else {
    const [c, h, w] = input.inputShape;
    const f = spec.numFilters, k = spec.filterSize;
    const pooled = f * Math.floor(h / 2) * Math.floor(w / 2);
    tensors.push(f * c * k * k, f, pooled * spec.hiddenDim, spec.hiddenDim, spec.hiddenDim * input.numClasses);
    tensors.push(input.numClasses);
    activations += n * c * k * k * h * w + 4 * n * f * h * w + 4 * n * (pooled + spec.hiddenDim + input.numClasses);
  }
  const parameters = 5 * bytesPer * tensors.reduce((a, b) => a + b, 0);
  const activationBytes = bytesPer * activations;
  return {
    largestTensor: Math.max(...tensors, n * inputSize),
    parameters,
    activations: activationBytes,
    total: parameters + activationBytes,
  };
}
