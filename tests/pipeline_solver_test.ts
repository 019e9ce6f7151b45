/**
 * The streaming Solver equals a plain course loop (cs231n/solver.py's
 * `train`, written out below) bit for bit, whatever its queue sizes.
 */

import { assert, assertEquals, assertGreater, assertRejects, assertStrictEquals } from "@std/assert";
import { FullyConnectedNet } from "../layers/models/fully_connected_net.ts";
import type { Labels, LossAndGrads, Model } from "../layers/models/model.ts";
import { RandomState } from "../layers/random.ts";
import { clone, type Tensor } from "../layers/tensor.ts";
import { checkAccuracy, takeLabels, takeRows } from "../pipeline/check_accuracy.ts";
import type { HighWaterMarks } from "../pipeline/messages.ts";
import type { TrainRecord } from "../pipeline/store/records.ts";
import { collectRecords } from "../pipeline/store/run_log.ts";
import { BatchSampler, courseSchedule } from "../pipeline/schedule.ts";
import { Solver, type SolverData, TrainingStoppedError } from "../pipeline/solver.ts";
import { cloneOptimConfig } from "../pipeline/training_state.ts";
import { type OptimConfig, type UpdateRuleName, updateRules } from "../pipeline/update_rules.ts";

interface LoopOptions {
  updateRule: UpdateRuleName;
  optimConfig: OptimConfig;
  lrDecay: number;
  batchSize: number;
  numEpochs: number;
  numTrainSamples: number | null;
  numValSamples: number | null;
  sampling: "replacement" | "shuffle";
}

/** The course's Solver.train, as a plain loop over the same functions. */
function plainLoop(model: Model, data: SolverData, random: RandomState, o: LoopOptions) {
  const numTrain = data.xTrain.shape[0];
  const iterationsPerEpoch = Math.max(Math.floor(numTrain / o.batchSize), 1);
  const numIterations = o.numEpochs * iterationsPerEpoch;
  const rule = updateRules[o.updateRule];
  const configs: Record<string, OptimConfig> = {};
  for (const p of Object.keys(model.params)) configs[p] = cloneOptimConfig(o.optimConfig);
  const lossHistory: number[] = [], trainAccHistory: number[] = [], valAccHistory: number[] = [];
  let epoch = 0, bestValAcc = 0;
  let bestParams: Record<string, Tensor> = {};
  let perm: Int32Array = new Int32Array(0);
  for (let t = 0; t < numIterations; t++) {
    let idx: Int32Array;
    if (o.sampling === "replacement") idx = random.choice(numTrain, o.batchSize);
    else {
      const i = t % iterationsPerEpoch;
      if (i === 0) perm = random.permutation(numTrain);
      idx = perm.slice(i * o.batchSize, Math.min((i + 1) * o.batchSize, numTrain));
    }
    const { loss, grads } = model.loss(takeRows(data.xTrain, idx), takeLabels(data.yTrain, idx));
    lossHistory.push(loss);
    for (const [p, w] of Object.entries(model.params)) {
      const { nextW, config } = rule(w, grads[p], configs[p]);
      model.params[p] = nextW;
      configs[p] = config;
    }
    const epochEnd = (t + 1) % iterationsPerEpoch === 0;
    if (epochEnd) {
      epoch++;
      for (const c of Object.values(configs)) c.learningRate = (c.learningRate as number) * o.lrDecay;
    }
    if (t === 0 || t === numIterations - 1 || epochEnd) {
      const trainAcc = checkAccuracy(model, data.xTrain, data.yTrain, { numSamples: o.numTrainSamples, random });
      const valAcc = checkAccuracy(model, data.xVal, data.yVal, { numSamples: o.numValSamples, random });
      trainAccHistory.push(trainAcc);
      valAccHistory.push(valAcc);
      if (valAcc > bestValAcc) {
        bestValAcc = valAcc;
        bestParams = {};
        for (const [k, v] of Object.entries(model.params)) bestParams[k] = clone(v);
      }
    }
  }
  for (const [k, v] of Object.entries(bestParams)) model.params[k] = v;
  return { lossHistory, trainAccHistory, valAccHistory, bestValAcc, epoch, configs };
}

function toyData(seed: number, n = 120, nVal = 40, d = 12, c = 4): SolverData {
  const rs = new RandomState(seed);
  const xTrain = rs.randn(n, 3, 2, d / 6);
  const yTrain = Int32Array.from(rs.randint(0, c, [n]).data);
  const xVal = rs.randn(nVal, 3, 2, d / 6);
  const yVal = Int32Array.from(rs.randint(0, c, [nVal]).data);
  // Make the labels learnable: shift each example along its class's direction.
  for (const [x, y] of [[xTrain, yTrain], [xVal, yVal]] as const) {
    for (let i = 0; i < y.length; i++) x.data[i * d + y[i]] += 2;
  }
  return { xTrain, yTrain, xVal, yVal };
}

function sameTensors(a: Record<string, Tensor>, b: Record<string, Tensor>, what: string): void {
  assertEquals(Object.keys(a), Object.keys(b), `${what}: names`);
  for (const k of Object.keys(a)) {
    assertEquals(a[k].shape, b[k].shape, `${what}: ${k} shape`);
    assertEquals(a[k].dtype, b[k].dtype, `${what}: ${k} dtype`);
    for (let i = 0; i < a[k].size; i++) {
      if (!Object.is(a[k].data[i], b[k].data[i])) {
        throw new Error(`${what}: ${k}[${i}] differs: ${a[k].data[i]} vs ${b[k].data[i]}`);
      }
    }
  }
}

const net = (random: RandomState, dropout: number) =>
  new FullyConnectedNet([16, 16], {
    inputDim: 12,
    numClasses: 4,
    dropout,
    normalization: "batchnorm",
    weightScale: 0.1,
    dtype: "float64",
    random,
  });

const queueSettings: HighWaterMarks[] = [
  { tickets: 0, batches: 0, gradients: 0, steps: 0, events: 0 },
  {},
  { tickets: 3, batches: 5, gradients: 2, steps: 3, events: 4 },
  { tickets: 16, batches: 16, gradients: 16, steps: 16, events: 16 },
];

for (const shared of [true, false]) {
  const mode = shared ? "one generator for dropout and sampling (lockstep)" : "separate dropout generator (run-ahead)";
  Deno.test(`Solver equals the plain course loop bit for bit with dropout and batchnorm, ${mode}, any queue sizes`, async () => {
    const data = toyData(1);
    const loop: LoopOptions = {
      updateRule: shared ? "adam" : "sgdMomentum",
      optimConfig: { learningRate: shared ? 1e-2 : 5e-2 },
      lrDecay: shared ? 1 : 0.9,
      batchSize: 25,
      numEpochs: 3,
      numTrainSamples: shared ? 1000 : 50, // 50 < 120: a subsample is drawn at every check
      numValSamples: shared ? null : 30,
      sampling: "replacement",
    };
    const refSampling = new RandomState(7);
    const refModelRandom = shared ? refSampling : new RandomState(8);
    const refModel = net(refModelRandom, 0.3);
    const ref = plainLoop(refModel, data, refSampling, loop);
    assertEquals(ref.lossHistory.length, 12);
    for (const highWaterMarks of queueSettings) {
      const sampling = new RandomState(7);
      const modelRandom = shared ? sampling : new RandomState(8);
      const model = net(modelRandom, 0.3);
      const solver = new Solver(model, data, {
        ...loop,
        random: sampling,
        modelRandom: shared ? undefined : modelRandom,
        highWaterMarks,
        verbose: false,
      });
      assertEquals(solver.lockstep, shared);
      const result = await solver.train();
      const q = JSON.stringify(highWaterMarks);
      assertEquals(result.lossHistory, ref.lossHistory, `loss history, queues ${q}`);
      assertEquals(result.trainAccHistory, ref.trainAccHistory, `train acc, queues ${q}`);
      assertEquals(result.valAccHistory, ref.valAccHistory, `val acc, queues ${q}`);
      assertStrictEquals(result.bestValAcc, ref.bestValAcc);
      assertEquals(result.epochs, ref.epoch);
      sameTensors(model.params, refModel.params, `final params, queues ${q}`);
      sameTensors(model.state(), refModel.state(), `batchnorm running stats, queues ${q}`);
      for (const p of Object.keys(ref.configs)) {
        sameTensors(
          Object.fromEntries(
            Object.entries(solver.state.optimConfigs[p]).filter(([, v]) => typeof v !== "number"),
          ) as Record<
            string,
            Tensor
          >,
          Object.fromEntries(Object.entries(ref.configs[p]).filter(([, v]) => typeof v !== "number")) as Record<
            string,
            Tensor
          >,
          `optimizer state of ${p}`,
        );
        assertStrictEquals(solver.state.optimConfigs[p].learningRate, ref.configs[p].learningRate);
      }
      // Both generators end where the plain loop left them.
      assertEquals(sampling.getState(), refSampling.getState());
      assertEquals(modelRandom.getState(), refModelRandom.getState());
    }
  });
}

Deno.test("Solver's epoch-shuffle mode equals a plain loop drawing one permutation per epoch", async () => {
  const data = toyData(2, 110); // 110 = 4·25 + 10: the 10 leftovers of each permutation are skipped
  const loop: LoopOptions = {
    updateRule: "rmsprop",
    optimConfig: { learningRate: 1e-2 },
    lrDecay: 0.95,
    batchSize: 25,
    numEpochs: 2,
    numTrainSamples: 100,
    numValSamples: null,
    sampling: "shuffle",
  };
  const refModel = net(new RandomState(3), 0);
  const ref = plainLoop(refModel, data, new RandomState(4), loop);
  for (const highWaterMarks of [queueSettings[0], queueSettings[3]]) {
    const model = net(new RandomState(3), 0);
    const result = await new Solver(model, data, {
      ...loop,
      random: new RandomState(4),
      modelRandom: null,
      highWaterMarks,
      verbose: false,
    }).train();
    assertEquals(result.lossHistory, ref.lossHistory);
    assertEquals(result.valAccHistory, ref.valAccHistory);
    sameTensors(model.params, refModel.params, "final params");
  }
});

Deno.test("BatchSampler shuffle mode covers each epoch's examples without repeats", () => {
  const s = courseSchedule({ numTrain: 10, batchSize: 3, numEpochs: 2 });
  const sampler = new BatchSampler(s, "shuffle");
  const rs = new RandomState(0);
  const epoch0 = [...sampler.next(0, rs), ...sampler.next(1, rs), ...sampler.next(2, rs)];
  assertEquals(epoch0.length, 9);
  assertEquals(new Set(epoch0).size, 9);
  const expected = new RandomState(0).permutation(10).slice(0, 9);
  assertEquals(epoch0, [...expected]);
});

/**
 * A model that checks, at every forward pass, that it sees the weights
 * after exactly t updates, and counts the sampling draws made so far.
 */
class SpyModel implements Model {
  params: Record<string, Tensor>;
  step = 0;
  updates = 0;
  drawsSeen: number[] = [];
  updatesSeenByChecks: number[] = [];
  constructor(readonly inner: Model, readonly draws: () => number) {
    this.params = inner.params;
  }
  loss(X: Tensor): Tensor;
  loss(X: Tensor, y: Labels): LossAndGrads;
  loss(X: Tensor, y?: Labels): Tensor | LossAndGrads {
    this.inner.params = this.params;
    if (y === undefined) {
      // Forward passes and updates done when a check runs (batch norm running stats change in every forward pass).
      const seen = this.step * 1000 + this.updates;
      if (this.updatesSeenByChecks.at(-1) !== seen) this.updatesSeenByChecks.push(seen);
      return this.inner.loss(X);
    }
    if (this.updates !== this.step) throw new Error(`forward of step ${this.step} saw ${this.updates} updates`);
    this.drawsSeen.push(this.draws());
    this.step++;
    return this.inner.loss(X, y);
  }
  state() {
    return this.inner.state();
  }
  loadState(s: Record<string, Tensor>) {
    this.inner.loadState(s);
  }
}

class CountingRandom extends RandomState {
  calls = 0;
  override choice(a: number): number;
  override choice(a: number, size: number, options?: { replace?: boolean }): Int32Array;
  override choice(a: number, size?: number, options?: { replace?: boolean }): number | Int32Array {
    this.calls++;
    return size === undefined ? super.choice(a) : super.choice(a, size, options);
  }
}

Deno.test("no forward pass or accuracy check sees weights other than the last update's; sampling runs ahead only when allowed", async () => {
  const data = toyData(3);
  for (const [shared, highWaterMarks] of [true, false].flatMap((s) => queueSettings.map((q) => [s, q] as const))) {
    const random = new CountingRandom(5);
    const spy = new SpyModel(net(shared ? random : new RandomState(6), 0.2), () => random.calls);
    const params = Object.keys(spy.params).length;
    const countingRule = (w: Tensor, dw: Tensor, config?: OptimConfig) => {
      const r = updateRules.sgd(w, dw, config);
      // The last parameter's update completes the step.
      if (++calls % params === 0) spy.updates++;
      return r;
    };
    let calls = 0;
    await new Solver(spy, data, {
      updateRule: countingRule,
      optimConfig: { learningRate: 1e-2 },
      batchSize: 20,
      numEpochs: 3,
      numTrainSamples: 50,
      random,
      modelRandom: shared ? undefined : new RandomState(6),
      highWaterMarks,
      verbose: false,
    }).train();
    assertEquals(spy.step, 18);
    // Checks follow steps 0, 5, 11 and 17 (6 steps per epoch) and must see exactly those steps' weights and statistics.
    assertEquals(spy.updatesSeenByChecks, [1001, 6006, 12012, 18018], `queues ${JSON.stringify(highWaterMarks)}`);
    if (shared) {
      // Lockstep: step t's forward follows exactly t + 1 batch draws and one subsample draw per earlier check.
      const checksBefore = (t: number) => [0, 5, 11, 17].filter((c) => c < t).length;
      assertEquals(spy.drawsSeen, spy.drawsSeen.map((_, t) => t + 1 + checksBefore(t)));
    } else if ((highWaterMarks.batches ?? 1) > 1) {
      // Run-ahead: the minibatch stage had drawn further than the step being computed.
      assert(spy.drawsSeen.some((d, t) => d > t + 1 + 1), `draws seen ${spy.drawsSeen}`);
    }
  }
});

Deno.test("Solver emits start, iteration, epoch and end records in the course's schedule", async () => {
  const records: TrainRecord[] = [];
  const data = toyData(4);
  const result = await new Solver(net(new RandomState(0), 0), data, {
    updateRule: "sgd",
    optimConfig: { learningRate: 1e-2 },
    batchSize: 40,
    numEpochs: 2,
    seed: 1,
    modelRandom: null,
    verbose: false,
    sinks: [collectRecords(records)],
  }).train();
  const kinds = records.map((r) => r.kind);
  assertEquals(kinds, [
    "start",
    "iteration",
    "epoch",
    "iteration",
    "iteration",
    "epoch",
    "iteration",
    "iteration",
    "iteration",
    "epoch",
    "end",
  ]);
  const epochs = records.filter((r) => r.kind === "epoch");
  assertEquals(epochs.map((r) => [r.epoch, r.iteration, r.epochEnd]), [[0, 1, false], [1, 3, true], [2, 6, true]]);
  assertEquals(epochs.map((r) => r.valAcc), result.valAccHistory);
  const start = records[0];
  assert(start.kind === "start");
  assertEquals([start.numIterations, start.iterationsPerEpoch, start.numTrainSamples], [6, 3, 1000]);
  const end = records.at(-1)!;
  assert(end.kind === "end");
  assertEquals(end.bestValAcc, result.bestValAcc);
  for (const r of records) assertEquals(JSON.parse(JSON.stringify(r)), r, `${r.kind} record is JSON-able`);
  assertGreater(end.examplesPerSec, 0);
});

Deno.test("a NaN loss stops the run with a message naming the iteration and the loss", async () => {
  const records: TrainRecord[] = [];
  const data = toyData(5);
  const model = net(new RandomState(0), 0);
  const err = await assertRejects(
    () =>
      new Solver(model, data, {
        updateRule: "sgd",
        optimConfig: { learningRate: 1e30 },
        batchSize: 20,
        numEpochs: 5,
        seed: 0,
        modelRandom: null,
        verbose: false,
        sinks: [collectRecords(records)],
      }).train(),
    TrainingStoppedError,
  );
  const stopped = records.at(-1)!;
  assert(stopped.kind === "stopped", `last record is ${stopped.kind}`);
  assertEquals(stopped.reason, "non-finite-loss");
  assert(err.message.includes(`iteration ${stopped.iteration}`), err.message);
  assert(/loss is (NaN|Infinity)/.test(err.message), err.message);
  assert(err.message.includes("no checkpoint was written"), err.message);
  // Every earlier step was recorded, the offending one was not.
  assertEquals(records.filter((r) => r.kind === "iteration").length, stopped.iteration - 1);
});
