/**
 * The one matrix-multiply entry point. Affine layers, fast convolution and
 * everything else that multiplies matrices call `gemm`, so that a faster
 * backend (OpenBLAS through FFI, WASM SIMD) plugs in here and nowhere else.
 *
 * @module
 */

import { type Data, formatShape, type Tensor, zeros } from "../tensor.ts";
import { defineTask, markStandardBackend, parallelFor } from "./parallel.ts";

/**
 * Arguments of `gemm`, named as in BLAS: `C = alpha·op(A)·op(B) + beta·C`
 * where `op(A)` is `m × k`, `op(B)` is `k × n` and `C` is `m × n`, all
 * row-major.
 */
export interface GemmArgs {
  /** Use Aᵀ: `a` holds a `k × m` matrix. Default false. */
  transA?: boolean;
  /** Use Bᵀ: `b` holds an `n × k` matrix. Default false. */
  transB?: boolean;
  /** Rows of op(A) and C. */
  m: number;
  /** Columns of op(B) and C. */
  n: number;
  /** Columns of op(A), rows of op(B). */
  k: number;
  /** Scale of the product. Default 1. */
  alpha?: number;
  /** Storage of A. */
  a: Data;
  /** First element of A in `a`. Default 0. */
  aOffset?: number;
  /** Row stride of the stored A. Default: its column count (`transA ? m : k`). */
  lda?: number;
  /** Storage of B; same dtype as `a`. */
  b: Data;
  /** First element of B in `b`. Default 0. */
  bOffset?: number;
  /** Row stride of the stored B. Default: its column count (`transB ? k : n`). */
  ldb?: number;
  /** Scale of the existing C. Default 0 (C is overwritten, never read). */
  beta?: number;
  /** Storage of C; same dtype as `a`. */
  c: Data;
  /** First element of C in `c`. Default 0. */
  cOffset?: number;
  /** Row stride of C. Default `n`. */
  ldc?: number;
}

/** A matrix-multiply implementation behind the `gemm` seam. */
export interface GemmBackend {
  /** Short name shown in logs and reports (`ts`, `blas`, `wasm`). */
  readonly name: string;
  /** Computes `C = alpha·op(A)·op(B) + beta·C` on validated, defaulted arguments. */
  gemm(args: Required<GemmArgs>): void;
}

// Panel sizes: an MR × NR register block, and KC so that one packed B panel
// (KC × NR doubles) and one A panel stay in L1 while the micro-kernel runs.
const MR = 3;
const NR = 4;
const KC = 256;
const MC = 96;

const packA = new Float64Array(MC * KC);
let packB = new Float64Array(KC * 64);

/**
 * The packed, register-blocked TypeScript kernel: always available.
 * Both operands are packed into float64 panels, so the micro-kernel is one
 * monomorphic function whatever the storage dtype.
 */
export const tsBackend: GemmBackend = {
  name: "ts",
  gemm(g) {
    const { m, n, k, alpha, beta, c, cOffset, ldc } = g;
    scaleC(c, cOffset, ldc, m, n, beta);
    if (k === 0 || alpha === 0) return;
    const nPanels = Math.ceil(n / NR);
    if (packB.length < KC * nPanels * NR) packB = new Float64Array(KC * nPanels * NR);
    for (let pc = 0; pc < k; pc += KC) {
      const kc = Math.min(KC, k - pc);
      // Column j, depth p of op(B) sits at (p, j) of B, or (j, p) of the stored Bᵀ.
      packPanels(packB, g.b, g.bOffset, g.transB ? g.ldb : 1, g.transB ? 1 : g.ldb, NR, 0, n, nPanels, pc, kc);
      for (let ic = 0; ic < m; ic += MC) {
        const mc = Math.min(MC, m - ic);
        const mPanels = Math.ceil(mc / MR);
        // Row i, depth p of op(A) sits at (i, p) of A, or (p, i) of the stored Aᵀ.
        packPanels(packA, g.a, g.aOffset, g.transA ? 1 : g.lda, g.transA ? g.lda : 1, MR, ic, ic + mc, mPanels, pc, kc);
        for (let jp = 0; jp < nPanels; jp++) {
          const nr = Math.min(NR, n - jp * NR);
          for (let ip = 0; ip < mPanels; ip++) {
            const mr = Math.min(MR, mc - ip * MR);
            microKernel(kc, packA, ip * kc * MR, packB, jp * kc * NR, acc);
            storeBlock(c, cOffset + (ic + ip * MR) * ldc + jp * NR, ldc, mr, nr, alpha);
          }
        }
      }
    }
  },
};

const acc = new Float64Array(MR * NR);

/**
 * `C = beta·C` on the `m × n` block at `off`; beta = 0 writes zeros, so NaN
 * already in C does not survive (as BLAS). Shared by every backend.
 */
export function scaleC(c: Data, off: number, ldc: number, m: number, n: number, beta: number): void {
  if (beta === 1) return;
  for (let i = 0; i < m; i++) {
    const row = off + i * ldc;
    if (beta === 0) c.fill(0, row, row + n);
    else for (let j = 0; j < n; j++) c[row + j] *= beta;
  }
}

/**
 * Packs `panels` panels of `R` lines (rows of op(A), or columns of op(B)),
 * lines `first …` of which only those below `end` exist, over depth
 * `pc … pc + kc`, into `dst` as `kc` groups of `R` (missing lines as zeros).
 * Line `i` at depth `p` is `src[off + i·lineStride + p·depthStride]`.
 */
function packPanels(
  dst: Float64Array,
  src: Data,
  off: number,
  lineStride: number,
  depthStride: number,
  R: number,
  first: number,
  end: number,
  panels: number,
  pc: number,
  kc: number,
): void {
  for (let panel = 0; panel < panels; panel++) {
    const base = panel * kc * R;
    for (let r = 0; r < R; r++) {
      const i = first + panel * R + r;
      if (i < end) {
        let s = off + i * lineStride + pc * depthStride;
        for (let p = 0; p < kc; p++, s += depthStride) dst[base + p * R + r] = src[s];
      } else {
        for (let p = 0; p < kc; p++) dst[base + p * R + r] = 0;
      }
    }
  }
}

function microKernel(kc: number, ap: Float64Array, ao: number, bp: Float64Array, bo: number, out: Float64Array): void {
  let c00 = 0, c01 = 0, c02 = 0, c03 = 0;
  let c10 = 0, c11 = 0, c12 = 0, c13 = 0;
  let c20 = 0, c21 = 0, c22 = 0, c23 = 0;
  for (let p = 0; p < kc; p++) {
    const a0 = ap[ao], a1 = ap[ao + 1], a2 = ap[ao + 2];
    const b0 = bp[bo], b1 = bp[bo + 1], b2 = bp[bo + 2], b3 = bp[bo + 3];
    c00 += a0 * b0;
    c01 += a0 * b1;
    c02 += a0 * b2;
    c03 += a0 * b3;
    c10 += a1 * b0;
    c11 += a1 * b1;
    c12 += a1 * b2;
    c13 += a1 * b3;
    c20 += a2 * b0;
    c21 += a2 * b1;
    c22 += a2 * b2;
    c23 += a2 * b3;
    ao += MR;
    bo += NR;
  }
  out[0] = c00, out[1] = c01, out[2] = c02, out[3] = c03;
  out[4] = c10, out[5] = c11, out[6] = c12, out[7] = c13;
  out[8] = c20, out[9] = c21, out[10] = c22, out[11] = c23;
}

function storeBlock(c: Data, off: number, ldc: number, mr: number, nr: number, alpha: number): void {
  for (let r = 0; r < mr; r++) {
    for (let q = 0; q < nr; q++) c[off + r * ldc + q] += alpha * acc[r * NR + q];
  }
}

markStandardBackend(tsBackend);

let backend: GemmBackend = tsBackend;

/** The backend `gemm` uses now. */
export function gemmBackend(): GemmBackend {
  return backend;
}

/** Makes `b` the backend behind `gemm`; returns the previous one. */
export function setGemmBackend(b: GemmBackend): GemmBackend {
  const previous = backend;
  backend = b;
  return previous;
}

/**
 * `C = alpha·op(A)·op(B) + beta·C` on row-major storage: the single matrix
 * product of gradstream. `a`, `b` and `c` must share one dtype.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { gemm } from "./gemm.ts";
 * const a = new Float64Array([1, 2, 3, 4]); // 2 × 2
 * const b = new Float64Array([5, 6, 7, 8]); // 2 × 2
 * const c = new Float64Array(4);
 * gemm({ m: 2, n: 2, k: 2, a, b, c });
 * assertEquals([...c], [19, 22, 43, 50]);
 * ```
 */
export function gemm(args: GemmArgs): void {
  const transA = args.transA ?? false;
  const transB = args.transB ?? false;
  const { m, n, k, a, b, c } = args;
  const full: Required<GemmArgs> = {
    transA,
    transB,
    m,
    n,
    k,
    alpha: args.alpha ?? 1,
    a,
    aOffset: args.aOffset ?? 0,
    lda: args.lda ?? (transA ? m : k),
    b,
    bOffset: args.bOffset ?? 0,
    ldb: args.ldb ?? (transB ? k : n),
    beta: args.beta ?? 0,
    c,
    cOffset: args.cOffset ?? 0,
    ldc: args.ldc ?? n,
  };
  validate(full);
  if (m === 0 || n === 0) return;
  if (m * n * k >= PARALLEL_GEMM_MIN) {
    // Always in blocks fixed by the shape, on one thread too: a backend may sum a block differently from the whole
    // product (OpenBLAS picks other kernels for smaller products on AVX-512 cores), so the blocks, not the threads,
    // must decide the bits.
    if (m >= 2 * ROW_UNIT) return gemmBlocks(full, 0, rowBlock(m));
    if (n >= 2 * COLUMN_UNIT) return gemmBlocks(full, 1, columnBlock(n));
  }
  backend.gemm(full);
}

/** Products with `m·n·k` below this run whole, on the calling thread. */
export const PARALLEL_GEMM_MIN = 1 << 21;

/**
 * Row blocks are multiples of this many rows. A row of C then keeps its
 * place in the kernels' register blocks (OpenBLAS's Haswell sgemm works in
 * 16-row tiles and its edge kernels sum differently; 6 and 3 rows for the
 * wasm and ts kernels), so with those kernels the blocks also equal the
 * whole product bit for bit. Other OpenBLAS kernels (Cooperlake, SkylakeX)
 * do not promise that, which is why the blocks depend on the shape alone.
 */
const ROW_UNIT = 48;

/**
 * Column blocks, for products with few rows (an affine layer's batch), are
 * multiples of this many columns. Column blocks do change OpenBLAS's sums
 * in the last bits, so they depend on the shape alone: `columnBlock(n)`.
 */
const COLUMN_UNIT = 64;

/**
 * Rows per block: four blocks (fewer when short), whatever the thread count: two per thread on two cores, for
 * balance when a core is busy elsewhere; at most four threads share one product.
 */
function rowBlock(m: number): number {
  const blocks = Math.min(ROW_BLOCKS, Math.floor(m / ROW_UNIT));
  return Math.ceil(m / blocks / ROW_UNIT) * ROW_UNIT;
}

/** Row blocks of a large product (on one thread too: see {@link rowBlock}). */
const ROW_BLOCKS = 4;

/** Columns per block: four blocks (fewer when narrow), whatever the thread count. */
function columnBlock(n: number): number {
  const blocks = Math.min(4, Math.floor(n / COLUMN_UNIT));
  return Math.ceil(n / blocks / COLUMN_UNIT) * COLUMN_UNIT;
}

/** Rows (axis 0) or columns (axis 1) of C in blocks of `block`: item `i` is the product for block `i` alone. */
const GEMM_BLOCKS = defineTask(import.meta.url, "gemm.blocks", (arrays, args, begin, end) => {
  const [a, b, c] = arrays as Data[];
  const transA = args[0] === 1, transB = args[1] === 1;
  const m = args[2], n = args[3], lda = args[7], ldb = args[9], ldc = args[12], axis = args[13], block = args[14];
  const rows = axis === 0;
  // Block by block even when one call gets several: the blocks, not the ranges, decide the sums.
  for (let i = begin; i < end; i++) {
    const from = i * block, to = Math.min(rows ? m : n, (i + 1) * block);
    backend.gemm({
      transA,
      transB,
      m: rows ? to - from : m,
      n: rows ? n : to - from,
      k: args[4],
      alpha: args[5],
      a,
      aOffset: args[6] + (rows ? (transA ? from : from * lda) : 0),
      lda,
      b,
      bOffset: args[8] + (rows ? 0 : (transB ? from * ldb : from)),
      ldb,
      beta: args[10],
      c,
      cOffset: args[11] + (rows ? from * ldc : from),
      ldc,
    });
  }
}, { gemm: true });

/** A product in blocks of rows (axis 0) or columns (axis 1) of C, shared by the threads. */
function gemmBlocks(g: Required<GemmArgs>, axis: number, block: number): void {
  const { m, n, k } = g;
  const items = Math.ceil((axis === 0 ? m : n) / block);
  const args = [g.transA ? 1 : 0, g.transB ? 1 : 0, m, n, k, g.alpha, g.aOffset, g.lda, g.bOffset, g.ldb, g.beta];
  parallelFor(GEMM_BLOCKS, items, [g.a, g.b, g.c], [...args, g.cOffset, g.ldc, axis, block], { backend });
}

function validate(g: Required<GemmArgs>): void {
  const { m, n, k } = g;
  for (const [name, v] of [["m", m], ["n", n], ["k", k]] as const) {
    if (!Number.isInteger(v) || v < 0) throw new RangeError(`gemm: ${name} = ${v} is not a non-negative integer`);
  }
  const ctor = g.a.constructor;
  if (g.b.constructor !== ctor || g.c.constructor !== ctor) {
    throw new TypeError(
      `gemm: a, b and c must share one dtype, got ${g.a.constructor.name}, ${g.b.constructor.name}, ${g.c.constructor.name}`,
    );
  }
  const check = (name: string, data: Data, off: number, ld: number, rows: number, cols: number) => {
    if (ld < cols) throw new RangeError(`gemm: ld${name} = ${ld} is less than the ${cols} columns of stored ${name}`);
    if (rows > 0 && cols > 0 && off + (rows - 1) * ld + cols > data.length) {
      throw new RangeError(
        `gemm: stored ${name} of ${rows} × ${cols} (ld ${ld}, offset ${off}) overruns its ${data.length} elements`,
      );
    }
  };
  check("a", g.a, g.aOffset, g.lda, g.transA ? k : m, g.transA ? m : k);
  check("b", g.b, g.bOffset, g.ldb, g.transB ? n : k, g.transB ? k : n);
  check("c", g.c, g.cOffset, g.ldc, m, n);
}

/**
 * The 2-D product `op(a)·op(b)` as a new tensor (a convenience over `gemm`).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { array, toNested } from "../tensor.ts";
 * import { matmul } from "./gemm.ts";
 * assertEquals(toNested(matmul(array([[1, 2]]), array([[3], [4]]))), [[11]]);
 * ```
 */
export function matmul(
  a: Tensor,
  b: Tensor,
  { transA = false, transB = false }: { transA?: boolean; transB?: boolean } = {},
): Tensor {
  if (a.ndim !== 2 || b.ndim !== 2) {
    throw new RangeError(`matmul: expected 2-D tensors, got a ${formatShape(a.shape)} and b ${formatShape(b.shape)}`);
  }
  const [m, ka] = transA ? [a.shape[1], a.shape[0]] : a.shape;
  const [kb, n] = transB ? [b.shape[1], b.shape[0]] : b.shape;
  if (ka !== kb) {
    throw new RangeError(
      `matmul: inner dimensions differ: op(a) is ${m} × ${ka} and op(b) is ${kb} × ${n} (a ${formatShape(a.shape)}, b ${
        formatShape(b.shape)
      })`,
    );
  }
  const out = zeros([m, n], a.dtype);
  gemm({ transA, transB, m, n, k: ka, a: a.data, b: b.data, c: out.data });
  return out;
}
