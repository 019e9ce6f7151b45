/**
 * Progress lines of `deno task experiment` on stderr: a line when a run
 * finishes (how many are done, how much of the work, how long is left), and
 * a heartbeat while runs train that names each running run's iteration, its
 * last loss and its latest accuracies, so a long run can be watched.
 *
 * @module
 */

import { formatDuration, formatPercent } from "../../reports/format.ts";
import type { TrainRecord } from "../store/records.ts";

/** What a progress line needs of a task: its label. */
export interface ProgressTask {
  /** The task's label. */
  label: string;
}

/** Where a running run is, from its records. */
interface RunState {
  planned: number;
  iteration: number;
  loss: number;
  trainAcc: number;
  valAcc: number;
  running: boolean;
}

/** Options of {@link ExperimentProgress}. */
export interface ExperimentProgressOptions<T extends ProgressTask> {
  /** A heartbeat at least this often while runs train, ms. Default 10,000. */
  heartbeatMs?: number;
  /** A task's estimated cost, for the share of the work done. Default 1 each. */
  weightOf?: (task: T) => number;
  /** Clock, ms. Default `performance.now`. */
  now?: () => number;
}

/**
 * Progress of an experiment's tasks (see the module docs). Call
 * {@link started}, {@link record} and {@link finished} as they happen and
 * {@link stop} at the end.
 */
export class ExperimentProgress<T extends ProgressTask> {
  readonly #tasks: readonly T[];
  readonly #line: (s: string) => void;
  readonly #now: () => number;
  readonly #t0: number;
  readonly #weights = new Map<string, number>();
  readonly #runs = new Map<string, RunState>();
  #done = 0;
  #lastLine: number;
  #timer: ReturnType<typeof setInterval> | undefined;

  /** Starts the heartbeat timer (unref'd: it never keeps the process alive). */
  constructor(tasks: readonly T[], line: (s: string) => void, options: ExperimentProgressOptions<T> = {}) {
    this.#tasks = tasks;
    this.#line = line;
    this.#now = options.now ?? (() => performance.now());
    this.#t0 = this.#lastLine = this.#now();
    for (const t of tasks) {
      this.#weights.set(t.label, options.weightOf?.(t) ?? 1);
      this.#runs.set(t.label, { planned: 0, iteration: 0, loss: NaN, trainAcc: NaN, valAcc: NaN, running: false });
    }
    const heartbeatMs = options.heartbeatMs ?? 10_000;
    this.#timer = setInterval(() => {
      if (this.#now() - this.#lastLine >= heartbeatMs) this.heartbeat();
    }, Math.min(heartbeatMs, 1000));
    Deno.unrefTimer(this.#timer);
  }

  #say(s: string) {
    this.#lastLine = this.#now();
    this.#line(s);
  }

  #fraction(label: string): number {
    const r = this.#runs.get(label)!;
    if (r.planned > 0) return Math.min(1, r.iteration / r.planned);
    return 0;
  }

  /** `2/8 done, 2 running, 47 % of the work, 1 min 02 s elapsed, about 1 min 10 s left`. */
  status(): string {
    const total = [...this.#weights.values()].reduce((a, b) => a + b, 0);
    const done = this.#tasks.reduce((a, t) => a + this.#weights.get(t.label)! * this.#fraction(t.label), 0);
    const f = total > 0 ? done / total : 1;
    const elapsed = this.#now() - this.#t0;
    const left = f > 0.01 && f < 1 ? `, about ${formatDuration(elapsed * (1 - f) / f)} left` : "";
    const running = [...this.#runs.values()].filter((r) => r.running).length;
    return `${this.#done}/${this.#tasks.length} done${running > 0 ? `, ${running} running` : ""}, ${
      Math.floor(100 * f)
    } % of the work, ${formatDuration(elapsed)} elapsed${left}`;
  }

  /**
   * Where each running run is: `lr 1e-3: iteration 340/980 · loss 1.7342 ·
   * val acc 41.20 % (train 44.10 %)`, one line per run, in plan order.
   */
  runningLines(): string[] {
    return this.#tasks.filter((t) => this.#runs.get(t.label)!.running).map((t) => {
      const r = this.#runs.get(t.label)!;
      if (r.planned === 0) return `${t.label}: starting`;
      const parts = [`iteration ${r.iteration.toLocaleString("en-US")}/${r.planned.toLocaleString("en-US")}`];
      if (Number.isFinite(r.loss)) parts.push(`loss ${r.loss.toFixed(4)}`);
      if (Number.isFinite(r.valAcc)) {
        parts.push(
          `val acc ${formatPercent(r.valAcc)}` +
            (Number.isFinite(r.trainAcc) ? ` (train ${formatPercent(r.trainAcc)})` : ""),
        );
      }
      return `${t.label}: ${parts.join(" · ")}`;
    });
  }

  /** Prints the heartbeat: the status line, then each running run's line (indented). */
  heartbeat(): void {
    this.#say(`… ${this.status()}`);
    for (const l of this.runningLines()) this.#line(`    ${l}`);
  }

  /** A task was handed to a worker. */
  started(task: T): void {
    this.#runs.get(task.label)!.running = true;
  }

  /** A record of a run arrived. */
  record(label: string, record: TrainRecord): void {
    const r = this.#runs.get(label);
    if (r === undefined) return;
    if (record.kind === "start") {
      r.planned = record.numIterations;
      r.iteration = record.startIteration;
    } else if (record.kind === "iteration") {
      r.iteration = record.iteration;
      r.loss = record.loss;
    } else if (record.kind === "epoch") {
      r.trainAcc = record.trainAcc;
      r.valAcc = record.valAcc;
    }
  }

  /** A task finished; `note` says how (`train acc 41.0 %, …`), `wallMs` how long it took. */
  finished(task: T, result: { note?: string; wallMs: number }): void {
    const r = this.#runs.get(task.label)!;
    r.running = false;
    r.planned = Math.max(r.planned, 1);
    r.iteration = r.planned;
    this.#done++;
    this.#say(
      `[${this.#done}/${this.#tasks.length}] ${task.label}: ${result.note ?? "done"} (${
        formatDuration(result.wallMs)
      }) · ${this.status()}`,
    );
  }

  /** Stops the heartbeat. */
  stop(): void {
    clearInterval(this.#timer);
  }
}
