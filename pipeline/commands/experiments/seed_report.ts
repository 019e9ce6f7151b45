/**
 * The report of an experiment run with `--seeds K` (K > 1): the
 * experiment's own report of the first seed's runs, under the labels they
 * have without `--seeds` (so its charts and tables read as usual), followed
 * by a section "Over K seeds": every configuration's best and final numbers
 * as mean (min–max) over its seeds, and its loss and accuracy curves as a
 * mean line with a min–max band, drawn by the comparison report's charts
 * (`reports/compare.ts`).
 *
 * With one seed per configuration the experiment's report is returned as
 * it is, byte for byte the report without `--seeds`.
 *
 * @module
 */

import { compareAccuracySpec, compareLossSpec } from "../../../reports/compare.ts";
import { formatPercent } from "../../../reports/format.ts";
import type { ReportSection, ReportTable } from "../../../reports/html.ts";
import { type LabelledRun, meanFinalLoss, summarizeRun } from "../../../reports/run_data.ts";
import type { Experiment, ExperimentOutcome, ExperimentReport } from "./common.ts";
import type { SeedGroup } from "./seeds.ts";

/**
 * `mean (min–max)` of `values`, the mean with `f` and the bounds with
 * `bound` (the unit once: `27.17 % (26.00–28.50)`), or the value alone when
 * there is one; null when there is none.
 */
function meanRange(
  values: number[],
  f: (v: number) => string,
  bound: (v: number) => string = f,
): { text: string; numeric: true } | null {
  if (values.length === 0) return null;
  const mean = values.reduce((a, v) => a + v, 0) / values.length;
  const lo = Math.min(...values), hi = Math.max(...values);
  return { text: values.length > 1 ? `${f(mean)} (${bound(lo)}–${bound(hi)})` : f(mean), numeric: true };
}

/** The first seed's part of `outcome`, relabelled from `label (seed S)` to each group's label. */
function firstSeedOutcome(outcome: ExperimentOutcome, groups: readonly SeedGroup[]): ExperimentOutcome {
  const base = new Map(groups.map((g) => [g.runs[0], g.label]));
  return {
    ...outcome,
    tasks: outcome.tasks.filter((t) => base.has(t.label)).map((t) => ({ ...t, label: base.get(t.label)! })),
    runs: outcome.runs.filter((r) => base.has(r.label)).map((r) => ({ label: base.get(r.label)!, records: r.records })),
    results: new Map(
      [...outcome.results].filter(([label]) => base.has(label)).map((
        [label, r],
      ) => [base.get(label)!, { ...r, label: base.get(label)! }]),
    ),
  };
}

/**
 * The "Over K seeds" section: a table of every configuration's numbers over
 * its seeds, then the loss and accuracy curves, mean line and min–max band.
 */
export function seedSections(runs: readonly LabelledRun[], groups: readonly SeedGroup[]): ReportSection[] {
  const byLabel = new Map(runs.map((r) => [r.label, r]));
  const seeds = Math.max(...groups.map((g) => g.runs.length));
  const pct = (v: number) => formatPercent(v)!;
  const points = (v: number) => (100 * v).toFixed(2);
  const table: ReportTable = {
    columns: [
      "Configuration",
      { label: "Seeds", numeric: true, title: "Seeds of the configuration's runs (hover a count for them)" },
      { label: "Best val acc", numeric: true, title: "Mean over the seeds (lowest–highest)" },
      { label: "Final train acc", numeric: true, title: "Mean over the seeds (lowest–highest)" },
      { label: "Final val acc", numeric: true, title: "Mean over the seeds (lowest–highest)" },
      {
        label: "Final loss",
        numeric: true,
        title: "Mean loss of the last 100 steps: mean over the seeds (lowest–highest)",
      },
    ],
    rows: groups.map((g) => {
      const members = g.runs.map((l) => byLabel.get(l)).filter((r): r is LabelledRun => r !== undefined);
      const summaries = members.map(summarizeRun);
      const values = (pick: (s: ReturnType<typeof summarizeRun>) => number | undefined) =>
        summaries.map(pick).filter((v): v is number => v !== undefined);
      return [
        g.label,
        { text: String(g.seeds.length), numeric: true, title: `seeds ${g.seeds.join(", ")}` },
        meanRange(values((s) => s.bestValAcc), pct, points),
        meanRange(values((s) => s.finalTrainAcc), pct, points),
        meanRange(values((s) => s.finalValAcc), pct, points),
        meanRange(
          members.map((r) => meanFinalLoss(r.records)).filter((v): v is number => v !== null),
          (v) => v < 1e4 ? v.toFixed(4) : v.toExponential(2),
        ),
      ];
    }),
  };
  return [
    {
      heading: `Over ${seeds} seeds`,
      text: `Every configuration ran with ${seeds} seeds (initial weights, minibatches, dropout masks). The numbers ` +
        "are the mean over the seeds with the lowest and highest in brackets: a difference between configurations " +
        "smaller than these ranges may be the seed's.",
      table,
    },
    {
      heading: `Training loss over ${seeds} seeds`,
      text: "Each configuration's smoothed loss: its mean over the seeds as a line, from the lowest to the highest " +
        "seed as a band.",
      spec: compareLossSpec(runs, groups),
    },
    {
      heading: `Accuracy over ${seeds} seeds`,
      text: "Validation accuracy (solid, with its band from the lowest to the highest seed) and training accuracy " +
        "on a subsample (dashed, the mean) at every check.",
      spec: compareAccuracySpec(runs, groups),
    },
  ];
}

/**
 * The report of `outcome` (see the module docs): `experiment.report` itself
 * when every group has one run, else the first seed's report followed by
 * {@link seedSections}. Key numbers are the first seed's, plus `seeds` and
 * `bestValAccSeedRangeMax` (the widest range of best validation accuracy
 * over one configuration's seeds).
 *
 * @param outcome every run, labelled as `expandSeeds` labels them
 * @param groups `expandSeeds`'s groups: each configuration's label and its runs' labels, first seed first
 */
export async function experimentReport(
  experiment: Experiment,
  outcome: ExperimentOutcome,
  groups: readonly SeedGroup[],
): Promise<ExperimentReport> {
  if (groups.every((g) => g.runs.length <= 1)) return await experiment.report(outcome);
  const first = await experiment.report(firstSeedOutcome(outcome, groups));
  const seeds = Math.max(...groups.map((g) => g.runs.length));
  const trained = groups.filter((g) => outcome.runs.some((r) => r.label === g.runs[0]));
  const byLabel = new Map(outcome.runs.map((r) => [r.label, r]));
  const widest = Math.max(
    0,
    ...trained.map((g) => {
      const best = g.runs.map((l) => summarizeRun(byLabel.get(l)!).bestValAcc).filter((v) => v !== undefined);
      return best.length > 0 ? Math.max(...best) - Math.min(...best) : 0;
    }),
  );
  const note =
    `Seeds: every configuration ran with ${seeds} seeds (${
      groups[0].seeds.join(", ")
    } for the first). The sections above show the runs of each configuration's first seed, as the experiment does ` +
    `without --seeds; "Over ${seeds} seeds" shows them all.`;
  return {
    report: {
      ...first.report,
      description: first.report.description ? `${first.report.description}\n\n${note}` : note,
      sections: [...first.report.sections, ...(trained.length > 0 ? seedSections(outcome.runs, trained) : [])],
    },
    keyNumbers: { ...first.keyNumbers, seeds, bestValAccSeedRangeMax: widest },
  };
}
