/**
 * Opens the report of every experiment (`deno task experiment NAME --quick`)
 * in headless Chromium with the network cut off, and checks what a reader
 * sees: every chart drawn by vega-embed with marks, every image decoded and
 * shown at a readable size, no console errors, no request leaving the page.
 * Screenshots go to out/screenshots/experiments/.
 *
 * Skipped, with a message, when Chromium is not installed (`apt-get install
 * -y chromium`; `CHROMIUM` overrides the path) or when the test may not
 * reach 127.0.0.1 (the DevTools connection; run with --allow-net=127.0.0.1).
 *
 * The DevTools client below is a small one; the fuller one lives in
 * tests/report_browser_test.ts.
 */

import { assert, assertEquals, assertGreater } from "@std/assert";
import { main } from "../pipeline/experiment.ts";
import { EXPERIMENTS } from "../pipeline/experiments/index.ts";

function findChromium(): string | undefined {
  for (const c of [Deno.env.get("CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"]) {
    if (!c) continue;
    try {
      if (Deno.statSync(c).isFile) return c;
    } catch { /* not here */ }
  }
  return undefined;
}

const chromium = findChromium();
const netGranted = (await Deno.permissions.query({ name: "net", host: "127.0.0.1" })).state === "granted";
const runGranted = (await Deno.permissions.query({ name: "run" })).state === "granted";
const skip = chromium === undefined
  ? "Chromium is not installed (apt-get install -y chromium)"
  : !netGranted || !runGranted
  ? "it needs --allow-run and --allow-net=127.0.0.1 to drive Chromium"
  : undefined;
if (skip) console.warn(`experiment_browser_test: skipped, ${skip}`);

interface CdpMessage {
  id?: number;
  method?: string;
  params?: Record<string, unknown>;
  result?: unknown;
  error?: { message: string };
  sessionId?: string;
}

/** Headless Chromium driven over the DevTools protocol: one tab, console errors and requests recorded. */
class Tab {
  errors: string[] = [];
  requests: string[] = [];
  #ws: WebSocket;
  #next = 1;
  #pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  #waiters: { method: string; resolve: () => void }[] = [];
  #session = "";

  private constructor(ws: WebSocket, readonly child: Deno.ChildProcess, readonly profile: string) {
    this.#ws = ws;
    ws.onmessage = (m) => {
      const msg = JSON.parse(m.data as string) as CdpMessage;
      if (msg.id !== undefined) {
        const p = this.#pending.get(msg.id);
        this.#pending.delete(msg.id);
        if (msg.error) p?.reject(new Error(msg.error.message));
        else p?.resolve(msg.result);
        return;
      }
      // deno-lint-ignore no-explicit-any
      const p = msg.params as any;
      if (msg.method === "Runtime.exceptionThrown") {
        this.errors.push(`exception: ${p.exceptionDetails?.exception?.description ?? p.exceptionDetails?.text}`);
      }
      if (msg.method === "Runtime.consoleAPICalled" && (p.type === "error" || p.type === "assert")) {
        this.errors.push(
          `console.${p.type}: ${
            p.args.map((a: { value?: unknown; description?: string }) => a.value ?? a.description).join(" ")
          }`,
        );
      }
      if (msg.method === "Log.entryAdded" && p.entry.level === "error") this.errors.push(`log: ${p.entry.text}`);
      if (msg.method === "Network.requestWillBeSent") this.requests.push(String(p.request.url));
      this.#waiters = this.#waiters.filter((w) => (w.method === msg.method ? (w.resolve(), false) : true));
    };
  }

  static async open(path: string): Promise<Tab> {
    const profile = await Deno.makeTempDir({ prefix: "gradstream-chromium-" });
    const child = new Deno.Command(path, {
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-extensions",
        "--hide-scrollbars",
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        `--user-data-dir=${profile}`,
        "--remote-debugging-port=0",
        "about:blank",
      ],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const lines = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
    let text = "";
    let url: string | undefined;
    const deadline = setTimeout(() => child.kill("SIGKILL"), 15_000);
    while (url === undefined) {
      const { done, value } = await lines.read();
      if (done) throw new Error(`chromium exited before it listened:\n${text}`);
      text += value;
      url = /DevTools listening on (ws:\/\/\S+)/.exec(text)?.[1];
    }
    clearTimeout(deadline);
    (async () => {
      try {
        while (!(await lines.read()).done) { /* keep the pipe drained */ }
      } catch { /* closed */ }
    })();
    const ws = new WebSocket(url);
    await new Promise<void>((resolve, reject) => {
      ws.onopen = () => resolve();
      ws.onerror = () => reject(new Error(`cannot connect to ${url}`));
    });
    const tab = new Tab(ws, child, profile);
    const { targetId } = await tab.send<{ targetId: string }>("Target.createTarget", { url: "about:blank" }, false);
    tab.#session =
      (await tab.send<{ sessionId: string }>("Target.attachToTarget", { targetId, flatten: true }, false)).sessionId;
    for (const domain of ["Page", "Runtime", "Log", "Network"]) await tab.send(`${domain}.enable`);
    await tab.send("Emulation.setDeviceMetricsOverride", {
      width: 1280,
      height: 900,
      deviceScaleFactor: 1,
      mobile: false,
    });
    await tab.send("Page.bringToFront");
    await tab.send("Emulation.setFocusEmulationEnabled", { enabled: true });
    await tab.send("Network.emulateNetworkConditions", {
      offline: true,
      latency: 0,
      downloadThroughput: -1,
      uploadThroughput: -1,
    });
    return tab;
  }

  send<T = Record<string, unknown>>(
    method: string,
    params: Record<string, unknown> = {},
    inSession = true,
  ): Promise<T> {
    const id = this.#next++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`${method}: no answer in 20 s`));
      }, 20_000);
      this.#pending.set(id, {
        resolve: (v) => (clearTimeout(timer), resolve(v as T)),
        reject: (e) => (clearTimeout(timer), reject(new Error(`${method}: ${e.message}`))),
      });
      this.#ws.send(JSON.stringify({ id, method, params, ...(inSession ? { sessionId: this.#session } : {}) }));
    });
  }

  async goto(url: string): Promise<void> {
    this.errors = [];
    this.requests = [];
    const loaded = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${url} did not load in 15 s`)), 15_000);
      this.#waiters.push({ method: "Page.loadEventFired", resolve: () => (clearTimeout(timer), resolve()) });
    });
    await this.send("Page.navigate", { url });
    await loaded;
  }

  async eval<T>(expression: string): Promise<T> {
    const r = await this.send<
      { result: { value: T }; exceptionDetails?: { text: string; exception?: { description?: string } } }
    >(
      "Runtime.evaluate",
      { expression, awaitPromise: true, returnByValue: true, timeout: 15_000 },
    );
    if (r.exceptionDetails) {
      throw new Error(`eval: ${r.exceptionDetails.exception?.description ?? r.exceptionDetails.text}`);
    }
    return r.result.value;
  }

  async screenshot(path: string): Promise<void> {
    const m = await this.send<{ cssContentSize: { height: number } }>("Page.getLayoutMetrics");
    const { data } = await this.send<{ data: string }>("Page.captureScreenshot", {
      format: "png",
      captureBeyondViewport: true,
      clip: { x: 0, y: 0, width: 1280, height: Math.ceil(m.cssContentSize.height), scale: 1 },
    });
    await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
    await Deno.writeFile(path, Uint8Array.from(atob(data), (c) => c.charCodeAt(0)));
  }

  async close(): Promise<void> {
    try {
      await Promise.race([this.send("Browser.close", {}, false), new Promise((r) => setTimeout(r, 2000))]);
    } catch { /* already gone */ }
    this.#ws.close();
    const exited = await Promise.race([
      this.child.status.then(() => true),
      new Promise((r) => setTimeout(() => r(false), 3000)),
    ]);
    if (!exited) {
      this.child.kill("SIGKILL");
      await this.child.status;
    }
    await Deno.remove(this.profile, { recursive: true }).catch(() => {});
  }
}

interface Seen {
  charts: { id: string; interactive: boolean; failed: boolean; marks: number; title: string }[];
  images: { decoded: boolean; natural: number; shown: number; wanted: number; alt: string }[];
  title: string;
}

const INSPECT = `(() => ({
  charts: [...document.querySelectorAll("figure.chart")].map((f) => ({
    id: f.id,
    interactive: f.classList.contains("is-interactive"),
    failed: f.classList.contains("has-error"),
    marks: f.querySelectorAll(".chart-live svg g.role-mark > *").length,
    title: f.querySelector(".chart-static")?.getAttribute("aria-label") ?? "",
  })),
  images: [...document.querySelectorAll("img")].map((i) => ({
    decoded: i.complete && i.naturalWidth > 0,
    natural: i.naturalWidth,
    shown: i.getBoundingClientRect().width,
    wanted: parseFloat(i.style.width) || i.naturalWidth,
    alt: i.alt,
  })),
  title: document.title,
}))()`;

const SHOTS = new URL("../out/screenshots/experiments/", import.meta.url).pathname;

Deno.test({
  name: "every experiment's report opens offline in headless Chromium: charts drawn, images shown, no errors",
  ignore: skip !== undefined,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const root = await Deno.makeTempDir({ prefix: "gradstream-experiment-reports-" });
    const tab = await Tab.open(chromium!);
    try {
      for (const experiment of EXPERIMENTS) {
        await t.step(experiment.name, async () => {
          const err: string[] = [];
          const code = await main([experiment.name, "--quick", "--quiet", "--out", root], {
            out: () => {},
            err: (l) => err.push(l),
          });
          assertEquals(code, 0, err.join("\n"));
          await tab.goto(`file://${root}/${experiment.name}/report.html`);
          await tab.eval("window.gradstream.ready.then(() => true)");
          const seen = await tab.eval<Seen>(INSPECT);
          await tab.screenshot(`${SHOTS}${experiment.name}.png`);
          assert(seen.title.length > 0, "the page has no title");
          assertGreater(seen.charts.length + seen.images.length, 0, "nothing to see");
          for (const c of seen.charts) {
            assert(c.interactive && !c.failed, `${c.id} (${c.title}) was not drawn by vega-embed`);
            assertGreater(c.marks, 0, `${c.id} (${c.title}) has no marks`);
          }
          for (const img of seen.images) {
            assert(img.decoded, `image "${img.alt}" did not decode`);
            // An image squeezed to a fraction of its size (a layout bug) is as good as missing.
            assert(
              img.shown >= 0.9 * Math.min(img.wanted, 1000),
              `image "${img.alt}" is shown ${img.shown} px wide, ${img.wanted} px wanted`,
            );
          }
          assertEquals(tab.errors, [], "console errors");
          assertEquals(
            tab.requests.filter((u) => !u.startsWith("file://") && !u.startsWith("data:")),
            [],
            "network requests",
          );
        });
      }
      console.log(`experiment_browser_test: screenshots in ${SHOTS}`);
    } finally {
      await tab.close();
      await Deno.remove(root, { recursive: true });
    }
  },
});
