import { assert, assertEquals, assertLess, assertNotEquals, assertStrictEquals, assertThrows } from "@std/assert";
import { batchnormBackward, batchnormBackwardAlt, batchnormForward, type BatchnormParam } from "../layers/batchnorm.ts";
import { matmul } from "../layers/kernels/gemm.ts";
import { relError } from "../layers/gradient_check.ts";
import { RandomState } from "../layers/random.ts";
import { array, astype, full, map, type Tensor, transpose, zeros } from "../layers/tensor.ts";
import {
  assertErrorsBelow,
  assertFloat32Tracks,
  assertStats,
  type BlockStats,
  blockStats,
  bnParamOf,
  normCaseErrors,
  readNormCases,
} from "./helpers.ts";

const cases = await readNormCases();

/** Mean and biased std of each column of a 2-D tensor (numpy's `axis=0`). */
function columnStats(t: Tensor): BlockStats {
  return blockStats(transpose(t, [1, 0]).data, t.shape[0]);
}

/** `relu(X·W1)·W2`, the notebook's pre-activations. */
function twoLayer(X: Tensor, W1: Tensor, W2: Tensor): Tensor {
  return matmul(map(matmul(X, W1), (v) => Math.max(0, v)), W2);
}

/** The notebook's gradient-check setup: x = 5·randn(N, D) + 12, gamma, beta, dout from seed 231. */
function gradCase(n: number, d: number) {
  const rs = new RandomState(231);
  const x = map(rs.randn(n, d), (v) => 5 * v + 12);
  return { x, gamma: rs.randn(d), beta: rs.randn(d), dout: rs.randn(n, d) };
}

Deno.test("batchnormForward in train mode gives zero-mean unit-std columns, then beta means and gamma stds", () => {
  const rs = new RandomState(231);
  const [N, D1, D2, D3] = [200, 50, 60, 3];
  const X = rs.randn(N, D1), W1 = rs.randn(D1, D2), W2 = rs.randn(D2, D3);
  const a = twoLayer(X, W1, W2);
  const before = columnStats(a);
  assert(before.stds.every((s) => s > 5), `pre-activations should be far from unit std: ${before.stds}`);

  const plain = columnStats(batchnormForward(a, full([D3], 1), zeros([D3]), { mode: "train" }).out);
  assertStats(plain, { means: 0, stds: 1 }, 1e-6);
  const gamma = [1, 2, 3], beta = [11, 12, 13];
  const scaled = columnStats(batchnormForward(a, array(gamma), array(beta), { mode: "train" }).out);
  assertStats(scaled, { means: beta, stds: gamma }, 1e-6);
});

Deno.test("batchnormForward in test mode uses running averages warmed up over 50 train passes", () => {
  const rs = new RandomState(231);
  const [N, D1, D2, D3] = [200, 50, 60, 3];
  const W1 = rs.randn(D1, D2), W2 = rs.randn(D2, D3);
  const bnParam: BatchnormParam = { mode: "train" };
  const gamma = full([D3], 1), beta = zeros([D3]);
  for (let t = 0; t < 50; t++) batchnormForward(twoLayer(rs.randn(N, D1), W1, W2), gamma, beta, bnParam);
  bnParam.mode = "test";
  const runningMean = bnParam.runningMean, runningVar = bnParam.runningVar;
  const { out, cache } = batchnormForward(twoLayer(rs.randn(N, D1), W1, W2), gamma, beta, bnParam);
  const stats = columnStats(out);
  console.log(`  test-mode means ${stats.means.map((v) => v.toFixed(4))}, stds ${stats.stds.map((v) => v.toFixed(4))}`);
  assertStats(stats, { means: 0, stds: 1 }, 0.15);
  assertStrictEquals(cache, null);
  // Test mode reads the running averages and leaves them alone.
  assertStrictEquals(bnParam.runningMean, runningMean);
  assertStrictEquals(bnParam.runningVar, runningVar);
});

Deno.test("batchnormForward starts running averages at zeros and writes momentum·old + (1 − momentum)·sample back", () => {
  const x = array([[1, 10], [3, 10], [8, 13]]);
  const bnParam: BatchnormParam = { mode: "train" };
  batchnormForward(x, full([2], 1), zeros([2]), bnParam);
  // Sample means (4, 11), biased variances (26/3, 2).
  const first = { mean: bnParam.runningMean!, variance: bnParam.runningVar! };
  assertEquals(first.mean.shape, [2]);
  assertLess(relError(first.mean, array([0.4, 1.1])), 1e-15);
  assertLess(relError(first.variance, array([(0.1 * 26) / 3, 0.2])), 1e-15);

  bnParam.momentum = 0.5;
  batchnormForward(x, full([2], 1), zeros([2]), bnParam);
  assertLess(relError(bnParam.runningMean!, array([0.5 * 0.4 + 0.5 * 4, 0.5 * 1.1 + 0.5 * 11])), 1e-15);
  assertLess(relError(bnParam.runningVar!, array([0.5 * (2.6 / 3) + 0.5 * (26 / 3), 0.5 * 0.2 + 0.5 * 2])), 1e-15);
  // New tensors are written back; the earlier ones (a snapshot someone may hold) are not mutated.
  assertNotEquals(bnParam.runningMean, first.mean);
  assertLess(relError(first.mean, array([0.4, 1.1])), 1e-15);
});

// The seeded numeric gradient check of batchnormBackward and batchnormBackwardAlt is the catalogue's (layers/gradient_checks.ts, entry "batchnorm"),
// run with its bounds by tests/gradient_checks_test.ts.

Deno.test("batchnormBackwardAlt matches batchnormBackward within 1e-10 (N=100, D=500)", () => {
  const { x, gamma, beta, dout } = gradCase(100, 500);
  const { cache } = batchnormForward(x, gamma, beta, { mode: "train" });
  const time = (f: () => unknown) => {
    f();
    const t0 = performance.now();
    for (let r = 0; r < 20; r++) f();
    return (performance.now() - t0) / 20;
  };
  const staged = batchnormBackward(dout, cache), alt = batchnormBackwardAlt(dout, cache);
  const errs = [relError(staged.dx, alt.dx), relError(staged.dgamma, alt.dgamma), relError(staged.dbeta, alt.dbeta)];
  const tStaged = time(() => batchnormBackward(dout, cache)), tAlt = time(() => batchnormBackwardAlt(dout, cache));
  console.log(
    `  dx ${errs[0].toExponential(2)}, dgamma ${errs[1].toExponential(2)}, dbeta ${errs[2].toExponential(2)}; ` +
      `staged ${tStaged.toFixed(2)} ms, alt ${tAlt.toFixed(2)} ms, speedup ${(tStaged / tAlt).toFixed(2)}x`,
  );
  for (const e of errs) assertLess(e, 1e-10);
});

Deno.test("batchnorm agrees with PyTorch batch_norm in float64 within 1e-9 (outputs, running stats, gradients)", () => {
  for (const [name, c] of Object.entries(cases.batchnorm)) {
    const bnParam = bnParamOf(c);
    const forward = (x: Tensor, gamma: Tensor, beta: Tensor) => batchnormForward(x, gamma, beta, bnParam);
    const backwards = { "": batchnormBackward, Alt: batchnormBackwardAlt };
    assertErrorsBelow(name, normCaseErrors(c, forward, backwards, bnParam), 1e-9);
  }
});

Deno.test("batchnorm in float32 returns float32 and tracks the float64 result", () => {
  const { x, gamma, beta, dout } = gradCase(16, 7);
  const p64: BatchnormParam = { mode: "train" }, p32: BatchnormParam = { mode: "train" };
  const r64 = batchnormForward(x, gamma, beta, p64);
  const r32 = batchnormForward(astype(x, "float32"), astype(gamma, "float32"), astype(beta, "float32"), p32);
  assertEquals(r32.out.dtype, "float32");
  assertEquals(p32.runningMean!.dtype, "float32");
  const g64 = batchnormBackward(dout, r64.cache), g32 = batchnormBackward(astype(dout, "float32"), r32.cache);
  const a32 = batchnormBackwardAlt(astype(dout, "float32"), r32.cache);
  assertFloat32Tracks({
    out: [r32.out, r64.out],
    runningVar: [p32.runningVar!, p64.runningVar!],
    dx: [g32.dx, g64.dx],
    dxAlt: [a32.dx, g64.dx],
    dgamma: [g32.dgamma, g64.dgamma],
    dbeta: [g32.dbeta, g64.dbeta],
  }, 1e-4);
});

Deno.test("batchnorm of a constant feature gives beta and finite gradients, never NaN", () => {
  const x = array([[2, 1], [2, 5], [2, -3]]);
  const gamma = array([3, 1]), beta = array([0.5, 0]);
  const { out, cache } = batchnormForward(x, gamma, beta, { mode: "train" });
  for (let i = 0; i < 3; i++) assertEquals(out.data[i * 2], 0.5);
  const dout = array([[1, 2], [3, 4], [5, 6]]);
  for (const g of [batchnormBackward(dout, cache), batchnormBackwardAlt(dout, cache)]) {
    for (const t of [g.dx, g.dgamma, g.dbeta]) assert(t.data.every(Number.isFinite), `${t.data}`);
    // Constant column: x̂ = 0, so dx = gamma·istd·(dout − mean(dout)) = 3/sqrt(eps)·(−2, 0, 2).
    assertLess(
      relError(
        array([g.dx.data[0], g.dx.data[2], g.dx.data[4]]),
        array([-2, 0, 2].map((v) => (v * 3) / Math.sqrt(1e-5))),
      ),
      1e-9,
    );
  }
});

Deno.test("batchnormForward rejects bad shapes, dtypes, modes and settings with messages naming the rule", () => {
  const x = zeros([3, 5]), g = zeros([5]), b = zeros([5]);
  assertThrows(
    () => batchnormForward(x, g, b, { mode: "eval" as "train" }),
    Error,
    `batchnormForward: invalid batchnorm mode "eval"; bnParam.mode must be "train" or "test"`,
  );
  assertThrows(
    () => batchnormForward(x, zeros([4]), b, { mode: "train" }),
    RangeError,
    "batchnormForward: gamma (4,) must have shape (D,) = (5,) for x (3, 5)",
  );
  assertThrows(
    () => batchnormForward(x, g, zeros([1, 5]), { mode: "train" }),
    RangeError,
    "batchnormForward: beta (1, 5) must have shape (D,) = (5,) for x (3, 5)",
  );
  assertThrows(
    () => batchnormForward(zeros([3, 5, 1]), g, b, { mode: "train" }),
    RangeError,
    "batchnormForward: x (3, 5, 1) must be 2-D (N, D)",
  );
  assertThrows(
    () => batchnormForward(x, zeros([5], "float32"), b, { mode: "train" }),
    TypeError,
    "batchnormForward: x is float64, gamma is float32, beta is float64; they must share one dtype",
  );
  assertThrows(
    () => batchnormForward(x, g, b, { mode: "train", runningMean: zeros([4]) }),
    RangeError,
    "batchnormForward: bnParam.runningMean (4,) must have shape (5,), one value per channel of x (3, 5)",
  );
  assertThrows(
    () => batchnormForward(x, g, b, { mode: "train", momentum: 1.5 }),
    RangeError,
    "batchnormForward: momentum 1.5 must lie in [0, 1]",
  );
  assertThrows(
    () => batchnormForward(x, g, b, { mode: "train", eps: 0 }),
    RangeError,
    "batchnormForward: eps 0 must be a positive finite number",
  );
  assertThrows(
    () => batchnormForward(zeros([0, 5]), g, b, { mode: "train" }),
    RangeError,
    "batchnormForward: x (0, 5) has no values per channel",
  );
});

Deno.test("batchnorm backward passes reject a mismatched dout and a test-mode cache", () => {
  const x = array([[1, 2], [3, 5], [0, 1]]);
  const { cache } = batchnormForward(x, full([2], 1), zeros([2]), { mode: "train" });
  assertThrows(
    () => batchnormBackward(zeros([3, 3]), cache),
    RangeError,
    "batchnormBackward: dout (3, 3) and x (3, 2) must have the same shape",
  );
  assertThrows(
    () => batchnormBackwardAlt(zeros([3, 2], "float32"), cache),
    TypeError,
    "batchnormBackwardAlt: dout is float32 but x is float64",
  );
  const test = batchnormForward(x, full([2], 1), zeros([2]), { mode: "test" });
  assertThrows(
    () => batchnormBackward(zeros([3, 2]), test.cache),
    Error,
    "batchnormBackward: the cache is null; only a train-mode forward pass can be differentiated",
  );
});
