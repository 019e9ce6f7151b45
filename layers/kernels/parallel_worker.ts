/**
 * Internal: the entry point of a pool worker of the parallel engine
 * (`parallel.ts`). It imports every module that defines tasks, so that the
 * worker has them all, and serves jobs until it is ended.
 *
 * @module
 */

import { workerData } from "node:worker_threads";
import { type GemmBackendName, useGemmBackend } from "./gemm_backends.ts";
import type { BlasBackend } from "./gemm_blas.ts";
import { serveJobs } from "./parallel.ts";
// The modules that define tasks.
import "./gemm.ts";
import "../conv_fast.ts";
import "../max_pool_fast.ts";
import "../relu.ts";
import "./elementwise.ts";
import "../layernorm.ts";
import "../batchnorm.ts";
import "../softmax_loss.ts";

const { control, index } = workerData as { control: SharedArrayBuffer; index: number };

serveJobs(control, index, (name) => {
  const backend = useGemmBackend(name as GemmBackendName, { quiet: true });
  // One OpenBLAS thread per pool thread: the pool owns the cores.
  if (backend.name === "blas") (backend as BlasBackend).maxThreads = 1;
});
