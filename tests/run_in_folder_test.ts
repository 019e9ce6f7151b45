/**
 * runInFolder (pipeline/commands/run_in_folder.ts), the one way every
 * command writes a training run into its folder: what it does with what
 * the folder already holds.
 */

import { assert, assertEquals, assertRejects, assertStringIncludes } from "@std/assert";
import { runInFolder } from "../pipeline/commands/run_in_folder.ts";
import type { TrainingSpec } from "../pipeline/run_training.ts";
import { CheckpointError } from "../pipeline/store/checkpoint.ts";
import { RunFolderTakenError } from "../pipeline/store/run_folder.ts";
import { acquireRunLock, RunLockedError } from "../pipeline/store/run_lock.ts";
import { readRunLog } from "../pipeline/store/run_log.ts";

const SPEC: TrainingSpec = {
  data: { spec: "sample", numTrain: 40, numVal: 20, dtype: "float32" },
  model: { kind: "fc", hiddenDims: [8], normalization: null, dropout: 0, weightScale: 1e-2, reg: 0 },
  solver: { updateRule: "adam", learningRate: 1e-3, batchSize: 20, numEpochs: 3 },
  seed: 0,
};

const place = (dir: string, how: { resume?: boolean; force?: boolean } = {}) => ({
  dir,
  resume: how.resume ?? false,
  force: how.force ?? false,
});

Deno.test("runInFolder trains into an empty folder and writes the log, checkpoint and result, then releases its lock", async () => {
  const dir = `${await Deno.makeTempDir()}/run`;
  try {
    const run = await runInFolder(SPEC, { ...place(dir), label: "r" });
    assertEquals([run.how, run.stopped, run.result.status, run.result.iterations], ["fresh", null, "finished", 6]);
    assertEquals(run.result.spec, SPEC);
    const names = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    assertEquals(names, ["checkpoint.safetensors", "result.json", "run.ndjson"]);
  } finally {
    await Deno.remove(dir.replace(/\/run$/, ""), { recursive: true });
  }
});

Deno.test("runInFolder refuses a folder with results unless resume or force; resume keeps a finished run as it is", async () => {
  const dir = `${await Deno.makeTempDir()}/run`;
  try {
    await runInFolder(SPEC, place(dir));
    const log = await Deno.readTextFile(`${dir}/run.ndjson`);
    const err = await assertRejects(() => runInFolder(SPEC, place(dir)), RunFolderTakenError);
    assertStringIncludes(err.message, "already holds a finished run (6 of 6 iterations");
    const replayed: unknown[] = [];
    const kept = await runInFolder(SPEC, { ...place(dir, { resume: true }), replay: (r) => replayed.push(...r) });
    assertEquals(kept.how, "kept");
    assertEquals(await Deno.readTextFile(`${dir}/run.ndjson`), log);
    assertEquals(replayed.length, kept.records.length);
    // A kept run must be the run asked for.
    const other = { ...SPEC, seed: 1 };
    await assertRejects(() => runInFolder(other, place(dir, { resume: true })), CheckpointError, "holds another run");
    const forced = await runInFolder(other, { ...place(dir, { force: true }), notice: () => {} });
    assertEquals(forced.how, "fresh");
  } finally {
    await Deno.remove(dir.replace(/\/run$/, ""), { recursive: true });
  }
});

Deno.test("runInFolder with resume continues an unfinished run from its checkpoint to the uninterrupted run's numbers", async () => {
  const root = await Deno.makeTempDir();
  try {
    const whole = await runInFolder(SPEC, place(`${root}/whole`));
    await runInFolder(SPEC, place(`${root}/cut`));
    // As if killed after its last checkpoint, before the end record reached the log.
    const lines = (await Deno.readTextFile(`${root}/cut/run.ndjson`)).trimEnd().split("\n");
    await Deno.writeTextFile(
      `${root}/cut/run.ndjson`,
      lines.filter((l) => !l.includes('"kind":"end"')).join("\n") + "\n",
    );
    const notices: string[] = [];
    const resumed = await runInFolder(SPEC, {
      ...place(`${root}/cut`, { resume: true }),
      notice: (l) => notices.push(l),
    });
    assertEquals(resumed.how, "resumed");
    assertEquals(resumed.resumedFrom, { iteration: 6, epoch: 3 });
    const losses = (d: string) =>
      readRunLog(`${root}/${d}/run.ndjson`).then((rs) => rs.flatMap((r) => r.kind === "iteration" ? [r.loss] : []));
    assertEquals(await losses("cut"), await losses("whole"));
    assertEquals(whole.result.bestValAcc, resumed.result.bestValAcc);
    assertEquals((await readRunLog(`${root}/cut/run.ndjson`)).filter((r) => r.kind === "end").length, 1);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("runInFolder is refused while another holder has the folder's lock", async () => {
  const dir = await Deno.makeTempDir();
  const lock = await acquireRunLock(dir, { command: "deno task experiment batchnorm" });
  try {
    const err = await assertRejects(() => runInFolder(SPEC, place(dir)), RunLockedError);
    assert(err.message.includes("deno task experiment batchnorm"), err.message);
  } finally {
    await lock.release();
    await Deno.remove(dir, { recursive: true });
  }
});
