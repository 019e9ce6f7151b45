/**
 * Per-step learning-rate schedules, beyond the course's per-epoch decay:
 * step decay, cosine annealing and the one-cycle policy (warm-up, then
 * annealing), with PyTorch's formulas (`StepLR`, `CosineAnnealingLR`,
 * `OneCycleLR`), so a recipe from PyTorch carries over.
 *
 * A schedule is a pure function of the step: the learning rate of step t
 * (t = 0 … numIterations − 1, the first step using t = 0, as a PyTorch
 * scheduler stepped after every optimizer step) is computed from t and the
 * configured learning rate, so nothing needs saving beyond the step count
 * and the schedule itself, and a resumed run continues exactly.
 *
 * The configured `learningRate` is the schedule's base (step, cosine) or
 * peak (one-cycle); the course's `lrDecay` still multiplies it after every
 * epoch, so the two compose (leave `lrDecay` at 1 to follow PyTorch).
 *
 * @module
 */

/** A per-step learning-rate schedule. */
export type LrSchedule =
  /** `lr · gamma^⌊t / stepSize⌋` (PyTorch's `StepLR` stepped per step). */
  | { kind: "step"; stepSize: number; gamma?: number }
  /**
   * `minLr + (lr − minLr)·(1 + cos(π·t / T))/2` over T = `totalSteps`
   * (default: the whole run) steps, then `minLr` (PyTorch's `CosineAnnealingLR`
   * with `T_max` = T, `eta_min` = minLr, up to T).
   */
  | { kind: "cosine"; minLr?: number; totalSteps?: number }
  /**
   * PyTorch's `OneCycleLR` with `max_lr` = lr: from `lr / divFactor` up to
   * `lr` over the first `pctStart` of `totalSteps` (the warm-up), then down to
   * `lr / divFactor / finalDivFactor`, each phase annealed by a half cosine
   * (`anneal: "cos"`) or linearly. Defaults: pctStart 0.3, divFactor 25,
   * finalDivFactor 1e4, anneal "cos", totalSteps the whole run. Momentum is
   * not cycled (PyTorch's `cycle_momentum=False`).
   */
  | {
    kind: "onecycle";
    pctStart?: number;
    divFactor?: number;
    finalDivFactor?: number;
    anneal?: "cos" | "linear";
    totalSteps?: number;
  };

/** The keys of each kind in the compact form `kind:key=value,…`, by their short names. */
const KEYS: Readonly<Record<LrSchedule["kind"], Readonly<Record<string, string>>>> = {
  step: { size: "stepSize", gamma: "gamma" },
  cosine: { min: "minLr", steps: "totalSteps" },
  onecycle: { pct: "pctStart", div: "divFactor", final: "finalDivFactor", anneal: "anneal", steps: "totalSteps" },
};

/** The compact forms, for messages. */
export const LR_SCHEDULE_FORMS: readonly string[] = Object.freeze([
  "step:size=N[,gamma=G]",
  "cosine[:min=LR][,steps=T]",
  "onecycle[:pct=P][,div=D][,final=F][,anneal=cos|linear][,steps=T]",
]);

function scheduleError(text: string, message: string): Error {
  return new Error(`parseLrSchedule: ${JSON.stringify(text)}: ${message}`);
}

/**
 * Reads a schedule from its compact form: `step:size=N[,gamma=G]`,
 * `cosine[:min=LR][,steps=T]` or
 * `onecycle[:pct=P][,div=D][,final=F][,anneal=cos|linear][,steps=T]`.
 *
 * @throws Error naming the text and what was expected
 *
 * @example
 * ```ts
 * import { parseLrSchedule } from "./lr_schedule.ts";
 * import { assertEquals } from "@std/assert";
 * assertEquals(parseLrSchedule("onecycle:pct=0.25"), { kind: "onecycle", pctStart: 0.25 });
 * assertEquals(parseLrSchedule("step:size=100,gamma=0.5"), { kind: "step", stepSize: 100, gamma: 0.5 });
 * ```
 */
export function parseLrSchedule(text: string): LrSchedule {
  const colon = text.indexOf(":");
  const kind = (colon < 0 ? text : text.slice(0, colon)).trim();
  if (!Object.hasOwn(KEYS, kind)) {
    throw scheduleError(text, `unknown schedule "${kind}"; expected ${LR_SCHEDULE_FORMS.join(", ")}`);
  }
  const k = kind as LrSchedule["kind"];
  const out: Record<string, unknown> = { kind: k };
  const rest = colon < 0 ? "" : text.slice(colon + 1).trim();
  for (const part of rest === "" ? [] : rest.split(",")) {
    const eq = part.indexOf("=");
    const key = (eq < 0 ? part : part.slice(0, eq)).trim();
    const value = eq < 0 ? "" : part.slice(eq + 1).trim();
    if (!Object.hasOwn(KEYS[k], key)) {
      throw scheduleError(
        text,
        `${kind} takes ${Object.keys(KEYS[k]).map((n) => `${n}=`).join(", ")}; got ${JSON.stringify(part.trim())}`,
      );
    }
    if (key === "anneal") {
      if (value !== "cos" && value !== "linear") throw scheduleError(text, `anneal must be cos or linear`);
      out.anneal = value;
    } else {
      const v = Number(value);
      if (value === "" || !Number.isFinite(v)) throw scheduleError(text, `${key} must be a number, got "${value}"`);
      out[KEYS[k][key]] = v;
    }
  }
  const schedule = out as LrSchedule;
  checkLrSchedule(schedule, (m) => scheduleError(text, m));
  return schedule;
}

/**
 * The compact form of a schedule (what {@link parseLrSchedule} reads back).
 *
 * @example
 * ```ts
 * import { formatLrSchedule } from "./lr_schedule.ts";
 * import { assertEquals } from "@std/assert";
 * assertEquals(formatLrSchedule({ kind: "cosine", minLr: 1e-4 }), "cosine:min=0.0001");
 * ```
 */
export function formatLrSchedule(schedule: LrSchedule): string {
  const parts: string[] = [];
  for (const [short, long] of Object.entries(KEYS[schedule.kind])) {
    const v = (schedule as Record<string, unknown>)[long];
    if (v !== undefined) parts.push(`${short}=${v}`);
  }
  return parts.length === 0 ? schedule.kind : `${schedule.kind}:${parts.join(",")}`;
}

/** Checks a schedule's numbers; `fail` builds the error from a message. */
export function checkLrSchedule(
  schedule: LrSchedule,
  fail: (message: string) => Error = (m) => new Error(`lrSchedule: ${m}`),
): void {
  const s = schedule as Record<string, unknown>;
  if (!Object.hasOwn(KEYS, schedule.kind)) throw fail(`unknown schedule kind ${JSON.stringify(schedule.kind)}`);
  const known = new Set(["kind", ...Object.values(KEYS[schedule.kind])]);
  for (const key of Object.keys(s)) if (!known.has(key)) throw fail(`${schedule.kind} has no field "${key}"`);
  const num = (key: string, ok: (v: number) => boolean, rule: string) => {
    const v = s[key];
    if (v !== undefined && !(typeof v === "number" && Number.isFinite(v) && ok(v))) {
      throw fail(`${key} ${v} must be ${rule}`);
    }
  };
  const positiveInt = (v: number) => Number.isSafeInteger(v) && v > 0;
  num("stepSize", positiveInt, "a positive integer");
  if (schedule.kind === "step" && schedule.stepSize === undefined) throw fail("step needs size=N (steps per decay)");
  num("gamma", (v) => v >= 0, "≥ 0");
  num("minLr", (v) => v >= 0, "≥ 0");
  num("totalSteps", positiveInt, "a positive integer");
  num("pctStart", (v) => v > 0 && v < 1, "in (0, 1)");
  num("divFactor", (v) => v > 0, "> 0");
  num("finalDivFactor", (v) => v > 0, "> 0");
  if (s.anneal !== undefined && s.anneal !== "cos" && s.anneal !== "linear") {
    throw fail(`anneal ${JSON.stringify(s.anneal)} must be "cos" or "linear"`);
  }
}

/** PyTorch's `_annealing_cos`: from `start` (pct 0) to `end` (pct 1) along a half cosine. */
function annealCos(start: number, end: number, pct: number): number {
  return end + (start - end) / 2 * (Math.cos(Math.PI * pct) + 1);
}

/** PyTorch's `_annealing_linear`. */
function annealLinear(start: number, end: number, pct: number): number {
  return (end - start) * pct + start;
}

/**
 * The learning rate of step `t` (from 0) under `schedule`, for the
 * configured rate `lr` and a run of `numIterations` steps (the default
 * `totalSteps`).
 *
 * @throws RangeError when a one-cycle's warm-up would have fewer than two steps
 *   (`pctStart · totalSteps ≤ 1`), where PyTorch divides by zero
 *
 * @example
 * ```ts
 * import { scheduledLearningRate } from "./lr_schedule.ts";
 * import { assertAlmostEquals, assertEquals } from "@std/assert";
 * const oneCycle = { kind: "onecycle" } as const;
 * assertAlmostEquals(scheduledLearningRate(oneCycle, 0, 0.1, 100), 0.1 / 25); // starts at lr / divFactor
 * assertAlmostEquals(scheduledLearningRate(oneCycle, 29, 0.1, 100), 0.1); // peaks after 30 % of the steps
 * assertEquals(scheduledLearningRate({ kind: "step", stepSize: 10, gamma: 0.5 }, 25, 0.1, 100), 0.025);
 * ```
 */
export function scheduledLearningRate(schedule: LrSchedule, t: number, lr: number, numIterations: number): number {
  switch (schedule.kind) {
    case "step":
      return lr * (schedule.gamma ?? 0.1) ** Math.floor(t / schedule.stepSize);
    case "cosine": {
      const total = schedule.totalSteps ?? numIterations, minLr = schedule.minLr ?? 0;
      if (t >= total) return minLr;
      return minLr + (lr - minLr) * (1 + Math.cos(Math.PI * t / total)) / 2;
    }
    case "onecycle": {
      const total = schedule.totalSteps ?? numIterations;
      const initial = lr / (schedule.divFactor ?? 25);
      const min = initial / (schedule.finalDivFactor ?? 1e4);
      const anneal = schedule.anneal === "linear" ? annealLinear : annealCos;
      // PyTorch's phases: warm-up ends at step pctStart·total − 1, the run at total − 1.
      const warmEnd = (schedule.pctStart ?? 0.3) * total - 1, end = total - 1;
      if (!(warmEnd > 0 && end > warmEnd)) {
        throw new RangeError(
          `scheduledLearningRate: onecycle over ${total} steps with pctStart ${
            schedule.pctStart ?? 0.3
          } leaves no room for both phases (pctStart·totalSteps must exceed 1 and stay below totalSteps)`,
        );
      }
      if (t <= warmEnd) return anneal(initial, lr, t / warmEnd);
      return anneal(lr, min, Math.min(t - warmEnd, end - warmEnd) / (end - warmEnd));
    }
  }
}
