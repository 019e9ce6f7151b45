/**
 * Prints gemm throughput in GFLOP/s for square products, the figure README
 * quotes. Run: `deno run bench/gemm_gflops.ts` (part of `deno task bench`).
 *
 * @module
 */

import { gemm, gemmBackend } from "../layers/gemm.ts";

function gflops(n: number, dtype: "float32" | "float64"): number {
  const alloc = (len: number) => dtype === "float32" ? new Float32Array(len) : new Float64Array(len);
  const a = alloc(n * n).fill(0.5), b = alloc(n * n).fill(0.25), c = alloc(n * n);
  gemm({ m: n, n, k: n, a, b, c }); // warm-up: compile and size the packing buffers
  let reps = 0;
  const start = performance.now();
  // At least 1 s of work per figure, so timer resolution and one-off stalls do not count.
  while (performance.now() - start < 1000) {
    gemm({ m: n, n, k: n, a, b, c });
    reps++;
  }
  const seconds = (performance.now() - start) / 1000;
  return 2 * n ** 3 * reps / seconds / 1e9;
}

console.log(`gemm backend: ${gemmBackend().name}, one thread`);
console.log("| n | float32 GFLOP/s | float64 GFLOP/s |");
console.log("|---|---|---|");
for (const n of [256, 512, 1024]) {
  console.log(`| ${n} | ${gflops(n, "float32").toFixed(2)} | ${gflops(n, "float64").toFixed(2)} |`);
}
