/**
 * A stand-in for the pieces of `@std/streams` that gradstream uses (JSR is
 * out of reach here). Same names and signatures as `@std/streams`, so the
 * import map can point `"@std/streams"` here today and at JSR later.
 *
 * @module
 */

/**
 * Merges several readable streams into one, in no particular order: each
 * chunk is passed on as soon as its stream yields it. The result closes when
 * every input has closed and errors as soon as one input errors (the others
 * are then cancelled). Cancelling the result cancels every input.
 *
 * Unlike a plain eager pump, inputs are only read while the merged stream
 * wants data, so backpressure reaches the inputs (at most one chunk per input
 * can be in flight beyond the merged stream's high-water mark).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { mergeReadableStreams } from "@std/streams";
 *
 * const merged = mergeReadableStreams(ReadableStream.from([1, 2]), ReadableStream.from([3]));
 * assertEquals((await Array.fromAsync(merged)).sort(), [1, 2, 3]);
 * ```
 */
export function mergeReadableStreams<T>(...streams: ReadableStream<T>[]): ReadableStream<T> {
  const readers = streams.map((s) => s.getReader());
  let demand = Promise.withResolvers<void>();
  let finished = false;
  const cancelAll = (reason: unknown) => Promise.all(readers.map((r) => r.cancel(reason).catch(() => {})));
  return new ReadableStream<T>({
    start(controller) {
      let open = readers.length;
      if (open === 0) {
        finished = true;
        controller.close();
        return;
      }
      for (const reader of readers) {
        (async () => {
          try {
            for (;;) {
              // Read only while the merged stream has room (or a reader waiting): that is what carries backpressure upstream.
              while (!finished && controller.desiredSize !== null && controller.desiredSize <= 0) await demand.promise;
              if (finished) return;
              const { done, value } = await reader.read();
              if (finished) return;
              if (done) break;
              controller.enqueue(value);
            }
            if (--open === 0 && !finished) {
              finished = true;
              controller.close();
            }
          } catch (error) {
            if (finished) return;
            finished = true;
            controller.error(error);
            demand.resolve();
            await cancelAll(error);
          }
        })();
      }
    },
    pull() {
      const d = demand;
      demand = Promise.withResolvers<void>();
      d.resolve();
    },
    async cancel(reason) {
      finished = true;
      demand.resolve();
      await cancelAll(reason);
    },
  });
}

/** Options of {@link TextLineStream}. */
export interface TextLineStreamOptions {
  /** Also split on a lone `\r` (`\r\n` is always one break). Default false. */
  allowCR?: boolean;
}

/**
 * Splits a stream of text into lines on `\n` (and `\r\n`, where the `\r` is
 * dropped); with `allowCR`, a lone `\r` ends a line too. A last line without
 * a trailing newline is still passed on; an empty one is not.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { TextLineStream } from "@std/streams";
 *
 * const lines = ReadableStream.from(["a\nb", "c\r\n"]).pipeThrough(new TextLineStream());
 * assertEquals(await Array.fromAsync(lines), ["a", "bc"]);
 * ```
 */
export class TextLineStream extends TransformStream<string, string> {
  #rest = "";

  /** Constructs a new instance. */
  constructor(options: TextLineStreamOptions = {}) {
    const { allowCR = false } = options;
    super({
      transform: (chunk, controller) => {
        let text = this.#rest + chunk;
        for (;;) {
          const lf = text.indexOf("\n");
          const cr = allowCR ? text.indexOf("\r") : -1;
          // A "\r" at the very end may be the first half of "\r\n": wait for the next chunk.
          if (cr !== -1 && cr !== text.length - 1 && (lf === -1 || lf - 1 > cr)) {
            controller.enqueue(text.slice(0, cr));
            text = text.slice(cr + 1);
            continue;
          }
          if (lf === -1) break;
          controller.enqueue(text.slice(0, lf > 0 && text[lf - 1] === "\r" ? lf - 1 : lf));
          text = text.slice(lf + 1);
        }
        this.#rest = text;
      },
      flush: (controller) => {
        let rest = this.#rest;
        if (allowCR && rest.endsWith("\r")) rest = rest.slice(0, -1);
        if (rest.length > 0) controller.enqueue(rest);
      },
    });
  }
}
