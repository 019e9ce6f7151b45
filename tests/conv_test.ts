import { assertEquals, assertLess, assertNotEquals, assertThrows } from "@std/assert";
import { convBackwardNaive, type ConvCache, convForwardNaive, type ConvGrads } from "../layers/conv_naive.ts";
import { convBackwardFast, convForwardFast } from "../layers/conv_fast.ts";
import type { ConvGeometry } from "../layers/conv_params.ts";
import { col2im, im2col } from "../layers/kernels/im2col.ts";
import { evalNumericalGradientArray, relError } from "../layers/gradient_check.ts";
import { RandomState } from "../layers/random.ts";
import { array, astype, linspace, reshape, type Tensor, zeros } from "../layers/tensor.ts";
import { type Arr, assertMatchesPrinted8, fixtureTensor, normwiseError, readFixture } from "./helpers.ts";

interface ConvFixture {
  name: string;
  stride: number;
  pad: number;
  x: Arr;
  w: Arr;
  b: Arr;
  out: Arr;
  dout: Arr;
  dx: Arr;
  dw: Arr;
  db: Arr;
}
const fixture = await readFixture<{ conv: ConvFixture[] }>("conv_pool.json");

type Forward = typeof convForwardNaive;
type Backward = typeof convBackwardNaive;
const versions: [string, Forward, Backward][] = [
  ["naive", convForwardNaive, convBackwardNaive],
  ["fast", convForwardFast, convBackwardFast],
];

Deno.test("convForward (naive and fast) reproduces the notebook's fixed vector to its printed 8 decimals", () => {
  // numpy's linspace includes the endpoint, as tensor.ts's does.
  const x = reshape(linspace(-0.1, 0.5, 2 * 3 * 4 * 4), [2, 3, 4, 4]);
  const w = reshape(linspace(-0.2, 0.3, 3 * 3 * 4 * 4), [3, 3, 4, 4]);
  const b = linspace(-0.1, 0.2, 3);
  const correct = array([
    [[[-0.08759809, -0.10987781], [-0.18387192, -0.2109216]], [[0.21027089, 0.21661097], [0.22847626, 0.23004637]], [
      [0.50813986, 0.54309974],
      [0.64082444, 0.67101435],
    ]],
    [[[-0.98053589, -1.03143541], [-1.19128892, -1.24695841]], [[0.69108355, 0.66880383], [0.59480972, 0.56776003]], [
      [2.36270298, 2.36904306],
      [2.38090835, 2.38247847],
    ]],
  ]);
  for (const [name, forward] of versions) {
    const { out } = forward(x, w, b, { stride: 2, pad: 1 });
    assertEquals(out.shape, [2, 3, 2, 2]);
    assertMatchesPrinted8(out, correct, `convForward ${name}`);
  }
});

for (const [name, forward, backward] of versions) {
  Deno.test(`conv ${name}: backward matches numeric gradients to ~1e-8 (notebook shapes, stride 1, pad 1)`, () => {
    const rs = new RandomState(231);
    const x = rs.randn(4, 3, 5, 5), w = rs.randn(2, 3, 3, 3), b = rs.randn(2), dout = rs.randn(4, 2, 5, 5);
    const param = { stride: 1, pad: 1 };
    const { out, cache } = forward(x, w, b, param);
    assertEquals(out.shape, [4, 2, 5, 5]);
    const { dx, dw, db } = backward(dout, cache);
    const dxNum = evalNumericalGradientArray((t) => forward(t, w, b, param).out, x, dout);
    const dwNum = evalNumericalGradientArray((t) => forward(x, t, b, param).out, w, dout);
    const dbNum = evalNumericalGradientArray((t) => forward(x, w, t, param).out, b, dout);
    const errs = { dx: relError(dx, dxNum), dw: relError(dw, dwNum), db: relError(db, dbNum) };
    console.log(`conv ${name} gradient check: ${Object.entries(errs).map(([k, v]) => `${k} ${v.toExponential(2)}`)}`);
    // Conv is linear in each argument, so the centered differences carry only
    // round-off noise (~1e-8 relative on the smallest dx entries: the course's
    // own numpy run of these inputs reports dx 1.2e-8); "around 1e-8" means
    // below 5e-8 here.
    for (const e of Object.values(errs)) assertLess(e, 5e-8);
  });
}

const randomConfigs: { x: number[]; w: number[]; stride: number; pad: number }[] = [
  { x: [2, 3, 7, 7], w: [4, 3, 3, 3], stride: 1, pad: 1 },
  { x: [2, 3, 8, 8], w: [3, 3, 4, 4], stride: 2, pad: 1 },
  { x: [3, 2, 6, 6], w: [2, 2, 2, 2], stride: 2, pad: 0 },
  { x: [1, 3, 5, 7], w: [3, 3, 5, 3], stride: 1, pad: 2 },
  { x: [2, 2, 6, 9], w: [2, 2, 2, 3], stride: 2, pad: 2 },
  { x: [2, 2, 9, 9], w: [2, 2, 3, 3], stride: 3, pad: 0 },
  { x: [2, 4, 5, 5], w: [3, 4, 1, 1], stride: 1, pad: 0 },
  // The filter is larger than the input: some taps only ever see padding.
  { x: [1, 1, 2, 2], w: [1, 1, 4, 4], stride: 1, pad: 1 },
];

function randomCase(rs: RandomState, c: (typeof randomConfigs)[number]) {
  const [N] = c.x, [F, , HH, WW] = c.w;
  const x = rs.randn(...c.x), w = rs.randn(...c.w), b = rs.randn(F);
  const outH = 1 + (c.x[2] + 2 * c.pad - HH) / c.stride, outW = 1 + (c.x[3] + 2 * c.pad - WW) / c.stride;
  return { x, w, b, dout: rs.randn(N, F, outH, outW), param: { stride: c.stride, pad: c.pad } };
}

const label = (c: (typeof randomConfigs)[number]) => `x (${c.x}) w (${c.w}) stride ${c.stride} pad ${c.pad}`;

Deno.test("convForwardFast and convBackwardFast equal the naive versions within 1e-9 (float64, random configs)", () => {
  const rs = new RandomState(0);
  let worst = 0;
  for (const c of randomConfigs) {
    const { x, w, b, dout, param } = randomCase(rs, c);
    const naive = convForwardNaive(x, w, b, param), fast = convForwardFast(x, w, b, param);
    assertEquals(fast.out.shape, naive.out.shape);
    const gn = convBackwardNaive(dout, naive.cache), gf = convBackwardFast(dout, fast.cache);
    const errs = [
      relError(fast.out, naive.out),
      relError(gf.dx, gn.dx),
      relError(gf.dw, gn.dw),
      relError(gf.db, gn.db),
    ];
    for (const e of errs) assertLess(e, 1e-9, label(c));
    worst = Math.max(worst, ...errs);
  }
  console.log(`conv fast vs naive, ${randomConfigs.length} configs: worst rel error ${worst.toExponential(2)}`);
});

Deno.test("conv float32 (naive and fast) agrees with float64 within float32 rounding and returns float32", () => {
  const rs = new RandomState(1);
  const worst: Record<string, number> = { naive: 0, fast: 0 };
  for (const c of randomConfigs) {
    const { x, w, b, dout, param } = randomCase(rs, c);
    const [x32, w32, b32, dout32] = [x, w, b, dout].map((t) => astype(t, "float32"));
    // The float64 reference sees the same (float32-rounded) inputs.
    const [x64, w64, b64, dout64] = [x32, w32, b32, dout32].map((t) => astype(t, "float64"));
    const ref = convForwardNaive(x64, w64, b64, param);
    const refGrads = convBackwardNaive(dout64, ref.cache);
    for (const [name, forward, backward] of versions) {
      const { out, cache } = forward(x32, w32, b32, param);
      const grads = backward(dout32, cache);
      for (const t of [out, grads.dx, grads.dw, grads.db]) assertEquals(t.dtype, "float32");
      const errs = [
        normwiseError(out, ref.out),
        normwiseError(grads.dx, refGrads.dx),
        normwiseError(grads.dw, refGrads.dw),
        normwiseError(grads.db, refGrads.db),
      ];
      for (const e of errs) assertLess(e, 1e-6, `${name} ${label(c)}`);
      worst[name] = Math.max(worst[name], ...errs);
    }
  }
  console.log(
    `conv float32 vs float64, max|Δ|/max|ref|: naive ${worst.naive.toExponential(2)}, fast ${
      worst.fast.toExponential(2)
    }`,
  );
});

Deno.test("conv (naive and fast) matches PyTorch's conv2d and autograd within 1e-9 (fixture)", () => {
  for (const c of fixture.conv) {
    const x = fixtureTensor(c.x), w = fixtureTensor(c.w), b = fixtureTensor(c.b), dout = fixtureTensor(c.dout);
    const expected: Record<string, Tensor> = {
      dx: fixtureTensor(c.dx),
      dw: fixtureTensor(c.dw),
      db: fixtureTensor(c.db),
    };
    for (const [name, forward, backward] of versions) {
      const { out, cache } = forward(x, w, b, { stride: c.stride, pad: c.pad });
      assertEquals(out.shape, c.out.shape);
      const outErr = relError(out, fixtureTensor(c.out));
      const grads: ConvGrads = backward(dout, cache);
      const errs = [outErr, ...(["dx", "dw", "db"] as const).map((k) => relError(grads[k], expected[k]))];
      console.log(`conv ${name} vs torch, ${c.name}: out/dx/dw/db rel error ${errs.map((e) => e.toExponential(1))}`);
      for (const e of errs) assertLess(e, 1e-9, `${name} ${c.name}`);
    }
  }
});

Deno.test("backward of either version accepts the other's cache", () => {
  const { x, w, b, dout, param } = randomCase(new RandomState(2), randomConfigs[1]);
  const naive = convForwardNaive(x, w, b, param), fast = convForwardFast(x, w, b, param);
  const reference = convBackwardNaive(dout, naive.cache);
  for (const grads of [convBackwardFast(dout, naive.cache), convBackwardNaive(dout, fast.cache)]) {
    assertLess(relError(grads.dx, reference.dx), 1e-9);
    assertLess(relError(grads.dw, reference.dw), 1e-9);
  }
});

Deno.test("convForwardFast/convBackwardFast stay correct when other layers' calls reuse the scratch buffers", () => {
  const rs = new RandomState(3);
  // A big layer, then a small one, then both backward passes in reverse order, as a network does.
  const big = randomCase(rs, randomConfigs[0]), small = randomCase(rs, randomConfigs[2]);
  const bigFwd = convForwardFast(big.x, big.w, big.b, big.param);
  const bigOut = bigFwd.out.data.slice();
  const smallFwd = convForwardFast(small.x, small.w, small.b, small.param);
  assertEquals(bigFwd.out.data, bigOut, "a later forward pass must not overwrite an earlier output");
  const smallGrads = convBackwardFast(small.dout, smallFwd.cache);
  const bigGrads = convBackwardFast(big.dout, bigFwd.cache);
  const check = (got: ConvGrads, c: typeof big, cache: ConvCache) => {
    const ref = convBackwardNaive(c.dout, cache);
    assertLess(relError(got.dx, ref.dx), 1e-9);
    assertLess(relError(got.dw, ref.dw), 1e-9);
    assertLess(relError(got.db, ref.db), 1e-9);
  };
  check(smallGrads, small, smallFwd.cache);
  check(bigGrads, big, bigFwd.cache);
  assertLess(relError(bigFwd.out, convForwardNaive(big.x, big.w, big.b, big.param).out), 1e-9);
});

Deno.test("im2col lays out (C·HH·WW, N·H'·W') with zero padding and col2im is its adjoint", () => {
  const g: ConvGeometry = { N: 2, C: 2, H: 3, W: 4, HH: 2, WW: 3, stride: 1, pad: 1, outH: 4, outW: 4 };
  const rs = new RandomState(4);
  const x = rs.randn(2, 2, 3, 4).data;
  const K = 2 * 2 * 3, NP = 2 * 16;
  const cols = new Float64Array(K * NP + 5).fill(7); // longer than needed, as a reused buffer
  im2col(x, g, cols);
  for (let c = 0; c < 2; c++) {
    for (let i = 0; i < 2; i++) {
      for (let j = 0; j < 3; j++) {
        for (let n = 0; n < 2; n++) {
          for (let oh = 0; oh < 4; oh++) {
            for (let ow = 0; ow < 4; ow++) {
              const h = oh + i - 1, col = ow + j - 1;
              const expected = h < 0 || h >= 3 || col < 0 || col >= 4 ? 0 : x[((n * 2 + c) * 3 + h) * 4 + col];
              assertEquals(cols[((c * 2 + i) * 3 + j) * NP + (n * 4 + oh) * 4 + ow], expected);
            }
          }
        }
      }
    }
  }
  assertEquals(Array.from(cols.subarray(K * NP)), [7, 7, 7, 7, 7]);
  // ⟨im2col(x), y⟩ = ⟨x, col2im(y)⟩.
  const y = rs.randn(K, NP).data;
  const back = new Float64Array(x.length);
  col2im(y, g, back);
  let lhs = 0, rhs = 0;
  for (let i = 0; i < K * NP; i++) lhs += cols[i] * y[i];
  for (let i = 0; i < x.length; i++) rhs += x[i] * back[i];
  assertLess(Math.abs(lhs - rhs), 1e-12 * Math.abs(lhs));
});

Deno.test("convForward (naive and fast) rejects bad shapes and parameters, naming the rule", () => {
  const x = zeros([2, 3, 4, 4]), w = zeros([3, 3, 4, 4]), b = zeros([3]);
  for (const [name, forward] of versions) {
    const fn = `convForward${name === "naive" ? "Naive" : "Fast"}`;
    const bad = (f: () => unknown, msg: string, cls: typeof RangeError | typeof TypeError = RangeError) =>
      assertThrows(f, cls, msg);
    bad(() => forward(zeros([2, 3, 4]), w, b), `${fn}: x (2, 3, 4) must be 4-D (N, C, H, W)`);
    bad(() => forward(x, zeros([3, 3, 4]), b), `${fn}: w (3, 3, 4) must be 4-D (F, C, HH, WW)`);
    bad(() => forward(x, w, zeros([3, 1])), `${fn}: b (3, 1) must be 1-D (F,)`);
    bad(() => forward(x, zeros([3, 2, 4, 4]), b), `${fn}: x (2, 3, 4, 4) has C = 3 channels but w (3, 2, 4, 4) has 2`);
    bad(() => forward(x, w, zeros([4])), `${fn}: b (4,) must have F = 3 elements, one per filter of w (3, 3, 4, 4)`);
    bad(() => forward(x, w, b, { stride: 0 }), `${fn}: stride must be a positive integer, got 0`);
    bad(() => forward(x, w, b, { stride: -2 }), "stride must be a positive integer, got -2");
    bad(() => forward(x, w, b, { stride: 1.5 }), "stride must be a positive integer, got 1.5");
    bad(() => forward(x, w, b, { pad: -1 }), `${fn}: pad must be a non-negative integer, got -1`);
    bad(() => forward(x, w, b, { pad: 0.5 }), "pad must be a non-negative integer, got 0.5");
    bad(
      () => forward(x, zeros([3, 3, 7, 3]), b, { pad: 1 }),
      `${fn}: filter 7 × 3 of w (3, 3, 7, 3) is larger than the padded input 6 × 6 (pad 1) of x (2, 3, 4, 4)`,
    );
    bad(() => forward(x, zeros([3, 3, 0, 3]), b), `${fn}: w (3, 3, 0, 3) has an empty 0 × 3 filter`);
    bad(
      () => forward(zeros([2, 3, 5, 5]), w, b, { stride: 2 }),
      `${fn}: (H + 2·pad − HH) = 1 is not divisible by stride 2 for x (2, 3, 5, 5) and w (3, 3, 4, 4)`,
    );
    bad(
      () => forward(zeros([1, 3, 6, 4]), w, b, { stride: 3, pad: 1 }),
      `${fn}: (H + 2·pad − HH) = 4 is not divisible by stride 3`,
    );
    bad(
      () => forward(zeros([1, 3, 6, 5]), w, b, { stride: 2, pad: 1 }),
      `${fn}: (W + 2·pad − WW) = 3 is not divisible by stride 2 for x (1, 3, 6, 5) and w (3, 3, 4, 4)`,
    );
    bad(
      () => forward(x, astype(w, "float32"), b),
      `${fn}: x is float64, w is float32, b is float64; they must share one dtype`,
      TypeError,
    );
  }
  // The style guide's own example.
  assertThrows(
    () => convForwardFast(zeros([50, 3, 31, 31]), zeros([25, 3, 3, 3]), zeros([25]), { stride: 3, pad: 2 }),
    RangeError,
    "convForwardFast: (H + 2·pad − HH) = 32 is not divisible by stride 3 for x (50, 3, 31, 31)",
  );
});

Deno.test("convBackward (naive and fast) rejects a dout whose shape or dtype differs from the forward output", () => {
  const x = zeros([2, 3, 4, 4]), w = zeros([3, 3, 2, 2]), b = zeros([3]);
  for (const [name, forward, backward] of versions) {
    const fn = `convBackward${name === "naive" ? "Naive" : "Fast"}`;
    const { out, cache } = forward(x, w, b, { stride: 2 });
    assertEquals(out.shape, [2, 3, 2, 2]);
    assertThrows(
      () => backward(zeros([2, 3, 2, 3]), cache),
      RangeError,
      `${fn}: dout (2, 3, 2, 3) must have the forward output's shape (2, 3, 2, 2)`,
    );
    assertThrows(() => backward(zeros([24]), cache), RangeError, "must have the forward output's shape");
    assertThrows(
      () => backward(zeros([2, 3, 2, 2], "float32"), cache),
      TypeError,
      `${fn}: dout is float32 but x is float64; they must share one dtype`,
    );
  }
});

Deno.test("convForward with an empty batch gives an empty output and empty-batch gradients", () => {
  for (const [, forward, backward] of versions) {
    const { out, cache } = forward(zeros([0, 2, 4, 4]), zeros([3, 2, 3, 3]), zeros([3]), { pad: 1 });
    assertEquals(out.shape, [0, 3, 4, 4]);
    const { dx, dw, db } = backward(zeros([0, 3, 4, 4]), cache);
    assertEquals([dx.shape, dw.shape, db.shape], [[0, 2, 4, 4], [3, 2, 3, 3], [3]]);
    assertNotEquals(dw.data.length, 0);
    assertEquals(Array.from(dw.data).every((v) => v === 0), true);
  }
});
