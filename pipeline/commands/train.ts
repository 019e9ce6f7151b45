/**
 * `deno task train`: trains a model as the course's Solver does and writes
 * its run log (NDJSON) and checkpoint (safetensors) under `out/`.
 *
 * Without flags it runs the course's batch-normalization experiment: a
 * six-layer fully connected net (five hidden layers of 100, batch norm)
 * on 1,000 images of the embedded CIFAR-10 sample, 10 epochs of batch 50,
 * Adam at 1e-3, weight scale 2e-2. `--help` lists every flag.
 *
 * The whole run draws from one `RandomState(seed)`, as the course's single
 * `np.random` stream: initial weights, dropout masks, minibatches and
 * accuracy subsamples, so a run is reproducible from its flags and
 * `--resume` continues it bit for bit.
 *
 * @module
 */

import { DATASET_SPECS } from "../../datasets/registry.ts";
import { describeGemmBackend, type GemmBackendName, useGemmBackend } from "../../layers/kernels/gemm_backends.ts";
import { estimateTrainingBytes, type ModelSpec, type Normalization } from "../../layers/models/model_spec.ts";
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
import type { DType } from "../../layers/tensor.ts";
import { writeReport } from "../../reports/render.ts";
import { trainingReport } from "../../reports/run_report.ts";
import { runTraining, type TrainingSpec } from "../run_training.ts";
import { CheckpointError, computeChange, currentCompute, loadCheckpoint } from "../store/checkpoint.ts";
import type { EndRecord, TrainRecord } from "../store/records.ts";
import { collectRecords, readRunLog } from "../store/run_log.ts";
import { UPDATE_RULE_FLAGS } from "../update_rules.ts";
import {
  choice,
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
  UsageError,
} from "./cli.ts";

export { UsageError };

/** The update rules by their command-line names (see `UPDATE_RULE_FLAGS` in `pipeline/update_rules.ts`). */
export const CLI_UPDATE_RULES: Readonly<Record<string, string>> = UPDATE_RULE_FLAGS;

/** Everything a training run is made of, after parsing and defaults. */
export interface TrainConfig {
  /** `"fc"` (FullyConnectedNet), `"cnn"` (ThreeLayerConvNet) or `"sequential"` (a net from `--model SPEC|FILE`). */
  model: "fc" | "cnn" | "sequential";
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
  /** Training examples. */
  numTrain: number;
  /** Validation examples (null: the loader's default). */
  numVal: number | null;
  /** Dataset spec. */
  dataset: string;
  /** Seed of the run's one generator. */
  seed: number;
  /** Sample batches without replacement, one permutation per epoch. */
  shuffle: boolean;
}

/** Options of a run that do not change its results. */
export interface RunSettings {
  /** Output root; the run goes to `<out>/<runName>/`. */
  out: string;
  /** Run directory name (default: derived from the config). */
  runName: string | null;
  /** Continue from the run's checkpoint. */
  resume: boolean;
  /** Course lines: loss every this many iterations. */
  printEvery: number;
  /** gemm backend. */
  gemm: GemmBackendName | "auto";
  /** No progress output. */
  quiet: boolean;
  /** Resume even when the checkpoint was written with another gemm backend or thread count. Default false. */
  allowBackendChange?: boolean;
}

/** The defaults: the course's batch-normalization experiment. */
export const TRAIN_DEFAULTS: Readonly<TrainConfig & RunSettings> = Object.freeze({
  model: "fc",
  spec: null,
  hiddenDims: [100, 100, 100, 100, 100],
  normalization: "batchnorm",
  dropout: 0,
  numFilters: 32,
  filterSize: 7,
  hiddenDim: 100,
  reg: 0,
  weightScale: 2e-2,
  augment: null,
  lrSchedule: null,
  nesterov: false,
  weightDecay: 0,
  dtype: "float32",
  updateRule: "adam",
  learningRate: 1e-3,
  lrDecay: 1,
  epochs: 10,
  batchSize: 50,
  numTrain: 1000,
  numVal: null,
  dataset: "sample",
  seed: 0,
  shuffle: false,
  out: "out",
  runName: null,
  resume: false,
  printEvery: 10,
  gemm: "auto",
  quiet: false,
}) as Readonly<TrainConfig & RunSettings>;

/** The usage text printed by `--help`. */
export function usage(): string {
  const d = TRAIN_DEFAULTS;
  return `Usage: deno task train [flags]

Trains a model as the CS231n Solver does (streaming dataflow), writing the run log
<out>/<run>/run.ndjson and the checkpoint <out>/<run>/checkpoint.safetensors (every epoch).
Without flags: the course's batch-norm experiment on the embedded CIFAR-10 sample.

Model
  --model fc|cnn|SPEC|FILE       fully connected net, three-layer convnet, or a Sequential net from a spec
                                 (conv32x3-sbn-relu-pool2,affine10) or a JSON file (default ${d.model})
  --hidden-dims N,N,…            fc hidden layer sizes (default ${d.hiddenDims.join(",")})
  --normalization batchnorm|layernorm|none
                                 fc normalization (default ${d.normalization})
  --dropout P                    fc probability of dropping a unit, 0 ≤ P < 1 (default ${d.dropout})
  --num-filters N                cnn filters (default ${d.numFilters})
  --filter-size N                cnn odd filter size (default ${d.filterSize})
  --hidden-dim N                 cnn hidden units (default ${d.hiddenDim})
  --reg R                        L2 regularization strength (default ${d.reg})
  --weight-scale S|kaiming       std of the initial weights, or kaiming: √(2/fan-in) (SPEC only) (default ${d.weightScale})
  --dtype float32|float64        parameter dtype (default ${d.dtype})
Optimizer
  --update-rule sgd|sgd-momentum|rmsprop|adam   (default ${d.updateRule})
  --learning-rate LR             (default ${d.learningRate})
  --lr-decay D                   learning-rate factor after each epoch (default ${d.lrDecay})
  --lr-schedule SCHEDULE         per-step rate: step:size=N[,gamma=G] | cosine[:min=LR][,steps=T] |
                                 onecycle[:pct=P][,div=D][,final=F][,anneal=cos|linear][,steps=T]
  --nesterov                     Nesterov momentum (with sgd-momentum; PyTorch's SGD)
  --weight-decay WD              coupled for sgd and sgd-momentum, decoupled (AdamW) for adam (default 0)
  --augment flip,cropP           mirror and/or crop with P pixels of zero padding each training image (default none)
Schedule
  --epochs N                     (default ${d.epochs})
  --batch-size N                 (default ${d.batchSize})
  --num-train N                  training examples (default ${d.numTrain})
  --num-val N                    validation examples (default: the dataset's, 1000 for sample)
  --shuffle                      draw batches without replacement, one permutation per epoch
                                 (default: the course's choice(numTrain, batchSize) per step)
Data
  --dataset SPEC                 ${DATASET_SPECS.join(" | ")} (default ${d.dataset})
Run
  --seed S                       seed of the run's generator, 0 ≤ S < 2^32 (default ${d.seed})
  --out DIR                      output root (default ${d.out})
  --run-name NAME                run directory name (default: derived from the flags above)
  --resume                       continue the run from its checkpoint
  --allow-backend-change         with --resume: continue although the checkpoint was written with another gemm
                                 backend or thread count (the result will not be bit-identical)
  --print-every N                loss line every N iterations (default ${d.printEvery})
  --gemm blas|wasm|ts|auto       matrix-product backend (default ${d.gemm}, or env GRADSTREAM_GEMM)
  --quiet                        no progress output
  --help                         this text
`;
}

const FLAGS = flagTable(
  [
    ...["model", "hidden-dims", "normalization", "dropout", "num-filters", "filter-size", "hidden-dim", "reg"],
    ...["weight-scale", "dtype", "update-rule", "learning-rate", "lr-decay", "epochs", "batch-size", "num-train"],
    ...["num-val", "dataset", "seed", "out", "run-name", "print-every", "gemm"],
    ...["augment", "lr-schedule", "weight-decay"],
  ] as const,
  ["shuffle", "resume", "allow-backend-change", "quiet", "help", "nesterov"] as const,
);

/**
 * Parses the command line into a config and settings (defaults filled in).
 * `null` means `--help` was asked for.
 *
 * @throws UsageError naming the flag and what it expects
 */
export function parseTrainArgs(
  args: string[],
  options: { memoryBytes?: number | null } = {},
): { config: TrainConfig; settings: RunSettings } | null {
  const { values } = parseFlags(args, FLAGS, { unknownFlagHint: " (see --help)" });
  if (values.help) return null;
  const d = TRAIN_DEFAULTS;
  const s = (k: keyof typeof FLAGS) => values[k] as string | undefined;
  const { out: _o, runName: _r, resume: _re, printEvery: _p, gemm: _g, quiet: _q, ...configDefaults } = d;
  const config: TrainConfig = {
    ...configDefaults,
    hiddenDims: [...d.hiddenDims],
    model: s("model") === undefined || ["fc", "cnn"].includes(s("model")!)
      ? (s("model") ?? d.model) as "fc" | "cnn"
      : "sequential",
    normalization: s("normalization") === undefined
      ? d.normalization
      : NORMALIZATION_FLAGS[choice("normalization", s("normalization")!, Object.keys(NORMALIZATION_FLAGS))],
    dtype: s("dtype") === undefined ? d.dtype : choice("dtype", s("dtype")!, ["float32", "float64"] as const),
    updateRule: s("update-rule") === undefined
      ? d.updateRule
      : choice("update-rule", s("update-rule")!, COURSE_RULE_FLAGS),
    dataset: s("dataset") ?? d.dataset,
    shuffle: values.shuffle === true,
  };
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
    ] as const
  ) {
    if (s(flag) !== undefined) config[key] = parse(flag, s(flag)!);
  }
  if (s("num-val") !== undefined) config.numVal = positiveInteger("num-val", s("num-val")!);
  if (s("seed") !== undefined) config.seed = seedValue("seed", s("seed")!);
  if (s("weight-scale") !== undefined) {
    config.weightScale = weightScaleFlag("weight-scale", s("weight-scale")!, config.model);
  }
  if (config.model === "sequential") config.spec = sequentialModelFlag("model", s("model")!);
  Object.assign(config, recipeFlags(values, config));
  if (config.filterSize % 2 === 0) {
    throw new UsageError(`--filter-size expects an odd positive integer, got "${config.filterSize}"`);
  }
  const settings: RunSettings = {
    out: directory("out", s("out") ?? d.out),
    runName: s("run-name") === undefined ? null : plainName("run-name", s("run-name")!),
    resume: values.resume === true,
    printEvery: s("print-every") === undefined ? d.printEvery : positiveInteger("print-every", s("print-every")!),
    gemm: s("gemm") === undefined ? d.gemm : gemmChoice("gemm", s("gemm")!),
    quiet: values.quiet === true,
    allowBackendChange: values["allow-backend-change"] === true,
  };
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
  const { hiddenDims, normalization, dropout, numFilters, filterSize, hiddenDim, spec, ...rest } = c;
  const { augment: _a, lrSchedule: _l, nesterov: _n, weightDecay: _w, ...common } = rest;
  const recipe = recipeIdentity(c);
  // The flag's spelling ("none", not null), as run names and logs have always had it.
  if (c.model === "sequential") return { ...common, spec, ...recipe };
  return c.model === "fc"
    ? { ...common, hiddenDims, normalization: normalization ?? "none", dropout, ...recipe }
    : { ...common, numFilters, filterSize, hiddenDim, ...recipe };
}

/**
 * The default run name: a readable summary plus 8 hex digits of a hash of
 * the whole config, so the same flags name the same run (what `--resume`
 * relies on) and different ones never share a directory.
 */
export async function defaultRunName(c: TrainConfig): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(JSON.stringify(identity(c))));
  const hash = Array.from(new Uint8Array(digest).slice(0, 4), (b) => b.toString(16).padStart(2, "0")).join("");
  const dims = c.hiddenDims.every((h) => h === c.hiddenDims[0])
    ? `${c.hiddenDims.length}x${c.hiddenDims[0]}`
    : c.hiddenDims.join("-");
  const arch = c.model === "fc"
    ? `fc${dims}-${c.normalization ?? "none"}`
    : c.model === "cnn"
    ? `cnn${c.numFilters}`
    : `seq${c.spec!.split(",").length}`;
  const data = c.dataset.split(":")[0];
  return `${arch}-${c.updateRule}-${data}-s${c.seed}-${hash}`;
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
  const kind = { fc: "fully connected net", cnn: "three-layer convnet", sequential: `Sequential net ${config.spec}` }[
    config.model
  ];
  await writeReport(
    path,
    trainingReport({
      title: `Training run ${runName}`,
      description: `deno task train: ${kind} on ${config.dataset}. Run log: ${paths.log}.`,
      config: { ...identity(config) },
      runs: [{ label: runName, records: await readRunLog(paths.log) }],
    }),
  );
  return path;
}

/** Where `main` writes (replaceable in tests). */
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
}

/** The paths of a run's files. */
export function runPaths(out: string, runName: string): { dir: string; log: string; checkpoint: string } {
  const dir = `${out.replace(/\/+$/, "") || "/"}/${runName}`;
  return { dir, log: `${dir}/run.ndjson`, checkpoint: `${dir}/checkpoint.safetensors` };
}

/**
 * The command: parses `args`, trains, writes the run's files, prints where.
 * Returns the exit code: 0 done, 1 the run failed (a non-finite loss, an
 * unusable checkpoint, a dataset that cannot be read), 2 a command-line
 * mistake (one line naming the flag).
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
  const records: TrainRecord[] = [];
  let report: (() => Promise<string>) | undefined;
  try {
    useGemmBackend(settings.gemm, { quiet: settings.quiet });
    const runName = settings.runName ?? await defaultRunName(c);
    const paths = runPaths(settings.out, runName);
    const { solver, stopped } = await runTraining(trainingSpec(c), {
      verbose: !settings.quiet,
      printEvery: settings.printEvery,
      progress: {
        ...(io.progress ? { writable: io.progress } : {}),
        ...(io.terminal !== undefined ? { terminal: io.terminal } : {}),
      },
      runLog: paths.log,
      checkpoint: paths.checkpoint,
      run: { model: identity(c) },
      sinks: [collectRecords(records)],
      beforeTrain: async ({ data, solver }) => {
        await Deno.mkdir(paths.dir, { recursive: true });
        report = () => writeRunReport(paths, runName, c);
        if (settings.resume) {
          const checkpoint = await loadCheckpoint(paths.checkpoint);
          for (const notice of checkpoint.notices) out(`train: ${notice}`);
          const change = computeChange(checkpoint, currentCompute(), paths.checkpoint);
          if (change !== null && !settings.allowBackendChange) {
            throw new UsageError(`${change} (pass --allow-backend-change to continue anyway)`);
          }
          if (change !== null) out(`train: ${change}; continuing as --allow-backend-change asks`);
          solver.restore(checkpoint, paths.checkpoint);
          out(
            `train: resuming ${paths.dir} at iteration ${checkpoint.snapshot.iteration} (epoch ${checkpoint.snapshot.epoch})`,
          );
        } else {
          // A stale checkpoint of an earlier identical run must not outlive this run's fresh log.
          await Deno.remove(paths.checkpoint).catch((e) => {
            if (!(e instanceof Deno.errors.NotFound)) throw e;
          });
          out(
            `train: ${paths.dir} (${data.name}, ${
              data.xTrain.shape[0]
            } training examples; gemm ${describeGemmBackend()})`,
          );
        }
      },
    });
    if (stopped !== null) {
      err(`train: ${stopped.message}`);
      // A stopped run's report shows where the loss went.
      await report!().then((path) => out(`train: report ${path}`), () => {});
      return 1;
    }
    const end = records.findLast((r): r is EndRecord => r.kind === "end");
    const checks = solver.valAccHistory.length;
    out(`train: run log ${paths.log}`);
    out(`train: checkpoint ${paths.checkpoint}`);
    const reportPath = await report!();
    out(
      `train: final train acc ${fmt(solver.trainAccHistory[checks - 1])}, val acc ${
        fmt(solver.valAccHistory[checks - 1])
      }, ` +
        `best val acc ${fmt(solver.bestValAcc)}` +
        (end ? `; ${(end.wallMs / 1000).toFixed(1)} s, ${Math.round(end.examplesPerSec)} examples/s` : ""),
    );
    out(`train: report ${reportPath}`);
    return 0;
  } catch (e) {
    if (e instanceof UsageError) {
      err(`train: ${e.message}`);
      return 2;
    }
    if (e instanceof CheckpointError) {
      err(`train: ${e.message}`);
      return 1;
    }
    if (e instanceof Error) {
      err(`train: ${e.message.split("\n")[0]}`);
      return 1;
    }
    throw e;
  }
}

function fmt(x: number | undefined): string {
  return x === undefined ? "n/a" : x.toFixed(3);
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
