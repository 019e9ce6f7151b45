/**
 * A trained model's evaluation on held-out images: its accuracy, the
 * confusion matrix and the accuracy of every class, as plain data a Web
 * Worker can post and a report can chart (`reports/confusion.ts`).
 *
 * @module
 */

import type { Labels, Model } from "../layers/models/model.ts";
import { argmaxRows, formatShape, type Tensor } from "../layers/tensor.ts";
import { sliceRows } from "./check_accuracy.ts";

/** What {@link evaluateModel} measured. */
export interface Evaluation {
  /** Which images: `"test"` (the test split) or `"validation"`. */
  split: "test" | "validation";
  /** Class i's name. */
  classNames: string[];
  /** Images evaluated. */
  count: number;
  /** Fraction predicted right, in [0, 1]. */
  accuracy: number;
  /** `matrix[t][p]`: images of true class t predicted as class p (rows sum to the class counts). */
  matrix: number[][];
  /** Per class: the fraction of its images predicted right (null for a class with no images). */
  perClassAccuracy: (number | null)[];
}

/**
 * The predicted class of every row of `x`: `argmax` of `model.loss(X)` (test
 * mode), in batches of `batchSize` (default 100), as the course's
 * `check_accuracy` predicts.
 *
 * @param x inputs `(N, …)`, as the model takes them
 * @returns N class indices
 */
export function predictLabels(model: Model, x: Tensor, options: { batchSize?: number } = {}): Int32Array {
  const batchSize = options.batchSize ?? 100;
  const n = x.shape[0];
  const out = new Int32Array(n);
  for (let start = 0; start < n; start += batchSize) {
    const end = Math.min(start + batchSize, n);
    const scores = model.loss(sliceRows(x, start, end));
    if (scores.ndim !== 2 || scores.shape[0] !== end - start) {
      throw new RangeError(
        `predictLabels: model.loss(X) returned scores ${formatShape(scores.shape)} for ${
          end - start
        } examples, expected (${end - start}, numClasses)`,
      );
    }
    out.set(argmaxRows(scores), start);
  }
  return out;
}

/**
 * The confusion matrix of labels `y` and predictions `pred` over
 * `numClasses` classes: `matrix[t][p]` counts the examples of class t
 * predicted as p (tfjs-vis's `confusionMatrix`, rows the true classes).
 *
 * @throws RangeError when the lengths differ or a label or prediction lies outside [0, numClasses)
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { confusionMatrix } from "./test_evaluation.ts";
 * assertEquals(confusionMatrix(Int32Array.of(0, 0, 1), Int32Array.of(0, 1, 1), 2), [[1, 1], [0, 1]]);
 * ```
 */
export function confusionMatrix(y: Labels, pred: Int32Array, numClasses: number): number[][] {
  if (y.length !== pred.length) {
    throw new RangeError(`confusionMatrix: ${y.length} labels but ${pred.length} predictions`);
  }
  const matrix = Array.from({ length: numClasses }, () => new Array<number>(numClasses).fill(0));
  for (let i = 0; i < y.length; i++) {
    const t = y[i], p = pred[i];
    if (!(t >= 0 && t < numClasses && p >= 0 && p < numClasses)) {
      throw new RangeError(
        `confusionMatrix: example ${i} has label ${t} and prediction ${p}; both must lie in [0, ${numClasses})`,
      );
    }
    matrix[t][p]++;
  }
  return matrix;
}

/**
 * Accuracy, confusion matrix and per-class accuracy of `model` on `x`, `y`.
 *
 * @param x inputs `(N, …)`, N ≥ 1
 * @param y N labels in [0, classNames.length)
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { array } from "../layers/tensor.ts";
 * import { evaluateModel } from "./test_evaluation.ts";
 * // A "model" that scores class 1 for every row.
 * const model = { params: {}, loss: () => array([[0, 1], [0, 1], [0, 1]]), state: () => ({}), loadState() {} };
 * const e = evaluateModel(model as never, array([[1], [2], [3]]), Int32Array.of(0, 1, 1), ["a", "b"], "test");
 * assertEquals([e.accuracy, e.matrix, e.perClassAccuracy], [2 / 3, [[0, 1], [0, 2]], [0, 1]]);
 * ```
 */
export function evaluateModel(
  model: Model,
  x: Tensor,
  y: Labels,
  classNames: readonly string[],
  split: Evaluation["split"],
): Evaluation {
  if (x.shape[0] !== y.length || y.length === 0) {
    throw new RangeError(
      `evaluateModel: x ${formatShape(x.shape)} and ${y.length} labels must have the same, non-zero, number of rows`,
    );
  }
  const matrix = confusionMatrix(y, predictLabels(model, x), classNames.length);
  const correct = matrix.reduce((a, row, i) => a + row[i], 0);
  return {
    split,
    classNames: [...classNames],
    count: y.length,
    accuracy: correct / y.length,
    matrix,
    perClassAccuracy: matrix.map((row, i) => {
      const n = row.reduce((a, b) => a + b, 0);
      return n === 0 ? null : row[i] / n;
    }),
  };
}
