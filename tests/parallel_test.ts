// The parallel engine (layers/kernels/parallel.ts): every layer and both models give the same bits on one thread
// and on two, the two-thread runs really share their work with a pool worker, and no worker outlives its run.
//
// Promised bit for bit: everything here. Each test runs a computation with setThreads(1), then with
// setThreads(2) once the pool serves jobs, compares the outputs' bytes, and checks that the worker ran some of
// the work (workerChunks), so that the comparison cannot pass by the pool simply never joining in.

import { assert, assertEquals, assertGreater, assertMatch, assertThrows } from "@std/assert";
import { affineBackward, affineForward } from "../layers/affine.ts";
import { batchnormBackwardAlt, batchnormForward, type BatchnormParam } from "../layers/batchnorm.ts";
import { convBackwardFast, convForwardFast } from "../layers/conv_fast.ts";
import { gemm, setGemmBackend } from "../layers/kernels/gemm.ts";
import { availableBackends, useGemmBackend } from "../layers/kernels/gemm_backends.ts";
import {
  closeThreads,
  describeThreads,
  runningWorkers,
  setThreads,
  startThreads,
  threads,
  workerChunks,
} from "../layers/kernels/parallel.ts";
import { layernormBackward, layernormForward } from "../layers/layernorm.ts";
import { maxPoolBackwardFast, maxPoolForwardFast } from "../layers/max_pool_fast.ts";
import { FullyConnectedNet } from "../layers/models/fully_connected_net.ts";
import type { Model } from "../layers/models/model.ts";
import { ThreeLayerConvNet } from "../layers/models/three_layer_convnet.ts";
import { RandomState } from "../layers/random.ts";
import { reluBackward, reluForward } from "../layers/relu.ts";
import { convReluPoolBackward, convReluPoolForward } from "../layers/sandwich.ts";
import { softmaxLoss } from "../layers/softmax_loss.ts";
import { spatialBatchnormBackward, spatialBatchnormForward } from "../layers/spatial_batchnorm.ts";
import { spatialGroupnormBackward, spatialGroupnormForward } from "../layers/spatial_groupnorm.ts";
import { astype, type DType, type Tensor } from "../layers/tensor.ts";
import { adam, rmsprop, sgd, sgdMomentum } from "../pipeline/update_rules.ts";

const canShare = Deno.permissions.querySync({ name: "ffi" }).state === "granted";
const skip = canShare ? "" : " (skipped: the pool needs --allow-ffi)";

type Result = (Tensor | Float32Array | Float64Array | Int32Array | number)[];

function bytes(x: Tensor | Float32Array | Float64Array | Int32Array | number): Uint8Array {
  if (typeof x === "number") return new Uint8Array(new Float64Array([x]).buffer);
  const d = "data" in x ? x.data : x;
  return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
}

/** Asserts that every output of `two` has the bytes of the same output of `one`. */
function assertSameBytes(one: Result, two: Result): void {
  assertEquals(two.length, one.length);
  for (let i = 0; i < one.length; i++) {
    const a = bytes(one[i]), b = bytes(two[i]);
    assertEquals(a.length, b.length, `output ${i}: sizes differ`);
    let differ = 0;
    for (let k = 0; k < a.length; k++) if (a[k] !== b[k]) differ++;
    assertEquals(differ, 0, `output ${i}: ${differ} bytes differ between 1 and 2 threads`);
  }
}

/**
 * Runs `compute` on one thread and on two; asserts equal bytes for every output and that the worker ran part of
 * a two-thread run. Work goes to whichever thread claims it first, so on a busy machine the calling thread can
 * finish a small job before the worker wakes: the two-thread run is repeated (each time compared) until the worker
 * has taken part, at most 50 times. `compute` builds its inputs itself (same seed each time).
 */
async function sameOnOneAndTwoThreads(compute: () => Result): Promise<void> {
  const previous = setThreads(1);
  try {
    const one = compute();
    setThreads(2);
    await startThreads();
    const before = workerChunks();
    for (let run = 0; run < 50 && workerChunks() === before; run++) assertSameBytes(one, compute());
    assertGreater(workerChunks(), before, "the pool worker ran none of the work in 50 runs: nothing was shared");
  } finally {
    setThreads(previous);
    await closeThreads();
  }
}

const randn = (seed: number, dtype: DType, ...shape: number[]) => astype(new RandomState(seed).randn(...shape), dtype);

for (const dtype of ["float32", "float64"] as const) {
  Deno.test({
    name: `convForwardFast and convBackwardFast (${dtype}) give the same bits on 1 and 2 threads${skip}`,
    ignore: !canShare,
    fn: () =>
      sameOnOneAndTwoThreads(() => {
        const x = randn(1, dtype, 40, 3, 31, 31), w = randn(2, dtype, 25, 3, 3, 3), b = randn(3, dtype, 25);
        const { out, cache } = convForwardFast(x, w, b, { stride: 2, pad: 1 });
        const g = convBackwardFast(randn(4, dtype, 40, 25, 16, 16), cache);
        return [out, g.dx, g.dw, g.db];
      }),
  });
}

Deno.test({
  name: `the conv – ReLU – 2×2 pool sandwich gives the same bits on 1 and 2 threads${skip}`,
  ignore: !canShare,
  fn: () =>
    sameOnOneAndTwoThreads(() => {
      const x = randn(1, "float32", 16, 3, 32, 32), w = randn(2, "float32", 16, 3, 5, 5), b = randn(3, "float32", 16);
      const { out, cache } = convReluPoolForward(x, w, b, { stride: 1, pad: 2 }, {});
      const g = convReluPoolBackward(randn(4, "float32", 16, 16, 16, 16), cache);
      return [out, g.dx, g.dw, g.db];
    }),
});

const POOLS = [["2×2 tiles", 34, {}], ["3×3 windows of stride 2", 33, { poolHeight: 3, poolWidth: 3 }]] as const;
for (const [label, size, param] of POOLS) {
  Deno.test({
    name: `maxPoolForwardFast and maxPoolBackwardFast (${label}) give the same bits on 1 and 2 threads${skip}`,
    ignore: !canShare,
    fn: () =>
      sameOnOneAndTwoThreads(() => {
        const x = randn(1, "float32", 32, 16, size, size);
        const { out, cache } = maxPoolForwardFast(x, { stride: 2, ...param });
        const g = maxPoolBackwardFast(randn(2, "float32", ...out.shape), cache);
        return [out, cache.argmax!, g.dx];
      }),
  });
}

Deno.test({
  name: `reluForward and reluBackward give the same bits on 1 and 2 threads${skip}`,
  ignore: !canShare,
  fn: () =>
    sameOnOneAndTwoThreads(() => {
      const x = randn(1, "float32", 400, 1000);
      const { out, cache } = reluForward(x);
      return [out, reluBackward(randn(2, "float32", 400, 1000), cache).dx];
    }),
});

Deno.test({
  name: `batch norm (train, test, backward) gives the same bits on 1 and 2 threads${skip}`,
  ignore: !canShare,
  fn: () =>
    sameOnOneAndTwoThreads(() => {
      const x = randn(1, "float32", 500, 600), gamma = randn(2, "float32", 600), beta = randn(3, "float32", 600);
      const bnParam: BatchnormParam = { mode: "train" };
      const { out, cache } = batchnormForward(x, gamma, beta, bnParam);
      const g = batchnormBackwardAlt(randn(4, "float32", 500, 600), cache);
      const test = batchnormForward(x, gamma, beta, { ...bnParam, mode: "test" }).out;
      return [out, g.dx, g.dgamma, g.dbeta, test, bnParam.runningMean!, bnParam.runningVar!];
    }),
});

Deno.test({
  name: `spatial batch norm and spatial group norm give the same bits on 1 and 2 threads${skip}`,
  ignore: !canShare,
  fn: () =>
    sameOnOneAndTwoThreads(() => {
      const x = randn(1, "float32", 20, 32, 24, 24), dout = randn(2, "float32", 20, 32, 24, 24);
      const gamma = randn(3, "float32", 32), beta = randn(4, "float32", 32);
      const bn = spatialBatchnormForward(x, gamma, beta, { mode: "train" });
      const bnGrads = spatialBatchnormBackward(dout, bn.cache);
      const g4 = randn(5, "float32", 1, 32, 1, 1), b4 = randn(6, "float32", 1, 32, 1, 1);
      const gn = spatialGroupnormForward(x, g4, b4, 4);
      const gnGrads = spatialGroupnormBackward(dout, gn.cache);
      return [bn.out, bnGrads.dx, bnGrads.dgamma, bnGrads.dbeta, gn.out, gnGrads.dx, gnGrads.dgamma, gnGrads.dbeta];
    }),
});

Deno.test({
  name: `layer norm gives the same bits on 1 and 2 threads${skip}`,
  ignore: !canShare,
  fn: () =>
    sameOnOneAndTwoThreads(() => {
      const x = randn(1, "float32", 600, 500), gamma = randn(2, "float32", 500), beta = randn(3, "float32", 500);
      const { out, cache } = layernormForward(x, gamma, beta);
      const g = layernormBackward(randn(4, "float32", 600, 500), cache);
      return [out, g.dx, g.dgamma, g.dbeta];
    }),
});

Deno.test({
  name: `softmaxLoss on a large batch gives the same bits on 1 and 2 threads${skip}`,
  ignore: !canShare,
  fn: () =>
    sameOnOneAndTwoThreads(() => {
      const x = randn(1, "float32", 20000, 10);
      const y = new Int32Array(20000).map((_, i) => (i * 7) % 10);
      const { loss, dx } = softmaxLoss(x, y);
      return [loss, dx];
    }),
});

for (const b of availableBackends().filter((b) => b.available)) {
  Deno.test({
    name: `gemm on ${b.name} splits rows and columns into the same bits on 1 and 2 threads${skip}`,
    ignore: !canShare,
    async fn() {
      const previous = setGemmBackend(b.backend!);
      try {
        await sameOnOneAndTwoThreads(() => {
          const out: Result = [];
          // Rows split (m ≥ 96) with every transposition, and a wide product of few rows (column blocks). 147 rows
          // end in a block of 3, which OpenBLAS's AVX-512 kernels sum differently from the whole product.
          const shapes = [[300, 301, 333, true, false], [250, 97, 200, false, true], [147, 16, 1024, false, true]];
          for (const [m, n, k, transA, transB] of shapes as [number, number, number, boolean, boolean][]) {
            const a = randn(1, "float32", m * k).data, bb = randn(2, "float32", k * n).data;
            const c = randn(3, "float32", m * n).data;
            gemm({ m, n, k, a, b: bb, c, transA, transB, alpha: 0.5, beta: 0.25 });
            out.push(c);
          }
          const a = randn(4, "float32", 50 * 900).data, bb = randn(5, "float32", 900 * 500).data;
          const c = new Float32Array(50 * 500);
          gemm({ m: 50, n: 500, k: 900, a, b: bb, c });
          out.push(c);
          return out;
        });
      } finally {
        setGemmBackend(previous);
      }
    },
  });
}

// This environment may pin OpenBLAS's kernel (OPENBLAS_CORETYPE=Haswell sums row blocks as the whole product);
// a user's machine picks its own (Cooperlake or SkylakeX on AVX-512 cores, which do not), so the test above runs
// again in a child process that lets OpenBLAS choose.
const pinnedCore = Deno.env.get("OPENBLAS_CORETYPE");
const ownKernelSkip = skip ||
  (pinnedCore === undefined
    ? " (skipped: OPENBLAS_CORETYPE is unset, so the test above already ran OpenBLAS's own kernel)"
    : "");
Deno.test({
  name: `gemm on blas gives the same bits on 1 and 2 threads with the kernel OpenBLAS picks itself${ownKernelSkip}`,
  ignore: !canShare || pinnedCore === undefined || !availableBackends().some((b) => b.name === "blas" && b.available),
  async fn() {
    const env = Deno.env.toObject();
    delete env.OPENBLAS_CORETYPE;
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["test", "--allow-ffi", "--allow-read", "--allow-env", "--filter", "gemm on blas splits", import.meta.url],
      env,
      clearEnv: true,
      stdin: "null",
    }).output();
    const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    assert(out.success, `with OpenBLAS's own kernel (OPENBLAS_CORETYPE unset, here ${pinnedCore}):\n${text}`);
    assertMatch(text, /1 passed/);
  },
});

Deno.test({
  name: `affine layers and the update rules give the same bits on 1 and 2 threads${skip}`,
  ignore: !canShare,
  fn: () =>
    sameOnOneAndTwoThreads(() => {
      const x = randn(1, "float32", 50, 8192), w = randn(2, "float32", 8192, 300), b = randn(3, "float32", 300);
      const { out, cache } = affineForward(x, w, b);
      const g = affineBackward(randn(4, "float32", 50, 300), cache);
      const results: Result = [out, g.dx, g.dw, g.db];
      for (const [i, rule] of [sgd, sgdMomentum, rmsprop, adam].entries()) {
        const wi = randn(10 + i, "float32", 700, 400), gi = randn(20 + i, "float32", 700, 400);
        const config = {};
        for (let step = 0; step < 2; step++) rule(wi, gi, config);
        results.push(wi);
      }
      return results;
    }),
});

/** `steps` Adam steps of `model` on one batch; the losses. */
function trainSteps(model: Model, X: Tensor, y: Int32Array, steps: number): number[] {
  const configs: Record<string, Record<string, never>> = {};
  const losses: number[] = [];
  for (let step = 0; step < steps; step++) {
    const { loss, grads } = model.loss(X, y);
    losses.push(loss);
    for (const [k, w] of Object.entries(model.params)) adam(w, grads[k], configs[k] ??= {});
  }
  return losses;
}

Deno.test({
  name: `ThreeLayerConvNet trains to the same bits on 1 and 2 threads${skip}`,
  ignore: !canShare,
  fn: () =>
    sameOnOneAndTwoThreads(() => {
      useGemmBackend("auto", { quiet: true });
      const model = new ThreeLayerConvNet({ seed: 0, hiddenDim: 100, reg: 1e-3, numFilters: 16 });
      const X = randn(1, "float32", 20, 3, 32, 32), y = new Int32Array(20).map((_, i) => i % 10);
      const losses = trainSteps(model, X, y, 3);
      return [...losses, ...Object.values(model.params), model.loss(X)];
    }),
});

Deno.test({
  name: `FullyConnectedNet with batch norm trains to the same bits on 1 and 2 threads${skip}`,
  ignore: !canShare,
  fn: () =>
    sameOnOneAndTwoThreads(() => {
      const model = new FullyConnectedNet([300, 300], {
        inputDim: 3072,
        normalization: "batchnorm",
        reg: 1e-2,
        seed: 0,
        dtype: "float32",
      });
      const X = randn(1, "float32", 400, 3072), y = new Int32Array(400).map((_, i) => i % 10);
      const losses = trainSteps(model, X, y, 3);
      return [...losses, ...Object.values(model.params), ...Object.values(model.state()), model.loss(X)];
    }),
});

Deno.test("setThreads takes 1 to 64 threads and names the rule it breaks", () => {
  const previous = threads();
  try {
    assertEquals(setThreads(3), previous);
    assertEquals(threads(), 3);
    assertMatch(describeThreads(), /^3 threads \(set\)$/);
    for (const bad of [0, 1.5, -2, 65, NaN]) {
      assertThrows(() => setThreads(bad), RangeError, "setThreads: n must be an integer from 1 to 64");
    }
    assertEquals(threads(), 3);
  } finally {
    setThreads(previous);
  }
});

Deno.test({
  name: `closeThreads ends every pool worker${skip}`,
  ignore: !canShare,
  async fn() {
    const previous = setThreads(2);
    try {
      await startThreads();
      assertEquals(runningWorkers(), 1);
      await closeThreads();
      assertEquals(runningWorkers(), 0);
    } finally {
      setThreads(previous);
    }
  },
});

const script = `
import { setThreads, startThreads, runningWorkers, workerChunks } from "${
  new URL("../layers/kernels/parallel.ts", import.meta.url).href
}";
import { convForwardFast } from "${new URL("../layers/conv_fast.ts", import.meta.url).href}";
import { full, zeros } from "${new URL("../layers/tensor.ts", import.meta.url).href}";
setThreads(2);
await startThreads();
// Work goes to whichever thread claims it first: repeat until the worker has taken part (a busy machine can delay it).
let out;
for (let run = 0; run < 50 && (run === 0 || workerChunks() === 0); run++) {
  ({ out } = convForwardFast(full([40, 3, 32, 32], 1, "float32"), full([16, 3, 5, 5], 1, "float32"), zeros([16], "float32"), { pad: 2 }));
}
console.log(runningWorkers(), workerChunks() > 0, out.data[40 * 16 * 32 * 32 / 2]);
`;

Deno.test({
  name: `a process that used the pool exits when its main module ends, without closeThreads${skip}`,
  ignore: !canShare,
  async fn() {
    const started = performance.now();
    const child = new Deno.Command(Deno.execPath(), {
      args: ["eval", "--ext=ts", script],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    const { code, stdout, stderr } = await child.output();
    clearTimeout(timer);
    const text = new TextDecoder().decode(stdout).trim();
    assertEquals(code, 0, new TextDecoder().decode(stderr));
    assertEquals(text, "1 true 27", "one worker ran part of the convolution; a corner output sums 3·3·3 ones");
    assert(performance.now() - started < 60_000);
  },
});
