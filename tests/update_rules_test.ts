import { assertEquals, assertLessOrEqual, assertStrictEquals, assertThrows } from "@std/assert";
import { array, astype, clone, type Nested, type Tensor, toNested, zeros } from "../layers/tensor.ts";
import { relError } from "../layers/gradient_check.ts";
import {
  adam,
  configFromCheckpoint,
  configToCheckpoint,
  type OptimConfig,
  rmsprop,
  sgd,
  sgdMomentum,
  type UpdateRuleName,
  updateRules,
} from "../pipeline/update_rules.ts";
import { readFixture } from "./helpers.ts";

// Made by tests/fixtures/update_rules.py (the course's optim.py in numpy).
const fx = await readFixture("update_rules.json");

const RULES: UpdateRuleName[] = ["sgd", "sgdMomentum", "rmsprop", "adam"];

/** A config from the fixture's JSON: nested lists become float64 tensors. */
function configOf(json: Record<string, number | Nested>): OptimConfig {
  const out: OptimConfig = {};
  for (const [k, v] of Object.entries(json)) out[k] = typeof v === "number" ? v : array(v);
  return out;
}

function expectClose(actual: Tensor, expected: Nested, what: string, tol = 1e-9): void {
  const e = relError(actual, array(expected));
  assertLessOrEqual(e, tol, `${what}: relative error ${e}`);
}

for (const name of ["sgdMomentum", "rmsprop", "adam"] as const) {
  Deno.test(`${name} matches numpy on the notebook's check (N, D = 4, 5) within 1e-9`, () => {
    const c = fx.notebook[name];
    const w = array(fx.w), dw = array(fx.dw);
    const config = configOf(c.config);
    const { nextW, config: after } = updateRules[name](w, dw, config);
    assertStrictEquals(nextW, w, "w is updated in place and returned");
    assertStrictEquals(after, config, "the config passed in is the one returned");
    expectClose(nextW, c.nextW, "nextW");
    for (const [key, value] of Object.entries(c.after as Record<string, number | Nested>)) {
      if (typeof value === "number") assertEquals(after[key], value, key);
      else expectClose(after[key] as Tensor, value, key);
    }
  });
}

// What the notebook prints (8 decimals) after one step of each rule, per printed array (see the file's "about").
const PRINTED: Record<"sgdMomentum" | "rmsprop" | "adam", Record<string, number[][]>> = await readFixture(
  "update_rules_printed.json",
);

// Checked to half a unit in the 8th decimal.
const PRINTED_TOL = 5.000001e-9;

/** Asserts that `nextW` and the config arrays match what the notebook prints for rule `name`. */
function expectPrinted(name: keyof typeof PRINTED, nextW: Tensor, config: object): void {
  for (const [key, printed] of Object.entries(PRINTED[name])) {
    const actual = key === "nextW" ? nextW : (config as Record<string, Tensor>)[key];
    const flat = printed.flat();
    for (let i = 0; i < flat.length; i++) {
      assertLessOrEqual(Math.abs(actual.data[i] - flat[i]), PRINTED_TOL, `${key}[${i}]`);
    }
  }
}

Deno.test("sgdMomentum reproduces the notebook's printed next_w and velocity", () => {
  const N = 4, D = 5;
  const lin = (a: number, b: number) => {
    const t = zeros([N, D]);
    for (let i = 0; i < N * D; i++) t.data[i] = a + (i * (b - a)) / (N * D - 1);
    return t;
  };
  const { nextW, config } = sgdMomentum(lin(-0.4, 0.6), lin(-0.6, 0.4), {
    learningRate: 1e-3,
    velocity: lin(0.6, 0.9),
  });
  assertEquals(Array.from(nextW.data.slice(0, 5), (x) => Math.round(x * 1e8) / 1e8), [
    0.1406,
    0.20738947,
    0.27417895,
    0.34096842,
    0.40775789,
  ]);
  expectPrinted("sgdMomentum", nextW, config);
});

Deno.test("rmsprop reproduces the notebook's printed next_w and cache", () => {
  const { nextW, config } = rmsprop(array(fx.w), array(fx.dw), configOf(fx.notebook.rmsprop.config));
  expectPrinted("rmsprop", nextW, config);
});

Deno.test("adam reproduces the notebook's printed next_w, v and m (t = 5 → 6)", () => {
  const { nextW, config } = adam(array(fx.w), array(fx.dw), configOf(fx.notebook.adam.config));
  assertEquals(config.t, 6);
  expectPrinted("adam", nextW, config);
});

for (const label of ["custom", "defaults"] as const) {
  for (const name of RULES) {
    Deno.test(`${name} matches numpy over 6 steps with ${label} config within 1e-9`, () => {
      const seq = fx.sequences[label][name];
      const w = array(fx.sequences.w0);
      const config = label === "defaults" ? undefined : configOf(seq.config);
      let cfg: OptimConfig | undefined = config;
      fx.sequences.dws.forEach((dw: Nested, step: number) => {
        const out = updateRules[name](w, array(dw), cfg);
        cfg = out.config;
        expectClose(out.nextW, seq.ws[step], `step ${step + 1}`);
      });
      for (const [key, value] of Object.entries(seq.final as Record<string, number | Nested>)) {
        if (typeof value === "number") assertEquals(cfg![key], value, key);
        else expectClose(cfg![key] as Tensor, value, key);
      }
    });
  }
}

Deno.test("defaults are the course's: learningRate 1e-2 (adam 1e-3), momentum 0.9, decayRate 0.99, betas 0.9/0.999", () => {
  const w = array([[1, 2]]), dw = array([[0.5, -0.5]]);
  assertEquals(sgd(clone(w), dw).config, { learningRate: 1e-2 });
  const m = sgdMomentum(clone(w), dw).config;
  assertEquals([m.learningRate, m.momentum], [1e-2, 0.9]);
  assertEquals(toNested(m.velocity), [[-0.005, 0.005]]);
  const r = rmsprop(clone(w), dw).config;
  assertEquals([r.learningRate, r.decayRate, r.epsilon], [1e-2, 0.99, 1e-8]);
  const a = adam(clone(w), dw).config;
  assertEquals([a.learningRate, a.beta1, a.beta2, a.epsilon, a.t], [1e-3, 0.9, 0.999, 1e-8, 1]);
});

Deno.test("adam increments t before the bias correction: the first step moves each weight by learningRate", () => {
  // With t = 1, mt = dw and vt = dw², so the step is lr·dw/(|dw| + eps) ≈ lr·sign(dw).
  const w = array([0, 0, 0]);
  const { config } = adam(w, array([1e3, -2, 1e-3]), { learningRate: 0.1, epsilon: 0 });
  assertEquals(Array.from(w.data), [-0.1, 0.1, -0.1]);
  assertEquals(config.t, 1);
  adam(w, array([1, 1, 1]), config);
  adam(w, array([1, 1, 1]), config);
  assertEquals(config.t, 3);
});

Deno.test("state tensors are allocated once and then updated in place", () => {
  const w = array([1, 2, 3]);
  const { config } = adam(w, array([1, 1, 1]));
  const m = config.m, v = config.v;
  for (let i = 0; i < 3; i++) adam(w, array([1, -1, 1]), config);
  assertStrictEquals(config.m, m);
  assertStrictEquals(config.v, v);
  const mom = sgdMomentum(w, array([1, 1, 1])).config;
  const vel = mom.velocity;
  sgdMomentum(w, array([1, 1, 1]), mom);
  assertStrictEquals(mom.velocity, vel);
  const rms = rmsprop(w, array([1, 1, 1])).config;
  const cache = rms.cache;
  rmsprop(w, array([1, 1, 1]), rms);
  assertStrictEquals(rms.cache, cache);
});

Deno.test("float32 weights stay float32, with float32 state, within float32 rounding of the float64 rule", () => {
  const seqs = fx.sequences.custom;
  // The float64 reference starts from the same (float32-rounded) numbers, so only storage rounding differs.
  const f32 = (nested: Nested) => astype(astype(array(nested), "float32"), "float64");
  for (const name of RULES) {
    const w32 = astype(array(fx.sequences.w0), "float32"), w64 = f32(fx.sequences.w0);
    let cfg32: OptimConfig = configOf(seqs[name].config), cfg64: OptimConfig = configOf(seqs[name].config);
    for (const dw of fx.sequences.dws) {
      const out = updateRules[name](w32, astype(array(dw), "float32"), cfg32);
      assertStrictEquals(out.nextW.dtype, "float32");
      cfg32 = out.config;
      cfg64 = updateRules[name](w64, f32(dw), cfg64).config;
    }
    for (const value of Object.values(cfg32)) if (typeof value === "object") assertEquals(value.dtype, "float32", name);
    // Six steps, each rounding w (and the state) to float32 (2^-24 relative): well under 1e-6 of the largest weight.
    let diff = 0, scale = 0;
    for (let i = 0; i < w32.size; i++) {
      diff = Math.max(diff, Math.abs(w32.data[i] - w64.data[i]));
      scale = Math.max(scale, Math.abs(w64.data[i]));
    }
    assertLessOrEqual(diff, 1e-6 * scale, `${name}: float32 differs by ${diff} at scale ${scale}`);
    assertLessOrEqual(1e-9 * scale, diff, `${name}: float32 is suspiciously exact; is it computing in float64?`);
  }
});

Deno.test("shape mismatches name both shapes", () => {
  for (const name of RULES) {
    assertThrows(
      () => updateRules[name](zeros([4, 5]), zeros([5, 4])),
      RangeError,
      `${name}: w (4, 5) and dw (5, 4) must have the same shape`,
    );
    // Same size, different shape: still an error.
    assertThrows(() => updateRules[name](zeros([20]), zeros([4, 5])), RangeError, "w (20,) and dw (4, 5)");
  }
  assertThrows(
    () => sgdMomentum(zeros([2, 3]), zeros([2, 3]), { velocity: zeros([3, 2]) }),
    RangeError,
    "sgdMomentum: config.velocity (3, 2) and w (2, 3) must have the same shape",
  );
  assertThrows(() => adam(zeros([2]), zeros([2]), { m: zeros([2]), v: zeros([3]) }), RangeError, "config.v (3,)");
});

Deno.test("dtype mismatches between w, dw and state are errors", () => {
  assertThrows(
    () => sgd(zeros([2], "float32"), zeros([2])),
    TypeError,
    "sgd: w is float32 but dw is float64",
  );
  assertThrows(
    () => rmsprop(zeros([2], "float32"), zeros([2], "float32"), { cache: zeros([2]) }),
    TypeError,
    "rmsprop: config.cache is float64 but w is float32",
  );
});

Deno.test("bad config values and unknown keys are errors", () => {
  const w = zeros([2]), dw = zeros([2]);
  assertThrows(
    () => sgd(w, dw, { learningRate: -1e-3 }),
    Error,
    "sgd: config.learningRate = -0.001 must be finite and ≥ 0",
  );
  assertThrows(() => adam(w, dw, { learningRate: NaN }), Error, "adam: config.learningRate = NaN");
  assertThrows(() => rmsprop(w, dw, { learningRate: Infinity }), Error, "rmsprop: config.learningRate = Infinity");
  assertThrows(
    () => sgdMomentum(w, dw, { momentum: 1.5 }),
    Error,
    "sgdMomentum: config.momentum = 1.5 must be in [0, 1]",
  );
  assertThrows(() => rmsprop(w, dw, { decayRate: -0.1 }), Error, "rmsprop: config.decayRate = -0.1 must be in [0, 1]");
  assertThrows(() => adam(w, dw, { beta1: 1 }), Error, "adam: config.beta1 = 1 must be in [0, 1)");
  assertThrows(() => adam(w, dw, { beta2: 1 }), Error, "adam: config.beta2 = 1 must be in [0, 1)");
  assertThrows(() => adam(w, dw, { t: 1.5 }), Error, "adam: config.t = 1.5 must be a non-negative integer");
  assertThrows(() => adam(w, dw, { epsilon: -1 }), Error, "adam: config.epsilon = -1");
  assertThrows(
    () => updateRules.sgd(w, dw, { learning_rate: 0.1 }),
    Error,
    'sgd: unknown config key "learning_rate"; sgd takes learningRate',
  );
  assertThrows(() => updateRules.adam(w, dw, { velocity: zeros([2]) }), Error, 'adam: unknown config key "velocity"');
  assertThrows(
    () => sgd(w, dw, { learningRate: "0.1" as unknown as number }),
    TypeError,
    "sgd: config.learningRate must be a number, got string",
  );
  assertThrows(
    () => sgdMomentum(w, dw, { velocity: new Float64Array(2) as unknown as Tensor }),
    TypeError,
    "sgdMomentum: config.velocity must be a Tensor",
  );
});

Deno.test("a failed call leaves w unchanged", () => {
  const w = array([1, 2]);
  assertThrows(() => adam(w, array([1, 1]), { beta1: 2 }));
  assertEquals(Array.from(w.data), [1, 2]);
});

Deno.test("configToCheckpoint and configFromCheckpoint round-trip adam's state exactly", () => {
  const seq = fx.sequences.custom.adam;
  const w = array(fx.sequences.w0);
  let cfg: OptimConfig = configOf(seq.config);
  const dws: Nested[] = fx.sequences.dws;
  for (const dw of dws.slice(0, 3)) cfg = adam(w, array(dw), cfg).config as unknown as OptimConfig;
  const ck = configToCheckpoint(cfg);
  assertEquals(Object.keys(ck.scalars).sort(), ["beta1", "beta2", "epsilon", "learningRate", "t"]);
  assertEquals(Object.keys(ck.tensors).sort(), ["m", "v"]);
  assertEquals(ck.scalars.t, 3);
  // Simulate save and load: scalars through JSON text, tensors copied.
  const saved = {
    scalars: JSON.parse(JSON.stringify(ck.scalars)),
    tensors: Object.fromEntries(Object.entries(ck.tensors).map(([k, t]) => [k, clone(t)])),
  };
  const restored = configFromCheckpoint(saved, { rule: "adam" });
  for (const dw of dws.slice(3)) adam(w, array(dw), restored);
  // Bit-identical to the uninterrupted run's numpy result at this tolerance, and t continues from 3.
  expectClose(w, seq.ws[5], "after restore");
  assertEquals(restored.t, 6);
});

Deno.test("configFromCheckpoint checks keys against the rule", () => {
  assertThrows(
    () => configFromCheckpoint({ scalars: { lr: 1 }, tensors: {} }, { rule: "sgd" }),
    Error,
    'configFromCheckpoint: "lr" is not a scalar of sgd (learningRate)',
  );
  assertThrows(
    () => configFromCheckpoint({ scalars: {}, tensors: { m: zeros([1]) } }, { rule: "sgd" }),
    Error,
    'configFromCheckpoint: "m" is not a state tensor of sgd (none)',
  );
  assertThrows(
    () => configFromCheckpoint({ scalars: { m: 1 }, tensors: { m: zeros([1]) } }),
    Error,
    '"m" is both a scalar and a tensor',
  );
  assertThrows(
    () => configToCheckpoint({ learningRate: 1, note: "x" }),
    TypeError,
    "configToCheckpoint: config.note is a string",
  );
});
