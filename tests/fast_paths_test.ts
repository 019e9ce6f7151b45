/**
 * Checks of the speed paths behind the fast layers that the layer tests do
 * not reach on purpose: the WebAssembly column kernel against the JavaScript
 * im2col/col2im, float32 ReLU and 2 × 2 pooling on bit patterns (edge values,
 * ties, NaN and infinities), the fused pool + ReLU backward pass, chunked
 * convolution with a batch that the chunk size does not divide, and the
 * ThreeLayerConvNet's skipped input gradient.
 *
 *     deno test --allow-read --allow-env --allow-ffi tests/fast_paths_test.ts
 *
 * @module
 */

import { assert, assertEquals, assertLess } from "@std/assert";
import { convBackwardNaive, convForwardNaive } from "../layers/conv_naive.ts";
import { convBackwardFast, convForwardFast } from "../layers/conv_fast.ts";
import { relError } from "../layers/gradient_check.ts";
import type { ConvGeometry } from "../layers/conv_params.ts";
import { col2im, im2col } from "../layers/kernels/im2col.ts";
import { columnKernel } from "../layers/kernels/im2col_wasm.ts";
import { maxPoolBackwardNaive, maxPoolForwardNaive } from "../layers/max_pool_naive.ts";
import {
  maxPoolBackwardFast,
  maxPoolForwardFast,
  maxPoolReluBackward,
  reluMaxPoolForward,
} from "../layers/max_pool_fast.ts";
import { ThreeLayerConvNet } from "../layers/models/three_layer_convnet.ts";
import { RandomState } from "../layers/random.ts";
import { reluBackward, reluForward } from "../layers/relu.ts";
import { convReluPoolBackward, convReluPoolForward } from "../layers/sandwich.ts";
import { affineBackward, affineForward } from "../layers/affine.ts";
import { affineReluBackward, affineReluForward } from "../layers/sandwich.ts";
import { softmaxLoss } from "../layers/softmax_loss.ts";
import { array, astype, type Tensor } from "../layers/tensor.ts";
import { normwiseError } from "./helpers.ts";

const geometries: ConvGeometry[] = [
  { N: 2, C: 3, H: 32, W: 32, HH: 7, WW: 7, stride: 1, pad: 3, outH: 32, outW: 32 },
  { N: 3, C: 3, H: 31, W: 31, HH: 3, WW: 3, stride: 2, pad: 1, outH: 16, outW: 16 },
  { N: 2, C: 2, H: 9, W: 9, HH: 3, WW: 3, stride: 3, pad: 0, outH: 3, outW: 3 },
  { N: 2, C: 2, H: 6, W: 9, HH: 2, WW: 3, stride: 2, pad: 2, outH: 5, outW: 6 },
  { N: 1, C: 1, H: 2, W: 2, HH: 4, WW: 4, stride: 1, pad: 1, outH: 1, outW: 1 },
  { N: 2, C: 4, H: 5, W: 5, HH: 1, WW: 1, stride: 1, pad: 0, outH: 5, outW: 5 },
  { N: 1, C: 2, H: 3, W: 7, HH: 3, WW: 2, stride: 1, pad: 0, outH: 1, outW: 6 },
];

const describe = (g: ConvGeometry) =>
  `x (${g.N}, ${g.C}, ${g.H}, ${g.W}) ${g.HH}×${g.WW} stride ${g.stride} pad ${g.pad}`;

Deno.test("the WebAssembly column kernel equals im2col and col2im bit for bit", () => {
  const kernel = columnKernel();
  assert(kernel !== null, "WebAssembly SIMD is available in Deno");
  const rs = new RandomState(0);
  for (const g of geometries) {
    const K = g.C * g.HH * g.WW, NP = g.N * g.outH * g.outW;
    const x = astype(rs.randn(g.N, g.C, g.H, g.W), "float32").data as Float32Array;
    const expected = new Float32Array(K * NP);
    im2col(x, g, expected);
    // Offset into a larger x, as the chunked layers read it.
    const padded = new Float32Array(x.length + 5);
    padded.set(x, 5);
    const cols = kernel.columns(g, g.N, K * NP);
    assert(cols !== null, "a few kilobytes of kernel memory");
    kernel.im2col(padded, 5, g);
    assertEquals(cols, expected, describe(g));

    const y = astype(rs.randn(K, NP), "float32").data as Float32Array;
    const want = new Float32Array(x.length);
    col2im(y, g, want);
    const dcols = kernel.columns(g, g.N, K * NP);
    assert(dcols !== null);
    dcols.set(y);
    const got = new Float32Array(x.length + 3).fill(9);
    kernel.col2imInto(g, got, 3);
    assertEquals(got.subarray(3), want, describe(g));
    assertEquals(Array.from(got.subarray(0, 3)), [9, 9, 9]);
  }
});

const edge = [0, -0, 1, -1, NaN, Infinity, -Infinity, 1e-45, -1e-45, 3.4e38, -3.4e38, 0.5];

Deno.test("float32 ReLU on bit patterns matches the float64 rule on every edge value, both NaN signs", () => {
  const x = array([...edge, 0], "float32");
  // The last value: a NaN with its sign bit set, as x86 arithmetic produces (0·∞).
  new Int32Array(x.data.buffer)[edge.length] = 0xffc00000 | 0;
  const { out, cache } = reluForward(x);
  const ref = reluForward(astype(x, "float64"));
  for (let i = 0; i < x.size; i++) {
    const a = out.data[i], b = ref.out.data[i];
    assert(Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b)), `x[${i}] = ${x.data[i]}: ${a} vs ${b}`);
  }
  assert(Object.is(out.data[1], 0), "relu(−0) is +0");
  assert(Number.isNaN(out.data[edge.length]), "a negative NaN stays NaN");
  const dout = array(Array.from({ length: x.size }, (_, i) => i + 1), "float32");
  const { dx } = reluBackward(dout, cache);
  const dref = reluBackward(astype(dout, "float64"), { x: astype(x, "float64") }).dx;
  assertEquals(Array.from(dx.data), Array.from(dref.data));
});

function poolCases(rs: RandomState): [string, Tensor][] {
  const relu = (t: Tensor) => reluForward(t).out;
  const signedZeros = astype(rs.randn(2, 3, 8, 8), "float32");
  for (let i = 0; i < signedZeros.size; i += 3) signedZeros.data[i] = i % 2 === 0 ? 0 : -0;
  const ints = astype(rs.randn(2, 2, 6, 6), "float32");
  for (let i = 0; i < ints.size; i++) ints.data[i] = Math.round(ints.data[i]); // many ties
  const nan = astype(rs.randn(1, 2, 4, 4), "float32");
  nan.data[5] = NaN;
  nan.data[20] = NaN;
  const inf = astype(rs.randn(1, 2, 4, 4), "float32");
  inf.data[3] = Infinity;
  inf.data[9] = -Infinity;
  return [
    ["randn", astype(rs.randn(3, 4, 10, 12), "float32")],
    ["after ReLU (ties at 0)", relu(astype(rs.randn(3, 4, 10, 12), "float32"))],
    ["signed zeros", signedZeros],
    ["integer ties", ints],
    ["NaN", nan],
    ["±∞", inf],
  ];
}

Deno.test("float32 2×2 pooling without branches equals the naive pool exactly (ties, ±0, NaN, ±∞)", () => {
  const rs = new RandomState(1);
  for (const [name, x] of poolCases(rs)) {
    const fast = maxPoolForwardFast(x), naive = maxPoolForwardNaive(x);
    for (let i = 0; i < fast.out.size; i++) {
      const a = fast.out.data[i], b = naive.out.data[i];
      assert(Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b)), `${name}: out[${i}] ${a} vs ${b}`);
    }
    const dout = astype(rs.randn(...fast.out.shape), "float32");
    assertEquals(maxPoolBackwardFast(dout, fast.cache).dx.data, maxPoolBackwardNaive(dout, naive.cache).dx.data, name);
  }
});

Deno.test("the column kernel declines a layout beyond its 2 GiB (the conv then uses JavaScript) without growing", () => {
  const kernel = columnKernel()!;
  const g: ConvGeometry = { N: 1, C: 1, H: 4, W: 4, HH: 1, WW: 1, stride: 1, pad: 0, outH: 4, outW: 4 };
  assertEquals(kernel.columns(g, 1, 2 ** 29), null);
  assert(kernel.memoryBytes() < 2 ** 30, "nothing was grown for the refused layout");
});

Deno.test("the fused ReLU + pool forward pass equals the two passes exactly (outputs and caches)", () => {
  const rs = new RandomState(6);
  const same = (a: ArrayLike<number>, b: ArrayLike<number>, what: string) => {
    assertEquals(a.length, b.length, what);
    for (let i = 0; i < a.length; i++) {
      assert(Object.is(a[i], b[i]) || (Number.isNaN(a[i]) && Number.isNaN(b[i])), `${what}[${i}]: ${a[i]} vs ${b[i]}`);
    }
  };
  const cases: [string, Tensor, object][] = [
    ...poolCases(rs).map(([name, x]): [string, Tensor, object] => [name, x, {}]),
    ["float64", rs.randn(2, 3, 8, 8), {}],
    ["3×3 stride 2 (general path)", astype(rs.randn(2, 2, 9, 9), "float32"), {
      poolHeight: 3,
      poolWidth: 3,
      stride: 2,
    }],
  ];
  for (const [name, x, param] of cases) {
    const fused = reluMaxPoolForward(x, param);
    const r = reluForward(x), p = maxPoolForwardFast(r.out, param);
    same(fused.relu.out.data, r.out.data, `${name}: relu out`);
    assert(fused.relu.cache.x === x, `${name}: relu cache holds x`);
    same(fused.pool.out.data, p.out.data, `${name}: pool out`);
    same(fused.pool.cache.x.data, r.out.data, `${name}: pool cache x`);
    same(fused.pool.cache.argmax!, p.cache.argmax!, `${name}: argmax`);
    assertEquals(fused.pool.cache.geometry, p.cache.geometry);
  }
});

Deno.test("the fused pool + ReLU backward pass equals the two passes exactly", () => {
  const rs = new RandomState(2);
  for (const dtype of ["float32", "float64"] as const) {
    const z = astype(rs.randn(2, 3, 8, 8), dtype);
    z.data[0] = 0; // a window whose maximum is blocked by the ReLU
    const r = reluForward(z), p = maxPoolForwardFast(r.out);
    const dout = astype(rs.randn(...p.out.shape), dtype);
    const expected = reluBackward(maxPoolBackwardFast(dout, p.cache).dx, r.cache).dx;
    assertEquals(maxPoolReluBackward(dout, p.cache, z).data, expected.data, dtype);
    // A naive pool's cache (no argmax) takes the unfused route.
    const naive = maxPoolForwardNaive(r.out);
    assertEquals(maxPoolReluBackward(dout, naive.cache, z).data, expected.data, `${dtype}, naive cache`);
  }
});

Deno.test("chunked fast conv equals the naive conv when chunks do not divide the batch (course shape, N = 100)", () => {
  const rs = new RandomState(3);
  const x = rs.randn(100, 3, 31, 31), w = rs.randn(25, 3, 3, 3), b = rs.randn(25), dout = rs.randn(100, 25, 16, 16);
  const param = { stride: 2, pad: 1 };
  const naive = convForwardNaive(x, w, b, param), ng = convBackwardNaive(dout, naive.cache);
  const fast = convForwardFast(x, w, b, param), fg = convBackwardFast(dout, fast.cache);
  for (const [name, a, e] of [["out", fast.out, naive.out], ["dx", fg.dx, ng.dx], ["dw", fg.dw, ng.dw]] as const) {
    assertLess(relError(a, e), 1e-9, `float64 ${name}`);
  }
  const f32 = (t: Tensor) => astype(t, "float32");
  const f = convForwardFast(f32(x), f32(w), f32(b), param), g = convBackwardFast(f32(dout), f.cache);
  for (const [name, a, e] of [["out", f.out, naive.out], ["dx", g.dx, ng.dx], ["dw", g.dw, ng.dw]] as const) {
    assertLess(normwiseError(a, e), 1e-6, `float32 ${name}`);
  }
});

Deno.test("ThreeLayerConvNet's gradients equal the public sandwich layers' (its input gradient skipped)", () => {
  const model = new ThreeLayerConvNet({ inputDim: [3, 12, 12], numFilters: 4, filterSize: 5, hiddenDim: 7, seed: 4 });
  const X = astype(new RandomState(5).randn(6, 3, 12, 12), "float32");
  const y = new Int32Array([0, 1, 2, 3, 4, 5]);
  const { grads } = model.loss(X, y);
  const { W1, b1, W2, b2, W3, b3 } = model.params;
  const l1 = convReluPoolForward(X, W1, b1, { stride: 1, pad: 2 }, { poolHeight: 2, poolWidth: 2, stride: 2 });
  const l2 = affineReluForward(l1.out, W2, b2);
  const l3 = affineForward(l2.out, W3, b3);
  const g3 = affineBackward(softmaxLoss(l3.out, y).dx, l3.cache);
  const g2 = affineReluBackward(g3.dx, l2.cache);
  const g1 = convReluPoolBackward(g2.dx, l1.cache);
  assertEquals(grads.W1.data, g1.dw.data);
  assertEquals(grads.b1.data, g1.db.data);
  assertEquals(grads.W2.data, g2.dw.data);
});
