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

import { parseArgs } from "node:util";
import { type Dataset, DATASET_SPECS, loadDataset } from "../../datasets/dataset.ts";
import { describeGemmBackend, type GemmBackendName, useGemmBackend } from "../../layers/kernels/gemm_backends.ts";
import { FullyConnectedNet, type Normalization } from "../../layers/models/fully_connected_net.ts";
import type { Model } from "../../layers/models/model.ts";
import { ThreeLayerConvNet } from "../../layers/models/three_layer_convnet.ts";
import { RandomState } from "../../layers/random.ts";
import type { DType } from "../../layers/tensor.ts";
import { writeReport } from "../../reports/render.ts";
import { trainingReport } from "../../reports/run_report.ts";
import { CheckpointError, computeChange, currentCompute, loadCheckpoint } from "../store/checkpoint.ts";
import type { EndRecord, TrainRecord } from "../store/records.ts";
import { collectRecords, readRunLog } from "../store/run_log.ts";
import { Solver, TrainingStoppedError } from "../solver.ts";
import type { UpdateRuleName } from "../update_rules.ts";

/** A command-line mistake: one line, exit code 2. */
export class UsageError extends Error {
  /** @param message the line to print after `train: ` */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** The update rules by their command-line names. */
export const CLI_UPDATE_RULES: Readonly<Record<string, UpdateRuleName>> = Object.freeze({
  "sgd": "sgd",
  "sgd-momentum": "sgdMomentum",
  "rmsprop": "rmsprop",
  "adam": "adam",
});

/** Everything a training run is made of, after parsing and defaults. */
export interface TrainConfig {
  /** `"fc"` (FullyConnectedNet) or `"cnn"` (ThreeLayerConvNet). */
  model: "fc" | "cnn";
  /** fc: hidden layer sizes. */
  hiddenDims: number[];
  /** fc: normalization after each hidden layer. */
  normalization: "batchnorm" | "layernorm" | "none";
  /** fc: probability of dropping a hidden unit (0: no dropout). */
  dropout: number;
  /** cnn: filters, filter size, hidden units. */
  numFilters: number;
  filterSize: number;
  hiddenDim: number;
  /** L2 regularization strength. */
  reg: number;
  /** Standard deviation of the initial weights. */
  weightScale: number;
  /** Parameter dtype. */
  dtype: DType;
  /** Update rule (command-line name). */
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
  hiddenDims: [100, 100, 100, 100, 100],
  normalization: "batchnorm",
  dropout: 0,
  numFilters: 32,
  filterSize: 7,
  hiddenDim: 100,
  reg: 0,
  weightScale: 2e-2,
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
  --model fc|cnn                 fully connected net or three-layer convnet (default ${d.model})
  --hidden-dims N,N,…            fc hidden layer sizes (default ${d.hiddenDims.join(",")})
  --normalization batchnorm|layernorm|none
                                 fc normalization (default ${d.normalization})
  --dropout P                    fc probability of dropping a unit, 0 ≤ P < 1 (default ${d.dropout})
  --num-filters N                cnn filters (default ${d.numFilters})
  --filter-size N                cnn odd filter size (default ${d.filterSize})
  --hidden-dim N                 cnn hidden units (default ${d.hiddenDim})
  --reg R                        L2 regularization strength (default ${d.reg})
  --weight-scale S               std of the initial weights (default ${d.weightScale})
  --dtype float32|float64        parameter dtype (default ${d.dtype})
Optimizer
  --update-rule sgd|sgd-momentum|rmsprop|adam   (default ${d.updateRule})
  --learning-rate LR             (default ${d.learningRate})
  --lr-decay D                   learning-rate factor after each epoch (default ${d.lrDecay})
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

const FLAGS = {
  "model": { type: "string" },
  "hidden-dims": { type: "string" },
  "normalization": { type: "string" },
  "dropout": { type: "string" },
  "num-filters": { type: "string" },
  "filter-size": { type: "string" },
  "hidden-dim": { type: "string" },
  "reg": { type: "string" },
  "weight-scale": { type: "string" },
  "dtype": { type: "string" },
  "update-rule": { type: "string" },
  "learning-rate": { type: "string" },
  "lr-decay": { type: "string" },
  "epochs": { type: "string" },
  "batch-size": { type: "string" },
  "num-train": { type: "string" },
  "num-val": { type: "string" },
  "dataset": { type: "string" },
  "seed": { type: "string" },
  "out": { type: "string" },
  "run-name": { type: "string" },
  "print-every": { type: "string" },
  "gemm": { type: "string" },
  "shuffle": { type: "boolean" },
  "resume": { type: "boolean" },
  "allow-backend-change": { type: "boolean" },
  "quiet": { type: "boolean" },
  "help": { type: "boolean" },
} as const;

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

function positiveInt(flag: string, s: string): number {
  const v = Number(s);
  if (!/^\d+$/.test(s) || !Number.isSafeInteger(v) || v <= 0) {
    throw new UsageError(`--${flag} expects a positive integer, got ${JSON.stringify(s)}`);
  }
  return v;
}

function number(flag: string, s: string, what: string, ok: (v: number) => boolean): number {
  const v = Number(s);
  if (!NUMBER.test(s) || !Number.isFinite(v) || !ok(v)) {
    throw new UsageError(`--${flag} expects ${what}, got ${JSON.stringify(s)}`);
  }
  return v;
}

function choice<T extends string>(flag: string, s: string, options: readonly T[]): T {
  if (!(options as readonly string[]).includes(s)) {
    throw new UsageError(`--${flag} expects one of ${options.join(", ")}, got ${JSON.stringify(s)}`);
  }
  return s as T;
}

/** Turns `node:util` parseArgs errors into one line naming the flag. */
function parseError(e: unknown): UsageError {
  const err = e as { code?: string; message?: string };
  const message = err.message ?? String(e);
  const flag = /'(-[^' ]+)/.exec(message)?.[1] ?? "";
  switch (err.code) {
    case "ERR_PARSE_ARGS_UNKNOWN_OPTION":
      return new UsageError(`unknown flag ${flag} (see --help)`);
    case "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL":
      return new UsageError(
        `unexpected argument ${JSON.stringify(/'([^']*)'/.exec(message)?.[1] ?? "")}; flags start with -- (see --help)`,
      );
    case "ERR_PARSE_ARGS_INVALID_OPTION_VALUE":
      if (message.includes("does not take an argument")) return new UsageError(`${flag} takes no value`);
      if (message.includes("ambiguous")) {
        return new UsageError(`${flag} expects a value; write ${flag}=VALUE for a value starting with "-"`);
      }
      return new UsageError(`${flag} expects a value`);
    default:
      return new UsageError(message.split("\n")[0]);
  }
}

/**
 * Parses the command line into a config and settings (defaults filled in).
 * `null` means `--help` was asked for.
 *
 * @throws UsageError naming the flag and what it expects
 */
export function parseTrainArgs(args: string[]): { config: TrainConfig; settings: RunSettings } | null {
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({ args, options: FLAGS, strict: true, allowPositionals: false }).values;
  } catch (e) {
    throw parseError(e);
  }
  if (values.help) return null;
  const d = TRAIN_DEFAULTS;
  const s = (k: keyof typeof FLAGS) => values[k] as string | undefined;
  const { out: _o, runName: _r, resume: _re, printEvery: _p, gemm: _g, quiet: _q, ...configDefaults } = d;
  const config: TrainConfig = {
    ...configDefaults,
    hiddenDims: [...d.hiddenDims],
    model: s("model") === undefined ? d.model : choice("model", s("model")!, ["fc", "cnn"] as const),
    normalization: s("normalization") === undefined
      ? d.normalization
      : choice("normalization", s("normalization")!, ["batchnorm", "layernorm", "none"] as const),
    dtype: s("dtype") === undefined ? d.dtype : choice("dtype", s("dtype")!, ["float32", "float64"] as const),
    updateRule: s("update-rule") === undefined
      ? d.updateRule
      : choice("update-rule", s("update-rule")!, Object.keys(CLI_UPDATE_RULES)),
    dataset: s("dataset") ?? d.dataset,
    shuffle: values.shuffle === true,
  };
  const hd = s("hidden-dims");
  if (hd !== undefined) {
    const parts = hd.split(",");
    if (!parts.every((p) => /^\d+$/.test(p.trim()) && Number(p) > 0)) {
      throw new UsageError(
        `--hidden-dims expects comma-separated positive integers like 100,100, got ${JSON.stringify(hd)}`,
      );
    }
    config.hiddenDims = parts.map(Number);
  }
  const probability = "a probability of dropping a unit in [0, 1)";
  if (s("dropout") !== undefined) {
    config.dropout = number("dropout", s("dropout")!, probability, (v) => v >= 0 && v < 1);
  }
  if (s("reg") !== undefined) config.reg = number("reg", s("reg")!, "a number ≥ 0", (v) => v >= 0);
  if (s("weight-scale") !== undefined) {
    config.weightScale = number("weight-scale", s("weight-scale")!, "a number ≥ 0", (v) => v >= 0);
  }
  if (s("learning-rate") !== undefined) {
    config.learningRate = number("learning-rate", s("learning-rate")!, "a number ≥ 0", (v) => v >= 0);
  }
  if (s("lr-decay") !== undefined) config.lrDecay = number("lr-decay", s("lr-decay")!, "a number ≥ 0", (v) => v >= 0);
  for (
    const [flag, key] of [
      ["epochs", "epochs"],
      ["batch-size", "batchSize"],
      ["num-train", "numTrain"],
      ["num-filters", "numFilters"],
      ["filter-size", "filterSize"],
      ["hidden-dim", "hiddenDim"],
    ] as const
  ) {
    if (s(flag) !== undefined) config[key] = positiveInt(flag, s(flag)!);
  }
  if (s("num-val") !== undefined) config.numVal = positiveInt("num-val", s("num-val")!);
  if (s("seed") !== undefined) {
    const seed = s("seed")!;
    if (!/^\d+$/.test(seed) || Number(seed) >= 2 ** 32) {
      throw new UsageError(`--seed expects an integer in [0, 2^32), got ${JSON.stringify(seed)}`);
    }
    config.seed = Number(seed);
  }
  if (config.filterSize % 2 === 0) {
    throw new UsageError(`--filter-size expects an odd positive integer, got "${config.filterSize}"`);
  }
  const settings: RunSettings = {
    out: s("out") ?? d.out,
    runName: s("run-name") ?? null,
    resume: values.resume === true,
    printEvery: s("print-every") === undefined ? d.printEvery : positiveInt("print-every", s("print-every")!),
    gemm: s("gemm") === undefined ? d.gemm : choice("gemm", s("gemm")!, ["blas", "wasm", "ts", "auto"] as const),
    quiet: values.quiet === true,
    allowBackendChange: values["allow-backend-change"] === true,
  };
  if (settings.out === "") throw new UsageError(`--out expects a directory, got ""`);
  if (settings.runName !== null && !/^[\w.-]+$/.test(settings.runName)) {
    throw new UsageError(
      `--run-name expects letters, digits, ".", "_" or "-", got ${JSON.stringify(settings.runName)}`,
    );
  }
  return { config, settings };
}

/** What identifies a run's results: the config without the settings of the other model kind. */
function identity(c: TrainConfig): Record<string, unknown> {
  const { hiddenDims, normalization, dropout, numFilters, filterSize, hiddenDim, ...common } = c;
  return c.model === "fc"
    ? { ...common, hiddenDims, normalization, dropout }
    : { ...common, numFilters, filterSize, hiddenDim };
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
  const arch = c.model === "fc" ? `fc${dims}-${c.normalization}` : `cnn${c.numFilters}`;
  const data = c.dataset.split(":")[0];
  return `${arch}-${c.updateRule}-${data}-s${c.seed}-${hash}`;
}

/** Builds the model the config describes, drawing its weights from `random`. */
export function buildModel(c: TrainConfig, data: Dataset, random: RandomState): Model {
  const numClasses = data.classNames.length;
  const [, ...image] = data.xTrain.shape;
  if (c.model === "fc") {
    return new FullyConnectedNet(c.hiddenDims, {
      inputDim: image.reduce((p, v) => p * v, 1),
      numClasses,
      dropout: c.dropout,
      normalization: (c.normalization === "none" ? null : c.normalization) as Normalization,
      reg: c.reg,
      weightScale: c.weightScale,
      dtype: c.dtype,
      random,
    });
  }
  if (image.length !== 3) {
    throw new Error(`--model cnn needs images (N, C, H, W); ${data.name} gives (N, ${image.join(", ")})`);
  }
  return new ThreeLayerConvNet({
    inputDim: image as [number, number, number],
    numFilters: c.numFilters,
    filterSize: c.filterSize,
    hiddenDim: c.hiddenDim,
    numClasses,
    weightScale: c.weightScale,
    reg: c.reg,
    dtype: c.dtype,
    random,
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
  const kind = config.model === "fc" ? "fully connected net" : "three-layer convnet";
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
    parsed = parseTrainArgs(args);
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
    const data = await loadDataset(c.dataset, {
      numTraining: c.numTrain,
      ...(c.numVal === null ? {} : { numValidation: c.numVal }),
      dtype: c.dtype,
    });
    const runName = settings.runName ?? await defaultRunName(c);
    const paths = runPaths(settings.out, runName);
    await Deno.mkdir(paths.dir, { recursive: true });
    report = () => writeRunReport(paths, runName, c);
    const random = new RandomState(c.seed);
    const model = buildModel(c, data, random);
    const solver = new Solver(model, data, {
      updateRule: CLI_UPDATE_RULES[c.updateRule],
      optimConfig: { learningRate: c.learningRate },
      lrDecay: c.lrDecay,
      batchSize: c.batchSize,
      numEpochs: c.epochs,
      sampling: c.shuffle ? "shuffle" : "replacement",
      random,
      verbose: !settings.quiet,
      printEvery: settings.printEvery,
      progress: {
        ...(io.progress ? { writable: io.progress } : {}),
        ...(io.terminal !== undefined ? { terminal: io.terminal } : {}),
      },
      runLog: paths.log,
      checkpoint: paths.checkpoint,
      run: {
        model: identity(c),
        dataset: { spec: c.dataset, name: data.name, numTrain: data.xTrain.shape[0], numVal: data.xVal.shape[0] },
      },
      sinks: [collectRecords(records)],
    });
    if (settings.resume) {
      const checkpoint = await loadCheckpoint(paths.checkpoint);
      for (const notice of checkpoint.notices) out(`train: ${notice}`);
      const change = computeChange(checkpoint, currentCompute(), paths.checkpoint);
      if (change !== null && !settings.allowBackendChange) {
        err(`train: ${change} (pass --allow-backend-change to continue anyway)`);
        return 2;
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
        `train: ${paths.dir} (${data.name}, ${data.xTrain.shape[0]} training examples; gemm ${describeGemmBackend()})`,
      );
    }
    await solver.train();
    const end = records.findLast((r): r is EndRecord => r.kind === "end");
    const checks = solver.valAccHistory.length;
    out(`train: run log ${paths.log}`);
    out(`train: checkpoint ${paths.checkpoint}`);
    const reportPath = await report();
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
    if (e instanceof TrainingStoppedError || e instanceof CheckpointError) {
      err(`train: ${e.message}`);
      // A stopped run's report shows where the loss went.
      if (e instanceof TrainingStoppedError && report) {
        await report().then((path) => out(`train: report ${path}`), () => {});
      }
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
