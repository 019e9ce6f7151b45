/**
 * Issue 12, items 5 and 9, through the `train` command: resuming on another
 * gemm backend, and the NaN-stop message after `--resume`.
 */

import { assertEquals, assertMatch, assertStringIncludes } from "@std/assert";
import { availableBackends } from "../layers/kernels/gemm_backends.ts";
import { main } from "../pipeline/commands/train.ts";

async function run(args: string[]) {
  const out: string[] = [], err: string[] = [];
  const code = await main(args, { out: (l) => out.push(l), err: (l) => err.push(l), terminal: false });
  return { code, out, err };
}

/** Drops the log's end record: as if killed after its last checkpoint, before the end reached the log. */
async function unfinish(log: string): Promise<void> {
  const lines = (await Deno.readTextFile(log)).trimEnd().split("\n");
  await Deno.writeTextFile(log, lines.filter((l) => !l.includes('"kind":"end"')).join("\n") + "\n");
}

const wasm = availableBackends().find((b) => b.name === "wasm")!;

Deno.test({
  name: `train --resume on another gemm backend exits 2 naming both, unless --allow-backend-change (issue 12.5)${
    wasm.available ? "" : ` (skipped: wasm backend unavailable: ${wasm.reason})`
  }`,
  ignore: !wasm.available,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "gradstream_cli_harden_" });
    try {
      const small = [
        ...["--hidden-dims", "8", "--num-train", "50", "--num-val", "50", "--epochs", "2", "--quiet"],
        ...["--out", dir, "--run-name", "r", "--threads", "1"],
      ];
      const first = await run([...small, "--gemm", "ts", "--epochs", "2"]);
      assertEquals(first.code, 0, first.err.join("\n"));
      await unfinish(`${dir}/r/run.ndjson`);
      const refused = await run([...small, "--gemm", "wasm", "--resume"]);
      assertEquals(refused.code, 2);
      assertEquals(refused.err, [
        `train: ${dir}/r/checkpoint.safetensors: the checkpoint was written with gemm ts with 1 thread, this run ` +
        "uses gemm wasm with 1 thread: resuming would not be bit-identical (pass --allow-backend-change to continue " +
        "anyway)",
      ]);
      const same = await run([...small, "--gemm", "ts", "--resume"]);
      assertEquals(same.code, 0, same.err.join("\n"));
      await unfinish(`${dir}/r/run.ndjson`);
      const allowed = await run([...small, "--gemm", "wasm", "--resume", "--allow-backend-change"]);
      assertEquals(allowed.code, 0, allowed.err.join("\n"));
      assertStringIncludes(allowed.out.join("\n"), "continuing as --allow-backend-change asks");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

const blowUp = [
  ...["--normalization", "none", "--hidden-dims", "10", "--update-rule", "sgd", "--learning-rate", "1e3"],
  ...["--lr-decay", "1e6", "--num-train", "50", "--num-val", "50", "--batch-size", "50", "--epochs", "20"],
  ...["--gemm", "ts", "--quiet"],
];

Deno.test("train --resume that stops on a NaN names the checkpoint it kept, not 'no checkpoint was written' (issue 12.9)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "gradstream_cli_harden_" });
  try {
    const first = await run([...blowUp, "--out", dir, "--run-name", "boom"]);
    assertEquals(first.code, 1);
    const kept = /the last good checkpoint \(iteration (\d+), epoch (\d+)\)/.exec(first.err[0]);
    assertMatch(first.err[0], /the last good checkpoint/);
    const again = await run([...blowUp, "--out", dir, "--run-name", "boom", "--resume"]);
    assertEquals(again.code, 1);
    assertEquals(again.err.length, 1);
    assertStringIncludes(
      again.err[0],
      `the last good checkpoint (iteration ${kept![1]}, epoch ${
        kept![2]
      }) is kept at ${dir}/boom/checkpoint.safetensors`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
