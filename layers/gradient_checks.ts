/**
 * The gradient checks of the course's notebooks in one place: every layer,
 * sandwich layer and model, on the notebooks' shapes and seeds
 * (`RandomState(231)`), in float64 with centered differences (h = 1e-5
 * unless the notebook says otherwise), each gradient against the bound the
 * test suite holds it to. `tests/gradient_checks_test.ts` asserts each one
 * (one test per check) and the `gradcheck` experiment runs and reports them
 * (one task per check, on Web Workers), so the report and the tests cannot
 * drift apart.
 *
 * @module
 */

import { affineBackward, affineForward } from "./affine.ts";
import { batchnormBackward, batchnormBackwardAlt, batchnormForward, type BatchnormParam } from "./batchnorm.ts";
import { convBackwardFast, convForwardFast } from "./conv_fast.ts";
import { convBackwardNaive, convForwardNaive } from "./conv_naive.ts";
import { dropoutBackward, dropoutForward, type DropoutParam } from "./dropout.ts";
import { evalNumericalGradient, evalNumericalGradientArray, relError } from "./gradient_check.ts";
import { layernormBackward, layernormForward } from "./layernorm.ts";
import { maxPoolBackwardFast, maxPoolForwardFast } from "./max_pool_fast.ts";
import { maxPoolBackwardNaive, maxPoolForwardNaive } from "./max_pool_naive.ts";
import { FullyConnectedNet, type Normalization } from "./models/fully_connected_net.ts";
import type { Model } from "./models/model.ts";
import { ThreeLayerConvNet } from "./models/three_layer_convnet.ts";
import { RandomState } from "./random.ts";
import { reluBackward, reluForward } from "./relu.ts";
import {
  affineBatchnormReluBackward,
  affineBatchnormReluForward,
  affineLayernormReluBackward,
  affineLayernormReluForward,
  affineReluBackward,
  affineReluForward,
  convBatchnormReluBackward,
  convBatchnormReluForward,
  convReluBackward,
  convReluForward,
  convReluPoolBackward,
  convReluPoolForward,
} from "./sandwich.ts";
import { softmaxLoss } from "./softmax_loss.ts";
import { spatialBatchnormBackward, spatialBatchnormForward } from "./spatial_batchnorm.ts";
import { spatialGroupnormBackward, spatialGroupnormForward } from "./spatial_groupnorm.ts";
import { svmLoss } from "./svm_loss.ts";
import { clone, map, scale, type Tensor } from "./tensor.ts";

/** One gradient compared with its numeric estimate. */
export interface GradientCheckRow {
  /** Layer or model under test (`"affine"`, `"batchnorm"`, …). */
  layer: string;
  /** Which gradient (`"dx"`, `"dW1"`, …). */
  gradient: string;
  /** `relError(analytic, numeric)`: max |a − n| / max(1e-8, |a| + |n|). */
  relError: number;
  /** The test's bound for this gradient. */
  threshold: number;
  /** Whether relError ≤ threshold. */
  pass: boolean;
}

/**
 * A gradient whose true value is exactly zero (a bias right before batch
 * norm, which subtracts it again): a relative error there compares only
 * rounding noise, so the check asks for a vanishing analytic gradient
 * instead.
 */
export interface VanishingGradientRow {
  /** Layer or model under test. */
  layer: string;
  /** Which gradient. */
  gradient: string;
  /** max |analytic gradient|. */
  maxAbs: number;
  /** The bound on `maxAbs`. */
  threshold: number;
  /** Whether maxAbs ≤ threshold. */
  pass: boolean;
}

/** What one check measured. */
export interface GradientCheckResult {
  /** The check's name in {@link GRADIENT_CHECKS}. */
  check: string;
  /** One row per gradient compared with its numeric estimate. */
  rows: GradientCheckRow[];
  /** Gradients that must vanish (see {@link VanishingGradientRow}). */
  vanishing: VanishingGradientRow[];
}

/** One gradient check of the notebooks. */
export interface GradientCheck {
  /** Short name (`"affine"`, `"conv-fast"`, `"fc-net"`, …). */
  name: string;
  /** What is checked, on which shapes, in words. */
  description: string;
  /** Runs the check (float64, deterministic). */
  run(): GradientCheckResult;
}

function row(layer: string, gradient: string, error: number, threshold: number): GradientCheckRow {
  return { layer, gradient, relError: error, threshold, pass: error <= threshold };
}

function maxAbs(t: Tensor): number {
  let m = 0;
  for (let i = 0; i < t.size; i++) m = Math.max(m, Math.abs(t.data[i]));
  return m;
}

/**
 * Numeric gradients of `forward(...inputs)` for upstream `dout`, one per
 * input, compared with `grads[d<name>]`. Inputs in `vanish` have a true
 * gradient of exactly 0 (checked as max |analytic| < 1e-12).
 */
function checkBlock(
  layer: string,
  forward: (...inputs: Tensor[]) => Tensor,
  inputs: Record<string, Tensor>,
  dout: Tensor,
  grads: object,
  thresholds: Record<string, number> | number,
  vanish: string[] = [],
): { rows: GradientCheckRow[]; vanishing: VanishingGradientRow[] } {
  const names = Object.keys(inputs);
  const values = names.map((k) => inputs[k]);
  const rows: GradientCheckRow[] = [];
  const vanishing: VanishingGradientRow[] = [];
  for (const [i, name] of names.entries()) {
    const analytic = (grads as Record<string, Tensor>)[`d${name}`];
    if (vanish.includes(name)) {
      const m = maxAbs(analytic);
      vanishing.push({ layer, gradient: `d${name}`, maxAbs: m, threshold: 1e-12, pass: m <= 1e-12 });
      continue;
    }
    const numeric = evalNumericalGradientArray(
      (t) => forward(...values.map((v, j) => (j === i ? t : v))),
      clone(inputs[name]),
      dout,
    );
    const threshold = typeof thresholds === "number" ? thresholds : thresholds[name];
    rows.push(row(layer, `d${name}`, relError(analytic, numeric), threshold));
  }
  return { rows, vanishing };
}

function result(
  check: string,
  parts: { rows: GradientCheckRow[]; vanishing?: VanishingGradientRow[] }[],
): GradientCheckResult {
  return { check, rows: parts.flatMap((p) => p.rows), vanishing: parts.flatMap((p) => p.vanishing ?? []) };
}

/** The notebooks' normalization inputs: x = 5·randn(shape) + 12, then gamma, beta, dout from the same RandomState(231). */
function normCase(xShape: number[], paramShape: number[]) {
  const rs = new RandomState(231);
  const x = map(rs.randn(...xShape), (v) => 5 * v + 12);
  return { x, gamma: rs.randn(...paramShape), beta: rs.randn(...paramShape), dout: rs.randn(...xShape) };
}

/**
 * Checks every parameter gradient of `model` against centered differences
 * of its full loss, as the notebooks' model cells do. Parameters in
 * `vanish` have a true gradient of exactly 0.
 */
function checkModel(
  layer: string,
  model: Model,
  X: Tensor,
  y: Int32Array,
  threshold: number,
  { h = 1e-5, vanish = [] as string[] } = {},
): { rows: GradientCheckRow[]; vanishing: VanishingGradientRow[] } {
  const { grads } = model.loss(X, y);
  const rows: GradientCheckRow[] = [];
  const vanishing: VanishingGradientRow[] = [];
  for (const [name, param] of Object.entries(model.params)) {
    if (vanish.includes(name)) {
      const m = maxAbs(grads[name]);
      vanishing.push({ layer, gradient: name, maxAbs: m, threshold: 1e-12, pass: m <= 1e-12 });
      continue;
    }
    const numeric = evalNumericalGradient(() => model.loss(X, y).loss, param, { h });
    rows.push(row(layer, name, relError(grads[name], numeric), threshold));
  }
  return { rows, vanishing };
}

const labels = (t: Tensor) => Int32Array.from(t.data);

/**
 * The fully connected net of the notebook's gradient-check cell: hidden
 * sizes [20, 30] on inputs of 15 features, 10 classes, weight scale 5e-2,
 * float64, weights drawn from `random`.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { notebookFcNet } from "./gradient_checks.ts";
 * import { RandomState } from "./random.ts";
 *
 * const model = notebookFcNet(new RandomState(231), null, 0);
 * assertEquals(model.params.W2.shape, [20, 30]);
 * ```
 */
export function notebookFcNet(random: RandomState, normalization: Normalization, reg: number): FullyConnectedNet {
  return new FullyConnectedNet([20, 30], {
    inputDim: 15,
    numClasses: 10,
    normalization,
    reg,
    weightScale: 5e-2,
    dtype: "float64",
    random,
  });
}

/**
 * The notebook's three-layer convnet gradient-check cell: `RandomState(231)`
 * draws X (2, 3, 16, 16), labels y (2,), then the net's weights (3 filters
 * 3×3, hidden 7, float64).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { notebookConvNetCase } from "./gradient_checks.ts";
 *
 * const { model, X, y } = notebookConvNetCase();
 * assertEquals([X.shape, y.length, model.params.W1.shape], [[2, 3, 16, 16], 2, [3, 3, 3, 3]]);
 * ```
 */
export function notebookConvNetCase(): { model: ThreeLayerConvNet; X: Tensor; y: Int32Array } {
  const rs = new RandomState(231);
  const X = rs.randn(2, 3, 16, 16), y = labels(rs.randint(10, undefined, [2]) as Tensor);
  const model = new ThreeLayerConvNet({
    numFilters: 3,
    filterSize: 3,
    inputDim: [3, 16, 16],
    hiddenDim: 7,
    dtype: "float64",
    random: rs,
  });
  return { model, X, y };
}

/**
 * Every gradient check, in the order the notebooks meet the layers. The
 * bounds are the test suite's (see each test for why a bound is what it
 * is): the course's "around 1e-8 or less" for single layers, 1e-7 through a
 * ReLU, 1e-3 for the fully connected nets on N = 2 (the notebook itself
 * reports up to 1e-4 there) and 1e-1 for the three-layer convnet (the
 * notebook reports up to 2e-2).
 */
export const GRADIENT_CHECKS: readonly GradientCheck[] = Object.freeze([
  {
    name: "affine",
    description: "affineBackward, x (10, 2, 3), w (6, 5), b (5,)",
    run() {
      const rs = new RandomState(231);
      const x = rs.randn(10, 2, 3), w = rs.randn(6, 5), b = rs.randn(5), dout = rs.randn(10, 5);
      const grads = affineBackward(dout, affineForward(x, w, b).cache);
      return result("affine", [
        checkBlock("affine", (x, w, b) => affineForward(x, w, b).out, { x, w, b }, dout, grads, 1e-9),
      ]);
    },
  },
  {
    name: "relu",
    description: "reluBackward, x (10, 10)",
    run() {
      const rs = new RandomState(231);
      const x = rs.randn(10, 10), dout = rs.randn(10, 10);
      const grads = reluBackward(dout, reluForward(x).cache);
      return result("relu", [checkBlock("relu", (x) => reluForward(x).out, { x }, dout, grads, 1e-9)]);
    },
  },
  {
    name: "softmax-loss",
    description: "softmaxLoss, scores 0.001·randn(50, 10)",
    run() {
      const rs = new RandomState(231);
      const x = scale(rs.randn(50, 10), 0.001), y = labels(rs.randint(10, undefined, [50]) as Tensor);
      const { dx } = softmaxLoss(x, y);
      const num = evalNumericalGradient((t) => softmaxLoss(t, y).loss, clone(x));
      return result("softmax-loss", [{ rows: [row("softmax loss", "dx", relError(dx, num), 5e-8)] }]);
    },
  },
  {
    name: "svm-loss",
    description: "svmLoss, scores 0.001·randn(50, 10)",
    run() {
      const rs = new RandomState(231);
      const x = scale(rs.randn(50, 10), 0.001), y = labels(rs.randint(10, undefined, [50]) as Tensor);
      const { dx } = svmLoss(x, y);
      const num = evalNumericalGradient((t) => svmLoss(t, y).loss, clone(x));
      return result("svm-loss", [{ rows: [row("SVM loss", "dx", relError(dx, num), 2e-8)] }]);
    },
  },
  {
    name: "batchnorm",
    description: "batchnormBackward and batchnormBackwardAlt, x = 5·randn(4, 5) + 12",
    run() {
      const { x, gamma, beta, dout } = normCase([4, 5], [5]);
      const param = (): BatchnormParam => ({ mode: "train" });
      const f = (x: Tensor, gamma: Tensor, beta: Tensor) => batchnormForward(x, gamma, beta, param()).out;
      const { cache } = batchnormForward(x, gamma, beta, param());
      const t = { x: 1e-8, gamma: 1e-10, beta: 1e-10 };
      return result("batchnorm", [
        checkBlock("batchnorm", f, { x, gamma, beta }, dout, batchnormBackward(dout, cache), t),
        checkBlock("batchnorm (alt backward)", f, { x, gamma, beta }, dout, batchnormBackwardAlt(dout, cache), t),
      ]);
    },
  },
  {
    name: "layernorm",
    description: "layernormBackward, x = 5·randn(4, 5) + 12",
    run() {
      const { x, gamma, beta, dout } = normCase([4, 5], [5]);
      const f = (x: Tensor, gamma: Tensor, beta: Tensor) => layernormForward(x, gamma, beta).out;
      const grads = layernormBackward(dout, layernormForward(x, gamma, beta).cache);
      return result("layernorm", [
        checkBlock("layernorm", f, { x, gamma, beta }, dout, grads, { x: 1e-8, gamma: 1e-10, beta: 1e-10 }),
      ]);
    },
  },
  {
    name: "dropout",
    description: "dropoutBackward, x = randn(10, 10) + 10, p = 0.2 (dropped), seed 123",
    run() {
      const rs = new RandomState(231);
      const x = map(rs.randn(10, 10), (v) => v + 10), dout = rs.randn(10, 10);
      const param: DropoutParam = { mode: "train", p: 0.2, seed: 123 };
      const grads = dropoutBackward(dout, dropoutForward(x, param).cache);
      return result("dropout", [checkBlock("dropout", (x) => dropoutForward(x, param).out, { x }, dout, grads, 1e-10)]);
    },
  },
  ...([["naive", convForwardNaive, convBackwardNaive], ["fast", convForwardFast, convBackwardFast]] as const).map((
    [kind, forward, backward],
  ): GradientCheck => ({
    name: `conv-${kind}`,
    description: `convBackward${kind === "naive" ? "Naive" : "Fast"}, x (4, 3, 5, 5), w (2, 3, 3, 3), stride 1, pad 1`,
    run() {
      const rs = new RandomState(231);
      const x = rs.randn(4, 3, 5, 5), w = rs.randn(2, 3, 3, 3), b = rs.randn(2), dout = rs.randn(4, 2, 5, 5);
      const param = { stride: 1, pad: 1 };
      const grads = backward(dout, forward(x, w, b, param).cache);
      return result(`conv-${kind}`, [
        checkBlock(`conv (${kind})`, (x, w, b) => forward(x, w, b, param).out, { x, w, b }, dout, grads, 5e-8),
      ]);
    },
  })),
  ...([["naive", maxPoolForwardNaive, maxPoolBackwardNaive], [
    "fast",
    maxPoolForwardFast,
    maxPoolBackwardFast,
  ]] as const)
    .map(([kind, forward, backward]): GradientCheck => ({
      name: `max-pool-${kind}`,
      description: `maxPoolBackward${kind === "naive" ? "Naive" : "Fast"}, x (3, 2, 8, 8), 2×2 pool, stride 2`,
      run() {
        const rs = new RandomState(231);
        const x = rs.randn(3, 2, 8, 8), dout = rs.randn(3, 2, 4, 4);
        const param = { poolHeight: 2, poolWidth: 2, stride: 2 };
        const grads = backward(dout, forward(x, param).cache);
        return result(`max-pool-${kind}`, [
          checkBlock(`max pool (${kind})`, (x) => forward(x, param).out, { x }, dout, grads, 1e-11),
        ]);
      },
    })),
  {
    name: "spatial-batchnorm",
    description: "spatialBatchnormBackward, x = 5·randn(2, 3, 4, 5) + 12",
    run() {
      const { x, gamma, beta, dout } = normCase([2, 3, 4, 5], [3]);
      const f = (x: Tensor, gamma: Tensor, beta: Tensor) =>
        spatialBatchnormForward(x, gamma, beta, { mode: "train" }).out;
      const grads = spatialBatchnormBackward(dout, spatialBatchnormForward(x, gamma, beta, { mode: "train" }).cache);
      // dx: the worst element is ≈ −7e-5, where centered differences carry ≈ 4e-11 of rounding noise (the notebook prints 2.8e-7).
      return result("spatial-batchnorm", [
        checkBlock("spatial batchnorm", f, { x, gamma, beta }, dout, grads, { x: 1e-6, gamma: 1e-10, beta: 1e-10 }),
      ]);
    },
  },
  {
    name: "spatial-groupnorm",
    description: "spatialGroupnormBackward, x = 5·randn(2, 6, 4, 5) + 12, G = 2",
    run() {
      const { x, gamma, beta, dout } = normCase([2, 6, 4, 5], [1, 6, 1, 1]);
      const f = (x: Tensor, gamma: Tensor, beta: Tensor) => spatialGroupnormForward(x, gamma, beta, 2).out;
      const grads = spatialGroupnormBackward(dout, spatialGroupnormForward(x, gamma, beta, 2).cache);
      return result("spatial-groupnorm", [checkBlock("spatial groupnorm", f, { x, gamma, beta }, dout, grads, 1e-7)]);
    },
  },
  {
    name: "affine-relu",
    description: "affineReluBackward, x (2, 3, 4), w (12, 10)",
    run() {
      const rs = new RandomState(231);
      const x = rs.randn(2, 3, 4), w = rs.randn(12, 10), b = rs.randn(10), dout = rs.randn(2, 10);
      const grads = affineReluBackward(dout, affineReluForward(x, w, b).cache);
      return result("affine-relu", [
        checkBlock("affine-relu", (x, w, b) => affineReluForward(x, w, b).out, { x, w, b }, dout, grads, 1e-7),
      ]);
    },
  },
  {
    name: "affine-batchnorm-relu",
    description: "affineBatchnormReluBackward, x (4, 3, 4), w (12, 10)",
    run() {
      const rs = new RandomState(231);
      const x = rs.randn(4, 3, 4), w = rs.randn(12, 10), b = rs.randn(10), dout = rs.randn(4, 10);
      const gamma = rs.randn(10), beta = rs.randn(10);
      const f = (x: Tensor, w: Tensor, b: Tensor, gamma: Tensor, beta: Tensor) =>
        affineBatchnormReluForward(x, w, b, gamma, beta, { mode: "train" }).out;
      const grads = affineBatchnormReluBackward(
        dout,
        affineBatchnormReluForward(x, w, b, gamma, beta, { mode: "train" }).cache,
      );
      return result("affine-batchnorm-relu", [
        checkBlock("affine-batchnorm-relu", f, { x, w, b, gamma, beta }, dout, grads, 1e-7, ["b"]),
      ]);
    },
  },
  {
    name: "affine-layernorm-relu",
    description: "affineLayernormReluBackward, x (4, 3, 4), w (12, 10)",
    run() {
      const rs = new RandomState(231);
      const x = rs.randn(4, 3, 4), w = rs.randn(12, 10), b = rs.randn(10), dout = rs.randn(4, 10);
      const gamma = rs.randn(10), beta = rs.randn(10);
      const f = (x: Tensor, w: Tensor, b: Tensor, gamma: Tensor, beta: Tensor) =>
        affineLayernormReluForward(x, w, b, gamma, beta, {}).out;
      const grads = affineLayernormReluBackward(dout, affineLayernormReluForward(x, w, b, gamma, beta, {}).cache);
      return result("affine-layernorm-relu", [
        checkBlock("affine-layernorm-relu", f, { x, w, b, gamma, beta }, dout, grads, 1e-7),
      ]);
    },
  },
  {
    name: "conv-relu",
    description: "convReluBackward, x (2, 3, 8, 8), w (3, 3, 3, 3), pad 1",
    run() {
      const rs = new RandomState(231);
      const x = rs.randn(2, 3, 8, 8), w = rs.randn(3, 3, 3, 3), b = rs.randn(3), dout = rs.randn(2, 3, 8, 8);
      const param = { stride: 1, pad: 1 };
      const grads = convReluBackward(dout, convReluForward(x, w, b, param).cache);
      return result("conv-relu", [
        checkBlock("conv-relu", (x, w, b) => convReluForward(x, w, b, param).out, { x, w, b }, dout, grads, 1e-7),
      ]);
    },
  },
  {
    name: "conv-relu-pool",
    description: "convReluPoolBackward, x (2, 3, 16, 16), w (3, 3, 3, 3), pad 1, 2×2 pool",
    run() {
      const rs = new RandomState(231);
      const x = rs.randn(2, 3, 16, 16), w = rs.randn(3, 3, 3, 3), b = rs.randn(3), dout = rs.randn(2, 3, 8, 8);
      const conv = { stride: 1, pad: 1 }, pool = { poolHeight: 2, poolWidth: 2, stride: 2 };
      const grads = convReluPoolBackward(dout, convReluPoolForward(x, w, b, conv, pool).cache);
      return result("conv-relu-pool", [
        checkBlock(
          "conv-relu-pool",
          (x, w, b) => convReluPoolForward(x, w, b, conv, pool).out,
          { x, w, b },
          dout,
          grads,
          1e-7,
        ),
      ]);
    },
  },
  {
    name: "conv-batchnorm-relu",
    description: "convBatchnormReluBackward, x (2, 3, 6, 6), w (4, 3, 3, 3), pad 1",
    run() {
      const rs = new RandomState(231);
      const x = rs.randn(2, 3, 6, 6), w = rs.randn(4, 3, 3, 3), b = rs.randn(4), dout = rs.randn(2, 4, 6, 6);
      const gamma = rs.randn(4), beta = rs.randn(4);
      const conv = { stride: 1, pad: 1 };
      const f = (x: Tensor, w: Tensor, b: Tensor, gamma: Tensor, beta: Tensor) =>
        convBatchnormReluForward(x, w, b, gamma, beta, conv, { mode: "train" }).out;
      const grads = convBatchnormReluBackward(
        dout,
        convBatchnormReluForward(x, w, b, gamma, beta, conv, { mode: "train" }).cache,
      );
      return result("conv-batchnorm-relu", [
        checkBlock("conv-batchnorm-relu", f, { x, w, b, gamma, beta }, dout, grads, 1e-7, ["b"]),
      ]);
    },
  },
  {
    name: "fc-net",
    description: "FullyConnectedNet [20, 30] on X (2, 15), weight scale 5e-2, reg 0 and 3.14, without normalization, " +
      "with batch norm and with layer norm (the notebook's cell, one RandomState(231) stream)",
    run() {
      const rs = new RandomState(231);
      const X = rs.randn(2, 15), y = labels(rs.randint(10, undefined, [2]) as Tensor);
      const parts = [];
      for (const normalization of [null, "batchnorm", "layernorm"] as Normalization[]) {
        for (const reg of [0, 3.14]) {
          const model = notebookFcNet(rs, normalization, reg);
          const layer = `FullyConnectedNet (${normalization ?? "no norm"}, reg ${reg})`;
          parts.push(
            checkModel(layer, model, X, y, 1e-3, { vanish: normalization === "batchnorm" ? ["b1", "b2"] : [] }),
          );
        }
      }
      return result("fc-net", parts);
    },
  },
  {
    name: "convnet",
    description: "ThreeLayerConvNet, 3 filters 3×3, hidden 7, on X (2, 3, 16, 16), h = 1e-6 (the notebook's cell)",
    run() {
      const { model, X, y } = notebookConvNetCase();
      return result("convnet", [checkModel("ThreeLayerConvNet", model, X, y, 1e-1, { h: 1e-6 })]);
    },
  },
]);

/** The names of {@link GRADIENT_CHECKS}, in order. */
export const GRADIENT_CHECK_NAMES: readonly string[] = Object.freeze(GRADIENT_CHECKS.map((c) => c.name));

/**
 * Runs the check called `name`.
 *
 * @throws RangeError naming the known checks when there is none by that name
 */
export function runGradientCheck(name: string): GradientCheckResult {
  const check = GRADIENT_CHECKS.find((c) => c.name === name);
  if (check === undefined) {
    throw new RangeError(`runGradientCheck: unknown check "${name}"; known: ${GRADIENT_CHECK_NAMES.join(", ")}`);
  }
  return check.run();
}
