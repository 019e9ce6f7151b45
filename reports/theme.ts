/**
 * The look shared by every chart and page of a report: the font stack, the
 * run colours, vega-lite's chart config, and the small spec pieces every
 * chart family builds on (schema URL, titles, the run colour encoding).
 *
 * @module
 */

import type { Config, TopLevelSpec } from "vega-lite";

/** A Vega-Lite specification (the JSON vega-lite 6 compiles). */
export type VegaLiteSpec = TopLevelSpec;

/** A Vega-Lite config (vega-lite's `Config`): the look of a chart. */
export type VegaLiteConfig = Config;

/** The `$schema` of every spec: vega-lite 6. */
export const VEGA_LITE_SCHEMA = "https://vega.github.io/schema/vega-lite/v6.json";

/** The font stack of the pages and charts: the system's own UI font, nothing fetched. */
export const REPORT_FONT =
  'system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "Liberation Sans", "DejaVu Sans", Arial, sans-serif';

/** Colours of runs, in order (Tableau 10, darkened slightly for print). */
export const RUN_COLORS = [
  "#4e79a7",
  "#f28e2b",
  "#e15759",
  "#59a14f",
  "#b07aa1",
  "#76b7b2",
  "#edc948",
  "#9c755f",
  "#ff9da7",
  "#bab0ac",
];

/** The look shared by every chart: light, quiet grid, system font. */
export const chartConfig: VegaLiteConfig = {
  font: REPORT_FONT,
  background: "#ffffff",
  padding: 6,
  view: { stroke: null },
  title: {
    fontSize: 14,
    fontWeight: 600,
    anchor: "start",
    color: "#1f2328",
    subtitleColor: "#59636e",
    subtitleFontSize: 12,
    offset: 12,
  },
  axis: {
    labelColor: "#59636e",
    labelFontSize: 11,
    titleColor: "#1f2328",
    titleFontSize: 12,
    titleFontWeight: 500,
    titlePadding: 8,
    gridColor: "#eef0f3",
    domainColor: "#9ba3ad",
    tickColor: "#9ba3ad",
  },
  legend: {
    labelColor: "#1f2328",
    labelFontSize: 11,
    labelLimit: 240,
    titleColor: "#59636e",
    titleFontSize: 11,
    titleFontWeight: 600,
    symbolStrokeWidth: 2.5,
    rowPadding: 5,
  },
  header: { labelFontSize: 12, labelColor: "#1f2328", titleFontSize: 12 },
  range: { category: RUN_COLORS },
  line: { strokeWidth: 2, strokeCap: "round", strokeJoin: "round" },
  point: { filled: true },
  concat: { spacing: 28 },
};

/** Chart size in px (each panel, for multi-panel charts). */
export interface ChartSize {
  /** Plot width in px. Default depends on the chart (e.g. 700 for the loss curve). */
  width?: number;
  /** Plot height in px. Default depends on the chart; the gradient-check chart ignores it (22 px per row). */
  height?: number;
}

/** Options shared by the run-curve charts. */
export interface CurveOptions extends ChartSize {
  /** Chart title. */
  title?: string;
  /** A line under the title. */
  subtitle?: string;
  /** Legend title for the run labels. Default "Run". */
  runTitle?: string;
}

/**
 * What every chart spec starts with: the schema, its title, the shared look,
 * and its rows as the named dataset `dataset` (the name a live page appends
 * rows to).
 */
export function chartFrame(dataset: string, rows: readonly object[], title: string, subtitle?: string) {
  return {
    $schema: VEGA_LITE_SCHEMA,
    title: chartTitle(title, subtitle),
    config: chartConfig,
    datasets: { [dataset]: rows as object[] },
    data: { name: dataset },
  };
}

/** A chart title, with a subtitle when one is given. */
export function chartTitle(text: string, subtitle?: string): { text: string; subtitle?: string } {
  return subtitle === undefined ? { text } : { text, subtitle };
}

/** The colour encoding of run labels: field `run`, one colour per label in the given order, legend in that order. */
export function runColor(labels: readonly string[], title: string) {
  return {
    field: "run",
    type: "nominal" as const,
    title,
    scale: { domain: [...labels], range: RUN_COLORS },
    sort: [...labels],
    legend: { symbolOpacity: 1 },
  };
}
