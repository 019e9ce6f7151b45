import { assert, assertEquals, assertLess, assertThrows } from "@std/assert";
import { matmul } from "../layers/kernels/gemm.ts";
import { relError } from "../layers/gradient_check.ts";
import { layernormBackward, layernormForward } from "../layers/layernorm.ts";
import { RandomState } from "../layers/random.ts";
import { array, astype, full, map, type Tensor, zeros } from "../layers/tensor.ts";
import {
  assertErrorsBelow,
  assertFloat32Tracks,
  assertStats,
  type BlockStats,
  blockStats,
  fixtureTensor,
  normCaseErrors,
  readNormCases,
} from "./helpers.ts";

const cases = await readNormCases();

/** Mean and biased std of each row of a 2-D tensor (numpy's `axis=1`). */
function rowStats(t: Tensor): BlockStats {
  return blockStats(t.data, t.shape[1]);
}

Deno.test("layernormForward gives zero-mean unit-std rows, then beta means and gamma stds", () => {
  const rs = new RandomState(231);
  const [N, D1, D2, D3] = [4, 50, 60, 3];
  const X = rs.randn(N, D1), W1 = rs.randn(D1, D2), W2 = rs.randn(D2, D3);
  const a = matmul(map(matmul(X, W1), (v) => Math.max(0, v)), W2);
  assert(rowStats(a).stds.every((s) => s > 1), "pre-activation rows should be far from unit std");

  const plain = rowStats(layernormForward(a, full([D3], 1), zeros([D3])).out);
  const scaled = rowStats(layernormForward(a, full([D3], 3), full([D3], 5)).out);
  assertStats(plain, { means: 0, stds: 1 }, 1e-6);
  assertStats(scaled, { means: 5, stds: 3 }, 1e-6);
});

// The seeded numeric gradient check of layernormBackward is the catalogue's (layers/gradient_checks.ts, entry "layernorm"),
// run with its bounds by tests/gradient_checks_test.ts.

Deno.test("layernorm agrees with PyTorch layer_norm in float64 within 1e-9 (outputs and gradients)", () => {
  for (const [name, c] of Object.entries(cases.layernorm)) {
    const forward = (x: Tensor, gamma: Tensor, beta: Tensor) => layernormForward(x, gamma, beta, { eps: c.eps });
    assertErrorsBelow(name, normCaseErrors(c, forward, { "": layernormBackward }), 1e-9);
  }
});

Deno.test("layernorm in float32 returns float32 and tracks the float64 result", () => {
  const c = cases.layernorm.default;
  const x = fixtureTensor(c.x),
    gamma = fixtureTensor(c.gamma),
    beta = fixtureTensor(c.beta),
    dout = fixtureTensor(c.dout);
  const r64 = layernormForward(x, gamma, beta), g64 = layernormBackward(dout, r64.cache);
  const r32 = layernormForward(astype(x, "float32"), astype(gamma, "float32"), astype(beta, "float32"));
  const g32 = layernormBackward(astype(dout, "float32"), r32.cache);
  assertFloat32Tracks({
    out: [r32.out, r64.out],
    dx: [g32.dx, g64.dx],
    dgamma: [g32.dgamma, g64.dgamma],
    dbeta: [g32.dbeta, g64.dbeta],
  }, 1e-5);
});

Deno.test("layernorm of a constant row gives beta and finite gradients, never NaN", () => {
  const x = array([[4, 4, 4], [1, 2, 6]]);
  const beta = array([1, 2, 3]);
  const { out, cache } = layernormForward(x, array([2, 2, 2]), beta);
  assertEquals(Array.from(out.data.subarray(0, 3)), [1, 2, 3]);
  const { dx, dgamma, dbeta } = layernormBackward(array([[1, 0, 2], [0, 1, 1]]), cache);
  for (const t of [dx, dgamma, dbeta]) assert(t.data.every(Number.isFinite), `${t.data}`);
  // Constant row: x̂ = 0, so dx = istd·(g − mean(g)) with g = 2·dout = (2, 0, 4).
  assertLess(
    relError(array(Array.from(dx.data.subarray(0, 3))), array([0, -2, 2].map((v) => v / Math.sqrt(1e-5)))),
    1e-9,
  );
});

Deno.test("layernorm rejects bad shapes, dtypes and eps with messages naming the rule", () => {
  const x = zeros([3, 5]), g = zeros([5]), b = zeros([5]);
  assertThrows(
    () => layernormForward(x, zeros([3]), b),
    RangeError,
    "layernormForward: gamma (3,) must have shape (D,) = (5,) for x (3, 5)",
  );
  assertThrows(
    () => layernormForward(zeros([3, 5, 2]), g, b),
    RangeError,
    "layernormForward: x (3, 5, 2) must be 2-D (N, D)",
  );
  assertThrows(
    () => layernormForward(x, g, zeros([5], "float32")),
    TypeError,
    "layernormForward: x is float64, gamma is float64, beta is float32; they must share one dtype",
  );
  assertThrows(
    () => layernormForward(x, g, b, { eps: -1 }),
    RangeError,
    "layernormForward: eps -1 must be a positive finite number",
  );
  const { cache } = layernormForward(x, g, b);
  assertThrows(
    () => layernormBackward(zeros([5, 3]), cache),
    RangeError,
    "layernormBackward: dout (5, 3) and x (3, 5) must have the same shape",
  );
});
