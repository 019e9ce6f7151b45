/**
 * CIFAR-10 in the official binary layout (`cifar-10-batches-bin`): five
 * training batches `data_batch_1.bin` … `data_batch_5.bin` and `test_batch.bin`,
 * each 10,000 records of 3,073 bytes (a label byte, then 1,024 red, 1,024
 * green and 1,024 blue values, each plane row-major), plus `batches.meta.txt`
 * (the class names, line N = label N).
 *
 * @module
 */

import type { Tensor } from "../layers/tensor.ts";
import { allocateImages, allocateLabels } from "./_allocations.ts";
import type { Dataset } from "./dataset.ts";
import {
  checkRecordFile,
  DatasetFormatError,
  displayPath,
  exists,
  findDataFile,
  joinPath,
  readRecordFile,
  readText,
} from "./records.ts";
import { checkCount, checkDType, type LoadOptions, subtractTrainingMean } from "./split.ts";

/** The CIFAR-10 class names, label 0 to 9 (as in `batches.meta.txt`). */
export const CIFAR10_CLASS_NAMES: readonly string[] = Object.freeze([
  "airplane",
  "automobile",
  "bird",
  "cat",
  "deer",
  "dog",
  "frog",
  "horse",
  "ship",
  "truck",
]);

/** Bytes per CIFAR-10 record: 1 label byte + 3 · 32 · 32 pixel bytes. */
export const CIFAR10_RECORD_SIZE = 3073;

/** Records per official CIFAR-10 batch file. */
export const CIFAR10_BATCH_RECORDS = 10000;

/** Shape of one CIFAR-10 image, channels first: `(3, 32, 32)`. */
export const CIFAR10_IMAGE_SHAPE: readonly number[] = Object.freeze([3, 32, 32]);

const PIXELS = 3072;

/** Options of {@linkcode readCifar10Records}. */
export interface ReadCifar10Options {
  /** Index of the first record to copy. Default 0. */
  first?: number;
  /** Records to copy. Default: all from `first` to `expectedRecords`. */
  count?: number;
  /** Records the file must hold. Default 10,000 (an official batch). */
  expectedRecords?: number;
  /** Images go to rows `row…row + count − 1` of this `(N, 3, 32, 32)` tensor. */
  x: Tensor;
  /** Labels go to the same rows of this array. */
  y: Int32Array;
  /** First row of `x` and `y` to fill. Default 0. */
  row?: number;
  /** Name of the calling function, for error messages. Default `"readCifar10Records"`. */
  where?: string;
}

/**
 * Streams records `[first, first + count)` of a CIFAR-10 binary file
 * (plain, or gzip-compressed when the name ends in `.gz`) straight into
 * `x` (pixel values 0–255 as floats, planar R, G, B: already channels
 * first) and `y`.
 *
 * The file must hold exactly `expectedRecords` records; every record read
 * must have a label in 0–9. A plain file is sized with `stat` and only the
 * requested records are read; a `.gz` file is read (and checked) whole.
 * Errors name the file and the byte offset, e.g.
 * `loadCifar10: /data/data_batch_1.bin: label 12 at byte 6146 is out of range 0–9`.
 */
export async function readCifar10Records(path: string | URL, options: ReadCifar10Options): Promise<void> {
  const where = options.where ?? "readCifar10Records";
  const expectedRecords = options.expectedRecords ?? CIFAR10_BATCH_RECORDS;
  const first = options.first ?? 0;
  const count = options.count ?? expectedRecords - first;
  const row = options.row ?? 0;
  const { x, y } = options;
  if (x.ndim !== 4 || x.shape.slice(1).join() !== CIFAR10_IMAGE_SHAPE.join()) {
    throw new RangeError(`${where}: x has shape (${x.shape.join(", ")}), expected (N, 3, 32, 32)`);
  }
  checkCount(where, "first", first, 0, expectedRecords);
  checkCount(where, "count", count, 0, expectedRecords - first, `the file holds ${expectedRecords} records`);
  if (row < 0 || row + count > x.shape[0] || row + count > y.length) {
    throw new RangeError(
      `${where}: rows [${row}, ${row + count}) do not fit x (${x.shape.join(", ")}) and y of length ${y.length}`,
    );
  }
  const label = `${where}: ${displayPath(path)}`;
  const xData = x.data;
  await readRecordFile({
    path,
    label,
    recordSize: CIFAR10_RECORD_SIZE,
    expectedRecords,
    check(chunk, at, offset) {
      if (chunk[at] > 9) {
        throw new DatasetFormatError(`${label}: label ${chunk[at]} at byte ${offset} is out of range 0–9`);
      }
    },
    segments: [{
      first,
      count,
      write(chunk, at, k) {
        y[row + k] = chunk[at];
        // A plain loop: TypedArray.set across element types is several times slower in V8.
        const base = (row + k) * PIXELS - at - 1;
        for (let j = at + 1; j < at + CIFAR10_RECORD_SIZE; j++) xData[base + j] = chunk[j];
      },
    }],
  });
}

/**
 * Parses `batches.meta.txt`: ten class names, one per line (blank lines at
 * the end, as in the official file, are ignored).
 */
export function parseCifar10Meta(text: string, source = "batches.meta.txt"): string[] {
  const names = text.split(/\r?\n/).map((s) => s.trim());
  while (names.length > 0 && names[names.length - 1] === "") names.pop();
  if (names.length !== 10 || names.some((s) => s === "")) {
    throw new DatasetFormatError(
      `parseCifar10Meta: ${source} has ${names.length} lines${
        names.some((s) => s === "") ? " (some blank)" : ""
      }, expected 10 class names`,
    );
  }
  return names;
}

/** Options of {@linkcode loadCifar10}: the course's `get_CIFAR10_data` arguments plus `dtype`. */
export interface Cifar10Options extends LoadOptions {
  /** Training images [0, numTraining), at most 49,000. Default 49,000. */
  numTraining?: number;
  /** Validation images [49000, 49000 + numValidation), at most 1,000. Default 1,000. */
  numValidation?: number;
  /** The first numTest images of `test_batch.bin`, at most 10,000. Default 1,000. */
  numTest?: number;
}

/**
 * Loads CIFAR-10 from the binary batches in `dir` the way the course's
 * `get_CIFAR10_data(num_training, num_validation, num_test, subtract_mean)`
 * does:
 *
 * - `xTrain`: training images [0, numTraining) (data_batch_1 first);
 * - `xVal`: training images [49000, 49000 + numValidation), i.e. the start
 *   of the last 1,000 of data_batch_5, whatever numTraining is;
 * - `xTest`: the first numTest images of test_batch (left out when 0);
 * - all `(N, 3, 32, 32)`, values 0–255 minus (with `subtractMean`) the mean
 *   image of `xTrain`, computed in float64, then stored as `dtype`.
 *
 * One deliberate difference: the course subtracts the mean of its 49,000
 * training images whatever subset is used later; here the mean is always
 * that of the `xTrain` returned.
 *
 * Only the batch files the request needs are opened (numTraining ≤ 10,000
 * with validation needs data_batch_1 and data_batch_5) and only the records
 * needed are read. Each file may also be gzipped (`data_batch_1.bin.gz`).
 * Class names come from `batches.meta.txt` when present.
 *
 * @example
 * ```ts ignore
 * import { assertEquals } from "@std/assert";
 * import { loadCifar10 } from "./cifar10.ts";
 *
 * const data = await loadCifar10("../shared/datasets/cifar-10-batches-bin", { numTraining: 1000 });
 * assertEquals(data.xTrain.shape, [1000, 3, 32, 32]);
 * ```
 */
export async function loadCifar10(dir: string, options: Cifar10Options = {}): Promise<Dataset> {
  const where = "loadCifar10";
  const numTraining = checkCount(
    where,
    "numTraining",
    options.numTraining ?? 49000,
    0,
    49000,
    "images 49000–49999 are the validation set",
  );
  const numValidation = checkCount(
    where,
    "numValidation",
    options.numValidation ?? 1000,
    0,
    1000,
    "validation images are 49000–49999",
  );
  const numTest = checkCount(where, "numTest", options.numTest ?? 1000, 0, 10000, "test_batch.bin holds 10000 images");
  const subtractMean = options.subtractMean ?? true;
  const dtype = checkDType(where, options.dtype ?? "float32");
  if (subtractMean && numTraining === 0) {
    throw new RangeError(
      `${where}: numTraining 0 leaves no training images to take the mean of (set subtractMean false)`,
    );
  }
  if (!(await exists(dir))) throw new Error(`${where}: directory ${dir} not found`);

  // Every file the request needs, with why, checked before anything is read.
  const needs: { name: string; why: string }[] = [];
  for (let b = 1; b <= Math.ceil(numTraining / CIFAR10_BATCH_RECORDS); b++) {
    const lo = (b - 1) * CIFAR10_BATCH_RECORDS;
    const hi = Math.min(numTraining, b * CIFAR10_BATCH_RECORDS) - 1;
    needs.push({
      name: `data_batch_${b}.bin`,
      why: `numTraining ${numTraining} needs it for training images ${lo}–${hi}`,
    });
  }
  if (numValidation > 0) {
    needs.push({
      name: "data_batch_5.bin",
      why: `numValidation ${numValidation} needs it for validation images 49000–${49000 + numValidation - 1}`,
    });
  }
  if (numTest > 0) {
    needs.push({ name: "test_batch.bin", why: `numTest ${numTest} needs it for test images 0–${numTest - 1}` });
  }
  const found = new Map<string, string>();
  const missing: string[] = [];
  for (const { name, why } of needs) {
    if (found.has(name)) continue;
    const path = await findDataFile(dir, name);
    if (path) found.set(name, path);
    else if (!missing.some((m) => m.startsWith(`${name} `))) missing.push(`${name} (${why})`);
  }
  if (missing.length > 0) throw new Error(`${where}: ${dir} is missing ${missing.join(", ")}`);

  // Every file is checked (a regular file of the right length) before the outputs are allocated.
  for (const path of found.values()) {
    await checkRecordFile({
      path,
      label: `${where}: ${path}`,
      recordSize: CIFAR10_RECORD_SIZE,
      expectedRecords: CIFAR10_BATCH_RECORDS,
    });
  }
  const metaPath = joinPath(dir, "batches.meta.txt");
  const classNames = (await exists(metaPath))
    ? parseCifar10Meta(await readText(metaPath), metaPath)
    : [...CIFAR10_CLASS_NAMES];

  const xTrain = allocateImages([numTraining, ...CIFAR10_IMAGE_SHAPE], dtype, "numTraining");
  const yTrain = allocateLabels(numTraining, "numTraining");
  for (let b = 1; b <= Math.ceil(numTraining / CIFAR10_BATCH_RECORDS); b++) {
    const row = (b - 1) * CIFAR10_BATCH_RECORDS;
    await readCifar10Records(found.get(`data_batch_${b}.bin`)!, {
      count: Math.min(CIFAR10_BATCH_RECORDS, numTraining - row),
      x: xTrain,
      y: yTrain,
      row,
      where,
    });
  }
  const xVal = allocateImages([numValidation, ...CIFAR10_IMAGE_SHAPE], dtype, "numValidation");
  const yVal = allocateLabels(numValidation, "numValidation");
  if (numValidation > 0) {
    await readCifar10Records(found.get("data_batch_5.bin")!, {
      first: 9000,
      count: numValidation,
      x: xVal,
      y: yVal,
      where,
    });
  }
  let xTest: Tensor | undefined;
  let yTest: Int32Array | undefined;
  if (numTest > 0) {
    xTest = allocateImages([numTest, ...CIFAR10_IMAGE_SHAPE], dtype, "numTest");
    yTest = allocateLabels(numTest, "numTest");
    await readCifar10Records(found.get("test_batch.bin")!, { count: numTest, x: xTest, y: yTest, where });
  }
  const meanImage = subtractMean ? subtractTrainingMean(xTrain, xTest ? [xVal, xTest] : [xVal], where) : undefined;
  return {
    name: "cifar10",
    classNames,
    xTrain,
    yTrain,
    xVal,
    yVal,
    ...(xTest ? { xTest, yTest } : {}),
    ...(meanImage ? { meanImage } : {}),
    source: dir,
  };
}
