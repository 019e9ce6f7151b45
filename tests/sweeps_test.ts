/**
 * Sweeps as plans (pipeline/commands/sweep_*.ts): `NAME --plan FILE`
 * writes the runs, GNU parallel runs them as separate `deno` processes
 * (`--plan FILE --index I`), `--collect` renders the report, and that
 * report is the in-process workers' one; an index is idempotent (finished:
 * left alone; killed with SIGKILL: continued from its checkpoint to the
 * same numbers; locked: refused); `--seeds K` adds the seeds' bands in
 * process and through a plan alike. The Slurm engine is in slurm_test.ts.
 */

import {
  assert,
  assertEquals,
  assertGreater,
  assertMatch,
  assertNotEquals,
  assertStringIncludes,
  assertThrows,
} from "@std/assert";
import { parallelCommand } from "../pipeline/commands/launchers.ts";
import { withoutTiming } from "../pipeline/commands/experiments/common.ts";
import { replicateSeed } from "../pipeline/commands/experiments/seeds.ts";
import {
  formatPlannedResult,
  parsePlannedResult,
  plannedRunPaths,
  readPlannedResult,
  SWEEP_EXIT_CODES,
} from "../pipeline/commands/sweep_index.ts";
import { readPlan } from "../pipeline/store/plan.ts";
import type { TrainRecord } from "../pipeline/store/records.ts";
import { acquireRunLock } from "../pipeline/store/run_lock.ts";
import { readRunLog } from "../pipeline/store/run_log.ts";
import {
  assertSameReport,
  bash,
  experiment,
  experimentInChild,
  experimentProcess,
  keyNumbers,
  planFolders,
  REPO,
  reportFolder,
  workersRun,
  workersSweep,
} from "./_sweeps.ts";

const haveParallel = (await new Deno.Command("sh", { args: ["-c", "command -v parallel"] }).output()).success;
if (!haveParallel && Deno.env.get("CI") === "true") throw new Error("sweeps_test: CI=true but GNU parallel is missing");
const noParallel = haveParallel ? "" : " (skipped: GNU parallel is not installed: apt-get install -y parallel)";

const root = await Deno.makeTempDir({ prefix: "gradstream-sweeps-" });

/** A plan of `args` (an experiment and its flags) written to `<dir>/sweep.plan` with results under `<dir>`. */
async function writePlan(dir: string, args: string[]): Promise<string> {
  const plan = `${dir}/sweep.plan`;
  const r = await experiment([...args, "--plan", plan, "--out", dir]);
  assertEquals(r.code, 0, r.err.join("\n"));
  return plan;
}

/** Whether `path` exists. */
const exists = (path: string) => Deno.stat(path).then(() => true, () => false);

/** A run's records without the fields that depend on timing, and without its start records. */
function trained(records: readonly TrainRecord[]): Record<string, unknown>[] {
  return records.filter((r) => r.kind !== "start").map(withoutTiming);
}

Deno.test({
  name: `the quick weight-scale sweep through parallel -j 2 and --collect gives the workers' report${noParallel}`,
  ignore: !haveParallel,
  async fn() {
    const workers = await workersSweep(`${root}/workers`);
    const plan = await writePlan(`${root}/parallel`, ["weight-scale", "--quick"]);
    const { runs } = await readPlan(plan);
    assertEquals(runs.length, 10);
    const r = await bash(parallelCommand({ plan, runs: runs.length, experiment: "weight-scale" }, { jobs: 2 }));
    assertEquals(r.code, 0, r.err.join("\n"));
    const { dir } = await planFolders(plan);
    assertEquals(reportFolder(r), dir);
    // Every index ran once, in its own process, and exited 0.
    const joblog = (await Deno.readTextFile(`${plan}.joblog`)).trim().split("\n").slice(1).map((l) => l.split("\t"));
    assertEquals(joblog.map((row) => Number(row.at(-1)!.split(" ").at(-1))).sort((a, b) => a - b), [...runs.keys()]);
    assertEquals(joblog.map((row) => row[6]), Array(10).fill("0"), "exit values");
    const collected = await Deno.readTextFile(`${dir}/report.html`);
    assertSameReport(collected, await Deno.readTextFile(`${workers}/report.html`));
    assertEquals(await keyNumbers(dir), await keyNumbers(workers));

    // Run again, an index is left alone and says so, with exit code 0.
    const again = await experiment(["--plan", plan, "--index", "3"]);
    assertEquals(again.code, SWEEP_EXIT_CODES.done);
    assertMatch(
      again.out.join("\n"),
      /^experiment: run 3 \(batchnorm σ=1\.00e-3\) already finished in .*; left alone$/,
    );
  },
});

Deno.test("a run killed with SIGKILL continues from its checkpoint when its index runs again, to the same numbers", async () => {
  // 20 epochs of 10 steps: long enough to be killed between its first checkpoint and its end.
  const args = ["weight-scale", "--quick", "--epochs", "20"];
  const [killedPlan, wholePlan] = [await writePlan(`${root}/killed`, args), await writePlan(`${root}/whole`, args)];
  const dir = plannedRunPaths((await planFolders(killedPlan)).runs[1]);
  const wholeDir = (await planFolders(wholePlan)).runs[1];
  const child = experimentProcess(["--plan", killedPlan, "--index", "1", "--quiet"]);
  let killedAt = -1;
  for (let t = 0; t < 6000 && killedAt < 0; t++) {
    const records = await readRunLog(dir.log).catch(() => [] as TrainRecord[]);
    const epoch = records.findLast((r) => r.kind === "epoch");
    assert(!records.some((r) => r.kind === "end"), "the run ended before it could be killed");
    if (epoch !== undefined && epoch.iteration >= 20 && await exists(dir.checkpoint)) {
      child.kill("SIGKILL");
      killedAt = epoch.iteration;
    } else await new Promise((r) => setTimeout(r, 10));
  }
  const status = await child.status;
  assertEquals(status.signal, "SIGKILL");
  await child.stdout.cancel();
  await child.stderr.cancel();
  assertGreater(killedAt, 0);

  const missing = await experiment(["--plan", killedPlan, "--collect", "--quiet"]);
  assertEquals(missing.code, SWEEP_EXIT_CODES.missing);
  assertMatch(
    missing.out.join("\n"),
    /^ {2}1: batchnorm σ=1\.00e-4: unfinished \(iteration \d+ of 200, checkpoint at \d+\)$/m,
  );
  assertMatch(missing.out.join("\n"), /^ {2}0: baseline σ=1\.00e-4: not started$/m);

  const resumed = await experimentInChild(["--plan", killedPlan, "--index", "1"]);
  assertEquals(resumed.code, 0, resumed.err.join("\n"));
  assertMatch(resumed.err.join("\n"), /: took over the lock of process \d+, since .*, which is gone$/m);
  assertMatch(resumed.err.join("\n"), /continuing in .* from its checkpoint at iteration \d+ \(epoch \d+\)/);
  const whole = await experimentInChild(["--plan", wholePlan, "--index", "1", "--quiet"]);
  assertEquals(whole.code, 0, whole.err.join("\n"));

  const [a, b] = await Promise.all([dir.log, plannedRunPaths(wholeDir).log]
    .map(readRunLog));
  assertEquals(a.filter((r) => r.kind === "start").map((r) => r.kind === "start" && r.resumed), [false, true]);
  assertEquals(trained(a), trained(b));
  const [ra, rb] = await Promise.all(
    [dir.dir, wholeDir].map(readPlannedResult),
  );
  assertEquals([ra!.result.how, rb!.result.how], ["resumed", "fresh"]);
  assertEquals(
    ra!.result.note,
    `resumed at iteration ${/at iteration (\d+)/.exec(ra!.result.note!)![1]}: ${rb!.result.note}`,
  );
  assertEquals(ra!.result.stopped, rb!.result.stopped);
});

Deno.test("SIGTERM stops an index with exit code 143, a line saying where and how to continue, and its folder free", async () => {
  const plan = await writePlan(`${root}/term`, ["weight-scale", "--quick", "--epochs", "20"]);
  const dir = plannedRunPaths((await planFolders(plan)).runs[0]);
  const child = experimentProcess(["--plan", plan, "--index", "0", "--quiet"]);
  for (let t = 0; t < 6000; t++) {
    const records = await readRunLog(dir.log).catch(() => [] as TrainRecord[]);
    assert(!records.some((r) => r.kind === "end"), "the run ended before it could be stopped");
    if (records.some((r) => r.kind === "epoch" && r.iteration >= 10) && await exists(dir.checkpoint)) break;
    await new Promise((r) => setTimeout(r, 10));
  }
  child.kill("SIGTERM");
  const { code, stderr } = await child.output();
  assertEquals(code, 143);
  const lines = new TextDecoder().decode(stderr).trim().split("\n");
  assertMatch(
    lines.at(-1)!,
    new RegExp(
      `^experiment: run 0 \\(baseline σ=1\\.00e-4\\) stopped by SIGTERM at iteration \\d+; continue it with: ` +
        `deno task experiment --plan ${plan} --index 0$`,
    ),
  );
  assertEquals(await exists(`${dir.dir}/run.lock`), false, "run.lock left behind");
  const collect = await experiment(["--plan", plan, "--collect", "--quiet"]);
  assertMatch(collect.out[0], /^ {2}0: baseline σ=1\.00e-4: unfinished \(iteration \d+ of 200, checkpoint at \d+\)$/);
});

Deno.test("an index whose folder a live process holds is refused with exit code 4, its folder untouched", async () => {
  const plan = await writePlan(`${root}/locked`, ["weight-scale", "--quick"]);
  const dir = (await planFolders(plan)).runs[0];
  await Deno.mkdir(dir, { recursive: true });
  const lock = await acquireRunLock(dir, { command: "deno task experiment (the test)" });
  try {
    const r = await experiment(["--plan", plan, "--index", "0"]);
    assertEquals(r.code, SWEEP_EXIT_CODES.locked);
    assertEquals(r.err.length, 1);
    assertMatch(
      r.err[0],
      /^experiment: run 0 \(baseline σ=1\.00e-4\) refused: .* is being written by another run \(process \d+/,
    );
    assertEquals((await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name), ["run.lock"]);
    const collect = await experiment(["--plan", plan, "--collect", "--quiet"]);
    assertEquals(collect.code, SWEEP_EXIT_CODES.missing);
    assertMatch(collect.out[0], /^ {2}0: baseline σ=1\.00e-4: running \(process \d+/);
  } finally {
    await lock.release();
  }
});

Deno.test("a failed run is kept as failed: its index exits 1, --collect lists it and exits 1", async () => {
  const plan = await writePlan(`${root}/failed`, ["weight-scale", "--quick"]);
  // A plan whose run 2 reads a dataset that is not there.
  const text = await Deno.readTextFile(plan);
  const lines = text.trimEnd().split("\n");
  const run = JSON.parse(lines[3]);
  run.config.data.spec = `cifar10:${root}/no-such-folder`;
  lines[3] = JSON.stringify(run);
  await Deno.writeTextFile(plan, lines.join("\n") + "\n");
  const r = await experiment(["--plan", plan, "--index", "2", "--quiet"]);
  assertEquals(r.code, SWEEP_EXIT_CODES.failed);
  assertMatch(r.err.at(-1)!, /^experiment: run 2 \(baseline σ=1\.00e-3\) failed: .*no-such-folder/);
  const collect = await experiment(["--plan", plan, "--collect", "--quiet"]);
  assertEquals(collect.code, SWEEP_EXIT_CODES.failed);
  assertMatch(collect.out.join("\n"), /^ {2}2: baseline σ=1\.00e-3: failed: .*no-such-folder/m);
  assertMatch(collect.out.at(-1)!, /^experiment: 10 runs of .* not finished \(1 failed\)/);
});

Deno.test("a folder holding another plan's run is refused with exit code 2, and so is a different plan in the file", async () => {
  const plan = await writePlan(`${root}/other`, ["weight-scale", "--quick"]);
  const dir = (await planFolders(plan)).runs[0];
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(`${dir}/run.json`, '{"experiment":"weight-scale","index":0,"name":"x","config":{}}\n');
  const r = await experiment(["--plan", plan, "--index", "0"]);
  assertEquals(r.code, SWEEP_EXIT_CODES.usage);
  assertMatch(
    r.err[0],
    /^experiment: .*baseline-1\.00e-4 holds another plan's run \(.*run\.json differs from line 2 of /,
  );

  const before = await Deno.readTextFile(plan);
  const replan = await experiment(["weight-scale", "--quick", "--seed", "3", "--plan", plan, "--out", `${root}/other`]);
  assertEquals(replan.code, SWEEP_EXIT_CODES.usage);
  assertMatch(replan.err[0], /already holds another plan \(weight-scale, 10 runs\); give another file, or --force/);
  assertEquals(await Deno.readTextFile(plan), before);
  const same = await experiment(["weight-scale", "--quick", "--plan", plan, "--out", `${root}/other`]);
  assertEquals(same.code, 0);
  assertStringIncludes(same.out[0], "(unchanged)");
});

Deno.test("--seeds 2: the first seed's runs are the runs without --seeds, the report adds bands; a plan gives the same report", async () => {
  const tiny = ["batchnorm", "--quick", "--epochs", "2", "--num-train", "100", "--quiet"];
  const one = await workersRun(`${root}/seeds1`, tiny);
  const two = await workersRun(`${root}/seeds2`, [...tiny, "--seeds", "2"]);
  assertMatch(two, /\/batchnorm-sample-quick-.*-seeds2-[0-9a-f]+$/);
  const summary = JSON.parse(await Deno.readTextFile(`${two}/summary.json`));
  const s1 = replicateSeed(0, 1);
  assertEquals(summary.tasks.map((t: { label: string }) => t.label), [
    "baseline (seed 0)",
    `baseline (seed ${s1})`,
    "batchnorm (seed 0)",
    `batchnorm (seed ${s1})`,
  ]);
  assertEquals(summary.seeds, 2);
  assertEquals(summary.keyNumbers.seeds, 2);
  const base = await readRunLog(`${one}/runs/baseline/run.ndjson`);
  const first = await readRunLog(`${two}/runs/baseline-seed-0/run.ndjson`);
  const other = await readRunLog(`${two}/runs/baseline-seed-${s1}/run.ndjson`);
  assertEquals(trained(first), trained(base));
  assertNotEquals(trained(other), trained(base));
  // The first seed's key numbers are those without --seeds.
  const k1 = await keyNumbers(one);
  for (const [k, v] of Object.entries(k1)) assertEquals(summary.keyNumbers[k], v, k);
  const html = await Deno.readTextFile(`${two}/report.html`);
  for (const text of ["Over 2 seeds", "Training loss over 2 seeds", "mean over the seeds", `0, ${s1}`]) {
    assertStringIncludes(html, text);
  }

  const plan = await writePlan(`${root}/seeds-plan`, tiny.filter((a) => a !== "--quiet").concat("--seeds", "2"));
  assertEquals((await readPlan(plan)).header.options.seeds, 2);
  for (let i = 0; i < 4; i++) {
    assertEquals((await experiment(["--plan", plan, "--index", String(i), "--quiet"])).code, 0);
  }
  const collect = await experiment(["--plan", plan, "--collect", "--quiet"]);
  assertEquals(collect.code, 0, collect.out.join("\n"));
  // This report shows training times; the sections over the seeds (table, charts with their static SVGs) show none.
  const planned = (await planFolders(plan)).dir;
  const collected = await Deno.readTextFile(`${planned}/report.html`);
  for (const id of ["over-2-seeds", "training-loss-over-2-seeds", "accuracy-over-2-seeds"]) {
    const section = (page: string) => new RegExp(`<section id="${id}".*?</section>`, "s").exec(page)?.[0];
    assert(section(html) !== undefined, `no section ${id}`);
    assertEquals(section(collected), section(html), id);
  }
  assertEquals(await keyNumbers(planned), summary.keyNumbers);
});

Deno.test("--sbatch writes a Slurm script for an existing plan: an array over its runs, K at once", async () => {
  const plan = await writePlan(`${root}/sbatch`, ["weight-scale", "--quick"]);
  const file = `${root}/sbatch/sweep.sbatch`;
  const r = await experiment(["--plan", plan, "--sbatch", file, "--slots", "2"]);
  assertEquals(r.code, 0, r.err.join("\n"));
  assertMatch(r.out[0], /^experiment: Slurm script .*sweep\.sbatch: array 0-9, 2 at once; bash .* submits it/);
  const script = await Deno.readTextFile(file);
  assertStringIncludes(script, "#SBATCH --array=0-9%2\n");
  assertStringIncludes(script, `#SBATCH --output=${(await planFolders(plan)).dir}/slurm/%x-%A_%a.out\n`);
  assertEquals((await bash(`bash -n ${file}`)).code, 0);
});

Deno.test("the command's start-up (what every --index loads) holds neither the report renderer nor vega", async () => {
  // `deno info` lists each import with whether it is dynamic: follow the static ones from the command's module.
  const info = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", `${REPO}/pipeline/commands/experiment.ts`],
    cwd: REPO,
    stdout: "piped",
    stderr: "null",
  }).output();
  assert(info.success, "deno info failed");
  type Module = { specifier: string; dependencies?: { isDynamic?: boolean; code?: { specifier?: string } }[] };
  const modules = new Map(
    (JSON.parse(new TextDecoder().decode(info.stdout)).modules as Module[]).map((m) => [m.specifier, m]),
  );
  const seen = new Set<string>();
  const visit = (specifier: string) => {
    if (seen.has(specifier)) return;
    seen.add(specifier);
    for (const d of modules.get(specifier)?.dependencies ?? []) {
      if (!d.isDynamic && d.code?.specifier) visit(d.code.specifier);
    }
  };
  visit(new URL("../pipeline/commands/experiment.ts", import.meta.url).href);
  assert(seen.has(new URL("../pipeline/commands/sweep_index.ts", import.meta.url).href), "sweep_index.ts not static");
  const heavy = [...seen].filter((s) => s.startsWith("npm:") || /\/reports\/(render|mod|live_server)\.ts$/.test(s));
  assertEquals(heavy, []);
});

Deno.test("task-result.json gives back parameters value for value, their array types, and non-finite numbers", () => {
  const w = Float32Array.from([0.1, -2.5e-8, 3.4e38, Math.fround(1 / 3)]);
  const text = formatPlannedResult({
    index: 3,
    result: { label: "a", wallMs: 12.5, stopped: true, params: { W1: { shape: [2, 2], data: w } }, note: "n" },
    gemm: "ts",
    threads: 1,
    finishedAt: "2026-12-05T00:00:00.000Z",
  });
  const back = parsePlannedResult(
    `{"index":0,"result":{"label":"g","wallMs":NaN}}`.replace("NaN", '{"$nonFinite":"NaN"}'),
  );
  assert(Number.isNaN(back.result.wallMs));
  const r = parsePlannedResult(text);
  assert(r.result.params!.W1.data instanceof Float32Array);
  assertEquals([...r.result.params!.W1.data], [...w]);
  assertEquals(r.result.params!.W1.shape, [2, 2]);
  assertEquals(
    parsePlannedResult(formatPlannedResult({ ...r, result: { ...r.result, wallMs: -Infinity } })).result.wallMs,
    -Infinity,
  );
  assertThrows(
    () => parsePlannedResult("{}", "x/task-result.json"),
    Error,
    "x/task-result.json: not a planned run's result",
  );
});

Deno.test("the plan flags' mistakes give one line naming the flag and exit code 2", async () => {
  const plan = await writePlan(`${root}/flags`, ["weight-scale", "--quick"]);
  const cases: [string[], RegExp][] = [
    [
      ["--plan", plan],
      /^experiment: --plan FILE without an experiment name expects --index I, --collect or --sbatch FILE$/,
    ],
    [["--index", "0"], /^experiment: --index needs --plan FILE, the plan it works on$/],
    [["--plan", plan, "--index", "x"], /^experiment: --index expects a run's index, an integer from 0, got "x"$/],
    [["--plan", plan, "--index", "10"], /^experiment: --index 10 is not a run of .*, which has 10 \(0 to 9\)$/],
    [["--plan", plan, "--index", "1", "--collect"], /^experiment: --index and --collect do not go together; give one$/],
    [["--plan", plan, "--collect", "--quick"], /^experiment: --quick does not apply to an existing plan/],
    [
      ["weight-scale", "--plan", plan, "--index", "1"],
      /^experiment: --index works on an existing plan: give --plan FILE without/,
    ],
    [["weight-scale", "--plan", plan, "--workers", "2"], /^experiment: --workers does not apply with --plan/],
    [["weight-scale", "--seeds", "0"], /^experiment: --seeds expects a positive integer, got "0"$/],
    [["gradcheck", "--seeds", "2"], /^experiment: --seeds does not apply to gradcheck: it trains nothing$/],
    [["--plan", plan, "--slots", "2"], /^experiment: --slots goes with --sbatch FILE/],
    [["--plan", `${root}/no-such.plan`, "--index", "0"], /^experiment: --plan .*no-such\.plan: no such file/],
  ];
  for (const [args, expected] of cases) {
    const r = await experiment(args);
    assertEquals([r.code, r.err.length], [2, 1], `${args.join(" ")}: ${r.err.join(" | ")}`);
    assertMatch(r.err[0], expected);
  }
  await Deno.writeTextFile(`${root}/flags/bad.plan`, '{"kind":"plan","format":1}\n');
  const bad = await experiment(["--plan", `${root}/flags/bad.plan`, "--collect"]);
  assertEquals(bad.code, 2);
  assertMatch(bad.err[0], /^experiment: .*bad\.plan:1 \(byte 0\): "experiment" must be a non-empty string$/);
});

Deno.test("clean up", async () => {
  await Deno.remove(root, { recursive: true });
});
