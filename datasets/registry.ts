/**
 * The dataset formats by name: one table from which the `--dataset` spec
 * grammar (`NAME` or `NAME:DIR`), the help text, the command-line checks and
 * {@linkcode loadDataset} all derive. A new format is one entry here plus
 * its loader.
 *
 * @module
 */

import { loadCifar10 } from "./cifar10.ts";
import type { Dataset } from "./dataset.ts";
import { loadFashionMnist, loadMnist } from "./idx.ts";
import { loadSample } from "./sample.ts";
import type { LoadOptions } from "./split.ts";

/** A dataset format: how its spec is written, what its images are, and its loader. */
export interface DatasetFormat {
  /** The spec's name part (`sample`, `cifar10`, …). */
  readonly name: string;
  /** Whether the spec takes `:DIR`: never, optionally (a default directory) or always. */
  readonly dir: "none" | "optional" | "required";
  /** One image's shape `(C, H, W)`. */
  readonly imageShape: readonly [number, number, number];
  /** Classes. */
  readonly numClasses: number;
  /** The most training examples the format can supply. */
  readonly maxTraining: number;
  /** Its whole training split, as the loader takes it by default (what `--num-train` defaults to). */
  readonly trainingSplit: number;
  /** Loads it; `dir` is what follows the first colon (undefined without one). */
  load(dir: string | undefined, options: LoadOptions): Promise<Dataset>;
}

/** The formats, in the order help texts list them. */
export const DATASET_FORMATS: readonly DatasetFormat[] = Object.freeze(
  [
    {
      name: "sample",
      dir: "none",
      imageShape: [3, 32, 32],
      numClasses: 10,
      maxTraining: 1000,
      trainingSplit: 1000,
      load: (_dir, options) => loadSample(options),
    },
    {
      name: "cifar10",
      dir: "required",
      imageShape: [3, 32, 32],
      numClasses: 10,
      maxTraining: 50000,
      trainingSplit: 49000,
      load: (dir, options) => loadCifar10(dir!, options),
    },
    {
      name: "fashion-mnist",
      dir: "optional",
      imageShape: [1, 28, 28],
      numClasses: 10,
      maxTraining: 60000,
      trainingSplit: 59000,
      load: (dir, options) => loadFashionMnist(dir, options),
    },
    {
      name: "mnist",
      dir: "required",
      imageShape: [1, 28, 28],
      numClasses: 10,
      maxTraining: 60000,
      trainingSplit: 59000,
      load: (dir, options) => loadMnist(dir!, options),
    },
  ] satisfies DatasetFormat[],
);

/**
 * The spec forms {@linkcode loadDataset} accepts, derived from {@link DATASET_FORMATS}.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { DATASET_SPECS } from "./registry.ts";
 * assertEquals(DATASET_SPECS, ["sample", "cifar10:DIR", "fashion-mnist", "fashion-mnist:DIR", "mnist:DIR"]);
 * ```
 */
export const DATASET_SPECS: readonly string[] = Object.freeze(
  DATASET_FORMATS.flatMap((f) =>
    f.dir === "none" ? [f.name] : f.dir === "required" ? [`${f.name}:DIR`] : [f.name, `${f.name}:DIR`]
  ),
);

/** A dataset spec that names no format, or names one in a form it does not take. */
export class DatasetSpecError extends Error {
  /** The spec as given. */
  readonly spec: string;

  /** Builds the error; `message` names the spec and the accepted forms. */
  constructor(spec: string, message: string) {
    super(message);
    this.name = "DatasetSpecError";
    this.spec = spec;
  }
}

/**
 * Splits `spec` into its format and directory (everything after the first colon).
 *
 * @throws DatasetSpecError for an unknown name, an empty DIR, or a DIR where the format takes none (and the reverse)
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { parseDatasetSpec } from "./registry.ts";
 * const { format, dir } = parseDatasetSpec("cifar10:/data/cifar-10-batches-bin");
 * assertEquals([format.name, dir], ["cifar10", "/data/cifar-10-batches-bin"]);
 * ```
 */
export function parseDatasetSpec(spec: string): { format: DatasetFormat; dir: string | undefined } {
  const colon = spec.indexOf(":");
  const name = colon < 0 ? spec : spec.slice(0, colon);
  const dir = colon < 0 ? undefined : spec.slice(colon + 1);
  if (dir === "") {
    throw new DatasetSpecError(
      spec,
      `loadDataset: spec "${spec}" has an empty DIR; accepted: ${DATASET_SPECS.join(", ")}`,
    );
  }
  const format = DATASET_FORMATS.find((f) => f.name === name);
  if (format === undefined || (format.dir === "none" && dir !== undefined) || (format.dir === "required" && !dir)) {
    throw new DatasetSpecError(
      spec,
      `loadDataset: unknown dataset spec "${spec}"; accepted: ${DATASET_SPECS.join(", ")}`,
    );
  }
  return { format, dir };
}

/**
 * Loads the dataset named by `spec` (see {@link DATASET_FORMATS}):
 *
 * - `sample`: the embedded CIFAR-10 sample (no test split, so `numTest` must be unset or 0);
 * - `cifar10:DIR`: CIFAR-10 binary batches in DIR;
 * - `fashion-mnist` or `fashion-mnist:DIR`: Fashion-MNIST IDX files, by default from Debian's
 *   `/usr/share/datasets/fashion-mnist`;
 * - `mnist:DIR`: MNIST IDX files in DIR.
 *
 * DIR is everything after the first colon. `options` go to the loader.
 *
 * @throws DatasetSpecError for a spec no format takes; whatever the loader throws
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { loadDataset } from "./registry.ts";
 * const data = await loadDataset("sample", { numTraining: 500 });
 * assertEquals([data.name, data.xTrain.shape[0]], ["cifar10-sample", 500]);
 * ```
 */
export async function loadDataset(spec: string, options: LoadOptions = {}): Promise<Dataset> {
  const { format, dir } = parseDatasetSpec(spec);
  return await format.load(dir, options);
}
