/**
 * `--resume` after a real crash: the `train` CLI runs in a child process,
 * is killed with SIGKILL once its first checkpoint exists (mid-epoch, at a
 * moment that varies), and the resumed run must end with exactly the
 * parameters, histories and run log of an uninterrupted run.
 */

import { assert, assertEquals } from "@std/assert";
import type { Tensor } from "../layers/tensor.ts";
import { type Checkpoint, loadCheckpoint } from "../pipeline/store/checkpoint.ts";
import type { TrainRecord } from "../pipeline/store/records.ts";
import { readRunLog } from "../pipeline/store/run_log.ts";
import { finished, trainChild } from "./_train_child.ts";

// Dropout and batch norm: the shared generator and the running statistics must both be restored.
const FLAGS = [
  ...["--hidden-dims", "30", "--dropout", "0.2", "--num-train", "200", "--num-val", "200", "--batch-size", "20"],
  ...[
    "--epochs",
    "30",
    "--update-rule",
    "adam",
    "--learning-rate",
    "2e-3",
    "--gemm",
    "ts",
    "--quiet",
    "--run-name",
    "r",
  ],
];

/** A training process of this test's run: FLAGS, then `--out out` and `extra`. */
const child = (out: string, extra: string[] = []) => trainChild(FLAGS, out, extra);

function bits(t: Tensor): Uint8Array {
  return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

function assertSameTensors(a: Record<string, Tensor>, b: Record<string, Tensor>, what: string): void {
  assertEquals(Object.keys(a).sort(), Object.keys(b).sort(), what);
  for (const k of Object.keys(a)) {
    const x = bits(a[k]), y = bits(b[k]);
    // Report the first differing byte (a structural diff of megabytes would take forever).
    const i = x.findIndex((v, j) => v !== y[j]);
    assert(x.length === y.length && i === -1, `${what}: ${k} differs (at byte ${i}: ${a[k].data[i >> 2]} …)`);
  }
}

/** Records without wall-clock fields, which legitimately differ between runs. */
function timeless(records: TrainRecord[]): unknown[] {
  return records
    .filter((r) => r.kind !== "start")
    .map((r) => {
      const { elapsedMs: _e, examplesPerSec: _x, wallMs: _w, ...rest } = r as unknown as Record<string, unknown>;
      return rest;
    });
}

Deno.test({
  name: "a run killed with SIGKILL after its first checkpoint resumes to exactly the uninterrupted run's result",
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "gradstream_resume_" });
    try {
      const fullRun = child(`${dir}/full`);
      const killedDir = `${dir}/killed`;
      const victim = child(killedDir);
      const ckpt = `${killedDir}/r/checkpoint.safetensors`;
      // Wait for the first checkpoint, then let the run go on for a varying moment before the kill.
      let first: Checkpoint | null = null;
      for (let i = 0; i < 3000 && first === null; i++) {
        await new Promise((r) => setTimeout(r, 10));
        first = await loadCheckpoint(ckpt).catch(() => null);
      }
      assert(first !== null, "no checkpoint appeared");
      await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 60)));
      victim.kill("SIGKILL");
      const killed = await finished(victim);
      assertEquals(killed.signal, "SIGKILL", `the child ended before the kill: ${killed.stderr}`);
      const atKill = await loadCheckpoint(ckpt);
      assert(atKill.snapshot.epoch < 30, "killed before the end");
      const logAtKill = await readRunLog(`${killedDir}/r/run.ndjson`);
      assert(!logAtKill.some((r) => r.kind === "end"));

      const resumed = await finished(child(killedDir, ["--resume"]));
      assertEquals(resumed.code, 0, resumed.stderr);
      const full = await finished(fullRun);
      assertEquals(full.code, 0, full.stderr);

      const a = await loadCheckpoint(`${dir}/full/r/checkpoint.safetensors`);
      const b = await loadCheckpoint(ckpt);
      assertEquals(b.snapshot.iteration, 300);
      assertSameTensors(b.snapshot.params, a.snapshot.params, "last-step params");
      assertSameTensors(b.snapshot.bestParams, a.snapshot.bestParams, "best (final) params");
      assertSameTensors(b.snapshot.modelState, a.snapshot.modelState, "batchnorm running stats");
      assertEquals(b.snapshot.lossHistory, a.snapshot.lossHistory);
      assertEquals(b.snapshot.trainAccHistory, a.snapshot.trainAccHistory);
      assertEquals(b.snapshot.valAccHistory, a.snapshot.valAccHistory);
      assertEquals([b.snapshot.random.pos, b.snapshot.random.hasGauss, b.snapshot.random.gauss], [
        a.snapshot.random.pos,
        a.snapshot.random.hasGauss,
        a.snapshot.random.gauss,
      ]);
      assert(b.snapshot.random.key.every((w, i) => w === a.snapshot.random.key[i]), "generator state");

      // The log: the records the killed run wrote after its checkpoint are gone, the rest equals the full run's.
      const logA = await readRunLog(`${dir}/full/r/run.ndjson`);
      const logB = await readRunLog(`${killedDir}/r/run.ndjson`);
      const starts = logB.filter((r) => r.kind === "start");
      assertEquals(starts.map((s) => s.kind === "start" && s.startIteration), [0, atKill.snapshot.iteration]);
      assertEquals(timeless(logB), timeless(logA));
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
