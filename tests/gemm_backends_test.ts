import {
  assert,
  assertEquals,
  assertGreater,
  assertLessOrEqual,
  assertStringIncludes,
  assertThrows,
} from "@std/assert";
import { gemm, type GemmBackend, gemmBackend, setGemmBackend, tsBackend } from "../layers/kernels/gemm.ts";
import {
  availableBackends,
  chooseBestBackend,
  describeGemmBackend,
  GEMM_BACKEND_NAMES,
  useGemmBackend,
} from "../layers/kernels/gemm_backends.ts";
import { BLAS_SINGLE_THREAD_BELOW, type BlasBackend, openBlas } from "../layers/kernels/gemm_blas.ts";
import { type WasmBackend, wasmStatus } from "../layers/kernels/gemm_wasm.ts";
import { filled } from "./helpers.ts";

// Loaded once, outside any test, so the FFI library handle is not charged to a test's resource sanitizer.
const backends = availableBackends();

type Ctor = Float32ArrayConstructor | Float64ArrayConstructor;
const DTYPES: [string, Ctor, number][] = [["float32", Float32Array, 1e-5], ["float64", Float64Array, 1e-12]];

interface Case {
  transA: boolean;
  transB: boolean;
  m: number;
  n: number;
  k: number;
  alpha: number;
  beta: number;
  aOffset: number;
  lda: number;
  bOffset: number;
  ldb: number;
  cOffset: number;
  ldc: number;
}

/** The float64 triple loop every backend is held to; beta = 0 never reads C. */
function reference(cs: Case, a: ArrayLike<number>, b: ArrayLike<number>, c: Float64Array): void {
  const { transA, transB, m, n, k, alpha, beta, aOffset, lda, bOffset, ldb, cOffset, ldc } = cs;
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) {
        s += a[aOffset + (transA ? p * lda + i : i * lda + p)] * b[bOffset + (transB ? j * ldb + p : p * ldb + j)];
      }
      const at = cOffset + i * ldc + j;
      c[at] = alpha * s + (beta === 0 ? 0 : beta * c[at]);
    }
  }
}

/**
 * Runs one case on `backend` and returns the normwise error max|C − ref| / max|ref|
 * over the block; throws if anything outside the block changed or a NaN leaked.
 */
function runCase(backend: GemmBackend, ctor: Ctor, cs: Case, nanInC = false): number {
  const { transA, transB, m, n, k } = cs;
  const aLen = cs.aOffset + ((transA ? k : m) - 1) * cs.lda + (transA ? m : k) + 2;
  const bLen = cs.bOffset + ((transB ? n : k) - 1) * cs.ldb + (transB ? k : n) + 2;
  const cLen = cs.cOffset + (m - 1) * cs.ldc + n + 3;
  const a = filled(aLen, 11 + m, ctor), b = filled(bLen, 23 + n, ctor);
  const c = filled(cLen, 37 + k, ctor);
  if (nanInC) { for (let i = 0; i < m; i++) c.fill(NaN, cs.cOffset + i * cs.ldc, cs.cOffset + i * cs.ldc + n); }
  const before = c.slice();
  const ref = Float64Array.from(c);
  reference(cs, a, b, ref);
  const previous = setGemmBackend(backend);
  try {
    gemm({ ...cs, a, b, c });
  } finally {
    setGemmBackend(previous);
  }
  let err = 0, scale = 0;
  for (let i = 0; i < cLen; i++) {
    const row = Math.floor((i - cs.cOffset) / cs.ldc), col = (i - cs.cOffset) % cs.ldc;
    const inBlock = i >= cs.cOffset && row < m && col < n;
    if (!inBlock) {
      if (!Object.is(c[i], before[i])) throw new Error(`element ${i} outside the C block changed`);
      continue;
    }
    if (!Number.isFinite(c[i])) throw new Error(`C[${row}, ${col}] = ${c[i]}`);
    err = Math.max(err, Math.abs(c[i] - ref[i]));
    scale = Math.max(scale, Math.abs(ref[i]));
  }
  return err / Math.max(scale, 1e-300);
}

// Odd sizes, sizes past the kernels' panel and block edges (MR 6, NR 8, KC 256, MC 144), and degenerate ones.
const SIZES: [number, number, number][] = [
  [1, 1, 1],
  [3, 5, 7],
  [7, 13, 5],
  [6, 8, 16],
  [17, 9, 33],
  [1, 37, 300],
  [150, 11, 9],
  [13, 70, 517],
];
const SCALARS: [number, number][] = [[1, 0], [-0.75, 1], [1.5, -0.5]];

function allCases(): Case[] {
  const cases: Case[] = [];
  for (const [m, n, k] of SIZES) {
    for (const transA of [false, true]) {
      for (const transB of [false, true]) {
        for (const [alpha, beta] of SCALARS) {
          // Padded strides and offsets on every other case, tight storage on the rest.
          const pad = (m + n + k + (transA ? 1 : 0) + (transB ? 2 : 0)) % 2 === 0 ? 0 : 3;
          cases.push({
            transA,
            transB,
            m,
            n,
            k,
            alpha,
            beta,
            aOffset: pad + 1,
            lda: (transA ? m : k) + pad,
            bOffset: 2 * pad,
            ldb: (transB ? k : n) + pad,
            cOffset: pad + 2,
            ldc: n + pad,
          });
        }
      }
    }
  }
  return cases;
}

const label = (cs: Case) =>
  `${cs.m}×${cs.n}×${cs.k} transA=${cs.transA} transB=${cs.transB} alpha=${cs.alpha} beta=${cs.beta} lda=${cs.lda}`;

for (const info of backends) {
  const skip = info.available ? "" : ` (skipped: ${info.reason})`;
  for (const [dtype, ctor, tol] of DTYPES) {
    Deno.test({
      name:
        `${info.name} backend matches a float64 triple loop within ${tol} (${dtype}, odd sizes, all transposes, offsets, strides, alpha, beta)${skip}`,
      ignore: !info.available,
      fn() {
        for (const cs of allCases()) {
          assertLessOrEqual(runCase(info.backend!, ctor, cs), tol, `${info.name} ${dtype} ${label(cs)}`);
        }
      },
    });
    Deno.test({
      name: `${info.name} backend with beta = 0 ignores NaN in C (${dtype})${skip}`,
      ignore: !info.available,
      fn() {
        for (const [m, n, k] of [[7, 13, 5], [12, 16, 20], [1, 37, 300]]) {
          const cs: Case = {
            transA: false,
            transB: true,
            m,
            n,
            k,
            alpha: 2,
            beta: 0,
            aOffset: 0,
            lda: k,
            bOffset: 1,
            ldb: k + 1,
            cOffset: 3,
            ldc: n + 2,
          };
          assertLessOrEqual(runCase(info.backend!, ctor, cs, true), tol, label(cs));
        }
      },
    });
  }
  Deno.test({
    name: `${info.name} backend: k = 0 scales C by beta and alpha = 0 skips A·B${skip}`,
    ignore: !info.available,
    fn() {
      const previous = setGemmBackend(info.backend!);
      try {
        const c = new Float32Array([1, 2, 3, 4]);
        gemm({ m: 2, n: 2, k: 0, a: new Float32Array(0), b: new Float32Array(0), beta: 0.5, c });
        assertEquals([...c], [0.5, 1, 1.5, 2]);
        const nan = new Float32Array([NaN, NaN, NaN, NaN]);
        gemm({ m: 2, n: 2, k: 2, alpha: 0, a: nan, b: nan, beta: 2, c });
        assertEquals([...c], [1, 2, 3, 4]);
      } finally {
        setGemmBackend(previous);
      }
    },
  });
}

const blasInfo = backends.find((b) => b.name === "blas")!;
const blas = blasInfo.backend as BlasBackend | null;
const blasSkip = blas ? "" : ` (skipped: ${blasInfo.reason})`;

Deno.test({
  name: `blas runs products below ${BLAS_SINGLE_THREAD_BELOW} m·n·k on one thread and larger ones on all${blasSkip}`,
  ignore: !blas,
  fn() {
    const b = blas!;
    assertEquals(b.threadsFor(64, 64, 64), 1);
    assertEquals(b.threadsFor(1024, 1024, 1024), Math.max(1, b.maxThreads));
    const saved = b.maxThreads;
    try {
      // A product past the threshold on two threads still matches the triple loop.
      b.maxThreads = 2;
      const cs: Case = {
        transA: true,
        transB: false,
        m: 161,
        n: 170,
        k: 163,
        alpha: 1,
        beta: 0.25,
        aOffset: 3,
        lda: 161,
        bOffset: 0,
        ldb: 171,
        cOffset: 1,
        ldc: 170,
      };
      assertGreater(cs.m * cs.n * cs.k, b.singleThreadBelow);
      assertLessOrEqual(runCase(b, Float32Array, cs), 1e-5);
      assertLessOrEqual(runCase(b, Float64Array, cs), 1e-12);
    } finally {
      b.maxThreads = saved;
    }
    assertStringIncludes(describeGemmBackend(b), "threads");
    assertStringIncludes(describeGemmBackend(b), b.version);
  },
});

Deno.test("blas reports why it is unavailable for a library path that does not exist", () => {
  const path = "/nonexistent/gradstream/libopenblas.so.0";
  const r = openBlas({ path });
  assertEquals(r.available, false);
  assertEquals(r.backend, null);
  const ffi = Deno.permissions.querySync({ name: "ffi" }).state === "granted";
  assertStringIncludes(r.reason, ffi ? path : "--allow-ffi");
});

const wasm = wasmStatus();
const wasmSkip = wasm.available ? "" : ` (skipped: ${wasm.reason})`;

Deno.test({
  name: `wasm splits products past its memory budget into passes and still matches the triple loop${wasmSkip}`,
  ignore: !wasm.available,
  fn() {
    const w = wasm.backend as WasmBackend;
    const saved = w.passFloats;
    try {
      w.passFloats = 3000; // forces splits along m, n and k (with beta accumulation) on small products
      for (
        const [m, n, k, transA, transB] of [[90, 20, 30, false, false], [20, 90, 30, true, true], [
          9,
          7,
          700,
          false,
          true,
        ]] as const
      ) {
        for (const beta of [0, 0.5]) {
          const cs: Case = {
            transA,
            transB,
            m,
            n,
            k,
            alpha: 1.25,
            beta,
            aOffset: 2,
            lda: (transA ? m : k) + 1,
            bOffset: 0,
            ldb: transB ? k : n,
            cOffset: 5,
            ldc: n + 4,
          };
          assertLessOrEqual(runCase(w, Float32Array, cs), 1e-5, label(cs));
        }
      }
    } finally {
      w.passFloats = saved;
    }
    assertStringIncludes(describeGemmBackend(w), "WASM SIMD");
  },
});

Deno.test("availableBackends lists blas, wasm and ts in that order, each with a reason when unavailable", () => {
  assertEquals(backends.map((b) => b.name), [...GEMM_BACKEND_NAMES]);
  for (const b of backends) {
    assertEquals(b.available, b.backend !== null, b.name);
    if (b.available) assertEquals(b.reason, "", b.name);
    else assertStringIncludes(b.reason, `${b.name}:`);
  }
  assertEquals(backends[2].available, true);
  assertEquals(chooseBestBackend(), backends.find((b) => b.available)!.backend);
  assertEquals(describeGemmBackend(tsBackend), "ts (packed TypeScript kernel)");
});

Deno.test("useGemmBackend honours GRADSTREAM_GEMM and rejects an unknown name", () => {
  const previous = gemmBackend();
  const savedEnv = Deno.env.get("GRADSTREAM_GEMM");
  try {
    Deno.env.set("GRADSTREAM_GEMM", "ts");
    assertEquals(useGemmBackend(), tsBackend);
    assertEquals(gemmBackend(), tsBackend);
    for (const b of backends.filter((x) => x.available)) {
      Deno.env.set("GRADSTREAM_GEMM", b.name.toUpperCase());
      assertEquals(useGemmBackend(), b.backend);
    }
    Deno.env.set("GRADSTREAM_GEMM", "auto");
    assertEquals(useGemmBackend(undefined, { quiet: true }), chooseBestBackend());
    // An explicit argument wins over the environment.
    assertEquals(useGemmBackend("ts"), tsBackend);
    Deno.env.set("GRADSTREAM_GEMM", "cuda");
    assertThrows(() => useGemmBackend(), RangeError, "unknown backend GRADSTREAM_GEMM=cuda");
    assertEquals(gemmBackend(), tsBackend);
  } finally {
    if (savedEnv === undefined) Deno.env.delete("GRADSTREAM_GEMM");
    else Deno.env.set("GRADSTREAM_GEMM", savedEnv);
    setGemmBackend(previous);
  }
});

/** Runs `script` in a fresh `deno run` with only `permissions`; returns its exit code, stdout JSON and stderr. */
async function runIsolated(script: string, permissions: string[], env: Record<string, string> = {}) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-prompt", "--no-config", ...permissions, "-"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", ...env },
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(script));
  await writer.close();
  const { code, stdout, stderr } = await child.output();
  const err = new TextDecoder().decode(stderr);
  assertEquals(code, 0, err);
  return { result: JSON.parse(new TextDecoder().decode(stdout)), stderr: err };
}

const backendsModule = JSON.stringify(new URL("../layers/kernels/gemm_backends.ts", import.meta.url).href);

Deno.test("without --allow-ffi auto picks wasm, says once on stderr how to get blas, and an explicit blas throws why", async () => {
  const { result, stderr } = await runIsolated(
    `
    import { availableBackends, describeGemmBackend, useGemmBackend } from ${backendsModule};
    useGemmBackend("auto");
    useGemmBackend("auto");
    let thrown = "";
    try { useGemmBackend("blas"); } catch (e) { thrown = e.message; }
    console.log(JSON.stringify({ reason: availableBackends()[0].reason, chosen: describeGemmBackend(), thrown }));
  `,
    [],
  );
  assertStringIncludes(result.reason, "--allow-ffi");
  assert(/^wasm \(WASM SIMD/.test(result.chosen) || result.chosen.startsWith("ts "), result.chosen);
  assertStringIncludes(result.thrown, 'backend "blas" is not available: blas: needs --allow-ffi');
  const hints = stderr.split("\n").filter((l) => l.includes("libopenblas0-pthread"));
  assertEquals(hints.length, 1, stderr);
  assertStringIncludes(hints[0], "--allow-ffi");
});

Deno.test("GRADSTREAM_BLAS_LIB naming a missing library makes blas unavailable with the path in the reason", async () => {
  const path = "/nonexistent/gradstream/libopenblas.so.0";
  const { result } = await runIsolated(
    `
    import { availableBackends, useGemmBackend } from ${backendsModule};
    let thrown = "";
    try { useGemmBackend(); } catch (e) { thrown = e.message; }
    console.log(JSON.stringify({ reason: availableBackends()[0].reason, thrown }));
  `,
    ["--allow-ffi", "--allow-env=GRADSTREAM_GEMM,GRADSTREAM_BLAS_LIB"],
    { GRADSTREAM_BLAS_LIB: path, GRADSTREAM_GEMM: "blas" },
  );
  assertStringIncludes(result.reason, `blas: cannot load ${path}`);
  assertStringIncludes(result.thrown, `backend GRADSTREAM_GEMM=blas is not available: blas: cannot load ${path}`);
});
