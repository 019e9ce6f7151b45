/**
 * Extra accuracy checks (`checkEvery`, `--check-every N`): they draw their
 * subsamples from generators of their own, so a run with them takes the same
 * minibatches, dropout masks and losses as a run without them.
 */

import { assert, assertEquals, assertNotEquals } from "@std/assert";
import { loadSample } from "../datasets/sample.ts";
import { FullyConnectedNet } from "../layers/models/fully_connected_net.ts";
import { RandomState } from "../layers/random.ts";
import type { EpochRecord, TrainRecord } from "../pipeline/store/records.ts";
import { collectRecords } from "../pipeline/store/run_log.ts";
import { Solver, type SolverOptions } from "../pipeline/solver.ts";
import { formatCheckLine } from "../pipeline/progress.ts";
import { followRun } from "../reports/live_client.ts";
import { accuracyRows } from "../reports/run_data.ts";

const data = await loadSample({ numTraining: 200, numValidation: 100 });

/** 2 epochs of 10 steps; dropout and batch norm, so the model draws from the run's generator too. */
async function run(options: SolverOptions = {}, modelOwnGenerator = false) {
  const random = new RandomState(3);
  const modelRandom = modelOwnGenerator ? new RandomState(4) : undefined;
  const model = new FullyConnectedNet([20, 20], {
    inputDim: 3 * 32 * 32,
    numClasses: 10,
    dropout: 0.2,
    normalization: "batchnorm",
    weightScale: 5e-2,
    random: modelRandom ?? random,
  });
  const records: TrainRecord[] = [];
  const solver = new Solver(model, data, {
    updateRule: "adam",
    optimConfig: { learningRate: 1e-3 },
    batchSize: 20,
    numEpochs: 2,
    numTrainSamples: 50,
    random,
    ...(modelRandom ? { modelRandom } : {}),
    verbose: false,
    sinks: [collectRecords(records)],
    ...options,
  });
  const result = await solver.train();
  const checks = records.filter((r): r is EpochRecord => r.kind === "epoch");
  return { result, checks, random: random.getState() };
}

Deno.test("--check-every adds checks every N steps and leaves the loss history bit for bit as without them", async () => {
  const plain = await run();
  const watched = await run({ checkEvery: 3, checkSeed: 3 });
  assertEquals(watched.result.lossHistory, plain.result.lossHistory);
  // The run's own generator ended in the same state: extra checks drew nothing from it.
  assertEquals(Array.from(watched.random.key), Array.from(plain.random.key));
  assertEquals(watched.random.pos, plain.random.pos);
  assertEquals(plain.checks.map((c) => c.iteration), [1, 10, 20]);
  assertEquals(watched.checks.map((c) => c.iteration), [1, 3, 6, 9, 10, 12, 15, 18, 20]);
  // The course's checks measure the same thing as before.
  const course = watched.checks.filter((c) => [1, 10, 20].includes(c.iteration));
  assertEquals(course.map((c) => [c.trainAcc, c.valAcc]), plain.checks.map((c) => [c.trainAcc, c.valAcc]));
  // Extra checks lie inside epochs and are counted as checks (histories, best).
  const extra = watched.checks.filter((c) => ![1, 10, 20].includes(c.iteration));
  assert(extra.every((c) => !c.epochEnd));
  assertEquals(extra.map((c) => c.epoch), [0, 0, 0, 1, 1, 1]);
  assertEquals(watched.result.valAccHistory.length, 9);
  assertEquals(watched.result.bestValAcc, Math.max(...watched.checks.map((c) => c.valAcc)));
});

Deno.test("--check-every leaves the loss history unchanged when sampling runs ahead (the model has its own generator)", async () => {
  const plain = await run({}, true);
  const watched = await run({ checkEvery: 4 }, true);
  assertEquals(watched.result.lossHistory, plain.result.lossHistory);
  assertEquals(watched.checks.map((c) => c.iteration), [1, 4, 8, 10, 12, 16, 20]);
});

Deno.test("extra checks draw the same subsamples for the same seed, other ones for another seed", async () => {
  const a = await run({ checkEvery: 3, checkSeed: 1 });
  const b = await run({ checkEvery: 3, checkSeed: 1 });
  const c = await run({ checkEvery: 3, checkSeed: 2 });
  const trainAccs = (r: typeof a) => r.checks.map((x) => x.trainAcc);
  assertEquals(trainAccs(a), trainAccs(b));
  assertNotEquals(trainAccs(a), trainAccs(c));
});

Deno.test("an extra check's progress line names its iteration", () => {
  assertEquals(formatCheckLine(500, 980, 0.412, 0.398), "(Iteration 500 / 980) train acc: 0.412000; val_acc: 0.398000");
});

Deno.test("an extra check sits at its fraction of an epoch in the accuracy rows", async () => {
  const records: TrainRecord[] = [];
  await run({ checkEvery: 4, sinks: [collectRecords(records)] });
  const epochs = accuracyRows({ label: "r", records }).filter((r) => r.split === "val").map((r) => r.epoch);
  assertEquals(epochs, [0, 0.4, 0.8, 1, 1.2, 1.6, 2]);
});

Deno.test("the live page places an extra check between the epoch ends as the report does", async () => {
  const records: TrainRecord[] = [];
  await run({ checkEvery: 4, sinks: [collectRecords(records)] });
  const inserted: Record<string, unknown>[] = [];
  let source: { onmessage: ((e: { data: string }) => void) | null; done?: () => void } | undefined;
  const timers: (() => void)[] = [];
  followRun({
    config: { runLabel: "r" },
    charts: [{ id: "a", live: "accuracy" }],
    views: {
      a: { change: (_n, rows) => inserted.push(...(rows as Record<string, unknown>[])), resize() {}, runAsync() {} },
    },
    ready: Promise.resolve(),
    status: { hidden: true, textContent: "", setAttribute() {} },
    insert: (rows) => rows,
    connect: () => {
      source = { onmessage: null };
      return {
        get onmessage() {
          return source!.onmessage;
        },
        set onmessage(f) {
          source!.onmessage = f;
        },
        onerror: null,
        addEventListener: (_t: string, f: () => void) => (source!.done = f),
        close() {},
      };
    },
    later: (f) => timers.push(f),
    markDone() {},
  });
  source!.onmessage!({ data: JSON.stringify(records) });
  while (timers.length) timers.shift()!();
  await new Promise((r) => setTimeout(r, 0));
  const live = inserted.filter((r) => r.split === "validation").map((r) => r.epoch);
  const report = accuracyRows({ label: "r", records }).filter((r) => r.split === "val").map((r) => r.epoch);
  assertEquals(live, report);
});
