/**
 * Random-shape properties of the layers, as minitorch checks its operators:
 * fast and naive conv and pool agree, spatial norms equal their reshaped
 * plain forms, and backward passes match numeric gradients, on shapes and
 * hyperparameters drawn by fast-check (fixed seed, bounded counts). The
 * thresholds are those of the fixed-shape tests (conv 5e-8, norms 1e-12 for
 * the reshape identities, batch-norm dx 1e-6).
 */

import fc from "fast-check";
import { assertEquals, assertLess } from "@std/assert";
import { batchnormBackward, batchnormForward } from "../layers/batchnorm.ts";
import { convBackwardFast, convForwardFast } from "../layers/conv_fast.ts";
import { convBackwardNaive, convForwardNaive } from "../layers/conv_naive.ts";
import { evalNumericalGradientArray, relError } from "../layers/gradient_check.ts";
import { layernormBackward, layernormForward } from "../layers/layernorm.ts";
import { maxPoolBackwardFast, maxPoolForwardFast } from "../layers/max_pool_fast.ts";
import { maxPoolBackwardNaive, maxPoolForwardNaive } from "../layers/max_pool_naive.ts";
import { RandomState } from "../layers/random.ts";
import { spatialBatchnormBackward, spatialBatchnormForward } from "../layers/spatial_batchnorm.ts";
import { spatialGroupnormBackward, spatialGroupnormForward } from "../layers/spatial_groupnorm.ts";
import { full, reshape, type Tensor, transpose, zeros } from "../layers/tensor.ts";

const SEED = 231;

/** A conv problem whose geometry divides evenly: x (N, C, H, W), w (F, C, HH, WW), stride, pad. */
const convShape = fc.record({
  n: fc.integer({ min: 1, max: 2 }),
  c: fc.integer({ min: 1, max: 3 }),
  f: fc.integer({ min: 1, max: 3 }),
  hh: fc.integer({ min: 1, max: 3 }),
  ww: fc.integer({ min: 1, max: 3 }),
  stride: fc.integer({ min: 1, max: 2 }),
  pad: fc.integer({ min: 0, max: 2 }),
  outH: fc.integer({ min: 1, max: 4 }),
  outW: fc.integer({ min: 1, max: 4 }),
  seed: fc.nat(),
}).map((s) => ({
  ...s,
  // H chosen so that (H + 2·pad − HH) is a multiple of stride and H ≥ 1.
  h: Math.max(1, (s.outH - 1) * s.stride + s.hh - 2 * s.pad),
  w: Math.max(1, (s.outW - 1) * s.stride + s.ww - 2 * s.pad),
})).filter((s) => (s.h + 2 * s.pad - s.hh) % s.stride === 0 && (s.w + 2 * s.pad - s.ww) % s.stride === 0);

Deno.test("property: convForwardFast and convBackwardFast agree with the naive loops on random shapes (1e-10)", () => {
  fc.assert(
    fc.property(convShape, (s) => {
      const rs = new RandomState(s.seed);
      const x = rs.randn(s.n, s.c, s.h, s.w), w = rs.randn(s.f, s.c, s.hh, s.ww), b = rs.randn(s.f);
      const param = { stride: s.stride, pad: s.pad };
      const fast = convForwardFast(x, w, b, param), naive = convForwardNaive(x, w, b, param);
      assertEquals(fast.out.shape, naive.out.shape);
      assertLess(relError(fast.out, naive.out), 1e-10);
      const dout = rs.randn(...naive.out.shape);
      const gf = convBackwardFast(dout, fast.cache), gn = convBackwardNaive(dout, naive.cache);
      for (const k of ["dx", "dw", "db"] as const) assertLess(relError(gf[k], gn[k]), 1e-10, k);
    }),
    { seed: SEED, numRuns: 60 },
  );
});

Deno.test("property: conv backward matches numeric gradients on random small shapes (5e-8)", () => {
  fc.assert(
    fc.property(convShape.filter((s) => s.n * s.c * s.h * s.w <= 60), (s) => {
      const rs = new RandomState(s.seed);
      const x = rs.randn(s.n, s.c, s.h, s.w), w = rs.randn(s.f, s.c, s.hh, s.ww), b = rs.randn(s.f);
      const param = { stride: s.stride, pad: s.pad };
      const { out, cache } = convForwardFast(x, w, b, param);
      const dout = rs.randn(...out.shape);
      const g = convBackwardFast(dout, cache);
      assertLess(
        relError(g.dx, evalNumericalGradientArray((t) => convForwardNaive(t, w, b, param).out, x, dout)),
        5e-8,
      );
      assertLess(
        relError(g.dw, evalNumericalGradientArray((t) => convForwardNaive(x, t, b, param).out, w, dout)),
        5e-8,
      );
      assertLess(
        relError(g.db, evalNumericalGradientArray((t) => convForwardNaive(x, w, t, param).out, b, dout)),
        5e-8,
      );
    }),
    { seed: SEED, numRuns: 20 },
  );
});

const poolShape = fc.record({
  n: fc.integer({ min: 1, max: 2 }),
  c: fc.integer({ min: 1, max: 3 }),
  ph: fc.integer({ min: 1, max: 3 }),
  pw: fc.integer({ min: 1, max: 3 }),
  stride: fc.integer({ min: 1, max: 3 }),
  outH: fc.integer({ min: 1, max: 4 }),
  outW: fc.integer({ min: 1, max: 4 }),
  seed: fc.nat(),
}).map((s) => ({ ...s, h: (s.outH - 1) * s.stride + s.ph, w: (s.outW - 1) * s.stride + s.pw }));

Deno.test("property: maxPoolForwardFast and maxPoolBackwardFast equal the naive loops exactly on random shapes", () => {
  fc.assert(
    fc.property(poolShape, (s) => {
      const rs = new RandomState(s.seed);
      // Continuous values: ties (where fast and naive may route the gradient differently) have probability 0.
      const x = rs.randn(s.n, s.c, s.h, s.w);
      const param = { poolHeight: s.ph, poolWidth: s.pw, stride: s.stride };
      const fast = maxPoolForwardFast(x, param), naive = maxPoolForwardNaive(x, param);
      assertEquals(fast.out.shape, [s.n, s.c, s.outH, s.outW]);
      assertEquals([...fast.out.data], [...naive.out.data]);
      const dout = rs.randn(s.n, s.c, s.outH, s.outW);
      assertEquals([...maxPoolBackwardFast(dout, fast.cache).dx.data], [
        ...maxPoolBackwardNaive(dout, naive.cache).dx.data,
      ]);
    }),
    { seed: SEED, numRuns: 60 },
  );
});

Deno.test("property: max pool backward matches numeric gradients on random small shapes (1e-8)", () => {
  fc.assert(
    fc.property(poolShape.filter((s) => s.n * s.c * s.h * s.w <= 80), (s) => {
      const rs = new RandomState(s.seed);
      const x = rs.randn(s.n, s.c, s.h, s.w);
      const param = { poolHeight: s.ph, poolWidth: s.pw, stride: s.stride };
      const { out, cache } = maxPoolForwardNaive(x, param);
      const dout = rs.randn(...out.shape);
      const numeric = evalNumericalGradientArray((t) => maxPoolForwardNaive(t, param).out, x, dout);
      assertLess(relError(maxPoolBackwardNaive(dout, cache).dx, numeric), 1e-8);
    }),
    { seed: SEED, numRuns: 20 },
  );
});

const normShape = fc.record({
  n: fc.integer({ min: 1, max: 3 }),
  groups: fc.integer({ min: 1, max: 3 }),
  perGroup: fc.integer({ min: 1, max: 3 }),
  h: fc.integer({ min: 1, max: 3 }),
  w: fc.integer({ min: 1, max: 3 }),
  seed: fc.nat(),
})
  // At least 4 values per normalization: with 2, every output is ±gamma and dx is pure round-off (~1e-11), whose
  // relative error says nothing; the fixed-shape tests make the same choice.
  .filter((s) => s.n * s.h * s.w >= 4 && s.perGroup * s.h * s.w >= 4);

Deno.test("property: spatialBatchnorm equals batchnorm on x.transpose(0, 2, 3, 1).reshape(-1, C) for random shapes (1e-12)", () => {
  fc.assert(
    fc.property(normShape, (s) => {
      const rs = new RandomState(s.seed);
      const c = s.groups * s.perGroup;
      const x = rs.randn(s.n, c, s.h, s.w), gamma = rs.randn(c), beta = rs.randn(c), dout = rs.randn(s.n, c, s.h, s.w);
      const flat = (t: Tensor) => reshape(transpose(t, [0, 2, 3, 1]), [-1, c]);
      const back = (t: Tensor) => transpose(reshape(t, [s.n, s.h, s.w, c]), [0, 3, 1, 2]);
      const spatial = spatialBatchnormForward(x, gamma, beta, { mode: "train" });
      const plain = batchnormForward(flat(x), gamma, beta, { mode: "train" });
      assertLess(relError(spatial.out, back(plain.out)), 1e-12);
      const gs = spatialBatchnormBackward(dout, spatial.cache), gb = batchnormBackward(flat(dout), plain.cache);
      assertLess(relError(gs.dx, back(gb.dx)), 1e-12);
      assertLess(relError(gs.dgamma, gb.dgamma), 1e-12);
      assertLess(relError(gs.dbeta, gb.dbeta), 1e-12);
    }),
    { seed: SEED, numRuns: 60 },
  );
});

Deno.test("property: spatialGroupnorm equals layernorm over x.reshape(N·G, −1), then gamma and beta per channel (1e-12)", () => {
  fc.assert(
    fc.property(normShape, (s) => {
      const rs = new RandomState(s.seed);
      const c = s.groups * s.perGroup, inner = s.perGroup * s.h * s.w;
      const x = rs.randn(s.n, c, s.h, s.w), gamma = rs.randn(1, c, 1, 1), beta = rs.randn(1, c, 1, 1);
      const { out } = spatialGroupnormForward(x, gamma, beta, s.groups);
      const ln = layernormForward(reshape(x, [s.n * s.groups, inner]), full([inner], 1), zeros([inner]));
      const expected = reshape(ln.out, [s.n, c, s.h, s.w]);
      const hw = s.h * s.w;
      for (let i = 0; i < expected.data.length; i++) {
        const ch = Math.floor(i / hw) % c;
        expected.data[i] = expected.data[i] * gamma.data[ch] + beta.data[ch];
      }
      assertLess(relError(out, expected), 1e-12);
    }),
    { seed: SEED, numRuns: 60 },
  );
});

Deno.test("property: spatial batch norm and group norm backward match numeric gradients on random shapes (dx 1e-6)", () => {
  fc.assert(
    fc.property(normShape, (s) => {
      const rs = new RandomState(s.seed);
      const c = s.groups * s.perGroup;
      const x = rs.randn(s.n, c, s.h, s.w), dout = rs.randn(s.n, c, s.h, s.w);
      const gamma = rs.randn(c), beta = rs.randn(c);
      const bn = (t: Tensor) => spatialBatchnormForward(t, gamma, beta, { mode: "train" }).out;
      const gBn = spatialBatchnormBackward(dout, spatialBatchnormForward(x, gamma, beta, { mode: "train" }).cache);
      assertLess(relError(gBn.dx, evalNumericalGradientArray(bn, x, dout)), 1e-6);
      const g4 = rs.randn(1, c, 1, 1), b4 = rs.randn(1, c, 1, 1);
      const gn = (t: Tensor) => spatialGroupnormForward(t, g4, b4, s.groups).out;
      const gGn = spatialGroupnormBackward(dout, spatialGroupnormForward(x, g4, b4, s.groups).cache);
      assertLess(relError(gGn.dx, evalNumericalGradientArray(gn, x, dout)), 1e-6);
      assertLess(
        relError(
          gGn.dgamma,
          evalNumericalGradientArray((t) => spatialGroupnormForward(x, t, b4, s.groups).out, g4, dout),
        ),
        1e-8,
      );
    }),
    { seed: SEED, numRuns: 30 },
  );
});

Deno.test("property: layernorm backward matches numeric gradients on random (N, D) (dx 1e-6)", () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 4, max: 8 }), fc.nat(), (n, d, seed) => {
      const rs = new RandomState(seed);
      const x = rs.randn(n, d), gamma = rs.randn(d), beta = rs.randn(d), dout = rs.randn(n, d);
      const { cache } = layernormForward(x, gamma, beta);
      const g = layernormBackward(dout, cache);
      assertLess(
        relError(g.dx, evalNumericalGradientArray((t) => layernormForward(t, gamma, beta).out, x, dout)),
        1e-6,
      );
    }),
    { seed: SEED, numRuns: 30 },
  );
});
