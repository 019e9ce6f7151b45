/**
 * What a training run has accumulated (histories, best parameters,
 * optimizer configs) and the snapshot of it that a checkpoint stores.
 *
 * @module
 */

import type { Model } from "../layers/models/model.ts";
import type { RandomState } from "../layers/random.ts";
import { clone, Tensor } from "../layers/tensor.ts";
import type { OptimConfig } from "./update_rules.ts";

/** A generator's state as `RandomState.getState()` returns it. */
export interface RandomSnapshot {
  /** The 624 MT19937 words. */
  key: Uint32Array;
  /** Index of the next word. */
  pos: number;
  /** Whether a spare normal is cached. */
  hasGauss: boolean;
  /** The cached normal (0 when none). */
  gauss: number;
}

/** The live, mutable state of a run, as the course's Solver keeps it in attributes. */
export interface SolverState {
  /** Completed epochs. */
  epoch: number;
  /** Completed steps. */
  iteration: number;
  /** Minibatch loss of every step. */
  lossHistory: number[];
  /** Training accuracy of every check. */
  trainAccHistory: number[];
  /** Validation accuracy of every check. */
  valAccHistory: number[];
  /** Best validation accuracy so far (0 before any check, as the course). */
  bestValAcc: number;
  /** Copies of the parameters at the best check (empty before the first improvement). */
  bestParams: Record<string, Tensor>;
  /** One optimizer config per parameter (scalars and state tensors). */
  optimConfigs: Record<string, OptimConfig>;
  /** Training time of earlier segments of this run (resumed runs), in ms. */
  elapsedMsBefore: number;
}

/** A deep copy of the run at the end of a step: everything needed to continue from there exactly. */
export interface TrainingSnapshot {
  /** Completed steps. */
  iteration: number;
  /** Completed epochs. */
  epoch: number;
  /** Copies of the learnable parameters. */
  params: Record<string, Tensor>;
  /** Copies of the model's extra state (`model.state()`: batch-norm running averages). */
  modelState: Record<string, Tensor>;
  /** Deep copies of the optimizer configs. */
  optimConfigs: Record<string, OptimConfig>;
  /** The sampling generator's state, at the point the plain course loop would be after this step. */
  random: RandomSnapshot;
  /** The model's own generator's state (dropout masks), when it has one apart from `random`. */
  modelRandom?: RandomSnapshot;
  /** The augmentation's own generator's state, when it has one apart from `random`. */
  augmentRandom?: RandomSnapshot;
  /** Copy of the loss history. */
  lossHistory: number[];
  /** Copy of the training-accuracy history. */
  trainAccHistory: number[];
  /** Copy of the validation-accuracy history. */
  valAccHistory: number[];
  /** Best validation accuracy so far. */
  bestValAcc: number;
  /** Copies of the parameters that reached `bestValAcc`. */
  bestParams: Record<string, Tensor>;
  /** Training time so far, in ms. */
  elapsedMs: number;
}

/** A copy of an optimizer config: numbers as they are, tensors cloned. */
export function cloneOptimConfig(config: OptimConfig): OptimConfig {
  const out: OptimConfig = {};
  for (const [k, v] of Object.entries(config)) out[k] = v instanceof Tensor ? clone(v) : v;
  return out;
}

/** Clones every tensor of a record. */
export function cloneTensors(tensors: Record<string, Tensor>): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  for (const [k, v] of Object.entries(tensors)) out[k] = clone(v);
  return out;
}

/** A fresh state: empty histories and `optimConfig` copied once per parameter (as the course's `_reset`). */
export function initialSolverState(model: Model, optimConfig: OptimConfig): SolverState {
  const optimConfigs: Record<string, OptimConfig> = {};
  for (const p of Object.keys(model.params)) optimConfigs[p] = cloneOptimConfig(optimConfig);
  return {
    epoch: 0,
    iteration: 0,
    lossHistory: [],
    trainAccHistory: [],
    valAccHistory: [],
    bestValAcc: 0,
    bestParams: {},
    optimConfigs,
    elapsedMsBefore: 0,
  };
}

/**
 * Snapshots the run: copies of the model's parameters and state, the
 * optimizer configs and the histories; `random` is the sampling
 * generator's state to store (taken by the caller at the right moment).
 */
export function captureSnapshot(
  model: Model,
  state: SolverState,
  random: RandomSnapshot,
  modelRandom: RandomState | null,
  elapsedMs: number,
): TrainingSnapshot {
  const optimConfigs: Record<string, OptimConfig> = {};
  for (const [k, c] of Object.entries(state.optimConfigs)) optimConfigs[k] = cloneOptimConfig(c);
  return {
    iteration: state.iteration,
    epoch: state.epoch,
    params: cloneTensors(model.params),
    modelState: cloneTensors(model.state()),
    optimConfigs,
    random,
    ...(modelRandom ? { modelRandom: modelRandom.getState() } : {}),
    lossHistory: state.lossHistory.slice(),
    trainAccHistory: state.trainAccHistory.slice(),
    valAccHistory: state.valAccHistory.slice(),
    bestValAcc: state.bestValAcc,
    // Best params are copies that nothing updates in place, so sharing them is safe.
    bestParams: { ...state.bestParams },
    elapsedMs,
  };
}

/** Whether every element of every tensor is finite; returns the first offending name, or null. */
export function firstNonFinite(tensors: Record<string, Tensor>): string | null {
  for (const [k, t] of Object.entries(tensors)) {
    const d = t.data;
    for (let i = 0; i < d.length; i++) if (!Number.isFinite(d[i])) return k;
  }
  return null;
}
