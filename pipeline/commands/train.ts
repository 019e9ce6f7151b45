/**
 * `deno task train`: trains a model as the course's Solver does and writes
 * the run to its own folder under `out/`: its run log (NDJSON), checkpoint
 * (safetensors, every epoch), result and report.
 *
 * Without flags it runs the course's batch-normalization experiment: a
 * six-layer fully connected net (five hidden layers of 100, batch norm)
 * on the 1,000 images of the embedded CIFAR-10 sample, 10 epochs of batch
 * 50, Adam at 1e-3, weight scale 2e-2. Each model has its own defaults
 * (`model_defaults.ts`: `--model cnn` is the course's `ThreeLayerConvNet`),
 * and `--num-train` defaults to the dataset's whole training split.
 * `--help` lists every flag.
 *
 * The whole run draws from one `RandomState(seed)`, as the course's single
 * `np.random` stream: initial weights, dropout masks, minibatches and
 * accuracy subsamples, so a run is reproducible from its flags and
 * `--resume` continues it bit for bit.
 *
 * Nothing is lost without `--force`: the run's folder is locked while it is
 * written, a folder holding another run's results is refused (exit 2) unless
 * `--resume` or `--force` says what to do with them, and Ctrl-C (or SIGTERM)
 * ends with one line naming where the run stopped and the command that
 * continues it.
 *
 * @module
 */

import { DATASET_SPECS } from "../../datasets/registry.ts";
import { describeGemmBackend, type GemmBackendName, useGemmBackend } from "../../layers/kernels/gemm_backends.ts";
import { describeThreads, setThreads } from "../../layers/kernels/threads.ts";
import { estimateTrainingBytes, type ModelSpec, type Normalization } from "../../layers/models/model_spec.ts";
import type { DType } from "../../layers/tensor.ts";
import { type RunServer, serveRun } from "../../reports/live_server.ts";
import { writeReport } from "../../reports/render.ts";
import { trainingReport } from "../../reports/run_report.ts";
import type { TrainEvent } from "../messages.ts";
import type { TrainingSpec } from "../run_training.ts";
import { CheckpointError } from "../store/checkpoint.ts";
import type { EndRecord, TrainRecord } from "../store/records.ts";
import { readCheckpointProgress, RunFolderTakenError } from "../store/run_folder.ts";
import { type RunLock, RunLockedError, shellWord } from "../store/run_lock.ts";
import { readRunLog } from "../store/run_log.ts";
import { UPDATE_RULE_FLAGS } from "../update_rules.ts";
import {
  choice,
  commandErrorExit,
  datasetSpec,
  directory,
  flagTable,
  gemmChoice,
  MAX_TENSOR_ELEMENTS,
  NORMALIZATION_FLAGS,
  numberValue,
  parseFlags,
  plainName,
  positiveInteger,
  positiveIntegerList,
  seedValue,
  threadCount,
  UsageError,
} from "./cli.ts";
import {
  checkSequentialFits,
  COURSE_RULE_FLAGS,
  recipeFlags,
  recipeIdentity,
  recipeSolver,
  sequentialModelFlag,
  sequentialModelOf,
  weightScaleFlag,
} from "./recipe_flags.ts";
import { defaultsText, MODEL_DEFAULTS, type ModelName, TRAIN_NAME_SPELLINGS } from "./model_defaults.ts";
import { writeIndexPage } from "./run_index.ts";
import { runFolderPaths, runInFolder } from "./run_in_folder.ts";
import { readableRunName } from "./run_names.ts";
import { continueCommand, onStopSignals, STOP_EXIT_CODES, type StopSignal } from "./stop_signals.ts";

export { UsageError };

/** The update rules by their command-line names (see `UPDATE_RULE_FLAGS` in `pipeline/update_rules.ts`). */
export const CLI_UPDATE_RULES: Readonly<Record<string, string>> = UPDATE_RULE_FLAGS;

/** Everything a training run is made of, after parsing and defaults. */
export interface TrainConfig {
  /** `"fc"` (FullyConnectedNet), `"cnn"` (ThreeLayerConvNet) or `"sequential"` (a net from `--model SPEC|FILE`). */
  model: ModelName;
  /** sequential: the net in its canonical compact form (null for fc and cnn). */
  spec: string | null;
  /** fc: hidden layer sizes. */
  hiddenDims: number[];
  /** fc: normalization after each hidden layer (null: none, `--normalization none`). */
  normalization: Normalization;
  /** fc: probability of dropping a hidden unit (0: no dropout). */
  dropout: number;
  /** cnn: filters, filter size, hidden units. */
  numFilters: number;
  filterSize: number;
  hiddenDim: number;
  /** L2 regularization strength. */
  reg: number;
  /** Standard deviation of the initial weights, or `"kaiming"` (sequential only). */
  weightScale: number | "kaiming";
  /** Augmentation of the training batches, compact form (`flip,crop4`), or null for none. */
  augment: string | null;
  /** Per-step learning-rate schedule, compact form (`onecycle`), or null for none. */
  lrSchedule: string | null;
  /** Nesterov momentum (with `sgd-momentum`). */
  nesterov: boolean;
  /** Weight decay (coupled for sgd and sgd-momentum, decoupled for adam; 0: none). */
  weightDecay: number;
  /** Parameter dtype. */
  dtype: DType;
  /** Update rule (command-line name, a key of `UPDATE_RULE_FLAGS`). */
  updateRule: string;
  /** Initial learning rate. */
  learningRate: number;
  /** Learning-rate factor per epoch. */
  lrDecay: number;
  /** Epochs. */
  epochs: number;
  /** Minibatch size. */
  batchSize: number;
  /** Training examples (default: the dataset's whole training split). */
  numTrain: number;
  /** Validation examples (null: the loader's default). */
  numVal: number | null;
  /** Dataset spec. */
  dataset: string;
  /** Seed of the run's one generator. */
  seed: number;
  /** Sample batches without replacement, one permutation per epoch. */
  shuffle: boolean;
  /** Extra accuracy checks every this many iterations (0: only the course's, at epoch ends). */
  checkEvery: number;
}

/** Options of a run that do not change its results. */
export interface RunSettings {
  /** Output root; the run goes to `<out>/<runName>/`. */
  out: string;
  /** Run directory name (default: derived from the config). */
  runName: string | null;
  /** Continue the run from its checkpoint (a finished run is kept, its report redone). */
  resume: boolean;
  /** Replace what the run's folder holds. */
  force: boolean;
  /** Course lines: loss every this many iterations. */
  printEvery: number;
  /** gemm backend. */
  gemm: GemmBackendName | "auto";
  /** No progress output. */
  quiet: boolean;
  /** Threads the layers use (null: `GRADSTREAM_THREADS`, else every core). Default null. */
  threads?: number | null;
  /** Resume even when the checkpoint was written with another gemm backend. Default false. */
  allowBackendChange?: boolean;
  /** Serve the live page while the run trains (and the report afterwards, until Ctrl-C). */
  serve?: boolean;
  /** The live page's port (0: a free one). */
  port?: number;
}

/** Settings every model shares, and their defaults. */
const COMMON_DEFAULTS = Object.freeze({
  spec: null,
  augment: null,
  lrSchedule: null,
  nesterov: false,
  weightDecay: 0,
  dtype: "float32" as DType,
  lrDecay: 1,
  numVal: null,
  dataset: "sample",
  seed: 0,
  shuffle: false,
  checkEvery: 0,
});

/** The defaults of the run settings. */
const SETTINGS_DEFAULTS: Readonly<RunSettings> = Object.freeze({
  out: "out",
  runName: null,
  resume: false,
  force: false,
  printEvery: 10,
  gemm: "auto",
  quiet: false,
  allowBackendChange: false,
  serve: false,
  port: 0,
});

/**
 * The config a run of `model` on `dataset` has when no other flag is given:
 * the model's defaults ({@link MODEL_DEFAULTS}), the shared ones, and the
 * dataset's whole training split.
 */
export function defaultConfig(model: ModelName = "fc", dataset = "sample"): TrainConfig {
  const fc = MODEL_DEFAULTS.fc, cnn = MODEL_DEFAULTS.cnn, own = MODEL_DEFAULTS[model];
  const { format } = datasetSpec("dataset", dataset);
  return {
    ...COMMON_DEFAULTS,
    model,
    dataset,
    hiddenDims: [...(own.hiddenDims ?? fc.hiddenDims!)],
    normalization: NORMALIZATION_FLAGS[own.normalization ?? fc.normalization!],
    dropout: own.dropout ?? fc.dropout!,
    numFilters: own.numFilters ?? cnn.numFilters!,
    filterSize: own.filterSize ?? cnn.filterSize!,
    hiddenDim: own.hiddenDim ?? cnn.hiddenDim!,
    reg: own.reg,
    weightScale: own.weightScale,
    updateRule: own.updateRule,
    learningRate: own.learningRate,
    epochs: own.epochs,
    batchSize: own.batchSize,
    numTrain: format.trainingSplit,
  };
}

/** The defaults with no flags: the course's batch-normalization experiment on the sample. */
export const TRAIN_DEFAULTS: Readonly<TrainConfig & RunSettings> = Object.freeze({
  ...defaultConfig(),
  ...SETTINGS_DEFAULTS,
});

/** The usage text printed by `--help`. */
export function usage(): string {
  const d = TRAIN_DEFAULTS;
  const fc = MODEL_DEFAULTS.fc, cnn = MODEL_DEFAULTS.cnn, seq = MODEL_DEFAULTS.sequential;
  return `Usage: deno task train [flags]

Trains a model as the CS231n Solver does (streaming dataflow) and writes the run to its own folder
<out>/<run>/: run.ndjson (the run log), checkpoint.safetensors (every epoch), result.json, report.html.
Without flags: the course's batch-norm experiment on the embedded CIFAR-10 sample.

Each model has the course's defaults: a flag left out takes its model's value.
  fc   FullyConnectedNet: hidden ${fc.hiddenDims!.join(",")}, ${fc.normalization}, weight scale ${fc.weightScale}, ` +
    `reg ${fc.reg},
       ${fc.epochs} epochs of batch ${fc.batchSize}, ${fc.updateRule} at ${fc.learningRate}
  cnn  ThreeLayerConvNet: ${cnn.numFilters} filters ${cnn.filterSize}×${cnn.filterSize}, hidden ${cnn.hiddenDim}, ` +
    `weight scale ${cnn.weightScale}, reg ${cnn.reg},
       ${cnn.epochs} epoch of batch ${cnn.batchSize}, ${cnn.updateRule} at ${cnn.learningRate}
  SPEC a net of the course's layers (--model conv32x3-sbn-relu-pool2,affine10): weight scale ${seq.weightScale},
       reg ${seq.reg}, ${seq.epochs} epochs of batch ${seq.batchSize}, ${seq.updateRule} at ${seq.learningRate}

Model
  --model fc|cnn|SPEC|FILE       fully connected net, three-layer convnet, or a net of the course's layers from
                                 a spec (conv32x3-sbn-relu-pool2,affine10) or a JSON file (default ${d.model})
  --hidden-dims N,N,…            fc hidden layer sizes ${defaultsText("hiddenDims")}
  --normalization batchnorm|layernorm|none
                                 fc normalization ${defaultsText("normalization")}
  --dropout P                    fc probability of dropping a unit, 0 ≤ P < 1 ${defaultsText("dropout")}
  --num-filters N                cnn filters ${defaultsText("numFilters")}
  --filter-size N                cnn odd filter size ${defaultsText("filterSize")}
  --hidden-dim N                 cnn hidden units ${defaultsText("hiddenDim")}
  --reg R                        L2 regularization strength ${defaultsText("reg")}
  --weight-scale S|kaiming       std of the initial weights, or kaiming: √(2/fan-in) (SPEC only)
                                 ${defaultsText("weightScale")}
  --dtype float32|float64        parameter dtype (default ${d.dtype})
Optimizer
  --update-rule sgd|sgd-momentum|rmsprop|adam   ${defaultsText("updateRule")}
  --learning-rate LR             ${defaultsText("learningRate")}
  --lr-decay D                   learning-rate factor after each epoch (default ${d.lrDecay})
  --lr-schedule SCHEDULE         per-step rate: step:size=N[,gamma=G] | cosine[:min=LR][,steps=T] |
                                 onecycle[:pct=P][,div=D][,final=F][,anneal=cos|linear][,steps=T]
  --nesterov                     Nesterov momentum (with sgd-momentum; PyTorch's SGD)
  --weight-decay WD              coupled for sgd and sgd-momentum, decoupled (AdamW) for adam (default 0)
  --augment flip,cropP           mirror and/or crop with P pixels of zero padding each training image (default none)
Schedule
  --epochs N                     ${defaultsText("epochs")}
  --batch-size N                 ${defaultsText("batchSize")}
  --num-train N                  training examples (default: the dataset's whole training split:
                                 1,000 for sample, 49,000 for cifar10, 59,000 for (fashion-)mnist)
  --num-val N                    validation examples (default: the dataset's, 1000)
  --shuffle                      draw batches without replacement, one permutation per epoch
                                 (default: the course's choice(numTrain, batchSize) per step)
  --check-every N                also check accuracy every N iterations (default: only at epoch ends);
                                 these checks draw from generators of their own: the losses are unchanged
Data
  --dataset SPEC                 ${DATASET_SPECS.join(" | ")} (default ${d.dataset})
Run
  --seed S                       seed of the run's generator, 0 ≤ S < 2^32 (default ${d.seed})
  --out DIR                      output root (default ${d.out})
  --run-name NAME                run folder name (default: the model, the dataset, the settings that differ
                                 from the model's defaults, and a hash of all of them)
  --resume                       continue the run from its checkpoint (a finished run is kept; its report redone)
  --force                        replace what the run's folder holds
  --allow-backend-change         with --resume: continue although the checkpoint was written with another gemm
                                 backend (the result will not be bit-identical)
  --serve                        live page: serve the run's folder on 127.0.0.1 while it trains, charts growing;
                                 then the report until Ctrl-C
  --port N                       the live page's port (default: a free one)
  --print-every N                loss line every N iterations (default ${d.printEvery})
  --gemm blas|wasm|ts|auto       matrix-product backend (default ${d.gemm}, or env GRADSTREAM_GEMM)
  --threads N                    threads the layers use (default: env GRADSTREAM_THREADS, else every core);
                                 results are the same bits on any number
  --quiet                        no progress output
  --help                         this text
`;
}

const FLAGS = flagTable(
  [
    ...["model", "hidden-dims", "normalization", "dropout", "num-filters", "filter-size", "hidden-dim", "reg"],
    ...["weight-scale", "dtype", "update-rule", "learning-rate", "lr-decay", "epochs", "batch-size", "num-train"],
    ...["num-val", "dataset", "seed", "out", "run-name", "print-every", "gemm", "threads", "check-every", "port"],
    ...["augment", "lr-schedule", "weight-decay"],
  ] as const,
  ["shuffle", "resume", "force", "allow-backend-change", "serve", "quiet", "help", "nesterov"] as const,
);

/** Flags that set what only one model has: refused for the other. */
const MODEL_ONLY_FLAGS: Readonly<Record<string, ModelName>> = Object.freeze({
  "hidden-dims": "fc",
  "normalization": "fc",
  "dropout": "fc",
  "num-filters": "cnn",
  "filter-size": "cnn",
  "hidden-dim": "cnn",
});

/**
 * Parses the command line into a config and settings (defaults filled in:
 * the model's, then the shared ones). `null` means `--help` was asked for.
 *
 * @throws UsageError naming the flag and what it expects
 */
export function parseTrainArgs(
  args: string[],
  options: { memoryBytes?: number | null } = {},
): { config: TrainConfig; settings: RunSettings } | null {
  const { values } = parseFlags(args, FLAGS, { unknownFlagHint: " (see --help)" });
  if (values.help) return null;
  const s = (k: keyof typeof FLAGS) => values[k] as string | undefined;
  const modelFlag = s("model");
  // Anything but fc and cnn is a Sequential net's spec or JSON file (checked below).
  const model: ModelName = modelFlag === undefined
    ? TRAIN_DEFAULTS.model
    : modelFlag === "fc" || modelFlag === "cnn"
    ? modelFlag
    : "sequential";
  for (const [flag, owner] of Object.entries(MODEL_ONLY_FLAGS)) {
    if (s(flag as keyof typeof FLAGS) !== undefined && owner !== model) {
      throw new UsageError(`--${flag} applies to --model ${owner} only (this run is --model ${model})`);
    }
  }
  const dataset = s("dataset") ?? COMMON_DEFAULTS.dataset;
  const config = defaultConfig(model, dataset);
  if (s("normalization") !== undefined) {
    config.normalization =
      NORMALIZATION_FLAGS[choice("normalization", s("normalization")!, Object.keys(NORMALIZATION_FLAGS))];
  }
  if (s("dtype") !== undefined) config.dtype = choice("dtype", s("dtype")!, ["float32", "float64"] as const);
  if (s("update-rule") !== undefined) {
    config.updateRule = choice("update-rule", s("update-rule")!, COURSE_RULE_FLAGS);
  }
  config.shuffle = values.shuffle === true;
  const hd = s("hidden-dims");
  if (hd !== undefined) config.hiddenDims = positiveIntegerList("hidden-dims", hd, "100,100");
  const probability = "a probability of dropping a unit in [0, 1)";
  if (s("dropout") !== undefined) {
    config.dropout = numberValue("dropout", s("dropout")!, probability, (v) => v >= 0 && v < 1);
  }
  const nonNegative = (flag: string, v: string) => numberValue(flag, v, "a number ≥ 0", (x) => x >= 0);
  for (
    const [flag, key, parse] of [
      ["reg", "reg", nonNegative],
      ["learning-rate", "learningRate", nonNegative],
      ["lr-decay", "lrDecay", nonNegative],
      ["epochs", "epochs", positiveInteger],
      ["batch-size", "batchSize", positiveInteger],
      ["num-train", "numTrain", positiveInteger],
      ["num-filters", "numFilters", positiveInteger],
      ["filter-size", "filterSize", positiveInteger],
      ["hidden-dim", "hiddenDim", positiveInteger],
      ["check-every", "checkEvery", positiveInteger],
    ] as const
  ) {
    if (s(flag) !== undefined) config[key] = parse(flag, s(flag)!);
  }
  if (s("num-val") !== undefined) config.numVal = positiveInteger("num-val", s("num-val")!);
  if (s("seed") !== undefined) config.seed = seedValue("seed", s("seed")!);
  if (s("weight-scale") !== undefined) {
    config.weightScale = weightScaleFlag("weight-scale", s("weight-scale")!, config.model);
  }
  if (config.model === "sequential") config.spec = sequentialModelFlag("model", modelFlag!);
  Object.assign(config, recipeFlags(values, config));
  if (config.filterSize % 2 === 0) {
    throw new UsageError(`--filter-size expects an odd positive integer, got "${config.filterSize}"`);
  }
  const settings: RunSettings = {
    ...SETTINGS_DEFAULTS,
    out: directory("out", s("out") ?? SETTINGS_DEFAULTS.out),
    runName: s("run-name") === undefined ? null : plainName("run-name", s("run-name")!),
    resume: values.resume === true,
    force: values.force === true,
    printEvery: s("print-every") === undefined
      ? SETTINGS_DEFAULTS.printEvery
      : positiveInteger("print-every", s("print-every")!),
    gemm: s("gemm") === undefined ? SETTINGS_DEFAULTS.gemm : gemmChoice("gemm", s("gemm")!),
    threads: s("threads") === undefined ? null : threadCount("threads", s("threads")!),
    quiet: values.quiet === true,
    allowBackendChange: values["allow-backend-change"] === true,
    serve: values.serve === true,
  };
  if (s("port") !== undefined) {
    settings.port = numberValue(
      "port",
      s("port")!,
      "a port number in [0, 65535] (0: a free one)",
      (v) => Number.isInteger(v) && v >= 0 && v <= 65535,
    );
    if (!settings.serve) throw new UsageError("--port applies to --serve only (the live page's port)");
  }
  if (settings.resume && settings.force) {
    throw new UsageError("--resume and --force contradict each other: --resume keeps the run, --force replaces it");
  }
  checkFits(config, options.memoryBytes === undefined ? machineMemoryBytes() : options.memoryBytes);
  return { config, settings };
}

/** The machine's memory in bytes, or null when `--allow-sys=systemMemoryInfo` was not granted. */
function machineMemoryBytes(): number | null {
  if (Deno.permissions.querySync({ name: "sys", kind: "systemMemoryInfo" }).state !== "granted") return null;
  return Deno.systemMemoryInfo().total;
}

/**
 * Refuses, before loading anything, a run that cannot fit: more training
 * examples than the dataset holds, a batch larger than the training set, a
 * tensor too large for a typed array, or a model whose parameters and
 * activations would exceed `memoryBytes` (null: not checked).
 */
function checkFits(c: TrainConfig, memoryBytes: number | null): void {
  const { format } = datasetSpec("dataset", c.dataset);
  if (c.numTrain > format.maxTraining) {
    throw new UsageError(
      `--num-train ${c.numTrain} is more than the ${format.name}'s ${format.maxTraining} training images`,
    );
  }
  if (c.batchSize > c.numTrain) {
    throw new UsageError(`--batch-size ${c.batchSize} is larger than the training set (--num-train ${c.numTrain})`);
  }
  const spec = trainingSpec(c).model;
  const bytes = estimateTrainingBytes(spec, {
    inputShape: format.imageShape,
    numClasses: format.numClasses,
    dtype: c.dtype,
    batchSize: Math.max(c.batchSize, 100),
  });
  const sizeFlag = { fc: "--hidden-dims", cnn: "--hidden-dim and --num-filters", sequential: "--model" }[spec.kind];
  if (bytes.largestTensor > MAX_TENSOR_ELEMENTS) {
    throw new UsageError(
      `${sizeFlag}: a weight of ${bytes.largestTensor} elements is more than ${MAX_TENSOR_ELEMENTS} ` +
        "(the most elements a tensor can hold)",
    );
  }
  if (memoryBytes !== null && bytes.total > memoryBytes) {
    const flag = bytes.activations > bytes.parameters ? "--batch-size" : sizeFlag;
    throw new UsageError(
      `${flag}: training this model needs about ${gigabytes(bytes.total)}, more than this machine's ${
        gigabytes(memoryBytes)
      } of memory`,
    );
  }
  if (c.spec !== null) checkSequentialFits(c.spec, format);
}

function gigabytes(bytes: number): string {
  return `${(bytes / 2 ** 30).toFixed(1)} GiB`;
}

/** The model, data and Solver a config describes, as `runTraining` takes them. */
export function trainingSpec(c: TrainConfig): TrainingSpec {
  const model: ModelSpec = c.model === "sequential" ? sequentialModelOf(c) : c.model === "fc"
    ? {
      kind: "fc",
      hiddenDims: c.hiddenDims,
      normalization: c.normalization,
      dropout: c.dropout,
      weightScale: c.weightScale as number,
      reg: c.reg,
    }
    : {
      kind: "cnn",
      numFilters: c.numFilters,
      filterSize: c.filterSize,
      hiddenDim: c.hiddenDim,
      weightScale: c.weightScale as number,
      reg: c.reg,
    };
  return {
    data: { spec: c.dataset, numTrain: c.numTrain, numVal: c.numVal, dtype: c.dtype },
    model,
    solver: {
      ...recipeSolver(c),
      learningRate: c.learningRate,
      lrDecay: c.lrDecay,
      batchSize: c.batchSize,
      numEpochs: c.epochs,
      sampling: c.shuffle ? "shuffle" : "replacement",
      ...(c.checkEvery > 0 ? { checkEvery: c.checkEvery } : {}),
    },
    seed: c.seed,
  };
}

/**
 * What identifies a run's results: the config without the settings of the
 * other model kinds, and with the recipe settings only where given (so the
 * runs of the course keep their names).
 */
function identity(c: TrainConfig): Record<string, unknown> {
  const { hiddenDims, normalization, dropout, numFilters, filterSize, hiddenDim, checkEvery, spec, ...rest } = c;
  const { augment: _a, lrSchedule: _l, nesterov: _n, weightDecay: _w, ...common } = rest;
  const recipe = recipeIdentity(c);
  // The flag's spelling ("none", not null), as run names and logs have always had it.
  const own = c.model === "sequential"
    ? { ...common, spec, ...recipe }
    : c.model === "fc"
    ? { ...common, hiddenDims, normalization: normalization ?? "none", dropout, ...recipe }
    : { ...common, numFilters, filterSize, hiddenDim, ...recipe };
  // Runs without extra checks keep the identity they had before --check-every existed.
  return checkEvery > 0 ? { ...own, checkEvery } : own;
}

/**
 * The default run name: the model and dataset, the settings that differ
 * from the model's defaults (`cnn-cifar10-lr5e-4-s1`), and 8 hex digits of a
 * hash of the whole config, so the same flags name the same run (what
 * `--resume` relies on) and different ones never share a folder.
 */
export async function defaultRunName(c: TrainConfig): Promise<string> {
  return await readableRunName({
    // A Sequential net's spec is too long for a folder name: its layer count stands in (the hash tells nets apart).
    prefix: [c.model === "sequential" ? `seq${c.spec!.split(",").length}` : c.model, c.dataset.split(":")[0]],
    settings: identity(c),
    defaults: identity(defaultConfig(c.model, c.dataset)),
    spellings: TRAIN_NAME_SPELLINGS,
  });
}

/**
 * Writes the run's report, `<run dir>/report.html` (loss and accuracy
 * charts, summary table, configuration), from its whole run log (every
 * resumed segment), and returns its path.
 */
export async function writeRunReport(
  paths: { dir: string; log: string },
  runName: string,
  config: TrainConfig,
): Promise<string> {
  const path = `${paths.dir}/report.html`;
  await writeReport(
    path,
    trainingReport({
      title: `Training run ${runName}`,
      description: `deno task train: ${modelWords(config)} on ${config.dataset}. Run log: ${paths.log}.`,
      config: { ...identity(config) },
      runs: [{ label: runName, records: await readRunLog(paths.log) }],
    }),
  );
  return path;
}

function modelWords(c: TrainConfig): string {
  return { fc: "fully connected net", cnn: "three-layer convnet", sequential: `Sequential net ${c.spec}` }[c.model];
}

/** Where `main` writes, and how a test stops it (replaceable in tests). */
export interface TrainIO {
  /** A line for stdout. */
  out?: (line: string) => void;
  /** A line for stderr. */
  err?: (line: string) => void;
  /** Progress output (default stderr). */
  progress?: WritableStream<Uint8Array>;
  /** Force terminal-style progress on or off. */
  terminal?: boolean;
  /** The memory a run may take, bytes (default: the machine's, when `--allow-sys` grants it; null: no check). */
  memoryBytes?: number | null;
  /** Called with the live page's URL once it is serving (`--serve`). */
  onServe?: (url: string) => void;
  /** With `--serve`: aborting it stops serving the final report (as Ctrl-C does). */
  signal?: AbortSignal;
  /** Listen to SIGINT and SIGTERM (default: when run as the program). */
  stopSignals?: boolean;
}

/** The paths of a run's files. */
export function runPaths(out: string, runName: string): { dir: string; log: string; checkpoint: string } {
  const { dir, log, checkpoint } = runFolderPaths(`${out.replace(/\/+$/, "") || "/"}/${runName}`);
  return { dir, log, checkpoint };
}

/** A live page of one run, fed by `serveRun` (the final report replaces it). */
function liveReport(runName: string, config: TrainConfig) {
  return trainingReport({
    title: `Training run ${runName} (live)`,
    description: `deno task train: ${modelWords(config)} on ${config.dataset}, training. ` +
      "The report replaces this page when the run is over (reload).",
    config: { ...identity(config) },
    runs: [{ label: runName, records: [] }],
    live: { runLabel: runName },
  });
}

/**
 * The command: parses `args`, trains in the run's folder, writes its
 * files, prints where. Returns the exit code: 0 done, 1 the run failed (a
 * non-finite loss, an unusable checkpoint, a dataset that cannot be read),
 * 2 a command-line mistake (one line naming the flag) or a folder that is
 * not this command's to write (locked by another run, or holding results
 * without `--resume` or `--force`).
 */
export async function main(args: string[], io: TrainIO = {}): Promise<number> {
  const out = io.out ?? ((line: string) => console.log(line));
  const err = io.err ?? ((line: string) => console.error(line));
  let parsed;
  try {
    parsed = parseTrainArgs(args, { memoryBytes: io.memoryBytes });
  } catch (e) {
    if (e instanceof UsageError) {
      err(`train: ${e.message}`);
      return 2;
    }
    throw e;
  }
  if (parsed === null) {
    out(usage().trimEnd());
    return 0;
  }
  const { config: c, settings } = parsed;
  let report: (() => Promise<string>) | undefined;
  let server: RunServer | undefined;
  let lock: RunLock | undefined;
  let liveWriter: WritableStreamDefaultWriter<TrainRecord> | undefined;
  let lastIteration = 0, planned = 0;
  let trained = false;
  const stopped = Promise.withResolvers<void>();
  const index = (exiting = false) => writeIndexPage(settings.out, { exiting }).catch(() => {});
  let removeListeners = () => {};
  try {
    if (settings.threads) setThreads(settings.threads);
    useGemmBackend(settings.gemm, { quiet: settings.quiet });
    const runName = settings.runName ?? await defaultRunName(c);
    const paths = runPaths(settings.out, runName);
    if (io.stopSignals ?? import.meta.main) {
      removeListeners = onStopSignals((signal) => {
        if (trained) return stopped.resolve();
        // The run goes on while the index is written; from the checkpoint's reading on, nothing else runs, so the
        // line is the last one printed and names the iteration the run stopped at.
        void index(true).then(() => readCheckpointProgress(paths.checkpoint).catch(() => null)).then((saved) => {
          err(stopLine(signal, saved));
          lock?.releaseSync();
        }).finally(() => Deno.exit(STOP_EXIT_CODES[signal]));
      });
    }
    /** Where the run stopped and the command that continues it. */
    const stopLine = (signal: StopSignal, saved: { iteration: number; epoch: number } | null): string => {
      const where = `stopped (${signal}) at iteration ${lastIteration}${planned ? ` of ${planned}` : ""}`;
      const kept = saved === null
        ? `${paths.dir} has no checkpoint yet (the first is written at the end of epoch 1): --resume starts it over`
        : `${paths.dir} keeps its checkpoint of iteration ${saved.iteration} (epoch ${saved.epoch})`;
      return `train: ${where}; ${kept}; continue with: ${continueCommand("train", args)}`;
    };
    const watch = new WritableStream<TrainEvent>({
      write({ record }) {
        if (record.kind === "start") planned = record.numIterations;
        else lastIteration = record.iteration;
        void liveWriter?.write(record).catch(() => {});
      },
    });
    const run = await runInFolder(trainingSpec(c), {
      dir: paths.dir,
      resume: settings.resume,
      force: settings.force,
      allowBackendChange: settings.allowBackendChange,
      emptyResume: "refuse",
      label: runName,
      command: commandLine(args),
      notice: (line) => out(`train: ${line}`),
      onLocked: (held) => (lock = held),
      replay: (records) => {
        for (const r of records) void liveWriter?.write(r).catch(() => {});
      },
      outputs: {
        verbose: !settings.quiet,
        printEvery: settings.printEvery,
        progress: {
          ...(io.progress ? { writable: io.progress } : {}),
          ...(io.terminal !== undefined ? { terminal: io.terminal } : {}),
        },
        run: { model: identity(c) },
        sinks: [watch],
      },
      beforeTrain: async ({ data }, resumedFrom) => {
        report = () => writeRunReport(paths, runName, c);
        if (settings.serve) {
          const live = new TransformStream<TrainRecord, TrainRecord>();
          liveWriter = live.writable.getWriter();
          await writeReport(`${paths.dir}/report.html`, liveReport(runName, c));
          server = await serveRun(paths.dir, live.readable, { port: settings.port });
          out(`train: live view at ${server.url}`);
          io.onServe?.(server.url);
        }
        if (resumedFrom !== undefined) {
          out(`train: resuming ${paths.dir} at iteration ${resumedFrom.iteration} (epoch ${resumedFrom.epoch})`);
        } else {
          out(
            `train: ${paths.dir} (${data.name}, ${
              data.xTrain.shape[0]
            } training examples; gemm ${describeGemmBackend()}; ${describeThreads()})`,
          );
        }
      },
    });
    trained = true;
    await liveWriter?.close().catch(() => {});
    report ??= () => writeRunReport(paths, runName, c);
    if (run.how === "kept") {
      out(`train: ${paths.dir} holds a ${run.stopped ? "stopped" : "finished"} run: kept as it is (--resume)`);
    }
    if (run.stopped !== null) {
      err(`train: ${run.stopped.message}`);
      // A stopped run's report shows where the loss went.
      await report().then((path) => out(`train: report ${path}`), () => {});
      await index();
      return 1;
    }
    const end = run.records.findLast((r): r is EndRecord => r.kind === "end");
    out(`train: run log ${paths.log}`);
    out(`train: checkpoint ${paths.checkpoint}`);
    const reportPath = await report();
    const r = run.result;
    out(
      `train: final train acc ${fmt(r.finalTrainAcc)}, val acc ${fmt(r.finalValAcc)}, best val acc ${
        fmt(r.bestValAcc)
      }` +
        // The speed of what this process trained: nothing when a resume found the run at its last step.
        (end && run.how !== "kept" && end.examplesPerSec > 0
          ? `; ${(end.wallMs / 1000).toFixed(1)} s, ${Math.round(end.examplesPerSec)} examples/s${
            run.how === "resumed" ? " (since the resume)" : ""
          }`
          : ""),
    );
    out(`train: report ${reportPath}`);
    out(`train: all runs ${await writeIndexPage(settings.out)}`);
    if (server !== undefined) {
      await server.recordsDone.catch(() => {});
      out(`train: serving the report at ${server.url} (Ctrl-C to stop)`);
      if (io.signal?.aborted) stopped.resolve();
      io.signal?.addEventListener("abort", () => stopped.resolve(), { once: true });
      await stopped.promise;
    }
    return 0;
  } catch (e) {
    if (e instanceof CheckpointError) {
      err(`train: ${e.message}`);
      return 1;
    }
    return commandErrorExit(
      "train",
      e,
      err,
      (e) => e instanceof UsageError || e instanceof RunLockedError || e instanceof RunFolderTakenError,
    );
  } finally {
    removeListeners();
    await liveWriter?.close().catch(() => {});
    await server?.shutdown();
  }
}

/** This command as the user typed it (`deno task train …`), for the lock. */
function commandLine(args: readonly string[]): string {
  return ["deno task train", ...args.map(shellWord)].join(" ");
}

function fmt(x: number | null | undefined): string {
  return x === undefined || x === null ? "n/a" : x.toFixed(3);
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
