/**
 * `deno bench` cases for the gemm seam: square products at 256, 512 and 1024
 * in float32 and float64. Each case's name carries its FLOP count so that
 * iter/s converts to GFLOP/s; `bench/gemm_gflops.ts` prints that table.
 *
 * @module
 */

import { gemm } from "../layers/kernels/gemm.ts";

for (const dtype of ["float32", "float64"] as const) {
  for (const n of [256, 512, 1024]) {
    const make = (seed: number) => {
      const a = dtype === "float32" ? new Float32Array(n * n) : new Float64Array(n * n);
      for (let i = 0; i < a.length; i++) a[i] = ((i * seed) % 17) / 17 - 0.5;
      return a;
    };
    const a = make(7), b = make(11), c = make(1);
    Deno.bench({
      name: `gemm ${n}³ ${dtype} (${(2 * n ** 3 / 1e9).toFixed(3)} GFLOP a call)`,
      group: `gemm ${n}`,
      n: n >= 1024 ? 5 : 20,
      warmup: 2,
      fn: () => gemm({ m: n, n, k: n, a, b, c }),
    });
  }
}
