/**
 * What many tests share: reading the committed fixtures (tests/fixtures/,
 * each made by the Python script of the same name), turning their arrays
 * into tensors, and the error measures and assertions the tests print and
 * bound.
 *
 * @module
 */

import { assertEquals, assertLess, assertLessOrEqual } from "@std/assert";
import type { BatchnormParam } from "../layers/batchnorm.ts";
import { relError } from "../layers/gradient_check.ts";
import { Tensor } from "../layers/tensor.ts";
import type { TrainRecord } from "../pipeline/store/records.ts";
import { parseRunLog } from "../pipeline/store/run_log.ts";

/** An array as the fixture scripts write it: its shape and its values in row-major order. */
export interface Arr {
  shape: number[];
  data: number[];
}

/** A named case of a layer in a fixture: its input, output, upstream gradient and input gradient. */
export interface LayerCase {
  name: string;
  x: Arr;
  out: Arr;
  dout: Arr;
  dx: Arr;
}

/**
 * The parsed JSON of `tests/fixtures/<name>` (e.g. `"basic_layers.json"`).
 * Untyped unless `T` is given: each test describes the part it reads.
 */
// deno-lint-ignore no-explicit-any
export async function readFixture<T = any>(name: string): Promise<T> {
  return JSON.parse(await Deno.readTextFile(new URL(`./fixtures/${name}`, import.meta.url)));
}

/** The records of the run log `tests/fixtures/reports/<name>.ndjson`. */
export async function readRunFixture(name: string): Promise<TrainRecord[]> {
  return parseRunLog(await Deno.readTextFile(new URL(`./fixtures/reports/${name}.ndjson`, import.meta.url)));
}

/**
 * One case of tests/fixtures/norm_layers.json (PyTorch's batch, layer and
 * group norm in float64). Batch-norm cases carry `mode` and `momentum`, the
 * running averages going in (`…In`, when the case starts from some) and
 * coming out, and in test mode no gradients; group-norm cases carry `G`.
 */
export interface NormCase {
  mode?: "train" | "test";
  momentum?: number;
  G?: number;
  eps: number;
  x: Arr;
  gamma: Arr;
  beta: Arr;
  out: Arr;
  runningMeanIn?: Arr;
  runningVarIn?: Arr;
  runningMean?: Arr;
  runningVar?: Arr;
  dout: Arr;
  dx: Arr;
  dgamma: Arr;
  dbeta: Arr;
}

/** The cases of tests/fixtures/norm_layers.json, by layer and then by case name. */
export type NormCases = Record<
  "batchnorm" | "layernorm" | "spatialBatchnorm" | "spatialGroupnorm",
  Record<string, NormCase>
>;

/** Reads the cases of tests/fixtures/norm_layers.json (made by norm_layers.py with PyTorch). */
export async function readNormCases(): Promise<NormCases> {
  return (await readFixture("norm_layers.json")).cases;
}

/** The `bnParam` a batch-norm case starts from: its mode, momentum and eps, and its running averages if any. */
export function bnParamOf(c: NormCase): BatchnormParam {
  const bnParam: BatchnormParam = { mode: c.mode!, momentum: c.momentum, eps: c.eps };
  if (c.runningMeanIn && c.runningVarIn) {
    bnParam.runningMean = fixtureTensor(c.runningMeanIn);
    bnParam.runningVar = fixtureTensor(c.runningVarIn);
  }
  return bnParam;
}

/** A fixture array as a float64 tensor. */
export function fixtureTensor(a: Arr): Tensor {
  return new Tensor(Float64Array.from(a.data), a.shape);
}

/** Deterministic pseudo-random values in [-0.5, 0.5) (a linear congruential sequence from `seed`): tests need no RNG. */
export function filled(n: number, seed: number): Float64Array;
export function filled(
  n: number,
  seed: number,
  ctor: Float32ArrayConstructor | Float64ArrayConstructor,
): Float32Array | Float64Array;
export function filled(
  n: number,
  seed: number,
  ctor: Float32ArrayConstructor | Float64ArrayConstructor = Float64Array,
): Float32Array | Float64Array {
  const out = new ctor(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 32 - 0.5;
  }
  return out;
}

/** The largest `|a[i] − b[i]|` (for a float32 result against its float64 reference). */
export function maxAbsDiff(a: Tensor, b: Tensor): number {
  return Math.max(...Array.from(a.data, (v, i) => Math.abs(v - b.data[i])));
}

/**
 * Asserts that `out` reproduces a vector the notebook prints with 8 decimals:
 * every entry within half a unit of the 8th decimal, and the course's
 * relative error below 1e-7. Logs both under `label`.
 */
export function assertMatchesPrinted8(out: Tensor, printed: Tensor, label: string): void {
  const maxAbs = maxAbsDiff(out, printed), rel = relError(out, printed);
  console.log(`${label} notebook vector: rel error ${rel.toExponential(2)}, max abs ${maxAbs.toExponential(2)}`);
  assertLessOrEqual(maxAbs, 0.5e-8 * (1 + 1e-9));
  assertLess(rel, 1e-7);
}

/**
 * Asserts, for each named pair `[result, reference]`, that the result is
 * float32 and within `tol` of the float64 reference in every entry.
 */
export function assertFloat32Tracks(pairs: Record<string, readonly [Tensor, Tensor]>, tol: number): void {
  for (const [name, [a, b]] of Object.entries(pairs)) {
    assertEquals(a.dtype, "float32", name);
    assertLess(maxAbsDiff(a, b), tol, name);
  }
}

/** The course's relative error of two numbers: `|a − b| / max(1e-8, |a| + |b|)` (as `relError` for tensors). */
export function scalarRelError(a: number, b: number): number {
  return Math.abs(a - b) / Math.max(1e-8, Math.abs(a) + Math.abs(b));
}

/** `max |a − b| / max |b|`: agreement up to the scale of the reference (entries far below it may differ more). */
export function normwiseError(a: Tensor, b: Tensor): number {
  let diff = 0, scale = 0;
  for (let i = 0; i < b.size; i++) {
    diff = Math.max(diff, Math.abs(a.data[i] - b.data[i]));
    scale = Math.max(scale, Math.abs(b.data[i]));
  }
  return diff / scale;
}

/** The largest `|t[i]|` (0 for an empty tensor). */
export function maxAbs(t: Tensor): number {
  return Array.from(t.data).reduce((m, v) => Math.max(m, Math.abs(v)), 0);
}

/** `"dx 1.2e-10, dw 3.4e-11"`: named errors for a log line, with `digits` after the point. */
export function formatErrors(errors: Record<string, number>, digits = 2): string {
  return Object.entries(errors).map(([k, v]) => `${k} ${v.toExponential(digits)}`).join(", ");
}

/** Relative errors of a norm layer's gradients against a fixture case's, keyed `dx`, `dgamma`, `dbeta` (+ `tag`). */
export function gradErrors(
  g: NormGrads,
  c: NormCase,
  tag = "",
): Record<string, number> {
  return {
    [`dx${tag}`]: relError(g.dx, fixtureTensor(c.dx)),
    [`dgamma${tag}`]: relError(g.dgamma, fixtureTensor(c.dgamma)),
    [`dbeta${tag}`]: relError(g.dbeta, fixtureTensor(c.dbeta)),
  };
}

/** Relative errors of the running averages a train-mode batch norm left in `bnParam` against a fixture case's. */
export function runningErrors(bnParam: BatchnormParam, c: NormCase): Record<string, number> {
  return {
    runningMean: relError(bnParam.runningMean!, fixtureTensor(c.runningMean!)),
    runningVar: relError(bnParam.runningVar!, fixtureTensor(c.runningVar!)),
  };
}

/** The gradients of a normalization layer's backward pass. */
export interface NormGrads {
  dx: Tensor;
  dgamma: Tensor;
  dbeta: Tensor;
}

/**
 * Relative errors of a normalization layer against a fixture case: `out` of `forward` on the case's inputs;
 * unless the case is in test mode, the gradients of each of `backwards` (keyed `dx<tag>`, … by their tag)
 * and, when `bnParam` is given, the running averages the forward pass left in it.
 */
export function normCaseErrors<C>(
  c: NormCase,
  forward: (x: Tensor, gamma: Tensor, beta: Tensor) => { out: Tensor; cache: C },
  backwards: Record<string, (dout: Tensor, cache: C) => NormGrads>,
  bnParam?: BatchnormParam,
): Record<string, number> {
  const { out, cache } = forward(fixtureTensor(c.x), fixtureTensor(c.gamma), fixtureTensor(c.beta));
  const errors: Record<string, number> = { out: relError(out, fixtureTensor(c.out)) };
  if (c.mode === "test") return errors;
  if (bnParam) Object.assign(errors, runningErrors(bnParam, c));
  for (const [tag, backward] of Object.entries(backwards)) {
    Object.assign(errors, gradErrors(backward(fixtureTensor(c.dout), cache), c, tag));
  }
  return errors;
}

/** Means and biased standard deviations, one per block. */
export interface BlockStats {
  means: number[];
  stds: number[];
}

/** Mean and biased std of each block of `size` consecutive values, in order (numpy's mean/std of rows of `size`). */
export function blockStats(values: ArrayLike<number>, size: number): BlockStats {
  const means: number[] = [], stds: number[] = [];
  for (let s = 0; s < values.length; s += size) {
    let m = 0;
    for (let k = s; k < s + size; k++) m += values[k] / size;
    let v = 0;
    for (let k = s; k < s + size; k++) v += (values[k] - m) ** 2 / size;
    means.push(m);
    stds.push(Math.sqrt(v));
  }
  return { means, stds };
}

/**
 * Asserts that every block's mean is within `tol` of `target.means` and its std within `tol` of
 * `target.stds`: one number for all blocks, or one per block.
 */
export function assertStats(
  stats: BlockStats,
  target: { means: number | readonly number[]; stds: number | readonly number[] },
  tol: number,
): void {
  const at = (t: number | readonly number[], i: number) => typeof t === "number" ? t : t[i];
  stats.means.forEach((m, i) => assertLess(Math.abs(m - at(target.means, i)), tol, `mean ${i}`));
  stats.stds.forEach((s, i) => assertLess(Math.abs(s - at(target.stds, i)), tol, `std ${i}`));
}

/** Logs `errors` as `  label: name 1.2e-15, …` and asserts that each is below `tol`. */
export function assertErrorsBelow(label: string, errors: Record<string, number>, tol: number): void {
  console.log(`  ${label}: ${formatErrors(errors, 1)}`);
  for (const [k, v] of Object.entries(errors)) assertLess(v, tol, `${label} ${k}`);
}
