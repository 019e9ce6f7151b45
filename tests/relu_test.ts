import { assertEquals, assertLess, assertThrows } from "@std/assert";
import { relError } from "../layers/gradient_check.ts";
import { reluBackward, reluForward } from "../layers/relu.ts";
import { array, astype, linspace, reshape, toNested } from "../layers/tensor.ts";
import { fixtureTensor, readFixture } from "./helpers.ts";

const fixture = await readFixture("basic_layers.json");

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

// The seeded numeric gradient check of reluBackward is the catalogue's (layers/gradient_checks.ts, entry "relu"),
// run with its bound by tests/gradient_checks_test.ts.

Deno.test("reluForward and reluBackward agree with numpy exactly", () => {
  const f = fixture.relu;
  const { out, cache } = reluForward(fixtureTensor(f.x));
  const { dx } = reluBackward(fixtureTensor(f.dout), cache);
  assertEquals(relError(out, fixtureTensor(f.out)), 0);
  assertEquals(relError(dx, fixtureTensor(f.dx)), 0);
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
