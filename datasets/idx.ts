/**
 * MNIST and Fashion-MNIST in the IDX format (`train-images-idx3-ubyte`,
 * `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte`,
 * `t10k-labels-idx1-ubyte`, each plain or gzipped as `….gz`).
 *
 * An IDX file is a 4-byte magic number (two zero bytes, a type byte, 0x08 for
 * unsigned bytes, and the number of dimensions), one big-endian 32-bit size
 * per dimension, then the values in row-major order.
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
  openBytes,
  readRecordFile,
  takeHeader,
} from "./records.ts";
import { checkCount, checkDType, type LoadOptions, subtractTrainingMean } from "./split.ts";

/** The Fashion-MNIST class names, label 0 to 9. */
export const FASHION_MNIST_CLASS_NAMES: readonly string[] = Object.freeze([
  "T-shirt/top",
  "Trouser",
  "Pullover",
  "Dress",
  "Coat",
  "Sandal",
  "Shirt",
  "Sneaker",
  "Bag",
  "Ankle boot",
]);

/** The MNIST class names: the digits `"0"` to `"9"`. */
export const MNIST_CLASS_NAMES: readonly string[] = Object.freeze(["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]);

/** Where Debian's `dataset-fashion-mnist` package installs Fashion-MNIST (gzipped IDX files). */
export const DEBIAN_FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist";

/** The header of an IDX file of unsigned bytes. */
export interface IdxHeader {
  /** The file read. */
  path: string | URL;
  /** The size of each dimension, e.g. `[60000, 28, 28]`. */
  dims: number[];
  /** Header length in bytes: 4 + 4 · dims.length. */
  headerSize: number;
}

function hex32(b: Uint8Array): string {
  return "0x" + [...b.subarray(0, 4)].map((v) => v.toString(16).padStart(2, "0")).join("");
}

/**
 * Reads and validates the header of an IDX file of unsigned bytes with
 * `ndim` dimensions (3 for images, 1 for labels): the magic number must be
 * `0x000008NN` with NN = ndim, and a plain file's size must equal the header
 * plus the product of the dimensions. Errors name the file and byte offset.
 */
export async function readIdxHeader(path: string | URL, ndim: number, where = "readIdxHeader"): Promise<IdxHeader> {
  const label = `${where}: ${displayPath(path)}`;
  const { stream } = await openBytes(path, 0, label);
  // Only the magic number and the sizes are wanted here: 4 bytes, then 4 per dimension.
  const { header, rest } = await takeHeader(stream, (p) => p.length < 4 ? 4 : 4 + 4 * p[3], label);
  await rest.cancel();
  const expected = `0x000008${ndim.toString(16).padStart(2, "0")}`;
  if (header[0] !== 0 || header[1] !== 0 || header[2] !== 0x08) {
    const gz = header[0] === 0x1f && header[1] === 0x8b ? " (the file looks gzip-compressed: name it ….gz)" : "";
    throw new DatasetFormatError(
      `${label}: bad magic number ${hex32(header)} at byte 0, expected ${expected} (unsigned bytes, ${ndim} dimension${
        ndim === 1 ? "" : "s"
      })${gz}`,
    );
  }
  if (header[3] !== ndim) {
    throw new DatasetFormatError(`${label}: dimension count ${header[3]} at byte 3, expected ${ndim}`);
  }
  const view = new DataView(header.buffer, header.byteOffset, header.byteLength);
  const dims: number[] = [];
  for (let i = 0; i < ndim; i++) dims.push(view.getUint32(4 + 4 * i, false));
  const headerSize = 4 + 4 * ndim;
  for (let i = 1; i < ndim; i++) {
    if (dims[i] === 0) throw new DatasetFormatError(`${label}: dimension ${i} at byte ${4 + 4 * i} is 0`);
  }
  return { path, dims, headerSize };
}

/**
 * Checks that an IDX file holds exactly what its header promises
 * (`headerSize + prod(dims)` bytes; decompressed, for `.gz`), reading no
 * more than that and allocating nothing for it (see `checkRecordFile`).
 *
 * @throws DatasetFormatError naming the file, the byte offset and the rule
 */
export async function checkIdxFile(h: IdxHeader, where = "checkIdxFile"): Promise<void> {
  const [n, ...rest] = h.dims;
  await checkRecordFile({
    path: h.path,
    label: `${where}: ${displayPath(h.path)}`,
    recordSize: rest.reduce((p, d) => p * d, 1),
    headerSize: h.headerSize,
    expectedRecords: n,
  });
}

/** A run of images `[first, first + count)` of an IDX file, copied to rows `row…` of `x`. */
export interface IdxImageSegment {
  /** Index of the first image. */
  first: number;
  /** How many images. */
  count: number;
  /** The output, `(M, 1, rows, cols)`. */
  x: Tensor;
  /** First row of `x` to fill. Default 0. */
  row?: number;
}

/** A run of labels `[first, first + count)` of an IDX file, copied to `y[row…]`. */
export interface IdxLabelSegment {
  /** Index of the first label. */
  first: number;
  /** How many labels. */
  count: number;
  /** The output. */
  y: Int32Array;
  /** First element of `y` to fill. Default 0. */
  row?: number;
}

/**
 * Streams images of an IDX image file (header `h` from
 * {@linkcode readIdxHeader}) straight into `(M, 1, rows, cols)` tensors, one
 * segment (increasing, not overlapping) per run of images. A plain file is
 * read only where the segments are (seeks); a `.gz` file is read whole and
 * checked, one pass filling every segment (a training and a validation run,
 * say).
 */
export async function readIdxImages(h: IdxHeader, segments: IdxImageSegment[], where = "readIdxImages"): Promise<void> {
  const [n, rows, cols] = h.dims;
  const size = rows * cols;
  for (const s of segments) {
    const t = s.x;
    const row = s.row ?? 0;
    if (t.ndim !== 4 || t.shape[1] !== 1 || t.shape[2] !== rows || t.shape[3] !== cols || row + s.count > t.shape[0]) {
      throw new RangeError(
        `${where}: ${s.count} images from row ${row} do not fit x (${
          t.shape.join(", ")
        }), expected (M, 1, ${rows}, ${cols})`,
      );
    }
  }
  await readRecordFile({
    path: h.path,
    label: `${where}: ${displayPath(h.path)}`,
    recordSize: size,
    headerSize: h.headerSize,
    expectedRecords: n,
    segments: segments.map((s) => {
      const data = s.x.data;
      const base = (s.row ?? 0) * size;
      return {
        first: s.first,
        count: s.count,
        write(chunk: Uint8Array, at: number, k: number) {
          const to = base + k * size - at;
          for (let j = at; j < at + size; j++) data[to + j] = chunk[j];
        },
      };
    }),
  });
}

/**
 * Streams labels of an IDX label file (header `h`) into Int32Arrays, as
 * {@linkcode readIdxImages} does for images; every label read must be in
 * [0, numClasses) (an error naming the file, value and byte offset otherwise).
 */
export async function readIdxLabels(
  h: IdxHeader,
  segments: IdxLabelSegment[],
  numClasses: number,
  where = "readIdxLabels",
): Promise<void> {
  const label = `${where}: ${displayPath(h.path)}`;
  for (const s of segments) {
    if ((s.row ?? 0) + s.count > s.y.length) {
      throw new RangeError(`${where}: ${s.count} labels from ${s.row ?? 0} do not fit y of length ${s.y.length}`);
    }
  }
  await readRecordFile({
    path: h.path,
    label,
    recordSize: 1,
    headerSize: h.headerSize,
    expectedRecords: h.dims[0],
    check(chunk, at, offset) {
      if (chunk[at] >= numClasses) {
        throw new DatasetFormatError(
          `${label}: label ${chunk[at]} at byte ${offset} is out of range 0–${numClasses - 1}`,
        );
      }
    },
    segments: segments.map((s) => {
      const y = s.y;
      const row = s.row ?? 0;
      return {
        first: s.first,
        count: s.count,
        write(chunk: Uint8Array, at: number, k: number) {
          y[row + k] = chunk[at];
        },
      };
    }),
  });
}

/** Options of {@linkcode loadMnist} and {@linkcode loadFashionMnist}. */
export interface IdxDatasetOptions extends LoadOptions {
  /** Training images [0, numTraining) of the training file. Default 59,000. */
  numTraining?: number;
  /** Validation images: the last numValidation of the training file. Default 1,000. */
  numValidation?: number;
  /** The first numTest images of the t10k file (0 skips the t10k files). Default 10,000. */
  numTest?: number;
}

async function loadIdxDataset(
  where: string,
  name: string,
  classNames: readonly string[],
  dir: string,
  options: IdxDatasetOptions,
): Promise<Dataset> {
  const numTraining = options.numTraining ?? 59000;
  const numValidation = options.numValidation ?? 1000;
  const numTest = options.numTest ?? 10000;
  const subtractMean = options.subtractMean ?? true;
  const dtype = checkDType(where, options.dtype ?? "float32");
  checkCount(where, "numTraining", numTraining, 0, Number.MAX_SAFE_INTEGER);
  checkCount(where, "numValidation", numValidation, 0, Number.MAX_SAFE_INTEGER);
  checkCount(where, "numTest", numTest, 0, Number.MAX_SAFE_INTEGER);
  if (subtractMean && numTraining === 0) {
    throw new RangeError(
      `${where}: numTraining 0 leaves no training images to take the mean of (set subtractMean false)`,
    );
  }
  if (!(await exists(dir))) throw new Error(`${where}: directory ${dir} not found`);

  const names = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte"];
  if (numTest > 0) names.push("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte");
  const paths: string[] = [];
  const missing: string[] = [];
  for (const n of names) {
    const p = await findDataFile(dir, n);
    if (p) paths.push(p);
    else missing.push(`${n} (or ${n}.gz)`);
  }
  if (missing.length > 0) {
    const why = numTest > 0 ? "" : " (numTest 0 needs only the training files)";
    throw new Error(`${where}: ${dir} is missing ${missing.join(", ")}${why}`);
  }

  // What a header promises must be in its file before anything is compared or allocated for it.
  const readChecked = async (path: string, ndim: number) => {
    const h = await readIdxHeader(path, ndim, where);
    await checkIdxFile(h, where);
    return h;
  };
  const trainImages = await readChecked(paths[0], 3);
  const trainLabels = await readChecked(paths[1], 1);
  const nTrain = trainImages.dims[0];
  if (trainLabels.dims[0] !== nTrain) {
    throw new DatasetFormatError(
      `${where}: ${paths[0]} holds ${nTrain} images (byte 4) but ${paths[1]} holds ${
        trainLabels.dims[0]
      } labels (byte 4)`,
    );
  }
  const fewer = (path: string, n: number, what: string, asked: number) =>
    new DatasetFormatError(
      `${where}: ${path}: holds ${n} images (header field at byte 4), fewer than the ${asked} of ${what}`,
    );
  if (numTraining + numValidation > nTrain) {
    throw fewer(paths[0], nTrain, "numTraining + numValidation", numTraining + numValidation);
  }
  const [, rows, cols] = trainImages.dims;
  const image = [1, rows, cols];

  let testImages: IdxHeader | undefined;
  let testLabels: IdxHeader | undefined;
  if (numTest > 0) {
    testImages = await readChecked(paths[2], 3);
    testLabels = await readChecked(paths[3], 1);
    const nTest = testImages.dims[0];
    if (testLabels.dims[0] !== nTest) {
      throw new DatasetFormatError(
        `${where}: ${paths[2]} holds ${nTest} images (byte 4) but ${paths[3]} holds ${
          testLabels.dims[0]
        } labels (byte 4)`,
      );
    }
    if (testImages.dims[1] !== rows || testImages.dims[2] !== cols) {
      throw new DatasetFormatError(
        `${where}: ${paths[2]} holds ${testImages.dims[1]}×${testImages.dims[2]} images (bytes 8–15) but ${
          paths[0]
        } holds ${rows}×${cols}`,
      );
    }
    if (numTest > nTest) throw fewer(paths[2], nTest, "numTest", numTest);
  }

  const xTrain = allocateImages([numTraining, ...image], dtype, "xTrain");
  const yTrain = allocateLabels(numTraining, "yTrain");
  const xVal = allocateImages([numValidation, ...image], dtype, "xVal");
  const yVal = allocateLabels(numValidation, "yVal");
  const first = nTrain - numValidation;
  await readIdxImages(trainImages, [
    { first: 0, count: numTraining, x: xTrain },
    { first, count: numValidation, x: xVal },
  ], where);
  await readIdxLabels(
    trainLabels,
    [
      { first: 0, count: numTraining, y: yTrain },
      { first, count: numValidation, y: yVal },
    ],
    classNames.length,
    where,
  );
  let xTest: Tensor | undefined;
  let yTest: Int32Array | undefined;
  if (testImages && testLabels) {
    xTest = allocateImages([numTest, ...image], dtype, "xTest");
    yTest = allocateLabels(numTest, "yTest");
    await readIdxImages(testImages, [{ first: 0, count: numTest, x: xTest }], where);
    await readIdxLabels(testLabels, [{ first: 0, count: numTest, y: yTest }], classNames.length, where);
  }
  const meanImage = subtractMean ? subtractTrainingMean(xTrain, xTest ? [xVal, xTest] : [xVal], where) : undefined;
  return {
    name,
    classNames: [...classNames],
    xTrain,
    yTrain,
    xVal,
    yVal,
    ...(xTest ? { xTest, yTest } : {}),
    ...(meanImage ? { meanImage } : {}),
    source: dir,
  };
}

/**
 * Loads MNIST from the IDX files in `dir` (plain or `.gz`):
 *
 * - `xTrain`: training images [0, numTraining);
 * - `xVal`: the LAST numValidation training images, [N − numValidation, N)
 *   with N = 60,000 (so training and validation never overlap:
 *   numTraining + numValidation ≤ N);
 * - `xTest`: the first numTest t10k images (left out, and the t10k files
 *   not needed, when 0);
 * - all `(N, 1, 28, 28)`, values 0–255 minus (with `subtractMean`) the mean
 *   image of `xTrain` (computed in float64), stored as `dtype`.
 *
 * Class names are the digits "0" to "9".
 */
export async function loadMnist(dir: string, options: IdxDatasetOptions = {}): Promise<Dataset> {
  return await loadIdxDataset("loadMnist", "mnist", MNIST_CLASS_NAMES, dir, options);
}

/**
 * Loads Fashion-MNIST from the IDX files in `dir` (plain or `.gz`), by
 * default from {@linkcode DEBIAN_FASHION_MNIST_DIR}, where Debian's
 * `dataset-fashion-mnist` package puts them. Splits, shapes and mean
 * subtraction as {@linkcode loadMnist}; class names are
 * {@linkcode FASHION_MNIST_CLASS_NAMES}.
 *
 * @example
 * ```ts ignore
 * import { assertEquals } from "@std/assert";
 * import { loadFashionMnist } from "./idx.ts";
 *
 * const data = await loadFashionMnist(undefined, { numTraining: 5000, numTest: 1000 });
 * assertEquals(data.xTrain.shape, [5000, 1, 28, 28]);
 * ```
 */
export async function loadFashionMnist(
  dir: string = DEBIAN_FASHION_MNIST_DIR,
  options: IdxDatasetOptions = {},
): Promise<Dataset> {
  return await loadIdxDataset("loadFashionMnist", "fashion-mnist", FASHION_MNIST_CLASS_NAMES, dir, options);
}
