/**
 * `batchnorm`: the BatchNormalization notebook's first experiment. A
 * six-layer net (five hidden layers of 100) trained on 1,000 images for 10
 * epochs (batch 50, Adam 1e-3, weight scale 2e-2), with and without batch
 * normalization: batch norm trains markedly faster.
 *
 * @module
 */

import { meanFinalLoss } from "../../../reports/run_data.ts";
import { accuracyPanelsSpec } from "../../../reports/specs.ts";
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

const QUICK = "500 training and 200 validation images, 4 epochs.";

/** The course's batch-normalization experiment: a deep net with and without batch norm. */
export const batchnormExperiment: Experiment = {
  name: "batchnorm",
  title: "Batch normalization: a deep net with and without",
  summary: "FC [100]×5 on 1,000 images, 10 epochs: baseline vs batch norm (loss, training and validation accuracy)",
  quick: QUICK,
  trains: true,
  plan(options: ExperimentOptions): Promise<Task[]> {
    const { data, numEpochs } = experimentScale(options, { numTrain: [1000, 500], numEpochs: [10, 4] });
    const solver = adamSolver(1e-3, 50, numEpochs);
    return Promise.resolve([
      trainTask("baseline", options, {
        data,
        solver,
        model: fcModel([100, 100, 100, 100, 100], { weightScale: 2e-2 }),
      }),
      trainTask("batchnorm", options, {
        data,
        solver,
        model: fcModel([100, 100, 100, 100, 100], { weightScale: 2e-2, normalization: "batchnorm" }),
      }),
    ]);
  },
  report(outcome) {
    const baseline = runNumbers(runByLabel(outcome, "baseline"));
    const bn = runNumbers(runByLabel(outcome, "batchnorm"));
    const pct = (v: number | null) => percentText(v, { digits: 1 });
    const report = experimentTrainingReport(this, outcome, {
      description:
        "The course's BatchNormalization notebook: a six-layer fully connected net (five hidden layers of 100 " +
        "units, weight scale 2e-2) trained with Adam (learning rate 1e-3, batch 50), once without normalization and " +
        "once with batch normalization after every hidden affine layer. The notebook's point: batch norm trains much " +
        "faster (the baseline's deep stack barely moves at first).\n\n" +
        `Here the batch-norm net ends at ${pct(bn.finalTrainAcc)} training accuracy against the baseline's ` +
        `${pct(baseline.finalTrainAcc)}; best validation accuracy ${pct(bn.bestValAcc)} against ${
          pct(baseline.bestValAcc)
        }.`,
      config: {
        hiddenDims: [100, 100, 100, 100, 100],
        weightScale: 2e-2,
        updateRule: "adam",
        learningRate: 1e-3,
      },
      extraSections: [
        {
          heading: "Training and validation accuracy",
          text: "The notebook's two accuracy plots side by side: training accuracy (on a subsample of up to 1,000 " +
            "training images) and validation accuracy after every epoch.",
          spec: accuracyPanelsSpec(outcome.runs, { title: "Baseline vs batch norm" }),
        },
        {
          heading: "Accuracies and final loss",
          text: "Best and final accuracies of each run, and the mean minibatch loss of its last 100 steps.",
          table: accuracyTable(outcome.runs),
        },
      ],
    });
    return Promise.resolve({
      report,
      keyNumbers: {
        baselineFinalTrainAcc: baseline.finalTrainAcc,
        batchnormFinalTrainAcc: bn.finalTrainAcc,
        baselineBestValAcc: baseline.bestValAcc,
        batchnormBestValAcc: bn.bestValAcc,
        baselineFinalLoss: meanFinalLoss(runByLabel(outcome, "baseline").records),
        batchnormFinalLoss: meanFinalLoss(runByLabel(outcome, "batchnorm").records),
      },
    });
  },
};
