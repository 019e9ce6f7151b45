import {
  assert,
  assertEquals,
  assertGreater,
  assertLessOrEqual,
  assertStringIncludes,
  assertThrows,
} from "@std/assert";
import type { TrainRecord } from "../pipeline/store/records.ts";
import { chartLabel } from "../reports/chart_label.ts";
import { compileSpec, prefixSvgIds, renumberSvgIds, specToSvg } from "../reports/render.ts";
import {
  accuracyCurveSpec,
  accuracyPanelsSpec,
  decadeTicks,
  dropoutSpec,
  gradientCheckSpec,
  labelRuns,
  lossCurveSpec,
  runFacts,
  type VegaLiteSpec,
  weightScaleRows,
  weightScaleSpec,
} from "../reports/specs.ts";
import { readRunFixture } from "./helpers.ts";

const [baseline, batchnorm, stopped, resumed] = await Promise.all(
  ["baseline", "batchnorm", "stopped", "resumed"].map(readRunFixture),
);
const HOSTILE = "<img src=x onerror=alert(1)>";
const runs = [
  { label: "baseline", records: baseline },
  { label: "batchnorm", records: batchnorm },
  { label: HOSTILE, records: stopped },
  { label: "resumed", records: resumed },
];

type Obj = Record<string, unknown>;

/** Every unit (a spec with a mark), with the encoding it inherits merged in. */
function units(spec: Obj, inherited: Obj = {}): { mark: unknown; encoding: Obj }[] {
  const encoding = { ...inherited, ...(spec.encoding as Obj | undefined) };
  if (spec.mark !== undefined) return [{ mark: spec.mark, encoding }];
  const children = [
    ...((spec.layer as Obj[] | undefined) ?? []),
    ...((spec.hconcat as Obj[] | undefined) ?? []),
    ...((spec.vconcat as Obj[] | undefined) ?? []),
  ];
  return children.flatMap((c) => units(c, encoding));
}

/** Compiles without warnings, renders marks, has titles and a tooltip on every mark. */
async function checkSpec(value: unknown, minMarks: number): Promise<string> {
  const spec = value as VegaLiteSpec;
  const { warnings } = compileSpec(spec);
  assertEquals(warnings, [], "vega-lite warnings");
  const svg = await specToSvg(spec);
  const marks = [...svg.matchAll(/<g class="mark-[a-z]+ role-mark[^>]*>(.*?)<\/g>/g)]
    .reduce((n, m) => n + (m[1].match(/<(path|line|rect)\b/g)?.length ?? 0), 0);
  assertGreater(marks, minMarks - 1, "marks in the SVG");
  const s = value as Obj;
  assert(s.title, "chart title");
  for (const u of units(s)) assert(u.encoding.tooltip, `a ${JSON.stringify(u.mark)} mark has no tooltip`);
  return svg;
}

Deno.test("lossCurveSpec draws every run's points and smoothed line, labelled, with run colours in the given order", async () => {
  const spec = lossCurveSpec(runs) as unknown as Obj;
  const svg = await checkSpec(spec, 100);
  const rows = (spec.datasets as { loss: { run: string }[] }).loss;
  assertEquals([...new Set(rows.map((r) => r.run))], runs.map((r) => r.label));
  assertEquals(
    (spec.encoding as { color: { scale: { domain: string[] } } }).color.scale.domain,
    runs.map((r) => r.label),
  );
  assertStringIncludes(svg, "Iteration (optimizer steps)");
  assertStringIncludes(svg, "Training loss (cross-entropy per example)");
  // The hostile label is text inside the SVG, escaped.
  assert(!svg.includes("<img"), "raw label in the SVG");
  assertStringIncludes(svg, "&lt;img src=x");
});

Deno.test("lossCurveSpec bounds the points of a long run (20,000 steps → ≤ 2,000 rows per run)", () => {
  const records: TrainRecord[] = [];
  for (let t = 1; t <= 20_000; t++) {
    records.push({ kind: "iteration", iteration: t, epoch: 0, loss: 1 + 1 / t, elapsedMs: t });
  }
  const spec = lossCurveSpec([{ label: "long", records }, { label: "short", records: baseline }], {
    maxPoints: 2000,
  }) as unknown as Obj;
  const rows = (spec.datasets as { loss: { run: string }[] }).loss;
  assertLessOrEqual(rows.filter((r) => r.run === "long").length, 2000);
  assertEquals(rows.filter((r) => r.run === "short").length, 120);
});

Deno.test("lossCurveSpec puts the loss on a log axis on request", () => {
  const spec = lossCurveSpec(runs, { logY: true }) as unknown as {
    layer: { encoding: { y: { scale?: { type?: string } } } }[];
  };
  assertEquals(spec.layer[0].encoding.y.scale?.type, "log");
});

Deno.test("accuracyCurveSpec shows training solid and validation dashed for every run", async () => {
  const spec = accuracyCurveSpec(runs) as unknown as Obj;
  const svg = await checkSpec(spec, 10);
  const enc = spec.encoding as { strokeDash: { scale: { domain: string[]; range: number[][] } } };
  assertEquals(enc.strokeDash.scale.domain, ["training", "validation"]);
  assertEquals(enc.strokeDash.scale.range[0], [1, 0]);
  assertStringIncludes(svg, 'stroke-dasharray="6,4"');
  const rows = (spec.datasets as { accuracy: { split: string }[] }).accuracy;
  assertEquals(rows.filter((r) => r.split === "validation").length, rows.filter((r) => r.split === "training").length);
  // Two legends: runs and splits.
  assertEquals(svg.match(/aria-roledescription="legend"/g)?.length, 2);
});

Deno.test("accuracyPanelsSpec and dropoutSpec put training and validation accuracy side by side", async () => {
  const panels = accuracyPanelsSpec([{ label: "batch 5", records: baseline }, {
    label: "batch 50",
    records: batchnorm,
  }]) as unknown as Obj;
  const svg = await checkSpec(panels, 10);
  assertStringIncludes(svg, "Training accuracy");
  assertStringIncludes(svg, "Validation accuracy");
  const dropout = dropoutSpec([{ dropout: 0, records: baseline }, {
    dropout: 0.5,
    records: batchnorm,
  }]) as unknown as Obj;
  const dsvg = await checkSpec(dropout, 10);
  assertStringIncludes(dsvg, "no dropout");
  assertStringIncludes(dsvg, "dropout p = 0.5");
});

Deno.test("weightScaleSpec plots three metrics against a log weight-scale axis, baseline vs batchnorm", async () => {
  const scales = [1e-4, 1e-3, 1e-2, 1e-1, 1];
  const wsRuns = scales.flatMap((s) => [
    { group: "baseline", weightScale: s, records: baseline },
    { group: "batchnorm", weightScale: s, records: batchnorm },
  ]);
  const spec = weightScaleSpec(wsRuns) as unknown as {
    hconcat: { title: string; encoding: { x: { scale: { type: string } } } }[];
    datasets: { weightScale: { finalTrainLoss: number }[] };
  };
  await checkSpec(spec, 30);
  assertEquals(spec.hconcat.map((p) => p.title), [
    "Best validation accuracy",
    "Best training accuracy",
    "Final training loss",
  ]);
  for (const p of spec.hconcat) assertEquals(p.encoding.x.scale.type, "log");
  const rows = weightScaleRows(wsRuns);
  assertEquals(rows.length, 10);
  // The notebook's final training loss: the mean of the last 100 of baseline's 120 step losses.
  const losses = baseline.flatMap((r) => (r.kind === "iteration" ? [r.loss] : []));
  assertEquals(losses.length, 120);
  assertEquals(rows[0].finalTrainLoss, losses.slice(-100).reduce((a, v) => a + v, 0) / 100);
  assertEquals(weightScaleRows(wsRuns, { finalLossSteps: 1 })[0].finalTrainLoss, losses.at(-1));
  assertEquals(spec.datasets.weightScale[0].finalTrainLoss, rows[0].finalTrainLoss, "the chart plots the rows");
  assertThrows(() => weightScaleRows(wsRuns, { finalLossSteps: 0 }), RangeError, "finalLossSteps 0");
  assertThrows(() => weightScaleRows([{ group: "g", weightScale: 0, records: baseline }]), RangeError, "not positive");
});

Deno.test("decadeTicks spans the values with whole powers of ten", () => {
  assertEquals(decadeTicks([1e-4, 0.05, 1]), [1e-4, 1e-3, 1e-2, 1e-1, 1]);
  assertEquals(decadeTicks([0.02, 0.03]), [1e-2, 1e-1]);
  assertEquals(decadeTicks([]), [0.1, 1]);
});

Deno.test("gradientCheckSpec shows each error against its threshold on a log axis, exact zeros at the floor", async () => {
  const spec = gradientCheckSpec([
    { layer: "affine", gradient: "dx", relError: 2e-10, threshold: 1e-7, pass: true },
    { layer: "relu", gradient: "dx", relError: 0, threshold: 1e-7, pass: true },
    { layer: HOSTILE, gradient: "dw", relError: 3e-4, threshold: 1e-7, pass: false },
  ]) as unknown as Obj;
  const svg = await checkSpec(spec, 6);
  const rows =
    (spec.datasets as { gradientCheck: { plotted: number; relError: number; result: string }[] }).gradientCheck;
  assertEquals(rows[1].plotted, 1e-16);
  assertEquals(rows[1].relError, 0);
  assertEquals(rows.map((r) => r.result), ["pass", "pass", "FAIL"]);
  assertStringIncludes(svg, "Relative error (log scale)");
});

Deno.test("runFacts reads batch size, normalization and optimizer from the start record", () => {
  assertEquals(runFacts(batchnorm), {
    batchSize: 50,
    normalization: "batchnorm",
    dropout: undefined,
    weightScale: 0.05,
    updateRule: "adam",
    learningRate: 1e-3,
  });
  assertEquals(runFacts(baseline).normalization, "none");
  assertEquals(runFacts([]), {});
});

Deno.test("labelRuns names runs by the settings the comparison varies", () => {
  assertEquals(labelRuns([batchnorm, baseline], ["normalization", "batchSize"]).map((r) => r.label), [
    "batchnorm · batch 50",
    "no normalization · batch 50",
  ]);
  assertEquals(labelRuns([[]], ["batchSize"])[0].label, "run");
});

Deno.test("spec builders refuse runs that share a label", () => {
  assertThrows(() => lossCurveSpec([runs[0], runs[0]]), RangeError, "appears twice");
  assertThrows(() => accuracyCurveSpec([runs[0], runs[0]]), RangeError, "appears twice");
});

Deno.test("prefixSvgIds renames ids and their references so charts in one page do not clash", () => {
  const svg = '<clipPath id="clip1"><rect/></clipPath><g clip-path="url(#clip1)"><use href="#clip1"/></g>';
  assertEquals(
    prefixSvgIds(svg, "c0-"),
    '<clipPath id="c0-clip1"><rect/></clipPath><g clip-path="url(#c0-clip1)"><use href="#c0-clip1"/></g>',
  );
  assertThrows(() => prefixSvgIds(svg, '"><script>'), RangeError);
});

Deno.test("specToSvg gives the same SVG for the same spec however many charts were rendered before", async () => {
  const spec = lossCurveSpec(runs);
  const first = await specToSvg(spec);
  await specToSvg(accuracyCurveSpec(runs));
  const again = await specToSvg(spec);
  assertStringIncludes(first, 'clip-path="url(#clip1)"', "the chart has clip paths to number");
  assertEquals(again, first);
  assertEquals(await specToSvg(spec, { idPrefix: "c0-" }), prefixSvgIds(first, "c0-"));
});

Deno.test("renumberSvgIds numbers vega's ids by first appearance and leaves text alone", () => {
  const svg = '<g clip-path="url(#clip7)"><clipPath id="clip7"/><clipPath id="clip9"/>' +
    '<path fill="url(#gradient_4)" aria-label="url(#clip9)"/><linearGradient id="gradient_4"/>' +
    '<use href="#clip9"/><text>clip7 ="url(#clip9)" id="clip9"</text><g id="clipper"/></g>';
  assertEquals(
    renumberSvgIds(svg),
    '<g clip-path="url(#clip1)"><clipPath id="clip1"/><clipPath id="clip2"/>' +
      '<path fill="url(#gradient_0)" aria-label="url(#clip9)"/><linearGradient id="gradient_0"/>' +
      '<use href="#clip2"/><text>clip7 ="url(#clip9)" id="clip9"</text><g id="clipper"/></g>',
  );
});

Deno.test("chartLabel puts a label on one line and cuts a long one, keeping different long labels apart", () => {
  assertEquals(chartLabel("a\nb\u2028c\u2029d\u0000e"), "a b c d e");
  assertEquals(chartLabel("short label"), "short label");
  const a = chartLabel("y".repeat(100) + "a");
  const b = chartLabel("y".repeat(100) + "b");
  assertEquals([a.length, b.length], [64, 64]);
  assert(a !== b, "two long labels that differ only at the end got the same chart label");
  assertEquals(chartLabel("😀".repeat(40)).includes("\ud83d…"), false);
});

Deno.test("spec builders show shortened labels in data and colour domain alike", () => {
  const long = "z".repeat(500);
  const spec = lossCurveSpec([{ label: long, records: baseline }]) as unknown as Obj;
  const rows = (spec.datasets as { loss: { run: string }[] }).loss;
  const domain = (spec.encoding as { color: { scale: { domain: string[] } } }).color.scale.domain;
  assertEquals(domain, [chartLabel(long)]);
  assertEquals([...new Set(rows.map((r) => r.run))], domain);
});
