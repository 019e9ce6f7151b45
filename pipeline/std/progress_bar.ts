/**
 * A stand-in for `@std/cli/unstable-progress-bar`'s `ProgressBar` (JSR is
 * out of reach here): same options, same `value` / `max` / `stop()` shape,
 * same formatter object. It redraws one line (`\r` + erase-line + text) on
 * an interval and once more on `stop()`.
 *
 * One addition: `interval` (ms between redraws, default 1000 as upstream).
 *
 * @module
 */

/** What the `fmt` function receives on every redraw (as upstream). */
export interface ProgressBarFormatter {
  /** Elapsed time as `mm:ss`. */
  styledTime: string;
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

/** Options of {@link ProgressBar} (as upstream, plus `interval`). */
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
  /** Builds the line. Default `[mm:ss] [###---] [value/max]`. */
  fmt?: (x: ProgressBarFormatter) => string;
  /** Leave `writable` open on `stop()`. Default true. */
  keepOpen?: boolean;
  /** Redraw period in ms. Default 1000. */
  interval?: number;
}

/** Carriage return and ANSI "erase to end of line". */
export const LINE_CLEAR = "\r\u001b[K";

function defaultFmt(x: ProgressBarFormatter): string {
  return `[${x.styledTime}] [${x.progressBar}] [${x.value}/${x.max}]`;
}

/** `mm:ss` for a duration in ms (minutes keep counting past 59). */
export function styleTime(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  return `${String(Math.floor(s / 60)).padStart(2, "0")}:${String(s % 60).padStart(2, "0")}`;
}

/**
 * A one-line progress bar redrawn every `interval` ms; set `value` as work
 * progresses and `await stop()` at the end.
 *
 * @example
 * ```ts ignore
 * import { ProgressBar } from "./progress_bar.ts";
 * const bar = new ProgressBar({ max: 200 });
 * for (let i = 0; i < 200; i++) bar.value += 1;
 * await bar.stop();
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
  readonly #fmt: (x: ProgressBarFormatter) => string;
  readonly #start = Date.now();
  readonly #id: ReturnType<typeof setInterval>;
  #previousTime = 0;
  #previousValue: number;
  #stopped = false;

  /** Starts drawing at once, then every `interval` ms. */
  constructor(options: ProgressBarOptions) {
    const {
      writable = Deno.stderr.writable,
      value = 0,
      max,
      barLength = 50,
      fillChar = "#",
      emptyChar = "-",
      clear = false,
      fmt = defaultFmt,
      keepOpen = true,
      interval = 1000,
    } = options;
    this.value = value;
    this.max = max;
    this.#previousValue = value;
    this.#barLength = barLength;
    this.#fillChar = fillChar;
    this.#emptyChar = emptyChar;
    this.#clear = clear;
    this.#keepOpen = keepOpen;
    this.#fmt = fmt;
    this.#writer = writable.getWriter();
    this.#id = setInterval(() => void this.#draw(), interval);
    void this.#draw();
  }

  #formatter(): ProgressBarFormatter {
    const time = Date.now() - this.#start;
    const ratio = this.max > 0 ? Math.min(Math.max(this.value / this.max, 0), 1) : 0;
    const filled = Math.trunc(ratio * this.#barLength);
    return {
      styledTime: styleTime(time),
      progressBar: this.#fillChar.repeat(filled) + this.#emptyChar.repeat(this.#barLength - filled),
      time,
      previousTime: this.#previousTime,
      value: this.value,
      previousValue: this.#previousValue,
      max: this.max,
    };
  }

  async #write(text: string): Promise<void> {
    try {
      await this.#writer.write(this.#encoder.encode(text));
    } catch {
      // A closed or broken terminal must not stop the work being tracked.
    }
  }

  async #draw(): Promise<void> {
    const f = this.#formatter();
    this.#previousTime = f.time;
    this.#previousValue = f.value;
    await this.#write(LINE_CLEAR + this.#fmt(f));
  }

  /**
   * Writes `line` above the bar (erasing the bar, which the next redraw puts
   * back). Not in upstream's API: used for the per-epoch lines.
   */
  async log(line: string): Promise<void> {
    if (this.#stopped) return;
    await this.#write(`${LINE_CLEAR}${line}\n`);
    await this.#draw();
  }

  /** Stops redrawing: draws the final bar and a newline (or erases the line with `clear`); releases `writable`. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    clearInterval(this.#id);
    if (this.#clear) await this.#write(LINE_CLEAR);
    else {
      await this.#draw();
      await this.#write("\n");
    }
    if (this.#keepOpen) this.#writer.releaseLock();
    else await this.#writer.close().catch(() => {});
  }
}
