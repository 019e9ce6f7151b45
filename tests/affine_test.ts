import { assertEquals, assertLess, assertThrows } from "@std/assert";
import { affineBackward, affineForward } from "../layers/affine.ts";
import { relError } from "../layers/gradient_check.ts";
import { RandomState } from "../layers/random.ts";
import { array, astype, linspace, reshape } from "../layers/tensor.ts";
import { type Arr, fixtureTensor, readFixture } from "./helpers.ts";

const fixture = await readFixture("basic_layers.json");

Deno.test("affineForward reproduces the notebook's fixed vector within 1e-8", () => {
  const [n, m] = [2, 3];
  const inputShape = [4, 5, 6];
  const d = 4 * 5 * 6;
  const x = reshape(linspace(-0.1, 0.5, n * d), [n, ...inputShape]);
  const w = reshape(linspace(-0.2, 0.3, d * m), [d, m]);
  const b = linspace(-0.3, 0.1, m);
  const { out } = affineForward(x, w, b);
  const correct = array([[1.49834967, 1.70660132, 1.91485297], [3.25553199, 3.5141327, 3.77273342]]);
  assertEquals(out.shape, [2, 3]);
  const err = relError(out, correct);
  console.log(`affineForward notebook vector: rel error ${err.toExponential(2)}`);
  assertLess(err, 1e-8);
});

// The seeded numeric gradient check of affineBackward is the catalogue's (layers/gradient_checks.ts, entry "affine"),
// run with its bound by tests/gradient_checks_test.ts.

Deno.test("affineBackward returns dx, dw and db of the shapes of x, w and b", () => {
  const rs = new RandomState(231);
  const x = rs.randn(10, 2, 3), w = rs.randn(6, 5), b = rs.randn(5);
  const { dx, dw, db } = affineBackward(rs.randn(10, 5), affineForward(x, w, b).cache);
  assertEquals(dx.shape, [10, 2, 3]);
  assertEquals(dw.shape, [6, 5]);
  assertEquals(db.shape, [5]);
});

Deno.test("affineForward and affineBackward agree with numpy within 1e-12", () => {
  const f = fixture.affine;
  const { out, cache } = affineForward(fixtureTensor(f.x), fixtureTensor(f.w), fixtureTensor(f.b));
  const { dx, dw, db } = affineBackward(fixtureTensor(f.dout), cache);
  assertEquals(out.shape, f.out.shape);
  assertEquals(dx.shape, f.dx.shape);
  for (const [got, want] of [[out, f.out], [dx, f.dx], [dw, f.dw], [db, f.db]] as const) {
    assertLess(relError(got, fixtureTensor(want)), 1e-12);
  }
});

Deno.test("affine layer keeps float32 in float32, close to float64", () => {
  const f = fixture.affine;
  const [x, w, b, dout] = [f.x, f.w, f.b, f.dout].map((a: Arr) => astype(fixtureTensor(a), "float32"));
  const { out, cache } = affineForward(x, w, b);
  const grads = affineBackward(dout, cache);
  assertEquals(out.dtype, "float32");
  for (const g of Object.values(grads)) assertEquals(g.dtype, "float32");
  assertLess(relError(astype(out, "float64"), fixtureTensor(f.out)), 1e-5);
  assertLess(relError(astype(grads.dx, "float64"), fixtureTensor(f.dx)), 1e-5);
  assertLess(relError(astype(grads.dw, "float64"), fixtureTensor(f.dw)), 1e-5);
  assertLess(relError(astype(grads.db, "float64"), fixtureTensor(f.db)), 1e-5);
});

Deno.test("affine layer rejects mismatched shapes and dtypes with the shapes in the message", () => {
  const rs = new RandomState(1);
  const x = rs.randn(4, 2, 3), w = rs.randn(6, 5), b = rs.randn(5);
  assertThrows(() => affineForward(x, rs.randn(7, 5), b), RangeError, "affineForward: x (4, 2, 3) (D = 6), w (7, 5)");
  assertThrows(() => affineForward(x, w, rs.randn(4)), RangeError, "b (4,)");
  assertThrows(() => affineForward(rs.randn(6), w, b), RangeError, "affineForward: x (6,) must have at least 2 axes");
  assertThrows(() => affineForward(x, rs.randn(6, 5, 1), b), RangeError, "w (6, 5, 1) must be 2-D");
  assertThrows(() => affineForward(astype(x, "float32"), w, b), TypeError, "affineForward: x is float32, w is float64");
  const { cache } = affineForward(x, w, b);
  assertThrows(
    () => affineBackward(rs.randn(4, 6), cache),
    RangeError,
    "affineBackward: dout (4, 6) must be (N, M) = (4, 5)",
  );
});
