/**
 * The recipe's update rules (Nesterov momentum, coupled and decoupled
 * weight decay) and per-step learning-rate schedules against PyTorch
 * (tests/fixtures/recipe_rules.py made recipe_rules.json), alone and
 * together through the optimizer stage.
 */

import { assertEquals, assertLessOrEqual, assertStrictEquals, assertThrows } from "@std/assert";
import type { Labels, LossAndGrads, Model } from "../layers/models/model.ts";
import { array, astype, clone, type Nested, Tensor } from "../layers/tensor.ts";
import { formatLrSchedule, parseLrSchedule, scheduledLearningRate } from "../pipeline/lr_schedule.ts";
import type { Gradients, Step, Stop } from "../pipeline/messages.ts";
import { optimizerStage } from "../pipeline/optimizer_stage.ts";
import { courseSchedule } from "../pipeline/schedule.ts";
import {
  adam,
  adamw,
  configFromCheckpoint,
  configToCheckpoint,
  type OptimConfig,
  recipeUpdateRule,
  sgd,
  sgdMomentum,
  sgdNesterov,
  sgdWeightDecay,
  type UpdateRuleName,
  updateRules,
} from "../pipeline/update_rules.ts";
import { readFixture } from "./helpers.ts";

interface Fixture {
  schedules: { spec: string; learningRate: number; steps: number; lrs: number[] }[];
  w0: number[][];
  grads: number[][][];
  runs: {
    name: string;
    rule: UpdateRuleName;
    config: Record<string, number>;
    schedule: string | null;
    lrs: number[];
    w: number[][][];
  }[];
}

const fx: Fixture = await readFixture("recipe_rules.json");

/** `max |a − b| / max |b|`. */
function normwise(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let diff = 0, scale = 0;
  for (let i = 0; i < b.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return diff / scale;
}

for (const s of fx.schedules) {
  Deno.test(`scheduledLearningRate ${s.spec} matches PyTorch's scheduler at every step within 1e-12 of the rate`, () => {
    const schedule = parseLrSchedule(s.spec);
    assertEquals(formatLrSchedule(schedule), s.spec, "the compact form reads back");
    let worst = 0;
    s.lrs.forEach((want, t) => {
      const got = scheduledLearningRate(schedule, t, s.learningRate, s.steps);
      worst = Math.max(worst, Math.abs(got - want) / s.learningRate);
    });
    console.log(`${s.spec}: ${worst.toExponential(1)} of the rate`);
    assertLessOrEqual(worst, 1e-12);
  });
}

/** A model with one parameter whose gradients come from outside. */
function oneParameter(w: Tensor): Model {
  return {
    params: { w },
    loss(_X: Tensor, _y?: Labels) {
      throw new Error("not called");
    },
    state: () => ({}),
    loadState() {},
  } as unknown as Model & { loss(X: Tensor, y: Labels): LossAndGrads };
}

for (const run of fx.runs) {
  Deno.test(`optimizerStage with ${run.rule}${run.schedule ? ` and ${run.schedule}` : ""} follows PyTorch (${run.name}) within 1e-12`, async () => {
    const model = oneParameter(array(fx.w0));
    const steps = fx.grads.length;
    const schedule = run.schedule === null ? null : parseLrSchedule(run.schedule);
    const optimConfigs: Record<string, OptimConfig> = { w: { ...run.config } };
    const chunks: (Gradients | Stop)[] = fx.grads.map((g, t) => ({
      kind: "grads",
      iteration: t,
      epoch: 0,
      loss: 0,
      grads: { w: array(g as Nested) },
    }));
    const out: Step[] = [];
    await ReadableStream.from(chunks)
      .pipeThrough(optimizerStage({
        model,
        updateRule: updateRules[run.rule],
        optimConfigs,
        schedule: courseSchedule({ numTrain: steps, batchSize: 1, numEpochs: 1 }),
        ...(schedule ? { learningRateAt: (t, lr) => scheduledLearningRate(schedule, t, lr, steps) } : {}),
      }))
      .pipeTo(
        new WritableStream({
          write(step) {
            const s = step as Step;
            out.push({ ...s, w: clone(model.params.w) } as Step & { w: Tensor });
          },
        }),
      );
    assertEquals(out.length, steps);
    let worstW = 0, worstLr = 0;
    out.forEach((s, t) => {
      worstLr = Math.max(worstLr, Math.abs(s.learningRate - run.lrs[t]) / run.lrs[t]);
      worstW = Math.max(worstW, normwise((s as Step & { w: Tensor }).w.data, run.w[t].flat()));
    });
    console.log(`${run.name}: parameters ${worstW.toExponential(1)}, learning rates ${worstLr.toExponential(1)}`);
    assertLessOrEqual(worstLr, 1e-12);
    assertLessOrEqual(worstW, 1e-12);
    // The config keeps the schedule's base, not the last step's rate.
    assertStrictEquals(optimConfigs.w.learningRate, run.config.learningRate);
  });
}

Deno.test("adamw with weightDecay 0 is adam bit for bit, and sgdWeightDecay with no decay or momentum is sgd", () => {
  const w = array([[0.3, -1.2], [2.5, 0.01]]), dw = array([[0.5, -0.1], [1e-3, 3]]);
  for (const dtype of ["float64", "float32"] as const) {
    const [a, b] = [astype(w, dtype), astype(w, dtype)];
    const g = astype(dw, dtype);
    const ca: OptimConfig = { learningRate: 0.1 }, cb: OptimConfig = { learningRate: 0.1, weightDecay: 0 };
    for (let i = 0; i < 3; i++) {
      adam(a, g, ca);
      adamw(b, g, cb);
    }
    assertEquals(Array.from(b.data), Array.from(a.data), dtype);
    assertEquals(b.dtype, dtype);
    assertEquals(cb.weightDecay, 0, "the config keeps its weight decay");
    const [c, d] = [astype(w, dtype), astype(w, dtype)];
    sgd(c, g, { learningRate: 0.1 });
    sgdWeightDecay(d, g, { learningRate: 0.1 });
    assertEquals(Array.from(d.data), Array.from(c.data), dtype);
  }
});

Deno.test("sgdWeightDecay with momentum and no decay takes sgdMomentum's steps at a constant rate, up to rounding", () => {
  const rs = Array.from({ length: 5 }, (_, t) => array([[Math.sin(t), Math.cos(3 * t)], [t / 7, -1]]));
  const a = array([[1, 2], [3, 4]]), b = array([[1, 2], [3, 4]]);
  const ca: OptimConfig = { learningRate: 0.05 }, cb: OptimConfig = { learningRate: 0.05, momentum: 0.9 };
  for (const g of rs) {
    sgdMomentum(a, g, ca);
    sgdWeightDecay(b, g, cb);
  }
  assertLessOrEqual(normwise(b.data, a.data), 1e-14);
});

Deno.test("the new rules reject unknown keys and keep their state across a checkpoint", () => {
  assertThrows(
    () => sgdNesterov(array([1]), array([1]), { nesterov: 1 } as OptimConfig),
    Error,
    'unknown config key "nesterov"',
  );
  assertThrows(() => adamw(array([1]), array([1]), { weightDecay: -1 }), Error, "weightDecay = -1");
  const w = array([1, 2]), g = array([0.5, -0.5]);
  const { config } = sgdNesterov(w, g, { learningRate: 0.1, weightDecay: 0.01 });
  const saved = configToCheckpoint(config); // shares the buffer: a saved copy is a clone
  const restored = configFromCheckpoint({
    scalars: saved.scalars,
    tensors: { momentumBuffer: clone(saved.tensors.momentumBuffer) },
  }, {
    rule: "sgdNesterov",
  });
  const [w1, w2] = [clone(w), clone(w)];
  sgdNesterov(w1, g, config);
  sgdNesterov(w2, g, restored);
  assertEquals(Array.from(w2.data), Array.from(w1.data));
  assertEquals(restored.momentumBuffer instanceof Tensor, true);
});

Deno.test("recipeUpdateRule maps --update-rule, --nesterov and --weight-decay to a rule and its config", () => {
  assertEquals(recipeUpdateRule({ updateRule: "adam" }), { updateRule: "adam", config: {} });
  assertEquals(recipeUpdateRule({ updateRule: "sgdMomentum", nesterov: true }), {
    updateRule: "sgdNesterov",
    config: {},
  });
  assertEquals(recipeUpdateRule({ updateRule: "sgdMomentum", nesterov: true, weightDecay: 5e-4 }), {
    updateRule: "sgdNesterov",
    config: { weightDecay: 5e-4 },
  });
  assertEquals(recipeUpdateRule({ updateRule: "sgd", weightDecay: 1e-3 }), {
    updateRule: "sgdWeightDecay",
    config: { momentum: 0, weightDecay: 1e-3 },
  });
  assertEquals(recipeUpdateRule({ updateRule: "sgdMomentum", weightDecay: 1e-3 }), {
    updateRule: "sgdWeightDecay",
    config: { momentum: 0.9, weightDecay: 1e-3 },
  });
  assertEquals(recipeUpdateRule({ updateRule: "adam", weightDecay: 0.05 }), {
    updateRule: "adamw",
    config: { weightDecay: 0.05 },
  });
  assertThrows(() => recipeUpdateRule({ updateRule: "adam", nesterov: true }), Error, "needs the sgdMomentum rule");
  assertThrows(() => recipeUpdateRule({ updateRule: "rmsprop", weightDecay: 1 }), Error, "not rmsprop");
  assertThrows(() => recipeUpdateRule({ updateRule: "sgd", weightDecay: -1 }), RangeError, "weightDecay -1");
});

Deno.test("parseLrSchedule names the text and what it expected", () => {
  const cases: [string, string][] = [
    ["linear", 'unknown schedule "linear"'],
    ["step", "step needs size=N"],
    ["step:size=0", "stepSize 0 must be a positive integer"],
    ["onecycle:pct=1.5", "pctStart 1.5 must be in (0, 1)"],
    ["cosine:gamma=2", "cosine takes min=, steps="],
    ["onecycle:anneal=exp", "anneal must be cos or linear"],
    ["cosine:min=x", 'min must be a number, got "x"'],
  ];
  for (const [text, message] of cases) assertThrows(() => parseLrSchedule(text), Error, message);
  assertThrows(
    () => scheduledLearningRate({ kind: "onecycle" }, 0, 0.1, 3),
    RangeError,
    "leaves no room for both phases",
  );
});
