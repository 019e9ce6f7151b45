/**
 * The comparison report of `deno task runs compare`: any runs, from `train`
 * or from experiments, on one page: loss and accuracy overlays, a summary
 * table, and a configuration table showing the settings that differ (a
 * toggle shows them all).
 *
 * Runs whose configurations differ only by their seed form a group, drawn
 * as the mean of its runs with a band from their minimum to their maximum:
 * how much of a difference between settings is more than seed noise.
 *
 * Imports the shared spec and page helpers through `mod.ts` (so it does
 * not follow their files around); `mod.ts` does not re-export this file.
 *
 * @module
 */

import { epochX, splitDash } from "./_accuracy.ts";
import { chartFrame } from "./theme.ts";
import {
  accuracyRows,
  checkLabels,
  FINAL_LOSS_LABEL,
  FINAL_LOSS_TITLE,
  formatDuration,
  formatNumber,
  formatPercent,
  type LabelledRun,
  lossRows,
  meanFinalLoss,
  type Report,
  type ReportTable,
  RUN_COLORS,
  runSeries,
  summarizeRun,
  type VegaLiteSpec,
} from "./mod.ts";

/** A run to compare: its records, a label, and where it came from. */
export interface CompareRun extends LabelledRun {
  /** Where the run's log is, shown in the summary (user text). */
  source?: string;
}

/** Runs that differ only by seed (a group of one is a single run). */
export interface SeedGroup {
  /** The group's label in legends: the settings that set it apart, else its run's label. */
  label: string;
  /** Its runs' labels, in the order given. */
  runs: string[];
  /** Its runs' seeds, in the same order (null where a run does not say). */
  seeds: (number | null)[];
}

/** The seed of a run, as its start record gives it (`run.seed`, else `run.model.seed`). */
export function runSeed(run: LabelledRun): number | null {
  const start = runSeries(run.records).start;
  const seed = start?.run?.seed ?? (start?.run?.model as Record<string, unknown> | undefined)?.seed;
  return typeof seed === "number" ? seed : null;
}

/** Keys that name a run's own output rather than what it trains: never compared. */
const NOT_CONFIG = new Set(["label", "command", "seed", "facts"]);

function flatten(value: unknown, prefix: string, out: Record<string, string>): void {
  if (value !== null && typeof value === "object" && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      if (prefix === "" && NOT_CONFIG.has(k)) continue;
      flatten(v, prefix === "" ? k : `${prefix}.${k}`, out);
    }
    return;
  }
  out[prefix] = typeof value === "string" ? value : JSON.stringify(value) ?? "undefined";
}

/**
 * A run's configuration as flat `key → text` pairs: the Solver's settings
 * from its start record (update rule, learning rate, batch size, epochs,
 * training examples, sampling, …) and whatever the command recorded about
 * the model and data (`run.model.*`, `run.dataset.*`, experiment facts).
 * The seed is left out (see {@link seedGroups}); so are the command line and
 * the run's label.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { runConfig } from "./compare.ts";
 * const start = {
 *   kind: "start", version: 1, time: "", resumed: false, startIteration: 0, updateRule: "adam",
 *   optimConfig: { learningRate: 0.001 }, lrDecay: 1, batchSize: 50, numEpochs: 2, numTrain: 100, numVal: 50,
 *   iterationsPerEpoch: 2, numIterations: 4, sampling: "replacement", numTrainSamples: 1000, numValSamples: null,
 *   params: {}, run: { model: { kind: "fc", hiddenDims: [20] }, seed: 3 },
 * } as const;
 * const config = runConfig({ label: "a", records: [start] });
 * assertEquals(config["learningRate"], "0.001");
 * assertEquals(config["model.hiddenDims"], "[20]");
 * assertEquals("seed" in config, false);
 * ```
 */
export function runConfig(run: LabelledRun): Record<string, string> {
  const start = runSeries(run.records).start;
  if (start === undefined) return {};
  const out: Record<string, string> = {};
  const { seed: _seed, ...model } = (start.run?.model ?? {}) as Record<string, unknown>;
  flatten(
    {
      updateRule: start.updateRule,
      ...Object.fromEntries(Object.entries(start.optimConfig).map(([k, v]) => [k, v])),
      lrDecay: start.lrDecay,
      batchSize: start.batchSize,
      numEpochs: start.numEpochs,
      numTrain: start.numTrain,
      numVal: start.numVal,
      sampling: start.sampling,
      numTrainSamples: start.numTrainSamples,
      numValSamples: start.numValSamples,
    },
    "",
    out,
  );
  const { model: _m, ...rest } = start.run ?? {};
  flatten({ model, ...rest }, "", out);
  // train records its whole config under run.model: drop its copies of what the start record already says.
  for (const k of ["epochs", "batchSize", "numTrain", "numVal", "updateRule", "learningRate", "lrDecay", "shuffle"]) {
    delete out[`model.${k}`];
  }
  return out;
}

/**
 * Groups runs whose configurations ({@link runConfig}) are equal: runs that
 * differ only by seed. Groups come in the order of their first run; a
 * group's label lists the settings that set it apart from the other groups
 * (at most three); a single run keeps its own label, and a lone group of
 * several runs reads `2 runs (seeds 1, 2)`.
 */
export function seedGroups(runs: readonly LabelledRun[]): SeedGroup[] {
  const configs = runs.map(runConfig);
  const byKey = new Map<string, number[]>();
  configs.forEach((c, i) => {
    const key = JSON.stringify(Object.entries(c).sort(([a], [b]) => (a < b ? -1 : 1)));
    byKey.set(key, [...(byKey.get(key) ?? []), i]);
  });
  const members = [...byKey.values()];
  const firsts = members.map((m) => configs[m[0]]);
  const keys = [...new Set(firsts.flatMap(Object.keys))].sort();
  const differing = keys.filter((k) => new Set(firsts.map((c) => c[k])).size > 1);
  return members.map((m) => {
    const first = configs[m[0]];
    const apart = differing.slice(0, 3).map((k) => `${k.replace(/^model\./, "")} ${first[k] ?? "—"}`).join(", ");
    const seeds = m.map((i) => runSeed(runs[i]) ?? "?").join(", ");
    const label = m.length === 1 ? runs[m[0]].label : apart !== "" ? apart : `${m.length} runs (seeds ${seeds})`;
    return { label, runs: m.map((i) => runs[i].label), seeds: m.map((i) => runSeed(runs[i])) };
  });
}

/** One point of a group's curve: the mean over its runs with their minimum and maximum. */
export interface BandRow {
  /** The group's label. */
  group: string;
  /** Steps taken (loss) or epochs (accuracy: fractional for checks inside an epoch). */
  x: number;
  /** The mean over the group's runs that have this point. */
  mean: number;
  /** The smallest of them. */
  min: number;
  /** The largest of them. */
  max: number;
  /** How many runs have this point. */
  n: number;
  /** For accuracy rows: `training` or `validation`. */
  split?: "training" | "validation";
}

function band(group: string, points: Map<number, number[]>, split?: BandRow["split"]): BandRow[] {
  return [...points.entries()].sort(([a], [b]) => a - b).map(([x, values]) => ({
    group,
    x,
    mean: values.reduce((a, v) => a + v, 0) / values.length,
    min: Math.min(...values),
    max: Math.max(...values),
    n: values.length,
    ...(split ? { split } : {}),
  }));
}

/**
 * Each group's smoothed training loss (as `lossRows` smooths it) per kept
 * step: mean, min and max over the group's runs.
 */
export function lossBandRows(runs: readonly LabelledRun[], groups: readonly SeedGroup[]): BandRow[] {
  const byLabel = new Map(runs.map((r) => [r.label, r]));
  return groups.flatMap((g) => {
    const points = new Map<number, number[]>();
    for (const label of g.runs) {
      for (const row of lossRows(byLabel.get(label)!)) {
        points.set(row.iteration, [...(points.get(row.iteration) ?? []), row.smoothed]);
      }
    }
    return band(g.label, points);
  });
}

/** Each group's training and validation accuracy per check: mean, min and max over its runs, by epoch. */
export function accuracyBandRows(runs: readonly LabelledRun[], groups: readonly SeedGroup[]): BandRow[] {
  const byLabel = new Map(runs.map((r) => [r.label, r]));
  return groups.flatMap((g) => {
    const train = new Map<number, number[]>(), val = new Map<number, number[]>();
    for (const label of g.runs) {
      for (const row of accuracyRows(byLabel.get(label)!)) {
        const points = row.split === "train" ? train : val;
        points.set(row.epoch, [...(points.get(row.epoch) ?? []), row.accuracy]);
      }
    }
    return [...band(g.label, train, "training"), ...band(g.label, val, "validation")];
  });
}

function groupColor(groups: readonly SeedGroup[]) {
  const domain = groups.map((g) => g.label);
  return {
    field: "group",
    type: "nominal" as const,
    title: "Run",
    scale: { domain, range: RUN_COLORS },
    sort: domain,
    legend: { symbolOpacity: 1, labelLimit: 320 },
  };
}

function bandTooltip(xTitle: string, format: string) {
  return [
    { field: "group", type: "nominal" as const, title: "Run" },
    { field: "x", type: "quantitative" as const, title: xTitle, format: xTitle === "Epoch" ? ".2~f" : ",d" },
    { field: "mean", type: "quantitative" as const, title: "Mean", format },
    { field: "min", type: "quantitative" as const, title: "Min", format },
    { field: "max", type: "quantitative" as const, title: "Max", format },
    { field: "n", type: "quantitative" as const, title: "Runs" },
  ];
}

/**
 * The loss overlay: each group's smoothed loss, its mean as a line and its
 * min–max over seeds as a band (a single run's band is its line). Data:
 * dataset `loss` ({@link BandRow}s, x = iteration).
 */
export function compareLossSpec(runs: readonly LabelledRun[], groups: readonly SeedGroup[]): VegaLiteSpec {
  checkLabels("compareLossSpec", runs.map((r) => r.label));
  return {
    ...chartFrame(
      "loss",
      lossBandRows(runs, groups),
      "Training loss",
      "Smoothed loss · line: mean over seeds · band: min–max over seeds",
    ),
    width: 700,
    height: 320,
    encoding: {
      x: { field: "x", type: "quantitative", title: "Iteration (optimizer steps)", axis: { format: ",d" } },
      color: groupColor(groups),
      tooltip: bandTooltip("Iteration", ".4f"),
    },
    layer: [
      {
        mark: { type: "area", opacity: 0.18 },
        encoding: { y: { field: "min", type: "quantitative", scale: { zero: false } }, y2: { field: "max" } },
      },
      {
        params: [{ name: "zoom", select: { type: "interval", encodings: ["x", "y"] }, bind: "scales" }],
        mark: { type: "line", interpolate: "monotone" },
        encoding: { y: { field: "mean", type: "quantitative", title: "Training loss (smoothed)" } },
      },
    ],
  };
}

/**
 * The accuracy overlay: validation accuracy (solid line, min–max band over
 * seeds) and training accuracy (dashed, the mean) per epoch for each group.
 * Data: dataset `accuracy` ({@link BandRow}s with `split`, x = epoch).
 */
export function compareAccuracySpec(runs: readonly LabelledRun[], groups: readonly SeedGroup[]): VegaLiteSpec {
  checkLabels("compareAccuracySpec", runs.map((r) => r.label));
  const y = { field: "mean", type: "quantitative" as const, title: "Accuracy", axis: { format: ".0%" } };
  return {
    ...chartFrame(
      "accuracy",
      accuracyBandRows(runs, groups),
      "Accuracy",
      "Solid: validation (band: min–max over seeds) · dashed: training (subsample), mean over seeds",
    ),
    width: 700,
    height: 320,
    encoding: {
      x: { field: "x", type: "quantitative", title: "Epoch", axis: epochX.axis },
      color: groupColor(groups),
      tooltip: [...bandTooltip("Epoch", ".2%"), { field: "split", type: "nominal", title: "Split" }],
    },
    layer: [
      {
        transform: [{ filter: { field: "split", equal: "validation" } }],
        mark: { type: "area", opacity: 0.18 },
        encoding: { y: { field: "min", type: "quantitative" }, y2: { field: "max" } },
      },
      {
        mark: { type: "line", point: { size: 30 } },
        encoding: {
          y,
          strokeDash: splitDash("training"),
        },
      },
    ],
  };
}

/**
 * The configuration table: a row per setting, a column per run, and the
 * seed last; `differing` shows the settings that differ, `all` every one
 * and where each run's log is.
 */
export function configTable(runs: readonly CompareRun[], which: "differing" | "all"): ReportTable {
  const configs = runs.map(runConfig);
  const keys = [...new Set(configs.flatMap(Object.keys))].sort();
  const shown = which === "all" ? keys : keys.filter((k) => new Set(configs.map((c) => c[k])).size > 1);
  return {
    columns: ["Setting", ...runs.map((r) => r.label)],
    rows: [
      ...shown.map((k) => [k, ...configs.map((c) => c[k] ?? null)]),
      ["seed", ...runs.map((r) => String(runSeed(r) ?? "—"))],
      ...(which === "all" && runs.some((r) => r.source) ? [["run log", ...runs.map((r) => r.source ?? null)]] : []),
    ],
  };
}

/** What {@link compareReport} builds a report from. */
export interface CompareReportInput {
  /** The runs, each with a unique label. */
  runs: readonly CompareRun[];
  /** Page title. Default "Comparing N runs". */
  title?: string;
  /** When the report was made. Default now. */
  generatedAt?: Date | string;
}

const range = (values: number[], f: (v: number) => string) => {
  const lo = Math.min(...values), hi = Math.max(...values);
  return values.length > 1 ? `${f(values.reduce((a, v) => a + v, 0) / values.length)} (${f(lo)}–${f(hi)})` : f(lo);
};

/**
 * The comparison report (see the module docs): headline numbers, a table of
 * the runs, a table of the seed groups (when any group has several runs),
 * the loss and accuracy overlays, and the configuration.
 */
export function compareReport(input: CompareReportInput): Report {
  const runs = input.runs;
  checkLabels("compareReport", runs.map((r) => r.label));
  if (runs.length === 0) throw new RangeError("compareReport: no runs to compare");
  const groups = seedGroups(runs);
  const summaries = runs.map(summarizeRun);
  const groupOf = new Map(groups.flatMap((g) => g.runs.map((l) => [l, g.label] as const)));
  const best = summaries.reduce((a, s) => ((s.bestValAcc ?? -1) > (a.bestValAcc ?? -1) ? s : a));
  const pct = (v: number | undefined) => formatPercent(v) ?? null;
  const summary: ReportTable = {
    columns: [
      "Run",
      { label: "Seed", numeric: true },
      "Status",
      { label: "Iterations", numeric: true },
      { label: "Best val acc", numeric: true },
      { label: "Final train acc", numeric: true },
      { label: "Final val acc", numeric: true },
      { label: FINAL_LOSS_LABEL, numeric: true, title: FINAL_LOSS_TITLE },
      { label: "Training time", numeric: true },
    ],
    rows: runs.map((run, i) => {
      const s = summaries[i];
      const loss = meanFinalLoss(run.records);
      return [
        // The group shows on hover: a column of it would push the numbers off a narrow page.
        groupOf.get(run.label) === run.label
          ? run.label
          : { text: run.label, title: `Group: ${groupOf.get(run.label)}` },
        runSeed(run),
        s.status === "running"
          ? { text: "unfinished", tone: "muted" as const }
          : s.status === "finished"
          ? { text: "finished", tone: "good" as const }
          : { text: "stopped", tone: "bad" as const, title: s.stoppedMessage },
        s.numIterations !== undefined && s.numIterations !== s.iterations
          ? { text: `${formatNumber(s.iterations)} / ${formatNumber(s.numIterations)}`, numeric: true }
          : s.iterations,
        s === best && runs.length > 1
          ? { text: formatPercent(s.bestValAcc) ?? "—", numeric: true, tone: "strong" as const }
          : pct(s.bestValAcc),
        pct(s.finalTrainAcc),
        pct(s.finalValAcc),
        loss === null ? null : { text: loss.toFixed(4), numeric: true },
        formatDuration(s.trainingMs) ?? null,
      ];
    }),
  };
  const sections: Report["sections"] = [];
  if (groups.some((g) => g.runs.length > 1)) {
    sections.push({
      heading: "Seed groups",
      text: "Runs whose settings are equal but for the seed, taken together: the mean over their seeds, " +
        "with the smallest and largest value in brackets.",
      table: {
        columns: [
          "Group",
          { label: "Runs", numeric: true },
          "Seeds",
          { label: "Best val acc", numeric: true },
          { label: FINAL_LOSS_LABEL, numeric: true, title: FINAL_LOSS_TITLE },
        ],
        rows: groups.map((g) => {
          const members = g.runs.map((l) => runs.find((r) => r.label === l)!);
          const bests = members.map((r) => summarizeRun(r).bestValAcc).filter((v): v is number => v !== undefined);
          const losses = members.map((r) => meanFinalLoss(r.records)).filter((v): v is number => v !== null);
          return [
            g.label,
            g.runs.length,
            g.seeds.map((s) => s ?? "?").join(", "),
            bests.length ? { text: range(bests, (v) => formatPercent(v)!), numeric: true } : null,
            losses.length ? { text: range(losses, (v) => v.toFixed(4)), numeric: true } : null,
          ];
        }),
      },
    });
  }
  sections.push(
    {
      heading: "Training loss",
      text: "Each run's loss smoothed by an exponential moving average (as in its own report). " +
        "Runs that differ only by seed are one line, their mean, with a band from their lowest to their highest value.",
      spec: compareLossSpec(runs, groups),
    },
    {
      heading: "Accuracy",
      text:
        "Validation accuracy (solid, with the band over seeds) and training accuracy on a subsample (dashed) at every check.",
      spec: compareAccuracySpec(runs, groups),
    },
    {
      heading: "Configuration",
      text: "The settings that differ between the runs (the seed always shown).",
      table: configTable(runs, "differing"),
      more: { summary: "Show all settings", table: configTable(runs, "all") },
    },
  );
  return {
    title: input.title ?? `Comparing ${runs.length} runs`,
    description: `${runs.length} runs in ${groups.length} group${groups.length === 1 ? "" : "s"}` +
      (groups.some((g) => g.runs.length > 1) ? " (runs that differ only by seed are drawn together)." : "."),
    highlights: [
      ...(best.bestValAcc !== undefined
        ? [{ label: "Best validation accuracy", value: formatPercent(best.bestValAcc)!, note: best.label }]
        : []),
      { label: "Runs", value: String(runs.length), note: `${groups.length} group${groups.length === 1 ? "" : "s"}` },
    ],
    summary,
    sections,
    generatedAt: input.generatedAt,
  };
}
