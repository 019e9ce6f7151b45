/**
 * Sweeps on a real Slurm cluster: a single node brought up by the test
 * (tests/_slurm.ts). Skipped, with the reason in each test's name, where
 * the daemons cannot start; on CI (CI=true) they must.
 */

import { assert, assertEquals, assertLessOrEqual, assertMatch, assertStringIncludes } from "@std/assert";
import { sbatchScript } from "../pipeline/commands/launchers.ts";
import { type SlurmCluster, startSlurm } from "./_slurm.ts";
import { assertSameReport, engineEnv, experiment, keyNumbers, planFolders, workersSweep } from "./_sweeps.ts";

const onCi = Deno.env.get("CI") === "true";
const started = await startSlurm();
if (typeof started === "string" && onCi) throw new Error(`slurm_test: CI=true but no Slurm cluster: ${started}`);
const cluster: SlurmCluster | undefined = typeof started === "string" ? undefined : started;
const skip = cluster === undefined ? ` (skipped: ${started})` : "";
if (cluster === undefined) console.warn(`slurm_test: skipped, ${started}`);

/** A folder with a stand-in `deno` that records its arguments, one line per call, with start and end times. */
async function fakeDeno(dir: string, seconds = 0.3): Promise<{ bin: string; log: string }> {
  const bin = `${dir}/bin`;
  await Deno.mkdir(bin, { recursive: true });
  const log = `${dir}/calls.log`;
  await Deno.writeTextFile(
    `${bin}/deno`,
    `#!/bin/bash\nstart=$(date +%s.%N)\nsleep ${seconds}\necho "$start $(date +%s.%N) $*" >> ${log}\n`,
    { mode: 0o755 },
  );
  return { bin, log };
}

/** The most intervals [start, end] open at one time. */
function mostAtOnce(intervals: [number, number][]): number {
  const events = intervals.flatMap(([s, e]) => [[s, 1], [e, -1]] as [number, number][]).sort((a, b) =>
    a[0] - b[0] || a[1] - b[1]
  );
  let open = 0, most = 0;
  for (const [, d] of events) most = Math.max(most, open += d);
  return most;
}

Deno.test({
  name: `a Slurm job array --array=0-3%2 runs each task once, at most 2 at a time${skip}`,
  ignore: cluster === undefined,
  async fn() {
    const dir = await Deno.makeTempDir({ dir: cluster!.dir, prefix: "array-" });
    await Deno.writeTextFile(
      `${dir}/job.sh`,
      `#!/bin/bash\n#SBATCH --array=0-3%2\n#SBATCH --output=${dir}/%A_%a.out\n` +
        `start=$(date +%s.%N); sleep 0.5; echo "$SLURM_ARRAY_TASK_ID $start $(date +%s.%N)" > ${dir}/task-$SLURM_ARRAY_TASK_ID\n`,
    );
    const id = await cluster!.sbatch([`${dir}/job.sh`]);
    await cluster!.waitFor([id]);
    const rows: [number, number][] = [];
    for (let i = 0; i < 4; i++) {
      const [task, start, end] = (await Deno.readTextFile(`${dir}/task-${i}`)).trim().split(" ").map(Number);
      assertEquals(task, i);
      rows.push([start, end]);
    }
    assertLessOrEqual(mostAtOnce(rows), 2);
  },
});

Deno.test({
  name: `sbatchScript's script run with bash submits the array and a collect job that runs after every index${skip}`,
  ignore: cluster === undefined,
  async fn() {
    const dir = await Deno.makeTempDir({ dir: cluster!.dir, prefix: "sbatch-" });
    const { bin, log } = await fakeDeno(dir);
    const file = `${dir}/sweep.sbatch`;
    await Deno.mkdir(`${dir}/logs`);
    await Deno.writeTextFile(
      file,
      sbatchScript({ plan: `${dir}/sweep.plan`, runs: 5, experiment: "weight-scale", repo: dir }, {
        slots: 2,
        logDir: `${dir}/logs`,
        file,
      }),
    );
    const submit = await cluster!.client("bash", [file], { env: { PATH: `${bin}:${Deno.env.get("PATH")}` } });
    assertEquals(submit.code, 0, submit.stderr);
    const ids = /submitted job array (\d+) \(5 runs, 2 at once\) and collect job (\d+)/.exec(submit.stdout);
    assert(ids, submit.stdout);
    await cluster!.waitFor([ids[1], ids[2]]);
    const calls = (await Deno.readTextFile(log)).trim().split("\n").map((l) => l.split(" "));
    const plan = `${dir}/sweep.plan`;
    const indices = calls.filter((c) => c.includes("--index")).map((c) => Number(c.at(-1))).sort();
    assertEquals(indices, [0, 1, 2, 3, 4]);
    for (const c of calls) assertEquals(c.slice(2, 6), ["task", "experiment", "--plan", plan]);
    const collect = calls.filter((c) => c.at(-1) === "--collect");
    assertEquals(collect.length, 1);
    const lastEnd = Math.max(...calls.filter((c) => c.includes("--index")).map((c) => Number(c[1])));
    assert(Number(collect[0][0]) >= lastEnd, "the collect job started before the array had ended");
    assertLessOrEqual(mostAtOnce(calls.filter((c) => c.includes("--index")).map((c) => [+c[0], +c[1]])), 2);
  },
});

Deno.test({
  name:
    `the quick weight-scale sweep as a Slurm array with 2 slots and its collect job gives the workers' report${skip}`,
  ignore: cluster === undefined,
  async fn() {
    const dir = await Deno.makeTempDir({ dir: cluster!.dir, prefix: "sweep-" });
    const workers = await workersSweep(`${dir}/workers`);
    const plan = `${dir}/sweep.plan`, file = `${dir}/sweep.sbatch`;
    const planned = await experiment([
      "weight-scale",
      "--quick",
      "--plan",
      plan,
      "--out",
      `${dir}/slurm`,
      "--sbatch",
      file,
      "--slots",
      "2",
    ]);
    assertEquals(planned.code, 0, planned.err.join("\n"));
    // As README says: bash FILE submits the array and the collect job that waits for it.
    const submit = await cluster!.client("bash", [file], { env: engineEnv() });
    assertEquals(submit.code, 0, submit.stderr);
    const ids = /submitted job array (\d+) \(10 runs, 2 at once\) and collect job (\d+)/.exec(submit.stdout);
    assert(ids, submit.stdout);
    await cluster!.waitFor([ids[1], ids[2]], { timeoutMs: 300_000 });
    const folder = (await planFolders(plan)).dir;
    const logs = `${folder}/slurm`;
    const collectLog = await Deno.readTextFile(`${logs}/gradstream-weight-scale-collect-${ids[2]}.out`);
    assertStringIncludes(collectLog, `experiment: report ${folder}/report.html (all 10 runs of `);
    for (let i = 0; i < 10; i++) {
      const task = await Deno.readTextFile(`${logs}/gradstream-weight-scale-${ids[1]}_${i}.out`);
      assertMatch(task, new RegExp(`experiment: run ${i} \\(.*\\): train acc`), `task ${i}`);
    }
    assertSameReport(
      await Deno.readTextFile(`${folder}/report.html`),
      await Deno.readTextFile(`${workers}/report.html`),
    );
    assertEquals(await keyNumbers(folder), await keyNumbers(workers));
  },
});

Deno.test({
  name: `the test's Slurm cluster stops every daemon${skip}`,
  ignore: cluster === undefined,
  async fn() {
    await cluster!.stop();
    const left = await new Deno.Command("pgrep", { args: ["-f", cluster!.dir] }).output();
    assertEquals(new TextDecoder().decode(left.stdout).trim(), "", "daemons left running");
  },
});
