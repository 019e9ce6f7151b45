/**
 * `deno task runs`: the list of runs (table and --json) with each run's
 * status, the index page, and `runs compare` (seed groups drawn as a mean
 * with a min–max band, the configuration's differing keys).
 */

import { assert, assertEquals, assertMatch, assertStringIncludes } from "@std/assert";
import { main as train } from "../pipeline/commands/train.ts";
import { main as runs } from "../pipeline/commands/runs.ts";
import { scanRuns } from "../pipeline/commands/run_index.ts";
import { acquireRunLock } from "../pipeline/store/run_lock.ts";
import type { BandRow } from "../reports/compare.ts";

const quiet = { out: () => {}, err: () => {} };
const SMALL = ["--hidden-dims", "8", "--num-train", "50", "--num-val", "50", "--batch-size", "25", "--gemm", "ts"];

async function trainRun(root: string, name: string, extra: string[] = []): Promise<number> {
  return await train([...SMALL, "--epochs", "2", "--quiet", "--out", root, "--run-name", name, ...extra], quiet);
}

async function runRuns(args: string[]) {
  const out: string[] = [], err: string[] = [];
  const code = await runs(args, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out, err };
}

/** The chart datasets of a report page, by name. */
function datasets(html: string): Record<string, unknown[]> {
  const json = /<script type="application\/json" id="gs-data">(.*?)<\/script>/s.exec(html)?.[1];
  assert(json !== undefined, "no chart payload in the page");
  const charts = (JSON.parse(json) as { charts: { spec: { datasets: Record<string, unknown[]> } }[] }).charts;
  return Object.assign({}, ...charts.map((c) => c.spec.datasets));
}

const root = await Deno.makeTempDir({ prefix: "gradstream-runs-" });

Deno.test("runs lists every run with its status: finished, stopped, interrupted, running (naming the process)", async () => {
  const dir = `${root}/list`;
  assertEquals(await trainRun(dir, "done"), 0);
  // A loss that blows up: stopped.
  assertEquals(
    await trainRun(dir, "boom", [
      ...["--normalization", "none", "--update-rule", "sgd", "--learning-rate", "1e3", "--lr-decay", "1e6"],
    ]),
    1,
  );
  // A run whose log ends before its end record, with nobody writing it: interrupted.
  assertEquals(await trainRun(dir, "cut"), 0);
  const log = await Deno.readTextFile(`${dir}/cut/run.ndjson`);
  await Deno.writeTextFile(`${dir}/cut/run.ndjson`, log.split("\n").slice(0, 4).join("\n") + "\n");
  // The same, locked by a live process (this one): running.
  await Deno.mkdir(`${dir}/live`);
  await Deno.writeTextFile(`${dir}/live/run.ndjson`, log.split("\n").slice(0, 4).join("\n") + "\n");
  const lock = await acquireRunLock(`${dir}/live`, { command: "deno task train --run-name live" });
  try {
    const r = await runRuns([dir]);
    assertEquals(r.code, 0, r.err.join("\n"));
    assertMatch(
      r.out[0],
      /^NAME +COMMAND +MODEL +DATASET +STATUS +ITERATIONS +BEST VAL +TRAIN ACC +TIME +STARTED$/,
    );
    const row = (name: string) => r.out.find((l) => l.startsWith(`${name} `)) ?? "";
    assertMatch(
      row("done"),
      /^done +train +fc 8 batchnorm +cifar10-sample \(50\) +finished +4 +\d+\.\d\d % +\d+\.\d\d % /,
    );
    assertMatch(row("boom"), / stopped /);
    assertMatch(row("cut"), / interrupted +2\/4 /);
    assertMatch(row("live"), new RegExp(` running \\(pid ${Deno.pid}\\) +2/4 `));
    assertEquals(r.out.at(-1), `runs: 4 runs; index ${dir}/index.html`);

    const json = await runRuns([dir, "--json"]);
    const scan = JSON.parse(json.out.join("\n"));
    const byName = Object.fromEntries(scan.runs.map((x: { name: string }) => [x.name, x]));
    assertEquals(byName.done.status, "finished");
    assertEquals(byName.done.iterations, 4);
    assertEquals(byName.done.report, "done/report.html");
    assertEquals(byName.done.checkpoint.iteration, 4);
    assertEquals(byName.live.holder.pid, Deno.pid);
    assertEquals(byName.live.holder.command, "deno task train --run-name live");
    assertEquals(byName.cut.status, "interrupted");
    assertEquals(byName.boom.status, "stopped");
  } finally {
    await lock.release();
  }
  assertEquals((await scanRuns(dir)).runs.find((x) => x.name === "live")?.status, "interrupted");
});

Deno.test("the index page links every report with its key numbers", async () => {
  const dir = `${root}/list`;
  const html = await Deno.readTextFile(`${dir}/index.html`);
  assertStringIncludes(html, `<a href="done/report.html">done</a>`);
  assertStringIncludes(html, `<span class="status interrupted">interrupted</span>`);
  assertStringIncludes(html, "4 runs, 0 experiments");
  assert(!html.includes("<script"), "the index page has no scripts");
});

Deno.test("runs: flag mistakes are one line with exit code 2; an empty or missing folder says so", async () => {
  assertEquals(await runRuns(["--frob"]), {
    code: 2,
    out: [],
    err: ["runs: unknown flag --frob; expected [DIR] --json, or compare RUN… --to FILE"],
  });
  assertEquals((await runRuns(["a", "b"])).err, ['runs: expects one folder, got "a" "b"']);
  assertEquals((await runRuns(["compare"])).code, 2);
  assertEquals((await runRuns(["compare", `${root}/nope`])).err, [
    `runs: ${root}/nope is not a run folder, run log or experiment folder (it does not exist)`,
  ]);
  assertEquals((await runRuns([`${root}/nope`])).out, [
    `runs: no runs in ${root}/nope (it does not exist yet): deno task train starts one`,
  ]);
});

Deno.test("runs compare: three settings with two seeds each are three groups drawn as mean and min–max band", async () => {
  const dir = `${root}/sweep`;
  for (const lr of ["1e-3", "3e-3", "1e-2"]) {
    for (const seed of ["0", "1"]) {
      assertEquals(await trainRun(dir, `lr${lr}-s${seed}`, ["--learning-rate", lr, "--seed", seed]), 0);
    }
  }
  const r = await runRuns([
    "compare",
    ...["1e-3", "3e-3", "1e-2"].flatMap((lr) => [`${dir}/lr${lr}-s0`, `${dir}/lr${lr}-s1`]),
  ]);
  assertEquals(r.code, 0, r.err.join("\n"));
  assertEquals(r.out, [`runs: compared 6 runs: ${dir}/compare.html`]);
  const html = await Deno.readTextFile(`${dir}/compare.html`);
  const data = datasets(html);
  const loss = data.loss as BandRow[];
  assertEquals([...new Set(loss.map((x) => x.group))], [
    "learningRate 0.001",
    "learningRate 0.003",
    "learningRate 0.01",
  ]);
  assert(loss.every((x) => x.n === 2 && x.min <= x.mean && x.mean <= x.max), "every point has both seeds");
  assert(loss.some((x) => x.min < x.max), "seeds differ somewhere");
  const acc = data.accuracy as BandRow[];
  assertEquals(acc.filter((x) => x.group === "learningRate 0.001" && x.split === "validation").map((x) => x.x), [
    0,
    1,
    2,
  ]);
  // The configuration: the differing keys (and the seed) in the table, every key behind the toggle.
  const config = /<section id="configuration-2">(.*?)<\/section>/s.exec(html)?.[1] ??
    /<h2>Configuration<\/h2>(.*?)<\/section>/s.exec(html)?.[1] ?? "";
  const [shown, all] = config.split(`<details class="more">`);
  assertEquals([...shown.matchAll(/<tr><td>([^<]+)<\/td>/g)].map((m) => m[1]), ["learningRate", "seed"]);
  assertStringIncludes(all, "<summary>Show all settings</summary>");
  for (const key of ["batchSize", "model.hiddenDims", "numEpochs", "updateRule", "learningRate"]) {
    assertStringIncludes(all, `<td>${key}</td>`);
  }
  // The seed groups table names each group's seeds.
  assertStringIncludes(html, "<h2>Seed groups</h2>");
  assertStringIncludes(html, "<td>0, 1</td>");

  const to = await runRuns(["compare", `${dir}/lr1e-3-s0`, `${dir}/lr1e-2-s1`, "--to", `${root}/two.html`]);
  assertEquals(to.out, [`runs: compared 2 runs: ${root}/two.html`]);
  assert(!(await Deno.readTextFile(`${root}/two.html`)).includes("Seed groups"), "no group has two seeds");
});

Deno.test({
  name: "runs tests: clean up",
  async fn() {
    await Deno.remove(root, { recursive: true });
  },
});
