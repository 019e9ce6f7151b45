/**
 * Split options and mean-image subtraction shared by the dataset loaders.
 *
 * @module
 */

import { type DType, type Tensor, zeros } from "../layers/tensor.ts";
import type { Dataset } from "./dataset.ts";

/** Options every loader takes; each loader documents its own defaults and limits. */
export interface LoadOptions {
  /** Training images, taken from the start of the training data. */
  numTraining?: number;
  /** Validation images, taken from the training data after the training images (see each loader). */
  numValidation?: number;
  /** Test images, the first ones of the test data; 0 leaves `xTest` out and skips the test files. */
  numTest?: number;
  /** Subtract the training split's mean image from every split. Default true. */
  subtractMean?: boolean;
  /** Element type of the image tensors. Default `"float32"`. */
  dtype?: DType;
}

/**
 * Checks that option `name` is an integer in [min, max]: a RangeError naming
 * `where`, the value and the rule otherwise (`why` explains `max`).
 */
export function checkCount(where: string, name: string, value: number, min: number, max: number, why = ""): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`${where}: ${name} ${value} is not an integer in [${min}, ${max}]${why ? ` (${why})` : ""}`);
  }
  return value;
}

/** Checks `dtype` (a TypeError for anything but float32 / float64). */
export function checkDType(where: string, dtype: unknown): DType {
  if (dtype !== "float32" && dtype !== "float64") {
    throw new TypeError(`${where}: dtype ${JSON.stringify(dtype)} is not "float32" or "float64"`);
  }
  return dtype;
}

/**
 * Subtracts the mean image of `xTrain` (mean over axis 0) from `xTrain` and
 * every tensor of `others`, in place, as the course's `get_CIFAR10_data`
 * does. The mean and each difference are computed in float64 and then stored
 * in the tensor's dtype, so a float32 result equals numpy's
 * `(X - X_train.mean(0)).astype(np.float32)` bit for bit (the pixel sums are
 * integers well below 2^53, hence exact).
 *
 * @param xTrain `(N, C, H, W)` with N ≥ 1.
 * @param others tensors `(M, C, H, W)` with the same C, H, W.
 * @returns the mean image `(C, H, W)` in float64: exactly what was subtracted.
 */
export function subtractTrainingMean(xTrain: Tensor, others: Tensor[], where = "subtractTrainingMean"): Tensor {
  const [n, ...image] = xTrain.shape;
  if (n < 1) throw new RangeError(`${where}: cannot subtract the mean of 0 training images`);
  const d = xTrain.size / n;
  const mean = zeros(image, "float64");
  const m = mean.data;
  const x = xTrain.data;
  for (let i = 0; i < n; i++) {
    const base = i * d;
    for (let j = 0; j < d; j++) m[j] += x[base + j];
  }
  for (let j = 0; j < d; j++) m[j] /= n;
  for (const t of [xTrain, ...others]) {
    if (t.size !== t.shape[0] * d || t.shape.slice(1).join() !== image.join()) {
      throw new RangeError(
        `${where}: a split of shape (${t.shape.join(", ")}) does not hold (${image.join(", ")}) images`,
      );
    }
    const data = t.data;
    for (let base = 0; base < data.length; base += d) {
      for (let j = 0; j < d; j++) data[base + j] = data[base + j] - m[j];
    }
  }
  return mean;
}

/**
 * A loader's result from its splits, read as they are stored: with `subtractMean`, the mean training image is
 * subtracted from every split in place (see `subtractTrainingMean`) and kept as `meanImage`; `xTest` and
 * `yTest` appear only when the loader read a test split.
 *
 * @param splits the dataset without `meanImage`
 * @param subtractMean whether to center the splits on the training mean
 * @param where the loader, for errors
 */
export function finishDataset(splits: Omit<Dataset, "meanImage">, subtractMean: boolean, where: string): Dataset {
  const { name, classNames, xTrain, yTrain, xVal, yVal, xTest, yTest, source } = splits;
  const meanImage = subtractMean ? subtractTrainingMean(xTrain, xTest ? [xVal, xTest] : [xVal], where) : undefined;
  return {
    name,
    classNames,
    xTrain,
    yTrain,
    xVal,
    yVal,
    ...(xTest ? { xTest, yTest } : {}),
    ...(meanImage ? { meanImage } : {}),
    source,
  };
}
