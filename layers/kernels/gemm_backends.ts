/**
 * Choosing the backend behind the `gemm` seam: `blas` (OpenBLAS through FFI)
 * is preferred, then `wasm` (WebAssembly SIMD, float32), then `ts` (always
 * there). Env `GRADSTREAM_GEMM` (`blas`, `wasm`, `ts` or `auto`) picks one;
 * `GRADSTREAM_BLAS_LIB` names the OpenBLAS library; OpenBLAS's own
 * `OPENBLAS_NUM_THREADS` caps its threads.
 *
 * @module
 */

import { type GemmBackend, gemmBackend, setGemmBackend, tsBackend } from "./gemm.ts";
import { BLAS_INSTALL_HINT, type BlasBackend, blasStatus, readEnv } from "./gemm_blas.ts";
import { type WasmBackend, wasmStatus } from "./gemm_wasm.ts";

/** Names of the gemm backends, fastest first. */
export const GEMM_BACKEND_NAMES = ["blas", "wasm", "ts"] as const;

/** A gemm backend name. */
export type GemmBackendName = typeof GEMM_BACKEND_NAMES[number];

/** What `availableBackends` says about one backend. */
export interface GemmBackendInfo {
  /** `blas`, `wasm` or `ts`. */
  name: GemmBackendName;
  /** Whether it can be used in this process. */
  available: boolean;
  /** Why not, when unavailable (e.g. `blas: needs --allow-ffi to load OpenBLAS`); "" when available. */
  reason: string;
  /** The backend, when available. */
  backend: GemmBackend | null;
}

/**
 * Every backend in preference order (`blas`, `wasm`, `ts`) with whether it is
 * available here and, if not, why. Loads OpenBLAS and the WASM kernel on first
 * call (both cached); never throws and never prompts for a permission.
 */
export function availableBackends(): GemmBackendInfo[] {
  const blas = blasStatus();
  const wasm = wasmStatus();
  return [
    { name: "blas", available: blas.available, reason: blas.reason, backend: blas.backend },
    { name: "wasm", available: wasm.available, reason: wasm.reason, backend: wasm.backend },
    { name: "ts", available: true, reason: "", backend: tsBackend },
  ];
}

/** The fastest available backend: `blas`, else `wasm`, else `ts`. */
export function chooseBestBackend(): GemmBackend {
  return availableBackends().find((b) => b.available)!.backend!;
}

let hinted = false;

/** Options of `useGemmBackend`. */
export interface UseGemmBackendOptions {
  /** Do not print the one-line hint when `blas` is unavailable under `auto`. Default false. */
  quiet?: boolean;
}

/**
 * Installs a gemm backend and returns it. `choice` defaults to env
 * `GRADSTREAM_GEMM` (when `--allow-env` grants it), else `auto`: the fastest
 * available. Under `auto`, when OpenBLAS cannot be used, one line on stderr
 * (once per process) says why and how to get it. Naming an unavailable
 * backend throws with the reason rather than silently running slower.
 *
 * @example
 * ```ts
 * import { assertEquals, assertMatch } from "@std/assert";
 * import { describeGemmBackend, useGemmBackend } from "./gemm_backends.ts";
 * const backend = useGemmBackend("auto", { quiet: true });
 * // e.g. "blas (OpenBLAS 0.3.21 Haswell, 1 of its threads per gradstream thread)"
 * assertMatch(describeGemmBackend(), /^(blas|wasm|ts) \(.+\)$/);
 * assertEquals(describeGemmBackend().split(" ")[0], backend.name);
 * ```
 */
export function useGemmBackend(
  choice?: GemmBackendName | "auto",
  { quiet = false }: UseGemmBackendOptions = {},
): GemmBackend {
  const fromEnv = choice === undefined ? readEnv("GRADSTREAM_GEMM") : undefined;
  const wanted = choice ?? fromEnv?.trim().toLowerCase() ?? "auto";
  const source = choice === undefined && fromEnv !== undefined ? `GRADSTREAM_GEMM=${fromEnv}` : `"${wanted}"`;
  if (wanted !== "auto" && !(GEMM_BACKEND_NAMES as readonly string[]).includes(wanted)) {
    throw new RangeError(`useGemmBackend: unknown backend ${source}, expected one of blas, wasm, ts, auto`);
  }
  const all = availableBackends();
  if (wanted === "auto") {
    const best = all.find((b) => b.available)!;
    if (best.name !== "blas" && !quiet && !hinted) {
      hinted = true;
      console.error(`gradstream: gemm uses ${best.name}; for the fast path ${BLAS_INSTALL_HINT} (${all[0].reason})`);
    }
    setGemmBackend(best.backend!);
    return best.backend!;
  }
  const info = all.find((b) => b.name === wanted)!;
  if (!info.available) throw new Error(`useGemmBackend: backend ${source} is not available: ${info.reason}`);
  setGemmBackend(info.backend!);
  return info.backend!;
}

/**
 * One line naming the backend behind `gemm` now (or `b`) and its settings,
 * for the CLI and reports: `blas (OpenBLAS 0.3.21 Haswell, 1 of its threads per gradstream thread)`,
 * `wasm (WASM SIMD 6×8, relaxed madd, float64 via ts)`, `ts (packed TypeScript kernel)`.
 */
export function describeGemmBackend(b: GemmBackend = gemmBackend()): string {
  if (b === tsBackend) return "ts (packed TypeScript kernel)";
  const described = b as Partial<BlasBackend | WasmBackend>;
  return typeof described.describe === "function" ? `${b.name} (${described.describe()})` : b.name;
}
