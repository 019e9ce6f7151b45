/**
 * gemm throughput per backend: float32 square products at 256, 512 and 1024
 * on `ts`, `wasm`, and `blas` with 1 and 2 threads (backends that are not
 * available here are left out, with the reason printed).
 *
 * - `deno bench --allow-read --allow-env --allow-ffi bench/gemm_backends_bench.ts`:
 *   `deno bench` cases; each name carries its GFLOP per call.
 * - `deno run --allow-read --allow-env --allow-ffi bench/gemm_backends_bench.ts`:
 *   prints a Markdown table of GFLOP/s and the fraction of `PEAK_GFLOPS_PER_CORE`
 *   (116: 2 FMA pipes × 8 float32 lanes × 2 FLOP at 3.6 GHz, Zen 4). OpenBLAS
 *   measures 127–138 GFLOP/s on one thread on these machines, so the cores boost
 *   past 3.6 GHz and figures over 100% are real. The WASM kernel is 4 lanes
 *   wide, so half of the peak is its ceiling.
 *
 * On a shared machine other processes take cycles: figures are pessimistic.
 *
 * @module
 */

import { gemm, type GemmBackend, setGemmBackend } from "../layers/kernels/gemm.ts";
import { availableBackends, describeGemmBackend } from "../layers/kernels/gemm_backends.ts";
import type { BlasBackend } from "../layers/kernels/gemm_blas.ts";

/** float32 peak of one Zen 4 core assumed by the percentages (GFLOP/s). */
export const PEAK_GFLOPS_PER_CORE = 116;
const SIZES = [256, 512, 1024];

interface Variant {
  label: string;
  backend: GemmBackend;
  threads: number;
}

function variants(): Variant[] {
  const out: Variant[] = [];
  for (const info of availableBackends()) {
    if (!info.available) {
      console.error(`gemm_backends_bench: ${info.reason}`);
      continue;
    }
    if (info.name === "blas") {
      for (const threads of [1, 2]) out.push({ label: `blas ${threads}t`, backend: info.backend!, threads });
    } else out.push({ label: info.name, backend: info.backend!, threads: 1 });
  }
  return out;
}

/** Installs `v` (with its thread count for blas) for the duration of `fn`. */
function withVariant<T>(v: Variant, fn: () => T): T {
  const blas = v.backend.name === "blas" ? v.backend as BlasBackend : null;
  const savedThreads = blas?.maxThreads;
  if (blas) blas.maxThreads = v.threads;
  const previous = setGemmBackend(v.backend);
  try {
    return fn();
  } finally {
    setGemmBackend(previous);
    if (blas) blas.maxThreads = savedThreads!;
  }
}

function operands(n: number) {
  const a = new Float32Array(n * n), b = new Float32Array(n * n), c = new Float32Array(n * n);
  for (let i = 0; i < a.length; i++) {
    a[i] = ((i * 7) % 17) / 17 - 0.5;
    b[i] = ((i * 11) % 13) / 13 - 0.5;
  }
  return { a, b, c };
}

/** Best GFLOP/s over bursts of about 100 ms within `ms` (the best burst is the one least disturbed by other load). */
function measure(v: Variant, n: number, ms: number): number {
  const { a, b, c } = operands(n);
  return withVariant(v, () => {
    gemm({ m: n, n, k: n, a, b, c });
    let best = 0;
    const end = performance.now() + ms;
    while (performance.now() < end) {
      let reps = 0;
      const start = performance.now();
      do {
        gemm({ m: n, n, k: n, a, b, c });
        reps++;
      } while (performance.now() - start < 100);
      best = Math.max(best, 2 * n ** 3 * reps / ((performance.now() - start) / 1000) / 1e9);
    }
    return best;
  });
}

if (import.meta.main) {
  const vs = variants();
  console.log(`gemm float32, square; peak assumed ${PEAK_GFLOPS_PER_CORE} GFLOP/s per core; best 100 ms burst of 1 s`);
  for (const v of vs) console.log(`- ${v.label}: ${withVariant(v, () => describeGemmBackend(v.backend))}`);
  console.log("\n| backend | n | GFLOP/s | % of 1-core peak | % of peak over its threads |");
  console.log("|---|---|---|---|---|");
  for (const n of SIZES) {
    for (const v of vs) {
      const g = measure(v, n, 1000);
      const pct = (100 * g / PEAK_GFLOPS_PER_CORE).toFixed(0);
      const perThread = (100 * g / (PEAK_GFLOPS_PER_CORE * v.threads)).toFixed(0);
      console.log(`| ${v.label} | ${n} | ${g.toFixed(1)} | ${pct}% | ${perThread}% |`);
    }
  }
} else {
  for (const v of variants()) {
    for (const n of SIZES) {
      const { a, b, c } = operands(n);
      const slow = v.backend.name === "ts" && n >= 512;
      Deno.bench({
        name: `${v.label} gemm ${n}³ float32 (${(2 * n ** 3 / 1e9).toFixed(3)} GFLOP a call)`,
        group: `gemm backends ${n}`,
        baseline: v.backend.name === "ts",
        n: slow ? 5 : undefined,
        warmup: slow ? 1 : undefined,
        fn: () => withVariant(v, () => gemm({ m: n, n, k: n, a, b, c })),
      });
    }
  }
}
