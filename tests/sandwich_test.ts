import { assertEquals, assertLess } from "@std/assert";
import type { BatchnormParam } from "../layers/batchnorm.ts";
import { relError } from "../layers/gradient_check.ts";
import { RandomState } from "../layers/random.ts";
import {
  affineBatchnormReluForward,
  convBatchnormReluForward,
  convReluPoolBackward,
  convReluPoolForward,
} from "../layers/sandwich.ts";
import { astype, full, type Tensor } from "../layers/tensor.ts";

// The gradient checks of every sandwich layer are in the catalogue (layers/gradient_checks.ts), asserted by
// tests/gradient_checks_test.ts.

Deno.test("batch-norm sandwiches set running averages of one value per channel in train mode", () => {
  const rs = new RandomState(231);
  const bnParam: BatchnormParam = { mode: "train" };
  const gamma = rs.randn(10), beta = rs.randn(10);
  const a = affineBatchnormReluForward(rs.randn(4, 3, 4), rs.randn(12, 10), rs.randn(10), gamma, beta, bnParam);
  assertEquals(a.out.shape, [4, 10]);
  assertEquals([bnParam.runningMean?.shape, bnParam.runningVar?.shape], [[10], [10]]);
  const convParam: BatchnormParam = { mode: "train" };
  const c = convBatchnormReluForward(
    rs.randn(2, 3, 6, 6),
    rs.randn(4, 3, 3, 3),
    rs.randn(4),
    rs.randn(4),
    rs.randn(4),
    { stride: 1, pad: 1 },
    convParam,
  );
  assertEquals(c.out.shape, [2, 4, 6, 6]);
  assertEquals([convParam.runningMean?.shape, convParam.runningVar?.shape], [[4], [4]]);
});

Deno.test("sandwich layers keep float32 in float32, close to float64", () => {
  const rs = new RandomState(0);
  const x = rs.randn(2, 3, 8, 8), w = rs.randn(3, 3, 3, 3), b = rs.randn(3), dout = rs.randn(2, 3, 4, 4);
  const f32 = (t: Tensor) => astype(t, "float32");
  const convParam = { stride: 1, pad: 1 };
  const r64 = convReluPoolForward(x, w, b, convParam);
  const r32 = convReluPoolForward(f32(x), f32(w), f32(b), convParam);
  assertEquals(r32.out.dtype, "float32");
  assertLess(relError(astype(r32.out, "float64"), r64.out), 1e-5);
  const g64 = convReluPoolBackward(dout, r64.cache);
  const g32 = convReluPoolBackward(f32(dout), r32.cache);
  for (const k of ["dx", "dw", "db"] as const) {
    assertEquals(g32[k].dtype, "float32");
    assertLess(relError(astype(g32[k], "float64"), g64[k]), 1e-4);
  }
  const a = affineBatchnormReluForward(
    f32(x),
    f32(rs.randn(192, 5)),
    full([5], 0, "float32"),
    full([5], 1, "float32"),
    full([5], 0, "float32"),
    {
      mode: "train",
    },
  );
  assertEquals(a.out.dtype, "float32");
});
