/**
 * The labels type the losses, the models and the pipeline share. It sits
 * below `models/` so that a loss never imports a model.
 *
 * @module
 */

/**
 * Class labels of a minibatch: one integer in [0, numClasses) per example.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import type { Labels } from "./labels.ts";
 * const y: Labels = Int32Array.from([3, 0, 9]);
 * assertEquals(y.length, 3);
 * ```
 */
export type Labels = Int32Array;
