/**
 * Any net built from the course's layers: a `Sequential` model is a list of
 * blocks (the course's "sandwiches", such as conv – spatial batch norm –
 * ReLU), each a list of layers, ending in an affine layer that scores the
 * classes, with a softmax loss on top.
 *
 * A spec is written compactly for command lines, blocks separated by commas
 * and the layers of a block by dashes:
 *
 * ```
 * conv32x3-sbn-relu,conv32x3-sbn-relu,pool2,conv64x3-sbn-relu,pool2,affine256-bn-relu-drop0.3,affine10
 * ```
 *
 * | token            | layer                                                             | course function              |
 * | ---------------- | ----------------------------------------------------------------- | ---------------------------- |
 * | `convFxK[sS][pP]` | F filters K×K, stride S (1), padding P ((K − 1)/2: size kept)    | `conv_forward_fast`          |
 * | `affineM`        | M outputs (any input is flattened)                                | `affine_forward`             |
 * | `relu`           | max(0, x)                                                         | `relu_forward`               |
 * | `poolK[sS]`      | K×K max pooling, stride S (K)                                     | `max_pool_forward_fast`      |
 * | `bn`             | batch norm of (N, D) features                                     | `batchnorm_forward`          |
 * | `ln`             | layer norm of (N, D) features                                     | `layernorm_forward`          |
 * | `sbn`            | spatial batch norm of (N, C, H, W) maps                           | `spatial_batchnorm_forward`  |
 * | `gnG`            | spatial group norm with G groups                                  | `spatial_groupnorm_forward`  |
 * | `dropP`          | dropout, P the probability of dropping a unit                     | `dropout_forward`            |
 *
 * The same spec as JSON: `{ "blocks": [...] }` (or just the array), each
 * block a compact string or an array of layers, each a token or an object
 * (`{ "kind": "conv", "filters": 32, "size": 3 }`, see {@link SequentialLayer}).
 *
 * Parameters follow the course's naming: the i-th conv or affine layer owns
 * `Wi` and `bi`, and the normalization layer after it `gammai` and `betai`
 * (with running averages `runningMeani`, `runningVari` for batch norm), so
 * `conv32x7-relu-pool2,affine100-relu,affine10` is the course's
 * `ThreeLayerConvNet` and `affine100-bn-relu,affine100-bn-relu,affine10` its
 * `FullyConnectedNet([100, 100], batchnorm)`: the same initial weights for the
 * same generator, the same loss and the same gradients.
 *
 * @module
 */

import { affineBackwardInternal, type AffineCache, affineForward } from "../affine.ts";
import { batchnormBackwardAlt, type BatchnormCache, batchnormForward, type BatchnormParam } from "../batchnorm.ts";
import { convBackwardFastInternal, type ConvCache, convForwardFastInternal } from "../conv_fast.ts";
import { dropoutBackward, type DropoutCache, dropoutForward, type DropoutParam } from "../dropout.ts";
import type { PoolParam } from "../conv_params.ts";
import { Workspace } from "../kernels/scratch.ts";
import { layernormBackward, type LayernormCache, layernormForward } from "../layernorm.ts";
import {
  maxPoolBackwardFast,
  type MaxPoolCache,
  maxPoolForwardFast,
  maxPoolReluBackward,
  reluMaxPoolForward,
} from "../max_pool_fast.ts";
import { globalRandomState, RandomState } from "../random.ts";
import { reluBackwardData, type ReluCache, reluData } from "../relu.ts";
import { softmaxLoss } from "../softmax_loss.ts";
import { spatialBatchnormBackward, spatialBatchnormForward } from "../spatial_batchnorm.ts";
import { spatialGroupnormBackward, spatialGroupnormForward } from "../spatial_groupnorm.ts";
import { assertSameShape, astype, clone, type DType, formatShape, full, scale, type Tensor, zeros } from "../tensor.ts";
import { addL2 } from "./_model_helpers.ts";
import type { Labels, LossAndGrads, Model } from "./model.ts";

/** One layer of a {@link Sequential} net. */
export type SequentialLayer =
  /** Convolution: `filters` filters of `size`×`size`, `stride` (default 1), `pad` (default (size − 1)/2). */
  | { kind: "conv"; filters: number; size: number; stride?: number; pad?: number }
  /** Affine layer with `units` outputs; its input is flattened to (N, D). */
  | { kind: "affine"; units: number }
  /** ReLU. */
  | { kind: "relu" }
  /** Max pooling over `size`×`size` windows, `stride` (default `size`). */
  | { kind: "maxPool"; size: number; stride?: number }
  /** Batch norm of (N, D) features. */
  | { kind: "batchnorm" }
  /** Layer norm of (N, D) features. */
  | { kind: "layernorm" }
  /** Spatial batch norm of (N, C, H, W) feature maps. */
  | { kind: "spatialBatchnorm" }
  /** Spatial group norm of (N, C, H, W) feature maps, `groups` dividing C. */
  | { kind: "spatialGroupnorm"; groups: number }
  /** Dropout; `p` is the probability of dropping a unit, in [0, 1). */
  | { kind: "dropout"; p: number };

/** A {@link Sequential} net: blocks of layers, in order. */
export interface SequentialSpec {
  /** The blocks; each holds at least one layer. */
  blocks: SequentialLayer[][];
}

/** A spec that cannot be read or does not make a net: the message names the block and what was expected. */
export class SequentialSpecError extends Error {
  /** An error whose message says what is wrong and where. */
  constructor(message: string) {
    super(message);
    this.name = "SequentialSpecError";
  }
}

/** Every compact token form, for messages. */
const TOKEN_FORMS = "convFxK[sS][pP], affineM, relu, poolK[sS], bn, ln, sbn, gnG or dropP";

// The one table of compact spellings: parsing and formatting both derive from it.
const NAMED: Readonly<Record<string, SequentialLayer["kind"]>> = {
  relu: "relu",
  bn: "batchnorm",
  ln: "layernorm",
  sbn: "spatialBatchnorm",
};
const NAME_OF: Readonly<Partial<Record<SequentialLayer["kind"], string>>> = Object.fromEntries(
  Object.entries(NAMED).map(([k, v]) => [v, k]),
);

/** One compact token as a layer, or null when it is not one. */
function parseToken(token: string): SequentialLayer | null {
  if (Object.hasOwn(NAMED, token)) return { kind: NAMED[token] } as SequentialLayer;
  let m = /^conv(\d+)x(\d+)(?:s(\d+))?(?:p(\d+))?$/.exec(token);
  if (m) {
    const layer: SequentialLayer = { kind: "conv", filters: Number(m[1]), size: Number(m[2]) };
    if (m[3] !== undefined) layer.stride = Number(m[3]);
    if (m[4] !== undefined) layer.pad = Number(m[4]);
    return layer;
  }
  if ((m = /^affine(\d+)$/.exec(token))) return { kind: "affine", units: Number(m[1]) };
  if ((m = /^pool(\d+)(?:s(\d+))?$/.exec(token))) {
    const layer: SequentialLayer = { kind: "maxPool", size: Number(m[1]) };
    if (m[2] !== undefined) layer.stride = Number(m[2]);
    return layer;
  }
  if ((m = /^gn(\d+)$/.exec(token))) return { kind: "spatialGroupnorm", groups: Number(m[1]) };
  if ((m = /^drop(\d*\.?\d+(?:e-?\d+)?)$/i.exec(token))) return { kind: "dropout", p: Number(m[1]) };
  return null;
}

/** The compact token of a layer (the inverse of parsing; defaults left out). */
export function formatSequentialLayer(layer: SequentialLayer): string {
  switch (layer.kind) {
    case "conv": {
      const stride = layer.stride ?? 1;
      const pad = layer.pad ?? (layer.size - 1) / 2;
      return `conv${layer.filters}x${layer.size}${stride !== 1 ? `s${stride}` : ""}${
        layer.pad !== undefined && pad !== (layer.size - 1) / 2 ? `p${pad}` : ""
      }`;
    }
    case "affine":
      return `affine${layer.units}`;
    case "maxPool":
      return `pool${layer.size}${layer.stride !== undefined && layer.stride !== layer.size ? `s${layer.stride}` : ""}`;
    case "spatialGroupnorm":
      return `gn${layer.groups}`;
    case "dropout":
      return `drop${layer.p}`;
    default:
      return NAME_OF[layer.kind]!;
  }
}

/**
 * The compact string of a spec: blocks joined by commas, layers by dashes.
 *
 * @example
 * ```ts
 * import { formatSequentialSpec, parseSequentialSpec } from "./sequential.ts";
 * import { assertEquals } from "@std/assert";
 * const text = "conv8x3-sbn-relu,pool2,affine10";
 * assertEquals(formatSequentialSpec(parseSequentialSpec(text)), text);
 * ```
 */
export function formatSequentialSpec(spec: SequentialSpec): string {
  return spec.blocks.map((b) => b.map(formatSequentialLayer).join("-")).join(",");
}

function blockName(i: number, text: string): string {
  return `block ${i + 1} ${JSON.stringify(text)}`;
}

function parseCompactBlock(text: string, i: number): SequentialLayer[] {
  const tokens = text.split("-").map((t) => t.trim());
  if (text.trim() === "") throw new SequentialSpecError(`parseSequentialSpec: ${blockName(i, text)} is empty`);
  return tokens.map((t) => {
    const layer = parseToken(t);
    if (layer === null) {
      throw new SequentialSpecError(
        `parseSequentialSpec: ${blockName(i, text)}: unknown layer ${JSON.stringify(t)}; expected ${TOKEN_FORMS}`,
      );
    }
    return layer;
  });
}

const LAYER_FIELDS: Readonly<Record<SequentialLayer["kind"], readonly string[]>> = {
  conv: ["filters", "size", "stride", "pad"],
  affine: ["units"],
  relu: [],
  maxPool: ["size", "stride"],
  batchnorm: [],
  layernorm: [],
  spatialBatchnorm: [],
  spatialGroupnorm: ["groups"],
  dropout: ["p"],
};

function parseLayerObject(v: unknown, i: number, j: number): SequentialLayer {
  const where = `parseSequentialSpec: block ${i + 1}, layer ${j + 1}`;
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    throw new SequentialSpecError(`${where}: expected an object like {"kind": "conv", "filters": 32, "size": 3}`);
  }
  const o = v as Record<string, unknown>;
  const kind = o.kind as SequentialLayer["kind"];
  if (typeof kind !== "string" || !Object.hasOwn(LAYER_FIELDS, kind)) {
    throw new SequentialSpecError(
      `${where}: kind ${JSON.stringify(o.kind)} is not one of ${Object.keys(LAYER_FIELDS).join(", ")}`,
    );
  }
  for (const [k, value] of Object.entries(o)) {
    if (k === "kind") continue;
    if (!LAYER_FIELDS[kind].includes(k)) {
      throw new SequentialSpecError(
        `${where}: ${kind} has no field ${JSON.stringify(k)}; it takes ${LAYER_FIELDS[kind].join(", ") || "none"}`,
      );
    }
    if (typeof value !== "number") throw new SequentialSpecError(`${where}: ${kind}.${k} must be a number`);
  }
  return { ...o } as SequentialLayer;
}

/**
 * Reads a spec: the compact string, or JSON (`{ "blocks": [...] }` or the
 * bare array, each block a compact string or an array of tokens and layer
 * objects).
 * Checks the spelling and the numbers of every layer; what the layers need
 * from the shapes flowing through them is checked when a {@link Sequential}
 * is built.
 *
 * @throws SequentialSpecError naming the block and what was expected
 *
 * @example
 * ```ts
 * import { parseSequentialSpec } from "./sequential.ts";
 * import { assertEquals } from "@std/assert";
 * const spec = parseSequentialSpec("conv16x3-sbn-relu-pool2,affine10");
 * assertEquals(spec.blocks[0][0], { kind: "conv", filters: 16, size: 3 });
 * assertEquals(parseSequentialSpec('{"blocks": ["conv16x3-sbn-relu-pool2", [{"kind": "affine", "units": 10}]]}'), spec);
 * ```
 */
export function parseSequentialSpec(text: string): SequentialSpec {
  const trimmed = text.trim();
  let blocks: SequentialLayer[][];
  if (trimmed.startsWith("{") || trimmed.startsWith("[")) {
    let json: unknown;
    try {
      json = JSON.parse(trimmed);
    } catch (e) {
      throw new SequentialSpecError(`parseSequentialSpec: the spec is not valid JSON (${(e as Error).message})`);
    }
    const list = Array.isArray(json) ? json : (json as { blocks?: unknown })?.blocks;
    if (!Array.isArray(list)) {
      throw new SequentialSpecError(`parseSequentialSpec: a JSON spec must be {"blocks": [...]} or an array of blocks`);
    }
    blocks = list.map((b, i) => {
      if (typeof b === "string") return parseCompactBlock(b, i);
      if (!Array.isArray(b) || b.length === 0) {
        throw new SequentialSpecError(
          `parseSequentialSpec: block ${
            i + 1
          } must be a compact string or a non-empty array of layers (tokens or objects)`,
        );
      }
      return b.map((l, j) => {
        if (typeof l !== "string") return parseLayerObject(l, i, j);
        const layer = parseToken(l.trim());
        if (layer === null) {
          throw new SequentialSpecError(
            `parseSequentialSpec: block ${i + 1}, layer ${j + 1}: unknown layer ${
              JSON.stringify(l)
            }; expected ${TOKEN_FORMS}`,
          );
        }
        return layer;
      });
    });
  } else {
    blocks = trimmed.split(",").map(parseCompactBlock);
  }
  const spec = { blocks };
  checkSpecNumbers(spec);
  return spec;
}

/** Checks every layer's numbers (positive integer sizes, a drop probability in [0, 1)), naming the block. */
function checkSpecNumbers(spec: SequentialSpec): void {
  if (!Array.isArray(spec.blocks) || spec.blocks.length === 0) {
    throw new SequentialSpecError("Sequential: the spec has no blocks");
  }
  spec.blocks.forEach((block, i) => {
    const name = () => blockName(i, block.map((l) => safeFormat(l)).join("-"));
    const int = (layer: string, field: string, v: number | undefined, min: number) => {
      if (v !== undefined && !(Number.isSafeInteger(v) && v >= min)) {
        throw new SequentialSpecError(
          `Sequential: ${name()}: ${layer} ${field} ${v} must be an integer ≥ ${min}`,
        );
      }
    };
    if (block.length === 0) throw new SequentialSpecError(`Sequential: block ${i + 1} is empty`);
    for (const l of block) {
      if (l.kind === "conv") {
        int("conv", "filters", l.filters, 1);
        int("conv", "size", l.size, 1);
        int("conv", "stride", l.stride, 1);
        int("conv", "pad", l.pad, 0);
        if (l.pad === undefined && l.size % 2 === 0) {
          throw new SequentialSpecError(
            `Sequential: ${name()}: conv size ${l.size} is even, so no padding keeps H and W; give one as convFxKpP`,
          );
        }
      } else if (l.kind === "affine") int("affine", "units", l.units, 1);
      else if (l.kind === "maxPool") {
        int("pool", "size", l.size, 1);
        int("pool", "stride", l.stride, 1);
      } else if (l.kind === "spatialGroupnorm") int("gn", "groups", l.groups, 1);
      else if (l.kind === "dropout" && !(typeof l.p === "number" && l.p >= 0 && l.p < 1)) {
        throw new SequentialSpecError(
          `Sequential: ${name()}: dropout p ${l.p} must lie in [0, 1) (the probability of dropping a unit)`,
        );
      }
    }
  });
}

function safeFormat(l: SequentialLayer): string {
  try {
    return formatSequentialLayer(l);
  } catch {
    return JSON.stringify(l);
  }
}

/** Options of {@link Sequential}. */
export interface SequentialOptions {
  /** Size of one input: (C, H, W) for images, or D for flat features. Default (3, 32, 32). */
  inputDim?: number | readonly [number, number, number];
  /** When given, the last affine layer must score this many classes. */
  numClasses?: number;
  /** L2 regularization strength: the loss adds `0.5·reg·ΣW²` over the conv and affine weights. Default 0. */
  reg?: number;
  /**
   * Standard deviation of the initial weights (every `Wi` is `weightScale·randn(shape)`, drawn in
   * the order W1, W2, …, as the course's models), or `"kaiming"`: `√(2 / fan-in)·randn(shape)`
   * per layer (fan-in C·K·K for a conv, D for an affine layer). Default 1e-2.
   */
  weightScale?: number | "kaiming";
  /** Dtype of the parameters and of the computation. Default `"float32"`. */
  dtype?: DType;
  /**
   * Seeds a fresh generator for the initial weights (unless `random` is given) and, as the
   * course's `seed`, fixes the dropout masks (every dropout layer reseeds with it on every pass).
   */
  seed?: number;
  /** Generator for the initial weights and, without `seed`, the dropout masks. Default: from `seed`, else the global one. */
  random?: RandomState;
}

/** A layer as the forward and backward passes run it. */
interface Op {
  /** The block it came from (for messages). */
  block: number;
  /** Whether it owns parameters (conv, affine, norms). */
  learns: boolean;
  forward(x: Tensor, train: boolean): { out: Tensor; cache: unknown };
  /** Adds this layer's gradients to `grads` and returns dx (null when `wantDx` is false). */
  backward(dout: Tensor, cache: unknown, wantDx: boolean, grads: Record<string, Tensor>): Tensor | null;
}

/**
 * A net built from a {@link SequentialSpec}, with the course's `Model`
 * interface: the Solver, checkpoints and reports use it as they use the
 * course's two models.
 *
 * Conv layers run the fast (im2col + gemm) path; a ReLU directly followed by
 * a pool runs as the fused pass the course's `conv_relu_pool` sandwich uses.
 * The big intermediates of one step are reused by the next (a workspace per
 * layer), so a training step allocates little.
 *
 * `loss(X)` runs in test mode (batch norm on its running averages, no
 * dropout) and returns scores (N, classes); `loss(X, y)` runs in train mode,
 * updates the running averages and returns the softmax loss plus
 * `0.5·reg·ΣW²` and the gradient of every parameter.
 *
 * @example
 * ```ts
 * import { Sequential } from "./sequential.ts";
 * import { RandomState } from "../random.ts";
 * import { assertEquals } from "@std/assert";
 * const model = new Sequential("conv4x3-sbn-relu-pool2,affine10", { inputDim: [3, 8, 8], seed: 0 });
 * assertEquals(Object.keys(model.params), ["W1", "b1", "gamma1", "beta1", "W2", "b2"]);
 * assertEquals(model.params.W2.shape, [4 * 4 * 4, 10]);
 * const X = new RandomState(1).randn(2, 3, 8, 8);
 * assertEquals(model.loss(X).shape, [2, 10]);
 * ```
 */
export class Sequential implements Model {
  /** `W1`, `b1`, `gamma1`, `beta1`, …, by the course's names, in layer order. */
  params: Record<string, Tensor>;
  /** The spec it was built from. */
  readonly spec: SequentialSpec;
  /** L2 regularization strength. */
  readonly reg: number;
  /** Dtype of the parameters; inputs of another dtype are converted. */
  readonly dtype: DType;
  /** Size of one input. */
  readonly inputDim: readonly number[];
  /** Classes scored (the last affine layer's outputs). */
  readonly numClasses: number;
  /** Settings and running averages of each batch-norm layer, by the index of its conv or affine layer. */
  readonly bnParams: Map<number, BatchnormParam>;
  readonly #ops: Op[];
  readonly #weights: string[];
  readonly #dropoutParams: DropoutParam[] = [];

  /** Builds the net from `spec` (a {@link SequentialSpec} or its compact or JSON text) and draws its weights. */
  constructor(spec: SequentialSpec | string, options: SequentialOptions = {}) {
    const parsed = typeof spec === "string" ? parseSequentialSpec(spec) : spec;
    checkSpecNumbers(parsed);
    const { reg = 0, weightScale = 1e-2, dtype = "float32", seed } = options;
    if (!(reg >= 0)) throw new RangeError(`Sequential: reg ${reg} must be ≥ 0`);
    if (weightScale !== "kaiming" && !(weightScale >= 0)) {
      throw new RangeError(`Sequential: weightScale ${weightScale} must be a number ≥ 0 or "kaiming"`);
    }
    const inputDim = options.inputDim ?? [3, 32, 32];
    const dims = typeof inputDim === "number" ? [inputDim] : [...inputDim];
    if (!(dims.length === 1 || dims.length === 3) || dims.some((d) => !Number.isSafeInteger(d) || d <= 0)) {
      throw new RangeError(`Sequential: inputDim ${formatShape(dims)} must be D or (C, H, W) of positive integers`);
    }
    const random = options.random ?? (seed === undefined ? globalRandomState : new RandomState(seed));
    this.spec = parsed;
    this.reg = reg;
    this.dtype = dtype;
    this.inputDim = dims;
    this.params = {};
    this.bnParams = new Map();
    this.#weights = [];
    this.#ops = [];

    // Walk the layers with the shape of one example, building ops and drawing weights in order.
    let shape = dims;
    let index = 0; // of the last conv or affine layer
    let normed = true; // whether that layer already has its normalization (true before any)
    const layers = parsed.blocks.flatMap((b, i) => b.map((layer) => ({ layer, block: i })));
    for (let k = 0; k < layers.length; k++) {
      const { layer, block } = layers[k];
      const where = () => `Sequential: ${blockName(block, parsed.blocks[block].map(safeFormat).join("-"))}`;
      const needMaps = (what: string) => {
        if (shape.length !== 3) {
          throw new SequentialSpecError(
            `${where()}: ${what} needs feature maps (N, C, H, W), but gets (N, ${shape.join(", ")})${
              what === "sbn" ? "; use bn after an affine layer" : ""
            }`,
          );
        }
      };
      const needFeatures = (what: string) => {
        if (shape.length !== 1) {
          throw new SequentialSpecError(
            `${where()}: ${what} needs features (N, D), but gets feature maps (N, ${shape.join(", ")})${
              what === "bn" ? "; use sbn after a conv layer" : what === "ln" ? "; use gnG after a conv layer" : ""
            }`,
          );
        }
      };
      const draw = (fanIn: number, ...wShape: number[]) => {
        const std = weightScale === "kaiming" ? Math.sqrt(2 / fanIn) : weightScale;
        return astype(scale(random.randn(...wShape), std), dtype);
      };
      const norm = (what: string, channels: number, paramShape: number[]) => {
        if (normed) {
          throw new SequentialSpecError(
            `${where()}: ${what} must follow a conv or affine layer that has no normalization yet (its gamma and beta take that layer's number)`,
          );
        }
        normed = true;
        this.params[`gamma${index}`] = full(paramShape.length ? paramShape : [channels], 1, dtype);
        this.params[`beta${index}`] = zeros(paramShape.length ? paramShape : [channels], dtype);
        return index;
      };
      switch (layer.kind) {
        case "conv": {
          needMaps(formatSequentialLayer(layer));
          const [c, h, w] = shape;
          const stride = layer.stride ?? 1, pad = layer.pad ?? (layer.size - 1) / 2;
          const hs = h + 2 * pad - layer.size, ws = w + 2 * pad - layer.size;
          if (hs < 0 || ws < 0 || hs % stride !== 0 || ws % stride !== 0) {
            throw new SequentialSpecError(
              `${where()}: ${
                formatSequentialLayer(layer)
              } does not fit maps (${c}, ${h}, ${w}): H + 2·pad − K and W + 2·pad − K must be ≥ 0 and divisible by the stride ${stride}`,
            );
          }
          index++;
          normed = false;
          this.params[`W${index}`] = draw(c * layer.size * layer.size, layer.filters, c, layer.size, layer.size);
          this.params[`b${index}`] = zeros([layer.filters], dtype);
          this.#weights.push(`W${index}`);
          this.#ops.push(convOp(block, index, { stride, pad }, this));
          shape = [layer.filters, 1 + hs / stride, 1 + ws / stride];
          break;
        }
        case "affine": {
          const d = shape.reduce((p, v) => p * v, 1);
          index++;
          normed = false;
          this.params[`W${index}`] = draw(d, d, layer.units);
          this.params[`b${index}`] = zeros([layer.units], dtype);
          this.#weights.push(`W${index}`);
          this.#ops.push(affineOp(block, index, this));
          shape = [layer.units];
          break;
        }
        case "relu": {
          const next = layers[k + 1]?.layer;
          if (next?.kind === "maxPool" && shape.length === 3) {
            // ReLU then pool: the fused pass of the course's conv_relu_pool sandwich.
            shape = poolShape(shape, next, where);
            this.#ops.push(reluPoolOp(block, next));
            k++;
          } else this.#ops.push(reluOp(block));
          break;
        }
        case "maxPool":
          needMaps(formatSequentialLayer(layer));
          shape = poolShape(shape, layer, where);
          this.#ops.push(poolOp(block, layer));
          break;
        case "batchnorm": {
          needFeatures("bn");
          const i = norm("bn", shape[0], []);
          const bn: BatchnormParam = {
            mode: "train",
            runningMean: zeros([shape[0]], dtype),
            runningVar: zeros([shape[0]], dtype),
          };
          this.bnParams.set(i, bn);
          this.#ops.push(batchnormOp(block, i, bn, this, false));
          break;
        }
        case "spatialBatchnorm": {
          needMaps("sbn");
          const i = norm("sbn", shape[0], []);
          const bn: BatchnormParam = {
            mode: "train",
            runningMean: zeros([shape[0]], dtype),
            runningVar: zeros([shape[0]], dtype),
          };
          this.bnParams.set(i, bn);
          this.#ops.push(batchnormOp(block, i, bn, this, true));
          break;
        }
        case "layernorm":
          needFeatures("ln");
          this.#ops.push(layernormOp(block, norm("ln", shape[0], []), this));
          break;
        case "spatialGroupnorm": {
          needMaps(`gn${layer.groups}`);
          if (shape[0] % layer.groups !== 0) {
            throw new SequentialSpecError(
              `${where()}: gn${layer.groups}: ${layer.groups} groups do not divide the ${shape[0]} channels`,
            );
          }
          this.#ops.push(
            groupnormOp(block, norm(`gn${layer.groups}`, shape[0], [1, shape[0], 1, 1]), layer.groups, this),
          );
          break;
        }
        case "dropout": {
          // As the course's models: with a seed every pass reseeds (the same mask); without, masks come from `random`.
          const param: DropoutParam = seed === undefined
            ? { mode: "train", p: layer.p, random }
            : { mode: "train", p: layer.p, seed };
          this.#dropoutParams.push(param);
          this.#ops.push(dropoutOp(block, param));
          break;
        }
      }
    }
    const lastLayer = layers.at(-1)!.layer;
    if (lastLayer.kind !== "affine") {
      throw new SequentialSpecError(
        `Sequential: the last layer is ${
          formatSequentialLayer(lastLayer)
        }; the spec must end with an affine layer scoring the classes, e.g. affine10`,
      );
    }
    this.numClasses = lastLayer.units;
    if (options.numClasses !== undefined && options.numClasses !== this.numClasses) {
      throw new SequentialSpecError(
        `Sequential: the spec ends with affine${this.numClasses} but the data has ${options.numClasses} classes`,
      );
    }
  }

  /** Class scores (N, classes) in test mode. */
  loss(X: Tensor): Tensor;
  /** Softmax loss plus `0.5·reg·ΣW²`, and the gradient of every parameter, in train mode. */
  loss(X: Tensor, y: Labels): LossAndGrads;
  loss(X: Tensor, y?: Labels): Tensor | LossAndGrads {
    const want = this.inputDim;
    const per = want.reduce((p, v) => p * v, 1);
    const fits = want.length === 3
      ? X.ndim === 4 && X.shape[1] === want[0] && X.shape[2] === want[1] && X.shape[3] === want[2]
      : X.ndim >= 2 && (X.shape[0] === 0 ? 0 : X.size / X.shape[0]) === per;
    if (!fits) {
      throw new RangeError(
        `Sequential.loss: X ${formatShape(X.shape)} must be (N, ${want.join(", ")}) for inputDim ${formatShape(want)}`,
      );
    }
    if (X.dtype !== this.dtype) X = astype(X, this.dtype);
    const train = y !== undefined;
    for (const bn of this.bnParams.values()) bn.mode = train ? "train" : "test";
    for (const d of this.#dropoutParams) d.mode = train ? "train" : "test";
    const ops = this.#ops;
    const caches: unknown[] = new Array(ops.length);
    let h = X;
    for (let k = 0; k < ops.length; k++) {
      const r = ops[k].forward(h, train);
      caches[k] = r.cache;
      h = r.out;
    }
    if (!train) return h;

    const { loss: dataLoss, dx } = softmaxLoss(h, y);
    const grads: Record<string, Tensor> = {};
    let d: Tensor | null = dx;
    const first = ops.findIndex((op) => op.learns);
    // Layers before the first one that learns need no gradient; that one needs no dx (the data's).
    for (let k = ops.length - 1; k >= first && d !== null; k--) d = ops[k].backward(d, caches[k], k > first, grads);
    let loss = dataLoss;
    for (const w of this.#weights) loss += addL2(this.params[w], grads[w], this.reg);
    return { loss, grads };
  }

  /** Copies of the batch-norm running averages, `runningMeani`, `runningVari`, …; `{}` without batch norm. */
  state(): Record<string, Tensor> {
    const state: Record<string, Tensor> = {};
    for (const [i, bn] of this.bnParams) {
      state[`runningMean${i}`] = clone(bn.runningMean!);
      state[`runningVar${i}`] = clone(bn.runningVar!);
    }
    return state;
  }

  /** Restores the running averages from what `state()` returned (all keys, matching shapes). */
  loadState(state: Record<string, Tensor>): void {
    const where = "Sequential.loadState";
    const expected = Object.keys(this.state());
    const extra = Object.keys(state).filter((k) => !expected.includes(k));
    const missing = expected.filter((k) => !(k in state));
    if (extra.length > 0 || missing.length > 0) {
      throw new Error(
        `${where}: expected keys ${expected.join(", ") || "(none)"}; missing ${missing.join(", ") || "none"}, unknown ${
          extra.join(", ") || "none"
        }`,
      );
    }
    for (const [i, bn] of this.bnParams) {
      for (const [key, field] of [[`runningMean${i}`, "runningMean"], [`runningVar${i}`, "runningVar"]] as const) {
        const t = state[key], want = bn[field]!.shape;
        if (t.ndim !== 1 || t.shape[0] !== want[0]) {
          throw new RangeError(`${where}: ${key} ${formatShape(t.shape)} must have shape ${formatShape(want)}`);
        }
      }
    }
    for (const [i, bn] of this.bnParams) {
      bn.runningMean = astype(state[`runningMean${i}`], this.dtype);
      bn.runningVar = astype(state[`runningVar${i}`], this.dtype);
    }
  }
}

function poolShape(shape: number[], layer: { size: number; stride?: number }, where: () => string): number[] {
  const [c, h, w] = shape;
  const stride = layer.stride ?? layer.size;
  const hs = h - layer.size, ws = w - layer.size;
  if (hs < 0 || ws < 0 || hs % stride !== 0 || ws % stride !== 0) {
    throw new SequentialSpecError(
      `${where()}: pool${layer.size}${
        stride !== layer.size ? `s${stride}` : ""
      } does not fit maps (${c}, ${h}, ${w}): H − K and W − K must be ≥ 0 and divisible by the stride ${stride}`,
    );
  }
  return [c, 1 + hs / stride, 1 + ws / stride];
}

function poolParamOf(layer: { size: number; stride?: number }): PoolParam {
  return { poolHeight: layer.size, poolWidth: layer.size, stride: layer.stride ?? layer.size };
}

function convOp(block: number, i: number, param: { stride: number; pad: number }, net: Sequential): Op {
  const ws = new Workspace();
  return {
    block,
    learns: true,
    forward: (x) => convForwardFastInternal(x, net.params[`W${i}`], net.params[`b${i}`], param, ws),
    backward(dout, cache, wantDx, grads) {
      const g = convBackwardFastInternal("convBackwardFast", dout, cache as ConvCache, wantDx);
      grads[`W${i}`] = g.dw;
      grads[`b${i}`] = g.db;
      return g.dx;
    },
  };
}

function affineOp(block: number, i: number, net: Sequential): Op {
  const ws = new Workspace();
  return {
    block,
    learns: true,
    forward: (x) => affineForward(x, net.params[`W${i}`], net.params[`b${i}`]),
    backward(dout, cache, wantDx, grads) {
      const g = affineBackwardInternal(dout, cache as AffineCache, wantDx, ws);
      grads[`W${i}`] = g.dw;
      grads[`b${i}`] = g.db;
      return g.dx;
    },
  };
}

function reluOp(block: number): Op {
  // The same values as reluForward / reluBackward, into tensors reused from step to step.
  const ws = new Workspace();
  return {
    block,
    learns: false,
    forward(x) {
      const out = ws.tensor("relu.out", x.shape, x.dtype);
      reluData(x.data, out.data);
      return { out, cache: { x } };
    },
    backward(dout, cache) {
      const { x } = cache as ReluCache;
      assertSameShape(dout, x, "reluBackward", ["dout", "x"]);
      const dx = ws.tensor("relu.dx", x.shape, x.dtype);
      // The float64 path writes only where x > 0.
      if (dx.data instanceof Float64Array) dx.data.fill(0);
      reluBackwardData(x.data, dout.data, dx.data);
      return dx;
    },
  };
}

function reluPoolOp(block: number, layer: { size: number; stride?: number }): Op {
  const ws = new Workspace();
  const param = poolParamOf(layer);
  return {
    block,
    learns: false,
    forward(x) {
      const { relu, pool } = reluMaxPoolForward(x, param, ws);
      return { out: pool.out, cache: { reluX: relu.cache.x, pool: pool.cache } };
    },
    backward(dout, cache) {
      const c = cache as { reluX: Tensor; pool: MaxPoolCache };
      return maxPoolReluBackward(dout, c.pool, c.reluX, ws);
    },
  };
}

function poolOp(block: number, layer: { size: number; stride?: number }): Op {
  const param = poolParamOf(layer);
  return {
    block,
    learns: false,
    forward: (x) => maxPoolForwardFast(x, param),
    backward: (dout, cache) => maxPoolBackwardFast(dout, cache as MaxPoolCache).dx,
  };
}

function batchnormOp(block: number, i: number, bn: BatchnormParam, net: Sequential, spatial: boolean): Op {
  return {
    block,
    learns: true,
    forward: (x) =>
      spatial
        ? spatialBatchnormForward(x, net.params[`gamma${i}`], net.params[`beta${i}`], bn)
        : batchnormForward(x, net.params[`gamma${i}`], net.params[`beta${i}`], bn),
    backward(dout, cache, _wantDx, grads) {
      const g = spatial
        ? spatialBatchnormBackward(dout, cache as BatchnormCache)
        : batchnormBackwardAlt(dout, cache as BatchnormCache);
      grads[`gamma${i}`] = g.dgamma;
      grads[`beta${i}`] = g.dbeta;
      return g.dx;
    },
  };
}

function layernormOp(block: number, i: number, net: Sequential): Op {
  return {
    block,
    learns: true,
    forward: (x) => layernormForward(x, net.params[`gamma${i}`], net.params[`beta${i}`], {}),
    backward(dout, cache, _wantDx, grads) {
      const g = layernormBackward(dout, cache as LayernormCache);
      grads[`gamma${i}`] = g.dgamma;
      grads[`beta${i}`] = g.dbeta;
      return g.dx;
    },
  };
}

function groupnormOp(block: number, i: number, groups: number, net: Sequential): Op {
  return {
    block,
    learns: true,
    forward: (x) => spatialGroupnormForward(x, net.params[`gamma${i}`], net.params[`beta${i}`], groups, {}),
    backward(dout, cache, _wantDx, grads) {
      const g = spatialGroupnormBackward(dout, cache as LayernormCache);
      grads[`gamma${i}`] = g.dgamma;
      grads[`beta${i}`] = g.dbeta;
      return g.dx;
    },
  };
}

function dropoutOp(block: number, param: DropoutParam): Op {
  return {
    block,
    learns: false,
    forward: (x) => dropoutForward(x, param),
    backward: (dout, cache) => dropoutBackward(dout, cache as DropoutCache).dx,
  };
}
