/**
 * A stand-in for `@std/cli/unstable-progress-bar` (JSR is out of reach
 * here), with upstream's API exactly: the `ProgressBar` class (`value`,
 * `max`, `stop()`), its options (`writable`, `value`, `max`, `barLength`,
 * `fillChar`, `emptyChar`, `clear`, `formatter`, `keepOpen`,
 * `refreshMilliseconds`) and the `ProgressBarFormatter` object handed to
 * `formatter`. deno.json maps `@std/cli/unstable-progress-bar` here; pointing
 * that entry at `jsr:@std/cli@1/unstable-progress-bar` is the whole switch.
 *
 * It redraws one line (`\r` + erase-line + text) every
 * `refreshMilliseconds` and once more on `stop()`.
 *
 * @module
 */

/** What the `formatter` function receives on every redraw. */
export interface ProgressBarFormatter {
  /** Elapsed time as `mm:ss`. */
  styledTime: string;
  /** `value/max` in binary units (`0.40/97.66 KiB`), with `fractions` decimals (default 2). */
  styledData: (fractions?: number) => string;
  /** The bar itself, e.g. `###-------`. */
  progressBar: string;
  /** Elapsed time in ms. */
  time: number;
  /** Elapsed time at the previous redraw, in ms. */
  previousTime: number;
  /** Current value. */
  value: number;
  /** Value at the previous redraw. */
  previousValue: number;
  /** Value that means done. */
  max: number;
}

/** Options of {@link ProgressBar}. */
export interface ProgressBarOptions {
  /** Where the bar is drawn. Default `Deno.stderr.writable`. */
  writable?: WritableStream<Uint8Array>;
  /** Starting value (e.g. when resuming). Default 0. */
  value?: number;
  /** Value that means done. */
  max: number;
  /** Bar width in characters. Default 50. */
  barLength?: number;
  /** Filled part character. Default `#`. */
  fillChar?: string;
  /** Empty part character. Default `-`. */
  emptyChar?: string;
  /** Erase the line on `stop()` instead of leaving the final bar. Default false. */
  clear?: boolean;
  /** Builds the line. Default `[mm:ss] [###---] [0.24/97.66 KiB]`. */
  formatter?: (formatter: ProgressBarFormatter) => string;
  /** Leave `writable` open on `stop()`. Default true. */
  keepOpen?: boolean;
  /** Redraw period in ms. Default 1000. */
  refreshMilliseconds?: number;
}

const LINE_CLEAR = "\r\u001b[K";

function defaultFormatter(formatter: ProgressBarFormatter): string {
  return `[${formatter.styledTime}] [${formatter.progressBar}] [${formatter.styledData()}]`;
}

function unitFraction(value: number, max: number, fractions: number): string {
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let e = 0;
  while (e < units.length && max >= 2 ** (10 * (e + 2))) e++;
  const rate = 2 ** (10 * (e + 1));
  return `${(value / rate).toFixed(fractions)}/${(max / rate).toFixed(fractions)} ${units[e] ?? "PiB"}`;
}

/**
 * A one-line progress bar redrawn every `refreshMilliseconds`; set `value` as work
 * progresses and `await stop()` at the end.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { ProgressBar } from "@std/cli/unstable-progress-bar";
 *
 * const chunks: string[] = [];
 * const writable = new WritableStream<Uint8Array>({ write: (c) => void chunks.push(new TextDecoder().decode(c)) });
 * const bar = new ProgressBar({ writable, max: 4, barLength: 4, formatter: (x) => `${x.progressBar} ${x.value}` });
 * bar.value = 3;
 * await bar.stop();
 * assertEquals(chunks.join("").endsWith("\r\u001b[K###- 3\n"), true);
 * ```
 */
export class ProgressBar {
  /** Current progress. */
  value: number;
  /** Value that means done. */
  max: number;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #encoder = new TextEncoder();
  readonly #barLength: number;
  readonly #fillChar: string;
  readonly #emptyChar: string;
  readonly #clear: boolean;
  readonly #keepOpen: boolean;
  readonly #formatter: (formatter: ProgressBarFormatter) => string;
  readonly #start = Date.now();
  readonly #id: ReturnType<typeof setInterval>;
  #previousTime = 0;
  #previousValue: number;
  #stopped = false;

  /** Starts drawing at once, then every `refreshMilliseconds`. */
  constructor(options: ProgressBarOptions) {
    const {
      writable = Deno.stderr.writable,
      value = 0,
      max,
      barLength = 50,
      fillChar = "#",
      emptyChar = "-",
      clear = false,
      formatter = defaultFormatter,
      keepOpen = true,
      refreshMilliseconds = 1000,
    } = options;
    this.value = value;
    this.max = max;
    this.#previousValue = value;
    this.#barLength = barLength;
    this.#fillChar = fillChar;
    this.#emptyChar = emptyChar;
    this.#clear = clear;
    this.#keepOpen = keepOpen;
    this.#formatter = formatter;
    this.#writer = writable.getWriter();
    this.#id = setInterval(() => void this.#print(), refreshMilliseconds);
    void this.#print();
  }

  #formatterObject(): ProgressBarFormatter {
    const time = Date.now() - this.#start;
    const ratio = this.max > 0 ? Math.min(Math.max(this.value / this.max, 0), 1) : 0;
    const filled = Math.trunc(ratio * this.#barLength);
    const s = Math.floor(time / 1000);
    const { value, max } = this;
    return {
      styledTime: `${String(Math.floor(s / 60)).padStart(2, "0")}:${String(s % 60).padStart(2, "0")}`,
      styledData: (fractions = 2) => unitFraction(value, max, fractions),
      progressBar: this.#fillChar.repeat(filled) + this.#emptyChar.repeat(this.#barLength - filled),
      time,
      previousTime: this.#previousTime,
      value,
      previousValue: this.#previousValue,
      max,
    };
  }

  async #write(text: string): Promise<void> {
    try {
      await this.#writer.write(this.#encoder.encode(text));
    } catch {
      // A closed or broken terminal must not stop the work being tracked.
    }
  }

  async #print(): Promise<void> {
    const f = this.#formatterObject();
    this.#previousTime = f.time;
    this.#previousValue = f.value;
    await this.#write(LINE_CLEAR + this.#formatter(f));
  }

  /** Stops redrawing: draws the final bar and a newline (or erases the line with `clear`); releases `writable`. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    clearInterval(this.#id);
    if (this.#clear) await this.#write(LINE_CLEAR);
    else {
      await this.#print();
      await this.#write("\n");
    }
    if (this.#keepOpen) this.#writer.releaseLock();
    else await this.#writer.close().catch(() => {});
  }
}
