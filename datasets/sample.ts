/**
 * A real CIFAR-10 sample committed with the code (`datasets/sample/`): the
 * first 1,000 images of data_batch_1 (training) and the last 1,000 of
 * data_batch_5 (validation, images 49,000–49,999), the exact images of the
 * course's batch-normalization experiment, in the official record format,
 * gzipped. See `datasets/sample/README.md` for its source and checksums.
 *
 * @module
 */

import { zeros } from "../layers/tensor.ts";
import { CIFAR10_IMAGE_SHAPE, parseCifar10Meta, readCifar10Records } from "./cifar10.ts";
import type { Dataset } from "./dataset.ts";
import { displayPath, readText } from "./records.ts";
import { checkCount, checkDType, type LoadOptions, subtractTrainingMean } from "./split.ts";

/** The sample's training file: data_batch_1.bin records 0–999, gzipped. */
export const SAMPLE_TRAIN_URL: URL = new URL("./sample/cifar10_train_1000.bin.gz", import.meta.url);
/** The sample's validation file: data_batch_5.bin records 9000–9999 (images 49000–49999), gzipped. */
export const SAMPLE_VAL_URL: URL = new URL("./sample/cifar10_val_1000.bin.gz", import.meta.url);
/** The sample's class names (a copy of CIFAR-10's batches.meta.txt). */
export const SAMPLE_META_URL: URL = new URL("./sample/batches.meta.txt", import.meta.url);

/** Options of {@linkcode loadSample}; there is no test split. */
export interface SampleOptions extends Omit<LoadOptions, "numTest"> {
  /** The first numTraining of the 1,000 training images. Default 1,000. */
  numTraining?: number;
  /** The first numValidation of the 1,000 validation images (images 49000…). Default 1,000. */
  numValidation?: number;
}

/**
 * Loads the embedded CIFAR-10 sample: `xTrain` = the first numTraining
 * images of data_batch_1, `xVal` = images [49000, 49000 + numValidation),
 * both `(N, 3, 32, 32)` as `dtype` (default float32), with (default) the
 * mean image of `xTrain` subtracted. The result equals what
 * {@linkcode loadCifar10} gives on the full data with the same numTraining,
 * numValidation and numTest 0. Note that the course subtracts the mean of
 * all 49,000 training images, which is not available offline: the mean here
 * is the sample's own training mean.
 *
 * Needs no network and only read access to the repository's files (paths
 * resolve from this module's URL). No `xTest`.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { loadSample } from "./sample.ts";
 *
 * const data = await loadSample({ numTraining: 100 });
 * assertEquals(data.xTrain.shape, [100, 3, 32, 32]);
 * ```
 */
export async function loadSample(options: SampleOptions = {}): Promise<Dataset> {
  const where = "loadSample";
  if ((options as LoadOptions).numTest) {
    throw new RangeError(
      `${where}: numTest ${(options as LoadOptions).numTest} cannot be met: the sample has no test images`,
    );
  }
  const numTraining = checkCount(where, "numTraining", options.numTraining ?? 1000, 0, 1000, "the sample holds 1000");
  const numValidation = checkCount(
    where,
    "numValidation",
    options.numValidation ?? 1000,
    0,
    1000,
    "the sample holds 1000",
  );
  const subtractMean = options.subtractMean ?? true;
  const dtype = checkDType(where, options.dtype ?? "float32");
  if (subtractMean && numTraining === 0) {
    throw new RangeError(
      `${where}: numTraining 0 leaves no training images to take the mean of (set subtractMean false)`,
    );
  }
  const classNames = parseCifar10Meta(await readText(SAMPLE_META_URL), displayPath(SAMPLE_META_URL));
  const xTrain = zeros([numTraining, ...CIFAR10_IMAGE_SHAPE], dtype);
  const yTrain = new Int32Array(numTraining);
  const xVal = zeros([numValidation, ...CIFAR10_IMAGE_SHAPE], dtype);
  const yVal = new Int32Array(numValidation);
  // Read whole (they are gzipped) so every record's label is checked, whatever the counts asked.
  await readCifar10Records(SAMPLE_TRAIN_URL, {
    expectedRecords: 1000,
    count: numTraining,
    x: xTrain,
    y: yTrain,
    where,
  });
  await readCifar10Records(SAMPLE_VAL_URL, { expectedRecords: 1000, count: numValidation, x: xVal, y: yVal, where });
  const meanImage = subtractMean ? subtractTrainingMean(xTrain, [xVal], where) : undefined;
  return {
    name: "cifar10-sample",
    classNames,
    xTrain,
    yTrain,
    xVal,
    yVal,
    ...(meanImage ? { meanImage } : {}),
    source: "embedded sample (datasets/sample: CIFAR-10 data_batch_1 records 0–999, data_batch_5 records 9000–9999)",
  };
}
