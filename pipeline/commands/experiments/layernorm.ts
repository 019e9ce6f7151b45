/**
 * `layernorm`: the notebook's layer-normalization experiment. The same
 * six-layer net without normalization, with batch norm and with layer norm,
 * and each normalization at batch sizes 5, 10 and 50 (learning rate 10^-3.5
 * as `run_batchsize_experiments`): layer norm normalizes each example over
 * its own features, so unlike batch norm it does not depend on the batch.
 *
 * @module
 */

import { accuracyPanelsSpec } from "../../../reports/specs.ts";
import { BATCH_SIZE_CONFIG, BATCH_SIZES, batchSizeLabel, batchSizeTasks, pickRuns } from "./batch_size.ts";
import {
  accuracyTable,
  type Experiment,
  experimentTrainingReport,
  percentText,
  perRunAccuracies,
  recolorRuns,
  runByLabel,
  runNumbers,
} from "./common.ts";

const QUICK = "200 training and 200 validation images, 2 epochs.";

/** Baseline vs batch norm vs layer norm, and both normalizations across batch sizes. */
export const layernormExperiment: Experiment = {
  name: "layernorm",
  title: "Layer normalization vs batch normalization",
  summary: "FC [100]×5: baseline vs batch norm vs layer norm, each normalization at batch sizes 5, 10, 50",
  quick: QUICK,
  trains: true,
  plan(options) {
    return Promise.resolve(batchSizeTasks(options, ["batchnorm", "layernorm"], [5, 50]));
  },
  report(outcome) {
    const bestVal = (label: string) => runNumbers(runByLabel(outcome, label)).bestValAcc;
    const pct = (v: number | null) => percentText(v, { digits: 1 });
    const across = (norm: string) =>
      BATCH_SIZES.map((b) => `batch ${b} ${pct(bestVal(batchSizeLabel(norm, b)))}`).join(", ");
    const all = outcome.runs.map((r) => r.label);
    const panels = (labels: string[], title: string) =>
      recolorRuns(accuracyPanelsSpec(pickRuns(outcome, labels), { title }), all);
    const report = experimentTrainingReport(this, outcome, {
      description:
        "The course's layer-normalization experiment: the six-layer net of the batch-norm experiment (five " +
        "hidden layers of 100, weight scale 2e-2, Adam at 10^-3.5) without normalization, with batch norm and with " +
        "layer norm, each normalization at batch sizes 5, 10 and 50. Batch norm estimates its statistics over the " +
        "minibatch, so small batches make it noisy; layer norm normalizes each example over its own features and " +
        "does not depend on the batch size.\n\n" +
        `Best validation accuracy: batch norm ${across("batchnorm")}; layer norm ${
          across("layernorm")
        }; baseline batch 5 ` +
        `${pct(bestVal(batchSizeLabel("baseline", 5)))}, batch 50 ${pct(bestVal(batchSizeLabel("baseline", 50)))}.`,
      config: BATCH_SIZE_CONFIG,
      extraSections: [
        {
          heading: "Baseline vs batch norm vs layer norm",
          text: "The three nets at batch size 50.",
          spec: panels(
            ["baseline", "batchnorm", "layernorm"].map((n) => batchSizeLabel(n, 50)),
            "No norm vs batch norm vs layer norm, batch 50",
          ),
        },
        {
          heading: "Layer norm across batch sizes",
          text: "The notebook's plots for layer norm: training and validation accuracy at batch sizes 5, 10 and 50, " +
            "against the baseline at batch 5.",
          spec: panels(
            [batchSizeLabel("baseline", 5), ...BATCH_SIZES.map((b) => batchSizeLabel("layernorm", b))],
            "Layer norm at batch sizes 5, 10, 50",
          ),
        },
        {
          heading: "Batch norm across batch sizes",
          text: "The same for batch norm, for contrast.",
          spec: panels(
            [batchSizeLabel("baseline", 5), ...BATCH_SIZES.map((b) => batchSizeLabel("batchnorm", b))],
            "Batch norm at batch sizes 5, 10, 50",
          ),
        },
        { heading: "Accuracies and final loss", table: accuracyTable(outcome.runs) },
      ],
    });
    return Promise.resolve({ report, keyNumbers: perRunAccuracies(outcome.runs) });
  },
};
