import { assertEquals, assertGreater, assertLess, assertThrows } from "@std/assert";
import { evalNumericalGradient, relError } from "../layers/gradient_check.ts";
import {
  FullyConnectedNet,
  type FullyConnectedNetOptions,
  type Normalization,
} from "../layers/models/fully_connected_net.ts";
import { notebookConvNetCase, notebookFcNet } from "../layers/gradient_checks.ts";
import type { Model } from "../layers/models/model.ts";
import { ThreeLayerConvNet } from "../layers/models/three_layer_convnet.ts";
import { globalRandomState, RandomState } from "../layers/random.ts";
import { Tensor } from "../layers/tensor.ts";
import { type Arr, fixtureTensor, formatErrors, maxAbs, readFixture, scalarRelError } from "./helpers.ts";

const fixture = await readFixture("models.json");
const labels = (t: Tensor) => Int32Array.from(t.data);

/** Per parameter: the course's max relative error, and the worst entry of `|a − n| / (ATOL + RTOL·(|a| + |n|))`. */
interface CheckResult {
  rel: number;
  ratio: number;
}

// Centered differences in float64 carry a rounding error of about eps·L/h ≈ 2e-16·7/1e-5 ≈ 1.5e-10
// (L ≤ 7 here): ATOL sits a few times above that floor, so that entries far smaller than it (where the
// course's relative error only compares noise) still pass, and RTOL is the relative accuracy asked.
const ATOL = 1e-9;
const RTOL = 1e-6;

/** Checks every analytic gradient of `model` against centered differences of the full loss (step `h`). */
function gradCheck(model: Model, X: Tensor, y: Int32Array, h = 1e-5): Record<string, CheckResult> {
  const { grads } = model.loss(X, y);
  const out: Record<string, CheckResult> = {};
  for (const [name, param] of Object.entries(model.params)) {
    const num = evalNumericalGradient(() => model.loss(X, y).loss, param, { h });
    const a = grads[name].data, n = num.data;
    let ratio = 0;
    for (let i = 0; i < a.length; i++) {
      ratio = Math.max(ratio, Math.abs(a[i] - n[i]) / (ATOL + RTOL * (Math.abs(a[i]) + Math.abs(n[i]))));
    }
    out[name] = { rel: relError(grads[name], num), ratio };
  }
  return out;
}

const showRel = (r: Record<string, CheckResult>) =>
  formatErrors(Object.fromEntries(Object.entries(r).map(([k, v]) => [k, v.rel])));

// ---------------------------------------------------------------- FullyConnectedNet

// The notebook's cells, replayed exactly: np.random.seed(231); X = randn(N, D); y = randint(C, size=(N,));
// then each model draws its weights from the same stream. With N = 2 some entries are tiny (so the
// course's relative error compares rounding noise) or, with batch norm over 2 examples, sit where a
// variance is tiny and the loss strongly curved: the notebook itself reports relative errors up to
// about 1e-4 on these very numbers (W2 2.21e-5 without normalization, W1 1.10e-4 with batch norm). The
// course notes' bound for such objectives, 1e-3, applies; the tight checks below and the numpy fixture
// carry the accuracy claims.
for (const normalization of [null, "batchnorm", "layernorm"] as Normalization[]) {
  Deno.test(`FullyConnectedNet (${normalization ?? "no norm"}) replays the notebook: numpy's initial loss, gradient check < 1e-3`, () => {
    const rs = new RandomState(231);
    const X = rs.randn(2, 15), y = labels(rs.randint(10, undefined, [2]));
    const expected = fixture.notebook.fc.filter((c: { normalization: Normalization }) =>
      c.normalization === normalization
    );
    for (const [i, reg] of [0, 3.14].entries()) {
      const model = notebookFcNet(rs, normalization, reg);
      const { loss, grads } = model.loss(X, y);
      assertLess(scalarRelError(loss, expected[i].loss), 1e-12, `initial loss ${loss} vs numpy ${expected[i].loss}`);
      const result = gradCheck(model, X, y);
      console.log(`FC notebook ${normalization ?? "none"} reg ${reg}: loss ${loss}; ${showRel(result)}`);
      for (const [name, r] of Object.entries(result)) {
        if (normalization === "batchnorm" && (name === "b1" || name === "b2")) {
          // A bias right before batch norm cancels: its true gradient is exactly 0.
          assertLess(maxAbs(grads[name]), 1e-12, name);
        } else {
          assertLess(r.rel, 1e-3, name);
        }
      }
    }
  });
}

// Seeded so that no hidden pre-activation lies within a step of a ReLU kink: across a kink a centered
// difference measures neither side's slope (the first weights of the stream below have one).
Deno.test("FullyConnectedNet gradients match centered differences to 1e-9 + 1e-6·|g| (N 5, reg 3.14; dropout)", () => {
  const rs = new RandomState(0);
  const X = rs.randn(5, 15), y = labels(rs.randint(10, undefined, [5]));
  const configs: [string, FullyConnectedNetOptions][] = [
    ["none", { reg: 3.14 }],
    ["batchnorm", { reg: 3.14, normalization: "batchnorm" }],
    ["layernorm", { reg: 3.14, normalization: "layernorm" }],
    ["dropout 0.25", { dropout: 0.25 }],
    ["dropout 0.5", { dropout: 0.5 }],
  ];
  for (const [label, options] of configs) {
    const model = new FullyConnectedNet([20, 30], {
      inputDim: 15,
      numClasses: 10,
      weightScale: 5e-2,
      dtype: "float64",
      random: new RandomState(1),
      seed: 123,
      ...options,
    });
    const result = gradCheck(model, X, y);
    console.log(`FC tight ${label}: ${showRel(result)}`);
    for (const [name, r] of Object.entries(result)) assertLess(r.ratio, 1, `${label}: ${name}`);
  }
});

Deno.test("FullyConnectedNet draws the same initial weights as numpy for the same seed", () => {
  const f = fixture.fcInitParams;
  const options = {
    inputDim: f.inputDim,
    numClasses: f.numClasses,
    weightScale: f.weightScale,
    dtype: "float64",
  } as const;
  const fromSeed = new FullyConnectedNet(f.hiddenDims, { ...options, seed: f.seed });
  globalRandomState.seed(f.seed);
  const fromGlobal = new FullyConnectedNet(f.hiddenDims, options);
  for (const model of [fromSeed, fromGlobal]) {
    assertEquals(Object.keys(model.params).sort(), Object.keys(f.params).sort());
    for (const [name, want] of Object.entries(f.params as Record<string, Arr>)) {
      assertEquals(model.params[name].shape, want.shape, name);
      assertEquals(Array.from(model.params[name].data), want.data, `${name} is not bit-identical to numpy's`);
    }
  }
});

Deno.test("FullyConnectedNet loss, gradients, running averages and scores agree with numpy within 1e-9", () => {
  const { X, y, cases } = fixture.fc;
  for (const c of cases) {
    const label = `${c.normalization ?? "none"}, dropout ${c.dropout}, reg ${c.reg}`;
    const model = new FullyConnectedNet(c.hiddenDims, {
      inputDim: c.inputDim,
      numClasses: c.numClasses,
      normalization: c.normalization,
      dropout: c.dropout,
      reg: c.reg,
      weightScale: c.weightScale,
      dtype: "float64",
      random: new RandomState(c.seed),
      seed: c.dropoutSeed,
    });
    for (const [name, want] of Object.entries(c.params as Record<string, Arr>)) {
      assertEquals(Array.from(model.params[name].data), want.data, `${label}: ${name}`);
    }
    const { loss, grads } = model.loss(fixtureTensor(X), Int32Array.from(y));
    const worst: Record<string, number> = { loss: scalarRelError(loss, c.loss) };
    assertEquals(Object.keys(grads).sort(), Object.keys(c.grads).sort());
    for (const [name, want] of Object.entries(c.grads as Record<string, Arr>)) {
      if (c.normalization === "batchnorm" && /^b[12]$/.test(name)) {
        // Exactly 0 in truth (a bias before batch norm): both sides hold only rounding noise.
        assertLess(maxAbs(grads[name]), 1e-12, `${label}: ${name}`);
        assertLess(maxAbs(fixtureTensor(want)), 1e-12, `${label}: numpy ${name}`);
        continue;
      }
      worst[name] = relError(grads[name], fixtureTensor(want));
    }
    if (c.state) {
      const state = model.state();
      assertEquals(Object.keys(state).sort(), Object.keys(c.state).sort());
      for (const [name, want] of Object.entries(c.state as Record<string, Arr>)) {
        worst[name] = relError(state[name], fixtureTensor(want));
      }
    }
    worst.scores = relError(model.loss(fixtureTensor(X)), fixtureTensor(c.scores));
    console.log(`FC vs numpy (${label}): ${formatErrors(worst)}`);
    for (const [name, e] of Object.entries(worst)) assertLess(e, 1e-9, `${label}: ${name}`);
  }
});

Deno.test("FullyConnectedNet state() and loadState() carry the batch-norm running averages", () => {
  const rs = new RandomState(0);
  const X = rs.randn(8, 6), y = labels(rs.randint(3, undefined, [8]));
  const options = { inputDim: 6, numClasses: 3, normalization: "batchnorm", dtype: "float64", seed: 1 } as const;
  const trained = new FullyConnectedNet([5, 4], options);
  assertEquals(Object.keys(trained.state()), ["runningMean1", "runningVar1", "runningMean2", "runningVar2"]);
  for (let i = 0; i < 3; i++) trained.loss(X, y);
  const fresh = new FullyConnectedNet([5, 4], options);
  assertGreater(relError(fresh.loss(X), trained.loss(X)), 1e-3);
  fresh.loadState(trained.state());
  assertEquals(Array.from(fresh.loss(X).data), Array.from(trained.loss(X).data));
  assertEquals(new FullyConnectedNet([5], { inputDim: 6, numClasses: 3 }).state(), {});
  const { runningMean1: _, ...partial } = trained.state();
  assertThrows(() => fresh.loadState(partial), Error, "FullyConnectedNet.loadState: expected keys");
  assertThrows(
    () => fresh.loadState({ ...trained.state(), runningVar2: new Tensor(new Float64Array(5), [5]) }),
    RangeError,
    "runningVar2 (5,) must have shape (4,)",
  );
});

Deno.test("FullyConnectedNet defaults to float32 and converts float64 input", () => {
  const model = new FullyConnectedNet([7], { inputDim: 12, numClasses: 4, seed: 3 });
  for (const p of Object.values(model.params)) assertEquals(p.dtype, "float32");
  const rs = new RandomState(1);
  const X = rs.randn(3, 2, 6);
  const { loss, grads } = model.loss(X, new Int32Array([0, 1, 3]));
  assert64Near(loss, Math.log(4), 0.05);
  for (const g of Object.values(grads)) assertEquals(g.dtype, "float32");
  assertEquals(model.loss(X).shape, [3, 4]);
});

function assert64Near(actual: number, expected: number, tol: number): void {
  assertLess(Math.abs(actual - expected), tol, `${actual} vs ${expected}`);
}

Deno.test("FullyConnectedNet rejects bad options and inputs with the values in the message", () => {
  assertThrows(
    () => new FullyConnectedNet([10, 0]),
    RangeError,
    "FullyConnectedNet: hiddenDims[1] 0 is not a positive integer",
  );
  assertThrows(() => new FullyConnectedNet([10], { dropout: 1 }), RangeError, "dropout 1");
  assertThrows(
    () => new FullyConnectedNet([10], { normalization: "groupnorm" as Normalization }),
    Error,
    'normalization "groupnorm"',
  );
  const model = new FullyConnectedNet([4], { inputDim: 6, seed: 0 });
  assertThrows(
    () => model.loss(new Tensor(new Float32Array(10), [2, 5])),
    RangeError,
    "FullyConnectedNet.loss: X (2, 5)",
  );
  assertThrows(
    () => model.loss(new Tensor(new Float32Array(12), [2, 6]), new Int32Array([0, 10])),
    RangeError,
    "y[1] = 10",
  );
});

// ---------------------------------------------------------------- ThreeLayerConvNet

// The notebook's cell. Its gradient check (h = 1e-6 as there, < 1e-1) is the catalogue's "convnet" entry
// (layers/gradient_checks.ts, asserted by tests/gradient_checks_test.ts): with weights of scale 1e-3 many
// gradients are ~1e-9, near the 1e-8 floor of the course's relative error, and steps cross ReLU kinks of
// the hidden layer, so the notebook reports errors up to about 2e-2; the tight check below carries the
// accuracy claim.
Deno.test("ThreeLayerConvNet replays the notebook: numpy's initial loss", () => {
  const { model, X, y } = notebookConvNetCase();
  const { loss } = model.loss(X, y);
  assertLess(scalarRelError(loss, fixture.notebook.convnet.loss), 1e-12, `initial loss ${loss}`);
});

Deno.test("ThreeLayerConvNet gradients match centered differences to 1e-9 + 1e-6·|g| (input (3, 8, 8), scale 1e-2)", () => {
  const rs = new RandomState(0);
  const X = rs.randn(2, 3, 8, 8), y = labels(rs.randint(10, undefined, [2]));
  const model = new ThreeLayerConvNet({
    numFilters: 3,
    filterSize: 3,
    inputDim: [3, 8, 8],
    hiddenDim: 7,
    weightScale: 1e-2,
    reg: 0.1,
    dtype: "float64",
    random: rs,
  });
  const result = gradCheck(model, X, y);
  console.log(`ThreeLayerConvNet tight: ${showRel(result)}`);
  for (const [name, r] of Object.entries(result)) assertLess(r.ratio, 1, name);
});

Deno.test("ThreeLayerConvNet starts near log(10) and its loss grows with reg (notebook sanity check, N 10)", () => {
  const rs = new RandomState(0);
  const X = rs.randn(10, 3, 32, 32), y = labels(rs.randint(10, undefined, [10]));
  const plain = new ThreeLayerConvNet({ seed: 1 });
  const regularized = new ThreeLayerConvNet({ seed: 1, reg: 0.5 });
  const l0 = plain.loss(X, y).loss, l1 = regularized.loss(X, y).loss;
  console.log(`ThreeLayerConvNet sanity: loss ${l0} (reg 0), ${l1} (reg 0.5)`);
  assert64Near(l0, Math.log(10), 1e-3);
  assertGreater(l1, l0 + 0.05);
});

Deno.test("ThreeLayerConvNet matches numpy: same initial weights for the seed, loss and gradients within 1e-9", () => {
  const c = fixture.convnet;
  const model = new ThreeLayerConvNet({
    inputDim: c.inputDim,
    numFilters: c.numFilters,
    filterSize: c.filterSize,
    hiddenDim: c.hiddenDim,
    numClasses: c.numClasses,
    weightScale: c.weightScale,
    reg: c.reg,
    dtype: "float64",
    seed: c.seed,
  });
  assertEquals(Object.keys(model.params).sort(), Object.keys(c.params).sort());
  for (const [name, want] of Object.entries(c.params as Record<string, Arr>)) {
    assertEquals(model.params[name].shape, want.shape, name);
    assertEquals(Array.from(model.params[name].data), want.data, `${name} is not bit-identical to numpy's`);
  }
  const { loss, grads } = model.loss(fixtureTensor(c.X), Int32Array.from(c.y));
  const worst: Record<string, number> = { loss: scalarRelError(loss, c.loss) };
  for (const [name, want] of Object.entries(c.grads as Record<string, Arr>)) {
    worst[name] = relError(grads[name], fixtureTensor(want));
  }
  worst.scores = relError(model.loss(fixtureTensor(c.X)), fixtureTensor(c.scores));
  console.log(`ThreeLayerConvNet vs numpy: ${formatErrors(worst)}`);
  for (const [name, e] of Object.entries(worst)) assertLess(e, 1e-9, name);
});

Deno.test("ThreeLayerConvNet rejects odd filters, odd sizes and inputs of another shape", () => {
  assertThrows(
    () => new ThreeLayerConvNet({ filterSize: 4 }),
    RangeError,
    "ThreeLayerConvNet: filterSize 4 must be odd",
  );
  assertThrows(
    () => new ThreeLayerConvNet({ inputDim: [3, 15, 16] }),
    RangeError,
    "inputDim (3, 15, 16) must have even H and W",
  );
  const model = new ThreeLayerConvNet({ inputDim: [3, 8, 8], numFilters: 2, filterSize: 3, hiddenDim: 4, seed: 0 });
  assertThrows(
    () => model.loss(new Tensor(new Float32Array(2 * 3 * 8 * 6), [2, 3, 8, 6])),
    RangeError,
    "ThreeLayerConvNet.loss: X (2, 3, 8, 6) must be (N, 3, 8, 8)",
  );
  assertEquals(model.state(), {});
  assertThrows(() => model.loadState({ runningMean1: new Tensor(new Float64Array(1), [1]) }), Error, "no state");
});
