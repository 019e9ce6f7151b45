/**
 * The augmentation stage: random crops with zero padding and horizontal
 * flips of every training batch, between the minibatch stage and the
 * forward/backward stage.
 *
 * ```
 * minibatchStage → augmentStage → forwardBackwardStage
 *   (draw, gather)   (crop, flip)     (model.loss(X, y))
 * ```
 *
 * Off unless asked for (`SolverOptions.augment`), so every course run is
 * unchanged. The draws come from one generator, batch after batch in step
 * order, so a run is reproducible from its seed; see {@link augmentStage}
 * for which generator and how its state reaches checkpoints.
 *
 * @module
 */

import type { RandomState } from "../layers/random.ts";
import { allocData, formatShape, Tensor } from "../layers/tensor.ts";
import type { Minibatch } from "./messages.ts";
import { isEpochEnd, type Schedule } from "./schedule.ts";

/** What happens to each training image. */
export interface AugmentSpec {
  /** Mirror left–right with probability 1/2. */
  flip: boolean;
  /** Pad each side with this many zeros and cut a random window of the original size (0: no crop). */
  crop: number;
}

/**
 * Reads the compact form: comma-separated `flip` and `cropP` (P the padding
 * in pixels), e.g. `"flip,crop4"`; `""` or `"none"` means no augmentation
 * (null).
 *
 * @throws Error naming the part and what was expected
 *
 * @example
 * ```ts
 * import { parseAugmentSpec } from "./augment_stage.ts";
 * import { assertEquals } from "@std/assert";
 * assertEquals(parseAugmentSpec("flip,crop4"), { flip: true, crop: 4 });
 * assertEquals(parseAugmentSpec("none"), null);
 * ```
 */
export function parseAugmentSpec(text: string): AugmentSpec | null {
  const t = text.trim();
  if (t === "" || t === "none") return null;
  const spec: AugmentSpec = { flip: false, crop: 0 };
  for (const raw of t.split(",")) {
    const part = raw.trim();
    const m = /^crop(\d+)$/.exec(part);
    if (part === "flip" && !spec.flip) spec.flip = true;
    else if (m && spec.crop === 0 && Number(m[1]) > 0) spec.crop = Number(m[1]);
    else {
      throw new Error(
        `parseAugmentSpec: ${JSON.stringify(part)} in ${
          JSON.stringify(text)
        } is not one of flip, cropP (P > 0 the padding), each at most once`,
      );
    }
  }
  return spec;
}

/**
 * The compact form of a spec (`"flip,crop4"`, `"flip"`, `"crop2"`), or
 * `"none"`.
 */
export function formatAugmentSpec(spec: AugmentSpec | null): string {
  const parts = [...(spec?.flip ? ["flip"] : []), ...(spec && spec.crop > 0 ? [`crop${spec.crop}`] : [])];
  return parts.length === 0 ? "none" : parts.join(",");
}

/** Checks a spec's fields (a boolean flip, an integer crop ≥ 0). */
export function checkAugmentSpec(spec: AugmentSpec, where = "augment"): void {
  if (typeof spec.flip !== "boolean" || !Number.isSafeInteger(spec.crop) || spec.crop < 0) {
    throw new RangeError(
      `${where}: ${JSON.stringify(spec)} must have a boolean flip and an integer crop ≥ 0 (the padding)`,
    );
  }
}

/**
 * Augments a batch of images: for each image a crop offset and then a flip
 * are applied, drawn for the whole batch as numpy would draw them:
 * `offsets = random.randint(0, 2·crop + 1, (N, 2))` (row, column) when
 * cropping, then `flips = random.rand(N) < 0.5` when flipping. Image n
 * becomes the H×W window at `offsets[n]` of itself padded with `crop` zeros
 * on every side (a zero is the mean pixel once the mean image is
 * subtracted), mirrored left–right when `flips[n]`:
 * `out[n, c, i, j] = x[n, c, i + dy − crop, j' + dx − crop]` with
 * `j' = W − 1 − j` if flipped, else `j` (zero outside the image).
 *
 * @param x images `(N, C, H, W)`, float32 or float64
 * @returns a new tensor of x's shape and dtype (x is not changed)
 *
 * @example
 * ```ts
 * import { augmentBatch } from "./augment_stage.ts";
 * import { RandomState } from "../layers/random.ts";
 * import { array } from "../layers/tensor.ts";
 * import { assertEquals } from "@std/assert";
 * const x = array([[[[1, 2, 3], [4, 5, 6]]]]); // (1, 1, 2, 3)
 * const out = augmentBatch(x, { flip: true, crop: 0 }, new RandomState(1)); // rand() = 0.417 < 0.5: flipped
 * assertEquals(Array.from(out.data), [3, 2, 1, 6, 5, 4]);
 * ```
 */
export function augmentBatch(x: Tensor, spec: AugmentSpec, random: RandomState): Tensor {
  if (x.ndim !== 4) throw new RangeError(`augmentBatch: x ${formatShape(x.shape)} must be images (N, C, H, W)`);
  checkAugmentSpec(spec, "augmentBatch");
  const [n, c, h, w] = x.shape;
  const pad = spec.crop;
  const offsets = pad > 0 ? random.randint(0, 2 * pad + 1, [n, 2]).data : null;
  const flips = spec.flip ? random.rand(n).data : null;
  const src = x.data, out = allocData(x.dtype, x.size);
  const plane = h * w;
  for (let k = 0; k < n; k++) {
    const dy = offsets ? offsets[2 * k] - pad : 0, dx = offsets ? offsets[2 * k + 1] - pad : 0;
    const flip = flips !== null && flips[k] < 0.5;
    // Output columns j whose source column lies inside the image: j + dx (or W − 1 − j + dx) in [0, W).
    const j0 = flip ? Math.max(0, dx) : Math.max(0, -dx);
    const j1 = flip ? Math.min(w, w + dx) : Math.min(w, w - dx);
    for (let ch = 0; ch < c; ch++) {
      const base = (k * c + ch) * plane;
      for (let i = 0; i < h; i++) {
        const r = i + dy, o = base + i * w;
        if (r < 0 || r >= h || j0 >= j1) continue; // allocData gave zeros
        const s = base + r * w;
        if (!flip) out.set(src.subarray(s + j0 + dx, s + j1 + dx), o + j0);
        else for (let j = j0; j < j1; j++) out[o + j] = src[s + w - 1 - j + dx];
      }
    }
  }
  return new Tensor(out, x.shape);
}

/** Options of {@link augmentStage}. */
export interface AugmentStageOptions {
  /** What to do to each image. */
  spec: AugmentSpec;
  /** The generator the crops and flips are drawn from. */
  random: RandomState;
  /**
   * When given, the generator's state after each epoch's last batch is
   * attached to that batch (`augmentRandomState`), so the epoch-end snapshot
   * records it even if later batches were already augmented. Give it when
   * `random` is the stage's own; leave it out when `random` is the run's
   * sampling generator, whose state the snapshot takes anyway.
   */
  schedule?: Schedule;
  /** Readable-side queue size (augmented batches). Default 1. */
  highWaterMark?: number;
}

/**
 * {@link Minibatch} → {@link Minibatch} with `x` replaced by
 * {@link augmentBatch}`(x, spec, random)`, batch after batch in step order.
 *
 * Which generator: the run's sampling generator when sampling runs in
 * lockstep (the course's single `np.random`: batch t, its crops and flips,
 * its dropout masks, its checks, then batch t + 1, whatever the queue
 * sizes), or one of the stage's own (then pass `schedule` so checkpoints get
 * its state).
 */
export function augmentStage(options: AugmentStageOptions): TransformStream<Minibatch, Minibatch> {
  const { spec, random, schedule, highWaterMark = 1 } = options;
  checkAugmentSpec(spec, "augmentStage");
  return new TransformStream<Minibatch, Minibatch>(
    {
      transform(batch, controller) {
        const out: Minibatch = { ...batch, x: augmentBatch(batch.x, spec, random) };
        if (schedule !== undefined && isEpochEnd(schedule, batch.iteration)) {
          out.augmentRandomState = random.getState();
        }
        controller.enqueue(out);
      },
    },
    { highWaterMark: 1 },
    { highWaterMark },
  );
}
