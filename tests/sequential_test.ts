/**
 * Sequential nets: the spec's spellings and errors, the course's two models
 * expressed as specs (the same numbers as the classes), and a gradient
 * check of every block kind in float64.
 */

import { assertEquals, assertLess, assertStrictEquals, assertThrows } from "@std/assert";
import { evalNumericalGradient, relError } from "../layers/gradient_check.ts";
import { FullyConnectedNet, type FullyConnectedNetOptions } from "../layers/models/fully_connected_net.ts";
import type { Model } from "../layers/models/model.ts";
import {
  formatSequentialSpec,
  parseSequentialSpec,
  Sequential,
  type SequentialOptions,
  SequentialSpecError,
} from "../layers/models/sequential.ts";
import { ThreeLayerConvNet } from "../layers/models/three_layer_convnet.ts";
import { RandomState } from "../layers/random.ts";
import type { DType, Tensor } from "../layers/tensor.ts";
import { formatErrors } from "./helpers.ts";

const labels = (rs: RandomState, n: number, c = 10) => Int32Array.from(rs.randint(0, c, [n]).data);

/** Bit-for-bit equal tensors under the same names (in the same order unless `anyOrder`). */
function bitsEqual(a: Record<string, Tensor>, b: Record<string, Tensor>, what: string, anyOrder = false): void {
  const names = (r: Record<string, Tensor>) => anyOrder ? Object.keys(r).sort() : Object.keys(r);
  assertEquals(names(a), names(b), `${what}: names`);
  for (const k of Object.keys(b)) {
    assertEquals(a[k].shape, b[k].shape, `${what}: ${k} shape`);
    assertEquals(a[k].dtype, b[k].dtype, `${what}: ${k} dtype`);
    for (let i = 0; i < b[k].size; i++) {
      if (!Object.is(a[k].data[i], b[k].data[i])) {
        throw new Error(`${what}: ${k}[${i}] is ${a[k].data[i]}, expected ${b[k].data[i]}`);
      }
    }
  }
}

// ---------------------------------------------------------------- the spec

Deno.test("parseSequentialSpec reads the issue's compact spec and formatSequentialSpec writes it back", () => {
  const text = "conv32x3-sbn-relu,conv32x3-sbn-relu,pool2,conv64x3-sbn-relu,pool2,affine256-bn-relu-drop0.3,affine10";
  const spec = parseSequentialSpec(text);
  assertEquals(spec.blocks.length, 7);
  assertEquals(spec.blocks[0], [{ kind: "conv", filters: 32, size: 3 }, { kind: "spatialBatchnorm" }, {
    kind: "relu",
  }]);
  assertEquals(spec.blocks[5], [{ kind: "affine", units: 256 }, { kind: "batchnorm" }, { kind: "relu" }, {
    kind: "dropout",
    p: 0.3,
  }]);
  assertEquals(formatSequentialSpec(spec), text);
  const other = "conv16x5s2p1-gn4-relu,pool3s1,affine20-ln-relu,affine10";
  assertEquals(formatSequentialSpec(parseSequentialSpec(other)), other);
  assertEquals(parseSequentialSpec(other).blocks[0][0], { kind: "conv", filters: 16, size: 5, stride: 2, pad: 1 });
});

Deno.test("parseSequentialSpec reads JSON: an object with blocks or a bare array, blocks as strings or layer objects", () => {
  const want = parseSequentialSpec("conv8x3-relu-pool2,affine10");
  assertEquals(parseSequentialSpec('{"blocks": ["conv8x3-relu-pool2", "affine10"]}'), want);
  assertEquals(
    parseSequentialSpec(
      '[[{"kind": "conv", "filters": 8, "size": 3}, "relu", {"kind": "maxPool", "size": 2}], ["affine10"]]',
    ),
    want,
  );
});

Deno.test("parseSequentialSpec names the block and what it expected", () => {
  const cases: [string, RegExp][] = [
    ["conv32x3-sbb-relu,affine10", /block 1 "conv32x3-sbb-relu": unknown layer "sbb"; expected convFxK/],
    ["conv32x3,,affine10", /block 2 "" is empty/],
    ["conv8x3-relu,affine10-drop1.5", /block 2 "affine10-drop1.5": dropout p 1.5 must lie in \[0, 1\)/],
    ["conv8x4,affine10", /block 1 "conv8x4": conv size 4 is even/],
    ["conv0x3,affine10", /conv filters 0 must be an integer ≥ 1/],
    ['{"blocks": [[{"kind": "conv", "filter": 8, "size": 3}]]}', /block 1, layer 1: conv has no field "filter"/],
    ['{"blocks": [[{"kind": "norm"}]]}', /block 1, layer 1: kind "norm" is not one of/],
    ["{blocks: 1}", /not valid JSON/],
  ];
  for (const [text, message] of cases) {
    const e = assertThrows(() => parseSequentialSpec(text), SequentialSpecError);
    if (!message.test(e.message)) {
      throw new Error(`${text}: message ${JSON.stringify(e.message)} does not match ${message}`);
    }
  }
});

Deno.test("Sequential rejects specs that do not fit the shapes, naming the block", () => {
  const cases: [string, SequentialOptions, RegExp][] = [
    ["conv8x3-bn-relu,affine10", {}, /block 1 "conv8x3-bn-relu": bn needs features \(N, D\).*use sbn after a conv/],
    ["affine20-sbn-relu,affine10", {}, /block 1 "affine20-sbn-relu": sbn needs feature maps.*use bn after an affine/],
    ["sbn-relu,affine10", {}, /block 1 "sbn-relu": sbn must follow a conv or affine layer/],
    ["affine20-bn-ln,affine10", {}, /ln must follow a conv or affine layer that has no normalization yet/],
    ["conv8x3-relu-pool2", {}, /the last layer is pool2; the spec must end with an affine layer/],
    ["conv8x3-relu-pool2,affine5", { numClasses: 10 }, /ends with affine5 but the data has 10 classes/],
    ["conv8x3-gn3-relu,affine10", {}, /gn3: 3 groups do not divide the 8 channels/],
    ["conv8x3s2p0,affine10", { inputDim: [3, 8, 8] }, /conv8x3s2p0 does not fit maps \(3, 8, 8\)/],
    ["affine20,pool2,affine10", {}, /block 2 "pool2": pool2 needs feature maps/],
    ["conv8x3,pool3,affine10", { inputDim: [3, 8, 8] }, /pool3 does not fit maps \(8, 8, 8\)/],
  ];
  for (const [text, options, message] of cases) {
    const e = assertThrows(() => new Sequential(text, { seed: 0, ...options }), SequentialSpecError);
    if (!message.test(e.message)) {
      throw new Error(`${text}: message ${JSON.stringify(e.message)} does not match ${message}`);
    }
  }
});

Deno.test("Sequential names parameters as the course: Wi, bi per conv or affine layer, gammai, betai for its norm", () => {
  const model = new Sequential("conv4x3-sbn-relu,conv4x3-gn2-relu-pool2,affine6-ln-relu,affine5-bn,affine3", {
    inputDim: [2, 6, 6],
    seed: 1,
    dtype: "float64",
  });
  assertEquals(Object.keys(model.params), [
    ...["W1", "b1", "gamma1", "beta1", "W2", "b2", "gamma2", "beta2", "W3", "b3", "gamma3", "beta3"],
    ...["W4", "b4", "gamma4", "beta4", "W5", "b5"],
  ]);
  assertEquals(model.params.W2.shape, [4, 4, 3, 3]);
  assertEquals(model.params.gamma2.shape, [1, 4, 1, 1], "group norm's gamma is (1, C, 1, 1), as the course's");
  assertEquals(model.params.W3.shape, [4 * 3 * 3, 6]);
  assertEquals(Object.keys(model.state()), ["runningMean1", "runningVar1", "runningMean4", "runningVar4"]);
  assertEquals(model.numClasses, 3);
});

Deno.test("Sequential draws Kaiming weights (std √(2/fan-in)) when asked", () => {
  const model = new Sequential("conv64x3-relu,affine200", { inputDim: [16, 8, 8], weightScale: "kaiming", seed: 3 });
  const std = (t: Tensor) => Math.sqrt(Array.from(t.data).reduce((s, v) => s + v * v, 0) / t.size);
  assertLess(Math.abs(std(model.params.W1) / Math.sqrt(2 / (16 * 9)) - 1), 0.03);
  assertLess(Math.abs(std(model.params.W2) / Math.sqrt(2 / (64 * 64)) - 1), 0.03);
});

// ---------------------------------------------------------------- the course's models as specs

for (const dtype of ["float64", "float32"] as DType[]) {
  Deno.test(`ThreeLayerConvNet as the spec conv32x7-relu-pool2,affine100-relu,affine10 gives the same numbers (${dtype})`, () => {
    const cls = new ThreeLayerConvNet({ inputDim: [3, 16, 16], weightScale: 1e-2, reg: 0.3, dtype, seed: 231 });
    const seq = new Sequential("conv32x7-relu-pool2,affine100-relu,affine10", {
      inputDim: [3, 16, 16],
      weightScale: 1e-2,
      reg: 0.3,
      dtype,
      seed: 231,
    });
    bitsEqual(seq.params, cls.params, "initial parameters");
    const rs = new RandomState(0);
    const X = rs.randn(6, 3, 16, 16), y = labels(rs, 6);
    for (let pass = 0; pass < 2; pass++) {
      const a = seq.loss(X, y), b = cls.loss(X, y);
      assertStrictEquals(a.loss, b.loss);
      bitsEqual(a.grads, b.grads, `gradients, pass ${pass}`, true);
      bitsEqual({ scores: seq.loss(X) }, { scores: cls.loss(X) }, "scores");
    }
  });
}

const FC_SPECS: [string, FullyConnectedNetOptions, string][] = [
  ["no norm", {}, "affine20-relu,affine30-relu,affine10"],
  ["batchnorm", { normalization: "batchnorm" }, "affine20-bn-relu,affine30-bn-relu,affine10"],
  ["layernorm", { normalization: "layernorm" }, "affine20-ln-relu,affine30-ln-relu,affine10"],
  [
    "batchnorm and dropout",
    { normalization: "batchnorm", dropout: 0.25 },
    "affine20-bn-relu-drop0.25,affine30-bn-relu-drop0.25,affine10",
  ],
];

for (const dtype of ["float64", "float32"] as DType[]) {
  Deno.test(`FullyConnectedNet as specs (no norm, bn, ln, dropout) gives the same numbers (${dtype})`, () => {
    for (const [label, options, text] of FC_SPECS) {
      // Weights and dropout masks from one generator, as in a training run.
      const [rc, rq] = [new RandomState(7), new RandomState(7)];
      const cls = new FullyConnectedNet([20, 30], {
        inputDim: 48,
        weightScale: 5e-2,
        reg: 0.1,
        dtype,
        random: rc,
        ...options,
      });
      const seq = new Sequential(text, { inputDim: 48, weightScale: 5e-2, reg: 0.1, dtype, random: rq });
      bitsEqual(seq.params, cls.params, `${label}: initial parameters`);
      const rs = new RandomState(1);
      const X = rs.randn(8, 3, 4, 4), y = labels(rs, 8);
      for (let pass = 0; pass < 3; pass++) {
        const a = seq.loss(X, y), b = cls.loss(X, y);
        assertStrictEquals(a.loss, b.loss, `${label}: loss, pass ${pass}`);
        bitsEqual(a.grads, b.grads, `${label}: gradients, pass ${pass}`, true);
        bitsEqual(seq.state(), cls.state(), `${label}: running averages, pass ${pass}`);
        bitsEqual({ scores: seq.loss(X) }, { scores: cls.loss(X) }, `${label}: scores`);
      }
      assertEquals(rq.getState(), rc.getState(), `${label}: the same draws`);
    }
  });
}

// ---------------------------------------------------------------- gradient checks

// As tests/models_test.ts: centered differences (h = 1e-5) in float64 round to about eps·L/h, so every
// entry must satisfy |a − n| ≤ ATOL + RTOL·(|a| + |n|), much tighter than the course's "around 1e-7".
const ATOL = 1e-9;
const RTOL = 1e-6;

function gradCheck(model: Model, X: Tensor, y: Int32Array): Record<string, number> {
  const { grads } = model.loss(X, y);
  const ratios: Record<string, number> = {};
  const rel: Record<string, number> = {};
  for (const [name, param] of Object.entries(model.params)) {
    const num = evalNumericalGradient(() => model.loss(X, y).loss, param);
    const a = grads[name].data, n = num.data;
    let ratio = 0;
    for (let i = 0; i < a.length; i++) {
      ratio = Math.max(ratio, Math.abs(a[i] - n[i]) / (ATOL + RTOL * (Math.abs(a[i]) + Math.abs(n[i]))));
    }
    ratios[name] = ratio;
    rel[name] = relError(grads[name], num);
  }
  console.log(`  rel errors: ${formatErrors(rel)}`);
  return ratios;
}

// One spec per block kind, each on a small input; every one ends in the scoring affine layer. The seeds
// keep pre-activations away from the ReLU kink by more than h (across a kink a centered difference
// measures neither side's slope).
const BLOCKS: [string, number[], number][] = [
  ["conv6x3,affine5", [2, 5, 5], 0],
  ["conv4x3s2p1,affine5", [2, 5, 5], 0],
  ["conv4x3-relu,affine5", [2, 5, 5], 1],
  ["conv4x3-relu-pool2,affine5", [2, 6, 6], 2],
  ["conv4x3-sbn-relu,affine5", [2, 5, 5], 3],
  ["conv4x3-gn2-relu,affine5", [2, 5, 5], 4],
  ["conv3x3,pool3s1,affine5", [2, 5, 5], 5],
  ["affine7,affine5", [12], 6],
  ["affine7-relu,affine5", [12], 7],
  ["affine7-bn-relu,affine5", [12], 8],
  ["affine7-ln-relu,affine5", [12], 9],
  ["affine7-relu-drop0.4,affine5", [12], 10],
  ["affine7-bn-drop0.3,affine5", [12], 11],
];

for (const [text, inputDim, seed] of BLOCKS) {
  Deno.test(`Sequential ${text}: gradients match centered differences to 1e-9 + 1e-6·|g| (float64, reg 0.5)`, () => {
    // With `seed` every dropout layer reseeds on every pass, as the course's gradient checks need.
    const model = new Sequential(text, {
      inputDim: inputDim.length === 1 ? inputDim[0] : inputDim as [number, number, number],
      weightScale: 0.3,
      reg: 0.5,
      dtype: "float64",
      random: new RandomState(100 + seed),
      seed: 123,
    });
    const rs = new RandomState(seed);
    const X = rs.randn(4, ...inputDim), y = labels(rs, 4, 5);
    for (const [name, ratio] of Object.entries(gradCheck(model, X, y))) assertLess(ratio, 1, name);
  });
}

Deno.test("Sequential state() and loadState() carry the batch-norm running averages, and reject wrong keys", () => {
  const text = "conv4x3-sbn-relu-pool2,affine6-bn-relu,affine10";
  const a = new Sequential(text, { inputDim: [2, 6, 6], seed: 0, dtype: "float64" });
  const b = new Sequential(text, { inputDim: [2, 6, 6], seed: 0, dtype: "float64" });
  const rs = new RandomState(2);
  const X = rs.randn(5, 2, 6, 6);
  for (let i = 0; i < 3; i++) a.loss(X, labels(rs, 5));
  b.loadState(a.state());
  bitsEqual({ scores: b.loss(X) }, { scores: a.loss(X) }, "test-mode scores after loadState");
  assertThrows(() => b.loadState({}), Error, "missing runningMean1");
});
