/**
 * `deno task experiment NAME --plan FILE`: writes an experiment's runs as a
 * plan (`store/plan.ts`) instead of running them, and prints the commands
 * that run it on GNU parallel or Slurm and collect its report;
 * `--sbatch FILE [--slots K]` also writes the Slurm batch script (with or
 * without NAME: for a new plan or for the one in `--plan`).
 *
 * A plan's runs live in the experiment's folder as the in-process run's
 * would (`<out>/NAME-DATASET-…-HASH/`), each in `runs/<run>/`. Paths in
 * the plan are relative to the plan's folder when they lie under it, so the
 * plan and its results move together.
 *
 * @module
 */

import { dirname, resolve } from "node:path";
import { writeFileAtomic } from "../store/atomic_write.ts";
import { pathInPlan, type Plan, PLAN_FORMAT, PlanError, planPath, readPlan, writePlan } from "../store/plan.ts";
import { count } from "./cli.ts";
import { fileNameOf } from "./experiments/common.ts";
import type { Task } from "./experiments/tasks.ts";
import type { GemmBackendName } from "../../layers/kernels/gemm_backends.ts";
import type { ExperimentOptions } from "./experiments/common.ts";
import {
  collectCommand,
  indexCommand,
  type LaunchTarget,
  parallelCommand,
  sbatchScript,
  shellQuote,
} from "./launchers.ts";
import { checkPlannedTask, readExperimentPlan, SWEEP_EXIT_CODES } from "./sweep_index.ts";

/** Where the plan commands write (replaceable in tests). */
export interface PlanIO {
  /** A line for stdout. */
  out?: (line: string) => void;
  /** A line for stderr. */
  err?: (line: string) => void;
}

/** What `NAME --plan FILE` asks for. */
export interface PlanRequest {
  /** The experiment's name. */
  experiment: string;
  /** Its options (recorded in the plan's header). */
  options: ExperimentOptions;
  /** Seeds per configuration (`tasks` already has them all). */
  seeds: number;
  /** The gemm backend every run uses (undefined: each run's machine picks). */
  gemm?: GemmBackendName | "auto";
  /** The experiment's folder (its report goes there, its runs under `runs/`). */
  dir: string;
  /** The plan file to write. */
  plan: string;
  /** A Slurm script to write too. */
  sbatch?: string;
  /** With `sbatch`: array tasks at once. */
  slots?: number;
  /** Replace a different plan in `plan`. */
  force: boolean;
}

/** What `--plan FILE --sbatch FILE [--slots K]` asks for. */
export interface SbatchRequest {
  /** The plan. */
  plan: string;
  /** The script to write. */
  sbatch: string;
  /** Array tasks at once (default all). */
  slots?: number;
}

/** Folder (under the experiment's output folder) of the Slurm jobs' output files. */
export const SLURM_LOG_FOLDER = "slurm";

/**
 * The plan of `tasks` (an experiment's runs, `--seeds` already applied):
 * run i is task i, in the folder `<outDir>/runs/<its label as a file name>`.
 *
 * @param planFile where the plan will be stored (paths in it are relative to its folder)
 * @param outDir the experiment's output folder (its report goes there)
 */
export function planOfTasks(
  experiment: string,
  options: Record<string, unknown>,
  tasks: readonly Task[],
  planFile: string,
  outDir: string,
): Plan {
  const used = new Set<string>();
  return {
    header: {
      kind: "plan",
      format: PLAN_FORMAT,
      experiment,
      options,
      runs: tasks.length,
      out: pathInPlan(planFile, outDir),
    },
    runs: tasks.map((task, index) => {
      let name = fileNameOf(task.label);
      for (let k = 2; used.has(name); k++) name = `${fileNameOf(task.label)}-${k}`;
      used.add(name);
      return {
        kind: "run",
        index,
        name: task.label,
        dir: pathInPlan(planFile, `${outDir}/runs/${name}`),
        config: task as unknown as Record<string, unknown>,
      };
    }),
  };
}

/** What an engine needs to run `plan` stored at `planFile` (an absolute path). */
function launchTarget(plan: Plan, planFile: string): LaunchTarget {
  return { plan: resolve(planFile), runs: plan.runs.length, experiment: plan.header.experiment };
}

/** Writes the Slurm script of `plan` to `file`, its jobs' output going under the plan's output folder. */
async function writeSbatch(plan: Plan, planFile: string, file: string, slots: number | undefined): Promise<string> {
  const logDir = resolve(planPath(planFile, plan.header.out), SLURM_LOG_FOLDER);
  await Deno.mkdir(logDir, { recursive: true });
  const script = sbatchScript(launchTarget(plan, planFile), {
    logDir,
    file: resolve(file),
    ...(slots !== undefined ? { slots } : {}),
  });
  await Deno.mkdir(dirname(resolve(file)), { recursive: true });
  await writeFileAtomic(file, script);
  await Deno.chmod(file, 0o755).catch(() => {});
  const k = Math.min(slots ?? plan.runs.length, plan.runs.length);
  return `experiment: Slurm script ${file}: array 0-${plan.runs.length - 1}, ${k} at once; ` +
    `bash ${shellQuote(file)} submits it and the collect job that waits for it`;
}

/**
 * `NAME --plan FILE [--sbatch FILE [--slots K]]`: writes the plan (refusing
 * to replace a different plan in FILE without `--force`), then prints how
 * to run it. Returns the exit code: 0, or 2 for a plan that is in the way.
 */
export async function writeExperimentPlan(args: PlanRequest, tasks: readonly Task[], io: PlanIO = {}): Promise<number> {
  const out = io.out ?? ((line: string) => console.log(line));
  const err = io.err ?? ((line: string) => console.error(line));
  const planFile = args.plan!;
  const outDir = resolve(args.dir);
  const options: Record<string, unknown> = {
    ...args.options,
    seeds: args.seeds,
    ...(args.gemm !== undefined ? { gemm: args.gemm } : {}),
  };
  const plan = planOfTasks(args.experiment, options, tasks, resolve(planFile), outDir);
  for (const run of plan.runs) {
    const problem = checkPlannedTask(run);
    if (problem !== undefined) throw new Error(`writeExperimentPlan: ${problem}`);
  }
  let previous: Plan | undefined;
  try {
    previous = await readPlan(planFile);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound || (e instanceof PlanError && args.force))) {
      err(
        `experiment: --plan ${planFile} exists and is not a plan (${
          (e as Error).message
        }); give another file, or --force to replace it`,
      );
      return SWEEP_EXIT_CODES.usage;
    }
  }
  const same = previous !== undefined && JSON.stringify(previous) === JSON.stringify(plan);
  if (previous !== undefined && !same && !args.force) {
    err(
      `experiment: --plan ${planFile} already holds another plan (${previous.header.experiment}, ${
        count(previous.runs.length, "run")
      }); give another file, or --force to replace it (its runs' folders are kept)`,
    );
    return SWEEP_EXIT_CODES.usage;
  }
  if (!same) {
    await Deno.mkdir(dirname(resolve(planFile)), { recursive: true });
    await writePlan(planFile, plan);
  }
  const target = launchTarget(plan, planFile);
  const quick = args.options.quick ? " (quick)" : "";
  const seeds = args.seeds > 1 ? `, ${args.seeds} seeds each` : "";
  out(
    `experiment: plan ${planFile}${same ? " (unchanged)" : ""}: ${
      count(plan.runs.length, "run")
    } of ${args.experiment}${quick}${seeds}; results in ${outDir}`,
  );
  out(`  one run:       ${indexCommand(target.plan, "I")}   (I from 0 to ${plan.runs.length - 1})`);
  out(`  GNU parallel:  ${parallelCommand(target, { jobs: navigator.hardwareConcurrency || 1 })}`);
  if (args.sbatch === undefined) {
    out(
      `  Slurm:         deno task experiment --plan ${shellQuote(target.plan)} --sbatch sweep.sbatch --slots K && ` +
        "bash sweep.sbatch",
    );
  }
  out(`  report:        ${collectCommand(target.plan)}`);
  if (args.sbatch !== undefined) out(await writeSbatch(plan, planFile, args.sbatch, args.slots));
  return SWEEP_EXIT_CODES.done;
}

/** `--plan FILE --sbatch FILE [--slots K]`: the Slurm script of an existing plan. Returns the exit code. */
export async function writeSbatchOfPlan(args: SbatchRequest, io: PlanIO = {}): Promise<number> {
  const out = io.out ?? ((line: string) => console.log(line));
  const err = io.err ?? ((line: string) => console.error(line));
  const plan = await readExperimentPlan(args.plan, err);
  if (plan === undefined) return SWEEP_EXIT_CODES.usage;
  if (plan.runs.length === 0) {
    err(`experiment: ${args.plan} has no runs to put in a Slurm array`);
    return SWEEP_EXIT_CODES.usage;
  }
  out(await writeSbatch(plan, args.plan, args.sbatch, args.slots));
  return SWEEP_EXIT_CODES.done;
}
