/**
 * `convnet-overfit` and `convnet`: the ConvolutionalNetworks notebook's
 * three-layer convnet, first overfitting 100 images (15 epochs, weight scale
 * 1e-2), then trained for one epoch on the whole training set (weight scale
 * 1e-3, hidden 500, reg 1e-3; the course expects more than 40 % training
 * accuracy) with its first-layer filters shown as an image grid.
 *
 * @module
 */

import { CIFAR10_BATCH_RECORDS } from "../../../datasets/cifar10.ts";
import { exists, joinPath } from "../../../datasets/records.ts";
import { filterGridSection } from "../../../reports/run_report.ts";
import {
  adamSolver,
  dataOf,
  type Experiment,
  type ExperimentOptions,
  experimentScale,
  experimentTrainingReport,
  percentText,
  runByLabel,
  runNumbers,
  trainTask,
} from "./common.ts";
import type { CnnModelSpec, Task } from "./tasks.ts";
import { UsageError } from "../cli.ts";

/** The course's convnet: 32 filters 7×7, hidden 100, as `ThreeLayerConvNet`'s defaults. */
function convnetModel(options: Partial<Omit<CnnModelSpec, "kind">>): CnnModelSpec {
  return { kind: "cnn", numFilters: 32, filterSize: 7, hiddenDim: 100, weightScale: 1e-3, reg: 0, ...options };
}

/** Training images in the sample, and the course's CIFAR-10 training split. */
const SAMPLE_TRAIN = 1000;
const CIFAR10_TRAIN = 49000;

/**
 * The CIFAR-10 training images that can be read from `dir` as one run from
 * image 0: 10,000 per consecutive `data_batch_N.bin` (or `.bin.gz`) from
 * batch 1, at most 49,000; and which batches are there.
 */
export async function availableCifar10Training(dir: string): Promise<{ images: number; batches: number[] }> {
  const batches: number[] = [];
  for (let b = 1; b <= 5; b++) {
    if (
      (await exists(joinPath(dir, `data_batch_${b}.bin`))) || (await exists(joinPath(dir, `data_batch_${b}.bin.gz`)))
    ) batches.push(b);
  }
  let consecutive = 0;
  while (batches.includes(consecutive + 1)) consecutive++;
  return { batches, images: Math.min(CIFAR10_TRAIN, consecutive * CIFAR10_BATCH_RECORDS) };
}

/**
 * The number of training images `convnet` uses: `--num-train`, else the
 * whole training split (49,000 for CIFAR-10, the 1,000 of the sample),
 * checked against what the dataset holds.
 *
 * @throws UsageError when CIFAR-10's batches cannot supply them (naming what is there and what to pass)
 */
export async function convnetNumTrain(options: ExperimentOptions): Promise<number> {
  const [kind, ...rest] = options.dataset.split(":");
  const dir = rest.join(":");
  if (options.quick && options.numTrain === undefined) return 100;
  if (kind === "sample") {
    const n = options.numTrain ?? SAMPLE_TRAIN;
    if (n > SAMPLE_TRAIN) {
      throw new UsageError(`--num-train ${n} is more than the sample's ${SAMPLE_TRAIN} training images`);
    }
    return n;
  }
  if (kind === "cifar10" && dir !== "") {
    const n = options.numTrain ?? CIFAR10_TRAIN;
    const { images, batches } = await availableCifar10Training(dir);
    if (n > images) {
      const have = batches.length === 0
        ? "no training batches"
        : `only ${batches.map((b) => `data_batch_${b}`).join(", ")}`;
      throw new UsageError(
        `convnet: ${dir} holds ${have}, so ${
          images.toLocaleString("en-US")
        } consecutive training images from data_batch_1; ` +
          `${n.toLocaleString("en-US")} need data_batch_1–${Math.ceil(n / CIFAR10_BATCH_RECORDS)}. ` +
          (images > 0 ? `Pass --num-train ${images} (or fewer) to train on what is there.` : "Add the batches."),
      );
    }
    return n;
  }
  return options.numTrain ?? 59000;
}

const OVERFIT_QUICK = "50 training and 100 validation images, 8 epochs of batch 25.";

/** The notebook's sanity check: the convnet overfits 100 training images. */
export const convnetOverfitExperiment: Experiment = {
  name: "convnet-overfit",
  title: "Three-layer convnet: overfitting 100 images",
  summary:
    "ThreeLayerConvNet on 100 images, 15 epochs, weight scale 1e-2: training accuracy → 100 %, validation stays low",
  quick: OVERFIT_QUICK,
  trains: true,
  plan(options): Promise<Task[]> {
    const quick = options.quick;
    const { data, numTrain, numEpochs } = experimentScale(options, {
      numTrain: [100, 50],
      numEpochs: [15, 8],
      quickVal: 100,
    });
    return Promise.resolve([
      trainTask(`convnet, ${numTrain} images`, options, {
        data,
        model: convnetModel({ weightScale: 1e-2 }),
        solver: adamSolver(1e-3, quick ? 25 : 50, numEpochs),
      }),
    ]);
  },
  report(outcome) {
    const run = outcome.runs[0];
    const n = runNumbers(run);
    const report = experimentTrainingReport(this, outcome, {
      description:
        "The course's ConvolutionalNetworks notebook, sanity check: a three-layer convnet (conv 32 filters " +
        "7×7 – ReLU – 2×2 max pool – affine 100 – ReLU – affine – softmax, weight scale 1e-2) trained on only 100 " +
        "images for 15 epochs (Adam 1e-3, batch 50) should overfit them: training accuracy near 100 % while " +
        "validation accuracy stays low.\n\n" +
        `Here: final training accuracy ${percentText(n.finalTrainAcc)}, ` +
        `final validation accuracy ${percentText(n.finalValAcc)}.`,
      config: {
        model: "ThreeLayerConvNet (32 filters 7×7, hidden 100)",
        weightScale: 1e-2,
        updateRule: "adam",
        learningRate: 1e-3,
      },
    });
    return Promise.resolve({
      report,
      keyNumbers: {
        finalTrainAcc: n.finalTrainAcc,
        finalValAcc: n.finalValAcc,
        bestValAcc: n.bestValAcc,
        finalLoss: n.finalLoss,
      },
    });
  },
};

const CONVNET_QUICK = "100 training and 100 validation images (still one epoch).";
const CONVNET_LABEL = "convnet";

/** One epoch of the convnet on the whole training set, and its first-layer filters. */
export const convnetExperiment: Experiment = {
  name: "convnet",
  title: "Three-layer convnet: one epoch on the training set",
  summary:
    "ThreeLayerConvNet (hidden 500, reg 1e-3), one epoch on the whole training set, first-layer filters as an image",
  quick: CONVNET_QUICK,
  trains: true,
  async plan(options): Promise<Task[]> {
    const numTrain = await convnetNumTrain(options);
    return [
      trainTask(CONVNET_LABEL, options, {
        data: dataOf(options, numTrain, 100),
        model: convnetModel({ weightScale: 1e-3, hiddenDim: 500, reg: 1e-3 }),
        solver: adamSolver(1e-3, 50, options.epochs ?? 1),
        returnParams: ["W1"],
      }),
    ];
  },
  async report(outcome) {
    const run = runByLabel(outcome, CONVNET_LABEL);
    const n = runNumbers(run);
    const w1 = outcome.results.get(CONVNET_LABEL)?.params?.W1;
    const [kind] = outcome.options.dataset.split(":");
    const numTrain = (outcome.tasks[0] as { data: { numTrain: number } }).data.numTrain;
    const partial = kind === "cifar10" && numTrain < CIFAR10_TRAIN
      ? `Trained on ${numTrain.toLocaleString("en-US")} of the course's ${
        CIFAR10_TRAIN.toLocaleString("en-US")
      } CIFAR-10 ` +
        `training images (--num-train), so one epoch is ${
          Math.max(1, Math.floor(numTrain / 50))
        } steps instead of the ` +
        "course's 980; its 40 % is for the full epoch.\n\n"
      : kind === "sample"
      ? `Trained on ${
        numTrain.toLocaleString("en-US")
      } images of the embedded sample, not the course's 49,000: one epoch ` +
        `is ${Math.max(1, Math.floor(numTrain / 50))} steps, far too few for the course's 40 %; run with --dataset ` +
        "cifar10:DIR for the real thing.\n\n"
      : "";
    const filters = w1
      ? await filterGridSection({ data: w1.data, shape: w1.shape }, {
        text: "The trained first-layer filters as the notebook shows them (visualize_grid of W1 transposed to " +
          "(F, HH, WW, C), each filter scaled to 0–255 on its own): after a full epoch on CIFAR-10 they start to look " +
          "like oriented edges and colour blobs.",
        width: 384,
      })
      : { heading: "First-layer filters", text: "The run sent back no W1." };
    const report = experimentTrainingReport(this, outcome, {
      description:
        "The course's ConvolutionalNetworks notebook, training the net: the three-layer convnet (32 filters " +
        "7×7, hidden layer of 500, weight scale 1e-3, L2 reg 1e-3) trained for one epoch with Adam (learning rate " +
        "1e-3, batch 50). On the full CIFAR-10 training set (49,000 images) the course expects more than 40 % " +
        "training accuracy after this one epoch.\n\n" + partial +
        `Here: final training accuracy ${percentText(n.finalTrainAcc)}, validation accuracy ` +
        `${percentText(n.finalValAcc)}.`,
      config: {
        model: "ThreeLayerConvNet (32 filters 7×7, hidden 500)",
        weightScale: 1e-3,
        reg: 1e-3,
        updateRule: "adam",
        learningRate: 1e-3,
        batchSize: 50,
        numTrain,
      },
      extraSections: [filters],
    });
    return {
      report,
      keyNumbers: {
        numTrain,
        finalTrainAcc: n.finalTrainAcc,
        finalValAcc: n.finalValAcc,
        bestValAcc: n.bestValAcc,
        finalLoss: n.finalLoss,
      },
    };
  },
};
