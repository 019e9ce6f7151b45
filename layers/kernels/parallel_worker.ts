/**
 * Internal: the entry point of a pool worker of the parallel engine
 * (`parallel.ts`). It imports the modules that defined tasks in the thread
 * that started it (named in `workerData.modules`), so that the worker has
 * them all, and serves jobs until it is ended.
 *
 * @module
 */

import { workerData } from "node:worker_threads";
import { type GemmBackendName, useGemmBackend } from "./gemm_backends.ts";
import type { BlasBackend } from "./gemm_blas.ts";
import { serveJobs } from "./parallel.ts";

const { control, index, modules } = workerData as { control: SharedArrayBuffer; index: number; modules: string[] };
// In the starting thread's order, so that every task has the number it has there.
for (const module of modules) await import(module);

serveJobs(control, index, (name) => {
  const backend = useGemmBackend(name as GemmBackendName, { quiet: true });
  // One OpenBLAS thread per pool thread: the pool owns the cores.
  if (backend.name === "blas") (backend as BlasBackend).maxThreads = 1;
});
