/**
 * The defaults of `deno task train`, one table per model: a flag left out
 * takes its model's value, so `--model cnn` trains the course's
 * `ThreeLayerConvNet` as the notebook does (weight scale 1e-3, 32 filters
 * 7×7, hidden 100, reg 0, one epoch of batch 50, Adam at 1e-3), not with the
 * fully connected net's weight scale. The fully connected net's defaults are
 * the course's batch-normalization experiment.
 *
 * `--num-train` has no number here: by default a run trains on the
 * dataset's whole training split (49,000 CIFAR-10 images, the sample's 1,000).
 *
 * @module
 */

import type { NameSpelling } from "./run_names.ts";

/** The models `train` builds, by their command-line names. */
export type ModelName = "fc" | "cnn" | "sequential";

/** The settings a model's defaults fix (the rest are shared by every model). */
export interface ModelDefaults {
  /** fc: hidden layer sizes. */
  hiddenDims?: readonly number[];
  /** fc: normalization after each hidden layer. */
  normalization?: "batchnorm" | "layernorm" | "none";
  /** fc: probability of dropping a hidden unit. */
  dropout?: number;
  /** cnn: filters of the conv layer. */
  numFilters?: number;
  /** cnn: odd filter size. */
  filterSize?: number;
  /** cnn: units of the hidden affine layer. */
  hiddenDim?: number;
  /** Standard deviation of the initial weights, or `"kaiming"` (√(2/fan-in), Sequential nets only). */
  weightScale: number | "kaiming";
  /** L2 regularization strength. */
  reg: number;
  /** Update rule (command-line name). */
  updateRule: string;
  /** Initial learning rate. */
  learningRate: number;
  /** Epochs. */
  epochs: number;
  /** Minibatch size. */
  batchSize: number;
}

/** Each model's defaults (see the module docs). */
export const MODEL_DEFAULTS: Readonly<Record<ModelName, Readonly<ModelDefaults>>> = Object.freeze({
  fc: Object.freeze({
    hiddenDims: Object.freeze([100, 100, 100, 100, 100]),
    normalization: "batchnorm",
    dropout: 0,
    weightScale: 2e-2,
    reg: 0,
    updateRule: "adam",
    learningRate: 1e-3,
    epochs: 10,
    batchSize: 50,
  }),
  cnn: Object.freeze({
    numFilters: 32,
    filterSize: 7,
    hiddenDim: 100,
    weightScale: 1e-3,
    reg: 0,
    updateRule: "adam",
    learningRate: 1e-3,
    epochs: 1,
    batchSize: 50,
  }),
  // A net of the course's layers from --model SPEC|FILE: He initialization suits any depth of ReLU layers.
  sequential: Object.freeze({
    weightScale: "kaiming",
    reg: 0,
    updateRule: "adam",
    learningRate: 1e-3,
    epochs: 10,
    batchSize: 50,
  }),
});

/**
 * `(default 0.02 for fc, 0.001 for cnn, kaiming for SPEC)`, or `(default 10)` when the models
 * agree: how `--help` shows a model-dependent default.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { defaultsText } from "./model_defaults.ts";
 * assertEquals(defaultsText("weightScale"), "(default 0.02 for fc, 0.001 for cnn, kaiming for SPEC)");
 * assertEquals(defaultsText("updateRule"), "(default adam)");
 * assertEquals(defaultsText("hiddenDims"), "(default 100,100,100,100,100)");
 * ```
 */
export function defaultsText(key: keyof ModelDefaults): string {
  const shown = (Object.keys(MODEL_DEFAULTS) as ModelName[])
    .filter((m) => MODEL_DEFAULTS[m][key] !== undefined)
    // A Sequential net is named by its spec on the command line (--model SPEC).
    .map((m) => ({ model: m === "sequential" ? "SPEC" : m, text: String(MODEL_DEFAULTS[m][key]) }));
  if (shown.length === 1 || new Set(shown.map((s) => s.text)).size === 1) return `(default ${shown[0].text})`;
  return `(default ${shown.map((s) => `${s.text} for ${s.model}`).join(", ")})`;
}

/**
 * How a `train` run's settings are written in its default folder name, in
 * order; the keys are `TrainConfig`'s. Settings not listed (dtype, …) are
 * still in the name's hash.
 */
export const TRAIN_NAME_SPELLINGS: readonly NameSpelling[] = Object.freeze([
  { key: "hiddenDims", short: "h" },
  { key: "normalization", short: "", values: { none: "no-norm" } },
  { key: "dropout", short: "dropout" },
  { key: "numFilters", short: "f" },
  { key: "filterSize", short: "k" },
  { key: "hiddenDim", short: "h" },
  { key: "updateRule", short: "" },
  { key: "learningRate", short: "lr" },
  { key: "lrDecay", short: "decay" },
  { key: "weightScale", short: "ws" },
  { key: "reg", short: "reg" },
  { key: "batchSize", short: "b" },
  { key: "epochs", short: "e" },
  { key: "numTrain", short: "n" },
  { key: "numVal", short: "nval" },
  { key: "shuffle", short: "shuffle" },
  { key: "dtype", short: "" },
  { key: "checkEvery", short: "check" },
  { key: "augment", short: "aug-" },
  { key: "lrSchedule", short: "" },
  { key: "nesterov", short: "nesterov" },
  { key: "weightDecay", short: "wd" },
  { key: "seed", short: "s" },
]);
