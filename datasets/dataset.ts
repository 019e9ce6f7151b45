/**
 * The common result of the dataset loaders. The loaders import it; the
 * registry of loaders by spec is `registry.ts`.
 *
 * @module
 */

import type { Tensor } from "../layers/tensor.ts";

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
