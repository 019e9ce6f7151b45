/**
 * The flags of `deno task train` beyond the course: `--model SPEC|FILE` (a
 * `Sequential` net), `--weight-scale kaiming`, `--augment`, `--lr-schedule`,
 * `--nesterov` and `--weight-decay`. Each validator turns a mistake into one
 * line naming the flag ({@link UsageError}, exit code 2); {@link recipeSolver}
 * maps the parsed flags to the Solver's settings through `recipeUpdateRule`.
 *
 * @module
 */

import { sequentialModel, type SequentialModelSpec } from "../../layers/models/model_spec.ts";
import { Sequential, SequentialSpecError } from "../../layers/models/sequential.ts";
import { RandomState } from "../../layers/random.ts";
import { formatAugmentSpec, parseAugmentSpec } from "../augment_stage.ts";
import { LR_SCHEDULE_FORMS, parseLrSchedule, scheduledLearningRate } from "../lr_schedule.ts";
import type { SolverSpec } from "../run_training.ts";
import { courseSchedule } from "../schedule.ts";
import { recipeUpdateRule, UPDATE_RULE_FLAGS } from "../update_rules.ts";
import { numberValue, UsageError } from "./cli.ts";

/**
 * The `--update-rule` spellings: the course's rules. The recipe's rules
 * (`sgdNesterov`, `sgdWeightDecay`, `adamw`) are reached through `--nesterov`
 * and `--weight-decay`, which `recipeUpdateRule` maps to them, and are left
 * out here so that one run has one spelling.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { COURSE_RULE_FLAGS } from "./recipe_flags.ts";
 * assertEquals(COURSE_RULE_FLAGS, ["sgd", "sgd-momentum", "rmsprop", "adam"]);
 * ```
 */
export const COURSE_RULE_FLAGS: readonly string[] = Object.freeze(
  (() => {
    const recipeRules = new Set([
      recipeUpdateRule({ updateRule: "sgdMomentum", nesterov: true }).updateRule,
      recipeUpdateRule({ updateRule: "sgd", weightDecay: 1 }).updateRule,
      recipeUpdateRule({ updateRule: "adam", weightDecay: 1 }).updateRule,
    ]);
    return Object.keys(UPDATE_RULE_FLAGS).filter((flag) => !recipeRules.has(UPDATE_RULE_FLAGS[flag]));
  })(),
);

/** The recipe settings of a run (the defaults: none of them). */
export interface RecipeConfig {
  /** Augmentation, compact form (`flip,crop4`), or null. */
  augment: string | null;
  /** Per-step learning-rate schedule, compact form (`onecycle`), or null. */
  lrSchedule: string | null;
  /** Nesterov momentum. */
  nesterov: boolean;
  /** Weight decay (0: none). */
  weightDecay: number;
}

/** What the recipe flags are checked against: the rule and the run's length. */
export interface RecipeContext {
  /** `--update-rule`, by its command-line name (`sgd-momentum`). */
  updateRule: string;
  /** Epochs, training examples, batch size: the schedule's number of steps. */
  epochs: number;
  numTrain: number;
  batchSize: number;
}

/**
 * `--model SPEC|FILE` for a Sequential net: the path of a file holding the
 * spec (compact or JSON) when one exists there, else the spec itself;
 * returned in the canonical compact form.
 *
 * @throws UsageError naming the flag and what is wrong with the spec, or the file that cannot be read
 *
 * @example
 * ```ts
 * import { assertEquals, assertThrows } from "@std/assert";
 * import { sequentialModelFlag } from "./recipe_flags.ts";
 * assertEquals(sequentialModelFlag("model", "conv8x3-sbn-relu-pool2,affine10"), "conv8x3-sbn-relu-pool2,affine10");
 * assertThrows(() => sequentialModelFlag("model", "mlp"), Error, '--model expects fc, cnn, a Sequential spec');
 * ```
 */
export function sequentialModelFlag(flag: string, value: string): string {
  let text = value, source = "";
  let isFile = false;
  try {
    isFile = Deno.statSync(value).isFile;
  } catch { /* not a readable path: a spec */ }
  if (isFile) {
    try {
      text = Deno.readTextFileSync(value);
    } catch (e) {
      throw new UsageError(`--${flag} ${value}: the file cannot be read (${(e as Error).message})`);
    }
    source = ` (file ${value})`;
  } else if (/\.json$|\//.test(value)) {
    throw new UsageError(`--${flag} ${value}: no such file`);
  }
  try {
    return sequentialModel(text).spec;
  } catch (e) {
    if (!(e instanceof SequentialSpecError)) throw e;
    const why = e.message.replace(/^parseSequentialSpec: |^Sequential: /, "");
    throw new UsageError(
      `--${flag} expects fc, cnn, a Sequential spec (conv32x3-sbn-relu-pool2,affine10) or a JSON file, got ${
        JSON.stringify(value)
      }${source} (${why})`,
    );
  }
}

/**
 * Refuses a Sequential net that does not fit the data (a layer that needs
 * feature maps after an affine layer, a last layer that does not score the
 * classes, …) before anything is loaded, by building it once for one image's
 * shape. Call it after the memory check: it allocates the weights.
 *
 * @throws UsageError naming `--model` and the block that does not fit
 *
 * @example
 * ```ts
 * import { assertThrows } from "@std/assert";
 * import { checkSequentialFits } from "./recipe_flags.ts";
 * const cifar = { name: "cifar10", imageShape: [3, 32, 32] as const, numClasses: 10 };
 * checkSequentialFits("conv8x3-sbn-relu-pool2,affine10", cifar);
 * assertThrows(() => checkSequentialFits("conv8x3-bn-relu,affine10", cifar), Error, "--model: block 1");
 * ```
 */
export function checkSequentialFits(
  spec: string,
  format: { name: string; imageShape: readonly [number, number, number]; numClasses: number },
): void {
  try {
    new Sequential(spec, { inputDim: format.imageShape, numClasses: format.numClasses, random: new RandomState(0) });
  } catch (e) {
    if (!(e instanceof SequentialSpecError)) throw e;
    throw new UsageError(`--model: ${e.message.replace(/^Sequential: /, "")} (for ${format.name} images)`);
  }
}

/**
 * `--weight-scale S|kaiming`: a number ≥ 0, or `kaiming` for a Sequential net.
 *
 * @example
 * ```ts
 * import { assertEquals, assertThrows } from "@std/assert";
 * import { weightScaleFlag } from "./recipe_flags.ts";
 * assertEquals(weightScaleFlag("weight-scale", "kaiming", "sequential"), "kaiming");
 * assertThrows(() => weightScaleFlag("weight-scale", "kaiming", "fc"), Error, "--weight-scale kaiming applies to");
 * ```
 */
export function weightScaleFlag(flag: string, value: string, model: string): number | "kaiming" {
  if (value !== "kaiming") return numberValue(flag, value, "a number ≥ 0, or kaiming", (v) => v >= 0);
  if (model !== "sequential") {
    throw new UsageError(`--${flag} kaiming applies to a Sequential net (--model SPEC), not --model ${model}`);
  }
  return "kaiming";
}

/**
 * Parses and checks `--augment`, `--lr-schedule`, `--nesterov` and
 * `--weight-decay` (each left out takes its default: none).
 *
 * @throws UsageError naming the flag: a value it does not take, Nesterov without sgd-momentum,
 *   weight decay with rmsprop, a schedule that does not fit the run's steps
 *
 * @example
 * ```ts
 * import { assertEquals, assertThrows } from "@std/assert";
 * import { recipeFlags } from "./recipe_flags.ts";
 * const run = { updateRule: "sgd-momentum", epochs: 8, numTrain: 1000, batchSize: 100 };
 * assertEquals(recipeFlags({ nesterov: true, "weight-decay": "5e-4", "lr-schedule": "onecycle" }, run), {
 *   augment: null,
 *   lrSchedule: "onecycle",
 *   nesterov: true,
 *   weightDecay: 5e-4,
 * });
 * assertThrows(() => recipeFlags({ nesterov: true }, { ...run, updateRule: "adam" }), Error, "--nesterov needs");
 * ```
 */
export function recipeFlags(
  values: { augment?: string; "lr-schedule"?: string; nesterov?: boolean; "weight-decay"?: string },
  run: RecipeContext,
): RecipeConfig {
  const config: RecipeConfig = { augment: null, lrSchedule: null, nesterov: values.nesterov === true, weightDecay: 0 };
  if (values.augment !== undefined) {
    try {
      const spec = parseAugmentSpec(values.augment);
      config.augment = spec === null ? null : formatAugmentSpec(spec);
    } catch {
      throw new UsageError(
        `--augment expects flip, cropP (P > 0 pixels of padding) or both, comma-separated, got ${
          JSON.stringify(values.augment)
        }`,
      );
    }
  }
  const text = values["lr-schedule"];
  if (text !== undefined) {
    let schedule;
    try {
      schedule = parseLrSchedule(text);
    } catch (e) {
      const why = (e as Error).message.replace(/^parseLrSchedule: "[^"]*": /, "");
      throw new UsageError(
        `--lr-schedule expects ${LR_SCHEDULE_FORMS.join(" | ")}, got ${JSON.stringify(text)}${
          why.startsWith("unknown schedule") ? "" : ` (${why})`
        }`,
      );
    }
    const { numIterations } = courseSchedule({
      numTrain: run.numTrain,
      batchSize: run.batchSize,
      numEpochs: run.epochs,
    });
    try {
      scheduledLearningRate(schedule, 0, 1, numIterations);
    } catch (e) {
      throw new UsageError(
        `--lr-schedule ${text} does not fit the run's ${numIterations} steps (${
          (e as Error).message.replace(/^scheduledLearningRate: /, "")
        })`,
      );
    }
    config.lrSchedule = text.trim();
  }
  if (values["weight-decay"] !== undefined) {
    config.weightDecay = numberValue("weight-decay", values["weight-decay"], "a number ≥ 0", (v) => v >= 0);
  }
  const rule = UPDATE_RULE_FLAGS[run.updateRule];
  if (config.nesterov && rule !== "sgdMomentum") {
    throw new UsageError(`--nesterov needs --update-rule sgd-momentum, not ${run.updateRule}`);
  }
  if (config.weightDecay > 0 && !["sgd", "sgdMomentum", "adam"].includes(rule)) {
    throw new UsageError(`--weight-decay applies to sgd, sgd-momentum and adam, not ${run.updateRule}`);
  }
  return config;
}

/**
 * The Solver settings the recipe flags mean: the update rule that implements
 * `--update-rule` with `--nesterov` and `--weight-decay` (`recipeUpdateRule`)
 * and its config entries, the schedule and the augmentation.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { recipeSolver } from "./recipe_flags.ts";
 * assertEquals(
 *   recipeSolver({ updateRule: "sgd-momentum", nesterov: true, weightDecay: 5e-4, augment: "flip", lrSchedule: null }),
 *   { updateRule: "sgdNesterov", optimConfig: { weightDecay: 5e-4 }, augment: "flip" },
 * );
 * ```
 */
export function recipeSolver(
  c: RecipeConfig & { updateRule: string },
): Pick<SolverSpec, "updateRule" | "optimConfig" | "lrSchedule" | "augment"> {
  const { updateRule, config } = recipeUpdateRule({
    updateRule: UPDATE_RULE_FLAGS[c.updateRule],
    nesterov: c.nesterov,
    weightDecay: c.weightDecay,
  });
  return {
    updateRule,
    ...(Object.keys(config).length > 0 ? { optimConfig: config } : {}),
    ...(c.lrSchedule !== null ? { lrSchedule: c.lrSchedule } : {}),
    ...(c.augment !== null ? { augment: c.augment } : {}),
  };
}

/**
 * The recipe settings that differ from their defaults, for a run's identity
 * (so a run without them keeps the name it always had).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { recipeIdentity } from "./recipe_flags.ts";
 * assertEquals(recipeIdentity({ augment: null, lrSchedule: "onecycle", nesterov: false, weightDecay: 0 }), {
 *   lrSchedule: "onecycle",
 * });
 * ```
 */
export function recipeIdentity(c: RecipeConfig): Partial<RecipeConfig> {
  return {
    ...(c.augment !== null ? { augment: c.augment } : {}),
    ...(c.lrSchedule !== null ? { lrSchedule: c.lrSchedule } : {}),
    ...(c.nesterov ? { nesterov: true } : {}),
    ...(c.weightDecay !== 0 ? { weightDecay: c.weightDecay } : {}),
  };
}

/** The Sequential model a run's flags describe. */
export function sequentialModelOf(c: { spec: string | null; weightScale: number | "kaiming"; reg: number }) {
  return { kind: "sequential", spec: c.spec!, weightScale: c.weightScale, reg: c.reg } satisfies SequentialModelSpec;
}
