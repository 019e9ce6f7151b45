/**
 * What the training pipeline needs from a model: named parameters, a loss
 * with gradients, scores for evaluation, and the extra state (batch norm
 * running statistics) that a checkpoint must keep.
 *
 * @module
 */

import type { Labels } from "../labels.ts";
import type { Tensor } from "../tensor.ts";

export type { Labels };

/** The loss of a minibatch and the gradient of every parameter, keyed as `params`. */
export interface LossAndGrads {
  /** Data loss plus regularization. */
  loss: number;
  /** One gradient per parameter, same names and shapes as `params`. */
  grads: Record<string, Tensor>;
}

/**
 * A model as the course's Solver sees it. `loss(X)` runs in test mode and
 * returns class scores (N, numClasses); `loss(X, y)` runs in train mode and
 * returns the loss and gradients.
 */
export interface Model {
  /** Learnable parameters by the course's names (`W1`, `b1`, `gamma1`, …); updated in place or replaced by the optimizer. */
  params: Record<string, Tensor>;
  /** Class scores (N, numClasses) in test mode. */
  loss(X: Tensor): Tensor;
  /** Loss and gradients in train mode. */
  loss(X: Tensor, y: Labels): LossAndGrads;
  /** Non-learned state a checkpoint must keep (batch norm running statistics), by name; empty when there is none. */
  state(): Record<string, Tensor>;
  /** Restores what `state()` returned. */
  loadState(state: Record<string, Tensor>): void;
}
