/**
 * The `blas` gemm backend: OpenBLAS's `cblas_sgemm` / `cblas_dgemm` called
 * through `Deno.dlopen`. It needs `--allow-ffi` and an OpenBLAS shared library
 * (Debian: `apt-get install libopenblas0-pthread`); without either it is
 * reported unavailable with the reason, never thrown at import time.
 *
 * @module
 */

import { type GemmArgs, type GemmBackend, scaleC } from "./gemm.ts";
import { readEnv } from "./_env.ts";
import { markStandardBackend } from "./parallel.ts";

export { readEnv } from "./_env.ts";

// CBLAS enum values (cblas.h).
const ROW_MAJOR = 101;
const NO_TRANS = 111;
const TRANS = 112;

// cblas_?gemm(order, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc): alpha and beta are
// float for sgemm, double for dgemm; blasint is 32-bit in Debian's libopenblas0 (not libopenblas64).
const gemmParams = <S extends "f32" | "f64">(scalar: S) =>
  [
    "i32",
    "i32",
    "i32",
    "i32",
    "i32",
    "i32",
    scalar,
    "buffer",
    "i32",
    "buffer",
    "i32",
    scalar,
    "buffer",
    "i32",
  ] as const;

const SYMBOLS = {
  cblas_sgemm: { parameters: gemmParams("f32"), result: "void" },
  cblas_dgemm: { parameters: gemmParams("f64"), result: "void" },
  // OpenBLAS extras: a reference BLAS or another CBLAS lacks them, which only costs thread control.
  openblas_set_num_threads: { parameters: ["i32"], result: "void", optional: true },
  openblas_get_num_threads: { parameters: [], result: "i32", optional: true },
  openblas_get_config: { parameters: [], result: "pointer", optional: true },
  openblas_get_corename: { parameters: [], result: "pointer", optional: true },
} as const;

type BlasLib = Deno.DynamicLibrary<typeof SYMBOLS>;

/**
 * Library names tried in order when no path is given: the plain sonames first
 * (found through the loader's usual search), then Debian/Ubuntu multiarch
 * paths, Homebrew, and finally the generic `libblas.so.3`, which Debian's
 * alternatives point at OpenBLAS when it is installed.
 */
export const BLAS_LIBRARY_CANDIDATES: readonly string[] = [
  "libopenblas.so.0",
  "libopenblas.so",
  "/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0",
  "/usr/lib/aarch64-linux-gnu/openblas-pthread/libopenblas.so.0",
  "/usr/lib/x86_64-linux-gnu/libopenblas.so.0",
  "/usr/lib/aarch64-linux-gnu/libopenblas.so.0",
  "/usr/lib64/libopenblas.so.0",
  "/usr/lib/libopenblas.so.0",
  "/opt/homebrew/opt/openblas/lib/libopenblas.dylib",
  "/usr/local/opt/openblas/lib/libopenblas.dylib",
  "libblas.so.3",
];

/**
 * Products with `m·n·k` below this run on one thread. Measured on a 2-core
 * Zen 4 (float32, square, best of 10 bursts): two threads lose below 128³
 * (96³: 91 vs 126 GFLOP/s), break even at 144³–160³ (3e6–4e6) and win from
 * 192³ (≈ 175 vs 133); below that the hand-off to the second thread costs
 * more than it saves.
 */
export const BLAS_SINGLE_THREAD_BELOW = 4_000_000;

/** How to get the `blas` backend, for messages shown when it is unavailable. */
export const BLAS_INSTALL_HINT =
  "install OpenBLAS (Debian/Ubuntu: apt-get install libopenblas0-pthread) and run deno with --allow-ffi";

/** The `blas` backend once loaded: a `GemmBackend` plus what reports need to state. */
export interface BlasBackend extends GemmBackend {
  readonly name: "blas";
  /** The library path or soname that was opened. */
  readonly library: string;
  /** `OpenBLAS 0.3.21` style version, or `CBLAS` when the library is not OpenBLAS. */
  readonly version: string;
  /** OpenBLAS's build configuration string (`openblas_get_config`), or "" when unknown. */
  readonly config: string;
  /**
   * The most OpenBLAS threads a product may use. Default 1: the parallel
   * engine (`parallel.ts`) splits large products across its own threads,
   * each calling OpenBLAS on one thread, so the two never oversubscribe the
   * cores.
   */
  maxThreads: number;
  /** Products with `m·n·k` below this run on one thread. Default `BLAS_SINGLE_THREAD_BELOW`. */
  singleThreadBelow: number;
  /** The threads a product of this size runs on. */
  threadsFor(m: number, n: number, k: number): number;
  /**
   * One line for logs and reports: `OpenBLAS 0.3.21 Haswell, 1 of its threads per gradstream thread` (the
   * core names OpenBLAS's kernel set).
   */
  describe(): string;
  /** Unloads the library; the backend must not be used afterwards. */
  close(): void;
}

/** Outcome of trying to load OpenBLAS. */
export type BlasLoadResult =
  | { available: true; backend: BlasBackend; reason: "" }
  | { available: false; backend: null; reason: string };

/** Options of `openBlas`. */
export interface OpenBlasOptions {
  /** Library path or soname to open instead of the usual candidates. */
  path?: string;
  /** Cap on OpenBLAS's own threads. Default 1 (see `BlasBackend.maxThreads`). */
  maxThreads?: number;
}

/**
 * Tries to open OpenBLAS and returns the `blas` backend, or why it is not
 * available: no `--allow-ffi`, no library found, or a library without
 * `cblas_sgemm`/`cblas_dgemm`. Without `path`, only OpenBLAS is accepted
 * from `BLAS_LIBRARY_CANDIDATES`; a `path` may name any CBLAS (BLIS, MKL, a
 * reference BLAS), which then runs without thread control. Never throws and
 * never prompts for permission.
 * Each successful call opens the library once more; most code wants the
 * cached `blasStatus()` instead.
 *
 * @example
 * ```ts
 * import { assert, assertStringIncludes } from "@std/assert";
 * import { openBlas } from "./gemm_blas.ts";
 * const r = openBlas({ path: "/nowhere/libopenblas.so" });
 * assert(!r.available);
 * assertStringIncludes(r.reason, "blas: "); // the path and the loader's error, or the missing permission
 * ```
 */
export function openBlas(options: OpenBlasOptions = {}): BlasLoadResult {
  const unavailable = (reason: string): BlasLoadResult => ({ available: false, backend: null, reason });
  if (typeof Deno?.dlopen !== "function") return unavailable("blas: Deno.dlopen is not available in this runtime");
  const explicit = options.path !== undefined;
  const candidates = explicit ? [options.path!] : BLAS_LIBRARY_CANDIDATES;
  const failures: string[] = [];
  let permitted = 0;
  for (const path of candidates) {
    // Per path, so that a scoped --allow-ffi=<lib> works too; querySync never prompts.
    let state: Deno.PermissionState;
    try {
      state = Deno.permissions.querySync({ name: "ffi", path }).state;
    } catch (e) {
      return unavailable(`blas: cannot query the ffi permission: ${(e as Error).message}`);
    }
    if (state !== "granted") continue;
    permitted++;
    let lib: BlasLib;
    try {
      lib = Deno.dlopen(path, SYMBOLS);
    } catch (e) {
      failures.push(`${path}: ${firstLine((e as Error).message)}`);
      continue;
    }
    // Found by guessing, a reference BLAS (libblas.so.3 without OpenBLAS behind it) would be slower than
    // the wasm kernel, so only OpenBLAS is taken; a library the user names is taken whatever it is.
    if (!explicit && lib.symbols.openblas_get_config === null) {
      lib.close();
      failures.push(`${path}: not OpenBLAS`);
      continue;
    }
    return { available: true, backend: makeBackend(lib, path, options.maxThreads), reason: "" };
  }
  if (permitted === 0) return unavailable("blas: needs --allow-ffi to load OpenBLAS");
  return unavailable(
    explicit
      ? `blas: cannot load ${failures[0]}`
      : `blas: no OpenBLAS library found (tried ${candidates.length} names, e.g. ${failures[0]})`,
  );
}

function firstLine(s: string): string {
  // Deno repeats its own prefix ("Could not open library: Could not open library: …").
  const line = s.split("\n")[0].replace(/^(Could not open library: )+/, "");
  return line.length > 200 ? line.slice(0, 200) + "…" : line;
}

function readCString(p: Deno.PointerValue): string {
  if (p === null) return "";
  try {
    return new Deno.UnsafePointerView(p).getCString();
  } catch {
    return "";
  }
}

function makeBackend(lib: BlasLib, library: string, maxThreads?: number): BlasBackend {
  const s = lib.symbols;
  const config = s.openblas_get_config ? readCString(s.openblas_get_config()) : "";
  const core = s.openblas_get_corename ? readCString(s.openblas_get_corename()) : "";
  const versionMatch = /OpenBLAS\s+(\d+(?:\.\d+)*)/.exec(config);
  const version = versionMatch ? `OpenBLAS ${versionMatch[1]}` : s.openblas_get_config ? "OpenBLAS" : "CBLAS";
  const canSetThreads = s.openblas_set_num_threads !== null && s.openblas_get_num_threads !== null;
  const defaultThreads = canSetThreads ? Math.max(1, s.openblas_get_num_threads!()) : 1;
  // The thread count last handed to OpenBLAS: setting it costs a call, so only changes are sent.
  let current = defaultThreads;
  const sgemm = s.cblas_sgemm;
  const dgemm = s.cblas_dgemm;

  const backend: BlasBackend = {
    name: "blas",
    library,
    version,
    config,
    maxThreads: maxThreads ?? 1,
    singleThreadBelow: BLAS_SINGLE_THREAD_BELOW,
    threadsFor(m, n, k) {
      if (!canSetThreads) return 1;
      return m * n * k < this.singleThreadBelow ? 1 : Math.max(1, Math.floor(this.maxThreads));
    },
    describe() {
      const t = Math.max(1, Math.floor(this.maxThreads));
      const threads = canSetThreads ? `${t} of its threads per gradstream thread` : "threads unknown";
      return `${version}${core ? ` ${core}` : ""}, ${threads}`;
    },
    close() {
      lib.close();
    },
    gemm(g: Required<GemmArgs>) {
      const { m, n, k, alpha, beta, c, cOffset, ldc } = g;
      // BLAS would reject lda = 0 even when A has no columns; k = 0 or alpha = 0 only scales C.
      if (k === 0 || alpha === 0) {
        scaleC(c, cOffset, ldc, m, n, beta);
        return;
      }
      if (canSetThreads) {
        const t = this.threadsFor(m, n, k);
        if (t !== current) {
          s.openblas_set_num_threads!(t);
          current = t;
        }
      }
      const ta = g.transA ? TRANS : NO_TRANS;
      const tb = g.transB ? TRANS : NO_TRANS;
      // subarray views share the buffer, so offsets cost no copy.
      const a = g.aOffset === 0 ? g.a : g.a.subarray(g.aOffset);
      const b = g.bOffset === 0 ? g.b : g.b.subarray(g.bOffset);
      const cv = cOffset === 0 ? c : c.subarray(cOffset);
      if (c instanceof Float32Array) {
        sgemm(ROW_MAJOR, ta, tb, m, n, k, alpha, a, g.lda, b, g.ldb, beta, cv, ldc);
      } else {
        dgemm(ROW_MAJOR, ta, tb, m, n, k, alpha, a, g.lda, b, g.ldb, beta, cv, ldc);
      }
    },
  };
  return backend;
}

let cached: BlasLoadResult | undefined;

/**
 * The process-wide `blas` backend, loaded on first call from env
 * `GRADSTREAM_BLAS_LIB` (a path or soname) when set and readable, else from
 * `BLAS_LIBRARY_CANDIDATES`. The result, available or not, is cached.
 */
export function blasStatus(): BlasLoadResult {
  if (cached === undefined) {
    const path = readEnv("GRADSTREAM_BLAS_LIB");
    cached = openBlas(path ? { path } : {});
    if (cached.available) markStandardBackend(cached.backend);
  }
  return cached;
}
