/**
 * Runs independent tasks (training runs, gradient checks) in parallel on
 * Web Workers, one task per worker at a time, and merges the records they
 * post back into one stream (`mergeReadableStreams`), each tagged with its
 * run's label.
 *
 * Results do not depend on the number of workers: a task carries its own
 * seed and runs alone in its worker, records of one run arrive in order, and
 * results come back in task order. With several workers, OpenBLAS runs on one
 * thread per worker (the workers already use the cores).
 *
 * A task that throws fails the whole batch with a {@link TaskFailedError}
 * naming it; every worker is terminated on completion, on failure and on
 * abort.
 *
 * @module
 */

import type { GemmBackendName } from "../../layers/kernels/gemm_backends.ts";
import { threads } from "../../layers/kernels/threads.ts";
import type { LabelledRecord, RunPlace, Task, TaskResult } from "./experiments/tasks.ts";
import type { WorkerReply, WorkerRequest } from "./run_worker.ts";
import { mergeReadableStreams } from "@std/streams";

/** A task failed in its worker (or its worker died while running it). */
export class TaskFailedError extends Error {
  /** The task's label. */
  readonly label: string;
  /** The stack trace from inside the worker, when there is one. */
  readonly workerStack?: string;
  /** The name of the error the task threw (`RunLockedError`, `UsageError`, …), when it threw one. */
  readonly errorName?: string;
  /** The task's own message, without the run's label. */
  readonly taskMessage: string;

  /** Builds the one-line message naming the task. */
  constructor(label: string, message: string, workerStack?: string, errorName?: string) {
    super(`run "${label}" failed: ${message}`);
    this.name = "TaskFailedError";
    this.label = label;
    this.taskMessage = message;
    this.workerStack = workerStack;
    if (errorName !== undefined) this.errorName = errorName;
  }
}

/** Options of {@link runTasks}. */
export interface RunTasksOptions {
  /** Workers to start (at most one per task). Default `navigator.hardwareConcurrency`. */
  workers?: number;
  /** gemm backend every worker installs. Default `"auto"` (the fastest available). */
  gemm?: GemmBackendName | "auto";
  /**
   * Layer threads per worker (the parallel engine's `setThreads`). Default: the process's thread count
   * (`--threads`, `GRADSTREAM_THREADS`, else every core) shared out, so that workers × threads stays within it.
   */
  threads?: number;
  /** The worker module. Default `./run_worker.ts`. */
  workerUrl?: URL;
  /**
   * Estimated cost of a task: tasks are handed out largest first (results
   * still come back in task order), so a long run does not start last.
   * Default: task order.
   */
  cost?: (task: Task) => number;
  /** Called when a task is handed to worker `worker` (0-based). */
  onStart?: (task: Task, worker: number) => void;
  /** Called when a task has finished. */
  onDone?: (task: Task, result: TaskResult) => void;
  /** Aborting it terminates every worker and fails the batch. */
  signal?: AbortSignal;
  /** Where a training task writes its run (see `runInFolder`); undefined: nothing is written. */
  placeOf?: (task: Task) => RunPlace | undefined;
}

/** A batch of tasks under way. */
export interface TaskBatch {
  /** Every record of every training run, tagged with its label, as they arrive (one run's records in order). */
  records: ReadableStream<LabelledRecord>;
  /** Each task's result, in task order; rejects with a {@link TaskFailedError} when a task fails. */
  results: Promise<TaskResult[]>;
  /** Workers started. */
  workers: number;
  /** Terminates every worker now (the batch fails unless it has finished). */
  terminate(): void;
}

/** The default number of workers: one per core. */
export function defaultWorkerCount(): number {
  return Math.max(1, navigator.hardwareConcurrency || 1);
}

/**
 * Runs `tasks` on up to `options.workers` Web Workers, handing them out as
 * workers become free (in task order, or largest `cost` first). Labels
 * must be unique.
 *
 * @example
 * ```ts ignore
 * const batch = runTasks(tasks, { workers: 2 });
 * for await (const { label, record } of batch.records) console.log(label, record.kind);
 * const results = await batch.results;
 * ```
 */
export function runTasks(tasks: readonly Task[], options: RunTasksOptions = {}): TaskBatch {
  const seen = new Set<string>();
  for (const t of tasks) {
    if (seen.has(t.label)) throw new RangeError(`runTasks: label "${t.label}" appears twice`);
    seen.add(t.label);
  }
  const wanted = options.workers ?? defaultWorkerCount();
  if (!Number.isInteger(wanted) || wanted < 1) {
    throw new RangeError(`runTasks: workers ${wanted} is not a positive integer`);
  }
  const size = Math.min(wanted, Math.max(tasks.length, 1));
  const gemm = options.gemm ?? "auto";
  const threadsEach = options.threads ?? Math.max(1, Math.floor(threads() / size));
  const url = options.workerUrl ?? new URL("./run_worker.ts", import.meta.url);

  const controllers: ReadableStreamDefaultController<LabelledRecord>[] = [];
  const state: ("waiting" | "running" | "done" | "failed")[] = tasks.map(() => "waiting");
  const streams = tasks.map((_, i) =>
    new ReadableStream<LabelledRecord>({
      start(c) {
        controllers[i] = c;
      },
    })
  );
  const records = mergeReadableStreams(...streams);
  const results: TaskResult[] = new Array(tasks.length);
  const done = Promise.withResolvers<TaskResult[]>();
  // Callers may read only the records; the rejection still reaches whoever awaits `results`.
  done.promise.catch(() => {});

  const workers: Worker[] = [];
  const running: (number | null)[] = [];
  // Largest first (stable), so the batch does not end waiting on one long run started last.
  const order = tasks.map((_, i) => i);
  if (options.cost) {
    const costs = tasks.map(options.cost);
    order.sort((a, b) => costs[b] - costs[a] || a - b);
  }
  let nextTask = 0;
  let finished = 0;
  let over = false;

  const terminateAll = () => {
    for (const w of workers) w.terminate();
  };
  const fail = (error: Error) => {
    if (over) return;
    over = true;
    terminateAll();
    state.forEach((s, i) => {
      if (s === "waiting" || s === "running") {
        state[i] = "failed";
        controllers[i].error(error);
      }
    });
    done.reject(error);
  };
  const dispatch = (w: number) => {
    if (over) return;
    if (nextTask >= tasks.length) {
      running[w] = null;
      workers[w].terminate();
      return;
    }
    const id = order[nextTask++];
    running[w] = id;
    state[id] = "running";
    options.onStart?.(tasks[id], w);
    const place = options.placeOf?.(tasks[id]);
    const request: WorkerRequest = {
      type: "task",
      id,
      task: tasks[id],
      gemm,
      threads: threadsEach,
      ...(place ? { place } : {}),
    };
    workers[w].postMessage(request);
  };

  for (let w = 0; w < size && tasks.length > 0; w++) {
    const worker = new Worker(url, { type: "module" });
    workers.push(worker);
    running.push(null);
    worker.onmessage = (e: MessageEvent<WorkerReply>) => {
      if (over) return;
      const msg = e.data;
      const task = tasks[msg.id];
      if (msg.type === "record") {
        controllers[msg.id].enqueue({ label: task.label, record: msg.record });
      } else if (msg.type === "done") {
        results[msg.id] = msg.result;
        state[msg.id] = "done";
        controllers[msg.id].close();
        options.onDone?.(task, msg.result);
        if (++finished === tasks.length) {
          over = true;
          terminateAll();
          done.resolve(results);
        } else {
          dispatch(w);
        }
      } else {
        fail(new TaskFailedError(task.label, msg.message, msg.stack, msg.name));
      }
    };
    worker.onerror = (e: ErrorEvent) => {
      e.preventDefault();
      const id = running[w];
      fail(new TaskFailedError(id === null ? `worker ${w}` : tasks[id].label, `its worker died: ${e.message}`));
    };
    worker.onmessageerror = () => {
      const id = running[w];
      fail(
        new TaskFailedError(
          id === null ? `worker ${w}` : tasks[id].label,
          "a message from its worker could not be read",
        ),
      );
    };
  }
  if (tasks.length === 0) {
    over = true;
    done.resolve([]);
  } else {
    for (let w = 0; w < workers.length; w++) dispatch(w);
  }
  if (options.signal) {
    const onAbort = () => fail(new Error(`runTasks: aborted (${String(options.signal!.reason ?? "no reason")})`));
    if (options.signal.aborted) onAbort();
    else options.signal.addEventListener("abort", onAbort, { once: true });
    done.promise.finally(() => options.signal!.removeEventListener("abort", onAbort)).catch(() => {});
  }
  return {
    records,
    results: done.promise,
    workers: workers.length,
    terminate() {
      if (!over) fail(new Error("runTasks: terminated"));
      terminateAll();
    },
  };
}
