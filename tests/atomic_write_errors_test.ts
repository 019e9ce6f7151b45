/**
 * Issue 12, item 9: a write that fails part-way (disk full, file too large)
 * names the file it was writing, and leaves the old file as it was.
 */

import { assertEquals, assertRejects, assertStringIncludes } from "@std/assert";
import { writeFileAtomic } from "../pipeline/store/atomic_write.ts";

const SCRIPT = `
import { writeFileAtomic } from ${JSON.stringify(new URL("../pipeline/store/atomic_write.ts", import.meta.url).href)};
try {
  await writeFileAtomic(Deno.args[0], new Uint8Array(1 << 20));
  console.log("written");
} catch (e) {
  console.log(e.constructor.name + ": " + e.message);
}
`;

Deno.test("a write that fails part-way names the file being written and keeps the old one (issue 12.9)", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "gradstream_atomic_" });
  try {
    const target = `${dir}/checkpoint.safetensors`;
    await Deno.writeTextFile(target, "old");
    await Deno.writeTextFile(`${dir}/write.ts`, SCRIPT);
    // A 64 KiB file-size limit makes the 1 MiB write fail part-way, as a full disk does (EFBIG instead of ENOSPC);
    // SIGXFSZ is ignored so that the write returns the error instead of killing the process.
    const deno = Deno.execPath();
    const command = new Deno.Command("bash", {
      args: ["-c", `trap '' XFSZ; ulimit -f 64 && exec "$0" run -A "$1" "$2"`, deno, `${dir}/write.ts`, target],
      stdout: "piped",
      stderr: "piped",
    });
    let output: Deno.CommandOutput;
    try {
      output = await command.output();
    } catch (e) {
      await t.step(`(skipped: cannot run bash: ${(e as Error).message})`, () => {});
      return;
    }
    const line = new TextDecoder().decode(output.stdout).trim();
    assertStringIncludes(line, `writeFileAtomic: cannot write ${target}: `);
    assertEquals(await Deno.readTextFile(target), "old");
    assertEquals([...Deno.readDirSync(dir)].map((e) => e.name).sort(), ["checkpoint.safetensors", "write.ts"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a missing directory is still a NotFound, now naming the target", async () => {
  const dir = await Deno.makeTempDir({ prefix: "gradstream_atomic_" });
  try {
    await assertRejects(
      () => writeFileAtomic(`${dir}/missing/x.bin`, "x"),
      Deno.errors.NotFound,
      `writeFileAtomic: cannot write ${dir}/missing/x.bin: `,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
