/**
 * Helpers the models share (Deno std's `_name.ts` convention: public only so
 * that sibling files can use them).
 *
 * @module
 */

import { l2Data } from "../kernels/elementwise.ts";
import type { Tensor } from "../tensor.ts";

/**
 * Throws a `RangeError` naming `where` and `name` unless `v` is a positive integer.
 *
 * @example
 * ```ts
 * import { assertThrows } from "@std/assert";
 * import { checkPositiveInteger } from "./_model_helpers.ts";
 * checkPositiveInteger("Net", "numClasses", 10);
 * assertThrows(() => checkPositiveInteger("Net", "numClasses", 0), RangeError, "Net: numClasses 0 is not a positive integer");
 * ```
 */
export function checkPositiveInteger(where: string, name: string, v: number): void {
  if (!Number.isInteger(v) || v <= 0) throw new RangeError(`${where}: ${name} ${v} is not a positive integer`);
}

/**
 * Adds the gradient of `0.5·reg·ΣW²` (`reg·W`) to `dW` in place and returns
 * that penalty. `w` and `dW` share one shape; reg 0 touches nothing.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { Tensor } from "../tensor.ts";
 * import { addL2 } from "./_model_helpers.ts";
 * const w = new Tensor(Float64Array.from([1, 2]), [2]), dW = new Tensor(Float64Array.from([0, 0]), [2]);
 * assertEquals(addL2(w, dW, 0.5), 1.25);
 * assertEquals([...dW.data], [0.5, 1]);
 * ```
 */
export function addL2(w: Tensor, dW: Tensor, reg: number): number {
  if (reg === 0) return 0;
  // ΣW² in fixed blocks whatever the thread count (see l2Data), so the loss is the same bits on 1 or 2 threads.
  return 0.5 * reg * l2Data(w.data, dW.data, reg);
}
