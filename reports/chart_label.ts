/**
 * Run labels as charts show them. Tables show a label in full; a chart
 * shows it on one line and at most {@link CHART_LABEL_MAX} characters long,
 * because vega-lite writes the labels of the colour scale into the
 * expressions vega compiles (where U+2028 and U+2029 end a string literal
 * and break the parse), and every data row of a chart repeats its label.
 *
 * {@link chartLabel} is also inlined into the live page (see
 * `live_client.ts`), so it uses nothing outside its own body.
 *
 * @module
 */

import { checkLabels, type LabelledRun } from "./run_data.ts";

/** The longest label a chart shows, in UTF-16 code units; longer ones are cut and marked with a hash of the whole. */
export const CHART_LABEL_MAX = 64;

/**
 * A run label as a chart shows it: control characters and line or
 * paragraph separators (U+2028, U+2029) become spaces, and a label longer
 * than `max` (default {@link CHART_LABEL_MAX}) is cut, ending in `…` and 8 hex
 * digits of an FNV-1a hash of the whole label, so different long labels stay
 * apart. A short plain label is returned unchanged.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { chartLabel } from "./chart_label.ts";
 *
 * assertEquals(chartLabel("batchnorm · batch 50"), "batchnorm · batch 50");
 * assertEquals(chartLabel("line\u2028break"), "line break");
 * assertEquals(chartLabel("x".repeat(200_000)).length, 64);
 * ```
 */
export function chartLabel(label: string, max = 64): string {
  // deno-lint-ignore no-control-regex
  const oneLine = String(label).replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, " ");
  if (oneLine.length <= max) return oneLine;
  let hash = 0x811c9dc5;
  for (let i = 0; i < label.length; i++) hash = Math.imul(hash ^ label.charCodeAt(i), 0x01000193);
  const tag = "…" + (hash >>> 0).toString(16).padStart(8, "0");
  let head = oneLine.slice(0, Math.max(0, max - tag.length));
  // Never end on half of a surrogate pair.
  if (/[\ud800-\udbff]$/.test(head)) head = head.slice(0, -1);
  return head + tag;
}

/**
 * Runs relabelled for a chart ({@link chartLabel}), after checking that the
 * full labels are unique and non-empty, and that the chart labels still are.
 *
 * @throws TypeError when a label is empty or not a string
 * @throws RangeError when two runs share a label (in full, or as the chart shows it)
 */
export function chartRuns<R extends LabelledRun>(where: string, runs: readonly R[]): R[] {
  checkLabels(where, runs.map((r) => r.label));
  const relabelled = runs.map((r) => ({ ...r, label: chartLabel(r.label) }));
  checkLabels(where, relabelled.map((r) => r.label));
  return relabelled;
}
