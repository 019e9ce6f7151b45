import { assertEquals, assertStrictEquals, assertThrows } from "@std/assert";
import {
  add,
  argmaxRows,
  array,
  astype,
  linspace,
  reshape,
  stridesOf,
  Tensor,
  toNested,
  transpose,
  zeros,
} from "../layers/tensor.ts";

Deno.test("array and toNested round-trip nested numbers with their shape", () => {
  const nested = [[[1, 2], [3, 4], [5, 6]]];
  const t = array(nested);
  assertEquals(t.shape, [1, 3, 2]);
  assertEquals(t.dtype, "float64");
  assertEquals(toNested(t), nested);
  assertEquals(array([1.5, 2], "float32").dtype, "float32");
  assertEquals(toNested(array(7)), 7);
});

Deno.test("array rejects ragged input and names where", () => {
  assertThrows(() => array([[1, 2], [3]]), RangeError, "ragged input at [1]");
});

Deno.test("Tensor refuses data whose length does not match the shape", () => {
  assertThrows(() => new Tensor(new Float64Array(5), [2, 3]), RangeError, "(2, 3) holds 6 elements but data has 5");
});

Deno.test("reshape shares storage and infers one -1 axis", () => {
  const t = zeros([2, 6]);
  const r = reshape(t, [3, -1]);
  assertEquals(r.shape, [3, 4]);
  assertStrictEquals(r.data, t.data);
  assertThrows(() => reshape(t, [5, -1]), RangeError, "cannot reshape Tensor(2, 6) float64 into (5, -1)");
});

Deno.test("transpose permutes axes like np.transpose", () => {
  const t = reshape(array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23]), [
    2,
    3,
    4,
  ]);
  const p = transpose(t, [2, 0, 1]);
  assertEquals(p.shape, [4, 2, 3]);
  // np.arange(24).reshape(2, 3, 4).transpose(2, 0, 1)[3, 1] == [15, 19, 23]
  assertEquals((toNested(p) as number[][][])[3], [[3, 7, 11], [15, 19, 23]]);
  assertThrows(() => transpose(t, [0, 0, 1]), RangeError, "not a permutation");
});

Deno.test("linspace includes both ends as numpy does", () => {
  // np.linspace(-0.1, 0.5, 4).tolist(), bit for bit
  assertEquals(toNested(linspace(-0.1, 0.5, 4)), [-0.1, 0.09999999999999998, 0.29999999999999993, 0.5]);
  assertEquals(toNested(linspace(2, 3, 1)), [2]);
});

Deno.test("elementwise helpers check shapes and keep dtype", () => {
  assertEquals(toNested(add(array([1, 2]), array([3, 4]))), [4, 6]);
  assertThrows(() => add(array([1, 2]), array([1, 2, 3])), RangeError, "(2,) and b (3,) must have the same shape");
  assertEquals(astype(array([1.1]), "float32").dtype, "float32");
});

Deno.test("argmaxRows takes the first maximum of each row", () => {
  assertEquals([...argmaxRows(array([[1, 3, 3], [5, 0, 1]]))], [1, 0]);
});

Deno.test("stridesOf gives row-major element strides", () => {
  assertEquals(stridesOf([2, 3, 4]), [12, 4, 1]);
});
