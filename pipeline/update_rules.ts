/**
 * First-order update rules for training: the course's optim.py (`sgd`,
 * `sgd_momentum`, `rmsprop`, `adam`) with camelCase names.
 *
 * Every rule has the course's signature, `rule(w, dw, config?)`, and returns
 * `{ nextW, config }`. Two differences from the numpy code, both for speed,
 * since a rule runs for every parameter on every iteration:
 *
 * - `w` is updated IN PLACE and returned as `nextW` (as numpy's `w -= …`
 *   does in the course's `sgd`). Callers that need the old weights must
 *   clone them first.
 * - The state tensors (`velocity`, `cache`, `m`, `v`) are allocated once, on
 *   the first call, and then updated in place; `config` itself is the object
 *   passed in, with defaults filled in (as Python's `config.setdefault`).
 *
 * `w`, `dw` and the state tensors must share one shape and one dtype; float32
 * weights stay float32 (the arithmetic runs in float64 and is rounded on
 * store). Unknown config keys are errors, so a misspelt `learning_rate`
 * cannot silently train with the default.
 *
 * A config holds only numbers and Tensors, so optimizer state can be saved
 * exactly: see `configToCheckpoint` and `configFromCheckpoint`.
 *
 * @module
 */

import { adamData, rmspropData, sgdData, sgdMomentumData } from "../layers/kernels/elementwise.ts";
import { type Data, formatShape, Tensor, zerosLike } from "../layers/tensor.ts";

/** Config of `sgd`. */
export interface SgdConfig {
  /** Step size. Default 1e-2. */
  learningRate: number;
}

/** Config of `sgdMomentum`. */
export interface SgdMomentumConfig {
  /** Step size. Default 1e-2. */
  learningRate: number;
  /** Momentum in [0, 1]; 0 is plain SGD. Default 0.9. */
  momentum: number;
  /** Running velocity, shape and dtype of `w`; zeros on the first call. */
  velocity: Tensor;
}

/** Config of `rmsprop`. */
export interface RmspropConfig {
  /** Step size. Default 1e-2. */
  learningRate: number;
  /** Decay of the squared-gradient average, in [0, 1]. Default 0.99. */
  decayRate: number;
  /** Added to the denominator to avoid dividing by zero. Default 1e-8. */
  epsilon: number;
  /** Moving average of squared gradients, shape and dtype of `w`; zeros on the first call. */
  cache: Tensor;
}

/** Config of `adam`. */
export interface AdamConfig {
  /** Step size. Default 1e-3 (as the course's adam; the other rules default to 1e-2). */
  learningRate: number;
  /** Decay of the gradient average, in [0, 1). Default 0.9. */
  beta1: number;
  /** Decay of the squared-gradient average, in [0, 1). Default 0.999. */
  beta2: number;
  /** Added to the denominator to avoid dividing by zero. Default 1e-8. */
  epsilon: number;
  /** Moving average of gradients, shape and dtype of `w`; zeros on the first call. */
  m: Tensor;
  /** Moving average of squared gradients, shape and dtype of `w`; zeros on the first call. */
  v: Tensor;
  /** Number of updates done so far; incremented before the bias correction, so the first step uses t = 1. Default 0. */
  t: number;
}

/** What every rule returns: the updated weights (the same tensor as `w`) and the config (the same object, filled in). */
export interface UpdateResult<C> {
  /** `w` itself, updated in place. */
  nextW: Tensor;
  /** The config passed in (or a new one), with defaults and state filled in. */
  config: C;
}

/** Any rule's config seen generically: scalars and tensors by key, as a checkpoint stores it. */
export type OptimConfig = { [key: string]: number | Tensor | undefined };

/** A rule called through `updateRules` by name; each rule checks its own keys at run time. */
export type UpdateRule = (w: Tensor, dw: Tensor, config?: OptimConfig) => UpdateResult<OptimConfig>;

/**
 * The rules' names in code, in the order help texts list them: the one table
 * from which the command-line spellings ({@link UPDATE_RULE_FLAGS}) derive.
 */
export const UPDATE_RULE_NAMES = Object.freeze(["sgd", "sgdMomentum", "rmsprop", "adam"] as const);

/**
 * The rules beyond the course's, in PyTorch's formulation: reached on the command line through `--nesterov` and
 * `--weight-decay` ({@link recipeUpdateRule}), not as `--update-rule` names.
 */
export const RECIPE_RULE_NAMES = Object.freeze(["sgdNesterov", "sgdWeightDecay", "adamw"] as const);

/** The names of the rules in `updateRules`. */
export type UpdateRuleName = typeof UPDATE_RULE_NAMES[number] | typeof RECIPE_RULE_NAMES[number];

/**
 * The rules by their command-line spelling, the code name in kebab case
 * (`sgdMomentum` is `sgd-momentum`), in {@link UPDATE_RULE_NAMES}' order.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { UPDATE_RULE_FLAGS } from "./update_rules.ts";
 * assertEquals(UPDATE_RULE_FLAGS["sgd-momentum"], "sgdMomentum");
 * assertEquals(Object.keys(UPDATE_RULE_FLAGS), ["sgd", "sgd-momentum", "rmsprop", "adam"]);
 * ```
 */
export const UPDATE_RULE_FLAGS: Readonly<Record<string, UpdateRuleName>> = Object.freeze(
  Object.fromEntries(UPDATE_RULE_NAMES.map((name) => [name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`), name])),
);

/** The scalar and tensor keys each rule accepts; anything else in a config is an error. */
export const CONFIG_KEYS: Readonly<Record<UpdateRuleName, { scalars: readonly string[]; tensors: readonly string[] }>> =
  Object.freeze({
    sgd: { scalars: ["learningRate"], tensors: [] },
    sgdMomentum: { scalars: ["learningRate", "momentum"], tensors: ["velocity"] },
    rmsprop: { scalars: ["learningRate", "decayRate", "epsilon"], tensors: ["cache"] },
    adam: { scalars: ["learningRate", "beta1", "beta2", "epsilon", "t"], tensors: ["m", "v"] },
    sgdNesterov: { scalars: ["learningRate", "momentum", "weightDecay"], tensors: ["momentumBuffer"] },
    sgdWeightDecay: { scalars: ["learningRate", "momentum", "weightDecay"], tensors: ["momentumBuffer"] },
    adamw: { scalars: ["learningRate", "beta1", "beta2", "epsilon", "weightDecay", "t"], tensors: ["m", "v"] },
  });

function checkKeys(config: object, rule: UpdateRuleName): void {
  const { scalars, tensors } = CONFIG_KEYS[rule];
  for (const key in config) {
    if (!scalars.includes(key) && !tensors.includes(key)) {
      throw new Error(
        `${rule}: unknown config key "${key}"; ${rule} takes ${[...scalars, ...tensors].join(", ")}`,
      );
    }
  }
}

function checkPair(w: Tensor, dw: Tensor, rule: string): void {
  if (!(w instanceof Tensor) || !(dw instanceof Tensor)) {
    throw new TypeError(`${rule}: w and dw must be Tensors`);
  }
  if (!sameShape(w.shape, dw.shape)) {
    throw new RangeError(
      `${rule}: w ${formatShape(w.shape)} and dw ${formatShape(dw.shape)} must have the same shape`,
    );
  }
  if (w.dtype !== dw.dtype) throw new TypeError(`${rule}: w is ${w.dtype} but dw is ${dw.dtype}; they must match`);
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Reads a scalar, filling in the default; `lo`/`hi` bound it (`hiOpen` excludes `hi`). */
function scalar(
  config: Record<string, unknown>,
  key: string,
  fallback: number,
  rule: string,
  lo: number,
  hi: number,
  hiOpen = false,
): number {
  let value = config[key];
  if (value === undefined) config[key] = value = fallback;
  if (typeof value !== "number") throw new TypeError(`${rule}: config.${key} must be a number, got ${typeof value}`);
  if (!Number.isFinite(value) || !(value >= lo && (hiOpen ? value < hi : value <= hi))) {
    const range = hi === Infinity ? `finite and ≥ ${lo}` : `in [${lo}, ${hi}${hiOpen ? ")" : "]"}`;
    throw new Error(`${rule}: config.${key} = ${value} must be ${range}`);
  }
  return value;
}

/** Reads a state tensor, allocating zeros like `w` on the first call. */
function state(config: Record<string, unknown>, key: string, w: Tensor, rule: string): Data {
  let t = config[key];
  if (t === undefined) config[key] = t = zerosLike(w);
  if (!(t instanceof Tensor)) throw new TypeError(`${rule}: config.${key} must be a Tensor, got ${typeof t}`);
  if (!sameShape(t.shape, w.shape)) {
    throw new RangeError(
      `${rule}: config.${key} ${formatShape(t.shape)} and w ${formatShape(w.shape)} must have the same shape`,
    );
  }
  if (t.dtype !== w.dtype) {
    throw new TypeError(`${rule}: config.${key} is ${t.dtype} but w is ${w.dtype}; they must match`);
  }
  return t.data;
}

/**
 * Vanilla stochastic gradient descent: `w −= learningRate · dw`.
 *
 * @param w weights, any shape; updated in place and returned as `nextW`
 * @param dw gradient of the loss with respect to `w`, same shape and dtype
 * @param config `{ learningRate = 1e-2 }`; filled in and returned
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { array } from "../layers/tensor.ts";
 * import { sgd } from "./update_rules.ts";
 * const { nextW } = sgd(array([1, 2]), array([10, 10]), { learningRate: 0.1 });
 * assertEquals([...nextW.data], [0, 1]);
 * ```
 */
export function sgd(w: Tensor, dw: Tensor, config: Partial<SgdConfig> = {}): UpdateResult<SgdConfig> {
  checkPair(w, dw, "sgd");
  checkKeys(config, "sgd");
  const c = config as Record<string, unknown>;
  const lr = scalar(c, "learningRate", 1e-2, "sgd", 0, Infinity);
  sgdData(w.data, dw.data, lr);
  return { nextW: w, config: config as SgdConfig };
}

/**
 * SGD with momentum: `velocity = momentum · velocity − learningRate · dw`,
 * then `w += velocity`.
 *
 * @param w weights, any shape; updated in place and returned as `nextW`
 * @param dw gradient, same shape and dtype as `w`
 * @param config `{ learningRate = 1e-2, momentum = 0.9, velocity = zeros like w }`;
 *   filled in and returned, `velocity` updated in place
 *
 * @example
 * ```ts
 * import { assertAlmostEquals } from "@std/assert";
 * import { array } from "../layers/tensor.ts";
 * import { sgdMomentum } from "./update_rules.ts";
 * const w = array([1, 2]);
 * const { config } = sgdMomentum(w, array([1, 1]), { learningRate: 0.1 });
 * sgdMomentum(w, array([1, 1]), config); // velocity −0.1, then −0.19
 * assertAlmostEquals(w.data[0], 0.71, 1e-12);
 * assertAlmostEquals(w.data[1], 1.71, 1e-12);
 * ```
 */
export function sgdMomentum(
  w: Tensor,
  dw: Tensor,
  config: Partial<SgdMomentumConfig> = {},
): UpdateResult<SgdMomentumConfig> {
  checkPair(w, dw, "sgdMomentum");
  checkKeys(config, "sgdMomentum");
  const c = config as Record<string, unknown>;
  const lr = scalar(c, "learningRate", 1e-2, "sgdMomentum", 0, Infinity);
  const mu = scalar(c, "momentum", 0.9, "sgdMomentum", 0, 1);
  const v = state(c, "velocity", w, "sgdMomentum");
  sgdMomentumData(w.data, dw.data, v, lr, mu);
  return { nextW: w, config: config as SgdMomentumConfig };
}

/**
 * RMSProp: `cache = decayRate · cache + (1 − decayRate) · dw²`, then
 * `w −= learningRate · dw / (√cache + epsilon)`.
 *
 * @param w weights, any shape; updated in place and returned as `nextW`
 * @param dw gradient, same shape and dtype as `w`
 * @param config `{ learningRate = 1e-2, decayRate = 0.99, epsilon = 1e-8, cache = zeros like w }`;
 *   filled in and returned, `cache` updated in place
 */
export function rmsprop(w: Tensor, dw: Tensor, config: Partial<RmspropConfig> = {}): UpdateResult<RmspropConfig> {
  checkPair(w, dw, "rmsprop");
  checkKeys(config, "rmsprop");
  const c = config as Record<string, unknown>;
  const lr = scalar(c, "learningRate", 1e-2, "rmsprop", 0, Infinity);
  const decay = scalar(c, "decayRate", 0.99, "rmsprop", 0, 1);
  const eps = scalar(c, "epsilon", 1e-8, "rmsprop", 0, Infinity);
  const cache = state(c, "cache", w, "rmsprop");
  rmspropData(w.data, dw.data, cache, lr, decay, eps);
  return { nextW: w, config: config as RmspropConfig };
}

/**
 * Adam with bias correction. `t` is incremented first, then
 * `m = beta1·m + (1 − beta1)·dw`, `v = beta2·v + (1 − beta2)·dw²`,
 * `mt = m / (1 − beta1^t)`, `vt = v / (1 − beta2^t)`, and
 * `w −= learningRate · mt / (√vt + epsilon)`.
 *
 * @param w weights, any shape; updated in place and returned as `nextW`
 * @param dw gradient, same shape and dtype as `w`
 * @param config `{ learningRate = 1e-3, beta1 = 0.9, beta2 = 0.999, epsilon = 1e-8, m, v = zeros like w, t = 0 }`;
 *   filled in and returned, `m` and `v` updated in place and `t` incremented
 *
 * @example
 * ```ts
 * import { assertAlmostEquals, assertEquals } from "@std/assert";
 * import { array } from "../layers/tensor.ts";
 * import { adam } from "./update_rules.ts";
 * // The first step moves every weight by about learningRate, whatever the gradient's scale.
 * const { nextW, config } = adam(array([1, 1]), array([100, -0.01]), { learningRate: 0.1 });
 * assertAlmostEquals(nextW.data[0], 0.9, 1e-6);
 * assertAlmostEquals(nextW.data[1], 1.1, 1e-5);
 * assertEquals(config.t, 1);
 * ```
 */
export function adam(w: Tensor, dw: Tensor, config: Partial<AdamConfig> = {}): UpdateResult<AdamConfig> {
  checkPair(w, dw, "adam");
  checkKeys(config, "adam");
  const c = config as Record<string, unknown>;
  const lr = scalar(c, "learningRate", 1e-3, "adam", 0, Infinity);
  const b1 = scalar(c, "beta1", 0.9, "adam", 0, 1, true);
  const b2 = scalar(c, "beta2", 0.999, "adam", 0, 1, true);
  const eps = scalar(c, "epsilon", 1e-8, "adam", 0, Infinity);
  const t0 = scalar(c, "t", 0, "adam", 0, Number.MAX_SAFE_INTEGER);
  if (!Number.isInteger(t0)) throw new Error(`adam: config.t = ${t0} must be a non-negative integer`);
  const m = state(c, "m", w, "adam");
  const v = state(c, "v", w, "adam");
  const t = t0 + 1;
  c.t = t;
  adamData(w.data, dw.data, m, v, lr, b1, b2, eps, 1 - b1 ** t, 1 - b2 ** t);
  return { nextW: w, config: config as AdamConfig };
}

/**
 * The rules by name, as the course's Solver looks them up (`update_rule`).
 * Typed generically (`OptimConfig`); each rule still checks its keys and
 * values at run time.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { array } from "../layers/tensor.ts";
 * import { updateRules } from "./update_rules.ts";
 * const config = {};
 * updateRules["adam"](array([1, 2]), array([0.5, 0.5]), config);
 * assertEquals(Object.keys(config).sort(), ["beta1", "beta2", "epsilon", "learningRate", "m", "t", "v"]);
 * ```
 */
export const updateRules: Readonly<Record<UpdateRuleName, UpdateRule>> = Object.freeze({
  sgd: sgd as unknown as UpdateRule,
  sgdMomentum: sgdMomentum as unknown as UpdateRule,
  rmsprop: rmsprop as unknown as UpdateRule,
  adam: adam as unknown as UpdateRule,
  sgdNesterov: sgdNesterov as unknown as UpdateRule,
  sgdWeightDecay: sgdWeightDecay as unknown as UpdateRule,
  adamw: adamw as unknown as UpdateRule,
});

/** A config split into what a checkpoint stores: numbers (metadata) and tensors (data). */
export interface OptimizerCheckpoint {
  /** The scalar entries (`learningRate`, `t`, …), exactly as numbers. */
  scalars: Record<string, number>;
  /** The state tensors (`velocity`, `m`, …), shared with the config, not copied. */
  tensors: Record<string, Tensor>;
}

/**
 * Splits a rule's config into scalars and tensors for saving. The tensors are
 * the config's own (no copy), and the rules update them in place: encode the
 * checkpoint before the next update, or clone them.
 *
 * @param config a config as a rule returned it (numbers and Tensors only)
 * @returns `{ scalars, tensors }`
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { array } from "../layers/tensor.ts";
 * import { adam, configFromCheckpoint, configToCheckpoint } from "./update_rules.ts";
 * const { config } = adam(array([1, 2]), array([0.5, 0.5]));
 * const { scalars, tensors } = configToCheckpoint(config);
 * assertEquals([scalars.t, Object.keys(tensors).sort()], [1, ["m", "v"]]);
 * const restored = configFromCheckpoint({ scalars, tensors }, { rule: "adam" });
 * assertEquals(restored.m, config.m);
 * ```
 */
export function configToCheckpoint(config: object): OptimizerCheckpoint {
  const scalars: Record<string, number> = {};
  const tensors: Record<string, Tensor> = {};
  for (const [key, value] of Object.entries(config)) {
    if (value === undefined) continue;
    if (typeof value === "number") scalars[key] = value;
    else if (value instanceof Tensor) tensors[key] = value;
    else {throw new TypeError(
        `configToCheckpoint: config.${key} is a ${typeof value}; only numbers and Tensors can be saved`,
      );}
  }
  return { scalars, tensors };
}

/** Options of `configFromCheckpoint`. */
export interface ConfigFromCheckpointOptions {
  /** When given, every key must be one this rule takes (numbers for its scalars, Tensors for its state). */
  rule?: UpdateRuleName;
}

/**
 * Rebuilds a config from what `configToCheckpoint` returned (after a save
 * and a load). The tensors are used as they are (no copy): the rule will
 * update them in place.
 *
 * @param checkpoint `{ scalars, tensors }`
 * @param options `{ rule }` to check the keys against that rule
 * @returns a config to pass to the rule
 */
export function configFromCheckpoint(
  checkpoint: OptimizerCheckpoint,
  options: ConfigFromCheckpointOptions = {},
): OptimConfig {
  const { scalars, tensors } = checkpoint;
  const config: OptimConfig = {};
  // The names may come from a file: only own keys count, and "__proto__" is stored as a plain key.
  const put = (key: string, value: number | Tensor) =>
    Object.defineProperty(config, key, { value, enumerable: true, writable: true, configurable: true });
  if (options.rule !== undefined && !Object.hasOwn(CONFIG_KEYS, options.rule)) {
    throw new Error(
      `configFromCheckpoint: unknown update rule ${JSON.stringify(options.rule)}; known: ${
        Object.keys(CONFIG_KEYS).join(", ")
      }`,
    );
  }
  const keys = options.rule === undefined ? undefined : CONFIG_KEYS[options.rule];
  for (const [key, value] of Object.entries(scalars)) {
    if (typeof value !== "number") throw new TypeError(`configFromCheckpoint: scalar "${key}" is a ${typeof value}`);
    if (keys && !keys.scalars.includes(key)) {
      throw new Error(`configFromCheckpoint: "${key}" is not a scalar of ${options.rule} (${keys.scalars.join(", ")})`);
    }
    put(key, value);
  }
  for (const [key, value] of Object.entries(tensors)) {
    if (!(value instanceof Tensor)) throw new TypeError(`configFromCheckpoint: tensor "${key}" is not a Tensor`);
    if (Object.hasOwn(config, key)) throw new Error(`configFromCheckpoint: "${key}" is both a scalar and a tensor`);
    if (keys && !keys.tensors.includes(key)) {
      throw new Error(
        `configFromCheckpoint: "${key}" is not a state tensor of ${options.rule} (${
          keys.tensors.join(", ") || "none"
        })`,
      );
    }
    put(key, value);
  }
  return config;
}

// ---------------------------------------------------------------------------
// Beyond the course: what a modern recipe needs (Nesterov momentum, weight
// decay), with PyTorch's semantics so that a recipe carries over.

/** Config of `sgdNesterov` and `sgdWeightDecay`: PyTorch's `torch.optim.SGD` settings. */
export interface SgdTorchConfig {
  /** Step size. Default 1e-2. */
  learningRate: number;
  /** Momentum in [0, 1]. Default 0.9 for `sgdNesterov`, 0 (plain SGD) for `sgdWeightDecay`. */
  momentum: number;
  /** Coupled weight decay: `weightDecay·w` is added to the gradient of every parameter. Default 0. */
  weightDecay: number;
  /** The momentum buffer (a running sum of gradients, not of steps), shape and dtype of `w`; zeros on the first call. */
  momentumBuffer: Tensor;
}

/** Config of `adamw`. */
export interface AdamwConfig extends AdamConfig {
  /** Decoupled weight decay: `w` is multiplied by `1 − learningRate·weightDecay` before each step. Default 1e-2 (PyTorch's). */
  weightDecay: number;
}

/** PyTorch's SGD step, shared by the two rules below (`dampening` 0). */
function sgdTorch(
  rule: "sgdNesterov" | "sgdWeightDecay",
  w: Tensor,
  dw: Tensor,
  config: Partial<SgdTorchConfig>,
  nesterov: boolean,
): UpdateResult<SgdTorchConfig> {
  checkPair(w, dw, rule);
  checkKeys(config, rule);
  const c = config as Record<string, unknown>;
  const lr = scalar(c, "learningRate", 1e-2, rule, 0, Infinity);
  const mu = scalar(c, "momentum", nesterov ? 0.9 : 0, rule, 0, 1);
  const wd = scalar(c, "weightDecay", 0, rule, 0, Infinity);
  const buf = mu === 0 && !nesterov ? null : state(c, "momentumBuffer", w, rule);
  const wv = w.data, g = dw.data;
  for (let i = 0; i < wv.length; i++) {
    // The order of PyTorch's `_single_tensor_sgd`: d = g + wd·w; buf = mu·buf + d; d = d + mu·buf (Nesterov) or buf.
    let d = g[i] + wd * wv[i];
    if (buf !== null) {
      buf[i] = mu * buf[i] + d;
      d = nesterov ? d + mu * buf[i] : buf[i];
    }
    wv[i] -= lr * d;
  }
  return { nextW: w, config: config as SgdTorchConfig };
}

/**
 * SGD with Nesterov momentum and coupled weight decay, as PyTorch's
 * `torch.optim.SGD(momentum, nesterov=True, weight_decay)`:
 * `d = dw + weightDecay·w`, `buf = momentum·buf + d`,
 * `w −= learningRate·(d + momentum·buf)`.
 *
 * The buffer sums gradients and the learning rate scales each step, as in
 * PyTorch; the course's notes keep a velocity of steps instead
 * (`v = μ·v − lr·dw`, `w += −μ·v_prev + (1 + μ)·v`). The two take the same
 * steps while the learning rate is constant and differ once a schedule
 * changes it, where this one follows the PyTorch recipe.
 *
 * @param w weights, any shape; updated in place and returned as `nextW`
 * @param dw gradient, same shape and dtype as `w`
 * @param config `{ learningRate = 1e-2, momentum = 0.9, weightDecay = 0, momentumBuffer = zeros like w }`
 *
 * @example
 * ```ts
 * import { array } from "../layers/tensor.ts";
 * import { sgdNesterov } from "./update_rules.ts";
 * import { assertAlmostEquals } from "@std/assert";
 * const w = array([1]);
 * const { config } = sgdNesterov(w, array([1]), { learningRate: 0.1 }); // buf 1, step 0.1·(1 + 0.9·1)
 * assertAlmostEquals(w.data[0], 0.81);
 * sgdNesterov(w, array([1]), config); // buf 1.9, step 0.1·(1 + 0.9·1.9)
 * assertAlmostEquals(w.data[0], 0.539);
 * ```
 */
export function sgdNesterov(
  w: Tensor,
  dw: Tensor,
  config: Partial<SgdTorchConfig> = {},
): UpdateResult<SgdTorchConfig> {
  return sgdTorch("sgdNesterov", w, dw, config, true);
}

/**
 * SGD with coupled weight decay and optional (heavy-ball) momentum, as
 * PyTorch's `torch.optim.SGD(momentum, weight_decay)`:
 * `d = dw + weightDecay·w`; with momentum `buf = momentum·buf + d` and
 * `d = buf`; then `w −= learningRate·d`. Coupled decay equals L2
 * regularization of every parameter (`reg` regularizes only the weights).
 * With `weightDecay` 0 and a constant learning rate it takes the steps of
 * `sgd` (momentum 0) or `sgdMomentum`, up to rounding.
 *
 * @param w weights, any shape; updated in place and returned as `nextW`
 * @param dw gradient, same shape and dtype as `w`
 * @param config `{ learningRate = 1e-2, momentum = 0, weightDecay = 0, momentumBuffer }` (the buffer only with momentum)
 *
 * @example
 * ```ts
 * import { array } from "../layers/tensor.ts";
 * import { sgdWeightDecay } from "./update_rules.ts";
 * import { assertAlmostEquals } from "@std/assert";
 * const { nextW } = sgdWeightDecay(array([2]), array([1]), { learningRate: 0.1, weightDecay: 0.5 });
 * assertAlmostEquals(nextW.data[0], 1.8); // 2 − 0.1·(1 + 0.5·2)
 * ```
 */
export function sgdWeightDecay(
  w: Tensor,
  dw: Tensor,
  config: Partial<SgdTorchConfig> = {},
): UpdateResult<SgdTorchConfig> {
  return sgdTorch("sgdWeightDecay", w, dw, config, false);
}

/**
 * Adam with decoupled weight decay (Loshchilov & Hutter's AdamW, PyTorch's
 * `torch.optim.AdamW`): `w ·= 1 − learningRate·weightDecay`, then the
 * course's `adam` step (t incremented first, bias-corrected `m` and `v`).
 * With `weightDecay` 0 it is `adam`, bit for bit.
 *
 * @param w weights, any shape; updated in place and returned as `nextW`
 * @param dw gradient, same shape and dtype as `w`
 * @param config `{ learningRate = 1e-3, beta1 = 0.9, beta2 = 0.999, epsilon = 1e-8, weightDecay = 1e-2, m, v, t = 0 }`
 *
 * @example
 * ```ts
 * import { array } from "../layers/tensor.ts";
 * import { adamw } from "./update_rules.ts";
 * import { assertAlmostEquals } from "@std/assert";
 * // A zero gradient moves nothing but the decay: w·(1 − 0.1·0.5).
 * const { nextW } = adamw(array([2]), array([0]), { learningRate: 0.1, weightDecay: 0.5 });
 * assertAlmostEquals(nextW.data[0], 1.9);
 * ```
 */
export function adamw(w: Tensor, dw: Tensor, config: Partial<AdamwConfig> = {}): UpdateResult<AdamwConfig> {
  checkPair(w, dw, "adamw");
  checkKeys(config, "adamw");
  const c = config as Record<string, unknown>;
  const lr = scalar(c, "learningRate", 1e-3, "adamw", 0, Infinity);
  const wd = scalar(c, "weightDecay", 1e-2, "adamw", 0, Infinity);
  if (wd !== 0) {
    const keep = 1 - lr * wd, wv = w.data;
    for (let i = 0; i < wv.length; i++) wv[i] *= keep;
  }
  // The rest is the course's adam, which must not see the key it does not know.
  delete c.weightDecay;
  try {
    adam(w, dw, config as Partial<AdamConfig>);
  } finally {
    c.weightDecay = wd;
  }
  return { nextW: w, config: config as AdamwConfig };
}

/** What the recipe flags ask of the optimizer: a course rule, Nesterov momentum, weight decay. */
export interface RecipeRuleOptions {
  /** The course rule asked for: `sgd`, `sgdMomentum`, `rmsprop` or `adam`. */
  updateRule: UpdateRuleName;
  /** Nesterov momentum (with `sgdMomentum` only). Default false. */
  nesterov?: boolean;
  /** Weight decay: coupled for `sgd` and `sgdMomentum`, decoupled (AdamW) for `adam`. Default 0 (none). */
  weightDecay?: number;
}

/**
 * Maps the recipe flags (`--update-rule`, `--nesterov`, `--weight-decay`) to
 * the rule that implements them and the config entries it needs:
 *
 * | asked                              | rule             | config                          |
 * | ---------------------------------- | ---------------- | ------------------------------- |
 * | any rule, no Nesterov, no decay    | the rule itself  | (nothing)                       |
 * | `sgdMomentum` + Nesterov [+ decay] | `sgdNesterov`    | `{ weightDecay }`               |
 * | `sgd` + decay                      | `sgdWeightDecay` | `{ momentum: 0, weightDecay }`  |
 * | `sgdMomentum` + decay              | `sgdWeightDecay` | `{ momentum: 0.9, weightDecay }`|
 * | `adam` + decay                     | `adamw`          | `{ weightDecay }`               |
 *
 * @throws Error for Nesterov without `sgdMomentum`, decay with `rmsprop`, or a negative decay
 *
 * @example
 * ```ts
 * import { recipeUpdateRule } from "./update_rules.ts";
 * import { assertEquals } from "@std/assert";
 * assertEquals(recipeUpdateRule({ updateRule: "sgdMomentum", nesterov: true, weightDecay: 5e-4 }), {
 *   updateRule: "sgdNesterov",
 *   config: { weightDecay: 5e-4 },
 * });
 * ```
 */
export function recipeUpdateRule(
  options: RecipeRuleOptions,
): { updateRule: UpdateRuleName; config: Record<string, number> } {
  const { updateRule, nesterov = false, weightDecay = 0 } = options;
  if (!(weightDecay >= 0 && Number.isFinite(weightDecay))) {
    throw new RangeError(`recipeUpdateRule: weightDecay ${weightDecay} must be a finite number ≥ 0`);
  }
  if (nesterov && updateRule !== "sgdMomentum") {
    throw new Error(`recipeUpdateRule: Nesterov momentum needs the sgdMomentum rule, not ${updateRule}`);
  }
  if (nesterov) return { updateRule: "sgdNesterov", config: weightDecay > 0 ? { weightDecay } : {} };
  if (weightDecay === 0) return { updateRule, config: {} };
  switch (updateRule) {
    case "sgd":
      return { updateRule: "sgdWeightDecay", config: { momentum: 0, weightDecay } };
    case "sgdMomentum":
      return { updateRule: "sgdWeightDecay", config: { momentum: 0.9, weightDecay } };
    case "adam":
      return { updateRule: "adamw", config: { weightDecay } };
    default:
      throw new Error(`recipeUpdateRule: weight decay is offered for sgd, sgdMomentum and adam, not ${updateRule}`);
  }
}
