/**
 * Run folders (pipeline/store/run_folder.ts): what a folder holds, the guard
 * that refuses to write over results, and the removal of temporaries that
 * killed writes left.
 */

import { assert, assertEquals, assertRejects, assertStringIncludes } from "@std/assert";
import { writeFileAtomic } from "../pipeline/store/atomic_write.ts";
import {
  clearRunResults,
  describeRemovedTemporaries,
  guardRunFolder,
  inspectRunFolder,
  readCheckpointProgress,
  removeStaleTemporaries,
  RunFolderTakenError,
} from "../pipeline/store/run_folder.ts";
import { Solver } from "../pipeline/solver.ts";
import { FullyConnectedNet } from "../layers/models/fully_connected_net.ts";
import { RandomState } from "../layers/random.ts";
import { loadSample } from "../datasets/sample.ts";
import { withTempDir } from "./_bytes.ts";

/** A real little run (log and checkpoint) in `dir`, 2 epochs of 2 steps. */
async function smallRun(dir: string): Promise<void> {
  const data = await loadSample({ numTraining: 40, numValidation: 20 });
  const random = new RandomState(0);
  const model = new FullyConnectedNet([8], { inputDim: 3 * 32 * 32, numClasses: 10, random });
  await new Solver(model, data, {
    batchSize: 20,
    numEpochs: 2,
    random,
    verbose: false,
    runLog: `${dir}/run.ndjson`,
    checkpoint: `${dir}/checkpoint.safetensors`,
  }).train();
}

Deno.test("inspectRunFolder reads a run's log state and its checkpoint's progress from the header alone", async () => {
  await withTempDir(async (dir) => {
    assertEquals((await inspectRunFolder(dir)).hasResults, false);
    assertEquals((await inspectRunFolder(`${dir}/nothing`)).exists, false);
    await smallRun(dir);
    const c = await inspectRunFolder(dir);
    assertEquals(c.log, { status: "finished", iterations: 4, planned: 4 });
    assertEquals([c.checkpoint?.iteration, c.checkpoint?.epoch], [4, 2]);
    assert(c.hasResults);
    assertEquals(await readCheckpointProgress(`${dir}/none.safetensors`), null);
    await Deno.writeFile(`${dir}/bad.safetensors`, new Uint8Array([200, 0, 0, 0, 0, 0, 0, 0, 123]));
    await assertRejects(() => readCheckpointProgress(`${dir}/bad.safetensors`), Error, "file ends inside the header");
  });
});

Deno.test("guardRunFolder refuses a folder holding a run, saying what is there and what to type", async () => {
  await withTempDir(async (dir) => {
    await guardRunFolder(dir, { resume: false, force: false }); // empty: fine
    await smallRun(dir);
    const e = await assertRejects(() => guardRunFolder(dir, { resume: false, force: false }), RunFolderTakenError);
    assertEquals(
      e.message,
      `${dir} already holds a finished run (4 of 4 iterations; checkpoint at iteration 4, epoch 2); ` +
        "add --run-name NAME to write a new run elsewhere, --resume to keep it (and redo its report), or --force to replace it",
    );
    assertEquals((await guardRunFolder(dir, { resume: true, force: false })).log?.status, "finished");
    assertEquals((await guardRunFolder(dir, { resume: false, force: true })).log?.status, "finished");

    // An unfinished run: --resume comes first.
    const log = await Deno.readTextFile(`${dir}/run.ndjson`);
    await Deno.writeTextFile(`${dir}/run.ndjson`, log.split("\n").filter((l) => !l.includes('"end"')).join("\n"));
    const unfinished = await assertRejects(
      () => guardRunFolder(dir, { resume: false, force: false, elsewhere: "--out DIR" }),
      RunFolderTakenError,
    );
    assertStringIncludes(unfinished.message, "already holds an unfinished run (4 of 4 iterations;");
    assertStringIncludes(unfinished.message, "; add --resume to continue it, --out DIR to write a new run elsewhere");
  });
});

Deno.test("an experiment folder (summary and runs/) counts as results; clearRunResults leaves other files", async () => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(`${dir}/runs/a`, { recursive: true });
    await Deno.writeTextFile(`${dir}/summary.json`, "{}");
    await Deno.writeTextFile(`${dir}/notes.txt`, "mine");
    const e = await assertRejects(
      () => guardRunFolder(dir, { resume: false, force: false }),
      RunFolderTakenError,
    );
    assertStringIncludes(e.message, "already holds an experiment (1 run in runs/; summary.json)");
    await clearRunResults(dir);
    assertEquals([...Deno.readDirSync(dir)].map((x) => x.name), ["notes.txt"]);
  });
});

Deno.test("removeStaleTemporaries removes killed writes' temporaries in the folder and its runs, nothing else", async () => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(`${dir}/runs/r1`, { recursive: true });
    const stale = [
      `${dir}/.checkpoint.safetensors.tmp-4242-0a1b2c3d`,
      `${dir}/.report.html.tmp-77-deadbeef`,
      `${dir}/runs/r1/.run.ndjson.tmp-5-00000000`,
    ];
    for (const p of stale) await Deno.writeFile(p, new Uint8Array(1500));
    const kept = [`${dir}/checkpoint.safetensors`, `${dir}/.hidden`, `${dir}/x.tmp-1-0a1b2c3d`];
    for (const p of kept) await Deno.writeTextFile(p, "keep");
    // A lock temporary that a live acquirer holds flocked, about to be linked into place: left alone.
    const liveLockTmp = `${dir}/.run.lock.tmp-${Deno.pid}-0a1b2c3d`;
    const held = await Deno.open(liveLockTmp, { read: true, write: true, createNew: true });
    await held.lock(true);
    // One whose acquirer died (nobody holds it): removed.
    const deadLockTmp = `${dir}/.run.lock.tmp-99999-0a1b2c3d`;
    await Deno.writeTextFile(deadLockTmp, "{}");
    await writeFileAtomic(`${dir}/report.html`, "<p>");
    const removed = await removeStaleTemporaries(dir);
    held.close();
    assertEquals(removed.map((r) => r.path).sort(), [...stale, deadLockTmp].sort());
    assertEquals(
      describeRemovedTemporaries(removed),
      "removed 4 temporary files (4.5 kB) left by an interrupted write",
    );
    for (const p of [...kept, liveLockTmp, `${dir}/report.html`]) assert((await Deno.stat(p)).isFile, p);
    assertEquals(describeRemovedTemporaries([]), null);
  });
});
