/**
 * What `train` and `experiment` share on the command line: {@link UsageError}
 * (one line, exit code 2), flag parsing with `node:util`'s `parseArgs` and
 * its errors turned into one line naming the flag, the validators (each
 * names the flag and what it expects), and help-text helpers. Derived from
 * the tables below it: update rules (`pipeline/update_rules.ts`) and dataset
 * formats (`datasets/registry.ts`).
 *
 * @module
 */

import { MAX_THREADS } from "../../layers/kernels/threads.ts";
import { parseArgs } from "node:util";
import { DATASET_SPECS, DatasetSpecError, parseDatasetSpec } from "../../datasets/registry.ts";
import type { GemmBackendName } from "../../layers/kernels/gemm_backends.ts";
import type { Normalization } from "../../layers/models/model_spec.ts";

/** Exit code of a command-line mistake. */
export const USAGE_EXIT_CODE = 2;

/**
 * The exit code of an error a command caught, told to `err` as one line
 * `command: message`: {@link USAGE_EXIT_CODE} when `isUsage(e)` (a mistake
 * in how the command was called), else 1 with only the message's first
 * line. What is not an `Error` is thrown again.
 */
export function commandErrorExit(
  command: string,
  e: unknown,
  err: (line: string) => void,
  isUsage: (e: Error) => boolean = () => false,
): number {
  if (!(e instanceof Error)) throw e;
  if (isUsage(e)) {
    err(`${command}: ${e.message}`);
    return USAGE_EXIT_CODE;
  }
  err(`${command}: ${e.message.split("\n")[0]}`);
  return 1;
}

/**
 * A command-line mistake: one line naming the flag and what it expects, exit code 2.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { positiveInteger, UsageError } from "./cli.ts";
 * try {
 *   positiveInteger("epochs", "ten");
 * } catch (e) {
 *   assertEquals(e instanceof UsageError && e.message, '--epochs expects a positive integer, got "ten"');
 * }
 * ```
 */
export class UsageError extends Error {
  /** @param message the line to print after the command's name (`train: `, `experiment: `) */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** Flags as `node:util`'s `parseArgs` takes them. */
export type FlagOptions = Record<string, { type: "string" | "boolean" }>;

/**
 * The flag table `parseFlags` takes, from the names of the flags that take a
 * value and of the switches.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { flagTable } from "./cli.ts";
 * assertEquals(flagTable(["out"], ["quiet"]), { out: { type: "string" }, quiet: { type: "boolean" } });
 * ```
 */
export function flagTable<S extends string, B extends string>(
  valued: readonly S[],
  switches: readonly B[],
): { [K in S]: { type: "string" } } & { [K in B]: { type: "boolean" } } {
  const table: FlagOptions = {};
  for (const name of valued) table[name] = { type: "string" };
  for (const name of switches) table[name] = { type: "boolean" };
  return table as { [K in S]: { type: "string" } } & { [K in B]: { type: "boolean" } };
}

/** How {@link parseFlags} words its errors for one command. */
export interface ParseFlagsOptions {
  /** Whether bare arguments (an experiment's name) are allowed. Default false. */
  allowPositionals?: boolean;
  /** The end of the line for an unknown flag, e.g. ` (see --help)`. */
  unknownFlagHint: string;
  /** What a flag without its value expects, e.g. `--workers N` (undefined: no hint). */
  valueHint?: (flag: string) => string | undefined;
}

/**
 * Parses `args` strictly (unknown flags are errors).
 *
 * @throws UsageError naming the flag: unknown, missing its value, or given one it does not take
 *
 * @example
 * ```ts
 * import { assertEquals, assertThrows } from "@std/assert";
 * import { parseFlags, UsageError } from "./cli.ts";
 * const flags = { epochs: { type: "string" } } as const;
 * assertEquals(parseFlags(["--epochs", "3"], flags, { unknownFlagHint: " (see --help)" }).values.epochs, "3");
 * assertThrows(() => parseFlags(["--ep"], flags, { unknownFlagHint: " (see --help)" }), UsageError, "unknown flag --ep (see --help)");
 * ```
 */
export function parseFlags<F extends FlagOptions>(
  args: string[],
  flags: F,
  options: ParseFlagsOptions,
): { values: { [K in keyof F]?: F[K]["type"] extends "boolean" ? boolean : string }; positionals: string[] } {
  try {
    const parsed = parseArgs({
      args,
      options: flags,
      strict: true,
      allowPositionals: options.allowPositionals ?? false,
    });
    return parsed as unknown as ReturnType<typeof parseFlags<F>>;
  } catch (e) {
    throw parseError(e, options);
  }
}

/** Turns a `node:util` parseArgs error into one line naming the flag. */
function parseError(e: unknown, options: ParseFlagsOptions): UsageError {
  const err = e as { code?: string; message?: string };
  const message = err.message ?? String(e);
  const flag = /'(-[^' ]+)/.exec(message)?.[1] ?? "";
  switch (err.code) {
    case "ERR_PARSE_ARGS_UNKNOWN_OPTION":
      return new UsageError(`unknown flag ${flag}${options.unknownFlagHint}`);
    case "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL":
      return new UsageError(
        `unexpected argument ${JSON.stringify(/'([^']*)'/.exec(message)?.[1] ?? "")}; flags start with -- (see --help)`,
      );
    case "ERR_PARSE_ARGS_INVALID_OPTION_VALUE": {
      if (message.includes("does not take an argument")) return new UsageError(`${flag} takes no value`);
      if (message.includes("ambiguous")) {
        return new UsageError(`${flag} expects a value; write ${flag}=VALUE for a value starting with "-"`);
      }
      const hint = options.valueHint?.(flag.replace(/^--/, ""));
      return new UsageError(`${flag} expects a value${hint ? `: ${hint}` : ""}`);
    }
    default:
      return new UsageError(message.split("\n")[0]);
  }
}

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

/**
 * The most elements one tensor may hold: the length limit of a typed array
 * that every backend (OpenBLAS's 32-bit indices, WebAssembly's memory) can take.
 */
export const MAX_TENSOR_ELEMENTS = 2 ** 31 - 1;

/**
 * `--flag N`: a positive integer, at most `max` (default {@link MAX_TENSOR_ELEMENTS}).
 *
 * @throws UsageError naming the flag and what it expects, or the limit
 *
 * @example
 * ```ts
 * import { assertEquals, assertThrows } from "@std/assert";
 * import { positiveInteger } from "./cli.ts";
 * assertEquals(positiveInteger("epochs", "10"), 10);
 * assertThrows(() => positiveInteger("epochs", "0"), Error, '--epochs expects a positive integer, got "0"');
 * assertThrows(() => positiveInteger("epochs", "12", { max: 10, why: "the limit" }), Error, "--epochs 12 is more than 10 (the limit)");
 * ```
 */
export function positiveInteger(flag: string, s: string, limit: { max?: number; why?: string } = {}): number {
  const v = Number(s);
  if (!/^\d+$/.test(s) || !Number.isSafeInteger(v) || v <= 0) {
    throw new UsageError(`--${flag} expects a positive integer, got ${JSON.stringify(s)}`);
  }
  const max = limit.max ?? MAX_TENSOR_ELEMENTS;
  if (v > max) {
    throw new UsageError(
      `--${flag} ${s} is more than ${max}${
        limit.why ? ` (${limit.why})` : max === MAX_TENSOR_ELEMENTS ? " (the most elements a tensor can hold)" : ""
      }`,
    );
  }
  return v;
}

/**
 * `--threads N`: the layers' thread count, 1 to `MAX_THREADS`.
 *
 * @example
 * ```ts
 * import { assertEquals, assertThrows } from "@std/assert";
 * import { threadCount, UsageError } from "./cli.ts";
 * assertEquals(threadCount("threads", "2"), 2);
 * assertThrows(() => threadCount("threads", "0"), UsageError, "--threads expects a thread count from 1 to 64");
 * ```
 */
export function threadCount(flag: string, s: string): number {
  const v = Number(s);
  if (!/^\d+$/.test(s) || v < 1 || v > MAX_THREADS) {
    throw new UsageError(`--${flag} expects a thread count from 1 to ${MAX_THREADS}, got ${JSON.stringify(s)}`);
  }
  return v;
}

/**
 * `--flag N,N,…`: comma-separated positive integers, each at most {@link MAX_TENSOR_ELEMENTS}.
 *
 * @throws UsageError naming the flag and what it expects, or the limit
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { positiveIntegerList } from "./cli.ts";
 * assertEquals(positiveIntegerList("hidden-dims", "100,50", "100,100"), [100, 50]);
 * ```
 */
export function positiveIntegerList(flag: string, s: string, example: string): number[] {
  const parts = s.split(",").map((p) => p.trim());
  if (!parts.every((p) => /^\d+$/.test(p) && Number(p) > 0)) {
    throw new UsageError(
      `--${flag} expects comma-separated positive integers like ${example}, got ${JSON.stringify(s)}`,
    );
  }
  const tooLarge = parts.find((p) => Number(p) > MAX_TENSOR_ELEMENTS);
  if (tooLarge !== undefined) {
    throw new UsageError(
      `--${flag} ${tooLarge} is more than ${MAX_TENSOR_ELEMENTS} (the most elements a tensor can hold)`,
    );
  }
  return parts.map(Number);
}

/**
 * `--flag X`: a finite number for which `ok` holds; `what` says which (`a number ≥ 0`).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { numberValue } from "./cli.ts";
 * assertEquals(numberValue("reg", "1e-3", "a number ≥ 0", (v) => v >= 0), 1e-3);
 * ```
 */
export function numberValue(flag: string, s: string, what: string, ok: (v: number) => boolean): number {
  const v = Number(s);
  if (!NUMBER.test(s) || !Number.isFinite(v) || !ok(v)) {
    throw new UsageError(`--${flag} expects ${what}, got ${JSON.stringify(s)}`);
  }
  return v;
}

/**
 * `--flag a|b|c`: one of `options`.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { choice } from "./cli.ts";
 * assertEquals(choice("model", "cnn", ["fc", "cnn"] as const), "cnn");
 * ```
 */
export function choice<T extends string>(flag: string, s: string, options: readonly T[]): T {
  if (!(options as readonly string[]).includes(s)) {
    throw new UsageError(`--${flag} expects one of ${options.join(", ")}, got ${JSON.stringify(s)}`);
  }
  return s as T;
}

/**
 * `--seed S`: an integer in [0, 2^32), the range `RandomState` takes.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { seedValue } from "./cli.ts";
 * assertEquals(seedValue("seed", "42"), 42);
 * ```
 */
export function seedValue(flag: string, s: string): number {
  if (!/^\d+$/.test(s) || Number(s) >= 2 ** 32) {
    throw new UsageError(`--${flag} expects an integer in [0, 2^32), got ${JSON.stringify(s)}`);
  }
  return Number(s);
}

/**
 * `--normalization` spellings and the `Normalization` each means (`none` is null).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { NORMALIZATION_FLAGS } from "./cli.ts";
 * assertEquals(NORMALIZATION_FLAGS.none, null);
 * ```
 */
export const NORMALIZATION_FLAGS: Readonly<Record<string, Normalization>> = Object.freeze({
  batchnorm: "batchnorm",
  layernorm: "layernorm",
  none: null,
});

/** The gemm backends a `--gemm` flag takes. */
export const GEMM_CHOICES: readonly (GemmBackendName | "auto")[] = Object.freeze(["blas", "wasm", "ts", "auto"]);

/**
 * `--gemm blas|wasm|ts|auto`.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { gemmChoice } from "./cli.ts";
 * assertEquals(gemmChoice("gemm", "wasm"), "wasm");
 * ```
 */
export function gemmChoice(flag: string, s: string): GemmBackendName | "auto" {
  return choice(flag, s, GEMM_CHOICES);
}

/**
 * `--dataset SPEC`: a spec some format of `datasets/registry.ts` takes.
 *
 * @example
 * ```ts
 * import { assertEquals, assertThrows } from "@std/assert";
 * import { datasetSpec } from "./cli.ts";
 * assertEquals(datasetSpec("dataset", "sample").format.name, "sample");
 * assertThrows(() => datasetSpec("dataset", "imagenet"), Error, "--dataset expects sample | cifar10:DIR");
 * ```
 */
export function datasetSpec(flag: string, s: string): ReturnType<typeof parseDatasetSpec> {
  try {
    return parseDatasetSpec(s);
  } catch (e) {
    if (!(e instanceof DatasetSpecError)) throw e;
    throw new UsageError(`--${flag} expects ${DATASET_SPECS.join(" | ")}, got ${JSON.stringify(s)}`);
  }
}

/**
 * `--flag DIR`: a non-empty path.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { directory } from "./cli.ts";
 * assertEquals(directory("out", "out"), "out");
 * ```
 */
export function directory(flag: string, s: string): string {
  if (s === "") throw new UsageError(`--${flag} expects a directory, got ""`);
  return s;
}

/**
 * `--flag NAME`: a plain file name, one path component: letters, digits,
 * `.`, `_` and `-`, not starting with a dot (so never `.`, `..` or a hidden
 * file), at most 200 characters.
 *
 * @example
 * ```ts
 * import { assertEquals, assertThrows } from "@std/assert";
 * import { plainName } from "./cli.ts";
 * assertEquals(plainName("run-name", "baseline-2"), "baseline-2");
 * assertThrows(() => plainName("run-name", ".."), Error, "--run-name expects a plain name");
 * ```
 */
export function plainName(flag: string, s: string): string {
  if (!/^[\w-][\w.-]{0,199}$/.test(s)) {
    throw new UsageError(
      `--${flag} expects a plain name: letters, digits, ".", "_" or "-", not starting with ".", ` +
        `at most 200 characters, got ${JSON.stringify(s)}`,
    );
  }
  return s;
}

/**
 * Help-text rows: each flag's synopsis padded to `width`, then its text;
 * a synopsis longer than the column puts its text on the next line.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { helpRows } from "./cli.ts";
 * assertEquals(helpRows([["--quick", "a reduced run"]], 9), "  --quick   a reduced run");
 * assertEquals(helpRows([["--dataset SPEC", "the data"]], 9), "  --dataset SPEC\n            the data");
 * ```
 */
export function helpRows(rows: readonly (readonly [string, string])[], width: number): string {
  return rows.map(([synopsis, text]) =>
    synopsis.length < width
      ? `  ${synopsis.padEnd(width)} ${text}`.trimEnd()
      : `  ${synopsis}\n  ${" ".repeat(width)} ${text}`
  ).join("\n");
}

/** `1 run`, `2 runs`: a count and its noun, plural unless 1. */
export function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? "" : "s"}`;
}
