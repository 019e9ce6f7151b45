/**
 * `batch-size`: the BatchNormalization notebook's batch-size experiment. The
 * six-layer net of `batchnorm` (five hidden layers of 100, weight scale
 * 2e-2, 1,000 images, 10 epochs, Adam) with batch norm at batch sizes 5, 10
 * and 50, against the baseline: batch norm's per-batch statistics get
 * noisier as the batch shrinks, and so does what it learns.
 *
 * As the notebook's `run_batchsize_experiments`, the learning rate is
 * 10^-3.5 and the baseline trains at the smallest batch size (5); a
 * baseline at batch 50 is added for comparison with `batchnorm`.
 *
 * @module
 */

import type { LabelledRun } from "../../../reports/run_data.ts";
import { accuracyPanelsSpec } from "../../../reports/specs.ts";
import {
  accuracyTable,
  adamSolver,
  type Experiment,
  type ExperimentOptions,
  type ExperimentOutcome,
  experimentScale,
  experimentTrainingReport,
  fcModel,
  percentText,
  perRunAccuracies,
  recolorRuns,
  runByLabel,
  runNumbers,
  trainTask,
} from "./common.ts";
import type { Task } from "./tasks.ts";

/** The notebook's learning rate for its batch-size runs, 10^-3.5. */
export const BATCH_SIZE_LEARNING_RATE = 10 ** -3.5;

/** The batch sizes of the notebook. */
export const BATCH_SIZES: readonly number[] = Object.freeze([5, 10, 50]);

/** The settings of {@link batchSizeTasks}' runs, for a report's configuration block. */
export const BATCH_SIZE_CONFIG: Readonly<Record<string, unknown>> = Object.freeze({
  hiddenDims: [100, 100, 100, 100, 100],
  weightScale: 2e-2,
  updateRule: "adam",
  learningRate: "10^-3.5",
  batchSizes: BATCH_SIZES.join(", "),
});

const QUICK = "200 training and 200 validation images, 2 epochs.";

/** The label of a run: `batchnorm, batch 5`. */
export function batchSizeLabel(normalization: string, batchSize: number): string {
  return `${normalization}, batch ${batchSize}`;
}

/**
 * The runs of the notebook's `run_batchsize_experiments`, for several
 * normalizations: `baseline` at each of `baselineSizes`, then each
 * normalization at every batch size of {@link BATCH_SIZES}.
 */
export function batchSizeTasks(
  options: ExperimentOptions,
  normalizations: readonly ("batchnorm" | "layernorm")[],
  baselineSizes: readonly number[],
): Task[] {
  const { data, numEpochs } = experimentScale(options, { numTrain: [1000, 200], numEpochs: [10, 2] });
  const hidden = [100, 100, 100, 100, 100];
  const solver = (batchSize: number) => adamSolver(BATCH_SIZE_LEARNING_RATE, batchSize, numEpochs);
  return [
    ...baselineSizes.map((b) =>
      trainTask(batchSizeLabel("baseline", b), options, {
        data,
        solver: solver(b),
        model: fcModel(hidden, { weightScale: 2e-2 }),
      })
    ),
    ...normalizations.flatMap((normalization) =>
      BATCH_SIZES.map((b) =>
        trainTask(batchSizeLabel(normalization, b), options, {
          data,
          solver: solver(b),
          model: fcModel(hidden, { weightScale: 2e-2, normalization }),
        })
      )
    ),
  ];
}

/** The runs with these labels, in this order. */
export function pickRuns(outcome: ExperimentOutcome, labels: readonly string[]): LabelledRun[] {
  return labels.map((l) => runByLabel(outcome, l));
}

/** The course's batch-size experiment: batch norm at batch sizes 5, 10, 50 against the baseline. */
export const batchSizeExperiment: Experiment = {
  name: "batch-size",
  title: "Batch normalization and batch size",
  summary:
    "FC [100]×5 on 1,000 images: batch norm at batch sizes 5, 10, 50 vs the baseline (training, validation accuracy)",
  quick: QUICK,
  trains: true,
  plan(options) {
    return Promise.resolve(batchSizeTasks(options, ["batchnorm"], [5, 50]));
  },
  report(outcome) {
    const bestVal = (label: string) => runNumbers(runByLabel(outcome, label)).bestValAcc;
    const pct = (v: number | null) => percentText(v, { digits: 1 });
    const notebookRuns = pickRuns(outcome, [
      batchSizeLabel("baseline", 5),
      ...BATCH_SIZES.map((b) => batchSizeLabel("batchnorm", b)),
    ]);
    const report = experimentTrainingReport(this, outcome, {
      description: "The course's BatchNormalization notebook, batch-size experiment (run_batchsize_experiments): the " +
        "six-layer net of the batch-norm experiment (five hidden layers of 100, weight scale 2e-2) trained with batch " +
        "norm at batch sizes 5, 10 and 50, against the baseline, with Adam at the notebook's learning rate 10^-3.5. " +
        "The notebook trains its baseline at the smallest batch size (5); a baseline at batch 50 is added here. " +
        "Batch norm normalizes with the statistics of each minibatch, which are noisy estimates for small batches, so " +
        "it helps less (and can hurt validation accuracy) as the batch shrinks.\n\n" +
        `Best validation accuracy with batch norm: ${
          BATCH_SIZES.map((b) => `batch ${b} ${pct(bestVal(batchSizeLabel("batchnorm", b)))}`).join(", ")
        }; ` +
        `baseline: batch 5 ${pct(bestVal(batchSizeLabel("baseline", 5)))}, batch 50 ${
          pct(bestVal(batchSizeLabel("baseline", 50)))
        }.`,
      config: BATCH_SIZE_CONFIG,
      extraSections: [
        {
          heading: "Accuracy by batch size",
          text: "The notebook's two plots: training and validation accuracy per epoch, batch norm at each batch size " +
            "against the baseline at batch 5.",
          spec: recolorRuns(
            accuracyPanelsSpec(notebookRuns, { title: "Batch norm at batch sizes 5, 10, 50 vs baseline" }),
            outcome.runs.map((r) => r.label),
          ),
        },
        { heading: "Accuracies and final loss", table: accuracyTable(outcome.runs) },
      ],
    });
    return Promise.resolve({ report, keyNumbers: perRunAccuracies(outcome.runs) });
  },
};
