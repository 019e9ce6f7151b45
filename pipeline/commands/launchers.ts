/**
 * Command lines and scripts that hand a plan's runs to an engine that
 * already exists: GNU parallel on one machine (`-j`) or over ssh
 * (`--sshlogin`), and a Slurm job array with a dependent collect job.
 * Each engine runs `deno task experiment --plan FILE --index I` for every
 * index I of the plan, then `deno task experiment --plan FILE --collect`.
 *
 * Nothing here runs anything: the functions return text, the command
 * prints or writes it.
 *
 * @module
 */

import { fileURLToPath } from "node:url";

/** What an engine needs to know about a plan. */
export interface LaunchTarget {
  /** The plan file, absolute (engines may start elsewhere). */
  plan: string;
  /** Runs in the plan. */
  runs: number;
  /** The experiment's name (job names). */
  experiment: string;
  /** The repository root, absolute: `deno task` runs there. Default: this checkout's root ({@link repoRoot}). */
  repo?: string;
}

/** The root of this checkout (the folder holding deno.json), absolute, without a trailing slash. */
export function repoRoot(): string {
  return fileURLToPath(new URL("../../", import.meta.url)).replace(/\/+$/, "") || "/";
}

/**
 * `s` as one word for a POSIX shell: unchanged when it holds only safe
 * characters, else in single quotes.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { shellQuote } from "./launchers.ts";
 * assertEquals(shellQuote("/data/ws.plan"), "/data/ws.plan");
 * assertEquals(shellQuote("my sweep's plan"), `'my sweep'\\''s plan'`);
 * ```
 */
export function shellQuote(s: string): string {
  // Plain strings, not a nested template literal: the layering test's comment stripper reads no nesting.
  return SHELL_SAFE.test(s) ? s : "'" + s.replaceAll("'", "'\\''") + "'";
}

/** Words a POSIX shell reads as they are. */
const SHELL_SAFE = /^[A-Za-z0-9_@%+=:,./-]+$/;

/** `deno task experiment --plan PLAN --index I` with I the engine's placeholder. */
export function indexCommand(plan: string, index: string): string {
  return `deno task experiment --plan ${shellQuote(plan)} --index ${index}`;
}

/** `deno task experiment --plan PLAN --collect`. */
export function collectCommand(plan: string): string {
  return `deno task experiment --plan ${shellQuote(plan)} --collect`;
}

/** Options of {@link parallelCommand}. */
export interface ParallelOptions {
  /** Runs at once (per host with `sshLogins`). Default: GNU parallel's own (one per core). */
  jobs?: number;
  /**
   * Hosts for `--sshlogin` (`host`, `user@host`, `4/host` for 4 at once there, `:` for this machine).
   * The repository and the plan must be at the same paths on every host (a shared file system).
   */
  sshLogins?: readonly string[];
}

/**
 * A GNU parallel command line that runs every index of the plan, then
 * collects (whatever the runs' exit codes: collect lists the failures).
 * With `sshLogins` the runs go to those hosts, each starting in the
 * repository (`--workdir`).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { parallelCommand } from "./launchers.ts";
 * const target = { plan: "/d/ws.plan", runs: 40, experiment: "weight-scale", repo: "/src/gradstream" };
 * assertEquals(
 *   parallelCommand(target, { jobs: 2 }),
 *   "cd /src/gradstream && parallel -j 2 --joblog /d/ws.plan.joblog " +
 *     "deno task experiment --plan /d/ws.plan --index {} ::: $(seq 0 39); " +
 *     "deno task experiment --plan /d/ws.plan --collect",
 * );
 * ```
 */
export function parallelCommand(target: LaunchTarget, options: ParallelOptions = {}): string {
  if (target.runs < 1) throw new RangeError(`parallelCommand: plan ${target.plan} has no runs`);
  const repo = target.repo ?? repoRoot();
  const flags = [
    ...(options.jobs !== undefined ? [`-j ${options.jobs}`] : []),
    ...(options.sshLogins?.length ? [`--sshlogin ${shellQuote(options.sshLogins.join(","))}`] : []),
    ...(options.sshLogins?.length ? [`--workdir ${shellQuote(repo)}`] : []),
    `--joblog ${shellQuote(`${target.plan}.joblog`)}`,
  ];
  return `cd ${shellQuote(repo)} && parallel ${flags.join(" ")} ${indexCommand(target.plan, "{}")} ` +
    `::: $(seq 0 ${target.runs - 1}); ` +
    collectCommand(target.plan);
}

/** Options of {@link sbatchScript}. */
export interface SbatchOptions {
  /** Array tasks running at once (`%K`). Default: all of them. */
  slots?: number;
  /** Folder for the jobs' output files (must exist when the jobs start), absolute. */
  logDir: string;
  /** CPUs per task. Default 1 (a run trains on one thread). */
  cpusPerTask?: number;
  /** The script's own path, for the submit lines in its comment. Default `FILE`. */
  file?: string;
  /** Extra `#SBATCH` options, one per entry without the prefix (`--partition=short`, `--time=00:30:00`). */
  extra?: readonly string[];
}

/**
 * A Slurm batch script for the plan: a job array `--array=0-(N-1)%K` whose
 * task `SLURM_ARRAY_TASK_ID` runs that index. Submitted with `sbatch FILE`
 * it is the array alone; run with `bash FILE` it submits the array and a
 * collect job that starts when every task has ended, however it ended
 * (`--dependency=afterany:`), and prints both job ids.
 *
 * @example
 * ```ts
 * import { assertStringIncludes } from "@std/assert";
 * import { sbatchScript } from "./launchers.ts";
 * const target = { plan: "/d/ws.plan", runs: 40, experiment: "weight-scale", repo: "/src/gradstream" };
 * const script = sbatchScript(target, { slots: 2, logDir: "/d/logs" });
 * assertStringIncludes(script, "#SBATCH --array=0-39%2\n");
 * assertStringIncludes(script, '--dependency="afterany:');
 * assertStringIncludes(script, 'exec deno task experiment --plan /d/ws.plan --index "$SLURM_ARRAY_TASK_ID"\n');
 * ```
 */
export function sbatchScript(target: LaunchTarget, options: SbatchOptions): string {
  if (target.runs < 1) throw new RangeError(`sbatchScript: plan ${target.plan} has no runs to put in an array`);
  const repo = target.repo ?? repoRoot();
  const slots = options.slots ?? target.runs;
  if (!Number.isInteger(slots) || slots < 1) {
    throw new RangeError(`sbatchScript: slots ${slots} is not a positive integer`);
  }
  const cpus = options.cpusPerTask ?? 1;
  const file = shellQuote(options.file ?? "FILE");
  const name = `gradstream-${target.experiment}`;
  const log = (file: string) => shellQuote(`${options.logDir.replace(/\/+$/, "")}/${file}`);
  const collectFlags = [
    `--job-name=${shellQuote(`${name}-collect`)}`,
    `--cpus-per-task=1`,
    `--chdir=${shellQuote(repo)}`,
    `--output=${log("%x-%j.out")}`,
    ...(options.extra ?? []).map(shellQuote),
  ].join(" ");
  return `#!/bin/bash
# gradstream: the ${target.runs} runs of ${target.plan} (${target.experiment}) as a Slurm job array, ${slots} at once.
#   sbatch ${file}  submits the array alone;
#   bash ${file}    submits the array and a collect job that renders the report once every task has ended:
#     ${collectCommand(target.plan)}
#SBATCH --job-name=${shellQuote(name)}
#SBATCH --array=0-${target.runs - 1}%${slots}
#SBATCH --cpus-per-task=${cpus}
#SBATCH --chdir=${shellQuote(repo)}
#SBATCH --output=${log("%x-%A_%a.out")}
${(options.extra ?? []).map((o) => `#SBATCH ${o}\n`).join("")}set -euo pipefail
if [ -z "\${SLURM_ARRAY_TASK_ID:-}" ]; then
  # Run by hand: submit this file as the array, then the collect job that waits for all of it.
  array=$(sbatch --parsable "$0")
  collect=$(sbatch --parsable --dependency="afterany:\${array%%;*}" ${collectFlags} \\
    --wrap=${shellQuote(collectCommand(target.plan))})
  echo "submitted job array \${array%%;*} (${target.runs} runs, ${slots} at once) and collect job \${collect%%;*}"
  exit 0
fi
exec ${indexCommand(target.plan, `"$SLURM_ARRAY_TASK_ID"`)}
`;
}
