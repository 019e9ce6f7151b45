/**
 * The worker pool: tasks run on Web Workers, records come back merged and
 * labelled, results in task order, the same records whatever the number of
 * workers, and a failing task fails the batch with an error naming it.
 */

import { assert, assertEquals, assertRejects, assertStringIncludes, assertThrows } from "@std/assert";
import { withoutTiming } from "../pipeline/commands/experiments/common.ts";
import type { LabelledRecord, Task, TrainTask } from "../pipeline/commands/experiments/tasks.ts";
import { runTasks, TaskFailedError } from "../pipeline/commands/worker_pool.ts";

/** A tiny training run on the embedded sample (a few steps, a few checks). */
function tinyRun(label: string, options: { dropout?: number; seed?: number; spec?: string } = {}): TrainTask {
  return {
    kind: "train",
    label,
    data: { spec: options.spec ?? "sample", numTrain: 40, numVal: 20, dtype: "float32" },
    model: {
      kind: "fc",
      hiddenDims: [20],
      normalization: null,
      dropout: options.dropout ?? 0,
      weightScale: 1e-2,
      reg: 0,
    },
    solver: { updateRule: "adam", learningRate: 1e-3, batchSize: 20, numEpochs: 2, numTrainSamples: 40 },
    seed: options.seed ?? 0,
  };
}

const TASKS: Task[] = [
  tinyRun("a"),
  tinyRun("b", { dropout: 0.5 }),
  { kind: "gradcheck", label: "affine check", check: "affine" },
  tinyRun("c", { seed: 7 }),
];

async function collect(stream: ReadableStream<LabelledRecord>): Promise<Map<string, unknown[]>> {
  const byLabel = new Map<string, unknown[]>();
  for await (const { label, record } of stream) {
    if (!byLabel.has(label)) byLabel.set(label, []);
    byLabel.get(label)!.push(withoutTiming(record));
  }
  return byLabel;
}

Deno.test("runTasks returns results in task order and every run's records, in order, under its label", async () => {
  const batch = runTasks(TASKS, { workers: 2 });
  assertEquals(batch.workers, 2);
  const records = await collect(batch.records);
  const results = await batch.results;
  assertEquals(results.map((r) => r.label), ["a", "b", "affine check", "c"]);
  assertEquals([...records.keys()].sort(), ["a", "b", "c"]);
  for (const label of ["a", "b", "c"]) {
    const kinds = records.get(label)!.map((r) => (r as { kind: string }).kind);
    // 2 epochs of 2 steps: start, 4 iterations, checks after step 1, 2 and 4, end.
    assertEquals(kinds, [
      "start",
      "iteration",
      "epoch",
      "iteration",
      "epoch",
      "iteration",
      "iteration",
      "epoch",
      "end",
    ]);
    assertEquals((records.get(label)![0] as { run: { label: string } }).run.label, label);
  }
  const check = results[2].gradCheck!;
  assertEquals(check.rows.map((r) => r.gradient), ["dx", "dw", "db"]);
  assert(check.rows.every((r) => r.pass), "affine gradients within bounds");
  assert(results.every((r) => r.wallMs >= 0));
});

Deno.test("runTasks gives the same records with 1 and 3 workers (timing fields aside)", async () => {
  const one = runTasks(TASKS, { workers: 1 });
  const three = runTasks(TASKS, { workers: 3 });
  const [a, b] = await Promise.all([collect(one.records), collect(three.records)]);
  await Promise.all([one.results, three.results]);
  assertEquals(one.workers, 1);
  assertEquals(three.workers, 3);
  for (const label of ["a", "b", "c"]) assertEquals(a.get(label), b.get(label), label);
});

Deno.test("a task that throws fails the batch with a TaskFailedError naming its run, and the record stream errors", async () => {
  const batch = runTasks([tinyRun("good"), tinyRun("broken run", { spec: "cifar10:/nonexistent-gradstream-dir" })], {
    workers: 2,
  });
  const error = await assertRejects(() => batch.results, TaskFailedError);
  assertEquals(error.label, "broken run");
  assertStringIncludes(error.message, 'run "broken run" failed');
  assertStringIncludes(error.message, "/nonexistent-gradstream-dir");
  await assertRejects(() => collect(batch.records), TaskFailedError);
});

Deno.test("an unknown gradient check fails with the known names", async () => {
  const batch = runTasks([{ kind: "gradcheck", label: "nope", check: "no-such-check" }], { workers: 1 });
  const error = await assertRejects(() => batch.results, TaskFailedError);
  assertStringIncludes(error.message, 'unknown check "no-such-check"');
  assertStringIncludes(error.message, "affine");
});

Deno.test("aborting stops every worker and rejects the batch", async () => {
  const controller = new AbortController();
  const batch = runTasks([tinyRun("x"), tinyRun("y")], { workers: 2, signal: controller.signal });
  controller.abort("test");
  await assertRejects(() => batch.results, Error, "aborted");
  await assertRejects(() => collect(batch.records));
});

Deno.test("runTasks with no tasks finishes at once; duplicate labels and bad worker counts are refused", async () => {
  const empty = runTasks([]);
  assertEquals(await empty.results, []);
  assertEquals((await collect(empty.records)).size, 0);
  assertThrows(() => runTasks([tinyRun("same"), tinyRun("same")]), RangeError, 'label "same" appears twice');
  assertThrows(() => runTasks([tinyRun("a")], { workers: 0 }), RangeError, "workers 0 is not a positive integer");
});

Deno.test("with a cost, runTasks hands out the largest tasks first and still returns results in task order", async () => {
  const started: string[] = [];
  const tasks = [tinyRun("small"), tinyRun("large"), tinyRun("medium")];
  const size: Record<string, number> = { small: 1, large: 3, medium: 2 };
  const batch = runTasks(tasks, { workers: 1, cost: (t) => size[t.label], onStart: (t) => started.push(t.label) });
  await collect(batch.records);
  assertEquals((await batch.results).map((r) => r.label), ["small", "large", "medium"]);
  assertEquals(started, ["large", "medium", "small"]);
});

Deno.test("runTasks starts no more workers than tasks", async () => {
  const batch = runTasks([tinyRun("only")], { workers: 8 });
  assertEquals(batch.workers, 1);
  await collect(batch.records);
  assertEquals((await batch.results).length, 1);
});
