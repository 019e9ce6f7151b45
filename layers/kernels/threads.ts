/**
 * The thread count of the parallel engine (`parallel.ts`), apart from the
 * pool so that `tensor.ts` can ask it where to allocate: env
 * `GRADSTREAM_THREADS`, default all cores, `setThreads` to change it.
 *
 * @module
 */

import { isMainThread } from "node:worker_threads";
import { readEnv } from "./_env.ts";

let count: number | undefined;
let countSource = "";
const listeners: ((n: number) => void)[] = [];

/** The most threads `setThreads` accepts (one control slot each). */
export const MAX_THREADS = 64;

function parseThreads(text: string, where: string): number {
  const n = Number(text);
  if (!/^\s*\d+\s*$/.test(text) || !Number.isInteger(n) || n < 1 || n > MAX_THREADS) {
    throw new RangeError(`${where} must be an integer from 1 to ${MAX_THREADS}, got "${text}"`);
  }
  return n;
}

/** Whether this code runs inside a worker (a Web Worker or a pool worker), where the default is one thread. */
export function inWorker(): boolean {
  return typeof (globalThis as { WorkerGlobalScope?: unknown }).WorkerGlobalScope === "function" || !isMainThread;
}

/**
 * The thread count a process starts with: env `GRADSTREAM_THREADS` when set
 * (and `--allow-env` grants it), else every core
 * (`navigator.hardwareConcurrency`); 1 inside a worker (a Web Worker of a
 * pool of runs, which already uses the cores, or a pool worker).
 */
export function defaultThreads(): number {
  const fromEnv = readEnv("GRADSTREAM_THREADS");
  if (inWorker()) {
    countSource = "in a worker";
    return 1;
  }
  if (fromEnv !== undefined) {
    countSource = "GRADSTREAM_THREADS";
    return parseThreads(fromEnv, "GRADSTREAM_THREADS");
  }
  countSource = "all cores";
  return Math.min(MAX_THREADS, Math.max(1, navigator.hardwareConcurrency || 1));
}

/**
 * The number of threads the layers use (the calling thread included):
 * `setThreads`'s value, else `defaultThreads()`.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { threads } from "./threads.ts";
 * assert(threads() >= 1);
 * ```
 */
export function threads(): number {
  if (count === undefined) count = defaultThreads();
  return count;
}

/**
 * Sets the number of threads the layers use (1 to `MAX_THREADS`; 1 runs
 * everything on the calling thread) and returns the previous count. Pool
 * workers beyond the new count are ended; missing ones start on the next
 * job. This is what a `--threads N` flag calls, once, at start-up.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { setThreads, threads } from "./threads.ts";
 * const previous = setThreads(1);
 * assertEquals(threads(), 1);
 * setThreads(previous);
 * ```
 */
export function setThreads(n: number): number {
  const previous = threads();
  count = parseThreads(String(n), "setThreads: n");
  countSource = "set";
  for (const f of listeners) f(count);
  return previous;
}

/** Internal: calls `f` with the new count after every `setThreads`. */
export function onThreadsChange(f: (n: number) => void): void {
  listeners.push(f);
}

/**
 * One line for logs and reports: `2 threads (all cores)`,
 * `1 thread (GRADSTREAM_THREADS)`, `4 threads (set)`.
 *
 * @example
 * ```ts
 * import { assertMatch } from "@std/assert";
 * import { describeThreads } from "./threads.ts";
 * assertMatch(describeThreads(), /^\d+ threads? \(.+\)$/);
 * ```
 */
export function describeThreads(): string {
  const n = threads();
  return `${n} thread${n === 1 ? "" : "s"} (${countSource})`;
}
