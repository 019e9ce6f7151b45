/**
 * Helpers the models share (Deno std's `_name.ts` convention: public only so
 * that sibling files can use them).
 *
 * @module
 */

import type { BatchnormParam } from "../batchnorm.ts";
import { l2Data } from "../kernels/elementwise.ts";
import { astype, clone, type DType, formatShape, type Tensor } from "../tensor.ts";

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

/**
 * Copies of the running averages of the batch-norm layers `bnParams` (`[i, param]` pairs), keyed
 * `runningMean<i>` and `runningVar<i>`: a model's `state()`. `{}` without batch norm.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { array } from "../tensor.ts";
 * import { runningAverages } from "./_model_helpers.ts";
 * const state = runningAverages([[1, { mode: "train", runningMean: array([0.5]), runningVar: array([2]) }]]);
 * assertEquals(Object.keys(state), ["runningMean1", "runningVar1"]);
 * ```
 */
export function runningAverages(bnParams: Iterable<[number, BatchnormParam]>): Record<string, Tensor> {
  const state: Record<string, Tensor> = {};
  for (const [i, bn] of bnParams) {
    state[`runningMean${i}`] = clone(bn.runningMean!);
    state[`runningVar${i}`] = clone(bn.runningVar!);
  }
  return state;
}

/**
 * Restores the running averages of `bnParams` from what `runningAverages` returned, converted to `dtype`: a
 * model's `loadState(state)`. Every key must be there and no other, each a vector of its layer's width;
 * otherwise it throws, naming `where`, and changes nothing.
 *
 * @example
 * ```ts
 * import { assertThrows } from "@std/assert";
 * import { array } from "../tensor.ts";
 * import { loadRunningAverages } from "./_model_helpers.ts";
 * const bn = { mode: "train" as const, runningMean: array([0]), runningVar: array([1]) };
 * loadRunningAverages("Net.loadState", [[1, bn]], { runningMean1: array([3]), runningVar1: array([4]) }, "float64");
 * assertThrows(() => loadRunningAverages("Net.loadState", [[1, bn]], {}, "float64"), Error, "missing runningMean1");
 * ```
 */
export function loadRunningAverages(
  where: string,
  bnParams: Iterable<[number, BatchnormParam]>,
  state: Record<string, Tensor>,
  dtype: DType,
): void {
  const layers = [...bnParams];
  const expected = Object.keys(runningAverages(layers));
  const extra = Object.keys(state).filter((k) => !expected.includes(k));
  const missing = expected.filter((k) => !(k in state));
  if (extra.length > 0 || missing.length > 0) {
    throw new Error(
      `${where}: expected keys ${expected.join(", ") || "(none)"}; missing ${missing.join(", ") || "none"}, unknown ${
        extra.join(", ") || "none"
      }`,
    );
  }
  for (const [i, bn] of layers) {
    for (const [key, field] of [[`runningMean${i}`, "runningMean"], [`runningVar${i}`, "runningVar"]] as const) {
      const t = state[key], want = bn[field]!.shape;
      if (t.ndim !== 1 || t.shape[0] !== want[0]) {
        throw new RangeError(`${where}: ${key} ${formatShape(t.shape)} must have shape ${formatShape(want)}`);
      }
    }
  }
  for (const [i, bn] of layers) {
    bn.runningMean = astype(state[`runningMean${i}`], dtype);
    bn.runningVar = astype(state[`runningVar${i}`], dtype);
  }
}
