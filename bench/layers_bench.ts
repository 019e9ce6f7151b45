/**
 * Convolution and max pooling, naive loops against the fast versions, at the
 * course's shapes (ConvolutionalNetworks.ipynb, "Fast layers"):
 * conv x (100, 3, 31, 31), w (25, 3, 3, 3), stride 2, pad 1; max pool
 * x (100, 3, 32, 32), 2×2 stride 2 (the reshape path), plus 3×3 stride 2
 * (the general path) for comparison. float32 and float64.
 *
 *     deno bench bench/layers_bench.ts
 *
 * Matrix products go through the backend `useGemmBackend` picks: the best
 * available one, or the one `GRADSTREAM_GEMM=blas|wasm|ts` names.
 *
 * @module
 */

import { convBackwardNaive, convForwardNaive } from "../layers/conv_naive.ts";
import { convBackwardFast, convForwardFast } from "../layers/conv_fast.ts";
import { describeGemmBackend, useGemmBackend } from "../layers/kernels/gemm_backends.ts";
import { maxPoolBackwardNaive, maxPoolForwardNaive } from "../layers/max_pool_naive.ts";
import { maxPoolBackwardFast, maxPoolForwardFast } from "../layers/max_pool_fast.ts";
import { RandomState } from "../layers/random.ts";
import { astype, type DType } from "../layers/tensor.ts";

console.log(`gemm backend: ${describeGemmBackend(useGemmBackend())}`);

const rs = new RandomState(231);
const conv64 = {
  x: rs.randn(100, 3, 31, 31),
  w: rs.randn(25, 3, 3, 3),
  b: rs.randn(25),
  dout: rs.randn(100, 25, 16, 16),
};
const pool64 = { x: rs.randn(100, 3, 32, 32), dout: rs.randn(100, 3, 16, 16) };
const general64 = { x: rs.randn(100, 3, 31, 31), dout: rs.randn(100, 3, 15, 15) };
const convParam = { stride: 2, pad: 1 };
const poolParam = { poolHeight: 2, poolWidth: 2, stride: 2 };
const generalParam = { poolHeight: 3, poolWidth: 3, stride: 2 };

// The naive conv takes tens of milliseconds per call: few iterations.
const slow = { n: 10, warmup: 2 };

for (const dtype of ["float64", "float32"] as DType[]) {
  const [x, w, b, dout] = [conv64.x, conv64.w, conv64.b, conv64.dout].map((t) => astype(t, dtype));
  const naiveCache = convForwardNaive(x, w, b, convParam).cache;
  const fastCache = convForwardFast(x, w, b, convParam).cache;
  Deno.bench({
    name: `conv forward naive ${dtype}`,
    group: `conv forward ${dtype}`,
    ...slow,
    fn: () => void convForwardNaive(x, w, b, convParam),
  });
  Deno.bench({
    name: `conv forward fast ${dtype}`,
    group: `conv forward ${dtype}`,
    baseline: true,
    fn: () => void convForwardFast(x, w, b, convParam),
  });
  Deno.bench({
    name: `conv backward naive ${dtype}`,
    group: `conv backward ${dtype}`,
    ...slow,
    fn: () => void convBackwardNaive(dout, naiveCache),
  });
  Deno.bench({
    name: `conv backward fast ${dtype}`,
    group: `conv backward ${dtype}`,
    baseline: true,
    fn: () => void convBackwardFast(dout, fastCache),
  });

  for (const [label, data, param] of [["2×2/2", pool64, poolParam], ["3×3/2", general64, generalParam]] as const) {
    const px = astype(data.x, dtype), pd = astype(data.dout, dtype);
    const pNaive = maxPoolForwardNaive(px, param).cache, pFast = maxPoolForwardFast(px, param).cache;
    Deno.bench({
      name: `max pool ${label} forward naive ${dtype}`,
      group: `max pool ${label} forward ${dtype}`,
      fn: () => void maxPoolForwardNaive(px, param),
    });
    Deno.bench({
      name: `max pool ${label} forward fast ${dtype}`,
      group: `max pool ${label} forward ${dtype}`,
      baseline: true,
      fn: () => void maxPoolForwardFast(px, param),
    });
    Deno.bench({
      name: `max pool ${label} backward naive ${dtype}`,
      group: `max pool ${label} backward ${dtype}`,
      fn: () => void maxPoolBackwardNaive(pd, pNaive),
    });
    Deno.bench({
      name: `max pool ${label} backward fast ${dtype}`,
      group: `max pool ${label} backward ${dtype}`,
      baseline: true,
      fn: () => void maxPoolBackwardFast(pd, pFast),
    });
  }
}
