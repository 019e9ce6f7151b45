/**
 * The small pieces of the pipeline: the @std/streams stand-in, fan-out,
 * the step gate, the progress bar and course lines, the run log, and
 * check_accuracy.
 */

import { assert, assertEquals, assertRejects, assertStringIncludes, assertThrows } from "@std/assert";
import type { Labels, LossAndGrads, Model } from "../layers/models/model.ts";
import { RandomState } from "../layers/random.ts";
import { array, type Tensor } from "../layers/tensor.ts";
import { checkAccuracy, takeRows } from "../pipeline/check_accuracy.ts";
import { fanOut } from "../pipeline/fan_out.ts";
import type { TrainEvent } from "../pipeline/messages.ts";
import { formatEpochLine, formatFixed, formatIterationLine, progressSink } from "../pipeline/progress.ts";
import { ProgressBar } from "@std/cli/unstable-progress-bar";
import type { StartRecord, TrainRecord } from "../pipeline/store/records.ts";
import { parseRunLog, prepareRunLog, readRunLog, runLogSink } from "../pipeline/store/run_log.ts";
import { courseSchedule, isAccuracyCheck, isEpochEnd } from "../pipeline/schedule.ts";
import { GateClosedError, StepGate } from "../pipeline/step_gate.ts";
import { mergeReadableStreams, TextLineStream } from "@std/streams";

/** What the progress bar starts each redraw with: carriage return and ANSI "erase to end of line". */
const LINE_CLEAR = "\r\u001b[K";

Deno.test("mergeReadableStreams yields every chunk of every input and closes after the last", async () => {
  const merged = mergeReadableStreams(
    ReadableStream.from([1, 2, 3]),
    ReadableStream.from<number>([]),
    ReadableStream.from([10, 20]),
  );
  assertEquals((await Array.fromAsync(merged)).sort((a, b) => a - b), [1, 2, 3, 10, 20]);
  assertEquals(await Array.fromAsync(mergeReadableStreams<number>()), []);
});

Deno.test("mergeReadableStreams keeps each input's order and reads inputs only on demand", async () => {
  let pulled = 0;
  const counting = (tag: string) =>
    new ReadableStream<string>({
      pull(c) {
        pulled++;
        c.enqueue(`${tag}${pulled}`);
      },
    }, { highWaterMark: 0 });
  const merged = mergeReadableStreams(counting("a"), counting("b"));
  const reader = merged.getReader();
  await reader.read();
  await new Promise((r) => setTimeout(r, 20));
  // Infinite inputs: without backpressure the pumps would never stop pulling.
  assert(pulled <= 4, `pulled ${pulled} chunks for one read`);
  await reader.cancel();

  const ordered = mergeReadableStreams(ReadableStream.from(["a1", "a2", "a3"]), ReadableStream.from(["b1", "b2"]));
  const out = await Array.fromAsync(ordered);
  assertEquals(out.filter((s) => s[0] === "a"), ["a1", "a2", "a3"]);
  assertEquals(out.filter((s) => s[0] === "b"), ["b1", "b2"]);
});

Deno.test("mergeReadableStreams errors when one input errors", async () => {
  const bad = new ReadableStream<number>({
    pull(c) {
      c.error(new Error("boom"));
    },
  });
  await assertRejects(() => Array.fromAsync(mergeReadableStreams(ReadableStream.from([1]), bad)), Error, "boom");
});

Deno.test("TextLineStream splits on \\n and \\r\\n across chunk boundaries", async () => {
  const lines = ReadableStream.from(["a\nb", "c\r", "\nd\n\ne"]).pipeThrough(new TextLineStream());
  assertEquals(await Array.fromAsync(lines), ["a", "bc", "d", "", "e"]);
  const cr = ReadableStream.from(["x\ry\r", "z"]).pipeThrough(new TextLineStream({ allowCR: true }));
  assertEquals(await Array.fromAsync(cr), ["x", "y", "z"]);
});

Deno.test("fanOut feeds every sink in order and waits for the slowest", async () => {
  const fast: number[] = [], slow: number[] = [];
  let inFlight = 0, maxInFlight = 0;
  const slowSink = new WritableStream<number>({
    async write(x) {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await new Promise((r) => setTimeout(r, 2));
      slow.push(x);
      inFlight--;
    },
  });
  await ReadableStream.from([1, 2, 3, 4]).pipeTo(
    fanOut(new WritableStream({ write: (x) => void fast.push(x) }), slowSink),
  );
  assertEquals(fast, [1, 2, 3, 4]);
  assertEquals(slow, [1, 2, 3, 4]);
  assertEquals(maxInFlight, 1);
  const failing = new WritableStream({
    write() {
      throw new Error("disk full");
    },
  });
  await assertRejects(() => ReadableStream.from([1]).pipeTo(fanOut(failing)), Error, "disk full");
});

Deno.test("StepGate releases step t only after step t − 1 finished, and rejects waiters when closed", async () => {
  const gate = new StepGate();
  const order: string[] = [];
  const w2 = gate.ready(2).then(() => order.push("2"));
  const w1 = gate.ready(1).then(() => order.push("1"));
  await gate.ready(0);
  gate.finish(0);
  await w1;
  assertEquals(order, ["1"]);
  gate.finish(1);
  await w2;
  assertEquals(order, ["1", "2"]);
  assertThrows(() => gate.finish(5), Error, "out of order");
  const pending = gate.ready(10);
  gate.close("stopped");
  await assertRejects(() => pending, GateClosedError);
  await assertRejects(() => gate.ready(3), GateClosedError);
  assertEquals(new StepGate(7).finished, 6);
});

Deno.test("course schedule: epoch ends and accuracy checks as cs231n's Solver.train", () => {
  const s = courseSchedule({ numTrain: 1000, batchSize: 50, numEpochs: 10 });
  assertEquals([s.iterationsPerEpoch, s.numIterations], [20, 200]);
  const checks = [...Array(s.numIterations).keys()].filter((t) => isAccuracyCheck(s, t));
  assertEquals(checks, [0, 19, 39, 59, 79, 99, 119, 139, 159, 179, 199]);
  assert(!isEpochEnd(s, 0) && isEpochEnd(s, 19));
  // numTrain < batchSize: one step per epoch.
  assertEquals(courseSchedule({ numTrain: 30, batchSize: 50, numEpochs: 3 }).numIterations, 3);
  assertThrows(() => courseSchedule({ numTrain: 10, batchSize: 0, numEpochs: 1 }), RangeError, "batchSize 0");
});

Deno.test("formatFixed prints as Python's %f, ties to even included", () => {
  assertEquals(formatFixed(2.302585092994046), "2.302585");
  assertEquals(formatFixed(0.119), "0.119000");
  assertEquals(formatFixed(0.0078125), "0.007812"); // toFixed would give 0.007813
  assertEquals(formatFixed(0.0234375), "0.023438");
  assertEquals(formatFixed(2.5, 0), "2");
  assertEquals(formatFixed(3.5, 0), "4");
  assertEquals(formatFixed(NaN), "nan");
  assertEquals(formatFixed(-Infinity), "-inf");
  assertEquals(formatIterationLine(1, 200, 2.3025850929940455), "(Iteration 1 / 200) loss: 2.302585");
  assertEquals(formatEpochLine(0, 10, 0.119, 0.104), "(Epoch 0 / 10) train acc: 0.119000; val_acc: 0.104000");
});

function textSink(): { writable: WritableStream<Uint8Array>; text: () => string } {
  const chunks: string[] = [];
  const decoder = new TextDecoder();
  return {
    writable: new WritableStream({ write: (c) => void chunks.push(decoder.decode(c)) }),
    text: () => chunks.join(""),
  };
}

const start: StartRecord = {
  kind: "start",
  version: 1,
  time: "",
  resumed: false,
  startIteration: 0,
  updateRule: "adam",
  optimConfig: {},
  lrDecay: 1,
  batchSize: 50,
  numEpochs: 2,
  numTrain: 100,
  numVal: 10,
  iterationsPerEpoch: 2,
  numIterations: 4,
  sampling: "replacement",
  numTrainSamples: 1000,
  numValSamples: null,
  params: {},
  run: {},
};

const events: TrainRecord[] = [
  start,
  { kind: "iteration", iteration: 1, epoch: 0, loss: 2.3025850929940455, elapsedMs: 1 },
  {
    kind: "epoch",
    epoch: 0,
    iteration: 1,
    epochEnd: false,
    trainAcc: 0.119,
    valAcc: 0.104,
    bestValAcc: 0.104,
    isBest: true,
    learningRate: 1e-3,
    elapsedMs: 2,
    examplesPerSec: 100,
  },
  { kind: "iteration", iteration: 2, epoch: 0, loss: 2.2, elapsedMs: 3 },
  { kind: "iteration", iteration: 3, epoch: 1, loss: 2.1, elapsedMs: 4 },
  { kind: "iteration", iteration: 4, epoch: 1, loss: 2.0, elapsedMs: 5 },
  {
    kind: "end",
    iteration: 4,
    epoch: 2,
    bestValAcc: 0.2,
    finalTrainAcc: 0.3,
    finalValAcc: 0.2,
    elapsedMs: 6,
    wallMs: 6,
    examplesPerSec: 1000,
  },
];

Deno.test("progress sink prints the course's lines when not a terminal", async () => {
  const out = textSink();
  await ReadableStream.from(events.map((record): TrainEvent => ({ record }))).pipeTo(
    progressSink({ writable: out.writable, terminal: false, printEvery: 2 }),
  );
  assertEquals(out.text().split("\n").slice(0, 4), [
    "(Iteration 1 / 4) loss: 2.302585",
    "(Epoch 0 / 2) train acc: 0.119000; val_acc: 0.104000",
    "(Iteration 3 / 4) loss: 2.100000",
    "(Done) best val_acc: 0.200000; 1000 examples/s; 0.0 s",
  ]);
});

Deno.test("progress sink draws one updating line with iteration, epoch, loss, speed and time left on a terminal", async () => {
  const out = textSink();
  await ReadableStream.from(events.map((record): TrainEvent => ({ record }))).pipeTo(
    progressSink({ writable: out.writable, terminal: true, interval: 5 }),
  );
  const text = out.text();
  assertStringIncludes(text, LINE_CLEAR);
  assertStringIncludes(text, "(Epoch 0 / 2) train acc: 0.119000; val_acc: 0.104000\n");
  const bars = text.split(LINE_CLEAR).filter((s) => s.includes("iteration"));
  assert(bars.length >= 2, text);
  const last = bars.at(-1)!;
  assert(/iteration 4\/4 · epoch 1\/2 · loss 2\.0000 · \d+ ex\/s · \d\d:\d\d left/.test(last), last);
  assert(!text.includes("(Iteration"), "no per-iteration lines on a terminal");
});

Deno.test("ProgressBar stand-in: value, max, formatter fields and a final line on stop", async () => {
  const out = textSink();
  const seen: number[] = [];
  const bar = new ProgressBar({
    writable: out.writable,
    max: 10,
    barLength: 10,
    formatter: (x) => {
      seen.push(x.value);
      return `[${x.styledTime}] [${x.progressBar}] ${x.value}/${x.max}`;
    },
  });
  bar.value = 4;
  await bar.stop();
  const text = out.text();
  assert(text.endsWith(`${LINE_CLEAR}[00:00] [####------] 4/10\n`), JSON.stringify(text));
  assertEquals(seen, [0, 4]);
  const cleared = textSink();
  const b2 = new ProgressBar({ writable: cleared.writable, max: 1, clear: true });
  await b2.stop();
  assert(cleared.text().endsWith(LINE_CLEAR));
});

Deno.test("run log: appended per check, truncated to the checkpoint on resume, tolerant of a cut last line", async () => {
  const dir = await Deno.makeTempDir({ prefix: "gradstream_log_" });
  try {
    const path = `${dir}/run.ndjson`;
    await prepareRunLog(path);
    const sink = runLogSink(path);
    const w = sink.getWriter();
    await w.write({ record: events[0] });
    await w.write({ record: events[1] });
    assertEquals(await Deno.readTextFile(path), "", "iteration records wait for the next check");
    await w.write({ record: events[2] });
    assertEquals((await readRunLog(path)).length, 3);
    for (const r of events.slice(3)) await w.write({ record: r });
    await w.close();
    assertEquals(await readRunLog(path), events);

    // Resume at step 3: keep start and records up to iteration 3, drop the end record.
    await prepareRunLog(path, 3);
    assertEquals((await readRunLog(path)).map((r) => r.kind), [
      "start",
      "iteration",
      "epoch",
      "iteration",
      "iteration",
    ]);

    const text = events.map((r) => JSON.stringify(r)).join("\n") + '\n{"kind":"itera';
    assertEquals(parseRunLog(text).length, events.length);
    assertThrows(() => parseRunLog("{}\n" + text, "x.ndjson"), Error, "x.ndjson line 1");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** Scores = x itself: the prediction of row i is its argmax. */
const identityModel: Model = {
  params: {},
  loss(X: Tensor, y?: Labels): Tensor & LossAndGrads {
    if (y !== undefined) throw new Error("test mode only");
    return X as Tensor & LossAndGrads;
  },
  state: () => ({}),
  loadState: () => {},
};

Deno.test("checkAccuracy counts argmax hits in batches, on a choice() subsample when N > numSamples", () => {
  const x = array([[1, 0], [0, 1], [1, 0], [0, 1], [1, 0]]);
  const y = new Int32Array([0, 1, 1, 1, 0]);
  assertEquals(checkAccuracy(identityModel, x, y, { batchSize: 2 }), 4 / 5);
  const rs = new RandomState(0);
  const idx = new RandomState(0).choice(5, 3);
  const expected = [...idx].filter((i) => (x.data[i * 2] > x.data[i * 2 + 1] ? 0 : 1) === y[i]).length / 3;
  assertEquals(checkAccuracy(identityModel, x, y, { numSamples: 3, random: rs, batchSize: 2 }), expected);
  assertEquals(
    rs.getState(),
    (() => {
      const r = new RandomState(0);
      r.choice(5, 3);
      return r.getState();
    })(),
  );
  // N ≤ numSamples: all examples, nothing drawn.
  const untouched = new RandomState(1);
  checkAccuracy(identityModel, x, y, { numSamples: 5, random: untouched });
  assertEquals(untouched.getState(), new RandomState(1).getState());
  assertEquals(takeRows(x, new Int32Array([4, 1])).data, new Float64Array([1, 0, 0, 1]));
});
