/**
 * The live view: a small HTTP server on the loopback interface that serves
 * the files of one run's output folder (the live report page among them)
 * and streams the run's records to the page with Server-Sent Events, so
 * its charts grow while the run trains.
 *
 * Only files inside the folder are served: paths with `..`, `.` or hidden
 * (dot) segments, backslashes or NUL are refused, symbolic links are
 * followed only when they resolve inside the folder, only regular files are
 * served (a FIFO or device is "not found"), requests whose `Host` is not
 * the loopback address and port (DNS rebinding, a malformed Host) get 403,
 * and an absolute-form target naming another host gets 400.
 *
 * `GET /events` is the record stream. Every message's data is a JSON array
 * of records and its id the number of records sent so far, so a reconnecting
 * page (`Last-Event-ID`) gets only what it missed; a page that connects late
 * gets everything from the first record. When the records end, an `event:
 * done` message closes the stream.
 *
 * @module
 */

import type { TrainRecord } from "../pipeline/store/records.ts";

/** Options of {@link serveRun}. */
export interface ServeRunOptions {
  /** Port; 0 (the default) picks a free one. */
  port?: number;
  /** Loopback address to bind: `"127.0.0.1"` (the default), `"::1"` or `"localhost"`. */
  hostname?: "127.0.0.1" | "::1" | "localhost";
  /** File served for `/`. Default `"report.html"`. */
  index?: string;
  /** Stop serving after the records end and this many ms pass. Default: serve until `shutdown()` or `signal`. */
  lingerMs?: number;
  /** Aborting it shuts the server down. */
  signal?: AbortSignal;
  /** Records arriving within this many ms go out as one message. Default 50. */
  batchMs?: number;
  /** Most records in one message. Default 500. */
  maxBatch?: number;
}

/** A running live-view server. */
export interface RunServer {
  /** `http://127.0.0.1:PORT/`. */
  url: string;
  /** The port the server listens on (the one picked, when `port` was 0). */
  port: number;
  /** The loopback address it is bound to (`ServeRunOptions.hostname`, default `"127.0.0.1"`). */
  hostname: string;
  /** Every record received so far. */
  readonly records: readonly TrainRecord[];
  /** Pages connected to the event stream now. */
  readonly clients: number;
  /** Resolves when the record stream has ended (rejects with its error, if it failed). */
  recordsDone: Promise<void>;
  /** Resolves when the server has stopped. */
  finished: Promise<void>;
  /** Ends the event streams, stops the server, and cancels the record stream if it is still open. */
  shutdown(): Promise<void>;
}

const CONTENT_TYPES: Record<string, string> = {
  html: "text/html; charset=utf-8",
  json: "application/json",
  ndjson: "application/x-ndjson",
  txt: "text/plain; charset=utf-8",
  log: "text/plain; charset=utf-8",
  csv: "text/csv; charset=utf-8",
  svg: "image/svg+xml",
  png: "image/png",
  jpg: "image/jpeg",
  jpeg: "image/jpeg",
  css: "text/css; charset=utf-8",
  js: "text/javascript; charset=utf-8",
};

const BASE_HEADERS = {
  "cache-control": "no-store",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cross-origin-resource-policy": "same-origin",
};

function textResponse(status: number, text: string): Response {
  return new Response(text + "\n", {
    status,
    headers: { ...BASE_HEADERS, "content-type": "text/plain; charset=utf-8" },
  });
}

/**
 * The path inside the served folder that a URL path names, or an error
 * status: 400 for a path that is not plain (`..`, `.`, dot files, `\`,
 * NUL, bad escapes).
 */
export function safeRelativePath(pathname: string, index = "report.html"): string | 400 {
  let decoded: string;
  try {
    decoded = decodeURIComponent(pathname);
  } catch {
    return 400;
  }
  if (decoded.includes("\0") || decoded.includes("\\")) return 400;
  const segments = decoded.split("/").filter((s) => s !== "");
  if (segments.some((s) => s === "." || s === ".." || s.startsWith("."))) return 400;
  return segments.length === 0 ? index : segments.join("/");
}

/**
 * Serves the run folder `dir` on the loopback interface and streams
 * `records` to pages at `/events`. The records are read at once (whether or
 * not a page is connected) and kept in memory for late pages.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { serveRun } from "./live_server.ts";
 *
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/report.html`, "<p>live</p>");
 * const server = await serveRun(dir, ReadableStream.from([]), { lingerMs: 0 });
 * assertEquals(await (await fetch(server.url)).text(), "<p>live</p>");
 * await server.finished;
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function serveRun(
  dir: string,
  records: ReadableStream<TrainRecord>,
  options: ServeRunOptions = {},
): Promise<RunServer> {
  const hostname = options.hostname ?? "127.0.0.1";
  if (!["127.0.0.1", "::1", "localhost"].includes(hostname)) {
    throw new RangeError(`serveRun: hostname "${hostname}" is not a loopback address`);
  }
  const root = await Deno.realPath(dir);
  if (!(await Deno.stat(root)).isDirectory) throw new Error(`serveRun: ${dir} is not a directory`);
  const index = options.index ?? "report.html";
  const batchMs = options.batchMs ?? 50;
  const maxBatch = options.maxBatch ?? 500;
  if (!Number.isInteger(maxBatch) || maxBatch < 1) {
    throw new RangeError(`serveRun: maxBatch ${maxBatch} is not a positive integer`);
  }

  const log: TrainRecord[] = [];
  let ended = false;
  const encoder = new TextEncoder();

  interface Client {
    controller: ReadableStreamDefaultController<Uint8Array>;
    sent: number;
    closed: boolean;
    ping: ReturnType<typeof setInterval>;
  }
  const clients = new Set<Client>();

  const drop = (c: Client) => {
    if (c.closed) return;
    c.closed = true;
    clearInterval(c.ping);
    clients.delete(c);
    try {
      c.controller.close();
    } catch { /* the page already went away */ }
  };
  const pushTo = (c: Client) => {
    if (c.closed) return;
    try {
      while (c.sent < log.length) {
        const batch = log.slice(c.sent, c.sent + maxBatch);
        c.sent += batch.length;
        c.controller.enqueue(encoder.encode(`id: ${c.sent}\ndata: ${JSON.stringify(batch)}\n\n`));
      }
      if (ended) {
        c.controller.enqueue(encoder.encode(`event: done\ndata: {"records":${log.length}}\n\n`));
        drop(c);
      }
    } catch {
      drop(c);
    }
  };
  let flushTimer: ReturnType<typeof setTimeout> | undefined;
  const scheduleFlush = () => {
    if (flushTimer !== undefined) return;
    flushTimer = setTimeout(() => {
      flushTimer = undefined;
      for (const c of [...clients]) pushTo(c);
    }, batchMs);
  };

  const events = (req: Request): Response => {
    const last = Number(req.headers.get("last-event-id") ?? "0");
    let client: Client;
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        client = {
          controller,
          sent: Number.isInteger(last) && last >= 0 && last <= log.length ? last : 0,
          closed: false,
          // Comments keep proxies and the browser from timing the stream out.
          ping: setInterval(() => {
            try {
              controller.enqueue(encoder.encode(": ping\n\n"));
            } catch {
              drop(client);
            }
          }, 15_000),
        };
        clients.add(client);
        controller.enqueue(encoder.encode("retry: 1000\n\n"));
        pushTo(client);
      },
      cancel() {
        drop(client);
      },
    });
    return new Response(body, {
      headers: { ...BASE_HEADERS, "content-type": "text/event-stream; charset=utf-8", "x-accel-buffering": "no" },
    });
  };

  const file = async (req: Request, pathname: string): Promise<Response> => {
    const rel = safeRelativePath(pathname, index);
    if (rel === 400) return textResponse(400, "Bad path");
    let real: string;
    try {
      real = await Deno.realPath(`${root}/${rel}`);
    } catch {
      return textResponse(404, "Not found");
    }
    if (!real.startsWith(root.endsWith("/") ? root : root + "/")) return textResponse(403, "Outside the run folder");
    // Only regular files: opening a FIFO would block until a writer came, a device might never end.
    let info: Deno.FileInfo;
    try {
      info = await Deno.stat(real);
    } catch {
      return textResponse(404, "Not found");
    }
    if (!info.isFile) return textResponse(404, "Not found");
    let f: Deno.FsFile;
    try {
      f = await Deno.open(real, { read: true });
    } catch {
      return textResponse(404, "Not found");
    }
    info = await f.stat();
    if (!info.isFile) {
      f.close();
      return textResponse(404, "Not found");
    }
    const ext = rel.includes(".") ? rel.slice(rel.lastIndexOf(".") + 1).toLowerCase() : "";
    const headers = {
      ...BASE_HEADERS,
      "content-type": Object.hasOwn(CONTENT_TYPES, ext) ? CONTENT_TYPES[ext] : "application/octet-stream",
      "content-length": String(info.size),
    };
    if (req.method === "HEAD") {
      f.close();
      return new Response(null, { headers });
    }
    return new Response(f.readable, { headers });
  };

  let port = 0;
  const server = Deno.serve({
    hostname,
    port: options.port ?? 0,
    onListen: () => {},
    handler: (req) => {
      // The Host header is checked before anything parses it: a malformed one must not reach the URL parser.
      const host = req.headers.get("host") ?? "";
      const allowed = [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`];
      if (!allowed.includes(host)) return textResponse(403, "Wrong host");
      let url: URL;
      try {
        url = new URL(req.url);
      } catch {
        return textResponse(400, "Bad request target");
      }
      // An absolute-form target (GET http://other/x) must name this server too.
      if (!allowed.includes(url.host)) return textResponse(400, "Request target names another host");
      if (req.method !== "GET" && req.method !== "HEAD") {
        return new Response("Method not allowed\n", { status: 405, headers: { ...BASE_HEADERS, allow: "GET, HEAD" } });
      }
      if (url.pathname === "/events") return events(req);
      return file(req, url.pathname);
    },
  });
  port = server.addr.port;

  const reader = records.getReader();
  let stopping: Promise<void> | undefined;
  const shutdown = (): Promise<void> => {
    stopping ??= (async () => {
      if (flushTimer !== undefined) clearTimeout(flushTimer);
      for (const c of [...clients]) {
        pushTo(c);
        drop(c);
      }
      if (!ended) await reader.cancel().catch(() => {});
      // Graceful: the event streams just ended, so pending responses finish and go out whole.
      await server.shutdown();
    })();
    return stopping;
  };
  options.signal?.addEventListener("abort", () => void shutdown(), { once: true });
  if (options.signal?.aborted) void shutdown();

  const recordsDone = (async () => {
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        log.push(value);
        scheduleFlush();
      }
    } finally {
      ended = true;
      if (flushTimer !== undefined) clearTimeout(flushTimer);
      flushTimer = undefined;
      for (const c of [...clients]) pushTo(c);
      if (options.lingerMs !== undefined && stopping === undefined) {
        const t = setTimeout(() => void shutdown(), options.lingerMs);
        server.finished.then(() => clearTimeout(t));
      }
    }
  })();
  recordsDone.catch(() => {});

  const shownHost = hostname === "::1" ? "[::1]" : hostname;
  return {
    url: `http://${shownHost}:${port}/`,
    port,
    hostname,
    get records() {
      return log;
    },
    get clients() {
      return clients.size;
    },
    recordsDone,
    finished: server.finished,
    shutdown,
  };
}
