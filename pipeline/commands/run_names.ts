/**
 * Default names of run folders: what the run is (model, dataset), the
 * settings that differ from the defaults in short spellings, and 8 hex
 * digits of a hash of every setting, so the same settings always name the
 * same folder (what `--resume` relies on) and different ones never share
 * one. `fc-sample-dropout0.1-lr2e-3-5c1e09ab` reads as what it is.
 *
 * @module
 */

/** How one setting is spelled in a name. */
export interface NameSpelling {
  /** The setting's key in the settings object. */
  key: string;
  /** Written before the value (`lr` → `lr2e-3`); "" writes the value alone (`sgd`). */
  short: string;
  /** Whole spellings of particular values (`{ none: "no-norm" }`), instead of `short + value`. */
  values?: Readonly<Record<string, string>>;
}

/** What {@link readableRunName} builds a name from. */
export interface RunNameInput {
  /** What the run is, always written first (`["cnn", "cifar10"]`). */
  prefix: readonly string[];
  /** Every setting that identifies the run (the hash covers all of them). */
  settings: Readonly<Record<string, unknown>>;
  /** The defaults: settings equal to theirs are left out of the readable part. */
  defaults: Readonly<Record<string, unknown>>;
  /** How settings are spelled, in the order they are written; settings without a spelling are only hashed. */
  spellings: readonly NameSpelling[];
  /** Longest readable part before the hash; longer ones are cut at a `-`. Default 80. */
  maxLength?: number;
}

/**
 * A number as short as it reads: `0.001` → `1e-3`, `0.02` → `0.02`,
 * `2e-5` → `2e-5`; integers below a million as they are (`1000`).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { shortNumber } from "./run_names.ts";
 * assertEquals([0.001, 0.02, 2e-5, 100, 0.5].map(shortNumber), ["1e-3", "0.02", "2e-5", "100", "0.5"]);
 * ```
 */
export function shortNumber(v: number): string {
  const plain = String(v);
  if (Number.isInteger(v) && Math.abs(v) < 1e6) return plain;
  const exp = v.toExponential().replace(/e\+?/, "e").replace(/\.?0+e/, "e");
  return exp.length < plain.length ? exp : plain;
}

/** A setting's value as a name writes it: lists as `16x3` (all equal) or `16-32`, booleans as "", else its text. */
function valueText(v: unknown): string {
  if (typeof v === "number") return shortNumber(v);
  if (Array.isArray(v)) {
    return v.length > 1 && v.every((x) => x === v[0]) ? `${valueText(v[0])}x${v.length}` : v.map(valueText).join("-");
  }
  if (v === null || v === undefined) return "none";
  return String(v);
}

/** Only letters, digits, `.`, `_` and `-`; runs of anything else become `-`. */
function safe(text: string): string {
  return text.replace(/[^\w.-]+/g, "-").replace(/^-+|-+$/g, "");
}

/** JSON with object keys sorted, so the hash does not depend on the order settings were written in. */
function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(",")}]`;
  if (v !== null && typeof v === "object") {
    const entries = Object.entries(v as Record<string, unknown>).filter(([, x]) => x !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${canonicalJson(x)}`).join(",")}}`;
  }
  return JSON.stringify(v) ?? "null";
}

/** 8 hex digits of the SHA-256 of the settings (keys sorted). */
export async function settingsHash(settings: Readonly<Record<string, unknown>>): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(canonicalJson(settings)));
  return Array.from(new Uint8Array(digest).slice(0, 4), (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * The default name of a run folder (see the module docs).
 *
 * @example
 * ```ts
 * import { assertMatch } from "@std/assert";
 * import { readableRunName } from "./run_names.ts";
 * const name = await readableRunName({
 *   prefix: ["fc", "sample"],
 *   settings: { dropout: 0.1, learningRate: 2e-3, epochs: 10, seed: 0 },
 *   defaults: { dropout: 0, learningRate: 1e-3, epochs: 10, seed: 0 },
 *   spellings: [{ key: "dropout", short: "dropout" }, { key: "learningRate", short: "lr" }, { key: "seed", short: "s" }],
 * });
 * assertMatch(name, /^fc-sample-dropout0\.1-lr2e-3-[0-9a-f]{8}$/);
 * ```
 */
export async function readableRunName(input: RunNameInput): Promise<string> {
  const parts = input.prefix.map(safe).filter(Boolean);
  for (const { key, short, values } of input.spellings) {
    const v = input.settings[key];
    if (v === undefined || canonicalJson(v) === canonicalJson(input.defaults[key])) continue;
    const text = valueText(v);
    const whole = values?.[text];
    const part = whole ?? (typeof v === "boolean" ? (v ? short : `no-${short}`) : `${short}${text}`);
    if (safe(part) !== "") parts.push(safe(part));
  }
  let readable = parts.join("-");
  const max = input.maxLength ?? 80;
  if (readable.length > max) {
    readable = readable.slice(0, readable.lastIndexOf("-", max) > 0 ? readable.lastIndexOf("-", max) : max);
  }
  return `${readable}-${await settingsHash(input.settings)}`;
}
