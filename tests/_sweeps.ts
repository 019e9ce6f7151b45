/**
 * What the sweep tests share (tests/sweeps_test.ts, tests/slurm_test.ts):
 * the experiment command in this process, a real `deno` child process, the
 * environment engines need to find `deno`, and the comparison of a
 * collected report with the in-process workers' one.
 *
 * @module
 */

import { assert, assertEquals } from "@std/assert";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { main } from "../pipeline/commands/experiment.ts";
import { planPath, readPlan } from "../pipeline/store/plan.ts";

/** The repository root. */
export const REPO = fileURLToPath(new URL("..", import.meta.url)).replace(/\/+$/, "");

/** The environment an engine's jobs need: `deno` (this one) first on PATH. */
export function engineEnv(): Record<string, string> {
  return { PATH: `${dirname(Deno.execPath())}:${Deno.env.get("PATH") ?? "/usr/bin:/bin"}` };
}

/** What a command printed and returned. */
export interface Ran {
  /** Exit code. */
  code: number;
  /** Lines on stdout. */
  out: string[];
  /** Lines on stderr. */
  err: string[];
}

/** `deno task experiment ARGS` in this process. */
export async function experiment(args: string[]): Promise<Ran> {
  const out: string[] = [], err: string[] = [];
  const code = await main(args, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out, err };
}

/** `deno run … pipeline/commands/experiment.ts ARGS` (what `deno task experiment` runs) as a child process. */
export function experimentProcess(args: string[]): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-read",
      "--allow-write",
      "--allow-env",
      "--allow-ffi",
      "--allow-net=127.0.0.1",
      `${REPO}/pipeline/commands/experiment.ts`,
      ...args,
    ],
    cwd: REPO,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

/** Runs {@link experimentProcess} to its end. */
export async function experimentInChild(args: string[]): Promise<Ran> {
  const { code, stdout, stderr } = await experimentProcess(args).output();
  const lines = (b: Uint8Array) => new TextDecoder().decode(b).split("\n").filter((l) => l !== "");
  return { code, out: lines(stdout), err: lines(stderr) };
}

/** `bash -c COMMAND` with the engine environment; what it printed. */
export async function bash(command: string, env: Record<string, string> = {}): Promise<Ran> {
  const r = await new Deno.Command("bash", { args: ["-c", command], env: { ...engineEnv(), ...env }, stdin: "null" })
    .output();
  const lines = (b: Uint8Array) => new TextDecoder().decode(b).split("\n").filter((l) => l !== "");
  return { code: r.code, out: lines(r.stdout), err: lines(r.stderr) };
}

/**
 * The configuration rows that say how an experiment ran: `workers` (in
 * process) or `ran` (collected from a plan), and the gemm backend's
 * threads.
 */
const RUN_ROWS = /<dt>(?:workers|ran|gemm)<\/dt><dd>[^<]*<\/dd>\n/g;

/** The page's time stamp (`Generated 2026-12-05 12:12 UTC by gradstream`). */
const GENERATED = /Generated \d{4}-\d\d-\d\d \d\d:\d\d UTC/g;

/**
 * Asserts that a collected report is the workers' report: the same bytes
 * but for the time stamp and the rows that say how it ran, which must say
 * so (`workers` in one, `ran` in the other).
 */
export function assertSameReport(collected: string, workers: string): void {
  assert(/<dt>ran<\/dt><dd>one process per run/.test(collected), "the collected report does not say how it ran");
  assert(/<dt>workers<\/dt><dd>\d+<\/dd>/.test(workers), "the workers' report does not say how it ran");
  const a = collected.replace(RUN_ROWS, "").replace(GENERATED, "Generated …");
  const b = workers.replace(RUN_ROWS, "").replace(GENERATED, "Generated …");
  if (a === b) return;
  let i = 0;
  while (i < a.length && a[i] === b[i]) i++;
  throw new Error(
    `the reports differ at character ${i}:\n  collected: ${JSON.stringify(a.slice(i - 100, i + 100))}\n` +
      `  workers:   ${JSON.stringify(b.slice(i - 100, i + 100))}`,
  );
}

/** The key numbers of an experiment folder's summary.json. */
export async function keyNumbers(dir: string): Promise<Record<string, unknown>> {
  return JSON.parse(await Deno.readTextFile(`${dir}/summary.json`)).keyNumbers;
}

/** The experiment's folder, from the `experiment: report DIR/report.html` line a run or a collect prints. */
export function reportFolder(r: Ran): string {
  const line = r.out.map((l) => /^experiment: report (.*)\/report\.html/.exec(l)?.[1]).find((d) => d !== undefined);
  assert(line !== undefined, `no report line in:\n${r.out.join("\n")}`);
  return line;
}

/** Runs `args` (an experiment and its flags) on the in-process workers (2) under `root`; returns its folder. */
export async function workersRun(root: string, args: string[]): Promise<string> {
  const r = await experiment([...args, "--out", root, "--workers", "2"]);
  assertEquals(r.code, 0, r.err.join("\n"));
  return reportFolder(r);
}

/** Runs the quick weight-scale sweep on the in-process workers (2) under `root`; returns its folder. */
export function workersSweep(root: string): Promise<string> {
  return workersRun(root, ["weight-scale", "--quick", "--quiet"]);
}

/** A plan's experiment folder and its runs' folders, as paths on this machine. */
export async function planFolders(plan: string): Promise<{ dir: string; runs: string[] }> {
  const { header, runs } = await readPlan(plan);
  return { dir: planPath(plan, header.out), runs: runs.map((r) => planPath(plan, r.dir)) };
}
