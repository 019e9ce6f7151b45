/**
 * Run-folder locks (pipeline/store/run_lock.ts): one writer at a time, the
 * holder named, a lock of a killed process taken over and said so.
 */

import { assert, assertEquals, assertRejects, assertStringIncludes } from "@std/assert";
import {
  acquireRunLock,
  describeHolder,
  heldRunLock,
  hostname,
  isHeld,
  lockPath,
  readRunLock,
  RunLockedError,
  shellWord,
} from "../pipeline/store/run_lock.ts";

const LOCK_MODULE = new URL("../pipeline/store/run_lock.ts", import.meta.url).href;

/** A child process that takes the lock of `dir`, says so on stdout, and sleeps. */
function holdingChild(dir: string): Deno.ChildProcess {
  const code = `import { acquireRunLock } from ${JSON.stringify(LOCK_MODULE)};
await acquireRunLock(${JSON.stringify(dir)}, { command: "deno task train --epochs 9" });
console.log("locked");
setTimeout(() => {}, 60_000);`;
  return new Deno.Command(Deno.execPath(), {
    args: ["eval", "--ext=ts", code],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

async function firstLine(stream: ReadableStream<Uint8Array>): Promise<string> {
  const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { done, value } = await reader.read();
    if (done) break;
    text += value;
  }
  reader.releaseLock();
  return text.split("\n")[0];
}

Deno.test("acquireRunLock writes PID, hostname, start time and command, and release removes the file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const lock = await acquireRunLock(dir, { command: "deno task train --epochs 2" });
    const info = await heldRunLock(dir);
    assertEquals(info?.pid, Deno.pid);
    assertEquals(info?.hostname, hostname());
    assertEquals(info?.command, "deno task train --epochs 2");
    assert(!Number.isNaN(Date.parse(info!.startedAt)), info!.startedAt);
    assertEquals(lock.tookOver, null);
    // Only the lock file is left in the folder: its temporary is gone.
    assertEquals([...Deno.readDirSync(dir)].map((e) => e.name), ["run.lock"]);
    await lock.release();
    assertEquals([...Deno.readDirSync(dir)], []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a second writer of a locked folder is refused, naming the holder", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const lock = await acquireRunLock(dir, { command: "deno task train --model cnn" });
    const e = await assertRejects(() => acquireRunLock(dir), RunLockedError);
    assertStringIncludes(e.message, `${dir} is being written by another run (${describeHolder(lock.info)}`);
    assertStringIncludes(e.message, ": deno task train --model cnn); wait for it to finish or stop it (Ctrl-C) first");
    lock.releaseSync();
    const again = await acquireRunLock(dir);
    await again.release();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "the lock of a live child process refuses; once it is killed (SIGKILL) the lock is taken over and named",
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir();
    const child = holdingChild(dir);
    try {
      assertEquals(await firstLine(child.stdout), "locked");
      const held = await heldRunLock(dir);
      assertEquals(held?.pid, child.pid);
      const refused = await assertRejects(() => acquireRunLock(dir), RunLockedError);
      assertStringIncludes(refused.message, `(process ${child.pid}`);
      assertStringIncludes(refused.message, "deno task train --epochs 9");

      child.kill("SIGKILL");
      // The kernel drops a dead process's flocks at once, before it is even reaped; the kill itself takes a moment.
      for (let i = 0; i < 200 && isHeld(lockPath(dir)); i++) await new Promise((r) => setTimeout(r, 10));
      assertEquals(await heldRunLock(dir), null);
      assertEquals((await readRunLock(dir))?.pid, child.pid, "the file is still there, unheld");
      const lock = await acquireRunLock(dir, { command: "deno task train --resume" });
      assertEquals(lock.tookOver?.pid, child.pid);
      assertEquals(lock.tookOver?.token, held!.token);
      assertEquals((await readRunLock(dir))?.pid, Deno.pid);
      await lock.release();
    } finally {
      try {
        child.kill("SIGKILL");
      } catch { /* already dead */ }
      await child.status;
      await child.stderr.cancel();
      await child.stdout.cancel().catch(() => {});
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("a lock file nobody holds (its process ended, or written by hand) is taken over", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const stale = { pid: 1, hostname: "elsewhere", startedAt: "2025-01-01T00:00:00Z", command: "x", token: "t" };
    await Deno.writeTextFile(lockPath(dir), JSON.stringify(stale));
    assertEquals(await heldRunLock(dir), null);
    const lock = await acquireRunLock(dir);
    assertEquals(lock.tookOver, stale);
    await lock.release();

    await Deno.writeTextFile(lockPath(dir), "{ half a lo");
    const again = await acquireRunLock(dir);
    assertEquals(again.tookOver?.startedAt, "an unknown time");
    await again.release();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a lock held by this very process refuses a second acquisition, even after its file was rewritten", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const lock = await acquireRunLock(dir);
    // Whatever the file says, the flock on it is what counts.
    await Deno.writeTextFile(lockPath(dir), "{}", { append: false });
    const e = await assertRejects(() => acquireRunLock(dir), RunLockedError);
    assertStringIncludes(e.message, "(process 0, since an unknown time)");
    lock.releaseSync();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("four processes racing for one stale lock: exactly one wins", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // A lock left by a process that has gone: nobody holds the file.
    const stale = { pid: 1, hostname: hostname(), startedAt: "", command: "", token: "stale" };
    await Deno.writeTextFile(lockPath(dir), JSON.stringify(stale));
    // Each racer waits for "go", tries once, says how it went, and keeps what it won until "end".
    const wait = (name: string) =>
      `while (true) { try { Deno.statSync(${
        JSON.stringify(`${dir}/${name}`)
      }); break; } catch { await new Promise((r) => setTimeout(r, 5)); } }`;
    const code = `import { acquireRunLock } from ${JSON.stringify(LOCK_MODULE)};
Deno.writeTextFileSync(${JSON.stringify(dir)} + "/.ready-" + Deno.pid, "");
${wait(".go")}
try { await acquireRunLock(${JSON.stringify(dir)}); console.log("won"); } catch (e) { console.log(e.name); }
${wait(".end")}`;
    const racers = Array.from(
      { length: 4 },
      () =>
        new Deno.Command(Deno.execPath(), { args: ["eval", "--ext=ts", code], stdout: "piped", stderr: "piped" })
          .spawn(),
    );
    while ([...Deno.readDirSync(dir)].filter((e) => e.name.startsWith(".ready-")).length < 4) {
      await new Promise((r) => setTimeout(r, 10));
    }
    await Deno.writeTextFile(`${dir}/.go`, "");
    const results = (await Promise.all(racers.map((r) => firstLine(r.stdout)))).sort();
    await Deno.writeTextFile(`${dir}/.end`, "");
    for (const r of racers) {
      await r.status;
      await r.stderr.cancel();
      await r.stdout.cancel().catch(() => {});
    }
    assertEquals(results, ["RunLockedError", "RunLockedError", "RunLockedError", "won"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("acquirers of one folder take turns: while another process holds the folder's flock, acquireRunLock waits", async () => {
  const dir = await Deno.makeTempDir();
  const folder = await Deno.open(dir, { read: true });
  try {
    await folder.lock(true);
    const code = `import { acquireRunLock } from ${JSON.stringify(LOCK_MODULE)};
console.log("trying"); await acquireRunLock(${JSON.stringify(dir)}); console.log("won");`;
    const child = new Deno.Command(Deno.execPath(), {
      args: ["eval", "--ext=ts", code],
      stdout: "piped",
      stderr: "null",
    }).spawn();
    const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    assertEquals((await lines.read()).value, "trying\n");
    await new Promise((r) => setTimeout(r, 500));
    assertEquals(await readRunLock(dir), null, "the child took the lock while the folder was flocked");
    await folder.unlock();
    assertEquals((await lines.read()).value, "won\n");
    await child.status;
  } finally {
    folder.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("shellWord quotes what a shell would split or expand", () => {
  assertEquals(shellWord("--dataset=cifar10:../shared/x"), "--dataset=cifar10:../shared/x");
  assertEquals(shellWord("a b"), "'a b'");
  assertEquals(shellWord("it's"), `'it'"'"'s'`);
  assertEquals(shellWord(""), "''");
});
