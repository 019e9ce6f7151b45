/**
 * `cifar10`: beyond the course, a batch-norm convnet built from the
 * course's layers (`Sequential`) trained with augmentation and a modern
 * recipe on the course's split, to ≥ 85 % validation accuracy; the report
 * adds the test accuracy on the first 1,000 test images, the confusion
 * matrix and the accuracy of every class.
 *
 * @module
 */

import { evaluationSections } from "../../../reports/confusion.ts";
import { formatDuration } from "../../../reports/format.ts";
import { runSeries } from "../../../reports/run_data.ts";
import type { ExperimentOptions, ExperimentOutcome, ExperimentReport } from "./common.ts";
import {
  type Experiment,
  experimentTrainingReport,
  numTrainOf,
  percentText,
  runByLabel,
  runNumbers,
} from "./common.ts";
import { availableCifar10Training } from "./convnet.ts";
import type { SequentialModelSpec, SolverSpec, Task, TrainTask } from "./tasks.ts";
import { UsageError } from "../cli.ts";

/**
 * The net: 3×3 convs of 32, 32, 64, 64 and 128 channels, each followed by
 * spatial batch norm and ReLU, 2×2 max pools after the 2nd, 4th and 5th,
 * and one affine layer scoring the classes.
 */
export const CIFAR10_NET =
  "conv32x3-sbn-relu,conv32x3-sbn-relu-pool2,conv64x3-sbn-relu,conv64x3-sbn-relu-pool2,conv128x3-sbn-relu-pool2,affine10";

/** The model: {@link CIFAR10_NET} with Kaiming initialization, no L2 (the weight decay regularizes). */
export const CIFAR10_MODEL: Readonly<SequentialModelSpec> = Object.freeze({
  kind: "sequential",
  spec: CIFAR10_NET,
  weightScale: "kaiming",
  reg: 0,
});

/**
 * The recipe: SGD with Nesterov momentum 0.9 and weight decay 5e-4 (PyTorch's
 * semantics), a one-cycle learning rate peaking at 0.1, batch 128, 8 epochs,
 * each epoch a fresh permutation, flips and 4-pixel crops.
 */
export const CIFAR10_SOLVER: Readonly<SolverSpec> = Object.freeze({
  updateRule: "sgdNesterov",
  learningRate: 0.1,
  optimConfig: { momentum: 0.9, weightDecay: 5e-4 },
  lrSchedule: "onecycle",
  augment: "flip,crop4",
  batchSize: 128,
  numEpochs: 8,
  sampling: "shuffle",
});

/** The course's CIFAR-10 split: 49,000 training, 1,000 validation images, and the first 1,000 test images. */
const CIFAR10_SPLIT = { train: 49000, val: 1000, test: 1000 };
/**
 * Quick mode: images of the embedded sample, epochs, batch size, and a gentler peak rate: six steps of batch 32 on 96
 * images diverged at the recipe's 0.1 (loss 60 at the third step) and at 0.025 (15), and stay near 3 at 0.005.
 */
const QUICK = { train: 96, val: 100, epochs: 2, batchSize: 32, learningRate: 0.005 };
/** The label of the one run. */
export const CIFAR10_LABEL = "cifar10";

const QUICK_TEXT = `${QUICK.train} training and ${QUICK.val} validation images, ${QUICK.epochs} epochs of batch ` +
  `${QUICK.batchSize} with the rate peaking at ${QUICK.learningRate}; the confusion matrix is of the validation images.`;

/**
 * The experiment's one training task for `options`: on `cifar10:DIR` the
 * course's split (49,000 / 1,000, evaluated on the first 1,000 test images),
 * on the sample its images (evaluated on the validation images, the sample
 * having no test split); `--quick` trains {@link QUICK}.
 *
 * @throws UsageError for a dataset whose images are not CIFAR-10's, or training batches that are missing
 */
export async function cifar10Task(options: ExperimentOptions): Promise<TrainTask> {
  const [kind, ...rest] = options.dataset.split(":");
  if (kind !== "cifar10" && kind !== "sample") {
    throw new UsageError(`--dataset: cifar10 trains on cifar10:DIR or the sample, not ${options.dataset}`);
  }
  const onCifar = kind === "cifar10";
  const numTrain = numTrainOf(options, onCifar ? CIFAR10_SPLIT.train : 1000, QUICK.train);
  if (onCifar) {
    const { images } = await availableCifar10Training(rest.join(":"));
    if (numTrain > images) {
      throw new UsageError(
        `--dataset ${options.dataset}: ${numTrain.toLocaleString("en-US")} training images need data_batch_1–${
          Math.ceil(numTrain / 10000)
        }, and only ${images.toLocaleString("en-US")} can be read (pass --num-train ${images} or add the batches)`,
      );
    }
  } else if (numTrain > 1000) {
    throw new UsageError(`--num-train ${numTrain} is more than the sample's 1000 training images`);
  }
  const test = onCifar && !options.quick;
  return {
    kind: "train",
    label: CIFAR10_LABEL,
    seed: options.seed,
    data: {
      spec: options.dataset,
      numTrain,
      numVal: options.quick ? QUICK.val : null,
      dtype: "float32",
      ...(test ? { numTest: CIFAR10_SPLIT.test } : {}),
    },
    model: { ...CIFAR10_MODEL },
    solver: {
      ...CIFAR10_SOLVER,
      optimConfig: { ...CIFAR10_SOLVER.optimConfig },
      ...(options.quick
        ? { batchSize: QUICK.batchSize, numEpochs: QUICK.epochs, learningRate: QUICK.learningRate }
        : {}),
      ...(options.epochs !== undefined ? { numEpochs: options.epochs } : {}),
    },
    evaluate: test ? "test" : "validation",
  };
}

/** The batch-norm convnet with augmentation to ≥ 85 % on CIFAR-10. */
export const cifar10Experiment: Experiment = {
  name: "cifar10",
  title: "CIFAR-10 to 85 %: a batch-norm convnet from the course's layers",
  summary: "five-conv batch-norm net, flips and crops, Nesterov SGD with weight decay and one-cycle rate, 8 epochs; " +
    "test accuracy, confusion matrix and per-class accuracy",
  quick: QUICK_TEXT,
  trains: true,
  async plan(options): Promise<Task[]> {
    return [await cifar10Task(options)];
  },
  report(outcome: ExperimentOutcome): Promise<ExperimentReport> {
    return Promise.resolve(cifar10Report(outcome));
  },
};

/** The target of the issue: validation accuracy of the full run. */
export const CIFAR10_TARGET = 0.85;

/** Training speed of a run from its records: steps × batch over the training time (checks included). */
export function trainingSpeed(
  outcome: ExperimentOutcome,
): { wallMs: number | null; imagesPerSec: number | null; steps: number } {
  const task = outcome.tasks.find((t): t is TrainTask => t.kind === "train" && t.label === CIFAR10_LABEL);
  const s = runSeries(runByLabel(outcome, CIFAR10_LABEL).records);
  const steps = s.end?.iteration ?? s.iterations.at(-1)?.iteration ?? 0;
  const wallMs = s.end?.elapsedMs ?? null;
  return {
    wallMs,
    imagesPerSec: wallMs && task ? steps * task.solver.batchSize / (wallMs / 1000) : null,
    steps,
  };
}

/** The report: curves, the evaluation (test or validation), speed, and what quick mode changed. */
function cifar10Report(outcome: ExperimentOutcome): ExperimentReport {
  const run = runByLabel(outcome, CIFAR10_LABEL);
  const n = runNumbers(run);
  const result = outcome.results.get(CIFAR10_LABEL);
  const evaluation = result?.evaluation;
  const task = outcome.tasks[0] as TrainTask;
  const { wallMs, imagesPerSec, steps } = trainingSpeed(outcome);
  const quick = outcome.options.quick;
  const onCifar = outcome.options.dataset.startsWith("cifar10:");
  const pct = (v: number | null | undefined) => percentText(v);
  const testText = evaluation
    ? `${evaluation.split === "test" ? "Test" : "Validation-set"} accuracy of the kept parameters (those of the ` +
      `best validation check, as the course's Solver keeps): ${pct(evaluation.accuracy)} on ${
        evaluation.count.toLocaleString("en-US")
      } ${evaluation.split === "test" ? "test images (the first of test_batch)" : "validation images"}.`
    : "No evaluation: the run stopped early.";
  const target = !quick && onCifar && n.bestValAcc !== null
    ? ` The target is ${pct(CIFAR10_TARGET)} validation accuracy: ${
      n.bestValAcc >= CIFAR10_TARGET ? "reached" : "not reached"
    }.`
    : "";
  const speed = wallMs !== null && imagesPerSec !== null
    ? `Training took ${formatDuration(wallMs)} (${
      steps.toLocaleString("en-US")
    } steps of ${task.solver.batchSize} images, accuracy checks included): ${
      imagesPerSec.toFixed(1)
    } images/s, on ${outcome.gemm}.`
    : "";
  const report = experimentTrainingReport(cifar10Experiment, outcome, {
    description: "Beyond the course: its last notebook asks for ≥ 70 % validation accuracy on CIFAR-10 with a net of " +
      "one's own design. Here a net built only from the course's layers (Sequential " +
      `${CIFAR10_NET}: 3×3 convs with spatial batch norm and ReLU, 2×2 max pools, one affine layer; Kaiming ` +
      "initialization) is trained with flips and 4-pixel crops, SGD with Nesterov momentum 0.9 and weight decay " +
      `5e-4, a one-cycle learning rate peaking at 0.1, batch ${task.solver.batchSize}, ${task.solver.numEpochs} ` +
      `epochs, each a fresh permutation of the training images.\n\nHere: final validation accuracy ${
        pct(n.finalValAcc)
      }, best ${pct(n.bestValAcc)}, final training accuracy ${pct(n.finalTrainAcc)}.${target} ${testText}\n\n${speed}`,
    config: {
      model: task.model,
      solver: task.solver,
      numTrain: task.data.numTrain,
      ...(task.data.numTest ? { numTest: task.data.numTest } : {}),
    },
    extraSections: evaluation ? evaluationSections(evaluation) : [],
  });
  report.highlights = [
    ...(evaluation
      ? [{
        label: evaluation.split === "test" ? "Test accuracy" : "Accuracy (validation images)",
        value: pct(evaluation.accuracy),
        note: `${evaluation.count.toLocaleString("en-US")} images`,
      }]
      : []),
    ...(report.highlights ?? []),
    ...(imagesPerSec !== null ? [{ label: "Images per second", value: imagesPerSec.toFixed(1) }] : []),
  ];
  return {
    report,
    keyNumbers: {
      bestValAcc: n.bestValAcc,
      finalValAcc: n.finalValAcc,
      finalTrainAcc: n.finalTrainAcc,
      testAcc: evaluation?.split === "test" ? evaluation.accuracy : null,
      evaluatedOn: evaluation?.split ?? null,
      evaluatedAcc: evaluation?.accuracy ?? null,
      reachedTarget: !quick && onCifar ? (n.bestValAcc ?? 0) >= CIFAR10_TARGET : null,
      wallMs: wallMs === null ? null : Math.round(wallMs),
      imagesPerSec,
      numTrain: task.data.numTrain,
      epochs: task.solver.numEpochs,
      finalLoss: n.finalLoss,
    },
  };
}
