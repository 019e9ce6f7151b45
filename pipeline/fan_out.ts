/**
 * One writable stream that feeds several sinks.
 *
 * @module
 */

/**
 * A writable that writes every chunk to each of `sinks` in turn, waiting
 * for each write to finish before accepting the next chunk, so the slowest
 * sink sets the pace (backpressure) and no sink buffers without bound —
 * unlike `ReadableStream.tee()`, whose branches buffer for the slower one.
 * Closing or aborting it closes or aborts every sink; a failing sink fails
 * it (and aborts the others).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { fanOut } from "./fan_out.ts";
 * const a: number[] = [], b: number[] = [];
 * const sink = (xs: number[]) => new WritableStream<number>({ write: (x) => void xs.push(x) });
 * await ReadableStream.from([1, 2]).pipeTo(fanOut(sink(a), sink(b)));
 * assertEquals([a, b], [[1, 2], [1, 2]]);
 * ```
 */
export function fanOut<T>(...sinks: WritableStream<T>[]): WritableStream<T> {
  const writers = sinks.map((s) => s.getWriter());
  let failed = false;
  const abortAll = async (reason: unknown) => {
    await Promise.all(writers.map((w) => w.abort(reason).catch(() => {})));
  };
  return new WritableStream<T>({
    async write(chunk) {
      try {
        for (const w of writers) await w.write(chunk);
      } catch (e) {
        failed = true;
        await abortAll(e);
        throw e;
      }
    },
    async close() {
      if (failed) return;
      // Close every sink even when one fails, then report the first failure.
      const results = await Promise.allSettled(writers.map((w) => w.close()));
      const bad = results.find((r) => r.status === "rejected");
      if (bad) throw (bad as PromiseRejectedResult).reason;
    },
    async abort(reason) {
      await abortAll(reason);
    },
  });
}
