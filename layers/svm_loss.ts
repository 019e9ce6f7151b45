/**
 * The multiclass SVM (hinge) loss over class scores, with its gradient.
 *
 * @module
 */

import type { Labels } from "./labels.ts";
import { checkScoresAndLabels, type LossResult } from "./softmax_loss.ts";
import { zerosLike } from "./tensor.ts";
import type { Tensor } from "./tensor.ts";

/**
 * Multiclass SVM loss with margin 1, as the course:
 * `mean_i Σ_{j≠y[i]} max(0, x[i, j] − x[i, y[i]] + 1)`, and its gradient
 * (a subgradient at the hinge: a margin of exactly 0 counts as inactive).
 *
 * @param x scores, shape (N, C), float32 or float64
 * @param y labels, N integers in [0, C)
 * @returns `loss` (a number, accumulated in float64) and `dx` (N, C) in the dtype of `x`
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { array } from "./tensor.ts";
 * import { svmLoss } from "./svm_loss.ts";
 *
 * assertEquals(svmLoss(array([[0, 0, 0]]), new Int32Array([0])).loss, 2);
 * ```
 */
export function svmLoss(x: Tensor, y: Labels): LossResult {
  checkScoresAndLabels("svmLoss", x, y);
  const [n, c] = x.shape;
  const dx = zerosLike(x);
  const s = x.data, g = dx.data;
  let loss = 0;
  for (let i = 0; i < n; i++) {
    const row = i * c;
    const yi = y[i];
    const correct = s[row + yi];
    let positive = 0;
    for (let j = 0; j < c; j++) {
      if (j === yi) continue;
      const margin = s[row + j] - correct + 1;
      if (margin > 0) {
        loss += margin;
        g[row + j] = 1 / n;
        positive++;
      }
    }
    g[row + yi] = -positive / n;
  }
  return { loss: loss / n, dx };
}
