import { assert, assertEquals, assertRejects, assertStringIncludes } from "@std/assert";
import type { TrainRecord } from "../pipeline/store/records.ts";
import { safeRelativePath, serveRun } from "../reports/live_server.ts";

const net = (await Deno.permissions.query({ name: "net", host: "127.0.0.1" })).state === "granted";
if (!net) console.warn("reports_live_server_test: server tests skipped, they need --allow-net=127.0.0.1");

function iteration(t: number): TrainRecord {
  return { kind: "iteration", iteration: t, epoch: 0, loss: 2 / t, elapsedMs: t };
}

const END: TrainRecord = {
  kind: "end",
  iteration: 5,
  epoch: 1,
  bestValAcc: 0.5,
  finalTrainAcc: 0.6,
  finalValAcc: 0.5,
  elapsedMs: 5,
  wallMs: 6,
  examplesPerSec: 100,
};

/** A run folder: report.html, data.json, a dot file, and a secret file outside it. */
async function runFolder(): Promise<{ base: string; dir: string }> {
  const base = await Deno.makeTempDir({ prefix: "gradstream-serve-" });
  const dir = `${base}/run`;
  await Deno.mkdir(`${dir}/sub`, { recursive: true });
  await Deno.writeTextFile(`${dir}/report.html`, "<!doctype html><p>report</p>");
  await Deno.writeTextFile(`${dir}/sub/data.json`, '{"ok":true}');
  await Deno.writeTextFile(`${dir}/.report.html.tmp-1-ab`, "partial");
  await Deno.writeTextFile(`${base}/secret.txt`, "secret");
  return { base, dir };
}

/** A server test, skipped without --allow-net: `fn` gets a fresh run folder (see `runFolder`), removed after. */
function serverTest(name: string, fn: (folder: { base: string; dir: string }) => Promise<void>): void {
  Deno.test({
    name,
    ignore: !net,
    async fn() {
      const folder = await runFolder();
      try {
        await fn(folder);
      } finally {
        await Deno.remove(folder.base, { recursive: true });
      }
    },
  });
}

/** Sends one raw HTTP/1.1 request (fetch would normalise the path or fix the Host) and returns the status line. */
async function rawRequest(port: number, target: string, host = `127.0.0.1:${port}`): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(new TextEncoder().encode(`GET ${target} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`));
    const buf = new Uint8Array(4096);
    const n = await conn.read(buf);
    return new TextDecoder().decode(buf.subarray(0, n ?? 0)).split("\r\n")[0];
  } finally {
    conn.close();
  }
}

/** Reads an event stream to its end: the records of its messages, their ids, and whether `done` came. */
async function readEvents(
  url: string,
  headers: HeadersInit = {},
): Promise<{ records: TrainRecord[]; ids: number[]; done: boolean }> {
  const res = await fetch(url, { headers, signal: AbortSignal.timeout(5000) });
  assertEquals(res.headers.get("content-type"), "text/event-stream; charset=utf-8");
  const text = await res.text();
  const out = { records: [] as TrainRecord[], ids: [] as number[], done: false };
  for (const block of text.split("\n\n")) {
    const lines = block.split("\n");
    const field = (name: string) => lines.find((l) => l.startsWith(`${name}: `))?.slice(name.length + 2);
    if (field("event") === "done") out.done = true;
    else if (field("data") !== undefined) {
      out.records.push(...JSON.parse(field("data")!));
      out.ids.push(Number(field("id")));
    }
  }
  return out;
}

Deno.test("safeRelativePath refuses .., dot files, backslashes, NUL and bad escapes", () => {
  assertEquals(safeRelativePath("/"), "report.html");
  assertEquals(safeRelativePath("/sub/data.json"), "sub/data.json");
  assertEquals(safeRelativePath("//sub//data.json"), "sub/data.json");
  for (
    const bad of ["/../x", "/a/%2e%2e/x", "/..%2fsecret.txt", "/.hidden", "/a%5c..%5cb", "/a%00b", "/%E0%A4%A", "/./x"]
  ) {
    assertEquals(safeRelativePath(bad), 400, bad);
  }
});

serverTest("serveRun serves the run folder's files and nothing outside it", async ({ base, dir }) => {
  await Deno.symlink(`${base}/secret.txt`, `${dir}/escape.txt`);
  await Deno.symlink(base, `${dir}/up`);
  await Deno.symlink(`${dir}/sub/data.json`, `${dir}/inside.json`);
  const server = await serveRun(dir, ReadableStream.from<TrainRecord>([]));
  try {
    assert(server.url.startsWith("http://127.0.0.1:"));
    const get = (path: string, init?: RequestInit) => fetch(new URL(path, server.url), init);
    const index = await get("/");
    assertEquals(index.status, 200);
    assertEquals(index.headers.get("content-type"), "text/html; charset=utf-8");
    assertEquals(index.headers.get("x-content-type-options"), "nosniff");
    assertStringIncludes(await index.text(), "report");
    const json = await get("/sub/data.json");
    assertEquals([json.status, json.headers.get("content-type"), await json.text()], [
      200,
      "application/json",
      '{"ok":true}',
    ]);
    const inside = await get("/inside.json");
    assertEquals([inside.status, await inside.text()], [200, '{"ok":true}']);
    const status = async (path: string, init?: RequestInit) => {
      const r = await get(path, init);
      await r.body?.cancel();
      return r.status;
    };
    assertEquals(await status("/missing.html"), 404);
    assertEquals(await status("/sub"), 404);
    assertEquals(await status("/escape.txt"), 403);
    assertEquals(await status("/up/secret.txt"), 403);
    assertEquals(await status("/.report.html.tmp-1-ab"), 400);
    assertEquals(await status("/..%2fsecret.txt"), 400);
    assertEquals(await status("/%2e%2e/secret.txt"), 404); // fetch resolves %2e%2e itself: /secret.txt is not in the folder
    assertEquals(await status("/", { method: "POST", body: "x" }), 405);
    const head = await get("/", { method: "HEAD" });
    assertEquals([head.status, head.headers.get("content-length")], [200, "28"]);
    // Paths as a client could send them, unnormalised, and a foreign Host (DNS rebinding).
    assertStringIncludes(await rawRequest(server.port, "/../secret.txt"), " 404");
    assertStringIncludes(await rawRequest(server.port, "/..%2f..%2fetc%2fpasswd"), " 400");
    assertStringIncludes(await rawRequest(server.port, "/report.html"), " 200");
    assertStringIncludes(await rawRequest(server.port, "/report.html", "evil.example:80"), " 403");
  } finally {
    await server.shutdown();
  }
});

serverTest(
  "serveRun streams every record to a page, batched, then a done event; Last-Event-ID resumes",
  async ({ dir }) => {
    const records = [1, 2, 3, 4, 5].map(iteration).concat(END);
    let controller!: ReadableStreamDefaultController<TrainRecord>;
    const stream = new ReadableStream<TrainRecord>({ start: (c) => void (controller = c) });
    const server = await serveRun(dir, stream, { batchMs: 5, maxBatch: 4 });
    try {
      controller.enqueue(records[0]);
      const early = readEvents(`${server.url}events`);
      await new Promise((r) => setTimeout(r, 30));
      for (const r of records.slice(1)) controller.enqueue(r);
      controller.close();
      const got = await early;
      assertEquals(got.records, records);
      assert(got.done, "no done event");
      assertEquals(got.ids.at(-1), records.length);
      await server.recordsDone;
      // A late page gets everything at once, in messages of at most maxBatch records.
      const late = await readEvents(`${server.url}events`);
      assertEquals(late.records, records);
      assertEquals(late.ids, [4, 6]);
      // A page reconnecting after record 4 gets only the rest.
      const resumed = await readEvents(`${server.url}events`, { "Last-Event-ID": "4" });
      assertEquals(resumed.records, records.slice(4));
      assertEquals(server.records.length, records.length);
      assertEquals(server.clients, 0);
    } finally {
      await server.shutdown();
    }
  },
);

serverTest("serveRun with lingerMs stops by itself once the records end", async ({ dir }) => {
  const t0 = performance.now();
  const server = await serveRun(dir, ReadableStream.from([iteration(1), END]), { lingerMs: 20 });
  await server.finished;
  assert(performance.now() - t0 < 3000, "took too long to stop");
  await assertRejects(() => fetch(server.url, { signal: AbortSignal.timeout(2000) }));
});

serverTest("serveRun's shutdown ends open event streams and cancels the record stream", async ({ dir }) => {
  let cancelled = false;
  const stream = new ReadableStream<TrainRecord>({
    start: (c) => c.enqueue(iteration(1)),
    cancel: () => void (cancelled = true),
  });
  const server = await serveRun(dir, stream, { batchMs: 1 });
  try {
    const res = await fetch(`${server.url}events`, { signal: AbortSignal.timeout(5000) });
    const body = res.text();
    await new Promise((r) => setTimeout(r, 20));
    assertEquals(server.clients, 1);
    await server.shutdown();
    assertStringIncludes(await body, '"iteration":1');
    assert(cancelled, "record stream not cancelled");
  } finally {
    await server.shutdown();
  }
});

Deno.test("serveRun refuses to bind anything but a loopback address", async () => {
  await assertRejects(
    // deno-lint-ignore no-explicit-any
    () => serveRun(".", ReadableStream.from<TrainRecord>([]), { hostname: "0.0.0.0" as any }),
    RangeError,
    `hostname "0.0.0.0" is not a loopback address`,
  );
});
