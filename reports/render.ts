/**
 * Server-side rendering: Vega-Lite specs to static SVG (a headless vega
 * view, `renderer: "none"`), whole reports to HTML, and atomic report files.
 *
 * @module
 */

import type { Spec } from "vega";
import { writeFileAtomic } from "../pipeline/store/atomic_write.ts";
import { renderReportHtml, type Report } from "./html.ts";
import type { VegaLiteSpec } from "./theme.ts";
import { vega, vegaLite, vendorScripts } from "./vendor.ts";

/** A Vega spec, as vega-lite's `compile` returns it (vega's `Spec`). */
export type CompiledVegaSpec = Spec;

/** A spec compiled to Vega, with what vega-lite warned about on the way. */
export interface CompiledSpec {
  /** The Vega spec. */
  vega: CompiledVegaSpec;
  /** vega-lite's warnings (empty for a well-formed spec). */
  warnings: string[];
}

/**
 * Compiles a Vega-Lite spec to Vega, collecting warnings instead of
 * printing them.
 *
 * @throws Error naming the problem when vega-lite rejects the spec
 */
export function compileSpec(spec: VegaLiteSpec): CompiledSpec {
  const warnings: string[] = [];
  let level = 0;
  const logger = {
    level(l?: number) {
      if (l === undefined) return level;
      level = l;
      return logger;
    },
    error(...args: unknown[]): never {
      throw new Error(`compileSpec: vega-lite error: ${args.map(String).join(" ")}`);
    },
    warn(...args: unknown[]) {
      warnings.push(args.map(String).join(" "));
      return logger;
    },
    info() {
      return logger;
    },
    debug() {
      return logger;
    },
  };
  // deno-lint-ignore no-explicit-any
  const { spec: compiled } = vegaLite.compile(spec, { logger: logger as any });
  return { vega: compiled, warnings };
}

/** Options of {@link specToSvg}. */
export interface SpecToSvgOptions {
  /**
   * Prefix for the SVG's element ids (clip paths, gradients), so several
   * charts inlined into one page do not share ids. Default none.
   */
  idPrefix?: string;
}

/**
 * Renders a Vega-Lite spec to a static SVG string with a headless vega view
 * (text sizes are estimated, as no canvas is available). Text in the SVG is
 * escaped by vega. The same spec always gives the same SVG, whatever was
 * rendered before in the process (see {@link renumberSvgIds}).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { specToSvg } from "./render.ts";
 *
 * const svg = await specToSvg({ data: { values: [{ a: 1 }] }, mark: "point", encoding: { x: { field: "a", type: "quantitative" } } });
 * assertEquals(svg.startsWith("<svg"), true);
 * ```
 */
export async function specToSvg(spec: VegaLiteSpec, options: SpecToSvgOptions = {}): Promise<string> {
  const { vega: compiled } = compileSpec(spec);
  const view = new vega.View(vega.parse(compiled), { renderer: "none", logLevel: vega.Error });
  try {
    const svg = renumberSvgIds(await view.toSVG());
    return options.idPrefix ? prefixSvgIds(svg, options.idPrefix) : svg;
  } finally {
    view.finalize();
  }
}

/** Where vega starts the counters it numbers SVG element ids with: `clip1`, `clip2`, …; `gradient_0`, …. */
const VEGA_ID_STARTS: Readonly<Record<string, number>> = { clip: 1, gradient_: 0 };

/**
 * Renumbers the element ids vega generates (`clip7`, `gradient_3`: counted
 * per process, not per chart) in order of first appearance, from where vega
 * starts them, so that a chart's SVG does not depend on what was rendered
 * before it. Only markup changes (`id`, `href="#…"` and `clip-path`, `fill`
 * or `stroke` `="url(#…)"` attributes, inside tags), never text or labels:
 * vega escapes `<`, `>` in text and `"` in attribute values.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { renumberSvgIds } from "./render.ts";
 *
 * assertEquals(
 *   renumberSvgIds('<clipPath id="clip7"/><g clip-path="url(#clip7)"/>'),
 *   '<clipPath id="clip1"/><g clip-path="url(#clip1)"/>',
 * );
 * ```
 */
export function renumberSvgIds(svg: string): string {
  const next = { ...VEGA_ID_STARTS };
  const renamed = new Map<string, string>();
  const rename = (id: string, base: string) => {
    let to = renamed.get(id);
    if (to === undefined) renamed.set(id, to = `${base}${next[base]++}`);
    return to;
  };
  return svg.replace(
    /<[^>]*>/g,
    (tag) =>
      tag.replace(
        /(\sid="|\shref="#|\s(?:clip-path|fill|stroke)="url\(#)((clip|gradient_)\d+)(?="|\)")/g,
        (_, lead: string, id: string, base: string) => lead + rename(id, base),
      ),
  );
}

/** Renames every `id` in an SVG string (and its `url(#…)` / `href="#…"` uses) to `${prefix}${id}`. */
export function prefixSvgIds(svg: string, prefix: string): string {
  if (!/^[A-Za-z][\w-]*$/.test(prefix)) throw new RangeError(`prefixSvgIds: prefix "${prefix}" is not a plain id`);
  return svg
    .replace(/\sid="([^"]+)"/g, (_, id) => ` id="${prefix}${id}"`)
    .replace(/url\(#([^)]+)\)/g, (_, id) => `url(#${prefix}${id})`)
    .replace(/href="#([^"]+)"/g, (_, id) => `href="#${prefix}${id}"`);
}

/**
 * Renders a report to one self-contained HTML page: every chart also as
 * static SVG (the page reads without JavaScript), the vega libraries
 * inlined (it opens offline), and all user text escaped.
 */
export async function renderReport(report: Report): Promise<string> {
  const svgs: string[] = [];
  let n = 0;
  for (const section of report.sections) {
    if (section.spec !== undefined) svgs.push(await specToSvg(section.spec, { idPrefix: `c${n++}-` }));
  }
  return await renderReportHtml(report, { staticSvgs: svgs, scripts: await vendorScripts() });
}

/**
 * Renders a report and writes it to `path` atomically (a reader sees the old
 * page or the whole new one). The directory must exist.
 */
export async function writeReport(path: string, report: Report): Promise<void> {
  await writeFileAtomic(path, await renderReport(report));
}
