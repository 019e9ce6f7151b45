import { assertEquals, assertLess, assertThrows } from "@std/assert";
import { gemm, type GemmBackend, gemmBackend, matmul, setGemmBackend, tsBackend } from "../layers/kernels/gemm.ts";
import { array, toNested } from "../layers/tensor.ts";
import { filled } from "./helpers.ts";

/** The textbook triple loop, the reference for every case below. */
function referenceGemm(
  transA: boolean,
  transB: boolean,
  m: number,
  n: number,
  k: number,
  alpha: number,
  a: Float64Array,
  lda: number,
  b: Float64Array,
  ldb: number,
  beta: number,
  c: Float64Array,
  ldc: number,
): void {
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) {
        s += (transA ? a[p * lda + i] : a[i * lda + p]) * (transB ? b[j * ldb + p] : b[p * ldb + j]);
      }
      c[i * ldc + j] = alpha * s + (beta === 0 ? 0 : beta * c[i * ldc + j]);
    }
  }
}

Deno.test("gemm matches the triple loop for every transpose, odd sizes, alpha and beta", () => {
  // Sizes straddle the 3 × 4 register block and the 256-deep K panel.
  for (const [m, n, k] of [[1, 1, 1], [2, 3, 5], [7, 9, 4], [31, 17, 300], [100, 13, 513]]) {
    for (const transA of [false, true]) {
      for (const transB of [false, true]) {
        const a = filled(m * k, m + k), b = filled(k * n, n * 7 + k);
        const c = filled(m * n, 3), expected = c.slice();
        const lda = transA ? m : k, ldb = transB ? k : n;
        referenceGemm(transA, transB, m, n, k, 1.5, a, lda, b, ldb, 0.25, expected, n);
        gemm({ transA, transB, m, n, k, alpha: 1.5, a, b, beta: 0.25, c });
        let worst = 0;
        for (let i = 0; i < c.length; i++) worst = Math.max(worst, Math.abs(c[i] - expected[i]));
        assertLess(worst, 1e-12, `m=${m} n=${n} k=${k} transA=${transA} transB=${transB}`);
      }
    }
  }
});

Deno.test("gemm honours offsets and leading dimensions of sub-matrices", () => {
  // A 3 × 2 block at row 1, column 1 of a 5 × 4 matrix, times a 2 × 2 block inside a 3 × 6 matrix.
  const big = filled(20, 11), bigB = filled(18, 12);
  const c = new Float64Array(3 * 5).fill(9);
  gemm({ m: 3, n: 2, k: 2, a: big, aOffset: 5, lda: 4, b: bigB, bOffset: 7, ldb: 6, c, cOffset: 1, ldc: 5 });
  for (let i = 0; i < 3; i++) {
    for (let j = 0; j < 2; j++) {
      const expected = big[5 + i * 4] * bigB[7 + j] + big[5 + i * 4 + 1] * bigB[7 + 6 + j];
      assertLess(Math.abs(c[1 + i * 5 + j] - expected), 1e-15);
    }
  }
  assertEquals(c[0], 9, "elements outside C are untouched");
  assertEquals(c[3], 9, "elements outside C are untouched");
});

Deno.test("gemm with beta 0 ignores NaN already in C, as BLAS does", () => {
  const c = new Float64Array([NaN, NaN]);
  gemm({ m: 1, n: 2, k: 1, a: new Float64Array([2]), b: new Float64Array([3, 4]), c });
  assertEquals([...c], [6, 8]);
});

Deno.test("gemm in float32 rounds the float64 result once", () => {
  const a = filled(40 * 30, 1), b = filled(30 * 20, 2);
  const c64 = new Float64Array(40 * 20), c32 = new Float32Array(40 * 20);
  gemm({ m: 40, n: 20, k: 30, a, b, c: c64 });
  gemm({ m: 40, n: 20, k: 30, a: Float32Array.from(a), b: Float32Array.from(b), c: c32 });
  let worst = 0;
  for (let i = 0; i < c64.length; i++) worst = Math.max(worst, Math.abs(c32[i] - c64[i]));
  assertLess(worst, 1e-5);
});

Deno.test("gemm rejects mixed dtypes, overruns and short leading dimensions", () => {
  const f64 = new Float64Array(4), f32 = new Float32Array(4);
  assertThrows(() => gemm({ m: 2, n: 2, k: 2, a: f64, b: f32, c: f64 }), TypeError, "must share one dtype");
  assertThrows(() => gemm({ m: 2, n: 2, k: 3, a: f64, b: f64, c: f64 }), RangeError, "overruns its 4 elements");
  assertThrows(() => gemm({ m: 2, n: 2, k: 2, a: f64, lda: 1, b: f64, c: f64 }), RangeError, "lda = 1 is less than");
  assertThrows(() => gemm({ m: -1, n: 2, k: 2, a: f64, b: f64, c: f64 }), RangeError, "m = -1");
});

Deno.test("matmul multiplies 2-D tensors and names both shapes when they do not fit", () => {
  assertEquals(toNested(matmul(array([[1, 2], [3, 4]]), array([[5, 6], [7, 8]]))), [[19, 22], [43, 50]]);
  assertEquals(toNested(matmul(array([[1, 2], [3, 4]]), array([[5, 6], [7, 8]]), { transA: true })), [[26, 30], [
    38,
    44,
  ]]);
  assertThrows(() => matmul(array([[1, 2, 3]]), array([[1, 2]])), RangeError, "a (1, 3), b (1, 2)");
});

Deno.test("setGemmBackend routes every product through the chosen backend", () => {
  let calls = 0;
  const counting: GemmBackend = {
    name: "counting",
    gemm(args) {
      calls++;
      tsBackend.gemm(args);
    },
  };
  const previous = setGemmBackend(counting);
  try {
    assertEquals(gemmBackend().name, "counting");
    assertEquals(toNested(matmul(array([[2]]), array([[3]]))), [[6]]);
    assertEquals(calls, 1);
  } finally {
    setGemmBackend(previous);
  }
  assertEquals(gemmBackend(), previous);
});
