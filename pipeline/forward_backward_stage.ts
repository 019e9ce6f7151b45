/**
 * The forward/backward stage: the model's loss and gradients on a minibatch.
 *
 * @module
 */

import type { Model } from "../layers/models/model.ts";
import { formatShape } from "../layers/tensor.ts";
import type { Gradients, Minibatch, Stop } from "./messages.ts";
import type { StepGate } from "./step_gate.ts";

/** Options of {@link forwardBackwardStage}. */
export interface ForwardBackwardStageOptions {
  /** The model; `model.loss(x, y)` runs in train mode. */
  model: Model;
  /** Step t waits here until step t − 1 is finished, so it never sees weights older than the last update. */
  gate: StepGate;
  /** Readable-side queue size (gradients). Default 0. */
  highWaterMark?: number;
}

/**
 * {@link Minibatch} → {@link Gradients}: awaits the previous step, then runs
 * `model.loss(x, y)`. A loss that is NaN or infinite emits a {@link Stop}
 * and ends the stream (the remaining stages drain and close).
 */
export function forwardBackwardStage(
  { model, gate, highWaterMark = 0 }: ForwardBackwardStageOptions,
): TransformStream<Minibatch | Stop, Gradients | Stop> {
  return new TransformStream<Minibatch | Stop, Gradients | Stop>(
    {
      async transform(batch, controller) {
        if (batch.kind === "stop") {
          controller.enqueue(batch);
          controller.terminate();
          return;
        }
        await gate.ready(batch.iteration);
        const { loss, grads } = model.loss(batch.x, batch.y);
        if (typeof loss !== "number" || !Number.isFinite(loss)) {
          controller.enqueue({
            kind: "stop",
            iteration: batch.iteration,
            epoch: batch.epoch,
            reason: "non-finite-loss",
            loss,
            message: `loss is ${loss} at iteration ${batch.iteration + 1} (during epoch ${batch.epoch + 1})`,
          });
          controller.terminate();
          return;
        }
        for (const [name, w] of Object.entries(model.params)) {
          const g = grads[name];
          if (g === undefined) {
            throw new Error(
              `forwardBackwardStage: model.loss returned no gradient for parameter ${name}`,
            );
          }
          if (g.size !== w.size) {
            throw new RangeError(
              `forwardBackwardStage: gradient of ${name} ${formatShape(g.shape)} does not match the parameter ${
                formatShape(w.shape)
              }`,
            );
          }
        }
        const { x: _x, y: _y, kind: _k, ...rest } = batch;
        controller.enqueue({ ...rest, kind: "grads", loss, grads });
      },
    },
    { highWaterMark: 1 },
    { highWaterMark },
  );
}
