/**
 * The `wasm` gemm backend: a WebAssembly SIMD kernel (f32x4, relaxed
 * multiply-add where the engine has it) for float32, needing no native
 * library and no permission. float64 products go to the TS kernel.
 *
 * Operands are copied into the kernel's memory (one `set` per operand when
 * it is contiguous), packed there into MR-row / NR-column panels, multiplied
 * block by block (KC × NC panels of B, MC × KC blocks of A) and C is copied
 * back. The kernel's source is `layers/kernels/gemm_wasm_build.ts` (which also writes
 * `layers/kernels/gemm_wasm.wat`); its bytes are committed in `layers/kernels/gemm_wasm_bytes.ts`.
 *
 * @module
 */

import { type GemmArgs, type GemmBackend, scaleC, tsBackend } from "./gemm.ts";
import { WASM_KERNEL_RELAXED_BASE64, WASM_KERNEL_SHAPE } from "./gemm_wasm_bytes.ts";
import type { Data } from "../tensor.ts";
import { markStandardBackend } from "./parallel.ts";

const { mr: MR, nr: NR } = WASM_KERNEL_SHAPE;
// KC × NR of B (8 KiB) stays in L1 while a panel of A streams by; an MC × KC
// block of A (≈ 144 KiB) stays in L2; a KC × NC panel of B (≤ 4 MiB) in L3.
const KC = 256;
const MC = 144;
const NC = 4096;
/** Default `WasmBackend.passFloats`: 64 MiB of operands. */
const PASS_FLOATS = 16 * 1024 * 1024;
const PAGE = 65536;

interface Kernel {
  memory: WebAssembly.Memory;
  packA(src: number, rs: number, cs: number, mc: number, kc: number, dst: number): void;
  packB(src: number, rs: number, cs: number, kc: number, nc: number, dst: number): void;
  macro(
    mc: number,
    nc: number,
    kc: number,
    pa: number,
    pb: number,
    c: number,
    ldc: number,
    alpha: number,
    beta: number,
  ): void;
}

/** Outcome of loading the WASM kernel. */
export type WasmLoadResult =
  | { available: true; backend: WasmBackend; reason: "" }
  | { available: false; backend: null; reason: string };

/** The `wasm` backend: a `GemmBackend` plus what reports need to state. */
export interface WasmBackend extends GemmBackend {
  readonly name: "wasm";
  /** Whether the kernel uses `f32x4.relaxed_madd`: always (the `ts` backend serves an engine without it). */
  readonly relaxed: boolean;
  /**
   * Most operand floats (`m·k + k·n + m·n`) one pass copies into the kernel's
   * memory; larger products are split into passes (along their longest
   * dimension), because WebAssembly memory can grow but never shrink.
   * Default 16 Mi floats (64 MiB).
   */
  passFloats: number;
  /** Bytes of the kernel's memory now: it grows to fit the largest pass so far (≤ passFloats·4 + ~5 MiB of panels). */
  memoryBytes(): number;
  /** One line for logs and reports: `WASM SIMD 6×8, relaxed madd, float64 via ts`. */
  describe(): string;
}

function decodeBase64(s: string): Uint8Array<ArrayBuffer> {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

function instantiate(): { kernel: Kernel } | { reason: string } {
  if (typeof WebAssembly !== "object") return { reason: "wasm: WebAssembly is not available in this runtime" };
  const bytes = decodeBase64(WASM_KERNEL_RELAXED_BASE64);
  if (!WebAssembly.validate(bytes)) return { reason: "wasm: this engine does not support WebAssembly relaxed SIMD" };
  try {
    const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), {});
    const e = instance.exports as Record<string, unknown>;
    return {
      kernel: {
        memory: e.memory as WebAssembly.Memory,
        packA: e.pack_a as Kernel["packA"],
        packB: e.pack_b as Kernel["packB"],
        macro: e.macro as Kernel["macro"],
      },
    };
  } catch (err) {
    return { reason: `wasm: cannot instantiate the kernel: ${(err as Error).message}` };
  }
}

/** Rows `i0 … i0 + m` of op(A), columns `j0 … j0 + n` of op(B), depth `p0 … p0 + k`, with C scaled by `beta` first. */
interface Block {
  i0: number;
  j0: number;
  p0: number;
  m: number;
  n: number;
  k: number;
  beta: number;
}

// About half of d (≥ 2), a multiple of the block size `unit` where that leaves both halves non-empty.
function half(d: number, unit: number): number {
  const h = Math.floor(d / 2 / unit) * unit;
  return h > 0 ? h : Math.floor(d / 2);
}

function makeBackend(kernel: Kernel): WasmBackend {
  const { memory, packA, packB, macro } = kernel;
  let f32 = new Float32Array(memory.buffer);

  // Grows memory to at least `bytes`; growing detaches the old buffer, so the view is renewed.
  const ensure = (bytes: number) => {
    if (memory.buffer.byteLength < bytes) memory.grow(Math.ceil((bytes - memory.buffer.byteLength) / PAGE));
    if (f32.buffer !== memory.buffer) f32 = new Float32Array(memory.buffer);
  };

  // Copies a rows × cols block stored with row stride ld into the kernel's memory, packed with stride cols.
  const copyIn = (src: Float32Array, off: number, ld: number, rows: number, cols: number, dst: number) => {
    if (ld === cols) f32.set(src.subarray(off, off + rows * cols), dst);
    else for (let r = 0; r < rows; r++) f32.set(src.subarray(off + r * ld, off + r * ld + cols), dst + r * cols);
  };

  // One pass: a block whose operands all fit the budget at once.
  const pass = (g: Required<GemmArgs>, { i0, j0, p0, m, n, k, beta }: Block) => {
    const a = g.a as Float32Array, b = g.b as Float32Array, c = g.c as Float32Array;
    const { transA, transB, lda, ldb, ldc, alpha } = g;
    const rowsA = transA ? k : m, colsA = transA ? m : k;
    const rowsB = transB ? n : k, colsB = transB ? k : n;
    const aOff = g.aOffset + (transA ? p0 * lda + i0 : i0 * lda + p0);
    const bOff = g.bOffset + (transB ? j0 * ldb + p0 : p0 * ldb + j0);
    const cOff = g.cOffset + i0 * ldc + j0;
    // Float indices, each region 64-byte aligned; the first MR·NR floats are the kernel's scratch tile.
    const align = (x: number) => Math.ceil(x / 16) * 16;
    const packAAt = align(MR * NR);
    const packBAt = align(packAAt + MC * KC);
    const aAt = align(packBAt + KC * Math.ceil(Math.min(n, NC) / NR) * NR);
    const bAt = align(aAt + m * k);
    const cAt = align(bAt + k * n);
    ensure(4 * (cAt + m * n));
    copyIn(a, aOff, lda, rowsA, colsA, aAt);
    copyIn(b, bOff, ldb, rowsB, colsB, bAt);
    if (beta !== 0) copyIn(c, cOff, ldc, m, n, cAt);
    for (let jc = 0; jc < n; jc += NC) {
      const nc = Math.min(NC, n - jc);
      for (let pc = 0; pc < k; pc += KC) {
        const kc = Math.min(KC, k - pc);
        // Element (p, j) of op(B) at byte src + p·rs + j·cs of the compact copy.
        if (transB) packB(4 * (bAt + jc * k + pc), 4, 4 * k, kc, nc, 4 * packBAt);
        else packB(4 * (bAt + pc * n + jc), 4 * n, 4, kc, nc, 4 * packBAt);
        const betaNow = pc === 0 ? beta : 1;
        for (let ic = 0; ic < m; ic += MC) {
          const mc = Math.min(MC, m - ic);
          if (transA) packA(4 * (aAt + pc * m + ic), 4, 4 * m, mc, kc, 4 * packAAt);
          else packA(4 * (aAt + ic * k + pc), 4 * k, 4, mc, kc, 4 * packAAt);
          macro(mc, nc, kc, 4 * packAAt, 4 * packBAt, 4 * (cAt + ic * n + jc), 4 * n, alpha, betaNow);
        }
      }
    }
    if (ldc === n) c.set(f32.subarray(cAt, cAt + m * n), cOff);
    else for (let r = 0; r < m; r++) c.set(f32.subarray(cAt + r * n, cAt + r * n + n), cOff + r * ldc);
  };

  // Splits the longest dimension until a pass fits the budget; later depth halves accumulate (beta = 1).
  const split = (g: Required<GemmArgs>, block: Block): void => {
    const { m, n, k } = block;
    if (m * k + k * n + m * n <= backend.passFloats || (m === 1 && n === 1 && k === 1)) return pass(g, block);
    if (k >= m && k >= n) {
      const h = half(k, KC);
      split(g, { ...block, k: h });
      split(g, { ...block, p0: block.p0 + h, k: k - h, beta: 1 });
    } else if (m >= n) {
      const h = half(m, MR);
      split(g, { ...block, m: h });
      split(g, { ...block, i0: block.i0 + h, m: m - h });
    } else {
      const h = half(n, NR);
      split(g, { ...block, n: h });
      split(g, { ...block, j0: block.j0 + h, n: n - h });
    }
  };

  const backend: WasmBackend = {
    name: "wasm",
    passFloats: PASS_FLOATS,
    relaxed: true,
    memoryBytes: () => memory.buffer.byteLength,
    describe: () => `WASM SIMD ${MR}×${NR}, relaxed madd, float64 via ts`,
    gemm(g: Required<GemmArgs>) {
      if (!(g.c instanceof Float32Array)) return tsBackend.gemm(g);
      const { m, n, k, alpha, beta } = g;
      if (k === 0 || alpha === 0) return scaleC(g.c as Data, g.cOffset, g.ldc, m, n, beta);
      split(g, { i0: 0, j0: 0, p0: 0, m, n, k, beta });
    },
  };
  return backend;
}

let cached: WasmLoadResult | undefined;

/**
 * The process-wide `wasm` backend, instantiated on first call, or why it is
 * not available (no WebAssembly, or no SIMD). The result is cached.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { wasmStatus } from "./gemm_wasm.ts";
 * const w = wasmStatus();
 * assertEquals(w.available ? w.backend.name : w.reason.slice(0, 5), w.available ? "wasm" : "wasm:");
 * ```
 */
export function wasmStatus(): WasmLoadResult {
  if (cached === undefined) {
    const r = instantiate();
    cached = "kernel" in r
      ? { available: true, backend: makeBackend(r.kernel), reason: "" }
      : { available: false, backend: null, reason: r.reason };
    if (cached.available) markStandardBackend(cached.backend);
  }
  return cached;
}
