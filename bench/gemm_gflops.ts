/**
 * Prints gemm throughput in GFLOP/s for square products on every available
 * backend, the table README quotes. Run: `deno task bench` (last step), or
 * `deno run --allow-read --allow-env --allow-ffi bench/gemm_gflops.ts`.
 *
 * @module
 */

import { gemm, setGemmBackend } from "../layers/kernels/gemm.ts";
import { availableBackends, describeGemmBackend } from "../layers/kernels/gemm_backends.ts";

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

console.log("| backend | n | float32 GFLOP/s | float64 GFLOP/s |");
console.log("|---|---|---|---|");
for (const info of availableBackends()) {
  if (!info.available) {
    console.log(`| ${info.name} | — | unavailable: ${info.reason} | |`);
    continue;
  }
  setGemmBackend(info.backend!);
  for (const n of [256, 512, 1024]) {
    console.log(
      `| ${describeGemmBackend(info.backend!)} | ${n} | ${gflops(n, "float32").toFixed(1)} | ${
        gflops(n, "float64").toFixed(1)
      } |`,
    );
  }
}
