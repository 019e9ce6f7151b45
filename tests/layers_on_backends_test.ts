// The layer suite on every gemm backend: each product-heavy layer and both
// models run once on the TS kernel and once on each other available backend,
// and must agree. Backends that cannot load here are reported as skipped.

import { assertLess } from "@std/assert";
import { affineBackward, affineForward } from "../layers/affine.ts";
import { convBackwardFast, convForwardFast } from "../layers/conv_fast.ts";
import { type GemmBackend, setGemmBackend, tsBackend } from "../layers/kernels/gemm.ts";
import { availableBackends } from "../layers/kernels/gemm_backends.ts";
import { evalNumericalGradientArray, relError } from "../layers/gradient_check.ts";
import { FullyConnectedNet } from "../layers/models/fully_connected_net.ts";
import { ThreeLayerConvNet } from "../layers/models/three_layer_convnet.ts";
import { RandomState } from "../layers/random.ts";
import { astype, type DType, type Tensor } from "../layers/tensor.ts";

/** Named outputs of one run of the suite. */
type Outputs = Record<string, Tensor | number>;

function runSuite(dtype: DType): Outputs {
  const rs = new RandomState(231);
  const cast = (t: Tensor) => astype(t, dtype);
  const out: Outputs = {};

  const x = cast(rs.randn(20, 3, 5, 4)), w = cast(rs.randn(60, 30)), b = cast(rs.randn(30));
  const affine = affineForward(x, w, b);
  const dAffine = affineBackward(cast(rs.randn(20, 30)), affine.cache);
  Object.assign(out, { affineOut: affine.out, affineDx: dAffine.dx, affineDw: dAffine.dw, affineDb: dAffine.db });

  const cx = cast(rs.randn(6, 3, 11, 11)), cw = cast(rs.randn(5, 3, 3, 3)), cb = cast(rs.randn(5));
  const conv = convForwardFast(cx, cw, cb, { stride: 2, pad: 1 });
  const dConv = convBackwardFast(cast(rs.randn(...conv.out.shape)), conv.cache);
  Object.assign(out, { convOut: conv.out, convDx: dConv.dx, convDw: dConv.dw, convDb: dConv.db });

  const fc = new FullyConnectedNet([40, 30], {
    inputDim: 48,
    numClasses: 7,
    normalization: "batchnorm",
    dropout: 0.25,
    reg: 0.1,
    weightScale: 5e-2,
    dtype,
    seed: 1,
    random: new RandomState(5),
  });
  const fcLoss = fc.loss(cast(rs.randn(16, 48)), new Int32Array(16).map((_, i) => i % 7));
  out.fcLoss = fcLoss.loss;
  for (const [name, g] of Object.entries(fcLoss.grads)) out[`fc.${name}`] = g;

  const cnn = new ThreeLayerConvNet({
    inputDim: [3, 12, 12],
    numFilters: 4,
    filterSize: 5,
    hiddenDim: 20,
    weightScale: 1e-1,
    dtype,
    random: new RandomState(7),
  });
  const cnnLoss = cnn.loss(cast(rs.randn(8, 3, 12, 12)), new Int32Array(8).map((_, i) => i % 10));
  out.cnnLoss = cnnLoss.loss;
  for (const [name, g] of Object.entries(cnnLoss.grads)) out[`cnn.${name}`] = g;
  return out;
}

function withBackend<T>(backend: GemmBackend, f: () => T): T {
  const previous = setGemmBackend(backend);
  try {
    return f();
  } finally {
    setGemmBackend(previous);
  }
}

/** Largest difference over the largest reference magnitude (at least 1e-2), per output. */
function worstDifference(actual: Outputs, expected: Outputs): [string, number] {
  let worst: [string, number] = ["", 0];
  for (const [name, ref] of Object.entries(expected)) {
    const got = actual[name];
    let diff: number, scale: number;
    if (typeof ref === "number") {
      diff = Math.abs((got as number) - ref);
      scale = Math.abs(ref);
    } else {
      diff = 0;
      scale = 0;
      const g = (got as Tensor).data;
      for (let i = 0; i < ref.data.length; i++) {
        diff = Math.max(diff, Math.abs(g[i] - ref.data[i]));
        scale = Math.max(scale, Math.abs(ref.data[i]));
      }
    }
    // Biases that feed batch norm have a true gradient of 0 (only rounding noise around 1e-17), so
    // scales below 1e-2 are measured against 1e-2 instead of against their own noise.
    const e = diff / Math.max(scale, 1e-2);
    if (!(e <= worst[1])) worst = [name, e];
  }
  return worst;
}

const backends = availableBackends().filter((b) => b.name !== "ts");
const reference = { float32: runSuite("float32"), float64: runSuite("float64") };

for (const info of backends) {
  for (const dtype of ["float32", "float64"] as const) {
    // float32 products on another kernel round differently; 1e-4 of the scale is ~1000 float32 ulps of slack
    // over a few layers of accumulation, while a wrong transpose or offset is off by order 1.
    const tolerance = dtype === "float32" ? 1e-4 : 1e-12;
    Deno.test({
      name: `layers and models on the ${info.name} backend match the ts kernel in ${dtype}` +
        (info.available ? "" : ` (skipped: ${info.reason})`),
      ignore: !info.available,
      fn() {
        const outputs = withBackend(info.backend!, () => runSuite(dtype));
        const [name, error] = worstDifference(outputs, reference[dtype]);
        assertLess(error, tolerance, `worst output ${name}`);
      },
    });
  }
  Deno.test({
    name: `convBackwardFast passes its float64 gradient check on the ${info.name} backend` +
      (info.available ? "" : ` (skipped: ${info.reason})`),
    ignore: !info.available,
    fn() {
      withBackend(info.backend!, () => {
        const rs = new RandomState(231);
        const x = rs.randn(4, 3, 5, 5), w = rs.randn(2, 3, 3, 3), b = rs.randn(2);
        const param = { stride: 1, pad: 1 };
        const { out, cache } = convForwardFast(x, w, b, param);
        const dout = rs.randn(...out.shape);
        const { dx, dw } = convBackwardFast(dout, cache);
        const dxNum = evalNumericalGradientArray((t) => convForwardFast(t, w, b, param).out, x, dout);
        const dwNum = evalNumericalGradientArray((t) => convForwardFast(x, t, b, param).out, w, dout);
        // The same bound tests/conv_test.ts uses on the ts kernel.
        assertLess(relError(dx, dxNum), 5e-8);
        assertLess(relError(dw, dwNum), 5e-8);
      });
    },
  });
}

Deno.test("the ts reference run of the backend suite is itself deterministic", () => {
  const again = withBackend(tsBackend, () => runSuite("float64"));
  const [name, error] = worstDifference(again, reference.float64);
  assertLess(error, Number.MIN_VALUE, `worst output ${name}`);
});
