/**
 * A small n-dimensional array: a shape plus one contiguous, row-major typed
 * array. Only what the layers need lives here.
 *
 * @module
 */

import { keepFreedMemory } from "./memory.ts";

/** The element types gradstream computes in. */
export type DType = "float32" | "float64";

/** The storage behind a tensor: one contiguous typed array. */
export type Data = Float32Array | Float64Array;

/** A nested array of numbers, as `array` takes and `toNested` gives. */
export type Nested = number | Nested[];

/**
 * An n-dimensional array: `shape` plus one contiguous row-major `data` array.
 *
 * Tensors are plain views: `reshape` shares `data`, every other helper
 * allocates a new array.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { Tensor } from "./tensor.ts";
 *
 * const t = new Tensor(new Float64Array([1, 2, 3, 4, 5, 6]), [2, 3]);
 * assertEquals([t.size, t.dtype], [6, "float64"]);
 * ```
 */
export class Tensor {
  /** The row-major elements. */
  readonly data: Data;
  /** The extent of each axis. */
  readonly shape: readonly number[];

  /** Wraps `data` as a tensor of `shape`; their sizes must agree. */
  constructor(data: Data, shape: readonly number[]) {
    const size = shapeSize(shape, "Tensor");
    if (size !== data.length) {
      throw new RangeError(
        `Tensor: shape ${formatShape(shape)} holds ${size} elements but data has ${data.length}`,
      );
    }
    this.data = data;
    this.shape = Object.freeze([...shape]);
  }

  /** `"float32"` or `"float64"`, read off the storage. */
  get dtype(): DType {
    return this.data instanceof Float32Array ? "float32" : "float64";
  }

  /** Number of elements. */
  get size(): number {
    return this.data.length;
  }

  /** Number of axes. */
  get ndim(): number {
    return this.shape.length;
  }

  /** Shows shape and dtype, as in error messages. */
  toString(): string {
    return `Tensor${formatShape(this.shape)} ${this.dtype}`;
  }
}

/** Formats a shape the way numpy prints it: `(2, 3)`, `(5,)`. */
export function formatShape(shape: readonly number[]): string {
  return shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(", ")})`;
}

function shapeSize(shape: readonly number[], where: string): number {
  let size = 1;
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) {
      throw new RangeError(`${where}: shape ${formatShape(shape)} has an axis that is not a non-negative integer`);
    }
    size *= d;
  }
  return size;
}

/**
 * Allocates the typed array of `dtype` with `length` zeros. The first large
 * one asks the allocator to keep freed memory for reuse (`keepFreedMemory`),
 * so that a training loop's fresh arrays cost no page faults.
 */
export function allocData(dtype: DType, length: number): Data {
  if (length >= 1 << 15 && !allocatorTuned) {
    allocatorTuned = true;
    keepFreedMemory();
  }
  return dtype === "float32" ? new Float32Array(length) : new Float64Array(length);
}

let allocatorTuned = false;

/** A tensor of zeros. `dtype` defaults to float64. */
export function zeros(shape: readonly number[], dtype: DType = "float64"): Tensor {
  return new Tensor(allocData(dtype, shapeSize(shape, "zeros")), shape);
}

/** A tensor of zeros with `t`'s shape and dtype (or another shape). */
export function zerosLike(t: Tensor, shape: readonly number[] = t.shape): Tensor {
  return zeros(shape, t.dtype);
}

/** A tensor filled with `value`. */
export function full(shape: readonly number[], value: number, dtype: DType = "float64"): Tensor {
  const t = zeros(shape, dtype);
  t.data.fill(value);
  return t;
}

/** A copy of `t` with its own storage. */
export function clone(t: Tensor): Tensor {
  return new Tensor(t.data.slice(), t.shape);
}

/** `t` converted to `dtype` (a copy, even when the dtype already matches). */
export function astype(t: Tensor, dtype: DType): Tensor {
  const out = allocData(dtype, t.size);
  out.set(t.data);
  return new Tensor(out, t.shape);
}

/**
 * Builds a tensor from nested number arrays, as `np.array(nested)` does.
 * Ragged input is an error.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { array } from "./tensor.ts";
 *
 * assertEquals(array([[1, 2], [3, 4]]).shape, [2, 2]);
 * ```
 */
export function array(nested: Nested, dtype: DType = "float64"): Tensor {
  const shape: number[] = [];
  let probe: Nested = nested;
  while (Array.isArray(probe)) {
    shape.push(probe.length);
    if (probe.length === 0) break;
    probe = probe[0];
  }
  const data = allocData(dtype, shapeSize(shape, "array"));
  let i = 0;
  const fill = (node: Nested, depth: number, path: string): void => {
    if (depth === shape.length) {
      if (typeof node !== "number") throw new TypeError(`array: element at ${path} is not a number`);
      data[i++] = node;
      return;
    }
    if (!Array.isArray(node) || node.length !== shape[depth]) {
      throw new RangeError(`array: ragged input at ${path}: expected ${shape[depth]} elements on axis ${depth}`);
    }
    for (let j = 0; j < node.length; j++) fill(node[j], depth + 1, `${path}[${j}]`);
  };
  fill(nested, 0, "");
  return new Tensor(data, shape);
}

/** Turns a tensor back into nested number arrays (a scalar for shape `[]`). */
export function toNested(t: Tensor): Nested {
  const build = (depth: number, offset: number): Nested => {
    if (depth === t.shape.length) return t.data[offset];
    let stride = 1;
    for (let d = depth + 1; d < t.shape.length; d++) stride *= t.shape[d];
    const out: Nested[] = [];
    for (let j = 0; j < t.shape[depth]; j++) out.push(build(depth + 1, offset + j * stride));
    return out;
  };
  return build(0, 0);
}

/**
 * The same data seen with another shape; no copy. One axis may be -1 and is
 * inferred, as in numpy.
 */
export function reshape(t: Tensor, shape: readonly number[]): Tensor {
  const inferred = shape.indexOf(-1);
  if (inferred >= 0) {
    const rest = shape.reduce((p, d, i) => (i === inferred ? p : p * d), 1);
    if (rest === 0 || t.size % rest !== 0) {
      throw new RangeError(`reshape: cannot reshape ${t} into ${formatShape(shape)}`);
    }
    shape = shape.map((d, i) => (i === inferred ? t.size / rest : d));
  }
  if (shapeSize(shape, "reshape") !== t.size) {
    throw new RangeError(`reshape: cannot reshape ${t} into ${formatShape(shape)}`);
  }
  return new Tensor(t.data, shape);
}

/**
 * Permutes the axes of `t` (a copy), as `np.transpose(t, axes)` followed by
 * `np.ascontiguousarray`.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { array, toNested, transpose } from "./tensor.ts";
 *
 * assertEquals(toNested(transpose(array([[1, 2, 3]]), [1, 0])), [[1], [2], [3]]);
 * ```
 */
export function transpose(t: Tensor, axes: readonly number[]): Tensor {
  const nd = t.ndim;
  if (axes.length !== nd || [...axes].sort((a, b) => a - b).some((a, i) => a !== i)) {
    throw new RangeError(`transpose: axes [${axes.join(", ")}] are not a permutation of the ${nd} axes of ${t}`);
  }
  const outShape = axes.map((a) => t.shape[a]);
  const inStrides = stridesOf(t.shape);
  const permStrides = axes.map((a) => inStrides[a]);
  const out = allocData(t.dtype, t.size);
  const src = t.data;
  const idx = new Array(nd).fill(0);
  let offset = 0;
  for (let i = 0; i < out.length; i++) {
    out[i] = src[offset];
    for (let d = nd - 1; d >= 0; d--) {
      idx[d]++;
      offset += permStrides[d];
      if (idx[d] < outShape[d]) break;
      offset -= permStrides[d] * outShape[d];
      idx[d] = 0;
    }
  }
  return new Tensor(out, outShape);
}

/** Row-major strides (in elements) of `shape`. */
export function stridesOf(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    strides[d] = s;
    s *= shape[d];
  }
  return strides;
}

/** `n` evenly spaced values from `start` to `stop` inclusive, as `np.linspace`. */
export function linspace(start: number, stop: number, n: number, dtype: DType = "float64"): Tensor {
  const t = zeros([n], dtype);
  const step = n > 1 ? (stop - start) / (n - 1) : 0;
  for (let i = 0; i < n; i++) t.data[i] = start + i * step;
  if (n > 1) t.data[n - 1] = stop;
  return t;
}

/** Throws unless `a` and `b` have the same shape; `where` names the caller. */
export function assertSameShape(a: Tensor, b: Tensor, where: string, names = ["a", "b"]): void {
  if (a.ndim !== b.ndim || a.shape.some((d, i) => d !== b.shape[i])) {
    throw new RangeError(
      `${where}: ${names[0]} ${formatShape(a.shape)} and ${names[1]} ${formatShape(b.shape)} must have the same shape`,
    );
  }
}

/** Elementwise `a + b` (same shapes). */
export function add(a: Tensor, b: Tensor): Tensor {
  assertSameShape(a, b, "add");
  const out = clone(a);
  const o = out.data, bd = b.data;
  for (let i = 0; i < o.length; i++) o[i] += bd[i];
  return out;
}

/** Elementwise `a − b` (same shapes). */
export function sub(a: Tensor, b: Tensor): Tensor {
  assertSameShape(a, b, "sub");
  const out = clone(a);
  const o = out.data, bd = b.data;
  for (let i = 0; i < o.length; i++) o[i] -= bd[i];
  return out;
}

/** Elementwise `a · b` (same shapes). */
export function mul(a: Tensor, b: Tensor): Tensor {
  assertSameShape(a, b, "mul");
  const out = clone(a);
  const o = out.data, bd = b.data;
  for (let i = 0; i < o.length; i++) o[i] *= bd[i];
  return out;
}

/** `s · t` for a scalar `s`. */
export function scale(t: Tensor, s: number): Tensor {
  const out = clone(t);
  const o = out.data;
  for (let i = 0; i < o.length; i++) o[i] *= s;
  return out;
}

/** Applies `f` to every element (a new tensor). Not for hot loops. */
export function map(t: Tensor, f: (v: number, i: number) => number): Tensor {
  const out = zerosLike(t);
  const o = out.data, src = t.data;
  for (let i = 0; i < o.length; i++) o[i] = f(src[i], i);
  return out;
}

/** Sum of all elements. */
export function sum(t: Tensor): number {
  let s = 0;
  const d = t.data;
  for (let i = 0; i < d.length; i++) s += d[i];
  return s;
}

/** Index of the largest element of each row of a 2-D tensor (first on ties). */
export function argmaxRows(t: Tensor): Int32Array {
  if (t.ndim !== 2) throw new RangeError(`argmaxRows: expected a 2-D tensor, got ${t}`);
  const [n, m] = t.shape;
  const out = new Int32Array(n);
  const d = t.data;
  for (let i = 0; i < n; i++) {
    let best = 0, bestV = d[i * m];
    for (let j = 1; j < m; j++) {
      if (d[i * m + j] > bestV) {
        bestV = d[i * m + j];
        best = j;
      }
    }
    out[i] = best;
  }
  return out;
}
