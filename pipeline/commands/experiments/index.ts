/**
 * The registry of `deno task experiment`: every experiment of the course's
 * notebooks by its command-line name, in the order the notebooks run them,
 * and `cifar10`, which goes beyond them.
 *
 * @module
 */

import { batchSizeExperiment } from "./batch_size.ts";
import { batchnormExperiment } from "./batchnorm.ts";
import { cifar10Experiment } from "./cifar10.ts";
import type { Experiment } from "./common.ts";
import { convFiltersExperiment } from "./conv_filters.ts";
import { convnetExperiment, convnetOverfitExperiment } from "./convnet.ts";
import { dropoutExperiment } from "./dropout.ts";
import { gradcheckExperiment } from "./gradcheck.ts";
import { layernormExperiment } from "./layernorm.ts";
import { weightScaleExperiment } from "./weight_scale.ts";

export type { Experiment, ExperimentOptions, ExperimentOutcome, ExperimentReport } from "./common.ts";

/** Every experiment, in notebook order. */
export const EXPERIMENTS: readonly Experiment[] = Object.freeze([
  batchnormExperiment,
  weightScaleExperiment,
  batchSizeExperiment,
  layernormExperiment,
  dropoutExperiment,
  convnetOverfitExperiment,
  convnetExperiment,
  gradcheckExperiment,
  convFiltersExperiment,
  cifar10Experiment,
]);

/** The experiment called `name`, or undefined. */
export function findExperiment(name: string): Experiment | undefined {
  return EXPERIMENTS.find((e) => e.name === name);
}
