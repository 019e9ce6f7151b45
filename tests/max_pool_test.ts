import { assertEquals, assertLess, assertThrows } from "@std/assert";
import { maxPoolBackwardNaive, maxPoolForwardNaive, type PoolParam } from "../layers/max_pool_naive.ts";
import { maxPoolBackwardFast, maxPoolForwardFast } from "../layers/max_pool_fast.ts";
import { evalNumericalGradientArray, relError } from "../layers/gradient_check.ts";
import { RandomState } from "../layers/random.ts";
import { array, astype, linspace, reshape, Tensor, toNested, zeros } from "../layers/tensor.ts";
import { assertMatchesPrinted8, fixtureTensor, type LayerCase, readFixture } from "./helpers.ts";

/** A case of tests/fixtures/conv_pool.py's "pool": the pooling window and stride too. */
interface PoolFixture extends LayerCase {
  poolHeight: number;
  poolWidth: number;
  stride: number;
}
const fixture = await readFixture<{ pool: PoolFixture[] }>("conv_pool.json");

type Forward = typeof maxPoolForwardNaive;
type Backward = typeof maxPoolBackwardNaive;
const versions: [string, Forward, Backward][] = [
  ["naive", maxPoolForwardNaive, maxPoolBackwardNaive],
  ["fast", maxPoolForwardFast, maxPoolBackwardFast],
];

Deno.test("maxPoolForward (naive and fast) reproduces the notebook's fixed vector to its printed 8 decimals", () => {
  const x = reshape(linspace(-0.3, 0.4, 2 * 3 * 4 * 4), [2, 3, 4, 4]);
  const correct = array([
    [[[-0.26315789, -0.24842105], [-0.20421053, -0.18947368]], [[-0.14526316, -0.13052632], [
      -0.08631579,
      -0.07157895,
    ]], [[-0.02736842, -0.01263158], [0.03157895, 0.04631579]]],
    [[[0.09052632, 0.10526316], [0.14947368, 0.16421053]], [[0.20842105, 0.22315789], [0.26736842, 0.28210526]], [
      [0.32631579, 0.34105263],
      [0.38526316, 0.4],
    ]],
  ]);
  for (const [name, forward] of versions) {
    const { out } = forward(x, { poolHeight: 2, poolWidth: 2, stride: 2 });
    assertEquals(out.shape, [2, 3, 2, 2]);
    assertMatchesPrinted8(out, correct, `maxPoolForward ${name}`);
  }
});

// The seeded numeric gradient check of maxPoolBackwardNaive and maxPoolBackwardFast (2×2, stride 2) is the catalogue's (layers/gradient_checks.ts, entry "max-pool-naive" and "max-pool-fast"),
// run with its bound by tests/gradient_checks_test.ts.

Deno.test("maxPool fast, general path: backward matches numeric gradients within 1e-11 (3×3 stride 2, overlapping)", () => {
  const rs = new RandomState(232);
  const x = rs.randn(2, 2, 7, 7), dout = rs.randn(2, 2, 3, 3);
  const param = { poolHeight: 3, poolWidth: 3, stride: 2 };
  const { dx } = maxPoolBackwardFast(dout, maxPoolForwardFast(x, param).cache);
  const err = relError(dx, evalNumericalGradientArray((t) => maxPoolForwardFast(t, param).out, x, dout));
  console.log(`maxPool fast (general path) gradient check: dx ${err.toExponential(2)}`);
  assertLess(err, 1e-11);
});

const configs: { x: number[]; param: Required<PoolParam> }[] = [
  // Reshape path: windows tile the input.
  { x: [2, 3, 8, 8], param: { poolHeight: 2, poolWidth: 2, stride: 2 } },
  { x: [2, 2, 9, 6], param: { poolHeight: 3, poolWidth: 3, stride: 3 } },
  { x: [1, 2, 5, 5], param: { poolHeight: 1, poolWidth: 1, stride: 1 } },
  // General path: overlapping, gapped, non-square windows.
  { x: [2, 2, 7, 7], param: { poolHeight: 3, poolWidth: 3, stride: 2 } },
  { x: [2, 2, 6, 8], param: { poolHeight: 2, poolWidth: 4, stride: 2 } },
  { x: [1, 3, 5, 4], param: { poolHeight: 2, poolWidth: 2, stride: 1 } },
  { x: [2, 1, 7, 7], param: { poolHeight: 1, poolWidth: 1, stride: 3 } },
  { x: [2, 2, 8, 8], param: { poolHeight: 2, poolWidth: 2, stride: 3 } },
  { x: [1, 2, 4, 6], param: { poolHeight: 4, poolWidth: 6, stride: 1 } },
];
const label = (c: (typeof configs)[number]) =>
  `x (${c.x}) ${c.param.poolHeight}×${c.param.poolWidth} stride ${c.param.stride}`;
const outShape = (c: (typeof configs)[number]) => [
  c.x[0],
  c.x[1],
  1 + (c.x[2] - c.param.poolHeight) / c.param.stride,
  1 + (c.x[3] - c.param.poolWidth) / c.param.stride,
];

Deno.test("maxPoolForwardFast/maxPoolBackwardFast equal the naive versions exactly (both paths, random configs)", () => {
  const rs = new RandomState(0);
  for (const c of configs) {
    // Rounded normals: plenty of ties inside windows.
    for (const ties of [false, true]) {
      const x = rs.randn(...c.x);
      if (ties) { for (let i = 0; i < x.size; i++) x.data[i] = Math.round(x.data[i]); }
      const dout = rs.randn(...outShape(c));
      const naive = maxPoolForwardNaive(x, c.param), fast = maxPoolForwardFast(x, c.param);
      assertEquals(fast.out.shape, outShape(c));
      assertEquals(fast.out.data, naive.out.data, label(c));
      assertEquals(maxPoolBackwardFast(dout, fast.cache).dx.data, maxPoolBackwardNaive(dout, naive.cache).dx.data);
    }
  }
});

Deno.test("maxPool (naive and fast) matches PyTorch's max_pool2d and autograd within 1e-9 (fixture, ties included)", () => {
  for (const c of fixture.pool) {
    const x = fixtureTensor(c.x), dout = fixtureTensor(c.dout);
    for (const [name, forward, backward] of versions) {
      const { out, cache } = forward(x, { poolHeight: c.poolHeight, poolWidth: c.poolWidth, stride: c.stride });
      assertEquals(out.shape, c.out.shape);
      const errs = [relError(out, fixtureTensor(c.out)), relError(backward(dout, cache).dx, fixtureTensor(c.dx))];
      console.log(`maxPool ${name} vs torch, ${c.name}: out/dx rel error ${errs.map((e) => e.toExponential(1))}`);
      for (const e of errs) assertLess(e, 1e-9, `${name} ${c.name}`);
    }
  }
});

Deno.test("maxPool float32 (naive and fast) equals float64 on the same values and returns float32", () => {
  const rs = new RandomState(1);
  for (const c of configs) {
    const x32 = astype(rs.randn(...c.x), "float32"), dout32 = astype(rs.randn(...outShape(c)), "float32");
    const ref = maxPoolForwardNaive(astype(x32, "float64"), c.param);
    const refDx = maxPoolBackwardNaive(astype(dout32, "float64"), ref.cache).dx;
    for (const [name, forward, backward] of versions) {
      const { out, cache } = forward(x32, c.param);
      const { dx } = backward(dout32, cache);
      assertEquals([out.dtype, dx.dtype], ["float32", "float32"]);
      // Maxima are copies; dx adds at most a few float32 gradients per element.
      assertEquals(Array.from(out.data), Array.from(ref.out.data), `${name} ${label(c)}`);
      assertLess(relError(dx, refDx), 1e-6, `${name} ${label(c)}`);
    }
  }
});

Deno.test("maxPoolBackward (naive and fast, both paths) sends the gradient to the first maximum on ties", () => {
  // Every window of both layouts holds two equal maxima.
  const x = array([[[[1, 3, 3, 0], [3, 2, 2, 3], [0, 0, 5, 5], [0, 0, 5, 5]]]]);
  const dout = array([[[[1, 10], [100, 1000]]]]);
  for (const [, forward, backward] of versions) {
    // 2×2 stride 2: the reshape path in the fast version. (The course's
    // max_pool_backward_reshape would give every tied maximum the gradient.)
    const tiled = forward(x, {});
    assertEquals(toNested(tiled.out), [[[[3, 3], [0, 5]]]]);
    assertEquals(toNested(backward(dout, tiled.cache).dx), [[[
      [0, 1, 10, 0],
      [0, 0, 0, 0],
      [100, 0, 1000, 0],
      [0, 0, 0, 0],
    ]]]);
    // 2×2 stride 1 on the first two rows: the general path; overlapping windows add up.
    const rows = reshape(new Tensor(x.data.slice(0, 8), [1, 1, 2, 4]), [1, 1, 2, 4]);
    const general = forward(rows, { poolHeight: 2, poolWidth: 2, stride: 1 });
    assertEquals(toNested(general.out), [[[[3, 3, 3]]]]);
    assertEquals(toNested(backward(array([[[[1, 10, 100]]]]), general.cache).dx), [[[[0, 11, 100, 0], [0, 0, 0, 0]]]]);
  }
});

Deno.test("maxPool (naive and fast) pools a window holding NaN to NaN and sends its gradient to the first NaN", () => {
  const x = array([[[[1, NaN, 0, 2], [NaN, 9, 4, 3]]]]);
  for (const [, forward, backward] of versions) {
    for (const param of [{}, { poolHeight: 2, poolWidth: 2, stride: 1 }]) {
      const { out, cache } = forward(x, param);
      assertEquals(Number.isNaN(out.data[0]), true);
      const dx = backward(new Tensor(new Float64Array(out.size).fill(1), out.shape), cache).dx;
      assertEquals(dx.data[1] >= 1 && dx.data[4] === 0, true);
    }
  }
});

Deno.test("backward of either version accepts the other's cache", () => {
  const rs = new RandomState(2);
  for (const c of [configs[0], configs[3]]) {
    const x = rs.randn(...c.x), dout = rs.randn(...outShape(c));
    const reference = maxPoolBackwardNaive(dout, maxPoolForwardNaive(x, c.param).cache).dx;
    assertEquals(maxPoolBackwardFast(dout, maxPoolForwardNaive(x, c.param).cache).dx.data, reference.data);
    assertEquals(maxPoolBackwardNaive(dout, maxPoolForwardFast(x, c.param).cache).dx.data, reference.data);
  }
});

Deno.test("maxPoolForward (naive and fast) rejects bad shapes and parameters, naming the rule", () => {
  const x = zeros([2, 3, 4, 4]);
  for (const [name, forward] of versions) {
    const fn = `maxPoolForward${name === "naive" ? "Naive" : "Fast"}`;
    const bad = (f: () => unknown, msg: string) => assertThrows(f, RangeError, msg);
    bad(() => forward(zeros([2, 4, 4])), `${fn}: x (2, 4, 4) must be 4-D (N, C, H, W)`);
    bad(() => forward(x, { stride: 0 }), `${fn}: stride must be a positive integer, got 0`);
    bad(() => forward(x, { stride: -1 }), "stride must be a positive integer, got -1");
    bad(() => forward(x, { poolHeight: 0 }), `${fn}: poolHeight must be a positive integer, got 0`);
    bad(() => forward(x, { poolWidth: 1.5 }), `${fn}: poolWidth must be a positive integer, got 1.5`);
    bad(
      () => forward(x, { poolHeight: 5, poolWidth: 2, stride: 1 }),
      `${fn}: pool window 5 × 2 does not fit in x (2, 3, 4, 4)`,
    );
    bad(
      () => forward(zeros([1, 1, 5, 4])),
      `${fn}: (H − poolHeight) = 3 is not divisible by stride 2 for x (1, 1, 5, 4)`,
    );
    bad(
      () => forward(zeros([1, 1, 5, 7]), { poolHeight: 2, poolWidth: 3, stride: 3 }),
      `${fn}: (W − poolWidth) = 4 is not divisible by stride 3 for x (1, 1, 5, 7)`,
    );
  }
});

Deno.test("maxPoolBackward (naive and fast) rejects a dout whose shape or dtype differs from the forward output", () => {
  for (const [name, forward, backward] of versions) {
    const fn = `maxPoolBackward${name === "naive" ? "Naive" : "Fast"}`;
    const { cache } = forward(zeros([2, 3, 4, 4]), {});
    assertThrows(
      () => backward(zeros([2, 3, 2, 3]), cache),
      RangeError,
      `${fn}: dout (2, 3, 2, 3) must have the forward output's shape (2, 3, 2, 2)`,
    );
    assertThrows(
      () => backward(zeros([2, 3, 2, 2], "float32"), cache),
      TypeError,
      `${fn}: dout is float32 but x is float64; they must share one dtype`,
    );
  }
});
