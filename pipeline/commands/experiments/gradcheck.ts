/**
 * `gradcheck`: every gradient check of the notebooks (see
 * `gradient_checks.ts`), one task per check on the workers, as a chart and
 * table of relative errors against their bounds.
 *
 * @module
 */

import type { Report, ReportTable } from "../../../reports/html.ts";
import { gradientCheckSection, gradientTable } from "../../../reports/run_report.ts";
import type { GradientCheckRow } from "../../../reports/specs.ts";
import { configOf, type Experiment } from "./common.ts";
import {
  GRADIENT_CHECKS,
  type GradientCheckResult,
  type VanishingGradientRow,
} from "../../../layers/gradient_checks.ts";
import type { Task } from "./tasks.ts";

const MODEL_CHECKS = new Set(["fc-net", "convnet"]);

/** The course's gradient checks, as a report. */
export const gradcheckExperiment: Experiment = {
  name: "gradcheck",
  title: "Gradient checks",
  summary:
    "every layer's and model's analytic gradients against numeric ones (float64, the notebooks' shapes and bounds)",
  quick: "the same checks (they take about a second).",
  trains: false,
  plan(): Promise<Task[]> {
    return Promise.resolve(GRADIENT_CHECKS.map((c): Task => ({ kind: "gradcheck", label: c.name, check: c.name })));
  },
  report(outcome) {
    const results: GradientCheckResult[] = outcome.tasks.map((t) => {
      const r = outcome.results.get(t.label)?.gradCheck;
      if (r === undefined) throw new Error(`gradcheck: check "${t.label}" returned no result`);
      return r;
    });
    const layerRows: GradientCheckRow[] = results.filter((r) => !MODEL_CHECKS.has(r.check)).flatMap((r) => r.rows);
    const modelRows: GradientCheckRow[] = results.filter((r) => MODEL_CHECKS.has(r.check)).flatMap((r) => r.rows);
    const vanishing: VanishingGradientRow[] = results.flatMap((r) => r.vanishing);
    const all = [...layerRows, ...modelRows];
    const failed = all.filter((r) => !r.pass).length + vanishing.filter((r) => !r.pass).length;
    const worst = all.reduce((a, r) => (r.relError / r.threshold > a.relError / a.threshold ? r : a), all[0]);
    const checksTable: ReportTable = {
      columns: [
        "Check",
        "What",
        { label: "Gradients", numeric: true },
        { label: "Worst error / bound", numeric: true },
        "Result",
      ],
      rows: results.map((r) => {
        const check = GRADIENT_CHECKS.find((c) => c.name === r.check)!;
        const ratio = Math.max(
          ...r.rows.map((x) => x.relError / x.threshold),
          ...r.vanishing.map((x) => x.maxAbs / x.threshold),
        );
        return [
          r.check,
          check.description,
          r.rows.length + r.vanishing.length,
          { text: `${(100 * ratio).toPrecision(2)} %`, numeric: true },
          r.rows.every((x) => x.pass) && r.vanishing.every((x) => x.pass),
        ];
      }),
    };
    const vanishingTable = gradientTable(
      "max |analytic|",
      "Bound",
      vanishing.map((v) => ({
        layer: v.layer,
        gradient: v.gradient,
        value: v.maxAbs.toExponential(2),
        bound: v.threshold.toExponential(0),
        pass: v.pass,
      })),
    );
    const layers = gradientCheckSection(layerRows, "Layers");
    const models = gradientCheckSection(modelRows, "Models");
    layers.text += " Inputs are the notebooks' (RandomState(231), e.g. x = 5·randn + 12 for the normalization layers).";
    models.text += " The notebooks' model cells: FullyConnectedNet [20, 30] on 2 examples of 15 features (reg 0 and " +
      "3.14, no norm, batch norm, layer norm; the notebook itself reports up to 1e-4 here, hence the bound 1e-3) and " +
      "ThreeLayerConvNet on 2 images 3×16×16 (h = 1e-6 as the notebook; it reports up to 2e-2, hence 1e-1).";
    const report: Report = {
      title: "Gradient checks",
      description:
        "Every analytic gradient of the course's layers and models against centered numerical differences, " +
        "in float64, on the notebooks' shapes, each against the bound the test suite holds it to (the course's rule of " +
        "thumb: around 1e-8 or less for a single layer, more through ReLU kinks and for whole models). The same " +
        "definitions run in tests/experiments_test.ts.",
      highlights: [
        { label: "Gradients checked", value: String(all.length + vanishing.length), note: `${results.length} checks` },
        { label: "Result", value: failed === 0 ? "all pass" : `${failed} failed` },
        {
          label: "Closest to its bound",
          value: `${(100 * worst.relError / worst.threshold).toPrecision(2)} %`,
          note: `${worst.layer} · ${worst.gradient}: ${worst.relError.toExponential(2)} vs ${
            worst.threshold.toExponential(0)
          }`,
        },
      ],
      config: configOf(outcome),
      sections: [
        layers,
        models,
        {
          heading: "Gradients that must vanish",
          text: "A bias right before batch norm is subtracted out again, so its true gradient is exactly 0 and a " +
            "relative error would compare rounding noise: these are checked as max |analytic gradient| ≤ 1e-12 instead.",
          table: vanishingTable,
        },
        {
          heading: "The checks",
          text: "What each check runs, and how close its worst gradient comes to its bound.",
          table: checksTable,
        },
      ],
    };
    const keyNumbers: Record<string, number> = { gradients: all.length + vanishing.length, failed };
    for (const r of all) keyNumbers[`${r.layer} ${r.gradient}`] = r.relError;
    return Promise.resolve({ report, keyNumbers });
  },
};
