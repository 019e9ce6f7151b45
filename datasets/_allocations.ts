/**
 * The output buffers the loaders allocate, through one place, so that tests
 * can bound memory by what readers ask for (a property of the readers: no
 * file, whatever its header says, makes them allocate more than a small
 * multiple of its size).
 *
 * @module
 */

import { type DType, type Tensor, zeros } from "../layers/tensor.ts";

type Observer = (bytes: number, what: string) => void;
const observers = new Set<Observer>();

/**
 * Calls `observer` with the size in bytes of every output buffer allocated
 * through this module until the returned function is called.
 */
export function watchAllocations(observer: Observer): () => void {
  observers.add(observer);
  return () => observers.delete(observer);
}

/** `zeros(shape, dtype)`, reported to the observers first. */
export function allocateImages(shape: number[], dtype: DType, what: string): Tensor {
  const bytes = shape.reduce((p, d) => p * d, 1) * (dtype === "float32" ? 4 : 8);
  for (const o of observers) o(bytes, what);
  return zeros(shape, dtype);
}

/** `new Int32Array(n)`, reported to the observers first. */
export function allocateLabels(n: number, what: string): Int32Array {
  for (const o of observers) o(4 * n, what);
  return new Int32Array(n);
}
