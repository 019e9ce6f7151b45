/**
 * The common result of the dataset loaders, and `loadDataset`, which picks a
 * loader from a short spec string (for command lines and reports).
 *
 * @module
 */

import type { Tensor } from "../layers/tensor.ts";
import { loadCifar10 } from "./cifar10.ts";
import { loadFashionMnist, loadMnist } from "./idx.ts";
import { loadSample } from "./sample.ts";
import type { LoadOptions } from "./split.ts";

/**
 * A loaded image classification dataset, split as the course splits
 * CIFAR-10: images are `(N, C, H, W)` tensors (channels first), labels are
 * class indices into `classNames`.
 */
export interface Dataset {
  /** `"cifar10-sample"`, `"cifar10"`, `"fashion-mnist"` or `"mnist"`. */
  name: string;
  /** Label i's name. */
  classNames: string[];
  /** Training images `(N, C, H, W)`, float32 unless `dtype` said otherwise. */
  xTrain: Tensor;
  /** Training labels, length N. */
  yTrain: Int32Array;
  /** Validation images `(M, C, H, W)`. */
  xVal: Tensor;
  /** Validation labels. */
  yVal: Int32Array;
  /** Test images, when the loader was asked for some. */
  xTest?: Tensor;
  /** Test labels, with `xTest`. */
  yTest?: Int32Array;
  /** The mean training image `(C, H, W)` in float64: what was subtracted from every split (absent when none was). */
  meanImage?: Tensor;
  /** Where it was read from (a directory, or `"embedded sample …"`), for reports. */
  source: string;
}

/** The spec forms {@linkcode loadDataset} accepts. */
export const DATASET_SPECS: readonly string[] = Object.freeze([
  "sample",
  "cifar10:DIR",
  "fashion-mnist",
  "fashion-mnist:DIR",
  "mnist:DIR",
]);

/**
 * Loads the dataset named by `spec`:
 *
 * - `sample`: the embedded CIFAR-10 sample ({@linkcode loadSample}; no test split, so `numTest` must be unset or 0);
 * - `cifar10:DIR`: CIFAR-10 binary batches in DIR ({@linkcode loadCifar10});
 * - `fashion-mnist` or `fashion-mnist:DIR`: Fashion-MNIST IDX files, by default from Debian's
 *   `/usr/share/datasets/fashion-mnist` ({@linkcode loadFashionMnist});
 * - `mnist:DIR`: MNIST IDX files in DIR ({@linkcode loadMnist}).
 *
 * DIR is everything after the first colon. `options` go to the loader.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { loadDataset } from "./dataset.ts";
 *
 * const data = await loadDataset("sample", { numTraining: 500 });
 * assertEquals([data.name, data.xTrain.shape[0]], ["cifar10-sample", 500]);
 * ```
 */
export async function loadDataset(spec: string, options: LoadOptions = {}): Promise<Dataset> {
  const colon = spec.indexOf(":");
  const kind = colon < 0 ? spec : spec.slice(0, colon);
  const dir = colon < 0 ? undefined : spec.slice(colon + 1);
  if (dir === "") {
    throw new Error(`loadDataset: spec "${spec}" has an empty DIR; accepted: ${DATASET_SPECS.join(", ")}`);
  }
  if (kind === "sample" && dir === undefined) return await loadSample(options);
  if (kind === "cifar10" && dir !== undefined) return await loadCifar10(dir, options);
  if (kind === "fashion-mnist") return await loadFashionMnist(dir, options);
  if (kind === "mnist" && dir !== undefined) return await loadMnist(dir, options);
  throw new Error(`loadDataset: unknown dataset spec "${spec}"; accepted: ${DATASET_SPECS.join(", ")}`);
}
