/**
 * Memory the fast layers reuse from one call to the next: grow-only scratch
 * arrays for temporaries that die with the call, and `Workspace`, the tensors
 * a model lends its layers from one training step to the next.
 *
 * @module
 */

import { type Data, type DType, type Tensor, zeros } from "../tensor.ts";

/**
 * The scratch slots, one per kind of temporary, so that two users of one
 * call never share an array: the column matrix of a convolution chunk, its
 * transposed upstream gradient, the column gradient, maxima recomputed by the
 * pooling backward pass, the transposed weight gradient, the zero-padded
 * image `im2col` reads and `col2im` sums into, and the per-chunk partial
 * weight gradients of the convolution's backward pass.
 */
export const SCRATCH_SLOTS = { cols: 0, product: 1, dcols: 2, maxima: 3, dwT: 4, padded: 5, dwParts: 6 } as const;

/** A scratch slot: one of the values of `SCRATCH_SLOTS`. */
export type ScratchSlot = typeof SCRATCH_SLOTS[keyof typeof SCRATCH_SLOTS];

const scratch: Record<DType, Data[]> = { float32: [], float64: [] };

/**
 * A module-level scratch array of `dtype` with at least `length` elements,
 * one per `slot`: it grows when asked for more and is otherwise handed out
 * again, so that the fast layers allocate no temporaries in steady state.
 * The contents are garbage; a later call with the same slot and dtype may
 * reuse (overwrite) it, so never keep it past the call that asked.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { SCRATCH_SLOTS, scratchBuffer } from "./scratch.ts";
 * const a = scratchBuffer("float32", SCRATCH_SLOTS.cols, 8);
 * assert(a.length >= 8);
 * assert(scratchBuffer("float32", SCRATCH_SLOTS.cols, 4) === a); // reused, not reallocated
 * ```
 */
export function scratchBuffer(dtype: DType, slot: ScratchSlot, length: number): Data {
  const pool = scratch[dtype];
  const have = pool[slot];
  if (have !== undefined && have.length >= length) return have;
  const fresh = dtype === "float32" ? new Float32Array(length) : new Float64Array(length);
  pool[slot] = fresh;
  return fresh;
}

/**
 * Internal: tensors a model lends its layers from one training step to the
 * next, by name. A step's big intermediates (a conv layer's output, its ReLU
 * and pooled outputs, their gradients) are dead once the model's `loss` has
 * returned, and fresh ones cost the page faults of tens of megabytes every
 * step (an `ArrayBuffer`'s memory is given back on collection and faulted in
 * again when touched); taken from here they reuse the previous step's. Only
 * a caller that owns every cache the tensors end up in (a model's `loss`,
 * which returns none of them) may use one. Not part of the public API.
 */
export class Workspace {
  readonly #tensors = new Map<string, Tensor>();
  readonly #ints = new Map<string, Int32Array>();

  /**
   * The tensor named `name` if it has `shape` and `dtype`, else a new one
   * (zeros) that replaces it. Its contents are whatever the last user left:
   * callers overwrite or zero every element.
   */
  tensor(name: string, shape: readonly number[], dtype: DType): Tensor {
    const have = this.#tensors.get(name);
    if (have !== undefined && have.dtype === dtype && sameShape(have.shape, shape)) return have;
    const fresh = zeros(shape, dtype);
    this.#tensors.set(name, fresh);
    return fresh;
  }

  /** As `tensor`, for an Int32Array of `length` (argmax indices). */
  ints(name: string, length: number): Int32Array {
    const have = this.#ints.get(name);
    if (have !== undefined && have.length === length) return have;
    const fresh = new Int32Array(length);
    this.#ints.set(name, fresh);
    return fresh;
  }
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}
