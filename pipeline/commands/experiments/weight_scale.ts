/**
 * `weight-scale`: the BatchNormalization notebook's weight-initialization
 * sweep. An eight-layer net (seven hidden layers of 50) trained from 20
 * weight scales `logspace(-4, 0)`, with and without batch norm (1,000
 * images, 10 epochs, batch 50, Adam 1e-3): batch norm is far less sensitive
 * to the scale of the initial weights.
 *
 * @module
 */

import type { ReportTable } from "../../../reports/html.ts";
import { meanFinalLoss } from "../../../reports/run_data.ts";
import { formatPercent, percentCell } from "../../../reports/format.ts";
import { weightScaleRows, type WeightScaleRun, weightScaleSpec } from "../../../reports/specs.ts";
import {
  adamSolver,
  type Experiment,
  type ExperimentOptions,
  experimentScale,
  fcModel,
  logspace,
  reportFrame,
  runByLabel,
  runNumbers,
  trainTask,
} from "./common.ts";
import type { Task, TrainTask } from "./tasks.ts";

const QUICK = "5 weight scales logspace(-4, 0, 5) instead of 20, 500 training and 200 validation images, 3 epochs.";
const GROUPS = ["baseline", "batchnorm"] as const;
const HIDDEN = [50, 50, 50, 50, 50, 50, 50];

/** The label of the run of `group` at weight scale `scale`. */
export function weightScaleLabel(group: string, scale: number): string {
  return `${group} σ=${scale.toExponential(2)}`;
}

/** The weight scales of the sweep: `logspace(-4, 0, 20)`, or 5 in quick mode. */
export function weightScales(options: ExperimentOptions): number[] {
  return logspace(-4, 0, options.quick ? 5 : 20);
}

/** How much a group's best validation accuracy depends on the weight scale. */
export interface Sensitivity {
  /** Lowest best validation accuracy over the scales. */
  min: number;
  /** Highest. */
  max: number;
  /** Scales whose best validation accuracy is within 5 points of the group's highest. */
  within5: number;
  /** Scales tried. */
  scales: number;
}

function sensitivity(values: number[]): Sensitivity {
  const max = Math.max(...values), min = Math.min(...values);
  return { min, max, within5: values.filter((v) => v >= max - 0.05).length, scales: values.length };
}

/**
 * Shows the final-loss panel of `weightScaleSpec` from `low` to 3.5 as the
 * notebook does (`set_ylim(1.0, 3.5)`): the baseline's losses at large scales
 * run into the millions and would flatten every other point. Marks beyond
 * the range are clipped.
 */
function clipLossPanel(spec: object, low: number): void {
  const panels = (spec as {
    hconcat?: {
      title?: unknown;
      encoding?: { y?: { field?: string; scale?: unknown } };
      layer?: { mark: object }[];
    }[];
  }).hconcat ?? [];
  for (const panel of panels) {
    if (panel.encoding?.y?.field !== "finalTrainLoss") continue;
    panel.encoding.y.scale = { domain: [low, 3.5], zero: false, nice: false };
    panel.title = "Final training loss (axis 1–3.5, as the notebook)";
    for (const layer of panel.layer ?? []) layer.mark = { ...layer.mark, clip: true };
  }
}

/** The course's weight-initialization sweep, baseline vs batch norm. */
export const weightScaleExperiment: Experiment = {
  name: "weight-scale",
  title: "Batch normalization and weight initialization",
  summary:
    "FC [50]×7 from 20 weight scales logspace(-4, 0), baseline vs batch norm: 40 runs (best accuracies, final loss)",
  quick: QUICK,
  trains: true,
  plan(options) {
    const { data, numEpochs } = experimentScale(options, { numTrain: [1000, 500], numEpochs: [10, 3] });
    const solver = adamSolver(1e-3, 50, numEpochs);
    const tasks: Task[] = [];
    for (const scale of weightScales(options)) {
      for (const group of GROUPS) {
        tasks.push(trainTask(weightScaleLabel(group, scale), options, {
          data,
          solver,
          model: fcModel(HIDDEN, { weightScale: scale, normalization: group === "batchnorm" ? "batchnorm" : null }),
          facts: { group, weightScale: scale },
        }));
      }
    }
    return Promise.resolve(tasks);
  },
  report(outcome) {
    const scales = weightScales(outcome.options);
    const sweep: WeightScaleRun[] = outcome.tasks.map((t) => {
      const facts = (t as TrainTask).facts!;
      return {
        group: String(facts.group),
        weightScale: Number(facts.weightScale),
        records: runByLabel(outcome, t.label).records,
      };
    });
    // The final training loss is the notebook's: the mean of the last 100 steps (weightScaleRows' default).
    const rows = weightScaleRows(sweep);
    const spec = weightScaleSpec(sweep, {
      subtitle: "Best validation and training accuracy, and mean loss of the last 100 steps, per initial weight scale",
    });
    clipLossPanel(spec, Math.min(1, ...rows.map((r) => r.finalTrainLoss ?? Infinity)));

    const numbers = (group: string, scale: number) => runNumbers(runByLabel(outcome, weightScaleLabel(group, scale)));
    const loss = (group: string, scale: number) =>
      meanFinalLoss(runByLabel(outcome, weightScaleLabel(group, scale)).records);
    const lossCell = (l: number | null) =>
      l === null ? null : { text: l < 1e4 ? l.toFixed(4) : l.toExponential(2), numeric: true };
    const table: ReportTable = {
      columns: [
        { label: "Weight scale", numeric: true },
        ...(["Best val acc", "Best train acc", "Final loss"] as const).flatMap((what) =>
          GROUPS.map((g) => ({
            label: `${what}, ${g === "baseline" ? "base" : "BN"}`,
            numeric: true,
            title: `${what} of the ${g} net${what === "Final loss" ? " (mean of the last 100 minibatch losses)" : ""}`,
          }))
        ),
      ],
      rows: scales.map((s) => [
        { text: s.toExponential(2), numeric: true },
        ...GROUPS.map((g) => percentCell(numbers(g, s).bestValAcc)),
        ...GROUPS.map((g) => percentCell(numbers(g, s).bestTrainAcc)),
        ...GROUPS.map((g) => lossCell(loss(g, s))),
      ]),
      caption: "base: baseline (no normalization); BN: batch norm. Final loss: mean of the last 100 minibatch losses.",
    };
    const sens = Object.fromEntries(
      GROUPS.map((g) => [g, sensitivity(scales.map((s) => numbers(g, s).bestValAcc ?? 0))]),
    ) as Record<(typeof GROUPS)[number], Sensitivity>;
    const line = (g: (typeof GROUPS)[number]) =>
      `${g}: best validation accuracy from ${formatPercent(sens[g].min)} to ${formatPercent(sens[g].max)}, ` +
      `${sens[g].within5} of ${sens[g].scales} scales within 5 points of its best`;
    const report = {
      ...reportFrame(this, outcome, {
        description:
          "The course's BatchNormalization notebook, weight-initialization sweep: an eight-layer fully connected " +
          `net (seven hidden layers of 50) trained from ${scales.length} initial weight scales logspace(-4, 0), with and ` +
          "without batch normalization (Adam 1e-3, batch 50). The notebook's point: without batch norm only a narrow band " +
          "of scales trains at all (too small and the signal vanishes through the layers, too large and it explodes); " +
          "with batch norm every layer's input is re-normalized, so nearly every scale works.\n\n" +
          `Here: ${line("baseline")}; ${line("batchnorm")}.`,
        config: {
          hiddenDims: HIDDEN,
          weightScales: `logspace(-4, 0, ${scales.length})`,
          updateRule: "adam",
          learningRate: 1e-3,
          batchSize: 50,
        },
      }),
      highlights: GROUPS.map((g) => ({
        label: `${g}: scales within 5 pt of best`,
        value: `${sens[g].within5} / ${sens[g].scales}`,
        note: `best val acc ${formatPercent(sens[g].min)} – ${formatPercent(sens[g].max)}`,
      })),
      sections: [
        {
          heading: "Sensitivity to the weight scale",
          text:
            "The notebook's three plots against the initial weight scale (log axis): best validation accuracy, best " +
            "training accuracy, and the final training loss (mean of the last 100 minibatch losses).",
          spec,
        },
        { heading: "Every scale", text: "The numbers behind the charts.", table },
      ],
    };
    return Promise.resolve({
      report,
      keyNumbers: {
        runs: outcome.tasks.length,
        baselineBestValAccMin: sens.baseline.min,
        baselineBestValAccMax: sens.baseline.max,
        baselineScalesWithin5pt: sens.baseline.within5,
        batchnormBestValAccMin: sens.batchnorm.min,
        batchnormBestValAccMax: sens.batchnorm.max,
        batchnormScalesWithin5pt: sens.batchnorm.within5,
      },
    });
  },
};
