/**
 * `dropout`: the Dropout notebook's regularization experiment. A net with
 * one hidden layer of 500 trained on 500 images for 25 epochs (batch 100,
 * Adam 5e-4), without dropout and with dropout p = 0.25, 0.5 and 0.75 (p =
 * probability of DROPPING a unit; the notebook's `dropout_keep_ratio` 0.25
 * is p = 0.75): dropout narrows the gap between training and validation
 * accuracy.
 *
 * @module
 */

import { dropoutSpec } from "../../../reports/specs.ts";
import {
  accuracyTable,
  adamSolver,
  type Experiment,
  type ExperimentOptions,
  experimentScale,
  experimentTrainingReport,
  fcModel,
  percentText,
  runByLabel,
  runNumbers,
  trainTask,
} from "./common.ts";
import type { Task } from "./tasks.ts";

const QUICK = "dropout 0 and 0.75 only, 200 training and 200 validation images, 10 epochs.";

/** The dropout probabilities tried. */
export function dropoutValues(options: ExperimentOptions): number[] {
  return options.quick ? [0, 0.75] : [0, 0.25, 0.5, 0.75];
}

/** The label of the run with drop probability `p` (as `dropoutSpec` names it). */
export function dropoutLabel(p: number): string {
  return p === 0 ? "no dropout" : `dropout p = ${p}`;
}

/** The course's dropout experiment. */
export const dropoutExperiment: Experiment = {
  name: "dropout",
  title: "Dropout as a regularizer",
  summary: "FC [500] on 500 images, 25 epochs: dropout p = 0, 0.25, 0.5, 0.75 (training vs validation accuracy)",
  quick: QUICK,
  trains: true,
  plan(options): Promise<Task[]> {
    const { data, numEpochs } = experimentScale(options, { numTrain: [500, 200], numEpochs: [25, 10] });
    const solver = adamSolver(5e-4, 100, numEpochs);
    return Promise.resolve(
      dropoutValues(options).map((p) =>
        trainTask(dropoutLabel(p), options, {
          data,
          solver,
          model: fcModel([500], { dropout: p }),
          facts: { dropout: p },
        })
      ),
    );
  },
  report(outcome) {
    const values = dropoutValues(outcome.options);
    const gap = (p: number) => {
      const n = runNumbers(runByLabel(outcome, dropoutLabel(p)));
      return n.finalTrainAcc === null || n.finalValAcc === null ? null : n.finalTrainAcc - n.finalValAcc;
    };
    const pt = (v: number | null) => percentText(v, { digits: 1, unit: "points" });
    const report = experimentTrainingReport(this, outcome, {
      description:
        "The course's Dropout notebook: a two-layer net (one hidden layer of 500 units, weight scale 1e-2) " +
        "trained on 500 images for 25 epochs with Adam (learning rate 5e-4, batch 100), without dropout and with " +
        "dropout after the hidden layer. Here p is the probability of DROPPING a unit (inverted dropout, so nothing " +
        "changes at test time); the notebook's dropout_keep_ratio = 0.25 is p = 0.75. Without dropout the net " +
        "memorizes its 500 images; dropout regularizes it, keeping training accuracy closer to validation accuracy.\n\n" +
        `Final training − validation accuracy: ${values.map((p) => `${dropoutLabel(p)} ${pt(gap(p))}`).join(", ")}.`,
      config: {
        hiddenDims: [500],
        weightScale: 1e-2,
        updateRule: "adam",
        learningRate: 5e-4,
        batchSize: 100,
      },
      extraSections: [
        {
          heading: "Training vs validation accuracy",
          text: "The notebook's two plots: training and validation accuracy per epoch for each dropout value.",
          spec: dropoutSpec(values.map((p) => ({ dropout: p, records: runByLabel(outcome, dropoutLabel(p)).records }))),
        },
        {
          heading: "The train − validation gap",
          text:
            "The gap column is the final training accuracy minus the final validation accuracy: overfitting in one number.",
          table: accuracyTable(outcome.runs),
        },
      ],
    });
    const keyNumbers: Record<string, number | null> = {};
    for (const p of values) {
      const n = runNumbers(runByLabel(outcome, dropoutLabel(p)));
      keyNumbers[`finalTrainAcc[p=${p}]`] = n.finalTrainAcc;
      keyNumbers[`finalValAcc[p=${p}]`] = n.finalValAcc;
      keyNumbers[`bestValAcc[p=${p}]`] = n.bestValAcc;
      keyNumbers[`gap[p=${p}]`] = gap(p);
    }
    return Promise.resolve({ report, keyNumbers });
  },
};
