import { assert, assertAlmostEquals, assertEquals, assertLessOrEqual, assertThrows } from "@std/assert";
import type { TrainRecord } from "../pipeline/store/records.ts";
import {
  accuracyRows,
  checkLabels,
  defaultSmoothingSpan,
  lossRows,
  lossStride,
  meanFinalLoss,
  runSeries,
  summarizeRun,
} from "../reports/run_data.ts";
import { formatDuration, formatPercent } from "../reports/format.ts";
import { runHighlights, summaryTable } from "../reports/run_report.ts";
import { readRunFixture } from "./helpers.ts";

/** A synthetic log of `n` steps with loss `f(t)`, checks every `perEpoch` steps. */
function syntheticLog(n: number, f: (t: number) => number, perEpoch = n): TrainRecord[] {
  const records: TrainRecord[] = [{
    kind: "start",
    version: 1,
    time: "2025-01-01T00:00:00Z",
    resumed: false,
    startIteration: 0,
    updateRule: "sgd",
    optimConfig: { learningRate: 0.1 },
    lrDecay: 1,
    batchSize: 10,
    numEpochs: Math.ceil(n / perEpoch),
    numTrain: 100,
    numVal: 10,
    iterationsPerEpoch: perEpoch,
    numIterations: n,
    sampling: "shuffle",
    numTrainSamples: null,
    numValSamples: null,
    params: {},
    run: {},
  }];
  for (let t = 1; t <= n; t++) {
    records.push({ kind: "iteration", iteration: t, epoch: Math.floor((t - 1) / perEpoch), loss: f(t), elapsedMs: t });
  }
  return records;
}

Deno.test("runSeries sorts records by kind and keeps the later record of a repeated step", () => {
  const log = syntheticLog(3, (t) => t);
  log.push({ kind: "iteration", iteration: 2, epoch: 0, loss: 20, elapsedMs: 2 });
  const s = runSeries(log);
  assertEquals(s.iterations.map((r) => r.loss), [1, 20, 3]);
  assertEquals(s.starts.length, 1);
  assertEquals(s.end, undefined);
});

Deno.test("summarizeRun reads a finished run's final and best accuracies, loss and time", async () => {
  const records = await readRunFixture("baseline");
  const s = summarizeRun({ label: "b", records });
  const end = records.at(-1) as Extract<TrainRecord, { kind: "end" }>;
  const checks = records.filter((r) => r.kind === "epoch") as Extract<TrainRecord, { kind: "epoch" }>[];
  assertEquals(s.status, "finished");
  assertEquals(s.iterations, 120);
  assertEquals(s.epochs, 4);
  assertEquals(s.finalValAcc, end.finalValAcc);
  assertEquals(s.bestValAcc, Math.max(...checks.map((c) => c.valAcc)));
  assertEquals(s.bestValAcc, end.bestValAcc);
  assertEquals(s.bestTrainAcc, Math.max(...checks.map((c) => c.trainAcc)));
  assertEquals(s.finalLoss, (records.findLast((r) => r.kind === "iteration") as { loss: number }).loss);
  assertEquals(s.trainingMs, end.elapsedMs);
  assertEquals(s.dataset, "cifar10-sample & <friends> (1,000 train / 200 val)");
});

Deno.test("summarizeRun marks a run whose loss became NaN as stopped, with its message", async () => {
  const s = summarizeRun({ label: "s", records: await readRunFixture("stopped") });
  assertEquals(s.status, "stopped");
  assertEquals(s.iterations, 46);
  assertEquals(s.numIterations, 120);
  assert(s.stoppedMessage?.includes("NaN"));
});

Deno.test("summarizeRun counts a resumed run once: two start records, steps not repeated", async () => {
  const records = await readRunFixture("resumed");
  const series = runSeries(records);
  assertEquals(series.starts.length, 2);
  assertEquals(series.iterations.length, 50);
  assertEquals(summarizeRun({ label: "r", records }).status, "finished");
});

Deno.test("summarizeRun of a run with no records yet is running at step 0", () => {
  const s = summarizeRun({ label: "new", records: [] });
  assertEquals(s.status, "running");
  assertEquals(s.iterations, 0);
  assertEquals(s.bestValAcc, undefined);
});

Deno.test("lossStride keeps at most maxPoints steps for every run length", () => {
  for (const maxPoints of [3, 10, 1000, 2000]) {
    for (const n of [1, 2, 3, 9, 10, 11, 999, 1000, 1001, 1999, 2000, 2001, 4900, 20_000, 123_457]) {
      const stride = lossStride(n, maxPoints);
      let kept = 0;
      for (let i = 1; i <= n; i++) if ((i - 1) % stride === 0 || i === n) kept++;
      assertLessOrEqual(kept, maxPoints, `n=${n} maxPoints=${maxPoints}`);
      if (n <= maxPoints) assertEquals(stride, 1);
    }
  }
  assertThrows(() => lossStride(10, 2), RangeError, "maxPoints 2");
});

Deno.test("lossRows of a long run keeps ≤ maxPoints rows with the first and the last step, deterministically", () => {
  const records = syntheticLog(20_000, (t) => 2 / Math.sqrt(t) + 0.1 * Math.sin(t));
  const rows = lossRows({ label: "long", records }, { maxPoints: 1000 });
  assertLessOrEqual(rows.length, 1000);
  assertEquals(rows[0].iteration, 1);
  assertEquals(rows.at(-1)!.iteration, 20_000);
  assertEquals(lossRows({ label: "long", records }, { maxPoints: 1000 }), rows);
});

Deno.test("lossRows' smoothed loss is the bias-corrected moving average over every step", () => {
  const losses = [2.3, 2.1, 2.2, 1.9, 1.7, 1.8, 1.5];
  const span = 3;
  const rows = lossRows({ label: "x", records: syntheticLog(losses.length, (t) => losses[t - 1]) }, {
    smoothingSpan: span,
  });
  const beta = 1 - 2 / (span + 1);
  let s = 0;
  for (let t = 1; t <= losses.length; t++) {
    s = beta * s + (1 - beta) * losses[t - 1];
    assertAlmostEquals(rows[t - 1].smoothed, s / (1 - beta ** t), 1e-12);
    assertEquals(rows[t - 1].loss, losses[t - 1]);
  }
  // A constant loss smooths to itself from the first step on (no pull towards 0).
  for (const r of lossRows({ label: "c", records: syntheticLog(50, () => 1.25) })) {
    assertAlmostEquals(r.smoothed, 1.25, 1e-12);
  }
});

Deno.test("lossRows skips non-finite losses (null in JSON) instead of plotting them", () => {
  const records = syntheticLog(4, (t) => (t === 3 ? (null as unknown as number) : t));
  assertEquals(lossRows({ label: "x", records }).map((r) => r.iteration), [1, 2, 4]);
});

Deno.test("meanFinalLoss is the mean of the last n finite step losses, 100 by default (mean(loss_history[-100:]))", () => {
  const records = syntheticLog(150, (t) => t);
  assertEquals(meanFinalLoss(records), (51 + 150) / 2);
  assertEquals(meanFinalLoss(records, 1), 150);
  assertEquals(meanFinalLoss(syntheticLog(10, (t) => t)), 5.5, "fewer steps than n: all of them");
  const blownUp = syntheticLog(4, (t) => (t === 3 ? (null as unknown as number) : t));
  assertEquals(meanFinalLoss(blownUp, 2), 3, "the non-finite step 3 is left out: mean of steps 2 and 4");
  assertEquals(meanFinalLoss([]), null);
  assertThrows(() => meanFinalLoss(records, 0), RangeError, "meanFinalLoss: n 0 must be a positive integer");
});

Deno.test("defaultSmoothingSpan grows as √N between 1 and 100", () => {
  assertEquals(defaultSmoothingSpan(0), 1);
  assertEquals(defaultSmoothingSpan(100), 10);
  assertEquals(defaultSmoothingSpan(4900), 70);
  assertEquals(defaultSmoothingSpan(1e6), 100);
});

Deno.test("accuracyRows gives a training and a validation row per check", async () => {
  const records = await readRunFixture("baseline");
  const rows = accuracyRows({ label: "b", records });
  const checks = records.filter((r) => r.kind === "epoch");
  assertEquals(rows.length, 2 * checks.length);
  assertEquals(rows.slice(0, 2).map((r) => r.split), ["train", "val"]);
  assertEquals(rows.map((r) => r.epoch).slice(0, 4), [0, 0, 1, 1]);
});

Deno.test("checkLabels refuses a repeated or empty run label", () => {
  checkLabels("t", ["a", "b"]);
  assertThrows(() => checkLabels("t", ["a", "a"]), RangeError, `t: run label "a" appears twice`);
  assertThrows(() => checkLabels("t", [""]), TypeError, "not a non-empty string");
});

Deno.test("summaryTable has one row per run, bolds the best validation accuracy and shows partial runs as n / N", async () => {
  const runs = [
    { label: "baseline", records: await readRunFixture("baseline") },
    { label: "batchnorm", records: await readRunFixture("batchnorm") },
    { label: "stopped", records: await readRunFixture("stopped") },
  ];
  const table = summaryTable(runs);
  assertEquals(table.rows.length, 3);
  assert(table.rows.every((r) => r.length === table.columns.length));
  const bestCol = table.columns.findIndex((c) => typeof c !== "string" && c.label === "Best val acc");
  assertEquals(table.rows[1][bestCol], { text: "45.00 %", numeric: true, tone: "strong" });
  assertEquals(table.rows[0][bestCol], { text: "36.30 %", numeric: true });
  assertEquals(table.rows[2][2], { text: "46 / 120", numeric: true });
  // One shared dataset: a headline number, not a column.
  assert(!table.columns.includes("Dataset"));
  const highlights = runHighlights(runs);
  assertEquals(highlights.find((h) => h.label === "Dataset")?.value, "cifar10-sample & <friends>");
  assertEquals(highlights[0], { label: "Best validation accuracy", value: "45.00 %", note: "batchnorm" });
});

Deno.test("formatPercent and formatDuration read as a person would write them", () => {
  assertEquals(formatPercent(0.5234), "52.34 %");
  assertEquals(formatPercent(NaN), undefined);
  assertEquals(formatDuration(850), "850 ms");
  assertEquals(formatDuration(12_345), "12.3 s");
  assertEquals(formatDuration(245_000), "4 min 05 s");
  assertEquals(formatDuration(7_380_000), "2 h 03 min");
});
