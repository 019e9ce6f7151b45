/**
 * A stand-in for the parts of `@std/assert` our tests use, with upstream's
 * names and signatures (overloads included): JSR is unreachable here, and the
 * import map points `@std/assert` at this file so that switching to
 * `jsr:@std/assert@1` is a one-line change.
 *
 * @module
 */

import { deepStrictEqual } from "node:assert";

/** Thrown by every assertion here, as `@std/assert`'s `AssertionError`. */
export class AssertionError extends Error {
  /** Creates an assertion error with `message`. */
  constructor(message: string) {
    super(message);
    this.name = "AssertionError";
  }
}

function suffix(msg?: string): string {
  return msg ? `: ${msg}` : "";
}

/** Asserts that `expr` is truthy. */
export function assert(expr: unknown, msg = ""): asserts expr {
  if (!expr) throw new AssertionError(msg || "Expected expression to be true");
}

/** Asserts deep equality of `actual` and `expected` (structural, strict). */
export function assertEquals<T>(actual: T, expected: T, msg?: string): void {
  // node's diff of two large unequal typed arrays takes minutes; name the first difference instead.
  if (ArrayBuffer.isView(actual) && ArrayBuffer.isView(expected) && !(actual instanceof DataView)) {
    const a = actual as unknown as ArrayLike<number>, e = expected as unknown as ArrayLike<number>;
    if (actual.constructor !== expected.constructor || a.length !== e.length) {
      throw new AssertionError(
        `Values are not equal${
          suffix(msg)
        }: ${actual.constructor.name}(${a.length}) vs ${expected.constructor.name}(${e.length})`,
      );
    }
    for (let i = 0; i < a.length; i++) {
      if (!Object.is(a[i], e[i])) {
        throw new AssertionError(
          `Values are not equal${suffix(msg)}: first difference at index ${i}: ${a[i]} vs ${e[i]}`,
        );
      }
    }
    return;
  }
  try {
    deepStrictEqual(actual, expected);
  } catch (e) {
    throw new AssertionError(`Values are not equal${suffix(msg)}\n${(e as Error).message}`);
  }
}

/** Asserts `actual !== expected` structurally. */
export function assertNotEquals<T>(actual: T, expected: T, msg?: string): void {
  let equal = true;
  try {
    deepStrictEqual(actual, expected);
  } catch {
    equal = false;
  }
  if (equal) throw new AssertionError(`Expected actual to differ from ${String(expected)}${suffix(msg)}`);
}

/** Asserts `actual === expected` (Object.is). */
export function assertStrictEquals<T>(actual: unknown, expected: T, msg?: string): asserts actual is T {
  if (!Object.is(actual, expected)) {
    throw new AssertionError(`Values are not strictly equal${suffix(msg)}: ${String(actual)} !== ${String(expected)}`);
  }
}

/**
 * Asserts `|actual − expected| ≤ tolerance`. As in `@std/assert`, the default
 * tolerance is relative: `1e-7 · max(|actual|, |expected|)`.
 */
export function assertAlmostEquals(actual: number, expected: number, tolerance?: number, msg?: string): void {
  if (Object.is(actual, expected)) return;
  const delta = Math.abs(expected - actual);
  const tol = tolerance ?? 1e-7 * Math.max(Math.abs(actual), Math.abs(expected));
  if (!(delta <= tol)) {
    throw new AssertionError(
      `Expected actual: "${actual}" to be close to "${expected}": delta "${delta}" is greater than "${tol}"${
        suffix(msg)
      }`,
    );
  }
}

/** Asserts `actual < expected`. */
export function assertLess<T>(actual: T, expected: T, msg?: string): void {
  if (!(actual < expected)) throw new AssertionError(`Expect ${actual} < ${expected}${suffix(msg)}`);
}

/** Asserts `actual <= expected`. */
export function assertLessOrEqual<T>(actual: T, expected: T, msg?: string): void {
  if (!(actual <= expected)) throw new AssertionError(`Expect ${actual} <= ${expected}${suffix(msg)}`);
}

/** Asserts `actual > expected`. */
export function assertGreater<T>(actual: T, expected: T, msg?: string): void {
  if (!(actual > expected)) throw new AssertionError(`Expect ${actual} > ${expected}${suffix(msg)}`);
}

/** Asserts `actual >= expected`. */
export function assertGreaterOrEqual<T>(actual: T, expected: T, msg?: string): void {
  if (!(actual >= expected)) throw new AssertionError(`Expect ${actual} >= ${expected}${suffix(msg)}`);
}

/** Asserts that `actual` contains `expected` as a substring. */
export function assertStringIncludes(actual: string, expected: string, msg?: string): void {
  if (!actual.includes(expected)) {
    throw new AssertionError(`Expected actual: "${actual}" to contain: "${expected}"${suffix(msg)}`);
  }
}

/** Asserts that `actual` matches `expected`. */
export function assertMatch(actual: string, expected: RegExp, msg?: string): void {
  if (!expected.test(actual)) {
    throw new AssertionError(`Expected actual: "${actual}" to match: "${expected}"${suffix(msg)}`);
  }
}

// deno-lint-ignore no-explicit-any
type ErrorClass<E extends Error> = abstract new (...args: any[]) => E;

/**
 * Asserts that `fn` throws; with `ErrorClass`, that the error is one, and with
 * `msgIncludes`, that its message contains that text. Returns the error.
 *
 * @example
 * ```ts
 * import { assertEquals, assertThrows } from "@std/assert";
 *
 * const e = assertThrows(() => JSON.parse("{"), SyntaxError);
 * assertEquals(e.name, "SyntaxError");
 * ```
 */
export function assertThrows(fn: () => unknown, msg?: string): unknown;
/** Asserts that `fn` throws an `ErrorClass` whose message includes `msgIncludes`; returns the error. */
export function assertThrows<E extends Error = Error>(
  fn: () => unknown,
  ErrorClass: ErrorClass<E>,
  msgIncludes?: string,
  msg?: string,
): E;
export function assertThrows<E extends Error = Error>(
  fn: () => unknown,
  errorClassOrMsg?: ErrorClass<E> | string,
  msgIncludes?: string,
  msg?: string,
): E | unknown {
  let thrown: unknown;
  try {
    fn();
  } catch (e) {
    thrown = e;
  }
  return typeof errorClassOrMsg === "function"
    ? checkThrown(thrown, errorClassOrMsg, msgIncludes, msg)
    : checkThrown(thrown, undefined, undefined, errorClassOrMsg);
}

/**
 * Asserts that the promise from `fn` rejects; as `assertThrows` otherwise.
 *
 * @example
 * ```ts
 * import { assertRejects } from "@std/assert";
 *
 * await assertRejects(() => Promise.reject(new RangeError("too big")), RangeError, "too big");
 * ```
 */
export function assertRejects(fn: () => PromiseLike<unknown>, msg?: string): Promise<unknown>;
/** Asserts that the promise from `fn` rejects with an `ErrorClass` whose message includes `msgIncludes`. */
export function assertRejects<E extends Error = Error>(
  fn: () => PromiseLike<unknown>,
  ErrorClass: ErrorClass<E>,
  msgIncludes?: string,
  msg?: string,
): Promise<E>;
export async function assertRejects<E extends Error = Error>(
  fn: () => PromiseLike<unknown>,
  errorClassOrMsg?: ErrorClass<E> | string,
  msgIncludes?: string,
  msg?: string,
): Promise<E | unknown> {
  let thrown: unknown;
  try {
    await fn();
  } catch (e) {
    thrown = e;
  }
  return typeof errorClassOrMsg === "function"
    ? checkThrown(thrown, errorClassOrMsg, msgIncludes, msg)
    : checkThrown(thrown, undefined, undefined, errorClassOrMsg);
}

function checkThrown<E extends Error>(
  thrown: unknown,
  ErrorClass: ErrorClass<E> | undefined,
  msgIncludes: string | undefined,
  msg: string | undefined,
): E {
  if (thrown === undefined) throw new AssertionError(`Expected function to throw${suffix(msg)}`);
  if (ErrorClass && !(thrown instanceof ErrorClass)) {
    throw new AssertionError(
      `Expected error to be instance of "${ErrorClass.name}", but was "${(thrown as Error)?.constructor?.name}"${
        suffix(msg)
      }`,
    );
  }
  if (msgIncludes !== undefined && !String((thrown as Error)?.message).includes(msgIncludes)) {
    throw new AssertionError(
      `Expected error message to include "${msgIncludes}", but got "${(thrown as Error)?.message}"${suffix(msg)}`,
    );
  }
  return thrown as E;
}
