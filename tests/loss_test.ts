import { assertAlmostEquals, assertEquals, assertLess, assertThrows } from "@std/assert";
import { evalNumericalGradient, relError } from "../layers/gradient_check.ts";
import { softmaxLoss } from "../layers/softmax_loss.ts";
import { svmLoss } from "../layers/svm_loss.ts";
import { RandomState } from "../layers/random.ts";
import { array, astype, scale } from "../layers/tensor.ts";
import { type Arr, fixtureTensor, readFixture, scalarRelError } from "./helpers.ts";

interface LossCase {
  x: Arr;
  y: number[];
  loss: number;
  dx: Arr;
}
const fixture = await readFixture("basic_layers.json");

// Centered differences of a loss L in float64 carry a rounding error of about
// eps·L/h ≈ 2e-10 (L ≈ 9) absolute; against gradient entries of about 1/(10·N)
// (softmax) and 1/N (SVM) that is a relative floor near 1e-8 and 5e-9, the
// "~1e-8" and "~1e-9" of the notebook. The bounds sit a few times above it.
for (
  const [name, fn, expected, tol] of [
    ["softmaxLoss", softmaxLoss, Math.log(10), 5e-8],
    ["svmLoss", svmLoss, 9, 2e-8],
  ] as const
) {
  Deno.test(`${name} starts near ${expected.toFixed(3)} and matches numeric gradients within ${tol} (N 50, C 10)`, () => {
    // The notebook's draws: np.random.seed(231); x = 0.001 * randn(50, 10); y = randint(10, size=50).
    const rs = new RandomState(231);
    const x = scale(rs.randn(50, 10), 0.001), y = Int32Array.from(rs.randint(10, undefined, [50]).data);
    const { loss, dx } = fn(x, y);
    assertAlmostEquals(loss, expected, 0.01);
    const dxNum = evalNumericalGradient((t) => fn(t, y).loss, x);
    const err = relError(dx, dxNum);
    console.log(`${name}: loss ${loss}, dx rel error ${err.toExponential(2)}`);
    assertLess(err, tol);
  });
}

for (const key of ["softmax", "svm"] as const) {
  const fn = key === "softmax" ? softmaxLoss : svmLoss;
  Deno.test(`${fn.name} agrees with numpy within 1e-12, including scores in the thousands`, () => {
    for (const c of fixture[key] as LossCase[]) {
      const { loss, dx } = fn(fixtureTensor(c.x), Int32Array.from(c.y));
      assertLess(scalarRelError(loss, c.loss), 1e-12);
      assertLess(relError(dx, fixtureTensor(c.dx)), 1e-12);
    }
  });

  Deno.test(`${fn.name} keeps float32 scores in a float32 dx, close to float64`, () => {
    const c = (fixture[key] as LossCase[])[0];
    const { loss, dx } = fn(astype(fixtureTensor(c.x), "float32"), Int32Array.from(c.y));
    assertEquals(dx.dtype, "float32");
    assertAlmostEquals(loss, c.loss, 1e-5 * Math.abs(c.loss));
    assertLess(relError(astype(dx, "float64"), fixtureTensor(c.dx)), 1e-5);
  });

  Deno.test(`${fn.name} rejects labels out of range, wrong label counts and non-2-D scores`, () => {
    const x = array([[1, 2, 3], [4, 5, 6]]);
    assertThrows(() => fn(x, new Int32Array([0, 3])), RangeError, `${fn.name}: label y[1] = 3 is outside [0, 3)`);
    assertThrows(() => fn(x, new Int32Array([-1, 0])), RangeError, "label y[0] = -1");
    assertThrows(() => fn(x, new Int32Array([0])), RangeError, `${fn.name}: y has 1 labels but x (2, 3) has 2 rows`);
    assertThrows(() => fn(array([1, 2]), new Int32Array([0])), RangeError, `${fn.name}: x (2,) must be 2-D`);
  });
}

Deno.test("softmaxLoss stays finite for scores of ±1e4", () => {
  const { loss, dx } = softmaxLoss(array([[1e4, -1e4, 0], [-1e4, 1e4, 0]]), new Int32Array([1, 1]));
  assertAlmostEquals(loss, 1e4, 1e-9);
  assertEquals(dx.data.every(Number.isFinite), true);
  assertAlmostEquals(dx.data[0], 0.5, 1e-12);
  assertAlmostEquals(dx.data[1], -0.5, 1e-12);
});
