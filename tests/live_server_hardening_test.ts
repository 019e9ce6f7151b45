/**
 * Issue 12, item 8: the live server under a malformed Host, an absolute-form
 * target for another host, and a FIFO in the run folder.
 */

import { assertEquals, assertStringIncludes } from "@std/assert";
import { serveRun } from "../reports/live_server.ts";

const net = (await Deno.permissions.query({ name: "net", host: "127.0.0.1" })).state === "granted";
const skip = net ? "" : " (skipped: needs --allow-net=127.0.0.1)";

/** Sends one raw HTTP/1.1 request and returns the whole response text (within 5 s, else "timeout"). */
async function rawRequest(port: number, target: string, host: string): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const timer = setTimeout(() => conn.close(), 5000);
  try {
    await conn.write(new TextEncoder().encode(`GET ${target} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`));
    const chunks: Uint8Array[] = [];
    const buf = new Uint8Array(4096);
    for (;;) {
      const n = await conn.read(buf).catch(() => null);
      if (n === null) break;
      chunks.push(buf.slice(0, n));
    }
    return chunks.length === 0 ? "timeout" : new TextDecoder().decode(new Uint8Array(chunks.flatMap((c) => [...c])));
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch { /* closed by the timer */ }
  }
}

async function withServer(fn: (port: number, dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "gradstream-serve-harden-" });
  await Deno.writeTextFile(`${dir}/report.html`, "<p>report</p>");
  const server = await serveRun(dir, new ReadableStream({ start() {} }));
  try {
    await fn(server.port, dir);
  } finally {
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test({
  name: `live server: a malformed Host gets 403, with no 500 and no stack trace (issue 12.8)${skip}`,
  ignore: !net,
  fn: async () => {
    await withServer(async (port) => {
      const errors: unknown[] = [];
      const original = console.error;
      console.error = (...args: unknown[]) => void errors.push(args);
      try {
        for (const host of [`127.0.0.1:${port}.evil.example`, `127.0.0.1:${port} x`, `127.0.0.1:${port}/x`]) {
          const response = await rawRequest(port, "/report.html", host);
          assertEquals(response.split("\r\n")[0], "HTTP/1.1 403 Forbidden", host);
        }
      } finally {
        console.error = original;
      }
      assertEquals(errors, []);
    });
  },
});

Deno.test({
  name: `live server: an absolute-form target for another host gets 400 (issue 12.8)${skip}`,
  ignore: !net,
  fn: async () => {
    await withServer(async (port) => {
      const other = await rawRequest(port, "http://evil.example/report.html", `127.0.0.1:${port}`);
      assertEquals(other.split("\r\n")[0], "HTTP/1.1 400 Bad Request");
      const self = await rawRequest(port, `http://127.0.0.1:${port}/report.html`, `127.0.0.1:${port}`);
      assertEquals(self.split("\r\n")[0], "HTTP/1.1 200 OK");
      assertStringIncludes(self, "<p>report</p>");
    });
  },
});

Deno.test({
  name: `live server: a FIFO in the run folder is not found at once, and other requests go on (issue 12.8)${skip}`,
  ignore: !net,
  fn: async (t) => {
    await withServer(async (port, dir) => {
      const made = await new Deno.Command("mkfifo", { args: [`${dir}/pipe.json`] }).output().then(
        (o) => o.success,
        () => false,
      );
      if (!made) {
        await t.step("(skipped: mkfifo is not available)", () => {});
        return;
      }
      const host = `127.0.0.1:${port}`;
      assertEquals((await rawRequest(port, "/pipe.json", host)).split("\r\n")[0], "HTTP/1.1 404 Not Found");
      assertEquals((await rawRequest(port, "/report.html", host)).split("\r\n")[0], "HTTP/1.1 200 OK");
      assertEquals((await rawRequest(port, "/x.constructor", host)).split("\r\n")[0], "HTTP/1.1 404 Not Found");
    });
  },
});
