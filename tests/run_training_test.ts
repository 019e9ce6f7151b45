/**
 * `deno task train` and `deno task experiment convnet` run their training
 * through one `runTraining`, so at the same settings they give the same
 * numbers bit for bit (losses and accuracies), on whatever gemm backend
 * `auto` picks, OpenBLAS included. Each command runs in its own process, as
 * from the shell: OpenBLAS's thread count is global to a process, and
 * changes float32 sums in the last bits.
 */

import { assertEquals, assertGreater } from "@std/assert";
import type { TrainRecord } from "../pipeline/store/records.ts";
import { readRunLog } from "../pipeline/store/run_log.ts";

/** Every loss and accuracy of a run, in order. */
function numbers(records: TrainRecord[]): number[] {
  return records.flatMap((r) => r.kind === "iteration" ? [r.loss] : r.kind === "epoch" ? [r.trainAcc, r.valAcc] : []);
}

/** Runs a command module as `deno task` does; returns its exit code and stderr. */
async function command(module: string, args: string[]): Promise<{ code: number; stderr: string }> {
  const path = new URL(`../pipeline/commands/${module}`, import.meta.url).pathname;
  const { code, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", "--allow-write", "--allow-env", "--allow-ffi", path, ...args],
    stdout: "null",
    stderr: "piped",
  }).output();
  return { code, stderr: new TextDecoder().decode(stderr) };
}

Deno.test("train and experiment convnet at the same settings give the same losses and accuracies bit for bit", async () => {
  const dir = await Deno.makeTempDir({ prefix: "gradstream_same_" });
  try {
    // experiment convnet --quick: 100 training and 100 validation images, one epoch of batch 50,
    // weight scale 1e-3, hidden 500, reg 1e-3, Adam 1e-3, seed 0.
    const viaExperiment = await command("experiment.ts", [
      "convnet",
      "--quick",
      "--quiet",
      "--out",
      dir,
      "--run-name",
      "convnet",
    ]);
    assertEquals(viaExperiment.code, 0, viaExperiment.stderr);
    const viaTrain = await command("train.ts", [
      ...["--model", "cnn", "--weight-scale", "1e-3", "--hidden-dim", "500", "--reg", "1e-3"],
      ...["--epochs", "1", "--batch-size", "50", "--num-train", "100", "--num-val", "100"],
      ...["--quiet", "--out", dir, "--run-name", "train"],
    ]);
    assertEquals(viaTrain.code, 0, viaTrain.stderr);
    const fromTrain = numbers(await readRunLog(`${dir}/train/run.ndjson`));
    const fromExperiment = numbers(await readRunLog(`${dir}/convnet/runs/convnet/run.ndjson`));
    assertGreater(fromTrain.length, 2);
    // assertEquals compares numbers with Object.is: equal means equal to the last bit.
    assertEquals(fromTrain, fromExperiment);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
