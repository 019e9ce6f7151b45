/**
 * Runs you can live with, through the commands: a run folder is locked
 * while written (a real `deno task train` whose wrapper and trainer are
 * killed with SIGKILL), a folder holding results is refused without
 * `--resume` or `--force` (its checkpoint's bytes unchanged), an
 * experiment gets a folder per dataset and configuration, is refused
 * without `--force`, and an interrupted one resumes to the numbers of an
 * uninterrupted one; `--check-every` leaves the losses as they are.
 */

import { assert, assertEquals, assertMatch, assertNotEquals, assertStringIncludes } from "@std/assert";
import { main as experimentMain } from "../pipeline/commands/experiment.ts";
import { defaultExperimentFolder } from "../pipeline/commands/experiment.ts";
import { findExperiment } from "../pipeline/commands/experiments/index.ts";
import { main as trainMain } from "../pipeline/commands/train.ts";
import type { EpochRecord, IterationRecord, TrainRecord } from "../pipeline/store/records.ts";
import { isHeld, readRunLock } from "../pipeline/store/run_lock.ts";
import { readRunLog } from "../pipeline/store/run_log.ts";
import { runSeries } from "../reports/run_data.ts";

const ROOT = new URL("..", import.meta.url).pathname;

async function train(args: string[]) {
  const out: string[] = [], err: string[] = [];
  const code = await trainMain(args, { out: (l) => out.push(l), err: (l) => err.push(l), terminal: false });
  return { code, out, err };
}

async function experiment(args: string[]) {
  const out: string[] = [], err: string[] = [];
  const code = await experimentMain(args, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out, err };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until `ok()` holds, checking every 50 ms, for at most `ms`. */
async function until(ok: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const t0 = performance.now();
  while (!(await ok())) {
    if (performance.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

const exists = (path: string) => Deno.stat(path).then(() => true, () => false);

/** Every step's loss, in order, one per step (a resumed log's repeated steps counted once). */
function losses(records: readonly TrainRecord[]): number[] {
  return runSeries(records).iterations.map((r) => r.loss);
}

Deno.test("kill -9 of the deno task wrapper leaves the trainer holding the lock: a second writer is refused naming it; once the trainer is killed too, --resume takes the lock over and finishes the run once", async () => {
  const out = await Deno.makeTempDir({ prefix: "gradstream_lock_" });
  // 12 short epochs of 10 steps: a checkpoint soon, and time left to watch the trainer hold the lock.
  const flags = [
    ...["--hidden-dims", "100", "--num-train", "500", "--num-val", "200", "--batch-size", "50", "--epochs", "12"],
    ...["--gemm", "ts", "--quiet", "--out", out, "--run-name", "r"],
  ];
  const wrapper = new Deno.Command(Deno.execPath(), {
    args: ["task", "train", ...flags],
    cwd: ROOT,
    stdout: "null",
    stderr: "null",
  }).spawn();
  let trainerPid = 0;
  try {
    await until(() => exists(`${out}/r/checkpoint.safetensors`), 60_000, "the first checkpoint");
    const lock = await readRunLock(`${out}/r`);
    assert(lock !== null, "no lock while training");
    trainerPid = lock.pid;
    assertNotEquals(trainerPid, wrapper.pid, "the lock names the trainer, not the deno task wrapper");
    assertStringIncludes(lock.command, "deno task train --hidden-dims 100");

    wrapper.kill("SIGKILL");
    await wrapper.status;
    // The trainer lives on: paused, so that it cannot finish before it is looked at.
    Deno.kill(trainerPid, "SIGSTOP");
    // It still holds the folder: a second writer is refused, naming it.
    const second = await train([...flags, "--resume"]);
    assertEquals(second.code, 2, second.err.join("\n"));
    assertEquals(second.err.length, 1);
    assertMatch(second.err[0], new RegExp(`^train: ${out}/r is being written by another run \\(process ${trainerPid}`));

    Deno.kill(trainerPid, "SIGKILL");
    await until(() => !isHeld(`${out}/r/run.lock`), 10_000, "the trainer to end");
    trainerPid = 0;
    const resumed = await train([...flags, "--resume"]);
    assertEquals(resumed.code, 0, resumed.err.join("\n"));
    assertStringIncludes(resumed.out.join("\n"), `took over the lock of process ${lock.pid}`);
    assertStringIncludes(resumed.out.join("\n"), `train: resuming ${out}/r at iteration `);
    // One writer at a time: every step once, one end record, the lock gone.
    const records = await readRunLog(`${out}/r/run.ndjson`);
    const steps = records.filter((r): r is IterationRecord => r.kind === "iteration").map((r) => r.iteration);
    assertEquals(steps, Array.from({ length: 120 }, (_, i) => i + 1));
    assertEquals(records.filter((r) => r.kind === "end").length, 1);
    assertEquals(await exists(`${out}/r/run.lock`), false);
  } finally {
    try {
      wrapper.kill("SIGKILL");
    } catch { /* already gone */ }
    await wrapper.status;
    if (trainerPid !== 0) {
      try {
        Deno.kill(trainerPid, "SIGKILL");
      } catch { /* already gone */ }
    }
    await Deno.remove(out, { recursive: true }).catch(() => {});
  }
});

const TINY = ["--hidden-dims", "8", "--num-train", "50", "--num-val", "50", "--epochs", "2", "--gemm", "ts", "--quiet"];

Deno.test("train into a folder holding a finished run is refused with exit 2 and one line saying what is there and what to type; the checkpoint's bytes stay as they were", async () => {
  const out = await Deno.makeTempDir({ prefix: "gradstream_guard_" });
  try {
    const first = await train([...TINY, "--out", out]);
    assertEquals(first.code, 0, first.err.join("\n"));
    const dir = /^train: (\S+) \(/.exec(first.out[0])![1];
    const checkpoint = await Deno.readFile(`${dir}/checkpoint.safetensors`);
    const log = await Deno.readTextFile(`${dir}/run.ndjson`);
    // Other settings under the same --run-name: the folder is another run's.
    const again = await train([...TINY, "--out", out, "--learning-rate", "5e-3", "--run-name", dir.split("/").pop()!]);
    assertEquals([again.code, again.out], [2, []]);
    assertEquals(again.err, [
      `train: ${dir} already holds a finished run (2 of 2 iterations; checkpoint at iteration 2, epoch 2; ` +
      "report.html); add --run-name NAME to write a new run elsewhere, --resume to keep it (and redo its report), " +
      "or --force to replace it",
    ]);
    assertEquals(await Deno.readFile(`${dir}/checkpoint.safetensors`), checkpoint);
    assertEquals(await Deno.readTextFile(`${dir}/run.ndjson`), log);

    const forced = await train([...TINY, "--out", out, "--force"]);
    assertEquals(forced.code, 0, forced.err.join("\n"));
    assertStringIncludes(forced.out[0], `train: ${dir}: replacing a finished run (2 of 2 iterations;`);
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("train: stale temporaries of a killed write are removed at start, and said so", async () => {
  const out = await Deno.makeTempDir({ prefix: "gradstream_tmp_" });
  try {
    await Deno.mkdir(`${out}/r`);
    await Deno.writeFile(`${out}/r/.checkpoint.safetensors.tmp-4242-0123abcd`, new Uint8Array(2500));
    const r = await train([...TINY, "--out", out, "--run-name", "r"]);
    assertEquals(r.code, 0, r.err.join("\n"));
    assertEquals(r.out[0], `train: ${out}/r: removed 1 temporary file (2.5 kB) left by an interrupted write`);
    assertEquals(await exists(`${out}/r/.checkpoint.safetensors.tmp-4242-0123abcd`), false);
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("train --check-every adds accuracy checks inside epochs and leaves the loss history bit for bit as without them", async () => {
  const out = await Deno.makeTempDir({ prefix: "gradstream_check_every_" });
  try {
    const flags = [...TINY, "--dropout", "0.2", "--batch-size", "10", "--out", out];
    const plain = await train([...flags, "--run-name", "plain"]);
    const watched = await train([...flags, "--run-name", "watched", "--check-every", "2"]);
    assertEquals([plain.code, watched.code], [0, 0], [...plain.err, ...watched.err].join("\n"));
    const a = await readRunLog(`${out}/plain/run.ndjson`), b = await readRunLog(`${out}/watched/run.ndjson`);
    assertEquals(losses(b), losses(a));
    const checks = (rs: TrainRecord[]) =>
      rs.filter((r): r is EpochRecord => r.kind === "epoch").map((r) => r.iteration);
    assertEquals(checks(a), [1, 5, 10]);
    assertEquals(checks(b), [1, 2, 4, 5, 6, 8, 10]);
    // The report says when the checks were made.
    const page = (name: string) => Deno.readTextFile(`${out}/${name}/report.html`);
    assertMatch(
      await page("watched"),
      /at every check: after the first step, every 2 iterations and at the end of every/,
    );
    assertMatch(await page("plain"), /at every check: after the first step and at the end of every epoch/);
    // Part of the run's identity: its own default folder.
    const named = await train([...TINY, "--out", out, "--check-every", "2"]);
    assertMatch(named.out[0], /^train: \S+\/fc-sample-h8-e2-n50-nval50-check2-[0-9a-f]{8} \(/);
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("an experiment writes a folder per dataset and configuration, and refuses to write over one without --force", async () => {
  const conv = findExperiment("convnet")!;
  const sample = await defaultExperimentFolder(conv, { dataset: "sample", quick: false, seed: 0 });
  const cifar = await defaultExperimentFolder(conv, { dataset: "cifar10:/data/cifar", quick: false, seed: 0 });
  const quick = await defaultExperimentFolder(conv, { dataset: "sample", quick: true, seed: 0 });
  assertMatch(sample, /^convnet-sample-[0-9a-f]{8}$/);
  assertMatch(cifar, /^convnet-cifar10-[0-9a-f]{8}$/);
  assertMatch(quick, /^convnet-sample-quick-[0-9a-f]{8}$/);
  assertEquals(new Set([sample, cifar, quick]).size, 3);

  const out = await Deno.makeTempDir({ prefix: "gradstream_exp_guard_" });
  try {
    const first = await experiment(["conv-filters", "--out", out, "--quiet"]);
    assertEquals(first.code, 0, first.err.join("\n"));
    const dir = /^experiment: report (\S+)\/report\.html$/.exec(first.out[0])![1];
    assertMatch(dir, new RegExp(`^${out}/conv-filters-[0-9a-f]{8}$`));
    const summary = await Deno.readTextFile(`${dir}/summary.json`);
    const refused = await experiment(["conv-filters", "--out", out, "--quiet"]);
    assertEquals([refused.code, refused.out], [2, []]);
    assertEquals(refused.err, [
      `experiment: ${dir} already holds an experiment (summary.json, report.html); add --run-name NAME to write a ` +
      "new run elsewhere, --resume to keep it (and redo its report), or --force to replace it",
    ]);
    assertEquals(await Deno.readTextFile(`${dir}/summary.json`), summary);
    const forced = await experiment(["conv-filters", "--out", out, "--quiet", "--force"]);
    assertEquals(forced.code, 0, forced.err.join("\n"));
    assertStringIncludes(forced.out[0], "replacing an experiment");
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("an experiment stopped with SIGINT says how to continue; --resume keeps its finished runs, continues the others, and reports the numbers of an uninterrupted run", async () => {
  const out = await Deno.makeTempDir({ prefix: "gradstream_exp_resume_" });
  const flags = [
    "batchnorm",
    "--quick",
    "--num-train",
    "200",
    "--epochs",
    "6",
    "--workers",
    "1",
    "--gemm",
    "ts",
    "--out",
    out,
  ];
  try {
    const whole = await experiment([...flags, "--run-name", "whole", "--quiet"]);
    assertEquals(whole.code, 0, whole.err.join("\n"));

    const child = new Deno.Command(Deno.execPath(), {
      args: ["task", "experiment", ...flags, "--run-name", "cut"],
      cwd: ROOT,
      stdout: "null",
      stderr: "piped",
    }).spawn();
    let stderr = "";
    const reading = child.stderr.pipeThrough(new TextDecoderStream()).pipeTo(
      new WritableStream({ write: (t) => void (stderr += t) }),
    );
    // Stop it once the first run is over and the second has written its first checkpoint.
    await until(() => stderr.includes("[1/2]"), 120_000, "the first run to finish");
    const second = ["baseline", "batchnorm"].map((n) => `${out}/cut/runs/${n}/checkpoint.safetensors`);
    await until(async () => (await Promise.all(second.map(exists))).every(Boolean), 120_000, "a checkpoint");
    const trainer = (await readRunLock(`${out}/cut`))!.pid;
    Deno.kill(trainer, "SIGINT");
    const status = await child.status;
    await reading;
    assertEquals(status.code, 130, stderr);
    const line = stderr.split("\n").find((l) => l.startsWith("experiment: stopped (SIGINT): 1 of 2 runs over"));
    assert(line !== undefined, stderr);
    assertStringIncludes(line, `continue with: deno task experiment ${flags.join(" ")} --run-name cut --resume`);
    assertEquals(await exists(`${out}/cut/summary.json`), false);

    const resumed = await experiment([...flags, "--run-name", "cut", "--resume"]);
    assertEquals(resumed.code, 0, resumed.err.join("\n"));
    assertMatch(resumed.err.join("\n"), /\[\d\/2\] baseline: kept \(over already\)/);
    assertMatch(resumed.err.join("\n"), /\[\d\/2\] batchnorm: resumed at iteration \d+/);
    const [a, b] = await Promise.all(["whole", "cut"].map((n) => Deno.readTextFile(`${out}/${n}/summary.json`)));
    assertEquals(JSON.parse(b).keyNumbers, JSON.parse(a).keyNumbers);
    for (const run of ["baseline", "batchnorm"]) {
      const [x, y] = await Promise.all(["whole", "cut"].map((n) => readRunLog(`${out}/${n}/runs/${run}/run.ndjson`)));
      assertEquals(losses(y), losses(x), run);
      assertEquals(runSeries(y).checks.map((c) => c.valAcc), runSeries(x).checks.map((c) => c.valAcc), run);
    }
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("train stopped by SIGTERM mid-epoch ends at once with one line: where it stopped and the command that continues it", async () => {
  const out = await Deno.makeTempDir({ prefix: "gradstream_sigterm_" });
  // One long epoch: the signal lands between checkpoints, far from any file write.
  const flags = [
    ...["--hidden-dims", "100", "--batch-size", "10", "--epochs", "1", "--gemm", "ts", "--print-every", "1"],
    ...["--out", out, "--run-name", "r"],
  ];
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("../pipeline/commands/train.ts", import.meta.url).pathname, ...flags],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let stderr = "";
  const reading = child.stderr.pipeThrough(new TextDecoderStream()).pipeTo(
    new WritableStream({ write: (t) => void (stderr += t) }),
  );
  try {
    await until(() => stderr.includes("(Iteration 5 / 100)"), 60_000, "the fifth step");
    child.kill("SIGTERM");
    const t0 = performance.now();
    const status = await child.status;
    await reading;
    assertEquals(status.code, 143, stderr);
    assert(performance.now() - t0 < 5000, `the run took ${performance.now() - t0} ms to stop`);
    const line = stderr.trimEnd().split("\n").at(-1)!;
    assertMatch(
      line,
      new RegExp(
        `^train: stopped \\(SIGTERM\\) at iteration (\\d+) of 100; ${out}/r has no checkpoint yet .*; ` +
          `continue with: deno task train ${flags.join(" ")} --resume$`,
      ),
    );
    assert(Number(/iteration (\d+)/.exec(line)![1]) < 100, line);
    assertEquals(await exists(`${out}/r/run.lock`), false, "the lock was left behind");
    // The index page was rewritten on the way out, the run in it as interrupted (not running).
    const index = await Deno.readTextFile(`${out}/index.html`);
    assertStringIncludes(index, "interrupted");
    assert(!index.includes(">running<"), "the index page calls the stopped run running");
  } finally {
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
    await Deno.remove(out, { recursive: true });
  }
});

const netGranted = (await Deno.permissions.query({ name: "net", host: "127.0.0.1" })).state === "granted";

Deno.test({
  name:
    "train --serve --port streams the run's records to the live page on that port, then serves the report until stopped",
  ignore: !netGranted,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const out = await Deno.makeTempDir({ prefix: "gradstream_serve_" });
    // A free port, as a user would pick one.
    const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (probe.addr as Deno.NetAddr).port;
    probe.close();
    const stop = new AbortController();
    let seen: { page: string; records: number } | undefined;
    let watching: Promise<void> | undefined;
    const lines: string[] = [];
    try {
      const finished = trainMain([...TINY, "--out", out, "--run-name", "r", "--serve", "--port", String(port)], {
        out: (l) => lines.push(l),
        err: (l) => lines.push(l),
        terminal: false,
        signal: stop.signal,
        onServe(url) {
          watching = (async () => {
            const page = await (await fetch(url)).text();
            const text = await (await fetch(`${url}events`)).text();
            const records = [...text.matchAll(/^data: (\[.*\])$/gm)].reduce((n, m) => n + JSON.parse(m[1]).length, 0);
            seen = { page, records };
          })();
        },
      });
      while (watching === undefined) await sleep(20);
      await watching;
      stop.abort();
      assertEquals(await finished, 0, lines.join("\n"));
      assertStringIncludes(lines.join("\n"), `train: live view at http://127.0.0.1:${port}/`);
      assertStringIncludes(lines.join("\n"), "train: serving the report at");
      assert(seen !== undefined && seen.page.includes("(live)"), "no live page");
      assertEquals(seen.records, (await readRunLog(`${out}/r/run.ndjson`)).length);
      assert(
        !(await Deno.readTextFile(`${out}/r/report.html`)).includes("(live)"),
        "the report replaced the live page",
      );
    } finally {
      await Deno.remove(out, { recursive: true });
    }
  },
});
