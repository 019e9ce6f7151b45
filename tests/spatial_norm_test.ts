import { assert, assertEquals, assertLess, assertStrictEquals, assertThrows } from "@std/assert";
import { batchnormBackward, batchnormForward, type BatchnormParam } from "../layers/batchnorm.ts";
import { relError } from "../layers/gradient_check.ts";
import { layernormForward } from "../layers/layernorm.ts";
import { RandomState } from "../layers/random.ts";
import { spatialBatchnormBackward, spatialBatchnormForward } from "../layers/spatial_batchnorm.ts";
import { spatialGroupnormBackward, spatialGroupnormForward } from "../layers/spatial_groupnorm.ts";
import { array, astype, full, map, reshape, type Tensor, transpose, zeros } from "../layers/tensor.ts";
import {
  type Arr,
  assertErrorsBelow,
  assertFloat32Tracks,
  assertStats,
  type BlockStats,
  blockStats,
  bnParamOf,
  fixtureTensor,
  formatErrors,
  normCaseErrors,
  readNormCases,
} from "./helpers.ts";

const cases = await readNormCases();

/** Mean and biased std of each channel of (N, C, H, W) over N·H·W (numpy's `axis=(0, 2, 3)`). */
function channelStats(t: Tensor): BlockStats {
  const [n, , h, w] = t.shape;
  return blockStats(transpose(t, [1, 0, 2, 3]).data, n * h * w);
}

Deno.test("spatialBatchnormForward in train mode normalises every channel over N·H·W", () => {
  const rs = new RandomState(231);
  const [N, C, H, W] = [2, 3, 4, 5];
  const x = map(rs.randn(N, C, H, W), (v) => 4 * v + 10);
  const before = channelStats(x);
  assert(before.means.every((m) => Math.abs(m - 10) < 2) && before.stds.every((s) => Math.abs(s - 4) < 1.5));

  const plain = channelStats(spatialBatchnormForward(x, full([C], 1), zeros([C]), { mode: "train" }).out);
  const gamma = [3, 4, 5], beta = [6, 7, 8];
  const scaled = channelStats(spatialBatchnormForward(x, array(gamma), array(beta), { mode: "train" }).out);
  for (let c = 0; c < C; c++) {
    // eps shrinks the std to gamma·sqrt(var / (var + eps)): 1 − 3e-7 here, so compare with that exactly.
    const shrink = Math.sqrt(before.stds[c] ** 2 / (before.stds[c] ** 2 + 1e-5));
    assertLess(Math.abs(plain.means[c]), 1e-12);
    assertLess(Math.abs(plain.stds[c] - shrink), 1e-12);
    assertLess(Math.abs(scaled.means[c] - beta[c]), 1e-12);
    assertLess(Math.abs(scaled.stds[c] - gamma[c] * shrink), 1e-12);
  }
});

Deno.test("spatialBatchnormForward in test mode uses running averages warmed up over 50 train passes", () => {
  const rs = new RandomState(231);
  const [N, C, H, W] = [10, 4, 11, 12];
  const bnParam: BatchnormParam = { mode: "train" };
  const gamma = full([C], 1), beta = zeros([C]);
  for (let t = 0; t < 50; t++) {
    spatialBatchnormForward(map(rs.randn(N, C, H, W), (v) => 2.3 * v + 13), gamma, beta, bnParam);
  }
  assertEquals(bnParam.runningMean!.shape, [C]);
  bnParam.mode = "test";
  const { out, cache } = spatialBatchnormForward(map(rs.randn(N, C, H, W), (v) => 2.3 * v + 13), gamma, beta, bnParam);
  const stats = channelStats(out);
  console.log(`  test-mode means ${stats.means.map((v) => v.toFixed(4))}, stds ${stats.stds.map((v) => v.toFixed(4))}`);
  assertStats(stats, { means: 0, stds: 1 }, 0.15);
  assertStrictEquals(cache, null);
});

Deno.test("spatialBatchnorm equals batchnorm on x.transpose(0, 2, 3, 1).reshape(-1, C), forward and backward", () => {
  const rs = new RandomState(7);
  const [N, C, H, W] = [3, 4, 2, 5];
  const x = map(rs.randn(N, C, H, W), (v) => 3 * v - 2);
  const gamma = rs.randn(C), beta = rs.randn(C), dout = rs.randn(N, C, H, W);
  const flat = (t: Tensor) => reshape(transpose(t, [0, 2, 3, 1]), [-1, C]);
  const back = (t: Tensor) => transpose(reshape(t, [N, H, W, C]), [0, 3, 1, 2]);
  const pS: BatchnormParam = { mode: "train", momentum: 0.8 }, pB: BatchnormParam = { mode: "train", momentum: 0.8 };
  const s = spatialBatchnormForward(x, gamma, beta, pS);
  const b = batchnormForward(flat(x), gamma, beta, pB);
  const gs = spatialBatchnormBackward(dout, s.cache), gb = batchnormBackward(flat(dout), b.cache);
  const errs = {
    out: relError(s.out, back(b.out)),
    runningMean: relError(pS.runningMean!, pB.runningMean!),
    runningVar: relError(pS.runningVar!, pB.runningVar!),
    dx: relError(gs.dx, back(gb.dx)),
    dgamma: relError(gs.dgamma, gb.dgamma),
    dbeta: relError(gs.dbeta, gb.dbeta),
  };
  console.log(`  ${formatErrors(errs, 1)}`);
  for (const [k, v] of Object.entries(errs)) assertLess(v, 1e-12, k);
});

// The seeded numeric gradient check of spatialBatchnormBackward is the catalogue's (layers/gradient_checks.ts, entry "spatial-batchnorm"),
// run with its bounds by tests/gradient_checks_test.ts.

Deno.test("spatialGroupnormForward normalises every (example, group) block (N=2, C=6, H=4, W=5, G=2)", () => {
  const rs = new RandomState(231);
  const [N, C, H, W, G] = [2, 6, 4, 5, 2];
  const x = map(rs.randn(N, C, H, W), (v) => 4 * v + 10);
  const size = (C / G) * H * W;
  const before = blockStats(x.data, size);
  assert(before.means.every((m) => Math.abs(m - 10) < 1.5), `${before.means}`);

  const { out } = spatialGroupnormForward(x, full([1, C, 1, 1], 1), zeros([1, C, 1, 1]), G);
  const stats = blockStats(out.data, size);
  assertEquals(stats.means.length, N * G);
  assertStats(stats, { means: 0, stds: 1 }, 1e-6);
  // With unit gamma and zero beta this is layer norm of x.reshape(N·G, −1).
  const ln = layernormForward(reshape(x, [N * G, size]), full([size], 1), zeros([size])).out;
  assertLess(relError(out, ln), 1e-12);
  // Per-channel gamma and beta then scale and shift each channel's H·W values.
  const gamma = array([1, 2, 3, 4, 5, 6]), beta = array([-1, 0, 1, 2, 3, 4]);
  const scaled = spatialGroupnormForward(x, reshape(gamma, [1, C, 1, 1]), reshape(beta, [1, C, 1, 1]), G).out;
  const expected = map(out, (v, i) => {
    const c = Math.floor(i / (H * W)) % C;
    return gamma.data[c] * v + beta.data[c];
  });
  assertLess(relError(scaled, expected), 1e-14);
});

// The seeded numeric gradient check of spatialGroupnormBackward is the catalogue's (layers/gradient_checks.ts, entry "spatial-groupnorm"),
// run with its bounds by tests/gradient_checks_test.ts.

Deno.test("spatialGroupnormBackward gives dgamma and dbeta of gamma's shape (1, C, 1, 1)", () => {
  const rs = new RandomState(231);
  const x = rs.randn(2, 6, 4, 5), gamma = rs.randn(1, 6, 1, 1), beta = rs.randn(1, 6, 1, 1);
  const { dgamma, dbeta } = spatialGroupnormBackward(
    rs.randn(2, 6, 4, 5),
    spatialGroupnormForward(x, gamma, beta, 2).cache,
  );
  assertEquals(dgamma.shape, [1, 6, 1, 1]);
  assertEquals(dbeta.shape, [1, 6, 1, 1]);
});

Deno.test("spatial batchnorm agrees with PyTorch batch_norm in float64 within 1e-9 (outputs, running stats, gradients)", () => {
  for (const [name, c] of Object.entries(cases.spatialBatchnorm)) {
    const bnParam = bnParamOf(c);
    const forward = (x: Tensor, gamma: Tensor, beta: Tensor) => spatialBatchnormForward(x, gamma, beta, bnParam);
    assertErrorsBelow(name, normCaseErrors(c, forward, { "": spatialBatchnormBackward }, bnParam), 1e-9);
  }
});

Deno.test("spatial groupnorm agrees with PyTorch group_norm in float64 within 1e-9 (G = 3, 1 and C)", () => {
  for (const [name, c] of Object.entries(cases.spatialGroupnorm)) {
    const forward = (x: Tensor, gamma: Tensor, beta: Tensor) =>
      spatialGroupnormForward(x, gamma, beta, c.G!, { eps: c.eps });
    assertErrorsBelow(name, normCaseErrors(c, forward, { "": spatialGroupnormBackward }), 1e-9);
  }
});

Deno.test("spatial norms in float32 return float32 and track the float64 result", () => {
  const f32 = (a: Arr) => astype(fixtureTensor(a), "float32");
  const sb = cases.spatialBatchnorm.train;
  const s32 = spatialBatchnormForward(f32(sb.x), f32(sb.gamma), f32(sb.beta), { mode: "train" });
  const sg32 = spatialBatchnormBackward(f32(sb.dout), s32.cache);
  const gn = cases.spatialGroupnorm.G3;
  const g32 = spatialGroupnormForward(f32(gn.x), f32(gn.gamma), f32(gn.beta), gn.G!, { eps: gn.eps });
  const gg32 = spatialGroupnormBackward(f32(gn.dout), g32.cache);
  assertFloat32Tracks({
    "batchnorm out": [s32.out, fixtureTensor(sb.out)],
    "batchnorm dx": [sg32.dx, fixtureTensor(sb.dx)],
    "batchnorm dgamma": [sg32.dgamma, fixtureTensor(sb.dgamma)],
    "groupnorm out": [g32.out, fixtureTensor(gn.out)],
    "groupnorm dx": [gg32.dx, fixtureTensor(gn.dx)],
    "groupnorm dgamma": [gg32.dgamma, fixtureTensor(gn.dgamma)],
    "groupnorm dbeta": [gg32.dbeta, fixtureTensor(gn.dbeta)],
  }, 1e-4);
});

Deno.test("spatial norms of a constant channel or group give beta and finite gradients, never NaN", () => {
  const x = full([2, 4, 2, 3], 7);
  const g1 = full([4], 2), b1 = array([1, 2, 3, 4]);
  const bn = spatialBatchnormForward(x, g1, b1, { mode: "train" });
  assertEquals(Array.from(bn.out.data.subarray(0, 12)), [1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2]);
  const gn = spatialGroupnormForward(x, reshape(g1, [1, 4, 1, 1]), reshape(b1, [1, 4, 1, 1]), 2);
  assertLess(relError(gn.out, bn.out), 1e-15);
  const dout = map(x, (_, i) => Math.sin(i));
  for (const g of [spatialBatchnormBackward(dout, bn.cache), spatialGroupnormBackward(dout, gn.cache)]) {
    for (const t of [g.dx, g.dgamma, g.dbeta]) assert(t.data.every(Number.isFinite), `${t.data}`);
  }
});

Deno.test("spatial norms reject bad shapes, groups and dtypes with messages naming the rule", () => {
  const x = zeros([2, 6, 4, 5]);
  const g = zeros([1, 6, 1, 1]), b = zeros([1, 6, 1, 1]);
  assertThrows(
    () => spatialGroupnormForward(x, g, b, 4),
    RangeError,
    "spatialGroupnormForward: G = 4 does not divide C = 6 for x (2, 6, 4, 5); the channels must split into G equal groups",
  );
  assertThrows(
    () => spatialGroupnormForward(x, g, b, 0),
    RangeError,
    "spatialGroupnormForward: G = 0 must be a positive integer number of groups dividing C = 6 for x (2, 6, 4, 5)",
  );
  assertThrows(() => spatialGroupnormForward(x, g, b, 1.5), RangeError, "G = 1.5 must be a positive integer");
  assertThrows(
    () => spatialGroupnormForward(x, zeros([6]), b, 2),
    RangeError,
    "spatialGroupnormForward: gamma (6,) must have shape (1, C, 1, 1) = (1, 6, 1, 1) for x (2, 6, 4, 5)",
  );
  assertThrows(
    () => spatialGroupnormForward(zeros([2, 6, 20]), g, b, 2),
    RangeError,
    "spatialGroupnormForward: x (2, 6, 20) must be 4-D (N, C, H, W)",
  );
  assertThrows(
    () => spatialGroupnormForward(astype(x, "float32"), g, b, 2),
    TypeError,
    "spatialGroupnormForward: x is float32, gamma is float64, beta is float64; they must share one dtype",
  );
  const { cache } = spatialGroupnormForward(x, g, b, 3);
  assertThrows(
    () => spatialGroupnormBackward(zeros([2, 6, 5, 4]), cache),
    RangeError,
    "spatialGroupnormBackward: dout (2, 6, 5, 4) and x (2, 6, 4, 5) must have the same shape",
  );

  assertThrows(
    () => spatialBatchnormForward(x, zeros([1, 6, 1, 1]), zeros([6]), { mode: "train" }),
    RangeError,
    "spatialBatchnormForward: gamma (1, 6, 1, 1) must have shape (C,) = (6,) for x (2, 6, 4, 5)",
  );
  assertThrows(
    () => spatialBatchnormForward(x, zeros([6]), zeros([6]), { mode: "Train" as "train" }),
    Error,
    `spatialBatchnormForward: invalid batchnorm mode "Train"; bnParam.mode must be "train" or "test"`,
  );
  assertThrows(
    () => spatialBatchnormForward(zeros([2, 6]), zeros([6]), zeros([6]), { mode: "train" }),
    RangeError,
    "spatialBatchnormForward: x (2, 6) must be 4-D (N, C, H, W)",
  );
  const s = spatialBatchnormForward(x, zeros([6]), zeros([6]), { mode: "train" });
  assertThrows(
    () => spatialBatchnormBackward(zeros([2, 6, 4, 4]), s.cache),
    RangeError,
    "spatialBatchnormBackward: dout (2, 6, 4, 4) and x (2, 6, 4, 5) must have the same shape",
  );
});
