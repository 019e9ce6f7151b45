/**
 * The evaluation charts, as tfjs-vis shows a classifier's results: the
 * confusion matrix (`tfvis.render.confusionMatrix`: true class down, predicted
 * class across, every cell shaded by its count and labelled with it, the
 * diagonal shaded too) and the accuracy of every class
 * (`tfvis.show.perClassAccuracy`: a class and its accuracy per row, here as
 * bars beside the table).
 *
 * @module
 */

import type { Evaluation } from "../pipeline/test_evaluation.ts";
import { formatPercent, percentCell } from "./format.ts";
import type { ReportSection, ReportTable } from "./html.ts";
import { chartFrame, type ChartSize, type VegaLiteSpec } from "./theme.ts";

export type { Evaluation };

/** One cell of the confusion matrix, as the chart's dataset `confusion` holds it. */
export interface ConfusionRow {
  /** The true class (a class name). */
  label: string;
  /** The predicted class. */
  prediction: string;
  /** Images of `label` predicted as `prediction`. */
  count: number;
  /** `count` over the images of `label` (0 for a class with none). */
  fraction: number;
  /** Whether the cell is on the diagonal (a right prediction). */
  correct: boolean;
}

/** The cells of a confusion matrix, row by row (true class), in class order. */
export function confusionRows(evaluation: Evaluation): ConfusionRow[] {
  const { classNames, matrix } = evaluation;
  return matrix.flatMap((row, t) => {
    const total = row.reduce((a, b) => a + b, 0);
    return row.map((count, p) => ({
      label: classNames[t],
      prediction: classNames[p],
      count,
      fraction: total === 0 ? 0 : count / total,
      correct: t === p,
    }));
  });
}

function splitName(evaluation: Evaluation): string {
  return evaluation.split === "test" ? "test" : "validation";
}

/**
 * The confusion matrix as a heat map: true class on the y axis, predicted
 * class on the x axis, both in class order, each cell shaded by its count
 * (blues) and labelled with it; the tooltip adds the share of the true
 * class. Data: dataset `confusion` ({@link ConfusionRow}).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { confusionMatrixSpec } from "./confusion.ts";
 * const spec = confusionMatrixSpec({
 *   split: "test", classNames: ["cat", "dog"], count: 4, accuracy: 0.75, matrix: [[2, 0], [1, 1]],
 *   perClassAccuracy: [1, 0.5],
 * }) as unknown as { datasets: { confusion: { count: number }[] } };
 * assertEquals(spec.datasets.confusion.map((r) => r.count), [2, 0, 1, 1]);
 * ```
 */
export function confusionMatrixSpec(evaluation: Evaluation, options: ChartSize = {}): VegaLiteSpec {
  const rows = confusionRows(evaluation);
  const classes = evaluation.classNames;
  const max = Math.max(1, ...rows.map((r) => r.count));
  const cell = { field: "label", type: "nominal" as const, title: "True class", sort: classes };
  const tooltip = [
    { field: "label", type: "nominal" as const, title: "True class" },
    { field: "prediction", type: "nominal" as const, title: "Predicted" },
    { field: "count", type: "quantitative" as const, title: "Images" },
    { field: "fraction", type: "quantitative" as const, title: "Share of the true class", format: ".1%" },
  ];
  return {
    ...chartFrame(
      "confusion",
      rows,
      "Confusion matrix",
      `${evaluation.count.toLocaleString("en-US")} ${splitName(evaluation)} images · rows: true class, ` +
        "columns: predicted class",
    ),
    width: options.width ?? 420,
    height: options.height ?? 420,
    encoding: {
      y: cell,
      x: {
        field: "prediction",
        type: "nominal",
        title: "Predicted class",
        sort: classes,
        axis: { labelAngle: -45, orient: "bottom" },
      },
      tooltip,
    },
    layer: [
      {
        mark: { type: "rect", stroke: "#ffffff", strokeWidth: 1 },
        encoding: {
          color: {
            field: "count",
            type: "quantitative",
            title: "Images",
            scale: { scheme: "blues", domain: [0, max] },
          },
        },
      },
      {
        mark: { type: "text", fontSize: 11 },
        encoding: {
          text: { field: "count", type: "quantitative" },
          // Light text on the dark cells, as tfjs-vis does.
          color: { condition: { test: `datum.count > ${max / 2}`, value: "#ffffff" }, value: "#1f2328" },
        },
      },
    ],
  };
}

/**
 * The accuracy of every class as horizontal bars on a 0–100 % axis, classes
 * in their order, labelled with the percentage. Data: dataset
 * `perClassAccuracy` (rows `{ class, accuracy, images }`; a class with no
 * images is left out).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { perClassAccuracySpec } from "./confusion.ts";
 * const spec = perClassAccuracySpec({
 *   split: "test", classNames: ["cat", "dog"], count: 4, accuracy: 0.75, matrix: [[2, 0], [1, 1]],
 *   perClassAccuracy: [1, 0.5],
 * }) as unknown as { datasets: { perClassAccuracy: { class: string; accuracy: number; images: number }[] } };
 * assertEquals(spec.datasets.perClassAccuracy, [
 *   { class: "cat", accuracy: 1, images: 2 },
 *   { class: "dog", accuracy: 0.5, images: 2 },
 * ]);
 * ```
 */
export function perClassAccuracySpec(evaluation: Evaluation, options: ChartSize = {}): VegaLiteSpec {
  const rows = evaluation.classNames.flatMap((name, i) => {
    const accuracy = evaluation.perClassAccuracy[i];
    const images = evaluation.matrix[i].reduce((a, b) => a + b, 0);
    return accuracy === null ? [] : [{ class: name, accuracy, images }];
  });
  const tooltip = [
    { field: "class", type: "nominal" as const, title: "Class" },
    { field: "accuracy", type: "quantitative" as const, title: "Accuracy", format: ".1%" },
    { field: "images", type: "quantitative" as const, title: "Images" },
  ];
  return {
    ...chartFrame(
      "perClassAccuracy",
      rows,
      "Per-class accuracy",
      `Share of each class's ${splitName(evaluation)} images predicted right (overall ${
        formatPercent(evaluation.accuracy)
      })`,
    ),
    width: options.width ?? 420,
    height: options.height ?? { step: 24 },
    encoding: {
      y: { field: "class", type: "nominal", title: "Class", sort: evaluation.classNames },
      x: {
        field: "accuracy",
        type: "quantitative",
        title: "Accuracy",
        scale: { domain: [0, 1] },
        axis: { format: "%" },
      },
      tooltip,
    },
    layer: [
      { mark: { type: "bar", color: "#0969da", height: { band: 0.7 } } },
      {
        mark: { type: "text", align: "left", dx: 4, fontSize: 11, color: "#1f2328" },
        encoding: { text: { field: "accuracy", type: "quantitative", format: ".1%" } },
      },
    ],
  };
}

/** tfjs-vis's per-class accuracy table: class, accuracy, images. */
export function perClassAccuracyTable(evaluation: Evaluation): ReportTable {
  return {
    columns: ["Class", { label: "Accuracy", numeric: true }, { label: "Images", numeric: true }],
    rows: evaluation.classNames.map((name, i) => [
      name,
      percentCell(evaluation.perClassAccuracy[i], { digits: 1 }),
      { text: evaluation.matrix[i].reduce((a, b) => a + b, 0).toLocaleString("en-US"), numeric: true },
    ]),
  };
}

/**
 * The report sections of an evaluation: the confusion matrix, then the
 * per-class accuracy chart with its table.
 */
export function evaluationSections(evaluation: Evaluation): ReportSection[] {
  const split = splitName(evaluation);
  return [
    {
      heading: "Confusion matrix",
      text: `How the ${evaluation.count.toLocaleString("en-US")} ${split} images were classified: row t, column p ` +
        `counts the images of class t the model put in class p; the diagonal holds the right answers (accuracy ${
          formatPercent(evaluation.accuracy)
        }). Hover a cell for its share of the row.`,
      spec: confusionMatrixSpec(evaluation),
    },
    {
      heading: "Per-class accuracy",
      text: `The share of each class's ${split} images classified right (the diagonal of the confusion matrix over ` +
        "its row sums).",
      spec: perClassAccuracySpec(evaluation),
      table: perClassAccuracyTable(evaluation),
    },
  ];
}
