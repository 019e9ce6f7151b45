/**
 * `deno task runs`: lists every run under `out/` (or DIR), and compares
 * runs on one page.
 *
 * ```
 * deno task runs [DIR] [--json]
 * deno task runs compare RUN… [--to FILE]
 * ```
 *
 * A RUN of `compare` is a run folder (holding `run.ndjson`), a run log, or
 * an experiment folder (all its runs).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { compareReport, type CompareRun } from "../../reports/compare.ts";
import { writeReport } from "../../reports/render.ts";
import { formatDuration, formatPercent } from "../../reports/format.ts";
import { RUN_FILES } from "../store/run_folder.ts";
import { readRunLog } from "../store/run_log.ts";
import { commandErrorExit } from "./cli.ts";
import { type RunEntry, scanRuns, writeIndexPage } from "./run_index.ts";

/** A command-line mistake of `runs` (exit code 2, one line). */
export class RunsUsageError extends Error {
  /** @param message the line after `runs: ` */
  constructor(message: string) {
    super(message);
    this.name = "RunsUsageError";
  }
}

/** The usage text printed by `--help`. */
export function runsUsage(): string {
  return `Usage: deno task runs [DIR] [--json]
       deno task runs compare RUN… [--to FILE]

Lists every run under DIR (default out): its name (the folder), the command that made it, model,
dataset, status (running, finished, stopped: the loss stopped being finite, interrupted: ended
without finishing), iterations, best validation accuracy, final training accuracy, training time
and start. Also rewrites DIR/index.html, which links every report.

compare renders one self-contained report of the RUNs (run folders, run logs, or experiment
folders for all their runs): loss and accuracy overlays, a summary table and the settings that
differ. Runs that differ only by seed are drawn as their mean with a min–max band.

Flags
  --json             list as JSON (one object per run and per experiment folder), for scripts
  --to FILE          compare: where to write the report (default DIR/compare.html, DIR being
                     the folder above the first RUN)
  --help             this text
`;
}

/** Where `main` writes (replaceable in tests). */
export interface RunsIO {
  /** A line for stdout. */
  out?: (line: string) => void;
  /** A line for stderr. */
  err?: (line: string) => void;
}

const FLAGS = { json: { type: "boolean" }, to: { type: "string" }, help: { type: "boolean" } } as const;

function parse(args: string[]) {
  try {
    return parseArgs({ args, options: FLAGS, strict: true, allowPositionals: true });
  } catch (e) {
    const message = (e as Error).message ?? String(e);
    const flag = /'(-[^' ]+)/.exec(message)?.[1] ?? "";
    const code = (e as { code?: string }).code;
    if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") {
      throw new RunsUsageError(`unknown flag ${flag}; expected [DIR] --json, or compare RUN… --to FILE`);
    }
    if (message.includes("does not take an argument")) throw new RunsUsageError(`${flag} takes no value`);
    throw new RunsUsageError(`${flag || "a flag"} expects a value`);
  }
}

/** Rows of text as an aligned table (numbers right-aligned). */
export function textTable(header: string[], rows: string[][], numeric: boolean[]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (numeric[i] ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join("  ").trimEnd();
  return [line(header), ...rows.map(line)];
}

function iterationsText(r: RunEntry): string {
  return r.planned !== undefined && r.planned !== r.iterations
    ? `${r.iterations.toLocaleString("en-US")}/${r.planned.toLocaleString("en-US")}`
    : r.iterations.toLocaleString("en-US");
}

/** The lines of `deno task runs` for a scan. */
export function runsTable(runs: readonly RunEntry[]): string[] {
  return textTable(
    ["NAME", "COMMAND", "MODEL", "DATASET", "STATUS", "ITERATIONS", "BEST VAL", "TRAIN ACC", "TIME", "STARTED"],
    runs.map((r) => [
      r.name,
      r.command,
      r.model,
      r.dataset,
      r.status === "running" && r.holder ? `running (pid ${r.holder.pid})` : r.status,
      iterationsText(r),
      formatPercent(r.bestValAcc) ?? "—",
      formatPercent(r.finalTrainAcc) ?? "—",
      formatDuration(r.trainingMs) ?? "—",
      r.started ? r.started.slice(0, 16).replace("T", " ") : "—",
    ]),
    [false, false, false, false, false, true, true, true, true, false],
  );
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isDirectory;
  } catch {
    return false;
  }
}

/** The runs a `compare` argument names: a run folder, a run log, or an experiment folder's runs. */
async function runsOf(arg: string): Promise<{ label: string; log: string }[]> {
  const path = arg.replace(/\/+$/, "") || "/";
  if (await isDirectory(path)) {
    try {
      await Deno.stat(`${path}/${RUN_FILES.log}`);
      return [{ label: path.split("/").pop()!, log: `${path}/${RUN_FILES.log}` }];
    } catch { /* not a run folder */ }
    const scan = await scanRuns(path);
    if (scan.runs.length === 0) throw new RunsUsageError(`${arg} holds no runs (no ${RUN_FILES.log} under it)`);
    return scan.runs.map((r) => ({ label: r.name.split("/").pop()!, log: r.log }));
  }
  try {
    await Deno.stat(path);
  } catch {
    throw new RunsUsageError(`${arg} is not a run folder, run log or experiment folder (it does not exist)`);
  }
  return [{ label: path.split("/").pop()!.replace(/\.ndjson$/, ""), log: path }];
}

/** Labels made unique by prefixing parent folder names where two runs share one. */
function uniqueLabels(runs: { label: string; log: string }[]): string[] {
  const labels = runs.map((r) => r.label);
  for (let depth = 1; new Set(labels).size < labels.length && depth < 6; depth++) {
    const counts = new Map<string, number>();
    for (const l of labels) counts.set(l, (counts.get(l) ?? 0) + 1);
    runs.forEach((r, i) => {
      if (counts.get(labels[i])! > 1) {
        const parts = r.log.replace(new RegExp(`/${RUN_FILES.log}$`), "").split("/");
        labels[i] = parts.slice(-1 - depth).join("/");
      }
    });
  }
  return labels.map((l, i) => (labels.indexOf(l) === i ? l : `${l} (${i + 1})`));
}

async function compare(positionals: string[], to: string | undefined, out: (line: string) => void): Promise<void> {
  if (positionals.length === 0) {
    throw new RunsUsageError("compare expects one or more run folders, run logs or experiment folders");
  }
  const found = (await Promise.all(positionals.map(runsOf))).flat();
  const labels = uniqueLabels(found);
  const runs: CompareRun[] = [];
  for (const [i, r] of found.entries()) {
    runs.push({ label: labels[i], records: await readRunLog(r.log), source: r.log });
  }
  const first = positionals[0].replace(/\/+$/, "");
  const target = to ?? `${first.includes("/") ? first.slice(0, first.lastIndexOf("/")) : "."}/compare.html`;
  await writeReport(target, compareReport({ runs }));
  out(`runs: compared ${runs.length} runs: ${target}`);
}

/**
 * The command: lists or compares runs. Returns the exit code: 0 done,
 * 1 a file could not be read or written, 2 a command-line mistake.
 */
export async function main(args: string[], io: RunsIO = {}): Promise<number> {
  const out = io.out ?? ((line: string) => console.log(line));
  const err = io.err ?? ((line: string) => console.error(line));
  try {
    const { values, positionals } = parse(args);
    if (values.help) {
      out(runsUsage().trimEnd());
      return 0;
    }
    if (positionals[0] === "compare") {
      if (values.json) throw new RunsUsageError("--json applies to the list, not to compare");
      await compare(positionals.slice(1), values.to, out);
      return 0;
    }
    if (values.to !== undefined) throw new RunsUsageError("--to applies to compare (runs compare RUN… --to FILE)");
    if (positionals.length > 1) {
      throw new RunsUsageError(`expects one folder, got ${positionals.map((p) => JSON.stringify(p)).join(" ")}`);
    }
    const root = positionals[0] ?? "out";
    if (!(await isDirectory(root))) {
      if (values.json) {
        out(JSON.stringify({ root, runs: [], experiments: [] }, null, 2));
        return 0;
      }
      out(`runs: no runs in ${root} (it does not exist yet): deno task train starts one`);
      return 0;
    }
    const scan = await scanRuns(root);
    if (values.json) {
      out(JSON.stringify(scan, null, 2));
      return 0;
    }
    if (scan.runs.length === 0) out(`runs: no runs in ${root}`);
    else for (const line of runsTable(scan.runs)) out(line);
    out(`runs: ${scan.runs.length} run${scan.runs.length === 1 ? "" : "s"}; index ${await writeIndexPage(root)}`);
    return 0;
  } catch (e) {
    return commandErrorExit("runs", e, err, (e) => e instanceof RunsUsageError);
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
