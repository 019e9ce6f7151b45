/**
 * `deno task train` as a separate process, for the tests that kill a run and
 * resume it (Deno std's `_name.ts` convention: not a test file).
 *
 * @module
 */

const TRAIN = new URL("../pipeline/commands/train.ts", import.meta.url).pathname;

/**
 * Starts train.ts in a new process (reading, writing and the environment allowed) with `flags`, then
 * `--out out` and `extra`; its stdout and stderr are piped.
 */
export function trainChild(flags: readonly string[], out: string, extra: readonly string[] = []): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", "--allow-write", "--allow-env", TRAIN, ...flags, "--out", out, ...extra],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

/** Waits for a process to end: its exit code, the signal that ended it (null if none) and its stderr as text. */
export async function finished(p: Deno.ChildProcess): Promise<{ code: number; signal: string | null; stderr: string }> {
  const o = await p.output();
  return { code: o.code, signal: o.signal, stderr: new TextDecoder().decode(o.stderr) };
}
