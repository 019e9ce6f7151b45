/**
 * `deno task experiment --plan FILE --collect`: the experiment's report
 * from a plan's runs, wherever they ran (GNU parallel, a Slurm array, a
 * Kubernetes Indexed Job, one `--index` at a time by hand).
 *
 * When every run has finished, the report is the experiment's own, made
 * from the runs' records and results exactly as the in-process workers make
 * it: the same bytes but for its time stamp and the configuration rows that
 * say how the runs ran (`ran` instead of `workers`, and the gemm threads).
 * While some have not, it renders what there is as a comparison of the
 * finished runs (`reports/compare.ts`), marked partial, lists the others
 * by index with their state (not started, running, interrupted at
 * iteration N, failed and why), and exits non-zero: 1 when a run failed, 3
 * when runs are only missing, so a pipeline can wait on it.
 *
 * @module
 */

import { dirname } from "node:path";
import { writeReport } from "../../reports/render.ts";
import type { LabelledRun } from "../../reports/run_data.ts";
import { writeFileAtomic } from "../store/atomic_write.ts";
import { pathInPlan, planPath } from "../store/plan.ts";
import { readRunLog } from "../store/run_log.ts";
import { count } from "./cli.ts";
import type { ExperimentOptions, ExperimentOutcome } from "./experiments/common.ts";
import { findExperiment } from "./experiments/index.ts";
import { experimentReport } from "./experiments/seed_report.ts";
import { seedGroupsOf } from "./experiments/seeds.ts";
import type { Task, TaskResult } from "./experiments/tasks.ts";
import { indexCommand } from "./launchers.ts";
import { writeIndexPage } from "./run_index.ts";
import {
  describePlannedRunState,
  plannedRunPaths,
  type PlannedRunState,
  plannedRunState,
  readExperimentPlan,
  SWEEP_EXIT_CODES,
} from "./sweep_index.ts";

/** What `--plan FILE --collect` asks for. */
export interface CollectRequest {
  /** The plan. */
  plan: string;
  /** No progress line on stderr. */
  quiet?: boolean;
}

/** Where `collectPlan` writes (replaceable in tests). */
export interface CollectIO {
  /** A line for stdout. */
  out?: (line: string) => void;
  /** A line for stderr. */
  err?: (line: string) => void;
}

/** The experiment options a plan's header records (`seeds` and `gemm` are the plan's own). */
function experimentOptions(options: Record<string, unknown>): ExperimentOptions {
  const { seeds: _seeds, gemm: _gemm, ...rest } = options;
  return rest as unknown as ExperimentOptions;
}

/** How the collected runs ran, for the report's configuration (the row that differs from the workers' report). */
export function collectedEngine(planFile: string): string {
  return `one process per run (${indexCommand(planFile, "I")}), collected`;
}

/** The gemm backends and thread counts the runs reported, in words: one when they agree. */
function gemmOf(results: readonly { gemm: string; threads?: number }[]): string {
  const seen = [
    ...new Set(results.map((r) => {
      const t = r.threads ?? 1;
      return `${r.gemm}; one process per run × ${t} thread${t === 1 ? "" : "s"}`;
    })),
  ];
  return seen.length === 1 ? seen[0] : `varied: ${seen.join(" | ")}`;
}

/**
 * Collects the plan `args.plan` (see the module docs) and returns the exit
 * code: 0 every run finished and the report is written, 1 a run failed, 2
 * a plan that cannot be read, 3 runs not finished yet.
 */
export async function collectPlan(args: CollectRequest, io: CollectIO = {}): Promise<number> {
  const out = io.out ?? ((line: string) => console.log(line));
  const err = io.err ?? ((line: string) => console.error(line));
  const plan = await readExperimentPlan(args.plan, err);
  if (plan === undefined) return SWEEP_EXIT_CODES.usage;
  const experiment = findExperiment(plan.header.experiment);
  if (experiment === undefined) {
    err(`experiment: ${args.plan}: unknown experiment ${JSON.stringify(plan.header.experiment)} in its header`);
    return SWEEP_EXIT_CODES.usage;
  }
  const tasks = plan.runs.map((r) => r.config as unknown as Task);
  const seeds = Number(plan.header.options.seeds ?? 1);
  let groups;
  try {
    groups = seedGroupsOf(tasks, seeds);
  } catch (e) {
    err(`experiment: ${args.plan}: its runs are not ${seeds} seeds of each configuration (${(e as Error).message})`);
    return SWEEP_EXIT_CODES.usage;
  }
  const dirs = plan.runs.map((r) => planPath(args.plan, r.dir));
  const states: PlannedRunState[] = await Promise.all(dirs.map(plannedRunState));
  const outDir = planPath(args.plan, plan.header.out);
  const reportPath = `${outDir}/report.html`;
  await Deno.mkdir(outDir, { recursive: true });

  const finished = plan.runs.filter((_, i) => states[i].state === "finished");
  const records = new Map<string, LabelledRun>();
  for (const [i, run] of plan.runs.entries()) {
    if (states[i].state === "finished" && tasks[i].kind === "train") {
      records.set(run.name, { label: run.name, records: await readRunLog(plannedRunPaths(dirs[i]).log) });
    }
  }
  if (!args.quiet) {
    err(`experiment: collecting ${args.plan}: ${finished.length} of ${count(plan.runs.length, "run")} finished`);
  }

  if (finished.length === plan.runs.length) {
    const results = states.map((s) => (s as Extract<PlannedRunState, { state: "finished" }>).result);
    const outcome: ExperimentOutcome = {
      options: experimentOptions(plan.header.options),
      tasks,
      runs: tasks.filter((t) => t.kind === "train").map((t) => records.get(t.label)!),
      results: new Map<string, TaskResult>(results.map((r) => [r.result.label, r.result])),
      wallMs: results.reduce((a, r) => a + r.result.wallMs, 0),
      workers: 0,
      engine: collectedEngine(args.plan),
      gemm: gemmOf(results),
    };
    const { report, keyNumbers } = await experimentReport(experiment, outcome, groups);
    await writeReport(reportPath, report);
    const summary = {
      experiment: experiment.name,
      options: outcome.options,
      ...(seeds > 1 ? { seeds } : {}),
      plan: args.plan,
      ran: outcome.engine,
      gemm: outcome.gemm,
      runsWallMs: Math.round(outcome.wallMs),
      tasks: results.map((r, i) => ({
        label: r.result.label,
        wallMs: Math.round(r.result.wallMs),
        ...(r.result.stopped !== undefined ? { stopped: r.result.stopped } : {}),
        ...(tasks[i].kind === "train"
          ? { records: pathInPlan(`${outDir}/summary.json`, plannedRunPaths(dirs[i]).log) }
          : {}),
      })),
      keyNumbers,
    };
    await writeFileAtomic(`${outDir}/summary.json`, JSON.stringify(summary, null, 2) + "\n");
    out(`experiment: report ${reportPath} (all ${count(plan.runs.length, "run")} of ${args.plan})`);
    out(`experiment: key numbers ${outDir}/summary.json`);
    await writeIndexPage(dirname(outDir)).then((path) => out(`experiment: all runs ${path}`), () => {});
    return SWEEP_EXIT_CODES.done;
  }

  const failed = states.filter((s) => s.state === "failed").length;
  for (const [i, run] of plan.runs.entries()) {
    if (states[i].state !== "finished") out(`  ${i}: ${run.name}: ${describePlannedRunState(states[i])}`);
  }
  if (records.size > 0) {
    const { compareReport } = await import("../../reports/compare.ts");
    const missing = plan.runs.length - finished.length;
    const report = compareReport({
      runs: [...records.values()],
      title: `${experiment.title}: ${finished.length} of ${plan.runs.length} runs (partial)`,
    });
    report.description =
      `Partial: ${count(missing, "run")} of the plan ${args.plan} ${
        missing === 1 ? "has" : "have"
      } not finished (listed by \`--collect\`); this page compares the runs that have. ` +
      `Collect again once they are done for the experiment's own report.\n\n${report.description ?? ""}`;
    await writeReport(reportPath, report);
    out(`experiment: partial report ${reportPath} (${finished.length} of ${plan.runs.length} runs)`);
  }
  out(
    `experiment: ${count(plan.runs.length - finished.length, "run")} of ${args.plan} not finished` +
      (failed > 0 ? ` (${failed} failed)` : "") + `; run each with: ${indexCommand(args.plan, "I")}`,
  );
  return failed > 0 ? SWEEP_EXIT_CODES.failed : SWEEP_EXIT_CODES.missing;
}
