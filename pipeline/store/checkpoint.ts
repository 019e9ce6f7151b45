/**
 * Checkpoints: a whole training run's state in ONE safetensors file, written
 * atomically at every epoch end, from which a run continues exactly.
 *
 * Tensors (names use `/`, which no course parameter name contains):
 *
 * | name                    | what                                               |
 * | ----------------------- | -------------------------------------------------- |
 * | `params/<p>`            | learnable parameters (F32 or F64, as the model's)  |
 * | `state/<k>`             | `model.state()`, e.g. batch-norm running averages  |
 * | `optim/<p>/<key>`       | optimizer state tensors (`m`, `v`, `velocity`, …)  |
 * | `best/<p>`              | parameters of the best validation accuracy         |
 * | `random/key`            | sampling generator's 624 MT19937 words (U32)       |
 * | `modelRandom/key`       | the model's own generator, when it has one (U32)   |
 * | `augmentRandom/key`     | the augmentation's own generator, when it has one  |
 * | `history/loss`          | loss of every step (F64)                           |
 * | `history/trainAcc`      | training accuracy of every check (F64)             |
 * | `history/valAcc`        | validation accuracy of every check (F64)           |
 *
 * `__metadata__` strings (JSON values): `format` = `"gradstream-checkpoint"`,
 * `version` = `"1"`, `progress` (`{ iteration, epoch, elapsedMs, bestValAcc }`),
 * `optim` (per-parameter scalar config entries: learningRate, t, …),
 * `random` / `modelRandom` / `augmentRandom` (`{ pos, hasGauss, gauss }`), `run` (the
 * {@link CheckpointRunInfo}: schedule, update rule, sampling, …, used to
 * refuse resuming a different run), `compute` (`{ gemm, threads }`: the
 * backend the numbers came from) and `dataSha256` (hex SHA-256 of the tensor
 * index, i.e. names, dtypes and shapes in data order, then the tensor data;
 * verified on load). Other metadata entries are refused. Every number round-trips exactly: tensors
 * keep their bits and JSON prints doubles in shortest round-trip form.
 *
 * @module
 */

import { readRegularFile } from "../../datasets/regular_file.ts";
import { gemmBackend } from "../../layers/kernels/gemm.ts";
import { threads } from "../../layers/kernels/threads.ts";
import { formatShape, Tensor } from "../../layers/tensor.ts";
import { writeFileAtomic } from "./atomic_write.ts";
import type { TrainEvent } from "../messages.ts";
import { courseSchedule, isAccuracyCheck } from "../schedule.ts";
import type { RunDescription } from "./records.ts";
import {
  decodeSafetensors,
  encodeSafetensors,
  type SafetensorsFile,
  type SafetensorsInput,
  type SafetensorsValue,
} from "./safetensors.ts";
import type { RandomSnapshot, TrainingSnapshot } from "../training_state.ts";
import {
  configFromCheckpoint,
  configToCheckpoint,
  type OptimConfig,
  type UpdateRuleName,
  updateRules,
} from "../update_rules.ts";

/** The `format` metadata value of a gradstream checkpoint. */
export const CHECKPOINT_FORMAT = "gradstream-checkpoint";
/** The checkpoint layout version. */
export const CHECKPOINT_VERSION = 1;

/** What a checkpoint records about its run, to refuse resuming it as a different run. */
export interface CheckpointRunInfo {
  /** Training examples. */
  numTrain: number;
  /** Minibatch size. */
  batchSize: number;
  /** Epochs of the whole run. */
  numEpochs: number;
  /** Update rule name. */
  updateRule: string;
  /** `"replacement"` or `"shuffle"`. */
  sampling: string;
  /** Learning-rate decay per epoch. */
  lrDecay: number;
  /** Per-step learning-rate schedule (compact form), when the run has one. */
  lrSchedule?: string;
  /** Augmentation (compact form, e.g. `"flip,crop4"`), when the run has some. */
  augment?: string;
  /** Training-accuracy subsample size (null: all). */
  numTrainSamples: number | null;
  /** Validation subsample size (null: all). */
  numValSamples: number | null;
  /** Caller-supplied description (model, dataset, seed, …). */
  run?: RunDescription;
}

/** A checkpoint that cannot be used: unreadable, not a checkpoint, or not this run's. */
export class CheckpointError extends Error {
  /** An error whose message says what is wrong, naming the file. */
  constructor(message: string) {
    super(message);
    this.name = "CheckpointError";
  }
}

/** The compute settings a run's numbers depend on, bit for bit: the gemm backend and its thread count. */
export interface ComputeInfo {
  /** The gemm backend (`"blas"`, `"wasm"`, `"ts"`). */
  gemm: string;
  /** Threads the backend runs on. */
  threads: number;
}

/** The thread count runs use now (`--threads`, `GRADSTREAM_THREADS`, else every core). */
export function currentThreads(): number {
  return threads();
}

/** The compute settings in force now: the installed gemm backend and {@linkcode currentThreads}. */
export function currentCompute(): ComputeInfo {
  return { gemm: gemmBackend().name, threads: currentThreads() };
}

function describeCompute(c: ComputeInfo): string {
  return `gemm ${c.gemm} with ${c.threads} thread${c.threads === 1 ? "" : "s"}`;
}

/**
 * Compares the compute settings a checkpoint was written with to the
 * current ones. A different backend changes the last bits of every product,
 * so a resumed run would not be bit-identical to the uninterrupted one. The
 * thread count is recorded but may change: the parallel engine gives the
 * same bits on any number of threads (`tests/parallel_test.ts`).
 *
 * @param checkpoint the decoded checkpoint (`compute` undefined for files written before it was recorded)
 * @param current the settings of this run (default {@linkcode currentCompute})
 * @param source the file, for the message
 * @returns null when they match (or the file does not say), else a one-line message naming both
 *
 * @example
 * ```ts
 * import { computeChange } from "./checkpoint.ts";
 * const saved = { compute: { gemm: "blas", threads: 1 } };
 * const message = computeChange(saved, { gemm: "ts", threads: 1 }, "run/checkpoint.safetensors");
 * if (message !== "run/checkpoint.safetensors: the checkpoint was written with gemm blas with 1 thread, this run " +
 *   "uses gemm ts with 1 thread: resuming would not be bit-identical") throw new Error(message ?? "null");
 * if (computeChange(saved, { gemm: "blas", threads: 2 }, "x") !== null) throw new Error("threads may change");
 * ```
 */
export function computeChange(
  checkpoint: Pick<Checkpoint, "compute">,
  current: ComputeInfo = currentCompute(),
  source = "checkpoint",
): string | null {
  const saved = checkpoint.compute;
  if (saved === undefined || saved.gemm === current.gemm) return null;
  return `${source}: the checkpoint was written with ${describeCompute(saved)}, this run uses ${
    describeCompute(current)
  }: resuming would not be bit-identical`;
}

/** A decoded checkpoint. */
export interface Checkpoint {
  /** The run's state. */
  snapshot: TrainingSnapshot;
  /** What the run was. */
  info: CheckpointRunInfo;
  /** The compute settings it was written with (absent in files written before they were recorded). */
  compute?: ComputeInfo;
  /** One-line notices about the file (written before checksums existed, …); empty for a current file. */
  notices: string[];
}

/** Stores `value` under `key` as an own property, even for keys like `"__proto__"` (names from files). */
function setOwn<T>(target: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

function hex(bytes: ArrayBuffer): string {
  return Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The data section of safetensors bytes (after the 8-byte length and the header). */
function dataSection(bytes: Uint8Array): Uint8Array {
  const n = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  return bytes.subarray(8 + Number(n));
}

/**
 * The checksum of a checkpoint: SHA-256 of the tensor index (each tensor's
 * name, dtype and shape, in data order, as JSON) followed by the data
 * section, so that a renamed or re-typed tensor fails it as a changed byte does.
 */
async function tensorChecksum(bytes: Uint8Array, file: SafetensorsFile): Promise<string> {
  const index = Object.entries(file.tensors).map(([name, t]) => [name, file.dtypes[name], [...t.shape]]);
  const head = new TextEncoder().encode(JSON.stringify(index));
  const data = dataSection(bytes);
  const all = new Uint8Array(head.length + data.length);
  all.set(head, 0);
  all.set(data, head.length);
  return hex(await crypto.subtle.digest("SHA-256", all));
}

/** The metadata keys of a checkpoint; any other is a corrupt or foreign entry (a renamed `dataSha256`, say). */
const METADATA_KEYS = new Set([
  "format",
  "version",
  "progress",
  "optim",
  "random",
  "modelRandom",
  "augmentRandom",
  "run",
  "compute",
  "dataSha256",
]);

/**
 * Serialises a snapshot and its run info to safetensors bytes, with the
 * SHA-256 of the tensor data (`dataSha256`) and the compute settings
 * (`compute`, default {@linkcode currentCompute}) in the metadata. The
 * optimizer configs go through the one codec, `configToCheckpoint`.
 */
export async function encodeCheckpoint(
  snapshot: TrainingSnapshot,
  info: CheckpointRunInfo,
  compute: ComputeInfo = currentCompute(),
): Promise<Uint8Array> {
  const tensors: Record<string, SafetensorsInput> = {};
  for (const [k, v] of Object.entries(snapshot.params)) tensors[`params/${k}`] = v;
  for (const [k, v] of Object.entries(snapshot.modelState)) tensors[`state/${k}`] = v;
  const optim: Record<string, Record<string, number>> = {};
  for (const [p, config] of Object.entries(snapshot.optimConfigs)) {
    const split = configToCheckpoint(config);
    setOwn(optim, p, split.scalars);
    for (const [key, value] of Object.entries(split.tensors)) tensors[`optim/${p}/${key}`] = value;
    for (const [key, n] of Object.entries(split.scalars)) {
      if (!Number.isFinite(n)) {
        throw new RangeError(`encodeCheckpoint: optimizer config ${p}.${key} = ${n} is not finite`);
      }
    }
  }
  for (const [k, v] of Object.entries(snapshot.bestParams)) tensors[`best/${k}`] = v;
  tensors["random/key"] = snapshot.random.key;
  if (snapshot.modelRandom) tensors["modelRandom/key"] = snapshot.modelRandom.key;
  if (snapshot.augmentRandom) tensors["augmentRandom/key"] = snapshot.augmentRandom.key;
  tensors["history/loss"] = Float64Array.from(snapshot.lossHistory);
  tensors["history/trainAcc"] = Float64Array.from(snapshot.trainAccHistory);
  tensors["history/valAcc"] = Float64Array.from(snapshot.valAccHistory);
  const rng = (r: RandomSnapshot) => JSON.stringify({ pos: r.pos, hasGauss: r.hasGauss, gauss: r.gauss });
  const metadata: Record<string, string> = {
    format: CHECKPOINT_FORMAT,
    version: String(CHECKPOINT_VERSION),
    progress: JSON.stringify({
      iteration: snapshot.iteration,
      epoch: snapshot.epoch,
      elapsedMs: snapshot.elapsedMs,
      bestValAcc: snapshot.bestValAcc,
    }),
    optim: JSON.stringify(optim),
    random: rng(snapshot.random),
    ...(snapshot.modelRandom ? { modelRandom: rng(snapshot.modelRandom) } : {}),
    ...(snapshot.augmentRandom ? { augmentRandom: rng(snapshot.augmentRandom) } : {}),
    run: JSON.stringify(info),
    compute: JSON.stringify({ gemm: compute.gemm, threads: compute.threads }),
  };
  // The data section does not depend on the header, so its hash is taken once and the file laid out again with it.
  const draft = encodeSafetensors(tensors, metadata);
  const dataSha256 = await tensorChecksum(draft, decodeSafetensors(draft));
  return encodeSafetensors(tensors, { ...metadata, dataSha256 });
}

function parseJson(source: string, key: string, text: string | undefined): unknown {
  if (text === undefined) throw new CheckpointError(`${source}: checkpoint metadata has no "${key}" entry`);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new CheckpointError(`${source}: checkpoint metadata "${key}" is not valid JSON (${(e as Error).message})`);
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * Parses checkpoint bytes: checks the SHA-256 of the tensor data against
 * the metadata's `dataSha256` (a file written before checksums existed
 * loads with a notice), decodes every entry, and checks that the state is
 * one a run can have reached ({@linkcode checkCheckpointState}). A corrupt
 * file, a safetensors file that is not a gradstream checkpoint, or an
 * impossible state is a {@link CheckpointError} naming `source` and the entry.
 */
export async function decodeCheckpoint(bytes: Uint8Array, source = "<bytes>"): Promise<Checkpoint> {
  let file;
  try {
    file = decodeSafetensors(bytes, { source });
  } catch (e) {
    throw new CheckpointError(`${source}: not a readable checkpoint: ${(e as Error).message}`);
  }
  const { tensors, metadata } = file;
  const meta = (key: string): string | undefined => Object.hasOwn(metadata, key) ? metadata[key] : undefined;
  if (meta("format") !== CHECKPOINT_FORMAT) {
    throw new CheckpointError(
      `${source}: not a gradstream checkpoint (metadata format is ${
        JSON.stringify(meta("format") ?? null)
      }, expected "${CHECKPOINT_FORMAT}")`,
    );
  }
  if (meta("version") !== String(CHECKPOINT_VERSION)) {
    throw new CheckpointError(
      `${source}: checkpoint version ${
        meta("version")
      } is not supported (this build reads version ${CHECKPOINT_VERSION})`,
    );
  }
  for (const key of Object.keys(metadata)) {
    if (!METADATA_KEYS.has(key)) {
      throw new CheckpointError(`${source}: checkpoint metadata has an unknown entry ${JSON.stringify(key)}`);
    }
  }
  const notices: string[] = [];
  const expectedSha = meta("dataSha256");
  if (expectedSha === undefined) {
    notices.push(`${source}: written before checkpoints carried a checksum; its tensor data is not verified`);
  } else {
    const actual = await tensorChecksum(bytes, file);
    if (actual !== expectedSha) {
      throw new CheckpointError(
        `${source}: checkpoint entry "dataSha256": the tensors hash to ${actual}, the file says ${
          JSON.stringify(expectedSha)
        }: the data is corrupt`,
      );
    }
  }
  const progress = parseJson(source, "progress", meta("progress"));
  const optim = parseJson(source, "optim", meta("optim"));
  const info = parseJson(source, "run", meta("run"));
  if (
    !isObject(progress) || !Number.isInteger(progress.iteration) || !Number.isInteger(progress.epoch) ||
    typeof progress.elapsedMs !== "number" || typeof progress.bestValAcc !== "number"
  ) {
    throw new CheckpointError(
      `${source}: checkpoint metadata "progress" lacks iteration, epoch, elapsedMs or bestValAcc`,
    );
  }
  if (!isObject(optim)) throw new CheckpointError(`${source}: checkpoint metadata "optim" is not an object`);
  if (!isObject(info)) throw new CheckpointError(`${source}: checkpoint metadata "run" is not an object`);
  let compute: ComputeInfo | undefined;
  if (meta("compute") !== undefined) {
    const c = parseJson(source, "compute", meta("compute"));
    if (!isObject(c) || typeof c.gemm !== "string" || !Number.isSafeInteger(c.threads) || (c.threads as number) < 1) {
      throw new CheckpointError(`${source}: checkpoint metadata "compute" lacks gemm or a positive threads count`);
    }
    compute = { gemm: c.gemm, threads: c.threads as number };
  }

  const floatTensor = (name: string, v: SafetensorsValue): Tensor => {
    if (!(v instanceof Tensor)) {
      throw new CheckpointError(`${source}: checkpoint tensor "${name}" is ${v.dtype}, expected F32 or F64`);
    }
    return v;
  };
  const tensor = (name: string): SafetensorsValue | undefined =>
    Object.hasOwn(tensors, name) ? tensors[name] : undefined;
  const f64 = (name: string): number[] => {
    const v = tensor(name);
    if (v === undefined) throw new CheckpointError(`${source}: checkpoint has no tensor "${name}"`);
    const t = floatTensor(name, v);
    if (t.dtype !== "float64" || t.ndim !== 1) {
      throw new CheckpointError(`${source}: checkpoint tensor "${name}" is ${t}, expected a 1-D float64 tensor`);
    }
    return Array.from(t.data);
  };
  const rng = (prefix: string): RandomSnapshot => {
    const key = tensor(`${prefix}/key`);
    if (key === undefined || key instanceof Tensor || key.dtype !== "U32" || key.data.length !== 624) {
      throw new CheckpointError(`${source}: checkpoint tensor "${prefix}/key" must hold 624 U32 generator words`);
    }
    const s = parseJson(source, prefix, meta(prefix));
    if (!isObject(s) || !Number.isInteger(s.pos) || typeof s.hasGauss !== "boolean" || typeof s.gauss !== "number") {
      throw new CheckpointError(`${source}: checkpoint metadata "${prefix}" lacks pos, hasGauss or gauss`);
    }
    return { key: key.data as Uint32Array, pos: s.pos as number, hasGauss: s.hasGauss, gauss: s.gauss };
  };

  const params: Record<string, Tensor> = {}, modelState: Record<string, Tensor> = {};
  const bestParams: Record<string, Tensor> = {};
  const optimScalars = new Map<string, Record<string, number>>();
  const optimTensors = new Map<string, Record<string, Tensor>>();
  for (const [p, scalars] of Object.entries(optim)) {
    if (!isObject(scalars)) {
      throw new CheckpointError(`${source}: checkpoint optimizer config of ${p} is not an object`);
    }
    for (const [key, n] of Object.entries(scalars)) {
      if (typeof n !== "number") {
        throw new CheckpointError(`${source}: checkpoint optimizer config ${p}.${key} is not a number`);
      }
    }
    optimScalars.set(p, scalars as Record<string, number>);
    optimTensors.set(p, {});
  }
  for (const [name, value] of Object.entries(tensors)) {
    const slash = name.indexOf("/");
    const group = name.slice(0, slash), rest = name.slice(slash + 1);
    if (group === "params") setOwn(params, rest, floatTensor(name, value));
    else if (group === "state") setOwn(modelState, rest, floatTensor(name, value));
    else if (group === "best") setOwn(bestParams, rest, floatTensor(name, value));
    else if (group === "optim") {
      const cut = rest.lastIndexOf("/");
      const p = rest.slice(0, cut), key = rest.slice(cut + 1);
      const into = cut < 0 ? undefined : optimTensors.get(p);
      if (into === undefined) {
        throw new CheckpointError(`${source}: checkpoint tensor "${name}" belongs to no optimizer config`);
      }
      setOwn(into, key, floatTensor(name, value));
    } else if (!["random", "modelRandom", "augmentRandom", "history"].includes(group)) {
      throw new CheckpointError(`${source}: checkpoint has an unexpected tensor "${name}"`);
    }
  }
  // One codec for optimizer state: configFromCheckpoint, checked against the run's rule when it is a known one.
  const rule = typeof info.updateRule === "string" && Object.hasOwn(updateRules, info.updateRule)
    ? info.updateRule as UpdateRuleName
    : undefined;
  const optimConfigs: Record<string, OptimConfig> = {};
  for (const [p, scalars] of optimScalars) {
    try {
      setOwn(optimConfigs, p, configFromCheckpoint({ scalars, tensors: optimTensors.get(p)! }, { rule }));
    } catch (e) {
      throw new CheckpointError(`${source}: checkpoint optimizer config of ${p}: ${(e as Error).message}`);
    }
  }
  const snapshot: TrainingSnapshot = {
    iteration: progress.iteration as number,
    epoch: progress.epoch as number,
    params,
    modelState,
    optimConfigs,
    random: rng("random"),
    ...(meta("modelRandom") !== undefined ? { modelRandom: rng("modelRandom") } : {}),
    ...(meta("augmentRandom") !== undefined ? { augmentRandom: rng("augmentRandom") } : {}),
    lossHistory: f64("history/loss"),
    trainAccHistory: f64("history/trainAcc"),
    valAccHistory: f64("history/valAcc"),
    bestValAcc: progress.bestValAcc as number,
    bestParams,
    elapsedMs: progress.elapsedMs as number,
  };
  const checkpoint: Checkpoint = { snapshot, info: info as unknown as CheckpointRunInfo, notices };
  if (compute) checkpoint.compute = compute;
  checkCheckpointState(checkpoint, source);
  return checkpoint;
}

/**
 * Checks that a decoded checkpoint's state is one its run can have reached
 * (what a checksum cannot catch: a consistent file with edited metadata):
 *
 * - the schedule in `info` is a valid one, and `iteration` is an epoch end
 *   of it with `epoch = iteration / iterationsPerEpoch`;
 * - the loss history has one entry per iteration, the accuracy histories
 *   one per check so far, accuracies lie in [0, 1] and `bestValAcc` is the
 *   best of them (0 before any);
 * - every optimizer step count `t` is a whole number ≥ `iteration`, the
 *   same for every parameter, and every scalar is finite;
 * - each generator position is in [0, 624], its cached normal finite;
 * - `elapsedMs` is a finite number ≥ 0.
 *
 * @throws CheckpointError naming `source` and the entry
 */
export function checkCheckpointState(checkpoint: Checkpoint, source = "checkpoint"): void {
  const { snapshot: s, info } = checkpoint;
  const bad = (entry: string, why: string) => new CheckpointError(`${source}: checkpoint entry ${entry} ${why}`);
  for (const key of ["numTrain", "batchSize", "numEpochs"] as const) {
    const v = info[key];
    if (!Number.isSafeInteger(v) || v < (key === "numEpochs" ? 0 : 1)) {
      throw bad(`"run".${key}`, `= ${JSON.stringify(v)} is not a valid schedule value`);
    }
  }
  const schedule = courseSchedule(info);
  const ipe = schedule.iterationsPerEpoch;
  if (s.iteration < 0 || s.iteration > schedule.numIterations || s.iteration % ipe !== 0) {
    throw bad(
      `"progress".iteration`,
      `= ${s.iteration} is not an epoch end of the run (${ipe} iterations per epoch, ${schedule.numIterations} in all)`,
    );
  }
  if (s.epoch !== s.iteration / ipe) {
    throw bad(`"progress".epoch`, `= ${s.epoch} does not match iteration ${s.iteration} (epoch ${s.iteration / ipe})`);
  }
  if (s.lossHistory.length !== s.iteration) {
    throw bad(`"history/loss"`, `has ${s.lossHistory.length} entries, expected one per iteration (${s.iteration})`);
  }
  let checks = 0;
  for (let t = 0; t < s.iteration; t++) if (isAccuracyCheck(schedule, t)) checks++;
  for (const [name, h] of [["history/trainAcc", s.trainAccHistory], ["history/valAcc", s.valAccHistory]] as const) {
    if (h.length !== checks) {
      throw bad(`"${name}"`, `has ${h.length} entries, expected one per accuracy check so far (${checks})`);
    }
    const i = h.findIndex((a) => !(a >= 0 && a <= 1));
    if (i >= 0) throw bad(`"${name}"[${i}]`, `= ${h[i]} is not an accuracy in [0, 1]`);
  }
  const best = s.valAccHistory.reduce((m, a) => Math.max(m, a), 0);
  if (s.bestValAcc !== best) {
    throw bad(
      `"progress".bestValAcc`,
      `= ${s.bestValAcc} is not the best validation accuracy of the history (${best})`,
    );
  }
  if (!(s.elapsedMs >= 0) || !Number.isFinite(s.elapsedMs)) {
    throw bad(`"progress".elapsedMs`, `= ${s.elapsedMs} is not a finite number ≥ 0`);
  }
  let steps: number | undefined;
  for (const [p, config] of Object.entries(s.optimConfigs)) {
    for (const [key, v] of Object.entries(config)) {
      if (typeof v === "number" && !Number.isFinite(v)) throw bad(`"optim".${p}.${key}`, `= ${v} is not finite`);
    }
    if (!Object.hasOwn(config, "t")) continue;
    const t = config.t;
    if (typeof t !== "number" || !Number.isSafeInteger(t) || t < s.iteration) {
      throw bad(`"optim".${p}.t`, `= ${t} is not a step count: a whole number ≥ iteration ${s.iteration}`);
    }
    if (steps !== undefined && t !== steps) {
      throw bad(`"optim".${p}.t`, `= ${t} differs from the other parameters' step count ${steps}`);
    }
    steps = t;
  }
  for (
    const [name, r] of [
      ["random", s.random],
      ["modelRandom", s.modelRandom],
      ["augmentRandom", s.augmentRandom],
    ] as const
  ) {
    if (r === undefined) continue;
    if (!Number.isInteger(r.pos) || r.pos < 0 || r.pos > 624) {
      throw bad(`"${name}".pos`, `= ${r.pos} is not a generator position in [0, 624]`);
    }
    if (!Number.isFinite(r.gauss)) throw bad(`"${name}".gauss`, `= ${r.gauss} is not finite`);
  }
}

/** Writes a checkpoint atomically: a reader (or a resumed run) sees the old file or the new one, never a mix. */
export async function saveCheckpoint(path: string, snapshot: TrainingSnapshot, info: CheckpointRunInfo): Promise<void> {
  await writeFileAtomic(path, await encodeCheckpoint(snapshot, info));
}

/**
 * Reads a checkpoint (see {@linkcode decodeCheckpoint}). Only a regular file
 * is read, so memory is bounded by its size; a missing file, a directory,
 * a FIFO or a device is a {@link CheckpointError} too.
 */
export async function loadCheckpoint(path: string): Promise<Checkpoint> {
  let bytes: Uint8Array;
  try {
    bytes = await readRegularFile(path, path, (message) => new CheckpointError(message));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new CheckpointError(`${path}: no checkpoint there`);
    throw e;
  }
  return await decodeCheckpoint(bytes, path);
}

/**
 * Checks that a checkpoint's tensors fit a model: the same parameter names,
 * shapes and dtypes, and the same state keys and shapes. Throws a
 * {@link CheckpointError} naming the first mismatch.
 */
export function checkCheckpointFits(
  snapshot: TrainingSnapshot,
  params: Record<string, Tensor>,
  state: Record<string, Tensor>,
  source = "checkpoint",
): void {
  const compare = (what: string, saved: Record<string, Tensor>, live: Record<string, Tensor>) => {
    const s = Object.keys(saved), l = Object.keys(live);
    const missing = l.filter((k) => !Object.hasOwn(saved, k)), extra = s.filter((k) => !Object.hasOwn(live, k));
    if (missing.length > 0 || extra.length > 0) {
      throw new CheckpointError(
        `${source}: ${what} do not match the model: checkpoint lacks ${missing.join(", ") || "nothing"}, has extra ${
          extra.join(", ") || "nothing"
        }`,
      );
    }
    for (const k of l) {
      const a = saved[k], b = live[k];
      if (a.ndim !== b.ndim || a.shape.some((d, i) => d !== b.shape[i])) {
        throw new CheckpointError(
          `${source}: ${what.replace(/s$/, "")} ${k} has shape ${formatShape(a.shape)} in the checkpoint but ${
            formatShape(b.shape)
          } in the model`,
        );
      }
      if (a.dtype !== b.dtype) {
        throw new CheckpointError(
          `${source}: ${what.replace(/s$/, "")} ${k} is ${a.dtype} in the checkpoint but ${b.dtype} in the model`,
        );
      }
    }
  };
  compare("parameters", snapshot.params, params);
  compare("model states", snapshot.modelState, state);
  const bestKeys = Object.keys(snapshot.bestParams);
  if (bestKeys.length > 0) compare("best parameters", snapshot.bestParams, params);
  for (const p of Object.keys(params)) {
    if (!Object.hasOwn(snapshot.optimConfigs, p)) {
      throw new CheckpointError(`${source}: no optimizer config for parameter ${p}`);
    }
    for (const [key, v] of Object.entries(snapshot.optimConfigs[p])) {
      if (v instanceof Tensor && (v.size !== params[p].size || v.dtype !== params[p].dtype)) {
        throw new CheckpointError(
          `${source}: optimizer state ${p}.${key} ${v} does not match parameter ${p} ${params[p]}`,
        );
      }
    }
  }
}

/**
 * A sink that writes a checkpoint (atomically) for every event carrying a
 * snapshot, i.e. at every epoch end. Writes complete before the next event
 * is accepted, so at most one snapshot waits in memory.
 *
 * @param path the checkpoint file (its directory must exist)
 * @param info what the run is, stored with every checkpoint
 * @param onWrite called after each write with the snapshot written (for logs and tests)
 */
export function checkpointSink(
  path: string,
  info: CheckpointRunInfo,
  onWrite?: (snapshot: TrainingSnapshot) => void,
): WritableStream<TrainEvent> {
  return new WritableStream<TrainEvent>({
    async write(event) {
      if (!event.snapshot) return;
      await saveCheckpoint(path, event.snapshot, info);
      onWrite?.(event.snapshot);
    },
  });
}
