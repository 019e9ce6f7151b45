/**
 * The course's `Solver` (cs231n/solver.py) as a Web Streams dataflow:
 *
 * ```
 * ticketSource → minibatchStage → [augmentStage] → forwardBackwardStage → optimizerStage → evaluationStage ─┬→ progress (stderr)
 *   (steps)       (draw, gather)   (crop, flip)     (model.loss(X, y))    (update rule,     (histories,     ├→ run log (NDJSON)
 *                                                                          lr schedule)      checks, best) ├→ checkpoint (safetensors)
 *                                                                                                          └→ your sinks
 * ```
 *
 * The augmentation stage is there only when `augment` asks for it, so a
 * course run flows exactly as before.
 *
 * Each stage is a `TransformStream`; queue sizes between them are options
 * ({@link HighWaterMarks}) and backpressure bounds memory. The results are
 * the plain course loop's, bit for bit, whatever the queue sizes:
 *
 * - A forward pass never sees weights older than the last update: step t's
 *   forward/backward waits (via {@link StepGate}) until step t − 1 has been
 *   updated, checked and snapshotted. Only index drawing and row gathering
 *   may run ahead.
 * - Random draws happen in the plain loop's order. With the course's single
 *   generator (the model's dropout masks and the Solver's batches and
 *   accuracy subsamples from one `RandomState`, the default when
 *   `modelRandom` is not given) nothing runs ahead: step t's batch is drawn
 *   after step t − 1 finished. When the model has its own generator
 *   (`modelRandom`, or `null` for none), the minibatch stage draws ahead,
 *   taking each check step's subsample indices right after its batch, which
 *   is where the plain loop takes them relative to the other sampling draws.
 *
 * @module
 */

import type { Labels, Model } from "../layers/models/model.ts";
import { globalRandomState, RandomState } from "../layers/random.ts";
import { clone, formatShape, type Tensor } from "../layers/tensor.ts";
import {
  checkCheckpointFits,
  type Checkpoint,
  CheckpointError,
  type CheckpointRunInfo,
  checkpointSink,
  loadCheckpoint,
} from "./store/checkpoint.ts";
import {
  type AugmentSpec,
  augmentStage,
  checkAugmentSpec,
  formatAugmentSpec,
  parseAugmentSpec,
} from "./augment_stage.ts";
import { evaluationStage } from "./evaluation_stage.ts";
import { fanOut } from "./fan_out.ts";
import { forwardBackwardStage } from "./forward_backward_stage.ts";
import {
  checkLrSchedule,
  formatLrSchedule,
  type LrSchedule,
  parseLrSchedule,
  scheduledLearningRate,
} from "./lr_schedule.ts";
import type { HighWaterMarks, TrainEvent } from "./messages.ts";
import { minibatchStage, ticketSource } from "./minibatch_stage.ts";
import { optimizerStage } from "./optimizer_stage.ts";
import { progressSink, type ProgressSinkOptions } from "./progress.ts";
import { RUN_LOG_VERSION, type RunDescription, type StartRecord, type StoppedRecord } from "./store/records.ts";
import { prepareRunLog, runLogSink } from "./store/run_log.ts";
import { BatchSampler, courseSchedule, type SamplingMode, type Schedule } from "./schedule.ts";
import { StepGate } from "./step_gate.ts";
import { cloneOptimConfig, cloneTensors, initialSolverState, type SolverState } from "./training_state.ts";
import { type OptimConfig, type UpdateRule, type UpdateRuleName, updateRules } from "./update_rules.ts";

/** The data a Solver trains on (a `Dataset` fits). */
export interface SolverData {
  /** Training inputs `(N, …)`. */
  xTrain: Tensor;
  /** Training labels, N. */
  yTrain: Labels;
  /** Validation inputs `(M, …)`. */
  xVal: Tensor;
  /** Validation labels, M. */
  yVal: Labels;
}

/** Options of {@link Solver}; defaults are the course's. */
export interface SolverOptions {
  /** A rule of `updateRules` by name, or a rule function. Default `"sgd"`. */
  updateRule?: UpdateRuleName | UpdateRule;
  /** Copied (deeply) into one config per parameter, e.g. `{ learningRate: 1e-3 }`. Default `{}`. */
  optimConfig?: OptimConfig;
  /** Learning-rate factor applied after every epoch. Default 1. */
  lrDecay?: number;
  /**
   * A per-step learning-rate schedule (`{ kind: "onecycle" }`, or its compact
   * form `"onecycle:pct=0.3"`; see `LrSchedule`) applied to
   * `optimConfig.learningRate`, which must then be given. Default none.
   */
  lrSchedule?: LrSchedule | string;
  /**
   * Augmentation of every training batch: random crops with zero padding and
   * horizontal flips (`{ flip: true, crop: 4 }`, or `"flip,crop4"`). Default
   * none: the course's runs, unchanged.
   */
  augment?: AugmentSpec | string;
  /**
   * The generator the augmentation draws from. Default: `random`, the
   * sampling generator (its draws then follow each batch's in the run's one
   * stream), which needs lockstep sampling; give one when the model has its
   * own generator (`modelRandom`). Its state is saved in checkpoints.
   */
  augmentRandom?: RandomState;
  /** Minibatch size. Default 100. */
  batchSize?: number;
  /** Epochs. Default 10. */
  numEpochs?: number;
  /** Training examples per accuracy check (null: all). Default 1000. */
  numTrainSamples?: number | null;
  /** Validation examples per accuracy check (null: all). Default null. */
  numValSamples?: number | null;
  /** Examples per forward pass of an accuracy check. Default 100. */
  checkBatchSize?: number;
  /**
   * Extra accuracy checks every this many steps besides the course's (first
   * step, epoch ends, last step); 0 for none. Their subsamples are drawn from
   * generators of their own (seeded from `checkSeed` and the step), so the
   * minibatches, dropout masks and loss history are those of a run without
   * them; the best parameters are chosen over every check. Default 0.
   */
  checkEvery?: number;
  /** Seeds the extra checks' generators. Default `seed`, else 0. */
  checkSeed?: number;
  /**
   * `"replacement"` (the course: every step draws `choice(numTrain, batchSize)`)
   * or `"shuffle"` (a `permutation(numTrain)` per epoch, sliced into batches;
   * see {@link BatchSampler}). Default `"replacement"`.
   */
  sampling?: SamplingMode;
  /** Seeds a fresh `random` when `random` is not given. */
  seed?: number;
  /**
   * Generator for minibatches and accuracy subsamples (the course's global
   * `np.random`). Default `new RandomState(seed)`, or the global generator
   * without a seed.
   */
  random?: RandomState;
  /**
   * The generator the model draws from while training (dropout masks):
   * undefined (the default) or `random` itself means "possibly `random`", and
   * sampling then proceeds in lockstep; another generator lets sampling run
   * ahead and is saved in checkpoints; `null` means the model draws nothing.
   */
  modelRandom?: RandomState | null;
  /** Queue sizes between the stages. */
  highWaterMarks?: HighWaterMarks;
  /** Show progress on stderr. Default true. */
  verbose?: boolean;
  /** Course lines: print the loss every `printEvery` steps. Default 10. */
  printEvery?: number;
  /** More progress options (a writable instead of stderr, terminal mode). */
  progress?: ProgressSinkOptions;
  /** Write the NDJSON run log here. */
  runLog?: string;
  /** Write a checkpoint here at every epoch end. */
  checkpoint?: string;
  /** Extra sinks that receive every event. */
  sinks?: WritableStream<TrainEvent>[];
  /** Description of the run for the `start` record and checkpoints (model, dataset, seed, …). */
  run?: RunDescription;
}

/**
 * The Solver's defaults (the course's), resolved here once: {@link SolverOptions}
 * left undefined take these values.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { SOLVER_DEFAULTS } from "./solver.ts";
 * assertEquals([SOLVER_DEFAULTS.batchSize, SOLVER_DEFAULTS.numTrainSamples], [100, 1000]);
 * ```
 */
export const SOLVER_DEFAULTS: Readonly<
  Required<
    Pick<
      SolverOptions,
      | "updateRule"
      | "lrDecay"
      | "batchSize"
      | "numEpochs"
      | "numTrainSamples"
      | "numValSamples"
      | "checkBatchSize"
      | "sampling"
      | "verbose"
      | "printEvery"
    >
  >
> = Object.freeze({
  updateRule: "sgd",
  lrDecay: 1,
  batchSize: 100,
  numEpochs: 10,
  numTrainSamples: 1000,
  numValSamples: null,
  checkBatchSize: 100,
  sampling: "replacement",
  verbose: true,
  printEvery: 10,
});

type DefaultedKey = keyof typeof SOLVER_DEFAULTS;
type ResolvedSolverOptions = Omit<SolverOptions, DefaultedKey> & Required<Pick<SolverOptions, DefaultedKey>>;

/** `options` with every undefined default of {@link SOLVER_DEFAULTS} filled in. */
function resolveSolverOptions(options: SolverOptions): ResolvedSolverOptions {
  const out: Record<string, unknown> = { ...SOLVER_DEFAULTS };
  for (const [k, v] of Object.entries(options)) if (v !== undefined) out[k] = v;
  return out as unknown as ResolvedSolverOptions;
}

/** What `train` returns (the course Solver's attributes after `train()`). */
export interface TrainResult {
  /** Loss of every step. */
  lossHistory: number[];
  /** Training accuracy of every check. */
  trainAccHistory: number[];
  /** Validation accuracy of every check. */
  valAccHistory: number[];
  /** Best validation accuracy. */
  bestValAcc: number;
  /** Parameters at the best validation accuracy (now also the model's). */
  bestParams: Record<string, Tensor>;
  /** Steps taken in all. */
  iterations: number;
  /** Epochs completed. */
  epochs: number;
}

/** The run stopped because the loss (or a parameter) stopped being finite. */
export class TrainingStoppedError extends Error {
  /** The `stopped` record. */
  readonly record: StoppedRecord;
  /** The last checkpoint written (kept as it was), if any. */
  readonly lastCheckpoint: { path: string; iteration: number; epoch: number } | null;

  /** Builds the one-line message from the record and the last checkpoint. */
  constructor(record: StoppedRecord, lastCheckpoint: { path: string; iteration: number; epoch: number } | null) {
    const kept = lastCheckpoint
      ? `the last good checkpoint (iteration ${lastCheckpoint.iteration}, epoch ${lastCheckpoint.epoch}) is kept at ${lastCheckpoint.path}`
      : "no checkpoint was written";
    super(`training stopped: ${record.message}; ${kept}`);
    this.name = "TrainingStoppedError";
    this.record = record;
    this.lastCheckpoint = lastCheckpoint;
  }
}

function checkCount(name: string, v: unknown, min: number): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < min) {
    throw new RangeError(`Solver: ${name} ${v} is not an integer ≥ ${min}`);
  }
  return v;
}

/**
 * Trains a {@link Model} as the course's Solver does, as a streaming
 * dataflow; see the module docs.
 *
 * @example
 * ```ts ignore
 * const solver = new Solver(model, data, {
 *   updateRule: "adam", optimConfig: { learningRate: 1e-3 }, numEpochs: 10, batchSize: 50, seed: 0,
 * });
 * const { lossHistory, valAccHistory } = await solver.train();
 * ```
 */
export class Solver {
  /** The model being trained. */
  readonly model: Model;
  /** The data. */
  readonly data: SolverData;
  /** The schedule (iterations per epoch, …). */
  readonly schedule: Schedule;
  /** The sampling generator. */
  readonly random: RandomState;
  /** The model's own generator (see {@link SolverOptions.modelRandom}). */
  readonly modelRandom: RandomState | null | undefined;
  /** The augmentation, or null for none. */
  readonly augment: AugmentSpec | null;
  /** The augmentation's generator (null without augmentation). */
  readonly augmentRandom: RandomState | null;
  /** The per-step learning-rate schedule, or null for none. */
  readonly lrSchedule: LrSchedule | null;
  /** The live state: histories, best parameters, optimizer configs. */
  readonly state: SolverState;
  readonly #updateRule: UpdateRule;
  readonly #updateRuleName: string;
  readonly #options: ResolvedSolverOptions;
  readonly #optimConfig: OptimConfig;
  #resumed = false;

  /** Checks the data and options, and sets up the optimizer configs as the course's `_reset`. */
  constructor(model: Model, data: SolverData, options: SolverOptions = {}) {
    const { xTrain, yTrain, xVal, yVal } = data;
    if (xTrain.shape[0] !== yTrain.length || xVal.shape[0] !== yVal.length) {
      throw new RangeError(
        `Solver: xTrain ${formatShape(xTrain.shape)} / yTrain (${yTrain.length},) and xVal ${
          formatShape(xVal.shape)
        } / yVal (${yVal.length},) must have as many labels as rows`,
      );
    }
    if (xVal.shape[0] === 0) throw new RangeError("Solver: the validation set is empty");
    this.model = model;
    this.data = data;
    options = this.#options = resolveSolverOptions(options);
    const rule = this.#options.updateRule;
    if (typeof rule === "string") {
      if (!Object.hasOwn(updateRules, rule)) {
        throw new Error(`Solver: unknown update rule "${rule}"; known: ${Object.keys(updateRules).join(", ")}`);
      }
      this.#updateRule = updateRules[rule];
      this.#updateRuleName = rule;
    } else {
      this.#updateRule = rule;
      this.#updateRuleName = rule.name || "custom";
    }
    const lrDecay = this.#options.lrDecay;
    if (!(lrDecay >= 0) || !Number.isFinite(lrDecay)) {
      throw new RangeError(`Solver: lrDecay ${lrDecay} is not a finite number ≥ 0`);
    }
    for (const k of ["numTrainSamples", "numValSamples"] as const) {
      const v = options[k];
      if (v !== undefined && v !== null) checkCount(k, v, 1);
    }
    checkCount("checkBatchSize", this.#options.checkBatchSize, 1);
    checkCount("checkEvery", options.checkEvery ?? 0, 0);
    checkCount("printEvery", this.#options.printEvery, 1);
    for (const [k, v] of Object.entries(options.highWaterMarks ?? {})) checkCount(`highWaterMarks.${k}`, v, 0);
    this.schedule = courseSchedule({
      numTrain: xTrain.shape[0],
      batchSize: this.#options.batchSize,
      numEpochs: this.#options.numEpochs,
    });
    this.random = options.random ?? (options.seed === undefined ? globalRandomState : new RandomState(options.seed));
    this.modelRandom = options.modelRandom;
    this.#optimConfig = cloneOptimConfig(options.optimConfig ?? {});
    this.lrSchedule = typeof options.lrSchedule === "string"
      ? parseLrSchedule(options.lrSchedule)
      : options.lrSchedule ?? null;
    if (this.lrSchedule !== null) {
      checkLrSchedule(this.lrSchedule, (m) => new RangeError(`Solver: lrSchedule: ${m}`));
      if (typeof this.#optimConfig.learningRate !== "number") {
        throw new Error("Solver: lrSchedule needs optimConfig.learningRate (the schedule's base or peak rate)");
      }
      // A one-cycle too short for its two phases fails here, not at its first step.
      scheduledLearningRate(this.lrSchedule, 0, 1, this.schedule.numIterations);
    }
    this.augment = typeof options.augment === "string" ? parseAugmentSpec(options.augment) : options.augment ?? null;
    if (this.augment !== null) {
      checkAugmentSpec(this.augment, "Solver: augment");
      if (xTrain.ndim !== 4) {
        throw new RangeError(`Solver: augment needs images (N, C, H, W); xTrain is ${formatShape(xTrain.shape)}`);
      }
      const draws = options.augmentRandom ?? this.random;
      if (!this.lockstep && (draws === this.random || draws === this.modelRandom)) {
        // Run-ahead stages would interleave their draws on a shared generator as timing has it.
        throw new Error(
          "Solver: augment draws from the sampling generator only in lockstep; give augmentRandom, a generator of its own, when the model has its own generator",
        );
      }
    }
    this.augmentRandom = this.augment === null ? null : options.augmentRandom ?? this.random;
    this.state = initialSolverState(model, this.#optimConfig);
  }

  /** Completed epochs. */
  get epoch(): number {
    return this.state.epoch;
  }
  /** Loss of every step so far. */
  get lossHistory(): number[] {
    return this.state.lossHistory;
  }
  /** Training accuracy of every check so far. */
  get trainAccHistory(): number[] {
    return this.state.trainAccHistory;
  }
  /** Validation accuracy of every check so far. */
  get valAccHistory(): number[] {
    return this.state.valAccHistory;
  }
  /** Best validation accuracy so far. */
  get bestValAcc(): number {
    return this.state.bestValAcc;
  }
  /** Parameters at the best validation accuracy so far. */
  get bestParams(): Record<string, Tensor> {
    return this.state.bestParams;
  }

  /** Whether sampling waits for each step (the model may share `random`). */
  get lockstep(): boolean {
    return this.modelRandom === undefined || this.modelRandom === this.random;
  }

  /** What checkpoints record about this run. */
  runInfo(): CheckpointRunInfo {
    const o = this.#options;
    return {
      numTrain: this.schedule.numTrain,
      batchSize: this.schedule.batchSize,
      numEpochs: this.schedule.numEpochs,
      updateRule: this.#updateRuleName,
      sampling: o.sampling,
      lrDecay: o.lrDecay,
      ...(this.lrSchedule !== null ? { lrSchedule: formatLrSchedule(this.lrSchedule) } : {}),
      ...(this.augment !== null ? { augment: formatAugmentSpec(this.augment) } : {}),
      numTrainSamples: o.numTrainSamples,
      numValSamples: o.numValSamples,
      ...(o.run ? { run: o.run } : {}),
    };
  }

  /**
   * Continues from a checkpoint: checks that it is this run's (same schedule,
   * rule, sampling, parameter names and shapes; otherwise a
   * {@link CheckpointError} naming the difference) and loads parameters,
   * model state, optimizer state, generators and histories.
   */
  restore(checkpoint: Checkpoint, source = "checkpoint"): void {
    const { snapshot, info } = checkpoint;
    const mine = this.runInfo();
    // A checkpoint with a schedule or augmentation is not this run's when this run has none (and vice versa).
    for (const key of new Set([...Object.keys(mine), "lrSchedule", "augment"]) as Set<keyof CheckpointRunInfo>) {
      const a = JSON.stringify(info[key] ?? null), b = JSON.stringify(mine[key] ?? null);
      if (a !== b) {
        throw new CheckpointError(`${source}: checkpoint is of another run: its ${key} is ${a}, this run's is ${b}`);
      }
    }
    const s = this.schedule;
    if (
      !Number.isInteger(snapshot.iteration) || snapshot.iteration < 0 || snapshot.iteration > s.numIterations ||
      snapshot.iteration % s.iterationsPerEpoch !== 0
    ) {
      throw new CheckpointError(
        `${source}: checkpoint iteration ${snapshot.iteration} is not an epoch boundary of this run (${s.iterationsPerEpoch} iterations per epoch, ${s.numIterations} in all)`,
      );
    }
    checkCheckpointFits(snapshot, this.model.params, this.model.state(), source);
    if (this.modelRandom && !snapshot.modelRandom) {
      throw new CheckpointError(`${source}: checkpoint has no state for the model's generator (modelRandom)`);
    }
    const ownAugmentRandom = this.augmentRandom !== null && this.augmentRandom !== this.random;
    if (ownAugmentRandom && !snapshot.augmentRandom) {
      throw new CheckpointError(`${source}: checkpoint has no state for the augmentation's generator (augmentRandom)`);
    }
    for (const [k, v] of Object.entries(snapshot.params)) this.model.params[k] = clone(v);
    this.model.loadState(cloneTensors(snapshot.modelState));
    const st = this.state;
    st.iteration = snapshot.iteration;
    st.epoch = snapshot.epoch;
    st.lossHistory = snapshot.lossHistory.slice();
    st.trainAccHistory = snapshot.trainAccHistory.slice();
    st.valAccHistory = snapshot.valAccHistory.slice();
    st.bestValAcc = snapshot.bestValAcc;
    st.bestParams = cloneTensors(snapshot.bestParams);
    for (const k of Object.keys(st.optimConfigs)) st.optimConfigs[k] = cloneOptimConfig(snapshot.optimConfigs[k]);
    st.elapsedMsBefore = snapshot.elapsedMs;
    this.random.setState(snapshot.random);
    if (this.modelRandom && snapshot.modelRandom) this.modelRandom.setState(snapshot.modelRandom);
    if (ownAugmentRandom) this.augmentRandom!.setState(snapshot.augmentRandom!);
    this.#resumed = true;
  }

  /** Loads the checkpoint at `path` and {@link restore}s it. */
  async resume(path: string): Promise<void> {
    this.restore(await loadCheckpoint(path), path);
  }

  /** The `start` record of the next `train()`. */
  startRecord(): StartRecord {
    const s = this.schedule, o = this.#options;
    const scalars: Record<string, number> = {};
    for (const [k, v] of Object.entries(this.#optimConfig)) if (typeof v === "number") scalars[k] = v;
    const info = this.runInfo();
    return {
      kind: "start",
      version: RUN_LOG_VERSION,
      time: new Date().toISOString(),
      resumed: this.#resumed,
      startIteration: this.state.iteration,
      updateRule: this.#updateRuleName,
      optimConfig: scalars,
      lrDecay: info.lrDecay,
      batchSize: s.batchSize,
      numEpochs: s.numEpochs,
      numTrain: s.numTrain,
      numVal: this.data.xVal.shape[0],
      iterationsPerEpoch: s.iterationsPerEpoch,
      numIterations: s.numIterations,
      sampling: o.sampling,
      numTrainSamples: info.numTrainSamples,
      numValSamples: info.numValSamples,
      params: Object.fromEntries(Object.entries(this.model.params).map(([k, v]) => [k, [...v.shape]])),
      run: o.run ?? {},
    };
  }

  /**
   * Runs the remaining steps (all of them, or those after a restored
   * checkpoint) through the dataflow, then puts the best parameters into the
   * model, as the course's `train()`.
   *
   * @throws TrainingStoppedError when the loss (or a parameter) stops being finite
   */
  async train(): Promise<TrainResult> {
    const o = this.#options, s = this.schedule, st = this.state, model = this.model;
    const { xTrain, yTrain, xVal, yVal } = this.data;
    const hwm = { tickets: 1, batches: 1, gradients: 0, steps: 0, events: 1, ...o.highWaterMarks };
    const { numTrainSamples, numValSamples } = o;
    const start = st.iteration;
    const gate = new StepGate(start);
    const lockstep = this.lockstep;

    const seen: {
      stopped: StoppedRecord | null;
      checkpoint: { path: string; iteration: number; epoch: number } | null;
    } = {
      stopped: null,
      // A resumed run's checkpoint file still holds the state it resumed from until the next epoch end replaces it.
      checkpoint: this.#resumed && o.checkpoint !== undefined
        ? { path: o.checkpoint, iteration: start, epoch: st.epoch }
        : null,
    };
    const sinks: WritableStream<TrainEvent>[] = [
      new WritableStream<TrainEvent>({
        write({ record }) {
          if (record.kind === "stopped") seen.stopped = record;
        },
      }),
    ];
    if (o.verbose) sinks.push(progressSink({ printEvery: o.printEvery, ...o.progress }));
    if (o.runLog !== undefined) {
      await prepareRunLog(o.runLog, this.#resumed ? start : undefined);
      sinks.push(runLogSink(o.runLog));
    }
    if (o.checkpoint !== undefined) {
      const path = o.checkpoint;
      sinks.push(checkpointSink(path, this.runInfo(), (snap) => {
        seen.checkpoint = { path, iteration: snap.iteration, epoch: snap.epoch };
      }));
    }
    sinks.push(...(o.sinks ?? []));
    const sink = fanOut(...sinks);

    const writer = sink.getWriter();
    await writer.write({ record: this.startRecord() });
    writer.releaseLock();

    let batches = ticketSource(start, s.numIterations, hwm.tickets)
      .pipeThrough(minibatchStage({
        xTrain,
        yTrain,
        schedule: s,
        sampler: new BatchSampler(s, o.sampling),
        random: this.random,
        ...(lockstep ? { gate } : { checks: { numTrainSamples, numValSamples, numVal: xVal.shape[0] } }),
        highWaterMark: hwm.batches,
      }));
    if (this.augment !== null) {
      const own = this.augmentRandom !== this.random;
      batches = batches.pipeThrough(augmentStage({
        spec: this.augment,
        random: this.augmentRandom!,
        ...(own ? { schedule: s } : {}),
        highWaterMark: hwm.batches,
      }));
    }
    const lrSchedule = this.lrSchedule;
    const events = batches
      .pipeThrough(forwardBackwardStage({ model, gate, highWaterMark: hwm.gradients }))
      .pipeThrough(optimizerStage({
        model,
        updateRule: this.#updateRule,
        optimConfigs: st.optimConfigs,
        schedule: s,
        lrDecay: o.lrDecay,
        ...(lrSchedule !== null
          ? { learningRateAt: (t: number, lr: number) => scheduledLearningRate(lrSchedule, t, lr, s.numIterations) }
          : {}),
        highWaterMark: hwm.steps,
      }))
      .pipeThrough(evaluationStage({
        model,
        xTrain,
        yTrain,
        xVal,
        yVal,
        schedule: s,
        state: st,
        numTrainSamples,
        numValSamples,
        random: this.random,
        modelRandom: this.modelRandom ?? null,
        gate,
        checkBatchSize: o.checkBatchSize,
        checkEvery: o.checkEvery ?? 0,
        checkSeed: o.checkSeed ?? o.seed ?? 0,
        highWaterMark: hwm.events,
      }));
    try {
      await events.pipeTo(sink);
    } finally {
      gate.close("the run is over");
    }
    if (seen.stopped !== null) throw new TrainingStoppedError(seen.stopped, seen.checkpoint);
    for (const [k, v] of Object.entries(st.bestParams)) model.params[k] = clone(v);
    return {
      lossHistory: st.lossHistory,
      trainAccHistory: st.trainAccHistory,
      valAccHistory: st.valAccHistory,
      bestValAcc: st.bestValAcc,
      bestParams: st.bestParams,
      iterations: st.iteration,
      epochs: st.epoch,
    };
  }
}

/**
 * Trains `model` on `data` (a new {@link Solver} and its `train()`).
 *
 * @example
 * ```ts ignore
 * const result = await train(model, data, { updateRule: "adam", optimConfig: { learningRate: 1e-3 }, seed: 0 });
 * result.bestValAcc;
 * ```
 */
export async function train(model: Model, data: SolverData, options: SolverOptions = {}): Promise<TrainResult> {
  return await new Solver(model, data, options).train();
}
