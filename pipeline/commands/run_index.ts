/**
 * Finds every run under an output folder and says where each stands: what
 * `deno task runs` lists and what `out/index.html` links.
 *
 * A run is a folder holding `run.ndjson` (a `train` run, or one run of an
 * experiment under `<experiment folder>/runs/<run>/`) or, in experiment
 * folders written before runs had folders of their own, a
 * `runs/<run>.ndjson` file. An experiment folder holds `summary.json` or
 * `runs/`. A run's status comes from its log and its lock:
 *
 * - `finished`: the log has its `end` record;
 * - `stopped`: the log has a `stopped` record (the loss stopped being finite);
 * - `running`: neither, and a live process holds the run's lock (or its experiment's);
 * - `interrupted`: neither, and nobody holds a lock (killed, Ctrl-C, a crash).
 *
 * @module
 */

import type { IndexExperiment, IndexRun, IndexRunStatus } from "../../reports/index_page.ts";
import { indexPageHtml } from "../../reports/index_page.ts";
import { summarizeRun } from "../../reports/run_data.ts";
import { writeFileAtomic } from "../store/atomic_write.ts";
import type { StartRecord } from "../store/records.ts";
import { type CheckpointProgress, readCheckpointProgress, RUN_FILES } from "../store/run_folder.ts";
import { heldRunLock, type RunLockInfo } from "../store/run_lock.ts";
import { readRunLog } from "../store/run_log.ts";
import { EXPERIMENTS } from "./experiments/index.ts";

/**
 * The experiment a folder of `deno task experiment` belongs to, from its
 * name (`batchnorm-sample-quick-ef6a1303` → `batchnorm`): the longest
 * experiment name it starts with, else the name without its hash. For a
 * folder whose `summary.json` (which names it) is not written yet.
 */
function experimentOfFolder(folder: string): string {
  const known = EXPERIMENTS.map((e) => e.name).filter((n) => folder === n || folder.startsWith(`${n}-`));
  return known.sort((a, b) => b.length - a.length)[0] ?? folder.replace(/-[0-9a-f]{8}$/, "");
}

/** One run found under the folder. */
export interface RunEntry extends IndexRun {
  /** The run's folder (for an old-layout experiment run: its log's path without `.ndjson`). */
  dir: string;
  /** Its run log. */
  log: string;
  /** The whole command line, when the run recorded it. */
  commandLine?: string;
  /** The process writing it now (status `running`). */
  holder?: RunLockInfo;
  /** Its checkpoint's progress, when it has one. */
  checkpoint?: CheckpointProgress;
}

/** One experiment folder found under the folder. */
export interface ExperimentEntry extends IndexExperiment {
  /** The folder. */
  dir: string;
}

/** What {@link scanRuns} finds. */
export interface RunScan {
  /** The folder scanned. */
  root: string;
  /** Every run, oldest start first. */
  runs: RunEntry[];
  /** Every experiment folder, by name. */
  experiments: ExperimentEntry[];
}

/** How deep below the root runs are looked for (`<exp>/runs/<run>/run.ndjson` is 3 deep). */
const MAX_DEPTH = 4;

const join = (a: string, b: string) => (a === "" || a === "." ? b : `${a}/${b}`);

async function isFile(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch {
    return false;
  }
}

function dims(v: unknown): string {
  if (!Array.isArray(v) || v.length === 0) return "";
  return v.length > 1 && v.every((x) => x === v[0]) ? `${v[0]}x${v.length}` : v.join("-");
}

/**
 * A model description of a start record, in words: `fc 100x5 batchnorm
 * dropout 0.1`, `cnn 32 7x7 h100`, `seq 6: conv32x3-sbn-relu,…`. Reads the `run.model` that `train` and
 * the experiments write (`model` or `kind` names the model).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { describeModel } from "./run_index.ts";
 * assertEquals(describeModel({ kind: "cnn", numFilters: 32, filterSize: 7, hiddenDim: 100 }), "cnn 32 7x7 h100");
 * assertEquals(describeModel({ model: "fc", hiddenDims: [100, 100], normalization: "none", dropout: 0.5 }), "fc 100x2 dropout 0.5");
 * assertEquals(describeModel({ kind: "sequential", spec: "conv8x3-sbn-relu-pool2,affine10" }), "seq 2: conv8x3-sbn-relu-pool2,…");
 * ```
 */
export function describeModel(model: Record<string, unknown> | undefined): string {
  if (model === undefined) return "?";
  const kind = String(model.model ?? model.kind ?? "?");
  if (kind === "sequential" && typeof model.spec === "string") {
    // The whole spec is too long for a table cell: its block count and first block say which net it is.
    const blocks = model.spec.split(",");
    return `seq ${blocks.length}: ${blocks[0]}${blocks.length > 1 ? ",…" : ""}`;
  }
  if (kind === "cnn") {
    return `cnn ${model.numFilters ?? "?"} ${model.filterSize ?? "?"}x${model.filterSize ?? "?"} h${
      model.hiddenDim ?? "?"
    }`;
  }
  const parts = [kind, dims(model.hiddenDims)];
  const norm = model.normalization;
  if (typeof norm === "string" && norm !== "none") parts.push(norm);
  if (typeof model.dropout === "number" && model.dropout > 0) parts.push(`dropout ${model.dropout}`);
  return parts.filter(Boolean).join(" ");
}

function datasetOf(start: StartRecord | undefined): string {
  const d = start?.run?.dataset as Record<string, unknown> | undefined;
  const name = typeof d?.name === "string" ? d.name : typeof d?.spec === "string" ? d.spec : "?";
  return start ? `${name} (${start.numTrain.toLocaleString("en-US")})` : name;
}

/** Options of {@link scanRuns}. */
export interface ScanOptions {
  /** Locks this process holds count as released: it is about to exit (stopped by a signal). Default false. */
  exiting?: boolean;
}

async function lockStatus(dirs: string[], options: ScanOptions): Promise<RunLockInfo | undefined> {
  for (const dir of dirs) {
    const lock = await heldRunLock(dir).catch(() => null);
    if (lock !== null && !(options.exiting && lock.pid === Deno.pid)) return lock;
  }
  return undefined;
}

/** Reads one run (see the module docs); null when its log cannot be read. */
async function readRun(
  root: string,
  rel: string,
  log: string,
  experiment: { rel: string; name: string; report?: string } | undefined,
  options: ScanOptions,
): Promise<RunEntry | null> {
  let records;
  try {
    records = await readRunLog(join(root, log));
  } catch {
    return null;
  }
  const summary = summarizeRun({ label: rel, records });
  const start = records.find((r): r is StartRecord => r.kind === "start");
  const dir = join(root, rel);
  const isFolder = log.endsWith(`/${RUN_FILES.log}`) || log === RUN_FILES.log;
  let status: IndexRunStatus = summary.status === "running" ? "interrupted" : summary.status;
  const holder = status === "interrupted"
    ? await lockStatus([...(isFolder ? [dir] : []), ...(experiment ? [join(root, experiment.rel)] : [])], options)
    : undefined;
  if (holder) status = "running";
  const commandLine = typeof start?.run?.command === "string" ? start.run.command : undefined;
  const checkpoint = isFolder
    ? await readCheckpointProgress(join(dir, RUN_FILES.checkpoint)).catch(() => null) ?? undefined
    : undefined;
  const report = isFolder && await isFile(join(dir, RUN_FILES.report))
    ? join(rel, RUN_FILES.report)
    : experiment?.report;
  return {
    name: rel,
    dir,
    log: join(root, log),
    command: experiment ? `experiment ${experiment.name}` : "train",
    ...(commandLine ? { commandLine } : {}),
    model: describeModel(start?.run?.model as Record<string, unknown> | undefined),
    dataset: datasetOf(start),
    status,
    iterations: summary.iterations,
    ...(summary.numIterations !== undefined ? { planned: summary.numIterations } : {}),
    ...(summary.bestValAcc !== undefined ? { bestValAcc: summary.bestValAcc } : {}),
    ...(summary.finalTrainAcc !== undefined ? { finalTrainAcc: summary.finalTrainAcc } : {}),
    ...(summary.trainingMs !== undefined ? { trainingMs: summary.trainingMs } : {}),
    ...(start ? { started: start.time } : {}),
    ...(report ? { report } : {}),
    ...(experiment ? { experiment: experiment.rel } : {}),
    ...(holder ? { holder } : {}),
    ...(checkpoint ? { checkpoint } : {}),
  };
}

interface Summary {
  experiment?: string;
  wallMs?: number;
  keyNumbers?: Record<string, number | string | boolean | null>;
}

/**
 * Finds every run and experiment folder under `root` (see the module docs).
 * Folders and files that cannot be read are skipped; hidden folders and
 * `screenshots/` are not entered.
 */
export async function scanRuns(root: string, options: ScanOptions = {}): Promise<RunScan> {
  const runs: RunEntry[] = [];
  const experiments: ExperimentEntry[] = [];
  const visit = async (rel: string, depth: number, experiment?: { rel: string; name: string; report?: string }) => {
    const dir = join(root, rel);
    let names: Deno.DirEntry[];
    try {
      names = await Array.fromAsync(Deno.readDir(dir));
    } catch {
      return;
    }
    const has = (name: string, file = true) => names.some((e) => e.name === name && (file ? e.isFile : e.isDirectory));
    if (rel !== "" && has(RUN_FILES.log)) {
      const run = await readRun(root, rel, join(rel, RUN_FILES.log), experiment, options);
      if (run) runs.push(run);
      return;
    }
    let inner = experiment;
    if (rel !== "" && (has(RUN_FILES.summary) || has(RUN_FILES.runs, false))) {
      let summary: Summary = {};
      try {
        summary = JSON.parse(await Deno.readTextFile(join(dir, RUN_FILES.summary)));
      } catch { /* not written yet (running or interrupted) */ }
      const name = summary.experiment ?? experimentOfFolder(rel.split("/").pop()!);
      const report = has(RUN_FILES.report) && has(RUN_FILES.summary) ? join(rel, RUN_FILES.report) : undefined;
      inner = { rel, name, ...(report ? { report } : {}) };
      const before = runs.length;
      // Old layout: runs/<run>.ndjson files.
      try {
        for await (const e of Deno.readDir(join(dir, RUN_FILES.runs))) {
          if (e.isFile && e.name.endsWith(".ndjson")) {
            const runRel = join(join(rel, RUN_FILES.runs), e.name.replace(/\.ndjson$/, ""));
            const run = await readRun(root, runRel, `${runRel}.ndjson`, inner, options);
            if (run) runs.push(run);
          } else if (e.isDirectory) {
            await visit(join(join(rel, RUN_FILES.runs), e.name), depth + 2, inner);
          }
        }
      } catch { /* no runs/ */ }
      const mine = runs.slice(before);
      const holder = has(RUN_FILES.summary) ? undefined : await lockStatus([dir], options);
      experiments.push({
        name: rel,
        dir,
        experiment: name,
        status: has(RUN_FILES.summary)
          ? "finished"
          : holder
          ? "running"
          : mine.some((r) => r.status === "stopped")
          ? "stopped"
          : "interrupted",
        runs: mine.length,
        finishedRuns: mine.filter((r) => r.status === "finished" || r.status === "stopped").length,
        ...(report ? { report } : {}),
        ...(summary.keyNumbers ? { keyNumbers: summary.keyNumbers } : {}),
        ...(summary.wallMs !== undefined ? { wallMs: summary.wallMs } : {}),
      });
      return;
    }
    if (depth >= MAX_DEPTH) return;
    for (const e of names.sort((a, b) => (a.name < b.name ? -1 : 1))) {
      if (e.isDirectory && !e.name.startsWith(".") && !(rel === "" && e.name === "screenshots")) {
        await visit(join(rel, e.name), depth + 1, inner);
      }
    }
  };
  await visit("", 0);
  runs.sort((a, b) => (a.started ?? "").localeCompare(b.started ?? "") || a.name.localeCompare(b.name));
  experiments.sort((a, b) => a.name.localeCompare(b.name));
  return { root, runs, experiments };
}

/**
 * Scans `root` and (re)writes `root/index.html` linking every report with
 * its key numbers; returns its path. Called after every run and experiment.
 */
export async function writeIndexPage(root: string, options: ScanOptions = {}): Promise<string> {
  const scan = await scanRuns(root, options);
  const path = join(root.replace(/\/+$/, "") || "/", "index.html");
  await writeFileAtomic(path, indexPageHtml({ root, runs: scan.runs, experiments: scan.experiments }), { sync: false });
  return path;
}
