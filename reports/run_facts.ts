/**
 * What a run's start record says about the settings the course's
 * comparisons vary, and run labels made from them.
 *
 * @module
 */

import { type LabelledRun, runSeries } from "./run_data.ts";

/** What a run's start record says about the settings the course's comparisons vary. */
export interface RunFacts {
  /** Examples per minibatch. */
  batchSize?: number;
  /** Normalization layer, as the run describes it (e.g. `"batchnorm"`); `"none"` when recorded as null. */
  normalization?: string;
  /** Probability of dropping a unit (0: no dropout). */
  dropout?: number;
  /** Standard deviation of the initial weights. */
  weightScale?: number;
  /** Optimizer: `"sgd"`, `"sgdMomentum"`, `"rmsprop"`, `"adam"` or a custom rule's name. */
  updateRule?: string;
  /** Learning rate the run started with (`optimConfig.learningRate`). */
  learningRate?: number;
}

/**
 * The batch size, normalization, dropout, weight scale and optimizer of a
 * run, read from its first `start` record (`run.model.{normalization,
 * dropout, weightScale}`, falling back to the same keys on `run`; a `null`
 * normalization reads as `"none"`), for labelling runs by what differs.
 */
export function runFacts(records: LabelledRun["records"]): RunFacts {
  const start = runSeries(records).start;
  if (start === undefined) return {};
  const model = (start.run?.model ?? {}) as Record<string, unknown>;
  const run = (start.run ?? {}) as Record<string, unknown>;
  const pick = (key: string) => (key in model ? model[key] : run[key]);
  const num = (v: unknown) => (typeof v === "number" ? v : undefined);
  const norm = pick("normalization");
  return {
    batchSize: start.batchSize,
    normalization: norm === null ? "none" : norm === undefined ? undefined : String(norm),
    dropout: num(pick("dropout")),
    weightScale: num(pick("weightScale")),
    updateRule: start.updateRule,
    learningRate: start.optimConfig?.learningRate,
  };
}

/** What {@link labelRuns} can label runs by. */
export type FactKey = "batchSize" | "normalization" | "dropout" | "weightScale" | "updateRule" | "learningRate";

const FACT_WORDS: Record<FactKey, (v: number | string) => string> = {
  batchSize: (v) => `batch ${v}`,
  normalization: (v) => (v === "none" ? "no normalization" : String(v)),
  dropout: (v) => (v === 0 ? "no dropout" : `dropout ${v}`),
  weightScale: (v) => `σ ${v}`,
  updateRule: (v) => String(v),
  learningRate: (v) => `lr ${v}`,
};

/**
 * Labels runs by the settings that tell them apart (the course's batch-size
 * and normalization comparisons): `labelRuns(logs, ["normalization",
 * "batchSize"])` gives labels such as `"batchnorm · batch 50"`. A setting a
 * run's log does not record is left out of its label.
 */
export function labelRuns(logs: readonly LabelledRun["records"][], by: readonly FactKey[]): LabelledRun[] {
  return logs.map((records) => {
    const facts = runFacts(records);
    const parts = by.flatMap((k) => (facts[k] === undefined ? [] : [FACT_WORDS[k](facts[k]!)]));
    return { label: parts.join(" · ") || "run", records };
  });
}
