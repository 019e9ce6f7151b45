/**
 * Ctrl-C (SIGINT) and SIGTERM for the commands: a command that trains ends
 * with one line saying where the run stopped and the exact command that
 * continues it, releases its run folder's lock, and exits with the shell's
 * code for the signal (130, 143).
 *
 * @module
 */

import { shellWord } from "../store/run_lock.ts";

/** The signals that stop a run. */
export type StopSignal = "SIGINT" | "SIGTERM";

/** The exit code a shell reports for a process ended by each signal (128 + its number). */
export const STOP_EXIT_CODES: Readonly<Record<StopSignal, number>> = Object.freeze({ SIGINT: 130, SIGTERM: 143 });

/**
 * Calls `handler` on SIGINT or SIGTERM instead of dying at once; returns
 * the function that removes the listeners. Where a signal cannot be
 * listened for (SIGTERM on Windows) it is skipped.
 */
export function onStopSignals(handler: (signal: StopSignal) => void): () => void {
  const added: [StopSignal, () => void][] = [];
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    const listener = () => handler(signal);
    try {
      Deno.addSignalListener(signal, listener);
      added.push([signal, listener]);
    } catch { /* not supported on this platform */ }
  }
  return () => {
    for (const [signal, listener] of added) {
      try {
        Deno.removeSignalListener(signal, listener);
      } catch { /* already gone */ }
    }
  };
}

/**
 * The command line that continues a run: `deno task NAME` with the same
 * arguments, `--force` dropped (it would start over) and `--resume` added
 * once, each word quoted as a shell needs.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { continueCommand } from "./stop_signals.ts";
 * assertEquals(
 *   continueCommand("train", ["--model", "cnn", "--force", "--run-name", "my run"]),
 *   "deno task train --model cnn --run-name 'my run' --resume",
 * );
 * ```
 */
export function continueCommand(task: string, args: readonly string[]): string {
  const kept = args.filter((a) => a !== "--force" && a !== "--resume");
  return ["deno", "task", task, ...kept.map(shellWord), "--resume"].join(" ");
}
