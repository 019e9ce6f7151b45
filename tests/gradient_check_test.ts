import { assertAlmostEquals, assertEquals, assertLess, assertThrows } from "@std/assert";
import {
  evalNumericalGradient,
  evalNumericalGradientArray,
  gradCheckSparse,
  relError,
} from "../layers/gradient_check.ts";
import { array, map, sum, toNested } from "../layers/tensor.ts";

Deno.test("evalNumericalGradient matches the analytic gradient of a cubic within 1e-9", () => {
  const x = array([[0.5, -1.5], [2, 3]]);
  const f = (t: typeof x) => sum(map(t, (v) => v ** 3));
  const numeric = evalNumericalGradient(f, x);
  const analytic = map(x, (v) => 3 * v * v);
  assertLess(relError(numeric, analytic), 1e-9);
  assertEquals(toNested(x), [[0.5, -1.5], [2, 3]], "x is restored after probing");
});

Deno.test("evalNumericalGradientArray contracts with dout", () => {
  const x = array([1, 2, 3]);
  const dout = array([0.5, -1, 2]);
  // f(x) = sin(x) elementwise, so d/dx sum(f(x)·dout) = cos(x)·dout.
  const numeric = evalNumericalGradientArray((t) => map(t, Math.sin), x, dout);
  const analytic = map(x, (v, i) => Math.cos(v) * dout.data[i]);
  assertLess(relError(numeric, analytic), 1e-9);
});

Deno.test("relError follows the course formula and propagates NaN", () => {
  assertAlmostEquals(relError(array([1, 2]), array([1, 2.000002])), 0.000002 / 4.000002, 1e-15);
  assertEquals(relError(array([0, 0]), array([0, 0])), 0);
  // Tiny absolute differences near zero are measured against the 1e-8 floor.
  assertAlmostEquals(relError(array([0]), array([1e-12])), 1e-4, 1e-12);
  assertEquals(relError(array([1, NaN]), array([1, 1])), NaN);
  assertThrows(() => relError(array([1]), array([1, 2])), RangeError, "differ in size");
});

Deno.test("gradCheckSparse finds a wrong analytic gradient", () => {
  const x = array([1, 2, 3, 4]);
  const f = (t: typeof x) => sum(map(t, (v) => v * v));
  let u = 0;
  const random = () => (u = (u + 0.37) % 1);
  const good = gradCheckSparse(f, x, map(x, (v) => 2 * v), { numTests: 5, random });
  assertLess(Math.max(...good.map((c) => c.relError)), 1e-9);
  const bad = gradCheckSparse(f, x, map(x, (v) => 2.2 * v), { numTests: 5, random });
  for (const c of bad) assertLess(0.04, c.relError);
});
