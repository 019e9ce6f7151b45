/**
 * The HTML of a report page: one self-contained file (styles, data and the
 * vega libraries inline, nothing fetched), readable without JavaScript
 * (every chart is also there as static SVG) and safe with hostile labels
 * (all user text is escaped, in the markup and in the JSON inside
 * `<script>`, and a Content-Security-Policy allows only the page's own
 * scripts, by hash, and no network access).
 *
 * `renderReport` in `render.ts` renders the static SVGs and reads the
 * vega builds; this file only assembles the page.
 *
 * @module
 */

import { formatNumber } from "./format.ts";
import { type LiveConfig, liveScript } from "./live_client.ts";
import { REPORT_FONT, type VegaLiteSpec } from "./theme.ts";
import type { VendorScripts } from "./vendor.ts";

/** A table cell: text, a number, a boolean (shown ✓ / ✗), empty, or text with a tone. */
export type Cell =
  | string
  | number
  | boolean
  | null
  | undefined
  | {
    /** The text shown. */
    text: string;
    /** Colour and weight: `good` (green badge), `bad` (red badge), `muted` (grey), `strong` (bold). */
    tone?: "good" | "bad" | "muted" | "strong";
    /** Hover text. */
    title?: string;
    /** Right-align as a number. */
    numeric?: boolean;
  };

/** A table column: its heading, and whether it holds numbers (right-aligned). */
export type Column = string | { label: string; numeric?: boolean; title?: string };

/** A table of a report. */
export interface ReportTable {
  /** Column headings, left to right. */
  columns: Column[];
  /** Body rows, each with one cell per column (a ragged row is an error). */
  rows: Cell[][];
  /** A line under the table. */
  caption?: string;
}

/** An image of a report; only `data:` URLs of raster images, so the page stays self-contained. */
export interface ReportImage {
  /** `data:image/png;base64,…` (see `pngDataUrl`). */
  src: string;
  /** What the image shows, for screen readers and when it cannot be shown. */
  alt: string;
  /** A line under the image. */
  caption?: string;
  /** Display width in CSS px (the image scales with crisp, unsmoothed pixels). Default its natural width. */
  width?: number;
}

/** A section of a report: a heading, some text, and any of a chart, a table and images (in that order). */
export interface ReportSection {
  /** Section title, shown as its heading and in the page's navigation (user text: escaped). */
  heading: string;
  /** Plain text; blank lines separate paragraphs. */
  text?: string;
  /** A chart. */
  spec?: VegaLiteSpec;
  /** A table, under the chart. */
  table?: ReportTable;
  /** Images, under the table (only `data:` URLs). */
  images?: ReportImage[];
  /** Lay the images out in this many columns (rows of a grid, as the course's subplots). Default: as many as fit. */
  imageColumns?: number;
  /** On a live page, which records this chart grows with: loss rows or accuracy rows (dataset `loss` / `accuracy`). */
  live?: "loss" | "accuracy";
  /** A second table behind a toggle (`<details>`, no script), under the first: e.g. every setting, not only those that differ. */
  more?: { summary: string; table: ReportTable };
}

/** A headline number shown at the top of the page. */
export interface Highlight {
  /** What the number is, shown small above it. */
  label: string;
  /** The number as text, already formatted (e.g. `52.30 %`). */
  value: string;
  /** A small line under the value. */
  note?: string;
}

/** What a live page listens to (see `serveRun` and the live client, `live_client.ts`). */
export type LiveOptions = LiveConfig;

/** Everything a report page shows. */
export interface Report {
  /** Page title and main heading (a non-empty string). */
  title: string;
  /** Plain text; blank lines separate paragraphs. */
  description?: string;
  /** Headline numbers under the title. */
  highlights?: Highlight[];
  /** The experiment's configuration (nested objects are shown with dotted keys). */
  config?: Record<string, unknown>;
  /** The table of runs. */
  summary?: ReportTable;
  /** The page's sections, in order (after the summary, before the configuration). */
  sections: ReportSection[];
  /** When the report was made. Default now. */
  generatedAt?: Date | string;
  /** Makes the page a live view that appends records from a `serveRun` server (ignored when opened from a file). */
  live?: LiveOptions;
}

/** What {@link renderReportHtml} needs besides the report. */
export interface PageAssets {
  /** Static SVG of each section's chart, in order. */
  staticSvgs: string[];
  /** The vega browser builds. */
  scripts: VendorScripts;
}

/**
 * The start of a gradstream page, up to `</head>`: charset, viewport, the
 * Content-Security-Policy `csp`, the title (escaped here) and the style
 * sheet `css`.
 */
export function pageHead(title: string, csp: string, css: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="generator" content="gradstream">
<title>${escapeHtml(title)}</title>
<style>${css}</style>
</head>`;
}

/** Escapes text for HTML content and quoted attribute values. */
export function escapeHtml(text: string): string {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * JSON for a `<script>` element: `<`, `>`, `&`, U+2028 and U+2029 become
 * `\uXXXX` escapes, so no string in the data can close the element
 * (`</script>`), open a comment, or break a JavaScript parse; `JSON.parse`
 * reads it back unchanged.
 */
export function jsonForScript(value: unknown): string {
  const json = JSON.stringify(value);
  if (json === undefined) throw new TypeError("jsonForScript: value is not JSON-serializable");
  return json.replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

function paragraphs(text: string | undefined, cls = ""): string {
  if (text === undefined || text.trim() === "") return "";
  const attr = cls ? ` class="${cls}"` : "";
  return text.trim().split(/\n\s*\n/).map((p) => `<p${attr}>${escapeHtml(p.trim())}</p>`).join("\n");
}

function cellHtml(cell: Cell, numericColumn: boolean): string {
  if (cell === null || cell === undefined) return `<td class="empty${numericColumn ? " num" : ""}">—</td>`;
  if (typeof cell === "boolean") {
    return cell
      ? `<td class="tone-good"><span class="badge">✓ pass</span></td>`
      : `<td class="tone-bad"><span class="badge">✗ fail</span></td>`;
  }
  if (typeof cell === "number") return `<td class="num">${escapeHtml(formatNumber(cell))}</td>`;
  if (typeof cell === "string") return `<td${numericColumn ? ` class="num"` : ""}>${escapeHtml(cell)}</td>`;
  const classes = [(cell.numeric ?? numericColumn) ? "num" : "", cell.tone ? `tone-${cell.tone}` : ""].filter(Boolean);
  const title = cell.title ? ` title="${escapeHtml(cell.title)}"` : "";
  const inner = cell.tone === "good" || cell.tone === "bad"
    ? `<span class="badge">${escapeHtml(cell.text)}</span>`
    : escapeHtml(cell.text);
  return `<td${classes.length ? ` class="${classes.join(" ")}"` : ""}${title}>${inner}</td>`;
}

function tableHtml(table: ReportTable, where: string): string {
  const cols = table.columns.map((c) => (typeof c === "string" ? { label: c } : c));
  for (const [i, row] of table.rows.entries()) {
    if (row.length !== cols.length) {
      throw new RangeError(`renderReport: ${where} table row ${i} has ${row.length} cells for ${cols.length} columns`);
    }
  }
  const head = cols.map((c) =>
    `<th scope="col"${c.numeric ? ` class="num"` : ""}${c.title ? ` title="${escapeHtml(c.title)}"` : ""}>${
      escapeHtml(c.label)
    }</th>`
  ).join("");
  const body = table.rows.map((row) => `<tr>${row.map((cell, j) => cellHtml(cell, !!cols[j].numeric)).join("")}</tr>`)
    .join("\n");
  const caption = table.caption ? `<p class="caption">${escapeHtml(table.caption)}</p>` : "";
  return `<div class="table-wrap"><table>\n<thead><tr>${head}</tr></thead>\n<tbody>\n${body}\n</tbody>\n</table></div>${caption}`;
}

const DATA_URL = /^data:image\/(png|jpeg|gif|webp);base64,[A-Za-z0-9+/]+=*$/;

function imagesHtml(images: ReportImage[], where: string, columns?: number): string {
  const items = images.map((img, i) => {
    if (typeof img.src !== "string" || !DATA_URL.test(img.src)) {
      throw new TypeError(
        `renderReport: ${where} image ${i} is not a base64 data: URL of a PNG, JPEG, GIF or WebP image`,
      );
    }
    if (img.width !== undefined && !(img.width > 0)) {
      throw new RangeError(`renderReport: ${where} image ${i} width ${img.width} is not positive`);
    }
    const style = img.width !== undefined ? ` style="width:${Math.round(img.width)}px"` : "";
    const caption = img.caption ? `<figcaption>${escapeHtml(img.caption)}</figcaption>` : "";
    return `<figure class="image"><img src="${img.src}" alt="${escapeHtml(img.alt)}"${style}>${caption}</figure>`;
  });
  if (columns !== undefined && !(Number.isInteger(columns) && columns >= 1)) {
    throw new RangeError(`renderReport: ${where} imageColumns ${columns} is not a positive integer`);
  }
  const grid = columns ? ` grid" style="grid-template-columns:repeat(${columns},max-content)` : "";
  return `<div class="images${grid}">\n${items.join("\n")}\n</div>`;
}

function flattenConfig(value: unknown, prefix: string, out: [string, string][]): void {
  if (value !== null && typeof value === "object" && !Array.isArray(value) && Object.keys(value).length > 0) {
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      flattenConfig(v, prefix === "" ? k : `${prefix}.${k}`, out);
    }
    return;
  }
  out.push([prefix, configValue(value)]);
}

function configValue(v: unknown): string {
  if (typeof v === "string") return v;
  if (typeof v === "number") return String(v);
  if (v === undefined) return "undefined";
  try {
    return JSON.stringify(v, (_, x) => (typeof x === "bigint" ? x.toString() : x)).replace(/,(?=\S)/g, ", ");
  } catch {
    return String(v);
  }
}

function configHtml(config: Record<string, unknown>): string {
  const entries: [string, string][] = [];
  flattenConfig(config, "", entries);
  const items = entries.map(([k, v]) => `<dt>${escapeHtml(k)}</dt><dd>${escapeHtml(v)}</dd>`).join("\n");
  return `<dl class="config">\n${items}\n</dl>`;
}

function slug(text: string, used: Set<string>): string {
  const base = text.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "") || "section";
  let id = base;
  for (let n = 2; used.has(id); n++) id = `${base}-${n}`;
  used.add(id);
  return id;
}

function specTitle(spec: VegaLiteSpec): string {
  const t = (spec as { title?: unknown }).title;
  if (typeof t === "string") return t;
  if (t !== null && typeof t === "object" && typeof (t as { text?: unknown }).text === "string") {
    return (t as { text: string }).text;
  }
  return "Chart";
}

function formatTime(t: Date | string | undefined): string {
  if (typeof t === "string") return t;
  const d = t ?? new Date();
  return d.toISOString().slice(0, 16).replace("T", " ") + " UTC";
}

async function sha256Base64(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  let binary = "";
  for (const b of new Uint8Array(digest)) binary += String.fromCharCode(b);
  return btoa(binary);
}

/** Options passed to vega-embed on the page. HTML tooltips stay off: vega-tooltip escapes every value. */
export const EMBED_OPTIONS = {
  renderer: "svg",
  actions: { export: true, source: false, compiled: false, editor: false },
  tooltip: { theme: "light" },
} as const;

// Runs on the page. Plain ES2017; no user data is ever put into this text (it
// comes from the JSON block), so its hash is stable and CSP can pin it.
const PAGE_SCRIPT = `"use strict";
(function () {
  var payload = JSON.parse(document.getElementById("gs-data").textContent);
  var views = {};
  var charts = payload.charts.map(function (c) {
    var fig = document.getElementById(c.id);
    var target = fig.querySelector(".chart-live");
    return vegaEmbed(target, c.spec, payload.embed).then(function (result) {
      views[c.id] = result.view;
      var still = fig.querySelector(".chart-static");
      if (still) still.remove();
      fig.classList.add("is-interactive");
    }, function (err) {
      fig.classList.add("has-error");
      console.error("gradstream: chart " + c.id + " could not be drawn: " + (err && err.message ? err.message : err));
    });
  });
  var ready = Promise.all(charts).then(function () {
    document.documentElement.setAttribute("data-charts", "ready");
    return views;
  });
  window.gradstream = { payload: payload, views: views, ready: ready };
})();
`;

// Live pages only: the live client (live_client.ts), compiled and inlined.
const LIVE_SCRIPT = liveScript();

const CSS = `
:root {
  --fg: #1f2328; --muted: #59636e; --faint: #818b98; --line: #d1d9e0; --hair: #eaeef2; --soft: #f6f8fa;
  --accent: #0969da; --good: #1a7f37; --good-bg: #dafbe1; --bad: #cf222e; --bad-bg: #ffebe9;
  --mono: ui-monospace, SFMono-Regular, "SF Mono", Menlo, Consolas, "Liberation Mono", "DejaVu Sans Mono", monospace;
  color-scheme: light;
}
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { margin: 0; background: #fff; color: var(--fg); font: 15px/1.6 ${REPORT_FONT}; }
.page { max-width: 1080px; margin: 0 auto; padding: 48px 32px 72px; }
header.head { border-bottom: 1px solid var(--hair); padding-bottom: 24px; margin-bottom: 8px; }
.eyebrow { margin: 0; color: var(--accent); font-size: 12px; font-weight: 650; letter-spacing: .09em; text-transform: uppercase; }
h1 { margin: 6px 0 10px; font-size: 30px; line-height: 1.2; letter-spacing: -.015em; font-weight: 700; overflow-wrap: anywhere; }
.lede { margin: 0 0 10px; max-width: 72ch; color: #3d444d; font-size: 16px; overflow-wrap: anywhere; }
.meta { margin: 12px 0 0; color: var(--faint); font-size: 13px; }
.live-status { margin: 14px 0 0; padding: 8px 12px; border-radius: 8px; background: var(--soft); border: 1px solid var(--hair); font-size: 14px; font-variant-numeric: tabular-nums; }
.live-status[data-state="running"]::before { content: ""; display: inline-block; width: 8px; height: 8px; margin-right: 8px; border-radius: 50%; background: var(--good); vertical-align: 1px; }
.live-status[data-state="stopped"], .live-status[data-state="error"] { background: var(--bad-bg); border-color: #ffcecb; }
.live-status[data-state="finished"] { background: var(--good-bg); border-color: #aceebb; }
.highlights { display: grid; grid-template-columns: repeat(auto-fit, minmax(170px, 1fr)); gap: 12px; margin: 22px 0 0; padding: 0; list-style: none; }
.highlights li { border: 1px solid var(--hair); border-radius: 10px; padding: 12px 16px; background: var(--soft); min-width: 0; }
.highlights .label { display: block; color: var(--muted); font-size: 12px; font-weight: 600; letter-spacing: .03em; text-transform: uppercase; }
.highlights .value { display: block; font-size: 22px; font-weight: 650; font-variant-numeric: tabular-nums; letter-spacing: -.01em; }
.highlights .value.long { font-size: 16px; line-height: 1.35; padding-top: 4px; overflow-wrap: anywhere; }
.highlights .note { display: block; color: var(--muted); font-size: 12.5px; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
nav.toc { margin: 18px 0 0; font-size: 14px; display: flex; flex-wrap: wrap; gap: 6px 18px; }
nav.toc a { color: var(--accent); text-decoration: none; }
nav.toc a:hover { text-decoration: underline; }
section { margin: 44px 0 0; }
h2 { margin: 0 0 6px; font-size: 20px; line-height: 1.3; letter-spacing: -.01em; overflow-wrap: anywhere; }
section > p { margin: 0 0 10px; max-width: 78ch; color: #3d444d; overflow-wrap: anywhere; }
.table-wrap { overflow-x: auto; margin: 14px 0 0; border: 1px solid var(--hair); border-radius: 10px; }
table { width: 100%; border-collapse: collapse; font-size: 14px; font-variant-numeric: tabular-nums; }
th { position: sticky; top: 0; background: var(--soft); text-align: left; font-weight: 600; font-size: 12.5px; color: var(--muted); padding: 9px 14px; border-bottom: 1px solid var(--line); white-space: nowrap; }
td { padding: 9px 14px; border-bottom: 1px solid var(--hair); vertical-align: top; overflow-wrap: break-word; }
td:first-child { min-width: 12ch; max-width: 36ch; font-weight: 500; }
tbody tr:last-child td { border-bottom: 0; }
tbody tr:hover td { background: #fafbfc; }
.num { text-align: right; white-space: nowrap; }
td.empty { color: var(--faint); }
.tone-muted { color: var(--muted); }
.tone-strong { font-weight: 700; }
.badge { display: inline-block; padding: 1px 9px; border-radius: 999px; font-size: 12.5px; font-weight: 600; white-space: nowrap; }
.tone-good .badge { background: var(--good-bg); color: var(--good); }
.tone-bad .badge { background: var(--bad-bg); color: var(--bad); }
.caption { margin: 8px 2px 0; color: var(--muted); font-size: 13px; }
figure { margin: 0; }
figure.chart { margin: 16px 0 0; padding: 18px 18px 12px; border: 1px solid var(--hair); border-radius: 12px; background: #fff; overflow-x: auto; }
.chart-static svg { display: block; max-width: 100%; height: auto; }
.chart .vega-embed { display: block; }
.chart .vega-bindings { display: flex; flex-wrap: wrap; align-items: center; gap: 8px 28px; margin: 12px 0 2px; font-size: 13px; color: var(--muted); }
.chart .vega-bind label, .chart .vega-bind-radio { display: inline-flex; align-items: center; gap: 6px; }
.chart .vega-bind-radio label { margin-right: 8px; color: var(--fg); }
.chart .vega-bind-name { font-weight: 600; color: var(--fg); }
.chart .vega-bind input[type="range"] { width: 160px; accent-color: var(--accent); }
.chart .vega-bind input[type="checkbox"], .chart .vega-bind input[type="radio"] { accent-color: var(--accent); margin: 0 2px 0 0; }
.chart.has-error::after { content: "Interactive chart unavailable; showing the static rendering."; display: block; color: var(--bad); font-size: 13px; }
.images { display: flex; flex-wrap: wrap; gap: 20px; margin: 16px 0 0; align-items: flex-start; }
.images.grid { display: grid; gap: 16px 20px; }
figure.image { margin: 0; width: fit-content; max-width: 100%; }
figure.image figcaption { width: min-content; min-width: 100%; }
figure.image img { display: block; max-width: 100%; height: auto; image-rendering: pixelated; image-rendering: crisp-edges; border-radius: 6px; box-shadow: 0 0 0 1px var(--hair); }
figure.image figcaption { margin-top: 6px; color: var(--muted); font-size: 13px; text-align: center; }
dl.config { display: grid; grid-template-columns: minmax(140px, max-content) 1fr; gap: 0; margin: 14px 0 0; font-size: 13.5px; border: 1px solid var(--hair); border-radius: 10px; overflow: hidden; }
dl.config dt, dl.config dd { margin: 0; padding: 6px 14px; border-bottom: 1px solid var(--hair); font-family: var(--mono); font-size: 12.5px; overflow-wrap: anywhere; }
dl.config dt { color: var(--muted); background: var(--soft); }
dl.config dt:nth-last-of-type(1), dl.config dd:nth-last-of-type(1) { border-bottom: 0; }
details.more { margin: 12px 0 0; }
details.more > summary { cursor: pointer; color: var(--accent); font-size: 14px; }
footer { margin: 56px 0 0; padding-top: 16px; border-top: 1px solid var(--hair); color: var(--faint); font-size: 12.5px; }
#vg-tooltip-element { font-family: ${REPORT_FONT}; font-size: 12.5px; border-radius: 8px; box-shadow: 0 4px 14px rgba(31, 35, 40, .15); }
@media (max-width: 640px) { .page { padding: 28px 16px 48px; } h1 { font-size: 24px; } }
@media print {
  body { font-size: 11pt; }
  .page { max-width: none; padding: 0; }
  nav.toc, .vega-embed .vega-actions, .vega-embed > details, .live-status { display: none !important; }
  section { break-inside: auto; margin-top: 28px; }
  figure.chart, figure.image, .highlights li, tr { break-inside: avoid; }
  figure.chart { border: 0; padding: 0; }
  h2 { break-after: avoid; }
  th { position: static; }
}
`;

/**
 * Assembles a report page from a report and its assets (static SVGs of its
 * charts, vega builds). Use `renderReport` (render.ts) unless the SVGs are
 * already at hand.
 *
 * @throws RangeError when the number of static SVGs differs from the number of charts, or a table row is ragged
 * @throws TypeError when an image is not a base64 `data:` URL
 */
export async function renderReportHtml(report: Report, assets: PageAssets): Promise<string> {
  const chartCount = report.sections.filter((s) => s.spec !== undefined).length;
  if (assets.staticSvgs.length !== chartCount) {
    throw new RangeError(`renderReport: ${assets.staticSvgs.length} static SVGs for ${chartCount} charts`);
  }
  if (typeof report.title !== "string" || report.title === "") {
    throw new TypeError("renderReport: title must be a non-empty string");
  }
  const used = new Set<string>(["summary", "configuration", "gs-data", "gs-live-status"]);
  for (let i = 0; i < chartCount; i++) used.add(`chart-${i}`);
  const charts: { id: string; spec: VegaLiteSpec; live?: string }[] = [];
  const nav: string[] = [];
  const parts: string[] = [];

  if (report.summary) {
    nav.push(`<a href="#summary">Summary</a>`);
    parts.push(`<section id="summary">\n<h2>Summary</h2>\n${tableHtml(report.summary, "summary")}\n</section>`);
  }
  for (const section of report.sections) {
    const id = slug(section.heading, used);
    nav.push(`<a href="#${id}">${escapeHtml(section.heading)}</a>`);
    const body: string[] = [`<h2>${escapeHtml(section.heading)}</h2>`, paragraphs(section.text)];
    if (section.spec !== undefined) {
      const chartId = `chart-${charts.length}`;
      const svg = assets.staticSvgs[charts.length];
      charts.push({ id: chartId, spec: section.spec, ...(section.live ? { live: section.live } : {}) });
      body.push(
        `<figure class="chart" id="${chartId}">\n<div class="chart-live"></div>\n` +
          `<div class="chart-static" role="img" aria-label="${
            escapeHtml(specTitle(section.spec))
          }">${svg}</div>\n</figure>`,
      );
    }
    if (section.table) body.push(tableHtml(section.table, `section "${section.heading}"`));
    if (section.more) {
      body.push(
        `<details class="more"><summary>${escapeHtml(section.more.summary)}</summary>\n${
          tableHtml(section.more.table, `section "${section.heading}" (more)`)
        }\n</details>`,
      );
    }
    if (section.images) body.push(imagesHtml(section.images, `section "${section.heading}"`, section.imageColumns));
    parts.push(`<section id="${id}">\n${body.filter(Boolean).join("\n")}\n</section>`);
  }
  if (report.config && Object.keys(report.config).length > 0) {
    nav.push(`<a href="#configuration">Configuration</a>`);
    parts.push(`<section id="configuration">\n<h2>Configuration</h2>\n${configHtml(report.config)}\n</section>`);
  }

  const highlights = report.highlights?.length
    ? `<ul class="highlights">\n${
      report.highlights.map((h) =>
        `<li><span class="label">${escapeHtml(h.label)}</span><span class="value${
          h.value.length > 12 ? " long" : ""
        }">${escapeHtml(h.value)}</span>${
          h.note ? `<span class="note" title="${escapeHtml(h.note)}">${escapeHtml(h.note)}</span>` : ""
        }</li>`
      ).join("\n")
    }\n</ul>`
    : "";

  const payload = { charts, embed: EMBED_OPTIONS, ...(report.live ? { live: report.live } : {}) };
  const { vega, vegaLite, vegaEmbed } = assets.scripts;
  const scripts = [vega, vegaLite, vegaEmbed, PAGE_SCRIPT, ...(report.live ? [LIVE_SCRIPT] : [])];
  const hashes = await Promise.all(scripts.map(async (s) => `'sha256-${await sha256Base64(s)}'`));
  // vega compiles its expressions with Function(), hence 'unsafe-eval'; inline
  // event handlers and any other script stay blocked, and nothing is fetched.
  const csp = [
    "default-src 'none'",
    `script-src ${hashes.join(" ")} 'unsafe-eval'`,
    "style-src 'unsafe-inline'",
    "img-src data: blob:",
    `connect-src ${report.live ? "'self'" : "'none'"}`,
    "base-uri 'none'",
    "form-action 'none'",
  ].join("; ");

  return `${pageHead(report.title, csp, CSS)}
<body>
<div class="page">
<header class="head">
<p class="eyebrow">gradstream report</p>
<h1>${escapeHtml(report.title)}</h1>
${paragraphs(report.description, "lede")}
${highlights}
<p id="gs-live-status" class="live-status" hidden></p>
<nav class="toc" aria-label="Sections">${nav.join("\n")}</nav>
</header>
<main>
${parts.join("\n")}
</main>
<footer>Generated ${
    escapeHtml(formatTime(report.generatedAt))
  } by gradstream · charts: vega, vega-lite, vega-embed (inlined; the page works offline and without JavaScript).</footer>
</div>
<script type="application/json" id="gs-data">${jsonForScript(payload)}</script>
${scripts.map((s) => `<script>${s}</script>`).join("\n")}
</body>
</html>
`;
}
