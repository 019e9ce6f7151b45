/**
 * Wall time of an experiment's sweep on each engine, one table: the
 * in-process Web Workers (`deno task experiment NAME --workers K --threads K`:
 * K slots of one thread, as an `--index` process runs on one thread), GNU
 * parallel (`parallel -j K … --index {}` then `--collect`) and a Slurm job
 * array with K slots and its dependent collect job (a single-node cluster
 * brought up here by tests/_slurm.ts), each with 1 and 2 slots; then the
 * start-up cost of one `--index` process (a finished run: start, read the
 * plan, lock, leave it alone) and Slurm's overhead per array task (an array
 * of empty tasks). Every collected report is checked against the workers'
 * one (tests/_sweeps.ts), so the timings are of runs that computed the same
 * numbers.
 *
 * ```sh
 * deno run -A bench/sweeps.ts                       # weight-scale, 40 runs, everything
 * deno run -A bench/sweeps.ts --quick               # the quick sweep (10 runs)
 * deno run -A bench/sweeps.ts --engines parallel --slots 2
 * ```
 *
 * Run it on a quiet machine: it prints the load average before and after
 * each row, and wall times on a shared machine say as much about the others
 * as about the engines.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { parallelCommand } from "../pipeline/commands/launchers.ts";
import { readPlan } from "../pipeline/store/plan.ts";
import { type SlurmCluster, startSlurm } from "../tests/_slurm.ts";
import { assertSameReport, bash, engineEnv, planFolders, REPO } from "../tests/_sweeps.ts";

const args = parseArgs({
  args: Deno.args,
  options: {
    quick: { type: "boolean" },
    experiment: { type: "string", default: "weight-scale" },
    engines: { type: "string", default: "workers,parallel,slurm" },
    slots: { type: "string", default: "1,2" },
    startups: { type: "string", default: "20" },
  },
});
const engines = args.values.engines.split(",");
const slotList = args.values.slots.split(",").map(Number);
const name = args.values.experiment;
const quick = args.values.quick ? ["--quick"] : [];
const root = await Deno.makeTempDir({ prefix: "gradstream-bench-sweeps-" });

const load = () => Deno.loadavg().map((l) => l.toFixed(2)).join(" ");
const rows: { row: string; seconds: number; loadBefore: string; loadAfter: string; note?: string }[] = [];

async function timed(row: string, run: () => Promise<string | void>): Promise<number> {
  const loadBefore = load();
  const t0 = performance.now();
  const note = await run();
  const seconds = (performance.now() - t0) / 1000;
  rows.push({ row, seconds, loadBefore, loadAfter: load(), ...(note ? { note } : {}) });
  console.error(`${row}: ${seconds.toFixed(1)} s (load ${loadBefore} → ${load()})${note ? ` ${note}` : ""}`);
  return seconds;
}

async function must(command: string, env: Record<string, string> = {}) {
  const r = await bash(command, env);
  if (r.code !== 0) throw new Error(`${command} failed (exit ${r.code}):\n${r.err.slice(-10).join("\n")}`);
  return r;
}

const task = (rest: string) => `cd ${REPO} && deno task experiment ${rest}`;

async function plan(dir: string, extra = ""): Promise<string> {
  const file = `${dir}/sweep.plan`;
  await must(task(`${name} ${quick.join(" ")} --plan ${file} --out ${dir} ${extra}`));
  return file;
}

let reference: string | undefined;
/** Checks the report of the plan `file` against the workers' one. */
async function check(file: string): Promise<string> {
  const html = await Deno.readTextFile(`${(await planFolders(file)).dir}/report.html`);
  if (reference === undefined) return "(no workers' report to compare with)";
  assertSameReport(html, reference);
  return "report = workers' report";
}

const wall: Record<string, number> = {};

if (engines.includes("workers")) {
  for (const k of slotList) {
    const dir = `${root}/workers-${k}`;
    wall[`workers ${k}`] = await timed(`in-process workers, --workers ${k} --threads ${k}`, async () => {
      await must(task(`${name} ${quick.join(" ")} --quiet --workers ${k} --threads ${k} --out ${dir}`));
    });
    reference ??= await Deno.readTextFile(`${
      (await Array.fromAsync(Deno.readDir(dir)))
        .map((e) => `${dir}/${e.name}`).find((d) => d.includes(`/${name}-`))
    }/report.html`);
  }
}

if (engines.includes("parallel")) {
  for (const k of slotList) {
    const dir = `${root}/parallel-${k}`;
    const file = await plan(dir);
    const runs = (await readPlan(file)).runs.length;
    let note = "";
    wall[`parallel ${k}`] = await timed(`GNU parallel -j ${k}, then --collect`, async () => {
      await must(parallelCommand({ plan: file, runs, experiment: name }, { jobs: k }));
      note = await check(file);
      return note;
    });
  }
}

let cluster: SlurmCluster | undefined;
if (engines.includes("slurm")) {
  const started = await startSlurm();
  if (typeof started === "string") console.error(`slurm: skipped (${started})`);
  else cluster = started;
}
try {
  if (cluster !== undefined) {
    for (const k of slotList) {
      const dir = `${cluster.dir}/slurm-${k}`;
      const file = await plan(dir, `--sbatch ${dir}/sweep.sbatch --slots ${k}`);
      wall[`slurm ${k}`] = await timed(`Slurm array, ${k} slot${k === 1 ? "" : "s"}, and the collect job`, async () => {
        const submit = await cluster!.client("bash", [`${dir}/sweep.sbatch`], { env: engineEnv() });
        const ids = /submitted job array (\d+) .* and collect job (\d+)/.exec(submit.stdout);
        if (ids === null) throw new Error(`${submit.stdout}${submit.stderr}`);
        await cluster!.waitFor([ids[1], ids[2]], { timeoutMs: 3_600_000, pollMs: 250 });
        return await check(file);
      });
    }
    // Slurm's own cost per array task: an array of empty tasks, 2 at a time.
    const n = 40;
    const empty = `${cluster.dir}/empty.sh`;
    await Deno.writeTextFile(empty, `#!/bin/bash\n#SBATCH --array=0-${n - 1}%2\n#SBATCH --output=/dev/null\ntrue\n`);
    const seconds = await timed(`Slurm array of ${n} empty tasks, 2 at a time`, async () => {
      const id = await cluster!.sbatch([empty]);
      await cluster!.waitFor([id], { pollMs: 100 });
    });
    rows.at(-1)!.note = `${(seconds / (n / 2)).toFixed(2)} s per wave of 2 tasks`;
  }
} finally {
  await cluster?.stop();
}

// Start-up of one `--index` process on a run that has finished: everything but the training.
const startupPlan = `${root}/startup/sweep.plan`;
{
  await plan(`${root}/startup`, "");
  await must(task(`--plan ${startupPlan} --index 0 --quiet`));
  const n = Number(args.values.startups);
  const perms = ["--allow-read", "--allow-write", "--allow-env", "--allow-ffi", "--allow-net=127.0.0.1"];
  const forms: [string, string[]][] = [
    ["deno eval 0 (the runtime alone)", ["eval", "0"]],
    [
      "deno run … experiment.ts --plan P --index 0 (finished run)",
      ["run", ...perms, `${REPO}/pipeline/commands/experiment.ts`, "--plan", startupPlan, "--index", "0"],
    ],
    ["deno task experiment --plan P --index 0 (finished run)", [
      "task",
      "experiment",
      "--plan",
      startupPlan,
      "--index",
      "0",
    ]],
  ];
  for (const [row, argv] of forms) {
    const times: number[] = [];
    const loadBefore = load();
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      const r = await new Deno.Command(Deno.execPath(), { args: argv, cwd: REPO, stdout: "null", stderr: "null" })
        .output();
      if (!r.success) throw new Error(`${row}: exit ${r.code}`);
      times.push((performance.now() - t0) / 1000);
    }
    times.sort((a, b) => a - b);
    rows.push({
      row: `start-up: ${row}`,
      seconds: times[Math.floor(n / 2)],
      loadBefore,
      loadAfter: load(),
      note: `median of ${n}, fastest ${times[0].toFixed(3)} s`,
    });
  }
}

console.log(`\n${name}${quick.length ? " --quick" : ""} on ${navigator.hardwareConcurrency} cores\n`);
console.log("| what | wall s | load before → after | note |\n| --- | ---: | --- | --- |");
for (const r of rows) {
  console.log(
    `| ${r.row} | ${r.seconds.toFixed(r.seconds < 10 ? 3 : 1)} | ${r.loadBefore} → ${r.loadAfter} | ${r.note ?? ""} |`,
  );
}
for (const engine of ["workers", "parallel", "slurm"]) {
  if (wall[`${engine} 1`] && wall[`${engine} 2`]) {
    console.log(`${engine}: 2 slots / 1 slot = ${(wall[`${engine} 2`] / wall[`${engine} 1`]).toFixed(2)}`);
  }
}
await Deno.remove(root, { recursive: true }).catch(() => {});
