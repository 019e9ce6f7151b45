/**
 * The launchers (pipeline/commands/launchers.ts): the GNU parallel command
 * lines run as printed, on this machine and over `--sshlogin` (with a
 * stand-in ssh that runs each "host"'s share here), with a stand-in `deno`
 * that records its calls; the Slurm script is valid bash (tests/slurm_test.ts
 * runs it on a real cluster).
 */

import { assert, assertEquals, assertLessOrEqual, assertStringIncludes, assertThrows } from "@std/assert";
import { parallelCommand, sbatchScript, shellQuote } from "../pipeline/commands/launchers.ts";

const haveParallel = (await new Deno.Command("sh", { args: ["-c", "command -v parallel"] }).output()).success;
if (!haveParallel && Deno.env.get("CI") === "true") {
  throw new Error("launchers_test: CI=true but GNU parallel is missing");
}
const skip = haveParallel ? "" : " (skipped: GNU parallel is not installed: apt-get install -y parallel)";

/** One call of the stand-in deno: when it ran, where, on which "host", with which arguments. */
interface Call {
  start: number;
  end: number;
  cwd: string;
  host: string;
  args: string[];
}

/** A folder with a stand-in `deno` and `ssh` on `bin`, and a reader of the calls the stand-in recorded. */
async function standIns(): Promise<{ dir: string; bin: string; calls: () => Promise<Call[]> }> {
  const dir = await Deno.makeTempDir({ prefix: "gradstream-launchers-" });
  const bin = `${dir}/bin`, log = `${dir}/calls.log`;
  await Deno.mkdir(bin);
  await Deno.writeTextFile(
    `${bin}/deno`,
    `#!/bin/bash\nstart=$(date +%s.%N)\nsleep 0.3\necho "$start $(date +%s.%N) $(pwd) \${FAKE_HOST:-here} $*" >> ${log}\n`,
    { mode: 0o755 },
  );
  // ssh's calling convention, as GNU parallel uses it (`-l alice node1 -- words`): the words run by a shell "there".
  // sshd gives the remote command the user's login SHELL, and parallel's remote wrapper execs $SHELL: without it
  // (CI runs with no SHELL set) the wrapper runs nothing and parallel still exits 0.
  await Deno.writeTextFile(
    `${bin}/ssh`,
    "#!/bin/bash\n" +
      `while [[ "$1" == -* ]]; do case "$1" in -[lpoiFJ]) shift 2 ;; *) shift ;; esac; done\n` +
      `export FAKE_HOST=$1 SHELL=/bin/bash; shift\n[ "$1" = "--" ] && shift\nexec bash -c "$*"\n`,
    { mode: 0o755 },
  );
  const calls = async () =>
    (await Deno.readTextFile(log)).trim().split("\n").map((line) => {
      const [start, end, cwd, host, ...args] = line.split(" ");
      return { start: Number(start), end: Number(end), cwd, host, args };
    });
  return { dir, bin, calls };
}

function mostAtOnce(calls: Call[]): number {
  const events = calls.flatMap((c) => [[c.start, 1], [c.end, -1]]).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let open = 0, most = 0;
  for (const [, d] of events) most = Math.max(most, open += d);
  return most;
}

async function bash(command: string, env: Record<string, string> = {}) {
  const out = await new Deno.Command("bash", { args: ["-c", command], env, stdin: "null" }).output();
  const text = new TextDecoder();
  return { code: out.code, stdout: text.decode(out.stdout), stderr: text.decode(out.stderr) };
}

/** Checks that every index ran once, with the plan, then one collect after all of them. */
function assertSweep(calls: Call[], plan: string, runs: number): void {
  const index = calls.filter((c) => c.args.includes("--index"));
  assertEquals(index.map((c) => Number(c.args.at(-1))).sort((a, b) => a - b), [...Array(runs).keys()]);
  for (const c of calls) assertEquals(c.args.slice(0, 4), ["task", "experiment", "--plan", plan]);
  const collect = calls.filter((c) => c.args.at(-1) === "--collect");
  assertEquals(collect.length, 1);
  assert(collect[0].start >= Math.max(...index.map((c) => c.end)), "collect started before the runs had ended");
}

Deno.test({
  name: `parallelCommand -j 2 runs every index of the plan, 2 at a time, in the repository, then collects${skip}`,
  ignore: !haveParallel,
  async fn() {
    const { dir, bin, calls } = await standIns();
    try {
      const plan = `${dir}/sweep.plan`;
      const command = parallelCommand({ plan, runs: 6, experiment: "weight-scale", repo: dir }, { jobs: 2 });
      const r = await bash(command, { PATH: `${bin}:${Deno.env.get("PATH")}` });
      assertEquals(r.code, 0, r.stderr);
      const seen = await calls();
      assertSweep(seen, plan, 6);
      assertLessOrEqual(mostAtOnce(seen), 2);
      assertEquals(mostAtOnce(seen) > 1, true, "the runs never overlapped");
      for (const c of seen) assertEquals(c.cwd, dir);
      assertStringIncludes(await Deno.readTextFile(`${plan}.joblog`), "--index 5");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: `parallelCommand --sshlogin spreads the indices over the hosts, each starting in the repository${skip}`,
  ignore: !haveParallel,
  async fn() {
    const { dir, bin, calls } = await standIns();
    try {
      const plan = `${dir}/sweep.plan`;
      const command = parallelCommand({ plan, runs: 6, experiment: "weight-scale", repo: `${dir}/bin` }, {
        sshLogins: ["1/alice@node1", "1/node2"],
      });
      assertStringIncludes(command, "--sshlogin 1/alice@node1,1/node2 --workdir ");
      // cd to another folder first: the hosts must still start in the repository.
      const r = await bash(`cd / && ${command}`, {
        PATH: `${bin}:${Deno.env.get("PATH")}`,
        PARALLEL_SSH: `${bin}/ssh`,
      });
      assertEquals(r.code, 0, r.stderr);
      const seen = (await calls()).filter((c) => c.args.includes("--index"));
      assertEquals(new Set(seen.map((c) => c.host)), new Set(["node1", "node2"]));
      for (const c of seen) assertEquals(c.cwd, `${dir}/bin`);
      assertSweep(await calls(), plan, 6);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("sbatchScript writes valid bash with the array, its throttle, the output folder and extra options", async () => {
  const target = { plan: "/d/my sweep.plan", runs: 40, experiment: "weight-scale", repo: "/src/gradstream" };
  const script = sbatchScript(target, { logDir: "/d/logs/", extra: ["--partition=short", "--time=00:30:00"] });
  assertStringIncludes(script, "#SBATCH --array=0-39%40\n", "no throttle given: all at once");
  assertStringIncludes(script, "#SBATCH --output=/d/logs/%x-%A_%a.out\n");
  assertStringIncludes(script, "#SBATCH --chdir=/src/gradstream\n");
  assertStringIncludes(script, "#SBATCH --partition=short\n#SBATCH --time=00:30:00\n");
  assertStringIncludes(script, `--index "$SLURM_ARRAY_TASK_ID"`);
  assertStringIncludes(script, `--plan '/d/my sweep.plan'`);
  const file = await Deno.makeTempFile({ suffix: ".sbatch" });
  try {
    await Deno.writeTextFile(file, script);
    const r = await bash(`bash -n ${file}`);
    assertEquals(r.code, 0, r.stderr);
  } finally {
    await Deno.remove(file);
  }
  assertThrows(() => sbatchScript({ ...target, runs: 0 }, { logDir: "/d" }), RangeError, "has no runs");
  assertThrows(() => sbatchScript(target, { logDir: "/d", slots: 0 }), RangeError, "slots 0 is not a positive");
});

Deno.test("shellQuote gives one shell word that the shell reads back as the string", async () => {
  for (const s of ["plain/path.plan", "with space", "it's", '$HOME `x` "q"', "a\nb", ""]) {
    const r = await bash(`printf %s ${shellQuote(s)}`);
    assertEquals(r.stdout, s);
  }
});
