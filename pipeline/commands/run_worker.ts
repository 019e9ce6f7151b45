/**
 * The Web Worker behind `worker_pool.ts`: receives one plain task at a time
 * (a training run or a gradient check, see `experiments/tasks.ts`), runs it
 * and posts back every record as it is made, then the result, or an error
 * naming the task.
 *
 * Messages in: `{ type: "task", id, task, gemm, threads, place? }`.
 * Messages out: `{ type: "record", id, record }`, `{ type: "done", id, result }`,
 * `{ type: "error", id, message, name, stack }`.
 *
 * @module
 */

import { type GemmBackendName, useGemmBackend } from "../../layers/kernels/gemm_backends.ts";
import { setThreads } from "../../layers/kernels/threads.ts";
import { executeTask, type RunPlace, type Task, type TaskResult } from "./experiments/tasks.ts";
import type { TrainRecord } from "../store/records.ts";

/** A message from the pool to a worker. */
export interface WorkerRequest {
  /** The only request: run a task. */
  type: "task";
  /** The task's index in the pool's list. */
  id: number;
  /** The work. */
  task: Task;
  /** The gemm backend to install (the pool's choice, so every worker computes alike). */
  gemm: GemmBackendName | "auto";
  /** Layer threads in this worker (the pool shares the process's threads out among its workers). */
  threads: number;
  /** A training run's folder (see `runInFolder`); without it nothing is written. */
  place?: RunPlace;
}

/** A message from a worker to the pool. */
export type WorkerReply =
  | { type: "record"; id: number; record: TrainRecord }
  | { type: "done"; id: number; result: TaskResult }
  | { type: "error"; id: number; message: string; name?: string; stack?: string };

interface WorkerScope {
  onmessage: ((e: MessageEvent<WorkerRequest>) => void) | null;
  postMessage(message: WorkerReply, transfer?: Transferable[]): void;
}

const scope = globalThis as unknown as WorkerScope;

let configured: string | undefined;

function configure(gemm: GemmBackendName | "auto", threads: number): void {
  const key = `${gemm}/${threads}`;
  if (configured === key) return;
  useGemmBackend(gemm, { quiet: true });
  setThreads(threads);
  configured = key;
}

// Tasks run one at a time: the pool sends the next one only after "done" or "error".
scope.onmessage = async (e: MessageEvent<WorkerRequest>) => {
  const { id, task, gemm, threads, place } = e.data;
  try {
    configure(gemm, threads);
    const result = await executeTask(task, (record) => scope.postMessage({ type: "record", id, record }), place);
    const transfer = Object.values(result.params ?? {}).map((p) => p.data.buffer as ArrayBuffer);
    scope.postMessage({ type: "done", id, result }, transfer);
  } catch (err) {
    const error = err instanceof Error ? err : new Error(String(err));
    scope.postMessage({ type: "error", id, message: error.message, name: error.name, stack: error.stack });
  }
};
