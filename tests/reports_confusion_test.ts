/**
 * The evaluation of a trained model (`pipeline/test_evaluation.ts`) and its
 * charts (`reports/confusion.ts`): the confusion matrix counts what the
 * course's `check_accuracy` counts, and the specs compile without warnings,
 * draw every cell and class in class order, and carry tooltips.
 */

import { assert, assertEquals, assertGreater, assertStringIncludes, assertThrows } from "@std/assert";
import { loadSample } from "../datasets/sample.ts";
import { Sequential } from "../layers/models/sequential.ts";
import { RandomState } from "../layers/random.ts";
import { checkAccuracy } from "../pipeline/check_accuracy.ts";
import { confusionMatrix, evaluateModel, type Evaluation } from "../pipeline/test_evaluation.ts";
import { evaluationSections, perClassAccuracyTable } from "../reports/confusion.ts";
import { compileSpec, specToSvg } from "../reports/render.ts";
import { confusionMatrixSpec, perClassAccuracySpec, type VegaLiteSpec } from "../reports/specs.ts";

const CLASSES = ["plane", "car", "<b>bird</b>"];
const EVALUATION: Evaluation = {
  split: "test",
  classNames: CLASSES,
  count: 10,
  accuracy: 0.6,
  matrix: [[3, 1, 0], [0, 2, 2], [0, 1, 1]],
  perClassAccuracy: [0.75, 0.5, 0.5],
};

type Obj = Record<string, unknown>;

async function checkSpec(spec: VegaLiteSpec): Promise<string> {
  assertEquals(compileSpec(spec).warnings, [], "vega-lite warnings");
  const svg = await specToSvg(spec);
  const layers = (spec as unknown as { layer: Obj[]; encoding: Obj }).layer;
  assert((spec as unknown as Obj).title, "chart title");
  assert((spec as unknown as { encoding: Obj }).encoding.tooltip, "tooltip");
  assertGreater(layers.length, 1);
  return svg;
}

Deno.test("confusionMatrix counts true class by predicted class and refuses labels outside the classes", () => {
  assertEquals(confusionMatrix(Int32Array.of(0, 1, 1, 2), Int32Array.of(0, 1, 2, 2), 3), [[1, 0, 0], [0, 1, 1], [
    0,
    0,
    1,
  ]]);
  assertThrows(() => confusionMatrix(Int32Array.of(0, 3), Int32Array.of(0, 1), 3), RangeError, "example 1");
  assertThrows(() => confusionMatrix(Int32Array.of(0), Int32Array.of(0, 1), 3), RangeError, "1 labels but 2");
});

Deno.test("evaluateModel agrees with the course's check_accuracy, and its rows sum to the class counts", async () => {
  const data = await loadSample({ numTraining: 100, numValidation: 300 });
  const model = new Sequential("conv4x3-sbn-relu-pool2,affine10", { random: new RandomState(0), weightScale: 0.05 });
  // Train mode once, so the batch-norm running averages are not the initial zeros and ones.
  model.loss(data.xTrain, data.yTrain);
  const e = evaluateModel(model, data.xVal, data.yVal, data.classNames, "validation");
  assertEquals(e.accuracy, checkAccuracy(model, data.xVal, data.yVal));
  assertEquals(e.count, 300);
  const counts = new Array(10).fill(0);
  for (const y of data.yVal) counts[y]++;
  assertEquals(e.matrix.map((row) => row.reduce((a, b) => a + b, 0)), counts);
  e.perClassAccuracy.forEach((a, i) => assertEquals(a, counts[i] === 0 ? null : e.matrix[i][i] / counts[i]));
});

Deno.test("confusionMatrixSpec draws one labelled cell per pair of classes, true class down, in class order", async () => {
  const spec = confusionMatrixSpec(EVALUATION);
  // A copy: rendering tags the rows.
  const s = JSON.parse(JSON.stringify(spec)) as { datasets: { confusion: Obj[] }; encoding: { x: Obj; y: Obj } };
  const svg = await checkSpec(spec);
  assertEquals(s.datasets.confusion.length, 9);
  assertEquals(s.datasets.confusion[5], {
    label: "car",
    prediction: "<b>bird</b>",
    count: 2,
    fraction: 0.5,
    correct: false,
  });
  assertEquals([s.encoding.y.field, s.encoding.x.field], ["label", "prediction"]);
  assertEquals([s.encoding.y.sort, s.encoding.x.sort], [CLASSES, CLASSES]);
  const group = (kind: string) =>
    new RegExp(`<g class="mark-${kind} role-mark[^>]*>(.*?)</g>`, "s").exec(svg)?.[1] ?? "";
  assertEquals(group("rect").match(/<path\b/g)?.length, 9, "a cell per pair of classes");
  assertEquals(group("text").match(/<text\b/g)?.length, 9, "a count in every cell");
  for (const t of ["True class", "Predicted class", "Confusion matrix", "10 test images"]) assertStringIncludes(svg, t);
  assert(!svg.includes("<b>bird"), "a class name is text, escaped");
});

Deno.test("perClassAccuracySpec shows every class's accuracy on a 0–100 % axis, with tfjs-vis's table beside it", async () => {
  const spec = perClassAccuracySpec(EVALUATION);
  const rows = JSON.parse(JSON.stringify(spec)).datasets.perClassAccuracy;
  const svg = await checkSpec(spec);
  assertEquals(rows, [
    { class: "plane", accuracy: 0.75, images: 4 },
    { class: "car", accuracy: 0.5, images: 4 },
    { class: "<b>bird</b>", accuracy: 0.5, images: 2 },
  ]);
  for (const t of ["Per-class accuracy", "75.0%", "100%"]) assertStringIncludes(svg, t);
  const table = perClassAccuracyTable(EVALUATION);
  assertEquals(table.rows[0], ["plane", { text: "75.0 %", numeric: true }, { text: "4", numeric: true }]);
  const sections = evaluationSections(EVALUATION);
  assertEquals(sections.map((s) => s.heading), ["Confusion matrix", "Per-class accuracy"]);
  assertStringIncludes(sections[0].text!, "accuracy 60.00 %");
});

Deno.test("perClassAccuracySpec leaves out a class with no images", () => {
  const e = { ...EVALUATION, matrix: [[3, 1, 0], [0, 2, 2], [0, 0, 0]], perClassAccuracy: [0.75, 0.5, null] };
  const rows = (perClassAccuracySpec(e) as unknown as { datasets: { perClassAccuracy: Obj[] } }).datasets
    .perClassAccuracy;
  assertEquals(rows.map((r) => r.class), ["plane", "car"]);
});
