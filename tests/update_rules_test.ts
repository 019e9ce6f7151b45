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

// What the notebook prints (8 decimals) after one step of each rule from w = linspace(-0.4, 0.6),
// dw = linspace(-0.6, 0.4) (N, D = 4, 5) and the rule's state, per printed array.
const PRINTED: Record<"sgdMomentum" | "rmsprop" | "adam", Record<string, number[][]>> = {
  sgdMomentum: {
    next_w: [
      [0.1406, 0.20738947, 0.27417895, 0.34096842, 0.40775789],
      [0.47454737, 0.54133684, 0.60812632, 0.67491579, 0.74170526],
      [0.80849474, 0.87528421, 0.94207368, 1.00886316, 1.07565263],
      [1.14244211, 1.20923158, 1.27602105, 1.34281053, 1.4096],
    ],
    velocity: [
      [0.5406, 0.55475789, 0.56891579, 0.58307368, 0.59723158],
      [0.61138947, 0.62554737, 0.63970526, 0.65386316, 0.66802105],
      [0.68217895, 0.69633684, 0.71049474, 0.72465263, 0.73881053],
      [0.75296842, 0.76712632, 0.78128421, 0.79544211, 0.8096],
    ],
  },
  rmsprop: {
    next_w: [
      [-0.39223849, -0.34037513, -0.28849239, -0.23659121, -0.18467247],
      [-0.132737, -0.08078555, -0.02881884, 0.02316247, 0.07515774],
      [0.12716641, 0.17918792, 0.23122175, 0.28326742, 0.33532447],
      [0.38739248, 0.43947102, 0.49155973, 0.54365823, 0.59576619],
    ],
    cache: [
      [0.5976, 0.6126277, 0.6277108, 0.64284931, 0.65804321],
      [0.67329252, 0.68859723, 0.70395734, 0.71937285, 0.73484377],
      [0.75037008, 0.7659518, 0.78158892, 0.79728144, 0.81302936],
      [0.82883269, 0.84469141, 0.86060554, 0.87657507, 0.8926],
    ],
  },
  adam: {
    next_w: [
      [-0.40094747, -0.34836187, -0.29577703, -0.24319299, -0.19060977],
      [-0.1380274, -0.08544591, -0.03286534, 0.01971428, 0.0722929],
      [0.1248705, 0.17744702, 0.23002243, 0.28259667, 0.33516969],
      [0.38774145, 0.44031188, 0.49288093, 0.54544852, 0.59801459],
    ],
    v: [
      [0.69966, 0.68908382, 0.67851319, 0.66794809, 0.65738853],
      [0.64683452, 0.63628604, 0.6257431, 0.61520571, 0.60467385],
      [0.59414753, 0.58362676, 0.57311152, 0.56260183, 0.55209767],
      [0.54159906, 0.53110598, 0.52061845, 0.51013645, 0.49966],
    ],
    m: [
      [0.48, 0.49947368, 0.51894737, 0.53842105, 0.55789474],
      [0.57736842, 0.59684211, 0.61631579, 0.63578947, 0.65526316],
      [0.67473684, 0.69421053, 0.71368421, 0.73315789, 0.75263158],
      [0.77210526, 0.79157895, 0.81105263, 0.83052632, 0.85],
    ],
  },
};

// Checked to half a unit in the 8th decimal.
const PRINTED_TOL = 5.000001e-9;

/** Asserts that `nextW` and the config arrays match what the notebook prints for rule `name`. */
function expectPrinted(name: keyof typeof PRINTED, nextW: Tensor, config: object): void {
  for (const [key, printed] of Object.entries(PRINTED[name])) {
    const actual = key === "next_w" ? nextW : (config as Record<string, Tensor>)[key];
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
