import { assertEquals, assertLess, assertThrows } from "@std/assert";
import { evalNumericalGradientArray, relError } from "../layers/gradient_check.ts";
import { reluBackward, reluForward } from "../layers/relu.ts";
import { array, astype, linspace, reshape, Tensor, toNested } from "../layers/tensor.ts";

interface Arr {
  shape: number[];
  data: number[];
}
const fixture = JSON.parse(await Deno.readTextFile(new URL("./fixtures/basic_layers.json", import.meta.url)));
const tensor = (a: Arr) => new Tensor(Float64Array.from(a.data), a.shape);

// A small seeded normal generator (mulberry32 + Box–Muller), enough for gradient checks.
function randnFactory(seed: number): (...shape: number[]) => Tensor {
  let s = seed >>> 0;
  const uniform = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return (...shape) => {
    const d = new Float64Array(shape.reduce((p, v) => p * v, 1));
    for (let i = 0; i < d.length; i++) {
      d[i] = Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
    }
    return new Tensor(d, shape);
  };
}

Deno.test("reluForward reproduces the notebook's fixed vector within 1e-7", () => {
  const x = reshape(linspace(-0.5, 0.5, 12), [3, 4]);
  const { out } = reluForward(x);
  const correct = array([
    [0, 0, 0, 0],
    [0, 0, 0.04545455, 0.13636364],
    [0.22727273, 0.31818182, 0.40909091, 0.5],
  ]);
  assertLess(relError(out, correct), 1e-7);
});

Deno.test("reluBackward matches numeric gradients within 1e-9 (x 10 × 10)", () => {
  const randn = randnFactory(231);
  const x = randn(10, 10), dout = randn(10, 10);
  const { dx } = reluBackward(dout, reluForward(x).cache);
  const dxNum = evalNumericalGradientArray((t) => reluForward(t).out, x, dout);
  const err = relError(dx, dxNum);
  console.log(`reluBackward gradient check: dx ${err.toExponential(2)}`);
  assertLess(err, 1e-9);
});

Deno.test("reluForward and reluBackward agree with numpy exactly", () => {
  const f = fixture.relu;
  const { out, cache } = reluForward(tensor(f.x));
  const { dx } = reluBackward(tensor(f.dout), cache);
  assertEquals(relError(out, tensor(f.out)), 0);
  assertEquals(relError(dx, tensor(f.dx)), 0);
});

Deno.test("relu keeps float32 in float32 and propagates NaN", () => {
  const x = array([[-1, 2, NaN]], "float32");
  const { out, cache } = reluForward(x);
  assertEquals(out.dtype, "float32");
  assertEquals(toNested(out), [[0, 2, NaN]]);
  const { dx } = reluBackward(array([[5, 6, 7]], "float32"), cache);
  assertEquals(dx.dtype, "float32");
  assertEquals(toNested(dx), [[0, 6, 0]]);
});

Deno.test("reluBackward rejects a dout of another shape or dtype", () => {
  const { cache } = reluForward(array([[1, 2, 3]]));
  assertThrows(() => reluBackward(array([1, 2, 3]), cache), RangeError, "reluBackward: dout (3,) and x (1, 3)");
  assertThrows(() => reluBackward(astype(array([[1, 2, 3]]), "float32"), cache), TypeError, "reluBackward");
});
