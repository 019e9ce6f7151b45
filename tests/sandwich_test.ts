import { assertEquals, assertLess } from "@std/assert";
import type { BatchnormParam } from "../layers/batchnorm.ts";
import { evalNumericalGradientArray, relError } from "../layers/gradient_check.ts";
import { RandomState } from "../layers/random.ts";
import {
  affineBatchnormReluBackward,
  affineBatchnormReluForward,
  affineLayernormReluBackward,
  affineLayernormReluForward,
  affineReluBackward,
  affineReluForward,
  convBatchnormReluBackward,
  convBatchnormReluForward,
  convReluBackward,
  convReluForward,
  convReluPoolBackward,
  convReluPoolForward,
} from "../layers/sandwich.ts";
import { astype, full, type Tensor } from "../layers/tensor.ts";
import { maxAbs } from "./helpers.ts";

// Centered differences in float64 through a ReLU: the course's "below 1e-7 is good".
const TOL = 1e-7;

/**
 * Checks every analytic gradient of a block against numeric ones. `forward`
 * maps the inputs (in `inputs` order) to the block output; `grads` are the
 * analytic gradients keyed `d<name>`. Inputs named in `zero` have an exactly
 * zero true gradient (a bias just before batch norm, which subtracts it again):
 * a relative error there only compares rounding noise, so both gradients must
 * instead be zero up to that noise.
 */
function check(
  label: string,
  forward: (...inputs: Tensor[]) => Tensor,
  inputs: Record<string, Tensor>,
  dout: Tensor,
  grads: { [k: string]: Tensor } | object,
  zero: string[] = [],
): void {
  const names = Object.keys(inputs);
  const values = Object.values(inputs);
  const errors: string[] = [];
  for (const [i, name] of names.entries()) {
    const num = evalNumericalGradientArray(
      (t) => forward(...values.map((v, j) => (j === i ? t : v))),
      inputs[name],
      dout,
    );
    const analytic = (grads as Record<string, Tensor>)[`d${name}`];
    assertEquals(analytic.shape, inputs[name].shape, `d${name} shape`);
    if (zero.includes(name)) {
      errors.push(
        `d${name} max |analytic| ${maxAbs(analytic).toExponential(2)}, |numeric| ${maxAbs(num).toExponential(2)}`,
      );
      // Analytic: sums of ±terms that cancel exactly up to rounding; numeric: eps·|out|/h.
      assertLess(maxAbs(analytic), 1e-12, `${label}: d${name} should vanish`);
      assertLess(maxAbs(num), 1e-8, `${label}: numeric d${name} should vanish`);
      continue;
    }
    const err = relError(analytic, num);
    errors.push(`d${name} ${err.toExponential(2)}`);
    assertLess(err, TOL, `${label}: d${name}`);
  }
  console.log(`${label}: ${errors.join(", ")}`);
}

/**
 * A block under gradient check: its inputs and `dout` drawn from seed 231 in
 * the order written (the notebook's: x, w, b, dout, then gamma, beta), its
 * forward pass from `bnParam` (used by batch-norm blocks, in train mode) and
 * the inputs in that order, and its backward pass.
 */
interface Block {
  name: string;
  shapes: string;
  draw(rs: RandomState): Record<string, Tensor> & { dout: Tensor };
  forward(bnParam: BatchnormParam, ...inputs: Tensor[]): { out: Tensor; cache: unknown };
  backward(dout: Tensor, cache: unknown): object;
  /** Whether the block holds a batch norm, whose running averages (one per channel) forward must set. */
  batchnorm?: boolean;
  /** Inputs with an exactly zero true gradient (see {@link check}). */
  zero?: string[];
}

const convParam = { stride: 1, pad: 1 };
const poolParam = { poolHeight: 2, poolWidth: 2, stride: 2 };

/** The draws of both affine–norm–ReLU blocks: x (4, 3, 4), w (12, 10), b, dout (4, 10), gamma, beta. */
const affineNormDraw = (rs: RandomState) => ({
  x: rs.randn(4, 3, 4),
  w: rs.randn(12, 10),
  b: rs.randn(10),
  dout: rs.randn(4, 10),
  gamma: rs.randn(10),
  beta: rs.randn(10),
});

const BLOCKS: Block[] = [
  {
    name: "affineRelu",
    shapes: "x (2, 3, 4), w (12, 10)",
    draw: (rs) => ({ x: rs.randn(2, 3, 4), w: rs.randn(12, 10), b: rs.randn(10), dout: rs.randn(2, 10) }),
    forward: (_, x, w, b) => affineReluForward(x, w, b),
    backward: affineReluBackward,
  },
  {
    name: "affineBatchnormRelu",
    shapes: "x (4, 3, 4), w (12, 10)",
    draw: affineNormDraw,
    forward: (bnParam, x, w, b, gamma, beta) => affineBatchnormReluForward(x, w, b, gamma, beta, bnParam),
    backward: affineBatchnormReluBackward,
    batchnorm: true,
    zero: ["b"],
  },
  {
    name: "affineLayernormRelu",
    shapes: "x (4, 3, 4), w (12, 10)",
    draw: affineNormDraw,
    forward: (_, x, w, b, gamma, beta) => affineLayernormReluForward(x, w, b, gamma, beta, {}),
    backward: affineLayernormReluBackward,
  },
  {
    name: "convRelu",
    shapes: "x (2, 3, 8, 8), w (3, 3, 3, 3), pad 1",
    draw: (rs) => ({ x: rs.randn(2, 3, 8, 8), w: rs.randn(3, 3, 3, 3), b: rs.randn(3), dout: rs.randn(2, 3, 8, 8) }),
    forward: (_, x, w, b) => convReluForward(x, w, b, convParam),
    backward: convReluBackward,
  },
  {
    name: "convReluPool",
    shapes: "notebook: x (2, 3, 16, 16), w (3, 3, 3, 3), pool 2×2/2",
    draw: (rs) => ({ x: rs.randn(2, 3, 16, 16), w: rs.randn(3, 3, 3, 3), b: rs.randn(3), dout: rs.randn(2, 3, 8, 8) }),
    forward: (_, x, w, b) => convReluPoolForward(x, w, b, convParam, poolParam),
    backward: convReluPoolBackward,
  },
  {
    name: "convBatchnormRelu",
    shapes: "x (2, 3, 6, 6), w (4, 3, 3, 3), pad 1",
    draw: (rs) => ({
      x: rs.randn(2, 3, 6, 6),
      w: rs.randn(4, 3, 3, 3),
      b: rs.randn(4),
      dout: rs.randn(2, 4, 6, 6),
      gamma: rs.randn(4),
      beta: rs.randn(4),
    }),
    forward: (bnParam, x, w, b, gamma, beta) => convBatchnormReluForward(x, w, b, gamma, beta, convParam, bnParam),
    backward: convBatchnormReluBackward,
    batchnorm: true,
    zero: ["b"],
  },
];

for (const block of BLOCKS) {
  Deno.test(`${block.name}Backward matches numeric gradients (${block.shapes})`, () => {
    const { dout, ...inputs } = block.draw(new RandomState(231));
    const bnParam: BatchnormParam = { mode: "train" };
    const { out, cache } = block.forward(bnParam, ...Object.values(inputs));
    assertEquals(out.shape, dout.shape);
    if (block.batchnorm) {
      assertEquals(bnParam.runningMean?.shape, inputs.gamma.shape);
      assertEquals(bnParam.runningVar?.shape, inputs.gamma.shape);
    }
    check(
      block.name,
      (...t) => block.forward({ mode: "train" }, ...t).out,
      inputs,
      dout,
      block.backward(dout, cache),
      block.zero,
    );
  });
}

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
