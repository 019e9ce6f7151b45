/**
 * The plan of a sweep: every run of an experiment, addressable by its index,
 * so that an outside engine (GNU parallel, a Slurm job array, a Kubernetes
 * Indexed Job) can run run `I` with nothing but the plan file and `I`.
 *
 * The file is NDJSON. Line 1 is the header: the experiment, the options it
 * was planned with, the number of runs and the experiment's output folder.
 * Then one line per run, in index order from 0: its name, its folder and
 * its full configuration (seed included):
 *
 * ```text
 * {"kind":"plan","format":1,"experiment":"weight-scale","options":{"quick":true,"seed":0},"runs":2,"out":"out/ws"}
 * {"kind":"run","index":0,"name":"baseline σ=1.00e-04","dir":"out/ws/runs/baseline-1.00e-04","config":{"seed":0}}
 * {"kind":"run","index":1,"name":"batchnorm σ=1.00e-04","dir":"out/ws/runs/batchnorm-1.00e-04","config":{"seed":0}}
 * ```
 *
 * Relative paths (`out`, `dir`) are relative to the folder holding the plan
 * file, so a plan and its results can move together; absolute ones stay as
 * they are. The configuration is opaque here (the store knows no
 * experiments); the command that runs a plan checks it.
 *
 * @module
 */

import { dirname, isAbsolute, join, normalize, relative, resolve } from "node:path";
import { writeFileAtomic } from "./atomic_write.ts";

/** The plan format this build writes and reads. */
export const PLAN_FORMAT = 1;

/** Line 1 of a plan: what was planned. */
export interface PlanHeader {
  /** Record kind: `"plan"`. */
  kind: "plan";
  /** {@link PLAN_FORMAT}. */
  format: number;
  /** The experiment's command-line name (`weight-scale`). */
  experiment: string;
  /** The options the experiment was planned with (dataset, quick, seed, seeds, …), as JSON. */
  options: Record<string, unknown>;
  /** Number of run lines that follow. */
  runs: number;
  /** The experiment's output folder (its report goes there), relative to the plan's folder or absolute. */
  out: string;
}

/** One run of a plan. */
export interface PlanRun {
  /** Record kind: `"run"`. */
  kind: "run";
  /** Position in the plan, from 0; the engines address the run by it. */
  index: number;
  /** The run's name (its label in reports), unique within the plan. */
  name: string;
  /** The run's folder (records, checkpoint, lock), relative to the plan's folder or absolute; unique. */
  dir: string;
  /** Everything the run needs, seed included (`config.seed`, an integer in [0, 2^32), when it has one). */
  config: Record<string, unknown>;
}

/** A whole plan: the header and its runs in index order. */
export interface Plan {
  /** What was planned. */
  header: PlanHeader;
  /** The runs, `runs[i].index === i`. */
  runs: PlanRun[];
}

/** A plan file that cannot be used, naming the file, the line and its byte offset. */
export class PlanError extends Error {
  /** The file (or the source name given to {@link parsePlan}). */
  readonly file: string;
  /** The 1-based line, or 0 for a problem with the file as a whole. */
  readonly line: number;
  /** Byte offset of the line's start in the file. */
  readonly offset: number;

  /** Builds `file:line (byte offset): problem`. */
  constructor(file: string, line: number, offset: number, problem: string) {
    super(line > 0 ? `${file}:${line} (byte ${offset}): ${problem}` : `${file}: ${problem}`);
    this.name = "PlanError";
    this.file = file;
    this.line = line;
    this.offset = offset;
  }
}

/**
 * The plan as NDJSON text: the header, then one line per run, each ending
 * in a newline. Checks the plan first (see {@link parsePlan} for the rules),
 * so what it writes always reads back.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { formatPlan, parsePlan, type Plan } from "./plan.ts";
 * const plan: Plan = {
 *   header: { kind: "plan", format: 1, experiment: "weight-scale", options: { seed: 0 }, runs: 1, out: "out/ws" },
 *   runs: [{ kind: "run", index: 0, name: "a", dir: "out/ws/runs/a", config: { seed: 7 } }],
 * };
 * const text = formatPlan(plan);
 * assertEquals(text.split("\n").length, 3); // header, one run, final newline
 * assertEquals(parsePlan(text), plan);
 * ```
 */
export function formatPlan(plan: Plan): string {
  const text = [plan.header, ...plan.runs].map((r) => JSON.stringify(r) + "\n").join("");
  parsePlan(text, "formatPlan");
  return text;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

const encoder = new TextEncoder();

/** Options of {@link parsePlan} and {@link readPlan}. */
export interface ParsePlanOptions {
  /**
   * A further check of each run line (the command that runs plans knows
   * what a configuration must hold; the store does not): a problem in
   * words, reported with the line and its byte offset, or undefined.
   */
  checkRun?: (run: PlanRun) => string | undefined;
}

/**
 * Parses and checks plan text. The rules: line 1 is a header of format
 * {@link PLAN_FORMAT} naming the experiment, its options (an object), the
 * number of runs and the output folder; then exactly that many run lines,
 * `index` counting from 0 in order, names and folders unique, each folder a
 * non-empty path, each configuration an object whose `seed`, when present,
 * is an integer in [0, 2^32). A final newline is optional; blank lines are
 * not allowed anywhere else.
 *
 * @param text the file's contents
 * @param source the name errors give for the file. Default `"plan"`
 * @param options a further check of each run (see {@link ParsePlanOptions})
 * @throws PlanError naming `source`, the line and its byte offset
 */
export function parsePlan(text: string, source = "plan", options: ParsePlanOptions = {}): Plan {
  const lines = text.split("\n");
  if (lines.at(-1) === "") lines.pop();
  const offsets: number[] = [];
  let offset = 0;
  for (const line of lines) {
    offsets.push(offset);
    offset += encoder.encode(line).length + 1;
  }
  const fail = (i: number, problem: string): never => {
    throw new PlanError(source, i + 1, offsets[i] ?? offset, problem);
  };
  if (lines.length === 0) throw new PlanError(source, 0, 0, "is empty; expected a plan header on line 1");
  const parsed = lines.map((line, i) => {
    if (line.trim() === "") return fail(i, "is blank; expected one JSON object per line");
    try {
      const value = JSON.parse(line);
      if (!isObject(value)) return fail(i, `is ${Array.isArray(value) ? "an array" : "not an object"}`);
      return value;
    } catch (e) {
      if (e instanceof PlanError) throw e;
      return fail(i, `is not JSON (${(e as Error).message})`);
    }
  });

  const h = parsed[0];
  if (h.kind !== "plan") fail(0, `has kind ${JSON.stringify(h.kind ?? null)}; a plan starts with a "plan" header`);
  if (h.format !== PLAN_FORMAT) {
    fail(0, `has format ${JSON.stringify(h.format ?? null)}; this build reads plan format ${PLAN_FORMAT}`);
  }
  if (typeof h.experiment !== "string" || h.experiment === "") fail(0, `"experiment" must be a non-empty string`);
  if (!isObject(h.options)) fail(0, `"options" must be an object`);
  if (!Number.isSafeInteger(h.runs) || (h.runs as number) < 0) fail(0, `"runs" must be a non-negative integer`);
  if (typeof h.out !== "string" || h.out === "") fail(0, `"out" must be a non-empty path`);
  const header = h as unknown as PlanHeader;

  const runs: PlanRun[] = [];
  const names = new Map<string, number>();
  const dirs = new Map<string, number>();
  for (let i = 1; i < parsed.length; i++) {
    const r = parsed[i];
    const index = i - 1;
    if (r.kind !== "run") fail(i, `has kind ${JSON.stringify(r.kind ?? null)}; expected a "run" line`);
    if (r.index !== index) {
      fail(i, `has index ${JSON.stringify(r.index ?? null)}, expected ${index} (runs are numbered from 0, in order)`);
    }
    if (typeof r.name !== "string" || r.name === "") fail(i, `"name" must be a non-empty string`);
    if (typeof r.dir !== "string" || r.dir === "") fail(i, `"dir" must be a non-empty path`);
    if (!isObject(r.config)) fail(i, `"config" must be an object`);
    const seed = (r.config as Record<string, unknown>).seed;
    if (seed !== undefined && !(Number.isInteger(seed) && (seed as number) >= 0 && (seed as number) < 2 ** 32)) {
      fail(i, `"config.seed" is ${JSON.stringify(seed)}; expected an integer in [0, 2^32)`);
    }
    const name = r.name as string, dir = normalize(r.dir as string);
    if (names.has(name)) fail(i, `run name ${JSON.stringify(name)} is also run ${names.get(name)}'s`);
    if (dirs.has(dir)) fail(i, `folder ${JSON.stringify(r.dir)} is also run ${dirs.get(dir)}'s`);
    names.set(name, index);
    dirs.set(dir, index);
    const problem = options.checkRun?.(r as unknown as PlanRun);
    if (problem !== undefined) fail(i, problem);
    runs.push(r as unknown as PlanRun);
  }
  if (runs.length !== header.runs) {
    throw new PlanError(
      source,
      0,
      0,
      `the header says ${header.runs} runs but ${runs.length} follow` +
        (runs.length < header.runs ? " (the file is cut short?)" : ""),
    );
  }
  return { header, runs };
}

/**
 * Reads and checks a plan file (see {@link parsePlan}; `options` adds a check of each run).
 *
 * @throws PlanError naming the file and line; Deno.errors.NotFound when there is no such file
 */
export async function readPlan(path: string, options: ParsePlanOptions = {}): Promise<Plan> {
  return parsePlan(await Deno.readTextFile(path), path, options);
}

/** Writes a plan atomically (see {@link formatPlan}); its folder must exist. */
export async function writePlan(path: string, plan: Plan): Promise<void> {
  await writeFileAtomic(path, formatPlan(plan));
}

/**
 * A path of a plan (`header.out` or a run's `dir`) as it is on this
 * machine: relative ones are taken from the plan file's folder.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { planPath } from "./plan.ts";
 * assertEquals(planPath("/data/sweeps/ws.plan", "out/ws/runs/a"), "/data/sweeps/out/ws/runs/a");
 * assertEquals(planPath("/data/sweeps/ws.plan", "/scratch/a"), "/scratch/a");
 * ```
 */
export function planPath(planFile: string, path: string): string {
  return isAbsolute(path) ? normalize(path) : join(dirname(resolve(planFile)), path);
}

/**
 * The inverse of {@link planPath}: `path` as a plan stored at `planFile`
 * records it (relative to the plan's folder when it lies under it, else
 * absolute).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { pathInPlan } from "./plan.ts";
 * assertEquals(pathInPlan("/data/sweeps/ws.plan", "/data/sweeps/out/ws"), "out/ws");
 * assertEquals(pathInPlan("/data/sweeps/ws.plan", "/scratch/ws"), "/scratch/ws");
 * ```
 */
export function pathInPlan(planFile: string, path: string): string {
  const from = dirname(resolve(planFile));
  const to = resolve(path);
  const rel = relative(from, to);
  return rel === "" ? "." : rel === ".." || rel.startsWith("../") || isAbsolute(rel) ? to : rel;
}
