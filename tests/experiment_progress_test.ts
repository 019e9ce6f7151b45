/**
 * The progress lines of `deno task experiment` (pipeline/commands/experiment_progress.ts):
 * the heartbeat names each running run's iteration, last loss and latest accuracy.
 */

import { assertEquals } from "@std/assert";
import { ExperimentProgress } from "../pipeline/commands/experiment_progress.ts";
import type { TrainRecord } from "../pipeline/store/records.ts";

const start = (numIterations: number, startIteration = 0) =>
  ({ kind: "start", numIterations, startIteration }) as unknown as TrainRecord;
const iteration = (i: number, loss: number) =>
  ({ kind: "iteration", iteration: i, epoch: 0, loss, elapsedMs: 0 }) as TrainRecord;
const check = (i: number, trainAcc: number, valAcc: number) =>
  ({ kind: "epoch", iteration: i, epoch: 1, trainAcc, valAcc }) as unknown as TrainRecord;

Deno.test("the heartbeat names each running run's iteration, last loss and latest accuracies", () => {
  let now = 0;
  const lines: string[] = [];
  const tasks = [{ label: "lr 1e-3" }, { label: "lr 1e-4" }, { label: "lr 1e-5" }];
  const p = new ExperimentProgress(tasks, (l) => lines.push(l), { heartbeatMs: 60_000, now: () => now });
  try {
    p.started(tasks[0]);
    p.started(tasks[1]);
    p.record("lr 1e-3", start(980));
    p.record("lr 1e-3", iteration(340, 1.73421));
    p.record("lr 1e-3", check(340, 0.441, 0.412));
    p.record("lr 1e-4", start(980, 490));
    now = 62_000;
    p.heartbeat();
    assertEquals(lines, [
      "… 0/3 done, 2 running, 28 % of the work, 1 min 02 s elapsed, about 2 min 37 s left",
      "    lr 1e-3: iteration 340/980 · loss 1.7342 · val acc 41.20 % (train 44.10 %)",
      "    lr 1e-4: iteration 490/980",
    ]);
    lines.length = 0;
    p.finished(tasks[0], { note: "best val 41.2 %", wallMs: 61_000 });
    assertEquals(lines, [
      "[1/3] lr 1e-3: best val 41.2 % (1 min 01 s) · 1/3 done, 1 running, 50 % of the work, 1 min 02 s elapsed, about 1 min 02 s left",
    ]);
    assertEquals(p.runningLines(), ["lr 1e-4: iteration 490/980"]);
  } finally {
    p.stop();
  }
});

Deno.test("a run handed to a worker but not yet started says so", () => {
  const tasks = [{ label: "a" }];
  const p = new ExperimentProgress(tasks, () => {});
  try {
    p.started(tasks[0]);
    assertEquals(p.runningLines(), ["a: starting"]);
  } finally {
    p.stop();
  }
});
