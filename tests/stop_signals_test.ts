/**
 * Stop signals (pipeline/commands/stop_signals.ts): a real child process gets
 * SIGTERM and SIGINT, prints its one line and exits with the shell's code.
 */

import { assertEquals } from "@std/assert";
import { continueCommand } from "../pipeline/commands/stop_signals.ts";

const MODULE = new URL("../pipeline/commands/stop_signals.ts", import.meta.url).href;

for (const [signal, code] of [["SIGTERM", 143], ["SIGINT", 130]] as const) {
  Deno.test(`a process listening with onStopSignals ends on ${signal} with its line and exit code ${code}`, async () => {
    const script = `import { onStopSignals, STOP_EXIT_CODES } from ${JSON.stringify(MODULE)};
onStopSignals((s) => { console.error("stopped by " + s); Deno.exit(STOP_EXIT_CODES[s]); });
console.log("ready");
setTimeout(() => {}, 60_000);`;
    const child = new Deno.Command(Deno.execPath(), {
      args: ["eval", "--ext=ts", script],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    assertEquals((await reader.read()).value, "ready\n");
    child.kill(signal);
    const [status, stderr] = await Promise.all([child.status, new Response(child.stderr).text()]);
    await reader.cancel();
    assertEquals([status.code, stderr], [code, `stopped by ${signal}\n`]);
  });
}

Deno.test("continueCommand keeps the arguments, drops --force, adds --resume once", () => {
  assertEquals(continueCommand("train", ["--resume", "--epochs", "2"]), "deno task train --epochs 2 --resume");
  assertEquals(
    continueCommand("experiment", ["convnet", "--dataset", "cifar10:../shared/datasets/cifar-10-batches-bin"]),
    "deno task experiment convnet --dataset cifar10:../shared/datasets/cifar-10-batches-bin --resume",
  );
});
