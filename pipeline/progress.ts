/**
 * The progress sink: the course's console lines when stderr is not a
 * terminal, a single updating progress line when it is.
 *
 * @module
 */

import type { TrainEvent } from "./messages.ts";
import { ProgressBar } from "@std/cli/unstable-progress-bar";
import type { StartRecord } from "./store/records.ts";

/**
 * Python's `"%.{digits}f" % x`: fixed notation, rounding the exact binary
 * value half to even (JS's `toFixed` rounds exact ties up), `nan`, `inf`.
 *
 * @example
 * ```ts
 * import { formatFixed } from "./progress.ts";
 * formatFixed(2.302585093, 6); // "2.302585"
 * formatFixed(0.0078125, 6); // "0.007812", as Python (toFixed gives "0.007813")
 * ```
 */
export function formatFixed(x: number, digits = 6): string {
  if (Number.isNaN(x)) return "nan";
  if (!Number.isFinite(x)) return x > 0 ? "inf" : "-inf";
  const s = x.toFixed(digits);
  const a = Math.abs(x);
  if (a >= 1e21) return s;
  // A tie needs the exact decimal expansion to end right after a 5 at position digits + 1. 100 digits suffice:
  // a double that is not the tie point itself lies at least one ulp (far above 1e-100) away from it.
  const exact = a.toFixed(100);
  const dot = exact.indexOf(".");
  if (!/^50*$/.test(exact.slice(dot + 1 + digits))) return s;
  // Exact tie: toFixed rounded the magnitude up; Python keeps the even neighbour.
  const truncated = digits === 0 ? exact.slice(0, dot) : exact.slice(0, dot + 1 + digits);
  return Number(truncated.at(-1)) % 2 === 0 ? (x < 0 ? "-" : "") + truncated : s;
}

/** `(Iteration 1 / 200) loss: 2.302585`, the course's line. */
export function formatIterationLine(iteration: number, numIterations: number, loss: number): string {
  return `(Iteration ${iteration} / ${numIterations}) loss: ${formatFixed(loss)}`;
}

/** `(Epoch 0 / 10) train acc: 0.119000; val_acc: 0.104000`, the course's line. */
export function formatEpochLine(epoch: number, numEpochs: number, trainAcc: number, valAcc: number): string {
  return `(Epoch ${epoch} / ${numEpochs}) train acc: ${formatFixed(trainAcc)}; val_acc: ${formatFixed(valAcc)}`;
}

/** `(Iteration 500 / 980) train acc: 0.412000; val_acc: 0.398000`: an extra check inside an epoch. */
export function formatCheckLine(iteration: number, numIterations: number, trainAcc: number, valAcc: number): string {
  return `(Iteration ${iteration} / ${numIterations}) train acc: ${formatFixed(trainAcc)}; val_acc: ${
    formatFixed(valAcc)
  }`;
}

/** Carriage return and ANSI "erase to end of line": what the progress bar starts each redraw with. */
const LINE_CLEAR = "\r\u001b[K";

/** `mm:ss` for a duration in ms (minutes keep counting past 59), as the progress bar shows elapsed time. */
function clockTime(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  return `${String(Math.floor(s / 60)).padStart(2, "0")}:${String(s % 60).padStart(2, "0")}`;
}

/** Options of {@link progressSink}. */
export interface ProgressSinkOptions {
  /** Where to write. Default `Deno.stderr.writable`. */
  writable?: WritableStream<Uint8Array>;
  /** Draw one updating line (a terminal) instead of course lines. Default `Deno.stderr.isTerminal()` when writing to stderr, else false. */
  terminal?: boolean;
  /** Course lines: print every `printEvery`-th step (t % printEvery == 0). Default 10. */
  printEvery?: number;
  /** Terminal mode: redraw period in ms. Default 1000. */
  interval?: number;
}

/**
 * A sink that shows training progress.
 *
 * - Not a terminal: the course's lines, `(Iteration t / T) loss: …` for every
 *   `printEvery`-th step (the first included) and `(Epoch e / E) train acc: …;
 *   val_acc: …` at every accuracy check, plus a final summary line.
 * - A terminal: one line redrawn in place showing iteration / total, epoch,
 *   loss, examples per second and time left, with the epoch lines printed
 *   above it.
 */
export function progressSink(options: ProgressSinkOptions = {}): WritableStream<TrainEvent> {
  const toStderr = options.writable === undefined;
  const writable = options.writable ?? Deno.stderr.writable;
  const terminal = options.terminal ?? (toStderr && Deno.stderr.isTerminal());
  const printEvery = options.printEvery ?? 10;
  const encoder = new TextEncoder();
  const decoder = new TextDecoder();
  let writer: WritableStreamDefaultWriter<Uint8Array> | null = null;
  let bar: ProgressBar | null = null;
  let start: StartRecord | null = null;
  let loss = NaN, epoch = 0, startIteration = 0, startMs = 0;

  // The bar draws into barWritable, which forwards to the one writer this sink holds, so that a line can be written
  // above the bar: erase the bar, write the line, draw the last bar again (the next redraw refreshes it).
  let lastBar = "";
  const barWritable = () =>
    new WritableStream<Uint8Array>({
      async write(chunk) {
        const text = decoder.decode(chunk);
        if (text.startsWith(LINE_CLEAR)) lastBar = text;
        writer ??= writable.getWriter();
        await writer.write(chunk);
      },
    });
  const line = async (text: string) => {
    writer ??= writable.getWriter();
    await writer.write(encoder.encode(bar ? `${LINE_CLEAR}${text}\n${lastBar}` : text + "\n"));
  };
  const finish = async () => {
    await bar?.stop();
    bar = null;
    if (writer) {
      writer.releaseLock();
      writer = null;
    }
  };

  return new WritableStream<TrainEvent>({
    async write({ record }) {
      switch (record.kind) {
        case "start":
          start = record;
          startIteration = record.startIteration;
          startMs = performance.now();
          if (terminal) {
            bar = new ProgressBar({
              writable: barWritable(),
              value: record.startIteration,
              max: record.numIterations,
              barLength: 24,
              refreshMilliseconds: options.interval,
              formatter: (x) => {
                const done = x.value - startIteration, ms = performance.now() - startMs;
                const perSec = ms > 0 ? (done * record.batchSize * 1000) / ms : 0;
                const left = done > 0 ? (ms / done) * (x.max - x.value) : NaN;
                return `[${x.styledTime}] [${x.progressBar}] iteration ${x.value}/${x.max} · epoch ${epoch}/${record.numEpochs}` +
                  ` · loss ${formatFixed(loss, 4)} · ${Math.round(perSec)} ex/s · ${
                    Number.isFinite(left) ? `${clockTime(left)} left` : "--:-- left"
                  }`;
              },
            });
          } else if (record.resumed) {
            await line(`(Resuming at iteration ${record.startIteration} / ${record.numIterations})`);
          }
          break;
        case "iteration":
          loss = record.loss;
          epoch = record.epoch;
          if (bar) bar.value = record.iteration;
          else if ((record.iteration - 1) % printEvery === 0) {
            await line(formatIterationLine(record.iteration, start?.numIterations ?? NaN, record.loss));
          }
          break;
        case "epoch":
          epoch = record.epoch;
          // An extra check of --check-every falls inside an epoch: it is named by its iteration.
          await line(
            !record.epochEnd && record.iteration > 1
              ? formatCheckLine(record.iteration, start?.numIterations ?? NaN, record.trainAcc, record.valAcc)
              : formatEpochLine(record.epoch, start?.numEpochs ?? NaN, record.trainAcc, record.valAcc),
          );
          break;
        case "end":
          await finish();
          await line(
            `(Done) best val_acc: ${formatFixed(record.bestValAcc)}; ${Math.round(record.examplesPerSec)} examples/s; ${
              (record.wallMs / 1000).toFixed(1)
            } s`,
          );
          await finish();
          break;
        case "stopped":
          await finish();
          await line(`(Stopped) ${record.message}`);
          await finish();
          break;
      }
    },
    async close() {
      await finish();
    },
    async abort() {
      await finish();
    },
  });
}
