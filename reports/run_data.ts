/**
 * From run-log records to the rows the charts and tables show: loss curves
 * (downsampled, smoothed), accuracy checks, and one summary per run.
 *
 * Reports read only {@link TrainRecord}s (the run log's schema); nothing here
 * trains or imports training code.
 *
 * @module
 */

import type {
  EndRecord,
  EpochRecord,
  IterationRecord,
  StartRecord,
  StoppedRecord,
  TrainRecord,
} from "../pipeline/store/records.ts";
import { addToAverage, defaultSmoothingSpan, keepsLossStep, lossStride, movingAverage } from "./loss_smoothing.ts";

export { defaultSmoothingSpan, lossStride };

/** A run's records under the name the report shows for it. */
export interface LabelledRun {
  /** Shown in legends, tooltips and tables (user text: always escaped). */
  label: string;
  /** The run's log, in order (as `readRunLog` returns it). */
  records: readonly TrainRecord[];
}

/** A run log sorted out by record kind. */
export interface RunSeries {
  /** The first `start` record (the run's configuration), if any. */
  start?: StartRecord;
  /** Every `start` record: more than one when the run was resumed. */
  starts: StartRecord[];
  /** One record per step, sorted by iteration (a later record for the same step wins). */
  iterations: IterationRecord[];
  /** One record per accuracy check, sorted by iteration (a later record for the same step wins). */
  checks: EpochRecord[];
  /** The `end` record, when the run finished. */
  end?: EndRecord;
  /** The `stopped` record, when the loss (or a parameter) stopped being finite. */
  stopped?: StoppedRecord;
}

/**
 * Sorts a run log out by record kind. Records of unknown kinds are ignored,
 * so logs of newer versions still load.
 */
export function runSeries(records: readonly TrainRecord[]): RunSeries {
  const starts: StartRecord[] = [];
  const iterations = new Map<number, IterationRecord>();
  const checks = new Map<number, EpochRecord>();
  let end: EndRecord | undefined;
  let stopped: StoppedRecord | undefined;
  for (const r of records) {
    switch (r.kind) {
      case "start":
        starts.push(r);
        break;
      case "iteration":
        iterations.set(r.iteration, r);
        break;
      case "epoch":
        checks.set(r.iteration, r);
        break;
      case "end":
        end = r;
        break;
      case "stopped":
        stopped = r;
        break;
    }
  }
  const byIteration = (a: { iteration: number }, b: { iteration: number }) => a.iteration - b.iteration;
  return {
    start: starts[0],
    starts,
    iterations: [...iterations.values()].sort(byIteration),
    checks: [...checks.values()].sort(byIteration),
    end,
    stopped,
  };
}

/** Where a run stands. */
export type RunStatus = "finished" | "stopped" | "running";

/** What a summary table shows for one run. */
export interface RunSummary {
  /** Run label, as shown in legends and tables. */
  label: string;
  /** `stopped` when the log has a `stopped` record, else `finished` when it has an `end` record, else `running`. */
  status: RunStatus;
  /** The `stopped` record's message, when stopped. */
  stoppedMessage?: string;
  /** Dataset in words (`name (49,000 train / 1,000 val)`), when the log says. */
  dataset?: string;
  /** Steps taken. */
  iterations: number;
  /** Steps planned (`numIterations` of the first start record). */
  numIterations?: number;
  /** Completed epochs at the last check. */
  epochs: number;
  /** Training accuracy of the last check (the `end` record's when finished), a fraction in [0, 1]. */
  finalTrainAcc?: number;
  /** Validation accuracy of the last check (the `end` record's when finished), a fraction in [0, 1]. */
  finalValAcc?: number;
  /** Best training accuracy over all checks, a fraction in [0, 1]. */
  bestTrainAcc?: number;
  /** Best validation accuracy over all checks (else the `end` record's), a fraction in [0, 1]. */
  bestValAcc?: number;
  /** Loss of the last step with a finite loss. */
  finalLoss?: number;
  /** Training time in ms (summed over resumed segments). */
  trainingMs?: number;
  /** Average training examples per second of the last segment, when finished. */
  examplesPerSec?: number;
}

function datasetText(start: StartRecord | undefined): string | undefined {
  if (start === undefined) return undefined;
  const d = start.run?.dataset;
  let name: string | undefined;
  if (d !== undefined && d !== null && typeof d === "object") {
    for (const key of ["name", "source", "path"]) {
      const v = (d as Record<string, unknown>)[key];
      if (typeof v === "string" && v !== "") {
        name = v;
        break;
      }
    }
  }
  const sizes = `${start.numTrain.toLocaleString("en-US")} train / ${start.numVal.toLocaleString("en-US")} val`;
  return name === undefined ? sizes : `${name} (${sizes})`;
}

/** Condenses one run's records into what its row of the summary table shows. */
export function summarizeRun(run: LabelledRun): RunSummary {
  const s = runSeries(run.records);
  const lastIter = s.iterations.at(-1);
  const lastCheck = s.checks.at(-1);
  let finalLoss: number | undefined;
  for (let i = s.iterations.length - 1; i >= 0; i--) {
    if (Number.isFinite(s.iterations[i].loss)) {
      finalLoss = s.iterations[i].loss;
      break;
    }
  }
  const finite = (values: number[]) => values.filter(Number.isFinite);
  const trainAccs = finite(s.checks.map((c) => c.trainAcc));
  const valAccs = finite(s.checks.map((c) => c.valAcc));
  const iterations = Math.max(s.end?.iteration ?? 0, lastIter?.iteration ?? 0, lastCheck?.iteration ?? 0);
  return {
    label: run.label,
    status: s.stopped !== undefined ? "stopped" : s.end !== undefined ? "finished" : "running",
    stoppedMessage: s.stopped?.message,
    dataset: datasetText(s.start),
    iterations,
    numIterations: s.start?.numIterations,
    epochs: s.end?.epoch ?? lastCheck?.epoch ?? 0,
    finalTrainAcc: s.end?.finalTrainAcc ?? lastCheck?.trainAcc,
    finalValAcc: s.end?.finalValAcc ?? lastCheck?.valAcc,
    bestTrainAcc: trainAccs.length > 0 ? Math.max(...trainAccs) : undefined,
    bestValAcc: valAccs.length > 0 ? Math.max(...valAccs) : s.end?.bestValAcc,
    finalLoss,
    trainingMs: s.end?.elapsedMs ?? Math.max(lastIter?.elapsedMs ?? 0, lastCheck?.elapsedMs ?? 0),
    examplesPerSec: s.end?.examplesPerSec,
  };
}

/**
 * Mean loss of the last `n` steps of a run with a finite loss: the course's
 * "final training loss", `np.mean(solver.loss_history[-100:])` for the
 * default `n` 100 (a non-finite loss, where a run blew up, is left out rather
 * than making the mean NaN). Null when no step has a finite loss.
 *
 * @throws RangeError when `n` is not a positive integer
 */
export function meanFinalLoss(records: readonly TrainRecord[], n = 100): number | null {
  if (!Number.isSafeInteger(n) || n < 1) throw new RangeError(`meanFinalLoss: n ${n} must be a positive integer`);
  const losses = runSeries(records).iterations.map((r) => r.loss).filter(Number.isFinite);
  if (losses.length === 0) return null;
  const tail = losses.slice(-n);
  return tail.reduce((a, v) => a + v, 0) / tail.length;
}

/** Options of {@link lossRows}. */
export interface LossRowsOptions {
  /** At most this many rows per run (≥ 3). Default 1000. */
  maxPoints?: number;
  /** Span of the exponential moving average, in steps (≥ 1). Default `clamp(round(√N), 1, 100)` for N planned steps. */
  smoothingSpan?: number;
}

/** One point of a loss curve. */
export interface LossRow {
  /** Run label, as shown in legends. */
  run: string;
  /** Steps taken, this one included (from 1). */
  iteration: number;
  /** Epoch the step belongs to, counting from 0. */
  epoch: number;
  /** The step's minibatch loss. */
  loss: number;
  /** Bias-corrected exponential moving average of the loss over every step up to this one. */
  smoothed: number;
}

/**
 * A run's loss curve: every step's loss goes into a bias-corrected
 * exponential moving average (weight `β = 1 − 2/(span + 1)`, divided by
 * `1 − β^t` so the first steps are not pulled towards 0), and the steps
 * `lossStride` keeps become rows. Steps whose loss is not finite are
 * skipped. Deterministic: the same log gives the same rows.
 */
export function lossRows(run: LabelledRun, options: LossRowsOptions = {}): LossRow[] {
  const s = runSeries(run.records);
  const last = s.iterations.at(-1)?.iteration ?? 0;
  const planned = Math.max(s.start?.numIterations ?? 0, last);
  const stride = lossStride(planned, options.maxPoints ?? 1000);
  const span = options.smoothingSpan ?? defaultSmoothingSpan(planned);
  if (!(span >= 1)) throw new RangeError(`lossRows: smoothingSpan ${span} is not ≥ 1`);
  const average = movingAverage(span);
  const rows: LossRow[] = [];
  for (const r of s.iterations) {
    if (!Number.isFinite(r.loss)) continue;
    const smoothed = addToAverage(average, r.loss);
    if (keepsLossStep(r.iteration, stride, last)) {
      rows.push({ run: run.label, iteration: r.iteration, epoch: r.epoch, loss: r.loss, smoothed });
    }
  }
  return rows;
}

/** One accuracy of one check. */
export interface AccuracyRow {
  /** Run label, as shown in legends. */
  run: string;
  /** Completed epochs at the check; for a check inside an epoch, its fraction (iteration / iterations per epoch). */
  epoch: number;
  /** Steps taken at the check. */
  iteration: number;
  /** Which set the accuracy was measured on: training (subsample) or validation. */
  split: "train" | "val";
  /** Fraction classified correctly, in [0, 1]. */
  accuracy: number;
}

/**
 * Where an accuracy check sits on an epoch axis: its completed epochs, or for
 * a check inside an epoch (`--check-every`) its fraction of the epochs
 * (iteration / iterations per epoch), so it falls between the epoch ends. The
 * first check (after step 1) stays at epoch 0, as the course draws it. The
 * live page inlines this function: it uses nothing outside its body.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { checkEpoch } from "./run_data.ts";
 * assertEquals(checkEpoch(0, 10, false, 20), 0.5); // a check at step 10 of a 20-step epoch
 * assertEquals(checkEpoch(1, 20, true, 20), 1);
 * assertEquals(checkEpoch(0, 1, false, 20), 0);
 * ```
 */
export function checkEpoch(epoch: number, iteration: number, epochEnd: boolean, iterationsPerEpoch?: number): number {
  const inside = !epochEnd && iteration > 1 && typeof iterationsPerEpoch === "number" && iterationsPerEpoch > 0;
  return inside ? iteration / iterationsPerEpoch : epoch;
}

/**
 * A run's accuracy checks as rows, two per check (train, val); non-finite
 * accuracies are skipped. A check inside an epoch sits at its fraction of
 * the epochs ({@link checkEpoch}).
 */
export function accuracyRows(run: LabelledRun): AccuracyRow[] {
  const rows: AccuracyRow[] = [];
  const series = runSeries(run.records);
  const perEpoch = series.start?.iterationsPerEpoch;
  for (const c of series.checks) {
    const base = {
      run: run.label,
      epoch: checkEpoch(c.epoch, c.iteration, c.epochEnd, perEpoch),
      iteration: c.iteration,
    };
    if (Number.isFinite(c.trainAcc)) rows.push({ ...base, split: "train", accuracy: c.trainAcc });
    if (Number.isFinite(c.valAcc)) rows.push({ ...base, split: "val", accuracy: c.valAcc });
  }
  return rows;
}

/** Throws unless every label is unique and non-empty (charts would merge runs that share one). */
export function checkLabels(where: string, labels: readonly string[]): void {
  const seen = new Set<string>();
  for (const label of labels) {
    if (typeof label !== "string" || label === "") {
      throw new TypeError(`${where}: run label ${JSON.stringify(label)} is not a non-empty string`);
    }
    if (seen.has(label)) throw new RangeError(`${where}: run label ${JSON.stringify(label)} appears twice`);
    seen.add(label);
  }
}
