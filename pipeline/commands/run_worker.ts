/**
 * The Web Worker behind `worker_pool.ts`: receives one plain task at a time
 * (a training run or a gradient check, see `experiments/tasks.ts`), runs it
 * and posts back every record as it is made, then the result, or an error
 * naming the task.
 *
 * Messages in: `{ type: "task", id, task, gemm, blasThreads }`.
 * Messages out: `{ type: "record", id, record }`, `{ type: "done", id, result }`,
 * `{ type: "error", id, message, stack }`.
 *
 * @module
 */

import { type GemmBackendName, useGemmBackend } from "../../layers/kernels/gemm_backends.ts";
import type { BlasBackend } from "../../layers/kernels/gemm_blas.ts";
import { executeTask, type Task, type TaskResult } from "./experiments/tasks.ts";
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
  /** Threads OpenBLAS may use in this worker (1 when several workers share the cores). */
  blasThreads: number;
}

/** A message from a worker to the pool. */
export type WorkerReply =
  | { type: "record"; id: number; record: TrainRecord }
  | { type: "done"; id: number; result: TaskResult }
  | { type: "error"; id: number; message: string; stack?: string };

interface WorkerScope {
  onmessage: ((e: MessageEvent<WorkerRequest>) => void) | null;
  postMessage(message: WorkerReply, transfer?: Transferable[]): void;
}

const scope = globalThis as unknown as WorkerScope;

let configured: string | undefined;

function configure(gemm: GemmBackendName | "auto", blasThreads: number): void {
  const key = `${gemm}/${blasThreads}`;
  if (configured === key) return;
  const backend = useGemmBackend(gemm, { quiet: true });
  // 0 leaves OpenBLAS's own count, as in the main thread: the thread count changes float32 sums in the last bits.
  if (backend.name === "blas" && blasThreads > 0) (backend as BlasBackend).maxThreads = blasThreads;
  configured = key;
}

// Tasks run one at a time: the pool sends the next one only after "done" or "error".
scope.onmessage = async (e: MessageEvent<WorkerRequest>) => {
  const { id, task, gemm, blasThreads } = e.data;
  try {
    configure(gemm, blasThreads);
    const result = await executeTask(task, (record) => scope.postMessage({ type: "record", id, record }));
    const transfer = Object.values(result.params ?? {}).map((p) => p.data.buffer as ArrayBuffer);
    scope.postMessage({ type: "done", id, result }, transfer);
  } catch (err) {
    const error = err instanceof Error ? err : new Error(String(err));
    scope.postMessage({ type: "error", id, message: error.message, stack: error.stack });
  }
};
