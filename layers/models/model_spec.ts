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
import { formatSequentialSpec, parseSequentialSpec, Sequential, type SequentialLayer } from "./sequential.ts";
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

/** A net of the course's layers ({@link Sequential}), from its spec. */
export interface SequentialModelSpec {
  /** Discriminator. */
  kind: "sequential";
  /** The net in the compact form (`conv32x3-sbn-relu-pool2,affine10`; see `parseSequentialSpec`). */
  spec: string;
  /** Standard deviation of the initial weights, or `"kaiming"`: √(2 / fan-in) per layer. */
  weightScale: number | "kaiming";
  /** L2 regularization strength (weights only). */
  reg: number;
}

/** A model to build. */
export type ModelSpec = FcModelSpec | CnnModelSpec | SequentialModelSpec;

/**
 * A {@link SequentialModelSpec} with its net in the canonical compact form,
 * from the compact form or JSON (`{ "blocks": [...] }`), so that every
 * spelling of one net names the same run.
 *
 * @throws SequentialSpecError naming the block and what was expected
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { sequentialModel } from "./model_spec.ts";
 * const json = '{"blocks": [["conv8x3", "sbn", "relu", "pool2"], "affine10"]}';
 * const spec = sequentialModel(json, { weightScale: "kaiming" });
 * assertEquals(spec, { kind: "sequential", spec: "conv8x3-sbn-relu-pool2,affine10", weightScale: "kaiming", reg: 0 });
 * ```
 */
export function sequentialModel(
  text: string,
  options: { weightScale?: number | "kaiming"; reg?: number } = {},
): SequentialModelSpec {
  return {
    kind: "sequential",
    spec: formatSequentialSpec(parseSequentialSpec(text)),
    weightScale: options.weightScale ?? "kaiming",
    reg: options.reg ?? 0,
  };
}

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
 * @throws SequentialSpecError when a Sequential net does not fit the inputs or the classes
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
  if (spec.kind === "sequential") {
    return new Sequential(spec.spec, {
      inputDim: inputShape.length === 3
        ? inputShape as [number, number, number]
        : inputShape.reduce((p, v) => p * v, 1),
      numClasses,
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
  } else if (spec.kind === "sequential") {
    activations += sequentialTensors(spec.spec, input, tensors);
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

/**
 * Pushes the parameter sizes of a Sequential net onto `tensors` and returns
 * its activation elements for a batch of `batchSize` (four copies of every
 * layer's output, plus a conv's im2col columns), walking the shapes as the
 * builder does (shapes that do not fit are left for the builder to refuse).
 */
function sequentialTensors(text: string, input: ModelInput & { batchSize: number }, tensors: number[]): number {
  const n = input.batchSize;
  let shape: number[] = [...input.inputShape];
  let activations = 0;
  const layers: SequentialLayer[] = parseSequentialSpec(text).blocks.flat();
  for (const layer of layers) {
    const size = shape.reduce((p, v) => p * v, 1);
    if (layer.kind === "conv" && shape.length === 3) {
      const [c, h, w] = shape, s = layer.stride ?? 1, p = layer.pad ?? (layer.size - 1) / 2;
      shape = [
        layer.filters,
        Math.floor((h + 2 * p - layer.size) / s) + 1,
        Math.floor((w + 2 * p - layer.size) / s) + 1,
      ];
      tensors.push(layer.filters * c * layer.size * layer.size, layer.filters);
      activations += n * c * layer.size * layer.size * shape[1] * shape[2];
    } else if (layer.kind === "affine") {
      tensors.push(size * layer.units, layer.units);
      shape = [layer.units];
    } else if (layer.kind === "maxPool" && shape.length === 3) {
      const s = layer.stride ?? layer.size;
      shape = [shape[0], Math.floor((shape[1] - layer.size) / s) + 1, Math.floor((shape[2] - layer.size) / s) + 1];
    } else if (layer.kind !== "relu" && layer.kind !== "dropout") {
      tensors.push(shape[0], shape[0]); // gamma and beta
    }
    activations += 4 * n * shape.reduce((p, v) => p * v, 1);
  }
  return activations;
}
