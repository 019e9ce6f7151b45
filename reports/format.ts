/**
 * Number formatting for reports, in one place: percentages, plain numbers,
 * durations. {@link formatPercent} is also inlined into the live page (see
 * `live_client.ts`), so it uses nothing outside its own body.
 *
 * @module
 */

/** Options of {@link formatPercent}. */
export interface FormatPercentOptions {
  /** Digits after the decimal point. Default 2. */
  digits?: number;
  /** The unit after the number. Default `"%"` (`"points"` for differences of percentages). */
  unit?: string;
}

/**
 * A fraction as a percentage, `52.30 %` (digits and unit per the options);
 * undefined for a missing or non-finite value.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { formatPercent } from "./format.ts";
 *
 * assertEquals(formatPercent(0.523), "52.30 %");
 * assertEquals(formatPercent(0.0412, { digits: 1, unit: "points" }), "4.1 points");
 * assertEquals(formatPercent(null), undefined);
 * ```
 */
export function formatPercent(v: number | null | undefined, options: FormatPercentOptions = {}): string | undefined {
  if (v === null || v === undefined || !Number.isFinite(v)) return undefined;
  return (100 * v).toFixed(options.digits ?? 2) + " " + (options.unit ?? "%");
}

/**
 * A fraction as a right-aligned table cell (`52.30 %`, as {@link formatPercent}), or null (an empty cell) for a
 * missing or non-finite value.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { percentCell } from "./format.ts";
 *
 * assertEquals(percentCell(0.5), { text: "50.00 %", numeric: true });
 * assertEquals(percentCell(undefined), null);
 * ```
 */
export function percentCell(
  v: number | null | undefined,
  options: FormatPercentOptions = {},
): { text: string; numeric: true } | null {
  const text = formatPercent(v, options);
  return text === undefined ? null : { text, numeric: true };
}

/**
 * A number as a table shows it: integers with thousands separators, others to 4 significant digits (exponent
 * notation below 1e-3 and from 1e6).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { formatNumber } from "./format.ts";
 *
 * assertEquals(formatNumber(49000), "49,000");
 * assertEquals(formatNumber(0.123456), "0.1235");
 * assertEquals(formatNumber(2.5e-5), "2.50e-5");
 * ```
 */
export function formatNumber(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (Number.isInteger(v) && Math.abs(v) < 1e15) return v.toLocaleString("en-US");
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e6)) return v.toExponential(2);
  return String(Number(v.toPrecision(4)));
}

/**
 * A duration as a table shows it: `850 ms`, `12.3 s`, `4 min 05 s`, `2 h 03 min`; undefined for a missing,
 * negative or non-finite one.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { formatDuration } from "./format.ts";
 *
 * assertEquals(formatDuration(245_000), "4 min 05 s");
 * ```
 */
export function formatDuration(ms: number | undefined): string | undefined {
  if (ms === undefined || !Number.isFinite(ms) || ms < 0) return undefined;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${String(Math.floor(s - 60 * m)).padStart(2, "0")} s`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, "0")} min`;
}
