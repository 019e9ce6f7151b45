/**
 * The augmentation stage and the recipe in the Solver: crops and flips as
 * specified, a run with everything off unchanged from before they existed
 * (tests/fixtures/solver_baseline.json), and runs with augmentation, a
 * one-cycle schedule, Nesterov momentum and weight decay reproducible from
 * their seed across queue sizes and across a checkpoint and resume.
 */

import { assert, assertAlmostEquals, assertEquals, assertThrows } from "@std/assert";
import { loadSample } from "../datasets/sample.ts";
import { setGemmBackend, tsBackend } from "../layers/kernels/gemm.ts";
import { FullyConnectedNet } from "../layers/models/fully_connected_net.ts";
import { Sequential } from "../layers/models/sequential.ts";
import { ThreeLayerConvNet } from "../layers/models/three_layer_convnet.ts";
import { RandomState } from "../layers/random.ts";
import { array, type Tensor } from "../layers/tensor.ts";
import { augmentBatch, augmentStage, formatAugmentSpec, parseAugmentSpec } from "../pipeline/augment_stage.ts";
import type { HighWaterMarks, Minibatch, TrainEvent } from "../pipeline/messages.ts";
import { CheckpointError, decodeCheckpoint, encodeCheckpoint } from "../pipeline/store/checkpoint.ts";
import type { TrainRecord } from "../pipeline/store/records.ts";
import { collectRecords } from "../pipeline/store/run_log.ts";
import { Solver, type SolverData, type SolverOptions } from "../pipeline/solver.ts";
import type { TrainingSnapshot } from "../pipeline/training_state.ts";
import { readFixture } from "./helpers.ts";

// The baseline fixture was made with the `ts` kernel, whose float32 sums are the same on every machine.
setGemmBackend(tsBackend);

function bitsEqual(a: Record<string, Tensor>, b: Record<string, Tensor>, what: string): void {
  assertEquals(Object.keys(a).sort(), Object.keys(b).sort(), `${what}: names`);
  for (const k of Object.keys(a)) {
    assertEquals(a[k].shape, b[k].shape, `${what}: ${k} shape`);
    for (let i = 0; i < a[k].size; i++) {
      if (!Object.is(a[k].data[i], b[k].data[i])) throw new Error(`${what}: ${k}[${i}] differs`);
    }
  }
}

// ---------------------------------------------------------------- the spec and the batch transform

Deno.test("parseAugmentSpec reads flip and cropP, none, and names a bad part", () => {
  assertEquals(parseAugmentSpec("flip,crop4"), { flip: true, crop: 4 });
  assertEquals(parseAugmentSpec("crop2"), { flip: false, crop: 2 });
  assertEquals(parseAugmentSpec(""), null);
  assertEquals(formatAugmentSpec({ flip: true, crop: 4 }), "flip,crop4");
  assertEquals(formatAugmentSpec(null), "none");
  for (const bad of ["flip,flip", "crop0", "rotate", "flip,crop4,crop2"]) {
    assertThrows(() => parseAugmentSpec(bad), Error, "is not one of flip, cropP");
  }
});

/** The definition, written plainly: pad with zeros, cut the window at (dy, dx), mirror. */
function reference(x: Tensor, pad: number, dys: number[], dxs: number[], flips: boolean[]): number[] {
  const [n, c, h, w] = x.shape;
  const out: number[] = [];
  for (let k = 0; k < n; k++) {
    for (let ch = 0; ch < c; ch++) {
      for (let i = 0; i < h; i++) {
        for (let j = 0; j < w; j++) {
          const jj = flips[k] ? w - 1 - j : j;
          const r = i + dys[k] - pad, s = jj + dxs[k] - pad;
          out.push(r >= 0 && r < h && s >= 0 && s < w ? x.data[((k * c + ch) * h + r) * w + s] : 0);
        }
      }
    }
  }
  return out;
}

Deno.test("augmentBatch crops a zero-padded window and flips, drawing randint(0, 2P + 1, (N, 2)) then rand(N)", () => {
  const x = new RandomState(0).randn(40, 2, 5, 7);
  for (const [spec, pad] of [["flip,crop3", 3], ["crop2", 2], ["flip", 0]] as const) {
    const parsed = parseAugmentSpec(spec)!;
    const random = new RandomState(9), twin = new RandomState(9);
    const out = augmentBatch(x, parsed, random);
    const offsets = pad > 0 ? Array.from(twin.randint(0, 2 * pad + 1, [40, 2]).data) : new Array(80).fill(0);
    const flips = parsed.flip ? Array.from(twin.rand(40).data, (u) => u < 0.5) : new Array(40).fill(false);
    assertEquals(random.getState(), twin.getState(), `${spec}: the same draws`);
    const dys = offsets.filter((_, i) => i % 2 === 0), dxs = offsets.filter((_, i) => i % 2 === 1);
    assertEquals(Array.from(out.data), reference(x, pad, dys, dxs, flips), spec);
    // Every offset and both flip states occur over 40 images, so every branch above ran.
    if (pad > 0) assertEquals(new Set(dxs).size, 2 * pad + 1, `${spec}: offsets`);
    if (parsed.flip) assertEquals(new Set(flips).size, 2, `${spec}: flips`);
  }
  assertThrows(
    () => augmentBatch(array([[1, 2]]), { flip: true, crop: 0 }, new RandomState(0)),
    RangeError,
    "(N, C, H, W)",
  );
});

Deno.test("augmentStage attaches its generator's state to each epoch's last batch when it owns the generator", async () => {
  const batches: Minibatch[] = [0, 1, 2, 3].map((t) => ({
    kind: "batch",
    iteration: t,
    epoch: t >> 1,
    x: new RandomState(t).randn(2, 1, 3, 3),
    y: new Int32Array(2),
  }));
  const random = new RandomState(4);
  const out: Minibatch[] = [];
  await ReadableStream.from(batches)
    .pipeThrough(augmentStage({
      spec: { flip: true, crop: 1 },
      random,
      schedule: { numTrain: 4, batchSize: 2, numEpochs: 2, iterationsPerEpoch: 2, numIterations: 4 },
    }))
    .pipeTo(new WritableStream({ write: (b) => void out.push(b) }));
  assertEquals(out.map((b) => b.augmentRandomState !== undefined), [false, true, false, true]);
  assertEquals(out[3].augmentRandomState, random.getState());
  assert(out[0].x !== batches[0].x, "a new tensor; the gathered batch is left as it was");
});

// ---------------------------------------------------------------- unchanged when off

interface Baseline {
  lossHistory: number[];
  trainAccHistory: number[];
  valAccHistory: number[];
}

const baseline: Record<"fcAdamLockstep" | "cnnMomentumShuffle", Baseline> = await readFixture("solver_baseline.json");

for (const off of [{}, { augment: "none" }, { augment: "", lrSchedule: undefined }] as SolverOptions[]) {
  Deno.test(`a run with augmentation and schedule off (${JSON.stringify(off)}) gives today's histories bit for bit`, async () => {
    {
      const data = await loadSample({ numTraining: 500, numValidation: 200 });
      const random = new RandomState(5);
      const model = new FullyConnectedNet([50, 50], {
        normalization: "batchnorm",
        dropout: 0.2,
        weightScale: 2e-2,
        random,
      });
      const r = await new Solver(model, data, {
        updateRule: "adam",
        optimConfig: { learningRate: 1e-3 },
        lrDecay: 0.9,
        batchSize: 50,
        numEpochs: 2,
        numTrainSamples: 300,
        random,
        verbose: false,
        ...off,
      }).train();
      assertEquals(r.lossHistory, baseline.fcAdamLockstep.lossHistory);
      assertEquals(r.trainAccHistory, baseline.fcAdamLockstep.trainAccHistory);
      assertEquals(r.valAccHistory, baseline.fcAdamLockstep.valAccHistory);
    }
    {
      const data = await loadSample({ numTraining: 120, numValidation: 100 });
      const random = new RandomState(6);
      const model = new ThreeLayerConvNet({ numFilters: 4, filterSize: 3, hiddenDim: 20, weightScale: 1e-2, random });
      const r = await new Solver(model, data, {
        updateRule: "sgdMomentum",
        optimConfig: { learningRate: 1e-3 },
        batchSize: 25,
        numEpochs: 2,
        sampling: "shuffle",
        random,
        verbose: false,
        ...off,
      }).train();
      assertEquals(r.lossHistory, baseline.cnnMomentumShuffle.lossHistory);
      assertEquals(r.trainAccHistory, baseline.cnnMomentumShuffle.trainAccHistory);
      assertEquals(r.valAccHistory, baseline.cnnMomentumShuffle.valAccHistory);
    }
  });
}

// ---------------------------------------------------------------- the recipe, reproducible and resumable

function toyImages(seed: number, n: number, nVal: number): SolverData {
  const rs = new RandomState(seed);
  const xTrain = rs.randn(n, 3, 8, 8), xVal = rs.randn(nVal, 3, 8, 8);
  const yTrain = Int32Array.from(rs.randint(0, 4, [n]).data), yVal = Int32Array.from(rs.randint(0, 4, [nVal]).data);
  // A learnable signal: each class brightens its own channel pattern.
  for (const [x, y] of [[xTrain, yTrain], [xVal, yVal]] as const) {
    for (let i = 0; i < y.length; i++) {
      for (let j = 0; j < 64; j++) x.data[i * 192 + (y[i] % 3) * 64 + j] += 0.5 * (y[i] + 1);
    }
  }
  return { xTrain, yTrain, xVal, yVal };
}

const SPEC = "conv6x3-sbn-relu-pool2,affine16-bn-relu-drop0.2,affine4";

/** The recipe on a small Sequential net; `own` gives the model and the augmentation their own generators. */
function recipe(seed: number, own: boolean, extra: SolverOptions = {}): { solver: Solver; generators: RandomState[] } {
  const random = new RandomState(seed);
  const modelRandom = own ? new RandomState(seed + 1) : random;
  const augmentRandom = own ? new RandomState(seed + 2) : undefined;
  const model = new Sequential(SPEC, { inputDim: [3, 8, 8], weightScale: "kaiming", random: modelRandom });
  const solver = new Solver(model, toyImages(0, 72, 24), {
    updateRule: "sgdNesterov",
    optimConfig: { learningRate: 0.05, weightDecay: 5e-4 },
    lrSchedule: "onecycle",
    augment: "flip,crop2",
    batchSize: 16,
    numEpochs: 4,
    numTrainSamples: 40,
    random,
    ...(own ? { modelRandom, augmentRandom } : {}),
    verbose: false,
    ...extra,
  });
  return { solver, generators: [random, ...(own ? [modelRandom, augmentRandom!] : [])] };
}

const QUEUES: HighWaterMarks[] = [{}, { tickets: 4, batches: 4, gradients: 3, steps: 2, events: 4 }];

for (const own of [false, true]) {
  const mode = own
    ? "own generators for the model and the augmentation (run-ahead)"
    : "one generator, as the course (lockstep)";
  Deno.test(`augmentation + one-cycle + Nesterov + weight decay: the same run whatever the queues, and resumed from a checkpoint bit for bit, ${mode}`, async () => {
    const records: TrainRecord[] = [];
    const full = recipe(21, own, { sinks: [collectRecords(records)] });
    const fullResult = await full.solver.train();
    assertEquals(fullResult.lossHistory.length, 16);
    // The one-cycle rates were in force: step 1 ran at lr / 25, the last step near lr / 25 / 1e4.
    const rates = records.flatMap((r) => r.kind === "epoch" ? [r.learningRate] : []);
    assertAlmostEquals(rates[0], 0.05 / 25, 1e-15);
    assertAlmostEquals(rates.at(-1)!, 0.05 / 25 / 1e4, 1e-15);

    // Other queue sizes: the same run.
    const other = recipe(21, own, { highWaterMarks: QUEUES[1] });
    const otherResult = await other.solver.train();
    assertEquals(otherResult.lossHistory, fullResult.lossHistory, "loss history, other queues");

    // The same run again, keeping the snapshot after epoch 2 of 4, as its checkpoint file would hold it.
    const snaps: TrainingSnapshot[] = [];
    const twin = recipe(21, own, {
      sinks: [new WritableStream<TrainEvent>({ write: (e) => void (e.snapshot && snaps.push(e.snapshot)) })],
    });
    await twin.solver.train();
    assertEquals(snaps.map((s) => s.epoch), [1, 2, 3, 4]);
    assertEquals(snaps[1].augmentRandom !== undefined, own, "the augmentation's own generator is saved");
    const bytes = await encodeCheckpoint(snaps[1], twin.solver.runInfo());

    // Fresh generators with another seed: everything must come from the checkpoint.
    const resumed = recipe(999, own);
    resumed.solver.restore(await decodeCheckpoint(bytes, "epoch2.safetensors"));
    const result = await resumed.solver.train();
    assertEquals(result.lossHistory, fullResult.lossHistory, "loss history");
    assertEquals(result.trainAccHistory, fullResult.trainAccHistory, "train acc");
    assertEquals(result.valAccHistory, fullResult.valAccHistory, "val acc");
    bitsEqual(resumed.solver.model.params, full.solver.model.params, "final params");
    bitsEqual(resumed.solver.model.state(), full.solver.model.state(), "running averages");
    resumed.generators.forEach((g, i) => assertEquals(g.getState(), full.generators[i].getState(), `generator ${i}`));
  });
}

Deno.test("augmentation changes the run, and the checkpoint names it: resuming without it is refused", async () => {
  const a = recipe(21, false);
  const b = recipe(21, false, { augment: undefined });
  const [ra, rb] = [await a.solver.train(), await b.solver.train()];
  assert(ra.lossHistory.some((v, i) => v !== rb.lossHistory[i]), "augmented batches give other losses");
  assertEquals(a.solver.runInfo().augment, "flip,crop2");
  assertEquals(a.solver.runInfo().lrSchedule, "onecycle");
  const snaps: TrainingSnapshot[] = [];
  const c = recipe(21, false, {
    sinks: [new WritableStream<TrainEvent>({ write: (e) => void (e.snapshot && snaps.push(e.snapshot)) })],
  });
  await c.solver.train();
  const checkpoint = await decodeCheckpoint(await encodeCheckpoint(snaps[0], c.solver.runInfo()));
  assertThrows(
    () => recipe(21, false, { augment: undefined }).solver.restore(checkpoint),
    CheckpointError,
    'its augment is "flip,crop2", this run\'s is null',
  );
  assertThrows(
    () => recipe(21, false, { lrSchedule: "cosine" }).solver.restore(checkpoint),
    CheckpointError,
    'its lrSchedule is "onecycle", this run\'s is "cosine"',
  );
  // A run-ahead checkpoint without the augmentation's generator cannot continue that run.
  const own = recipe(21, true);
  const lacking = { ...snaps[0], modelRandom: snaps[0].random };
  assertThrows(
    () => own.solver.restore({ snapshot: lacking, info: own.solver.runInfo(), notices: [] }),
    CheckpointError,
    "no state for the augmentation's generator",
  );
});

Deno.test("the Solver refuses augmentation it cannot make reproducible or apply, and a schedule without a rate", () => {
  const data = toyImages(0, 32, 8);
  const model = () => new Sequential("conv4x3-relu-pool2,affine4", { inputDim: [3, 8, 8], seed: 0 });
  assertThrows(
    () => new Solver(model(), data, { augment: "flip", modelRandom: new RandomState(1), verbose: false }),
    Error,
    "give augmentRandom, a generator of its own, when the model has its own generator",
  );
  const modelRandom = new RandomState(1);
  assertThrows(
    () => new Solver(model(), data, { augment: "flip", modelRandom, augmentRandom: modelRandom, verbose: false }),
    Error,
    "a generator of its own",
  );
  const flat: SolverData = { ...data, xTrain: array([[1, 2]]), yTrain: new Int32Array([0]) };
  assertThrows(
    () => new Solver(new Sequential("affine4", { inputDim: 2 }), flat, { augment: "flip", verbose: false }),
    RangeError,
    "augment needs images (N, C, H, W)",
  );
  assertThrows(
    () => new Solver(model(), data, { lrSchedule: "cosine", verbose: false }),
    Error,
    "lrSchedule needs optimConfig.learningRate",
  );
  assertThrows(
    () =>
      new Solver(model(), data, {
        lrSchedule: "onecycle",
        optimConfig: { learningRate: 0.1 },
        batchSize: 32,
        numEpochs: 2,
      }),
    RangeError,
    "leaves no room for both phases",
  );
});
