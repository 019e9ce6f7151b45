/**
 * Checkpoints: exact round trips, clear errors for corrupt or mismatched
 * files, in-process resume equal to an uninterrupted run, and the last good
 * checkpoint kept when the loss blows up.
 */

import { assert, assertEquals, assertRejects, assertStringIncludes, assertThrows } from "@std/assert";
import { FullyConnectedNet } from "../layers/models/fully_connected_net.ts";
import { RandomState } from "../layers/random.ts";
import type { Tensor } from "../layers/tensor.ts";
import {
  CHECKPOINT_FORMAT,
  CheckpointError,
  decodeCheckpoint,
  encodeCheckpoint,
  loadCheckpoint,
} from "../pipeline/store/checkpoint.ts";
import type { TrainRecord } from "../pipeline/store/records.ts";
import { collectRecords, readRunLog } from "../pipeline/store/run_log.ts";
import { encodeSafetensors } from "../pipeline/store/safetensors.ts";
import { Solver, type SolverData, type SolverOptions, TrainingStoppedError } from "../pipeline/solver.ts";
import type { TrainingSnapshot } from "../pipeline/training_state.ts";

function toyData(seed: number, n = 80, nVal = 30, d = 10, c = 3): SolverData {
  const rs = new RandomState(seed);
  const xTrain = rs.randn(n, d);
  const yTrain = Int32Array.from(rs.randint(0, c, [n]).data);
  const xVal = rs.randn(nVal, d);
  const yVal = Int32Array.from(rs.randint(0, c, [nVal]).data);
  for (const [x, y] of [[xTrain, yTrain], [xVal, yVal]] as const) {
    for (let i = 0; i < y.length; i++) x.data[i * d + y[i]] += 1.5;
  }
  return { xTrain, yTrain, xVal, yVal };
}

const net = (random: RandomState, hidden = 12, dtype: "float32" | "float64" = "float32") =>
  new FullyConnectedNet([hidden, hidden], {
    inputDim: 10,
    numClasses: 3,
    dropout: 0.25,
    normalization: "batchnorm",
    weightScale: 0.1,
    dtype,
    random,
  });

function bitsEqual(a: Record<string, Tensor>, b: Record<string, Tensor>, what: string): void {
  assertEquals(Object.keys(a).sort(), Object.keys(b).sort(), `${what}: names`);
  for (const k of Object.keys(a)) {
    assertEquals(a[k].shape, b[k].shape, `${what}: ${k} shape`);
    assertEquals(a[k].dtype, b[k].dtype, `${what}: ${k} dtype`);
    const x = new Uint8Array(a[k].data.buffer, a[k].data.byteOffset, a[k].data.byteLength);
    const y = new Uint8Array(b[k].data.buffer, b[k].data.byteOffset, b[k].data.byteLength);
    assert(x.length === y.length && x.every((v, i) => v === y[i]), `${what}: ${k} differs`);
  }
}

const options = (random: RandomState, extra: SolverOptions = {}): SolverOptions => ({
  updateRule: "adam",
  optimConfig: { learningRate: 5e-3 },
  lrDecay: 0.9,
  batchSize: 16,
  numEpochs: 4,
  numTrainSamples: 40,
  random,
  verbose: false,
  ...extra,
});

async function tempDir(): Promise<string> {
  return await Deno.makeTempDir({ prefix: "gradstream_ckpt_" });
}

Deno.test("a checkpoint round-trips every tensor, optimizer scalar, generator state and history exactly", async () => {
  const dir = await tempDir();
  try {
    const random = new RandomState(3);
    const solver = new Solver(net(random), toyData(0), options(random, { checkpoint: `${dir}/c.safetensors` }));
    await solver.train();
    const { snapshot, info } = await loadCheckpoint(`${dir}/c.safetensors`);
    assertEquals(snapshot.iteration, 20);
    assertEquals(snapshot.epoch, 4);
    assertEquals(info.numTrain, 80);
    assertEquals(info.updateRule, "adam");
    assertEquals(snapshot.lossHistory, solver.lossHistory);
    assertEquals(snapshot.valAccHistory, solver.valAccHistory);
    assertEquals(snapshot.bestValAcc, solver.bestValAcc);
    bitsEqual(snapshot.bestParams, solver.bestParams, "best params");
    bitsEqual(snapshot.bestParams, solver.model.params, "final model params are the best ones");
    bitsEqual(snapshot.modelState, solver.model.state(), "batchnorm running stats");
    assertEquals(snapshot.random, random.getState());
    const cfg = snapshot.optimConfigs.W1;
    assertEquals(cfg.t, 20);
    assertEquals(cfg.learningRate, 5e-3 * 0.9 * 0.9 * 0.9 * 0.9);
    bitsEqual({ m: cfg.m as Tensor, v: cfg.v as Tensor }, {
      m: solver.state.optimConfigs.W1.m as Tensor,
      v: solver.state.optimConfigs.W1.v as Tensor,
    }, "adam state");
    // Encoding the decoded snapshot again gives the same bytes.
    const bytes = await Deno.readFile(`${dir}/c.safetensors`);
    const again = await encodeCheckpoint(snapshot, info);
    assert(again.length === bytes.length && again.every((b, i) => b === bytes[i]), "re-encoded bytes differ");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("restoring a mid-run checkpoint and training on equals the uninterrupted run bit for bit", async () => {
  const data = toyData(1);
  const rsA = new RandomState(11);
  const full = new Solver(net(rsA), data, options(rsA));
  await full.train();

  // The same run again, keeping the snapshot taken after epoch 2 of 4 (what its checkpoint file would hold).
  const rsB = new RandomState(11);
  const snaps: TrainingSnapshot[] = [];
  const keep = new WritableStream<{ snapshot?: TrainingSnapshot }>({
    write(e) {
      if (e.snapshot) snaps.push(e.snapshot);
    },
  });
  const twin = new Solver(net(rsB), data, options(rsB, { sinks: [keep] }));
  await twin.train();
  assertEquals(snaps.map((s) => s.epoch), [1, 2, 3, 4]);
  const bytes = await encodeCheckpoint(snaps[1], twin.runInfo());

  // A fresh model and generator with another seed: everything must come from the checkpoint.
  const rsC = new RandomState(999);
  const records: TrainRecord[] = [];
  const resumed = new Solver(net(rsC), data, options(rsC, { sinks: [collectRecords(records)] }));
  resumed.restore(await decodeCheckpoint(bytes, "epoch2.safetensors"));
  assertEquals(resumed.state.iteration, 10);
  const result = await resumed.train();
  assertEquals(result.lossHistory, full.lossHistory);
  assertEquals(result.trainAccHistory, full.trainAccHistory);
  assertEquals(result.valAccHistory, full.valAccHistory);
  bitsEqual(resumed.model.params, full.model.params, "final params");
  bitsEqual(resumed.model.state(), full.model.state(), "running stats");
  assertEquals(rsC.getState(), rsA.getState());
  const start = records[0];
  assert(start.kind === "start" && start.resumed && start.startIteration === 10);
  assertEquals(records.filter((r) => r.kind === "iteration").length, 10);
});

Deno.test("a checkpoint with a corrupt header is a CheckpointError naming the file", async () => {
  const dir = await tempDir();
  try {
    const random = new RandomState(0);
    const path = `${dir}/c.safetensors`;
    await new Solver(net(random), toyData(2), options(random, { numEpochs: 1, checkpoint: path })).train();
    const bytes = await Deno.readFile(path);
    const corrupt = bytes.slice();
    corrupt.set(new TextEncoder().encode("{ not json"), 8);
    await Deno.writeFile(path, corrupt);
    const e1 = await assertRejects(() => loadCheckpoint(path), CheckpointError);
    assertStringIncludes(e1.message, path);
    assertStringIncludes(e1.message, "not a readable checkpoint");

    await Deno.writeFile(path, bytes.slice(0, bytes.length - 100));
    await assertRejects(() => loadCheckpoint(path), CheckpointError, "not a readable checkpoint");

    await Deno.writeFile(path, new Uint8Array(4));
    await assertRejects(() => loadCheckpoint(path), CheckpointError, "too short");

    const foreign = encodeSafetensors({ W1: new Float32Array(4) }, { format: "pt" });
    await assertRejects(
      () => decodeCheckpoint(foreign, "foreign.safetensors"),
      CheckpointError,
      `expected "${CHECKPOINT_FORMAT}"`,
    );

    await assertRejects(() => loadCheckpoint(`${dir}/missing.safetensors`), CheckpointError, "no checkpoint there");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a checkpoint whose shapes or run do not match is refused with the difference named", async () => {
  const dir = await tempDir();
  try {
    const data = toyData(3);
    const path = `${dir}/c.safetensors`;
    const random = new RandomState(0);
    await new Solver(net(random), data, options(random, { numEpochs: 1, checkpoint: path })).train();
    const checkpoint = await loadCheckpoint(path);

    const wider = new Solver(net(new RandomState(0), 13), data, options(new RandomState(0), { numEpochs: 1 }));
    assertThrows(
      () => wider.restore(checkpoint, path),
      CheckpointError,
      "parameter W1 has shape (10, 12) in the checkpoint but (10, 13) in the model",
    );
    const f64 = new Solver(net(new RandomState(0), 12, "float64"), data, options(new RandomState(0), { numEpochs: 1 }));
    assertThrows(() => f64.restore(checkpoint, path), CheckpointError, "is float32 in the checkpoint but float64");
    const noBn = new Solver(
      new FullyConnectedNet([12, 12], { inputDim: 10, numClasses: 3, random: new RandomState(0) }),
      data,
      options(new RandomState(0), { numEpochs: 1 }),
    );
    assertThrows(() => noBn.restore(checkpoint, path), CheckpointError, "has extra gamma1");
    const other = new Solver(
      net(new RandomState(0)),
      data,
      options(new RandomState(0), { numEpochs: 1, batchSize: 8 }),
    );
    assertThrows(() => other.restore(checkpoint, path), CheckpointError, "its batchSize is 16, this run's is 8");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a loss that blows up stops the run and keeps the last good checkpoint", async () => {
  const dir = await tempDir();
  try {
    const path = `${dir}/c.safetensors`, log = `${dir}/run.ndjson`;
    const random = new RandomState(0);
    // One step per epoch (batch 80 = all of it), sgd with a growing learning rate: a few finite epochs, then overflow.
    const model = new FullyConnectedNet([12], {
      inputDim: 10,
      numClasses: 3,
      weightScale: 0.1,
      random,
      dtype: "float32",
    });
    const err = await assertRejects(
      () =>
        new Solver(model, toyData(4), {
          updateRule: "sgd",
          optimConfig: { learningRate: 1e3 },
          lrDecay: 1e6,
          batchSize: 80,
          numEpochs: 20,
          random,
          modelRandom: null,
          verbose: false,
          checkpoint: path,
          runLog: log,
        }).train(),
      TrainingStoppedError,
    );
    assertStringIncludes(err.message, `at iteration ${err.record.iteration}`);
    assert(err.lastCheckpoint !== null, err.message);
    assertStringIncludes(err.message, `the last good checkpoint (iteration ${err.lastCheckpoint.iteration}`);
    assert(err.lastCheckpoint.iteration >= 1 && err.lastCheckpoint.iteration < err.record.iteration);
    const { snapshot } = await loadCheckpoint(path);
    assertEquals(snapshot.iteration, err.lastCheckpoint.iteration);
    for (const t of Object.values(snapshot.params)) {
      assert(t.data.every(Number.isFinite), "checkpoint params are finite");
    }
    const records = await readRunLog(log);
    const last = records.at(-1)!;
    assert(last.kind === "stopped", `log ends with ${last.kind}`);
    assertEquals(last.iteration, err.record.iteration);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
