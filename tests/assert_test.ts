import {
  assert,
  assertAlmostEquals,
  assertEquals,
  assertGreater,
  AssertionError,
  assertLess,
  assertNotEquals,
  assertRejects,
  assertStringIncludes,
  assertThrows,
} from "@std/assert";

// The stand-in must fail exactly where @std/assert fails, or tests built on it could not fail.

Deno.test("assert and assertEquals throw AssertionError on mismatch", () => {
  assertThrows(() => assert(false), AssertionError);
  assertThrows(() => assertEquals({ a: [1, 2] }, { a: [1, 3] }), AssertionError, "Values are not equal");
  assertEquals({ a: [1, 2] }, { a: [1, 2] });
  assertThrows(() => assertNotEquals([1], [1]), AssertionError);
});

Deno.test("assertAlmostEquals uses a relative 1e-7 tolerance by default", () => {
  assertAlmostEquals(1e9, 1e9 + 50);
  assertThrows(() => assertAlmostEquals(1, 1.001), AssertionError, "to be close to");
  assertAlmostEquals(1, 1.001, 1e-2);
  assertThrows(() => assertAlmostEquals(NaN, 1, 1), AssertionError);
});

Deno.test("ordering assertions fail on NaN and on equality", () => {
  assertThrows(() => assertLess(NaN, 1), AssertionError);
  assertThrows(() => assertLess(1, 1), AssertionError);
  assertThrows(() => assertGreater(1, 1), AssertionError);
  assertLess(1, 2);
});

Deno.test("assertThrows checks class and message, and fails when nothing throws", () => {
  assertThrows(() => assertThrows(() => {}), AssertionError, "Expected function to throw");
  assertThrows(
    () =>
      assertThrows(() => {
        throw new TypeError("x");
      }, RangeError),
    AssertionError,
    "RangeError",
  );
  assertThrows(
    () =>
      assertThrows(
        () => {
          throw new Error("abc");
        },
        Error,
        "zzz",
      ),
    AssertionError,
    'include "zzz"',
  );
  const e = assertThrows(
    () => {
      throw new RangeError("shape (2, 3)");
    },
    RangeError,
    "(2, 3)",
  );
  assertStringIncludes(e.message, "shape");
});

Deno.test("assertRejects awaits the promise", async () => {
  await assertRejects(() => Promise.reject(new Error("boom")), Error, "boom");
  await assertRejects(() => assertRejects(() => Promise.resolve(1)), AssertionError);
});

Deno.test("assertEquals names the first differing index of large typed arrays quickly", () => {
  const a = new Float64Array(4_000_000), b = new Float64Array(4_000_000);
  b[3_999_999] = 1;
  assertThrows(() => assertEquals(a, b), AssertionError, "first difference at index 3999999: 0 vs 1");
  assertThrows(
    () => assertEquals<ArrayLike<number>>(new Float32Array(2), new Float64Array(2)),
    AssertionError,
    "Float32Array(2) vs Float64Array(2)",
  );
  assertThrows(() => assertEquals(new Float64Array([NaN]), new Float64Array([0])), AssertionError);
  assertEquals(new Float64Array([NaN, 1]), new Float64Array([NaN, 1]));
});
