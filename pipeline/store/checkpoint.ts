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
 * `random` / `modelRandom` / `augmentRandom` (`{ pos, hasGauss, gauss }`), and `run` (the
 * {@link CheckpointRunInfo}: schedule, update rule, sampling, …, used to
 * refuse resuming a different run). Every number round-trips exactly: tensors
 * keep their bits and JSON prints doubles in shortest round-trip form.
 *
 * @module
 */

import { formatShape, Tensor } from "../../layers/tensor.ts";
import { writeFileAtomic } from "./atomic_write.ts";
import type { TrainEvent } from "../messages.ts";
import type { RunDescription } from "./records.ts";
import { decodeSafetensors, encodeSafetensors, type SafetensorsInput, type SafetensorsValue } from "./safetensors.ts";
import type { RandomSnapshot, TrainingSnapshot } from "../training_state.ts";
import type { OptimConfig } from "../update_rules.ts";

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

/** A decoded checkpoint. */
export interface Checkpoint {
  /** The run's state. */
  snapshot: TrainingSnapshot;
  /** What the run was. */
  info: CheckpointRunInfo;
}

/** Serialises a snapshot and its run info to safetensors bytes. */
export function encodeCheckpoint(snapshot: TrainingSnapshot, info: CheckpointRunInfo): Uint8Array {
  const tensors: Record<string, SafetensorsInput> = {};
  for (const [k, v] of Object.entries(snapshot.params)) tensors[`params/${k}`] = v;
  for (const [k, v] of Object.entries(snapshot.modelState)) tensors[`state/${k}`] = v;
  const optim: Record<string, Record<string, number>> = {};
  for (const [p, config] of Object.entries(snapshot.optimConfigs)) {
    optim[p] = {};
    for (const [key, value] of Object.entries(config)) {
      if (value === undefined) continue;
      if (typeof value === "number") optim[p][key] = value;
      else if (value instanceof Tensor) tensors[`optim/${p}/${key}`] = value;
      else throw new TypeError(`encodeCheckpoint: optimizer config ${p}.${key} is neither a number nor a Tensor`);
    }
  }
  for (const [k, v] of Object.entries(snapshot.bestParams)) tensors[`best/${k}`] = v;
  tensors["random/key"] = snapshot.random.key;
  if (snapshot.modelRandom) tensors["modelRandom/key"] = snapshot.modelRandom.key;
  if (snapshot.augmentRandom) tensors["augmentRandom/key"] = snapshot.augmentRandom.key;
  tensors["history/loss"] = Float64Array.from(snapshot.lossHistory);
  tensors["history/trainAcc"] = Float64Array.from(snapshot.trainAccHistory);
  tensors["history/valAcc"] = Float64Array.from(snapshot.valAccHistory);
  for (const [k, v] of Object.entries(optim)) {
    for (const [key, n] of Object.entries(v)) {
      if (!Number.isFinite(n)) {
        throw new RangeError(`encodeCheckpoint: optimizer config ${k}.${key} = ${n} is not finite`);
      }
    }
  }
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
  };
  return encodeSafetensors(tensors, metadata);
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
 * Parses checkpoint bytes. A corrupt file (bad header, truncated data) or a
 * safetensors file that is not a gradstream checkpoint is a
 * {@link CheckpointError} naming `source` and the problem.
 */
export function decodeCheckpoint(bytes: Uint8Array, source = "<bytes>"): Checkpoint {
  let file;
  try {
    file = decodeSafetensors(bytes, { source });
  } catch (e) {
    throw new CheckpointError(`${source}: not a readable checkpoint: ${(e as Error).message}`);
  }
  const { tensors, metadata } = file;
  if (metadata.format !== CHECKPOINT_FORMAT) {
    throw new CheckpointError(
      `${source}: not a gradstream checkpoint (metadata format is ${
        JSON.stringify(metadata.format ?? null)
      }, expected "${CHECKPOINT_FORMAT}")`,
    );
  }
  if (metadata.version !== String(CHECKPOINT_VERSION)) {
    throw new CheckpointError(
      `${source}: checkpoint version ${metadata.version} is not supported (this build reads version ${CHECKPOINT_VERSION})`,
    );
  }
  const progress = parseJson(source, "progress", metadata.progress);
  const optim = parseJson(source, "optim", metadata.optim);
  const info = parseJson(source, "run", metadata.run);
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

  const floatTensor = (name: string, v: SafetensorsValue): Tensor => {
    if (!(v instanceof Tensor)) {
      throw new CheckpointError(`${source}: checkpoint tensor "${name}" is ${v.dtype}, expected F32 or F64`);
    }
    return v;
  };
  const f64 = (name: string): number[] => {
    const v = tensors[name];
    if (v === undefined) throw new CheckpointError(`${source}: checkpoint has no tensor "${name}"`);
    const t = floatTensor(name, v);
    if (t.dtype !== "float64" || t.ndim !== 1) {
      throw new CheckpointError(`${source}: checkpoint tensor "${name}" is ${t}, expected a 1-D float64 tensor`);
    }
    return Array.from(t.data);
  };
  const rng = (prefix: string): RandomSnapshot => {
    const key = tensors[`${prefix}/key`];
    if (key === undefined || key instanceof Tensor || key.dtype !== "U32" || key.data.length !== 624) {
      throw new CheckpointError(`${source}: checkpoint tensor "${prefix}/key" must hold 624 U32 generator words`);
    }
    const s = parseJson(source, prefix, metadata[prefix]);
    if (!isObject(s) || !Number.isInteger(s.pos) || typeof s.hasGauss !== "boolean" || typeof s.gauss !== "number") {
      throw new CheckpointError(`${source}: checkpoint metadata "${prefix}" lacks pos, hasGauss or gauss`);
    }
    return { key: key.data as Uint32Array, pos: s.pos as number, hasGauss: s.hasGauss, gauss: s.gauss };
  };

  const params: Record<string, Tensor> = {}, modelState: Record<string, Tensor> = {};
  const bestParams: Record<string, Tensor> = {};
  const optimConfigs: Record<string, OptimConfig> = {};
  for (const [p, scalars] of Object.entries(optim)) {
    if (!isObject(scalars)) {
      throw new CheckpointError(`${source}: checkpoint optimizer config of ${p} is not an object`);
    }
    optimConfigs[p] = {};
    for (const [key, n] of Object.entries(scalars)) {
      if (typeof n !== "number") {
        throw new CheckpointError(`${source}: checkpoint optimizer config ${p}.${key} is not a number`);
      }
      optimConfigs[p][key] = n;
    }
  }
  for (const [name, value] of Object.entries(tensors)) {
    const slash = name.indexOf("/");
    const group = name.slice(0, slash), rest = name.slice(slash + 1);
    if (group === "params") params[rest] = floatTensor(name, value);
    else if (group === "state") modelState[rest] = floatTensor(name, value);
    else if (group === "best") bestParams[rest] = floatTensor(name, value);
    else if (group === "optim") {
      const cut = rest.lastIndexOf("/");
      const p = rest.slice(0, cut), key = rest.slice(cut + 1);
      if (cut < 0 || !(p in optimConfigs)) {
        throw new CheckpointError(`${source}: checkpoint tensor "${name}" belongs to no optimizer config`);
      }
      optimConfigs[p][key] = floatTensor(name, value);
    } else if (!["random", "modelRandom", "augmentRandom", "history"].includes(group)) {
      throw new CheckpointError(`${source}: checkpoint has an unexpected tensor "${name}"`);
    }
  }
  const snapshot: TrainingSnapshot = {
    iteration: progress.iteration as number,
    epoch: progress.epoch as number,
    params,
    modelState,
    optimConfigs,
    random: rng("random"),
    ...(metadata.modelRandom !== undefined ? { modelRandom: rng("modelRandom") } : {}),
    ...(metadata.augmentRandom !== undefined ? { augmentRandom: rng("augmentRandom") } : {}),
    lossHistory: f64("history/loss"),
    trainAccHistory: f64("history/trainAcc"),
    valAccHistory: f64("history/valAcc"),
    bestValAcc: progress.bestValAcc as number,
    bestParams,
    elapsedMs: progress.elapsedMs as number,
  };
  return { snapshot, info: info as unknown as CheckpointRunInfo };
}

/** Writes a checkpoint atomically: a reader (or a resumed run) sees the old file or the new one, never a mix. */
export async function saveCheckpoint(path: string, snapshot: TrainingSnapshot, info: CheckpointRunInfo): Promise<void> {
  await writeFileAtomic(path, encodeCheckpoint(snapshot, info));
}

/** Reads a checkpoint; a missing file is a {@link CheckpointError} too. */
export async function loadCheckpoint(path: string): Promise<Checkpoint> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new CheckpointError(`${path}: no checkpoint there`);
    throw e;
  }
  return decodeCheckpoint(bytes, path);
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
    const missing = l.filter((k) => !(k in saved)), extra = s.filter((k) => !(k in live));
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
    if (!(p in snapshot.optimConfigs)) throw new CheckpointError(`${source}: no optimizer config for parameter ${p}`);
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
