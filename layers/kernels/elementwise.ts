/**
 * Internal: the elementwise loops of training, shared by the threads of the
 * parallel engine: the update rules' loops (`pipeline/update_rules.ts` keeps
 * the rules, their configs and checks) and the L2 penalty of the models.
 *
 * Every element is computed alone, so splitting the arrays into ranges
 * changes nothing; the one reduction (ΣW² of the penalty) adds fixed blocks
 * of `BLOCK` elements each in order and then the blocks' sums in order,
 * whatever the thread count.
 *
 * @module
 */

import type { Data } from "../tensor.ts";
import { defineTask, parallelFor, type View } from "./parallel.ts";

/** Elements per chunk of a job; also the block of the penalty's partial sums. */
const BLOCK = 1 << 14;
/** Arrays shorter than this are updated on the calling thread alone. */
const PARALLEL_MIN = 1 << 17;

function range(a: View, begin: number, end: number): [number, number] {
  return [begin * BLOCK, Math.min(a.length, end * BLOCK)];
}

const SGD = defineTask(import.meta.url, "elementwise.sgd", (arrays, args, begin, end) => {
  const [wd, g] = arrays as Data[];
  const lr = args[0];
  const [from, to] = range(wd, begin, end);
  for (let i = from; i < to; i++) wd[i] -= lr * g[i];
});

const SGD_MOMENTUM = defineTask(import.meta.url, "elementwise.sgdMomentum", (arrays, args, begin, end) => {
  const [wd, g, v] = arrays as Data[];
  const lr = args[0], mu = args[1];
  const [from, to] = range(wd, begin, end);
  for (let i = from; i < to; i++) {
    v[i] = mu * v[i] - lr * g[i];
    wd[i] += v[i];
  }
});

const RMSPROP = defineTask(import.meta.url, "elementwise.rmsprop", (arrays, args, begin, end) => {
  const [wd, g, cache] = arrays as Data[];
  const lr = args[0], decay = args[1], eps = args[2], keep = args[3];
  const [from, to] = range(wd, begin, end);
  for (let i = from; i < to; i++) {
    const gi = g[i];
    cache[i] = decay * cache[i] + keep * (gi * gi);
    // Same operation order as numpy's `w - lr * dw / (sqrt(cache) + eps)`, so float64 results agree bit for bit.
    wd[i] -= (lr * gi) / (Math.sqrt(cache[i]) + eps);
  }
});

const ADAM = defineTask(import.meta.url, "elementwise.adam", (arrays, args, begin, end) => {
  const [wd, g, m, v] = arrays as Data[];
  const lr = args[0], b1 = args[1], b2 = args[2], eps = args[3], bc1 = args[4], bc2 = args[5];
  const k1 = 1 - b1, k2 = 1 - b2;
  const [from, to] = range(wd, begin, end);
  for (let i = from; i < to; i++) {
    const gi = g[i];
    m[i] = b1 * m[i] + k1 * gi;
    v[i] = b2 * v[i] + k2 * (gi * gi);
    // Read m and v back after the store: in float32 the course's numpy code also uses the rounded values.
    const mt = m[i] / bc1, vt = v[i] / bc2;
    wd[i] -= (lr * mt) / (Math.sqrt(vt) + eps);
  }
});

function run(task: typeof SGD, arrays: Data[], args: number[]): void {
  const n = arrays[0].length;
  parallelFor(task, Math.ceil(n / BLOCK), arrays, args, { serial: n < PARALLEL_MIN });
}

/** Internal: `w −= lr·g`. */
export function sgdData(w: Data, g: Data, lr: number): void {
  run(SGD, [w, g], [lr]);
}

/** Internal: `v = mu·v − lr·g; w += v`. */
export function sgdMomentumData(w: Data, g: Data, v: Data, lr: number, mu: number): void {
  run(SGD_MOMENTUM, [w, g, v], [lr, mu]);
}

/** Internal: `cache = decay·cache + (1 − decay)·g²; w −= lr·g / (√cache + eps)`. */
export function rmspropData(w: Data, g: Data, cache: Data, lr: number, decay: number, eps: number): void {
  run(RMSPROP, [w, g, cache], [lr, decay, eps, 1 - decay]);
}

/**
 * Internal: Adam's step with bias corrections `bc1 = 1 − beta1^t`,
 * `bc2 = 1 − beta2^t`: `m = b1·m + (1 − b1)·g`, `v = b2·v + (1 − b2)·g²`,
 * `w −= lr·(m / bc1) / (√(v / bc2) + eps)`.
 */
export function adamData(
  w: Data,
  g: Data,
  m: Data,
  v: Data,
  lr: number,
  b1: number,
  b2: number,
  eps: number,
  bc1: number,
  bc2: number,
): void {
  run(ADAM, [w, g, m, v], [lr, b1, b2, eps, bc1, bc2]);
}

/** Block partial sums of ΣW² of the last `l2Data` (grow-only; one per block). */
let partials = new Float64Array(0);

const L2 = defineTask(import.meta.url, "elementwise.l2", (arrays, args, begin, end) => {
  const [wd, g] = arrays as Data[];
  const sums = arrays[2] as Float64Array;
  const reg = args[0];
  for (let b = begin; b < end; b++) {
    const [from, to] = range(wd, b, b + 1);
    let s = 0;
    for (let i = from; i < to; i++) {
      s += wd[i] * wd[i];
      g[i] += reg * wd[i];
    }
    sums[b] = s;
  }
});

/**
 * Internal: adds `reg·W` to `g` in place and returns `ΣW²`, summed in blocks
 * of `BLOCK` elements (each in order) whose sums are then added in order.
 */
export function l2Data(w: Data, g: Data, reg: number): number {
  const blocks = Math.ceil(w.length / BLOCK);
  if (partials.length < blocks) partials = new Float64Array(blocks);
  parallelFor(L2, blocks, [w, g, partials], [reg], { serial: w.length < PARALLEL_MIN });
  let s = 0;
  for (let b = 0; b < blocks; b++) s += partials[b];
  return s;
}
