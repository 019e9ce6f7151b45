/**
 * Inverted dropout: gradient check, expectation kept, drop rate, modes, and
 * agreement with numpy (fixture: tests/fixtures/dropout.py).
 */

import { assert, assertEquals, assertLess, assertStrictEquals, assertThrows } from "@std/assert";
import { dropoutBackward, dropoutForward } from "../layers/dropout.ts";
import { RandomState } from "../layers/random.ts";
import { astype, map, sum, Tensor } from "../layers/tensor.ts";
import { readFixture } from "./helpers.ts";

const fx = await readFixture<{
  cases: { shape: number[]; p: number; seed: number; x: number[]; mask: number[]; out: number[] }[];
}>("dropout.json");

function mean(t: Tensor): number {
  return sum(t) / t.size;
}

// The seeded numeric gradient check of dropoutBackward is the catalogue's (layers/gradient_checks.ts, entry "dropout"),
// run with its bound by tests/gradient_checks_test.ts.

Deno.test("train-mode output keeps the test-mode mean and zeroes a fraction p (x = randn(500, 500) + 10)", () => {
  const x = map(new RandomState(231).randn(500, 500), (v) => v + 10);
  for (const p of [0.25, 0.4, 0.7]) {
    const train = dropoutForward(x, { mode: "train", p, seed: 123 }).out;
    const test = dropoutForward(x, { mode: "test", p, seed: 123 }).out;
    const mTrain = mean(train), mTest = mean(test);
    assertLess(Math.abs(mTrain - mTest) / mTest, 0.02, `p ${p}: train mean ${mTrain} vs test mean ${mTest}`);
    let zeros = 0;
    for (const v of train.data) if (v === 0) zeros++;
    assertLess(Math.abs(zeros / train.size - p), 0.01, `p ${p}: fraction zeroed ${zeros / train.size}`);
  }
});

Deno.test("test mode is the identity forward and backward, and does not draw", () => {
  const rs = new RandomState(3);
  const x = rs.randn(4, 6), dout = rs.randn(4, 6);
  const gen = new RandomState(9);
  const { out, cache } = dropoutForward(x, { mode: "test", p: 0.6, random: gen });
  assertEquals(Array.from(out.data), Array.from(x.data));
  assertEquals(out.shape, x.shape);
  assertStrictEquals(cache.mask, null);
  assertEquals(Array.from(dropoutBackward(dout, cache).dx.data), Array.from(dout.data));
  assertStrictEquals(gen.randomSample(), new RandomState(9).randomSample(), "the generator was not advanced");
});

Deno.test("same seed gives the same mask; no seed draws from the given generator", () => {
  const x = new RandomState(1).randn(8, 8);
  const a = dropoutForward(x, { mode: "train", p: 0.5, seed: 77 }).cache.mask!;
  const b = dropoutForward(x, { mode: "train", p: 0.5, seed: 77 }).cache.mask!;
  assertEquals(Array.from(a.data), Array.from(b.data));
  const c = dropoutForward(x, { mode: "train", p: 0.5, seed: 78 }).cache.mask!;
  assert(a.data.some((v, i) => v !== c.data[i]), "a different seed gives a different mask");
  const gen = new RandomState(77);
  const d = dropoutForward(x, { mode: "train", p: 0.5, random: gen }).cache.mask!;
  assertEquals(Array.from(d.data), Array.from(a.data), "random: new RandomState(77) draws the seed-77 mask");
  const e = dropoutForward(x, { mode: "train", p: 0.5, random: gen }).cache.mask!;
  assert(e.data.some((v, i) => v !== d.data[i]), "the generator moved on");
});

for (const c of fx.cases) {
  Deno.test(`mask and output match numpy within 1e-12 (shape ${c.shape.join("×")}, p ${c.p}, seed ${c.seed})`, () => {
    const x = new Tensor(Float64Array.from(c.x), c.shape);
    const { out, cache } = dropoutForward(x, { mode: "train", p: c.p, seed: c.seed });
    let maxDiff = 0;
    for (let i = 0; i < c.x.length; i++) {
      maxDiff = Math.max(maxDiff, Math.abs(cache.mask!.data[i] - c.mask[i]), Math.abs(out.data[i] - c.out[i]));
    }
    assertLess(maxDiff, 1e-12);
  });
}

Deno.test("float32 input gives float32 output, mask and dx, with the float64 pattern", () => {
  const x64 = new RandomState(5).randn(6, 7), x32 = astype(x64, "float32");
  const f64 = dropoutForward(x64, { mode: "train", p: 0.3, seed: 11 });
  const f32 = dropoutForward(x32, { mode: "train", p: 0.3, seed: 11 });
  assertStrictEquals(f32.out.dtype, "float32");
  assertStrictEquals(f32.cache.mask!.dtype, "float32");
  for (let i = 0; i < x64.size; i++) {
    assertStrictEquals(f32.cache.mask!.data[i], Math.fround(f64.cache.mask!.data[i]));
    assertLess(Math.abs(f32.out.data[i] - f64.out.data[i]), 1e-6 * (1 + Math.abs(f64.out.data[i])));
  }
  const dout = astype(new RandomState(6).randn(6, 7), "float32");
  const { dx } = dropoutBackward(dout, f32.cache);
  assertStrictEquals(dx.dtype, "float32");
  for (let i = 0; i < dx.size; i++) assertStrictEquals(dx.data[i], Math.fround(dout.data[i] * f32.cache.mask!.data[i]));
});

Deno.test("p outside [0, 1), an unknown mode and a mismatched dout are rejected with the function and value", () => {
  const x = new RandomState(0).randn(2, 2);
  assertThrows(() => dropoutForward(x, { mode: "train", p: 1 }), Error, "dropoutForward: p 1 is not in [0, 1)");
  assertThrows(() => dropoutForward(x, { mode: "train", p: -0.1 }), Error, "p -0.1");
  assertThrows(() => dropoutForward(x, { mode: "train", p: NaN }), Error, "p NaN");
  assertThrows(
    () => dropoutForward(x, { mode: "eval" as "test", p: 0.5 }),
    Error,
    `dropoutForward: mode "eval" is neither "train" nor "test"`,
  );
  const { cache } = dropoutForward(x, { mode: "train", p: 0.5, seed: 1 });
  assertThrows(
    () => dropoutBackward(new RandomState(0).randn(2, 3), cache),
    RangeError,
    "dropoutBackward: dout (2, 3)",
  );
});
