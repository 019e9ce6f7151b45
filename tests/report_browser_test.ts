/**
 * Opens generated reports in headless Chromium (Debian's `chromium`, driven
 * over the DevTools protocol on a WebSocket; no puppeteer download) with the
 * network cut off, and checks what a user would see: every chart drawn by
 * vega-embed with marks in its SVG, images decoded, no console errors, no
 * request leaving the page, and a hostile run label shown as text (no
 * element made from it, no dialog), in the page, the legends and a real
 * tooltip. Then the same pages with JavaScript off (static SVG), and a live
 * page fed by `serveRun` over loopback. Screenshots go to out/screenshots/.
 *
 * Skipped, with a message, when Chromium is not installed
 * (`apt-get install -y chromium`; `CHROMIUM` overrides the path) or the
 * test lacks `--allow-net=127.0.0.1`.
 */

import { assert, assertEquals, assertGreater, assertStringIncludes } from "@std/assert";
import { parseRunLog } from "../pipeline/run_log.ts";
import type { TrainRecord } from "../pipeline/records.ts";
import { serveRun } from "../reports/live_server.ts";
import { renderReport, writeReport } from "../reports/render.ts";
import { lossRows } from "../reports/run_data.ts";
import { filterGridSection, gradientCheckSection, imagesSection, trainingReport } from "../reports/run_report.ts";
import { accuracyPanelsSpec, dropoutSpec, weightScaleSpec } from "../reports/specs.ts";

const HOSTILE = "<img src=x onerror=alert(1)>";

function findChromium(): string | undefined {
  const candidates = [Deno.env.get("CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"];
  for (const c of candidates) {
    if (!c) continue;
    try {
      if (Deno.statSync(c).isFile) return c;
    } catch { /* not here */ }
  }
  return undefined;
}

const chromium = findChromium();
// DevTools and the live server talk over loopback.
const net = (await Deno.permissions.query({ name: "net", host: "127.0.0.1" })).state === "granted";
if (chromium === undefined) {
  console.warn("report_browser_test: skipped, Chromium is not installed (apt-get install -y chromium)");
} else if (!net) {
  console.warn("report_browser_test: skipped, it needs --allow-net=127.0.0.1 to drive Chromium");
}

// ---------------------------------------------------------------- DevTools protocol

interface CdpEvent {
  method: string;
  params: Record<string, unknown>;
  sessionId?: string;
}

class Browser {
  #ws: WebSocket;
  #next = 1;
  #pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void; method: string }>();
  #listeners: ((e: CdpEvent) => void)[] = [];
  #child: Deno.ChildProcess;
  #userDataDir: string;

  private constructor(ws: WebSocket, child: Deno.ChildProcess, userDataDir: string) {
    this.#ws = ws;
    this.#child = child;
    this.#userDataDir = userDataDir;
    ws.onmessage = (m) => {
      const msg = JSON.parse(m.data as string);
      if (msg.id !== undefined) {
        const p = this.#pending.get(msg.id);
        this.#pending.delete(msg.id);
        if (msg.error) p?.reject(new Error(`${p.method}: ${msg.error.message}`));
        else p?.resolve(msg.result);
      } else {
        for (const l of this.#listeners) l(msg as CdpEvent);
      }
    };
  }

  static async launch(path: string): Promise<Browser> {
    const userDataDir = await Deno.makeTempDir({ prefix: "gradstream-chromium-" });
    const child = new Deno.Command(path, {
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        "--disable-default-apps",
        "--mute-audio",
        "--hide-scrollbars",
        // No name resolves: nothing but loopback IP literals can be reached.
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        `--user-data-dir=${userDataDir}`,
        "--remote-debugging-port=0",
        "about:blank",
      ],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const lines = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
    let buffered = "";
    let wsUrl: string | undefined;
    const deadline = setTimeout(() => child.kill("SIGKILL"), 15_000);
    while (wsUrl === undefined) {
      const { done, value } = await lines.read();
      if (done) throw new Error(`chromium exited before it listened:\n${buffered}`);
      buffered += value;
      wsUrl = buffered.match(/DevTools listening on (ws:\/\/\S+)/)?.[1];
    }
    clearTimeout(deadline);
    // Keep draining stderr so chromium never blocks on a full pipe.
    (async () => {
      try {
        while (!(await lines.read()).done) { /* discard */ }
      } catch { /* closed */ }
    })();
    const ws = new WebSocket(wsUrl);
    await new Promise<void>((resolve, reject) => {
      ws.onopen = () => resolve();
      ws.onerror = () => reject(new Error(`cannot connect to ${wsUrl}`));
    });
    return new Browser(ws, child, userDataDir);
  }

  send<T = Record<string, unknown>>(
    method: string,
    params: Record<string, unknown> = {},
    sessionId?: string,
  ): Promise<T> {
    const id = this.#next++;
    return new Promise<T>((resolve, reject) => {
      // Nothing here may hang the suite: every call gets an answer or fails.
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`${method}: no answer in 20 s`));
      }, 20_000);
      this.#pending.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v as T);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
        method,
      });
      this.#ws.send(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }));
    });
  }

  on(listener: (e: CdpEvent) => void): () => void {
    this.#listeners.push(listener);
    return () => (this.#listeners = this.#listeners.filter((l) => l !== listener));
  }

  waitFor(method: string, sessionId: string, timeoutMs: number): Promise<CdpEvent> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        off();
        reject(new Error(`timed out waiting for ${method}`));
      }, timeoutMs);
      const off = this.on((e) => {
        if (e.method === method && e.sessionId === sessionId) {
          clearTimeout(timer);
          off();
          resolve(e);
        }
      });
    });
  }

  async close(): Promise<void> {
    try {
      await Promise.race([this.send("Browser.close"), new Promise((r) => setTimeout(r, 2000))]);
    } catch { /* already gone */ }
    this.#ws.close();
    const exited = await Promise.race([
      this.#child.status.then(() => true),
      new Promise((r) => setTimeout(() => r(false), 3000)),
    ]);
    if (!exited) {
      this.#child.kill("SIGKILL");
      await this.#child.status;
    }
    await Deno.remove(this.#userDataDir, { recursive: true }).catch(() => {});
  }
}

/** A tab with everything a check needs recorded: console errors, exceptions, dialogs, requests. */
class Page {
  errors: string[] = [];
  warnings: string[] = [];
  dialogs: string[] = [];
  requests: string[] = [];
  #off: () => void;

  private constructor(readonly browser: Browser, readonly session: string) {
    this.#off = browser.on((e) => {
      if (e.sessionId !== session) return;
      // deno-lint-ignore no-explicit-any
      const p = e.params as Record<string, any>;
      if (e.method === "Runtime.consoleAPICalled") {
        const text = (p.args as { value?: unknown; description?: string }[]).map((a) => a.value ?? a.description).join(
          " ",
        );
        if (p.type === "error" || p.type === "assert") this.errors.push(`console.${p.type}: ${text}`);
        if (p.type === "warning") this.warnings.push(text);
      } else if (e.method === "Runtime.exceptionThrown") {
        this.errors.push(`exception: ${p.exceptionDetails?.exception?.description ?? p.exceptionDetails?.text}`);
      } else if (e.method === "Log.entryAdded") {
        if (p.entry.level === "error") this.errors.push(`log: ${p.entry.text} ${p.entry.url ?? ""}`);
      } else if (e.method === "Page.javascriptDialogOpening") {
        this.dialogs.push(`${p.type}: ${p.message}`);
        void browser.send("Page.handleJavaScriptDialog", { accept: false }, session);
      } else if (e.method === "Network.requestWillBeSent") {
        this.requests.push(String(p.request.url));
      }
    });
  }

  static async open(browser: Browser, { offline }: { offline: boolean }): Promise<Page> {
    const { targetId } = await browser.send<{ targetId: string }>("Target.createTarget", { url: "about:blank" });
    const { sessionId } = await browser.send<{ sessionId: string }>("Target.attachToTarget", {
      targetId,
      flatten: true,
    });
    const page = new Page(browser, sessionId);
    for (const domain of ["Page", "Runtime", "Log", "Network"]) await page.send(`${domain}.enable`);
    await page.send("Emulation.setDeviceMetricsOverride", {
      width: 1280,
      height: 900,
      deviceScaleFactor: 1,
      mobile: false,
    });
    // A tab that is not in front gets no animation frames; vega and the checks need them.
    await page.send("Page.bringToFront");
    await page.send("Emulation.setFocusEmulationEnabled", { enabled: true });
    if (offline) {
      await page.send("Network.emulateNetworkConditions", {
        offline: true,
        latency: 0,
        downloadThroughput: -1,
        uploadThroughput: -1,
      });
    }
    return page;
  }

  send<T = Record<string, unknown>>(method: string, params: Record<string, unknown> = {}): Promise<T> {
    return this.browser.send<T>(method, params, this.session);
  }

  async goto(url: string): Promise<void> {
    this.errors = [];
    this.dialogs = [];
    this.requests = [];
    const loaded = this.browser.waitFor("Page.loadEventFired", this.session, 15_000);
    loaded.catch(() => {});
    await this.send("Page.navigate", { url });
    await loaded;
  }

  async eval<T>(expression: string, timeoutMs = 15_000): Promise<T> {
    const r = await this.send<
      { result: { value: T }; exceptionDetails?: { text: string; exception?: { description?: string } } }
    >(
      "Runtime.evaluate",
      { expression, awaitPromise: true, returnByValue: true, timeout: timeoutMs },
    );
    if (r.exceptionDetails) {
      throw new Error(`eval failed: ${r.exceptionDetails.exception?.description ?? r.exceptionDetails.text}`);
    }
    return r.result.value;
  }

  async screenshot(path: string): Promise<void> {
    const m = await this.send<{ cssContentSize: { width: number; height: number } }>("Page.getLayoutMetrics");
    const { data } = await this.send<{ data: string }>("Page.captureScreenshot", {
      format: "png",
      captureBeyondViewport: true,
      clip: { x: 0, y: 0, width: 1280, height: Math.ceil(m.cssContentSize.height), scale: 1 },
    });
    await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
    await Deno.writeFile(path, Uint8Array.from(atob(data), (c) => c.charCodeAt(0)));
  }

  close(): void {
    this.#off();
  }
}

// ---------------------------------------------------------------- reports under test

async function fixture(name: string): Promise<TrainRecord[]> {
  return parseRunLog(await Deno.readTextFile(new URL(`./fixtures/reports/${name}.ndjson`, import.meta.url)));
}

async function buildReports(dir: string): Promise<{ training: string; experiments: string }> {
  const [baseline, batchnorm, stopped, resumed] = await Promise.all(
    ["baseline", "batchnorm", "stopped", "resumed"].map(fixture),
  );
  const runs = [
    { label: "baseline", records: baseline },
    { label: "batchnorm", records: batchnorm },
    { label: HOSTILE, records: stopped },
    { label: "layernorm (resumed)", records: resumed },
  ];
  const training = `${dir}/training.html`;
  await writeReport(
    training,
    trainingReport({
      title: `Batch normalization vs baseline ${HOSTILE}`,
      description: `Four small runs from the test fixtures; one is labelled ${HOSTILE} and stops on a NaN loss.`,
      config: {
        model: { hiddenDims: [100], normalization: "batchnorm" },
        updateRule: "adam",
        note: "</script><script>alert(2)</script>",
      },
      runs,
      generatedAt: "2025-01-01 12:00 UTC",
    }),
  );

  const scales = [1e-4, 1e-3, 1e-2, 1e-1, 1];
  const filters = {
    data: Float64Array.from({ length: 16 * 3 * 5 * 5 }, (_, i) => Math.sin(0.37 * i) + Math.cos(0.011 * i * i)),
    shape: [16, 3, 5, 5],
  };
  // A 32 × 32 RGB picture (a lit ball on a gradient), its grey version and a horizontal-edge response.
  const picture = { data: new Float64Array(32 * 32 * 3), shape: [32, 32, 3] };
  const grey = { data: new Float64Array(32 * 32), shape: [32, 32] };
  const edges = { data: new Float64Array(32 * 32), shape: [32, 32] };
  for (let y = 0; y < 32; y++) {
    for (let x = 0; x < 32; x++) {
      const d = Math.hypot(x - 15.5, y - 13.5);
      const ball = Math.max(0, 1 - d / 11);
      const rgb = [40 + 6 * y + 200 * ball, 70 + 3 * x + 120 * ball, 160 - 3 * y + 40 * ball];
      for (let k = 0; k < 3; k++) picture.data[(y * 32 + x) * 3 + k] = Math.min(255, rgb[k]);
      grey.data[y * 32 + x] = (rgb[0] + rgb[1] + rgb[2]) / 3;
    }
  }
  for (let y = 1; y < 31; y++) {
    for (let x = 0; x < 32; x++) edges.data[y * 32 + x] = grey.data[(y + 1) * 32 + x] - grey.data[(y - 1) * 32 + x];
  }
  const experiments = `${dir}/experiments.html`;
  await writeReport(experiments, {
    title: "Experiments",
    description: "Weight initialization, batch size, dropout, gradient checks and filters.",
    generatedAt: "2025-01-01 12:00 UTC",
    sections: [
      {
        heading: "Weight initialization",
        spec: weightScaleSpec(scales.flatMap((s, i) => [
          { group: "baseline", weightScale: s, records: i % 2 ? baseline : stopped },
          { group: HOSTILE, weightScale: s, records: batchnorm },
        ])),
      },
      {
        heading: "Batch size",
        spec: accuracyPanelsSpec([{ label: "batch 50", records: baseline }, { label: "batch 5", records: batchnorm }]),
      },
      {
        heading: "Dropout",
        spec: dropoutSpec([{ dropout: 0, records: baseline }, { dropout: 0.25, records: batchnorm }]),
      },
      gradientCheckSection([
        { layer: "affine", gradient: "dx", relError: 3.2e-10, threshold: 1e-7, pass: true },
        { layer: "affine", gradient: "dw", relError: 0, threshold: 1e-7, pass: true },
        { layer: HOSTILE, gradient: "dbeta", relError: 2e-5, threshold: 1e-7, pass: false },
      ]),
      await filterGridSection(filters, { text: `Filters of a network labelled ${HOSTILE}.` }),
      await imagesSection(
        "Convolution aside",
        [
          { image: picture, caption: "Input" },
          { image: grey, caption: "Grayscale", normalize: true },
          { image: edges, caption: `Edges ${HOSTILE}`, normalize: true },
          { image: picture, caption: "Input (2)", layout: "HWC" },
          { image: grey, caption: "Grayscale (2)", normalize: true },
          { image: edges, caption: "Edges (2)", normalize: true },
        ],
        { columns: 3, width: 128 },
      ),
    ],
  });
  return { training, experiments };
}

// What the page shows, read in the page.
const INSPECT = `(() => {
  const figs = [...document.querySelectorAll("figure.chart")];
  return {
    charts: figs.map((f) => ({
      id: f.id,
      interactive: f.classList.contains("is-interactive"),
      failed: f.classList.contains("has-error"),
      liveMarks: f.querySelectorAll(".chart-live svg g.role-mark > *").length,
      staticMarks: f.querySelectorAll(".chart-static svg g.role-mark > *").length,
      legendText: [...f.querySelectorAll("svg .role-legend text")].map((t) => t.textContent).join("|"),
    })),
    images: [...document.querySelectorAll("img")].map((i) => ({ data: i.src.startsWith("data:image/png;base64,"), width: i.naturalWidth })),
    title: document.title,
    text: document.body.innerText,
    scripts: document.scripts.length,
  };
})()`;

interface Inspection {
  charts: {
    id: string;
    interactive: boolean;
    failed: boolean;
    liveMarks: number;
    staticMarks: number;
    legendText: string;
  }[];
  images: { data: boolean; width: number }[];
  title: string;
  text: string;
  scripts: number;
}

/**
 * Moves the mouse onto each mark (matching `selector`) whose aria-label
 * holds the hostile label, last first, until a tooltip shows that label.
 * Every tooltip shown must hold no element; returns whether one showed it.
 */
async function hoverTooltips(page: Page, selector: string): Promise<boolean> {
  const boxes = await page.eval<{ x: number; y: number }[]>(`(() => {
    const els = [...document.querySelectorAll(${JSON.stringify(selector)})]
      .filter((p) => (p.getAttribute("aria-label") || "").includes("onerror")).reverse();
    return els.map((el) => {
      el.scrollIntoView({ block: "center" });
      const r = el.getBoundingClientRect();
      return { x: r.x + r.width / 2, y: r.y + r.height / 2, top: window.scrollY };
    }).slice(0, 6);
  })()`);
  assertGreater(boxes.length, 0, "no mark of the hostile label found");
  for (const box of boxes) {
    // Scroll back to where the box was measured (the last one measured sets the scroll).
    await page.eval(`window.scrollTo(0, ${(box as { top?: number }).top ?? 0})`);
    await page.send("Input.dispatchMouseEvent", { type: "mouseMoved", x: 1, y: 1 });
    await page.send("Input.dispatchMouseEvent", { type: "mouseMoved", x: box.x, y: box.y });
    const tip = await page.eval<{ visible: boolean; text: string; elements: number }>(`new Promise((resolve) => {
      const t0 = performance.now();
      (function poll() {
        const el = document.getElementById("vg-tooltip-element");
        const visible = !!el && el.classList.contains("visible");
        if (visible || performance.now() - t0 > 1500) {
          resolve({ visible, text: el ? el.textContent : "", elements: el ? el.querySelectorAll("img, script, iframe, svg").length : 0 });
        } else setTimeout(poll, 25);
      })();
    })`);
    assertEquals(tip.elements, 0, "a tooltip made an element from its text");
    if (tip.visible && tip.text.includes(HOSTILE)) return true;
  }
  return false;
}

const SHOTS = new URL("../out/screenshots/", import.meta.url).pathname;

Deno.test({
  name: "reports render in headless Chromium: charts drawn, no errors, no network, hostile labels stay text",
  ignore: chromium === undefined || !net,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const t0 = performance.now();
    const dir = await Deno.makeTempDir({ prefix: "gradstream-reports-" });
    const browser = await Browser.launch(chromium!);
    try {
      const files = await buildReports(dir);
      const tBuilt = performance.now();
      const page = await Page.open(browser, { offline: true });

      for (const [name, path] of Object.entries(files)) {
        await t.step(`${name}.html: every chart interactive with marks, tooltips escape, offline`, async () => {
          await page.goto(`file://${path}`);
          await page.eval("window.gradstream.ready.then(() => true)");
          const seen = await page.eval<Inspection>(INSPECT);
          assertGreater(seen.charts.length, 1);
          for (const c of seen.charts) {
            assert(c.interactive && !c.failed, `${c.id} was not drawn by vega-embed`);
            assertGreater(c.liveMarks, 0, `${c.id} has no marks`);
            assertEquals(c.staticMarks, 0, `${c.id} still shows its static SVG`);
          }
          for (const img of seen.images) assert(img.data && img.width > 0, "an image did not decode");
          assertStringIncludes(seen.text, HOSTILE);
          assertEquals(seen.scripts, 5, "a script element was injected");
          if (name === "training") {
            assertStringIncludes(seen.title, HOSTILE);
            assertStringIncludes(seen.charts[0].legendText, "<img src=x onerror");
            assertEquals(await hoverTooltips(page, "#chart-1 .chart-live g.mark-symbol.role-mark path"), true);
          } else {
            assertEquals(await hoverTooltips(page, ".chart-live g.mark-symbol.role-mark path"), true);
          }
          assertEquals(await page.eval<number>(`document.querySelectorAll('img:not([src^="data:"])').length`), 0);
          assertEquals(page.dialogs, [], "a dialog opened");
          assertEquals(page.errors, [], "console errors");
          assertEquals(await page.eval<number>("document.querySelectorAll('img[src=\"x\"]').length"), 0);
          const outside = page.requests.filter((u) => !u.startsWith("file://") && !u.startsWith("data:"));
          assertEquals(outside, [], "the page made network requests");
          await page.send("Input.dispatchMouseEvent", { type: "mouseMoved", x: 1, y: 1 });
          await page.eval("window.scrollTo(0, 0)");
          await page.screenshot(`${SHOTS}${name}.png`);
          // How it prints (charts stay, menus and navigation go).
          await page.send("Emulation.setEmulatedMedia", { media: "print" });
          assertEquals(await page.eval<string>(`getComputedStyle(document.querySelector("nav.toc")).display`), "none");
          await page.screenshot(`${SHOTS}${name}-print.png`);
          await page.send("Emulation.setEmulatedMedia", { media: "" });
        });
      }

      await t.step("without JavaScript the static SVG charts show, and labels stay text", async () => {
        await page.send("Emulation.setScriptExecutionDisabled", { value: true });
        for (const [name, path] of Object.entries(files)) {
          await page.goto(`file://${path}`);
          const seen = await page.eval<Inspection>(INSPECT);
          for (const c of seen.charts) {
            assert(!c.interactive, `${c.id} ran with JavaScript off`);
            assertGreater(c.staticMarks, 0, `${c.id} static SVG has no marks`);
          }
          assertStringIncludes(seen.text, HOSTILE);
          assertEquals(await page.eval<number>(`document.querySelectorAll('img:not([src^="data:"])').length`), 0);
          assertEquals(page.dialogs, []);
          assertEquals(page.errors, []);
          await page.screenshot(`${SHOTS}${name}-nojs.png`);
        }
        await page.send("Emulation.setScriptExecutionDisabled", { value: false });
      });
      page.close();

      await t.step("a live page grows with the records serveRun streams over loopback", async () => {
        const records = await fixture("baseline");
        const liveDir = await Deno.makeTempDir({ dir, prefix: "live-" });
        const label = `live ${HOSTILE}`;
        await writeReport(
          `${liveDir}/report.html`,
          trainingReport({
            title: "Live run",
            runs: [{ label, records: [] }],
            live: { runLabel: label, maxPoints: 25 },
            generatedAt: "now",
          }),
        );
        let sent = 0;
        const stream = new ReadableStream<TrainRecord>({
          async pull(controller) {
            if (sent === records.length) return controller.close();
            // A few records at a time, so the page sees the run grow.
            for (const end = Math.min(records.length, sent + 8); sent < end;) controller.enqueue(records[sent++]);
            await new Promise((r) => setTimeout(r, 15));
          },
        });
        const server = await serveRun(liveDir, stream, { batchMs: 20 });
        const live = await Page.open(browser, { offline: false });
        try {
          await live.goto(server.url);
          assert(
            await live.eval<boolean>("!!window.gradstream"),
            `the live page did not load: ${live.errors.join("; ")}`,
          );
          await live.eval(`new Promise((resolve) => {
            const t0 = performance.now();
            (function poll() {
              if (document.documentElement.getAttribute("data-live") === "done" || performance.now() - t0 > 10000) resolve(true);
              else setTimeout(poll, 50);
            })();
          })`);
          const got = await live.eval<{ loss: unknown[]; accuracy: unknown[]; status: string; done: string | null }>(
            `(async () => {
            await window.gradstream.ready;
            const v = window.gradstream.views;
            return { loss: v["chart-0"].data("loss").map(({ run, iteration, epoch, loss, smoothed }) => ({ run, iteration, epoch, loss, smoothed })),
              accuracy: v["chart-1"].data("accuracy").map(({ run, epoch, iteration, split, accuracy }) => ({ run, epoch, iteration, split, accuracy })),
              status: document.getElementById("gs-live-status").textContent,
              done: document.documentElement.getAttribute("data-live") };
          })()`,
          );
          assertEquals(got.done, "done", "the page never saw the end of the stream");
          assertEquals(
            got.loss,
            lossRows({ label, records }, { maxPoints: 25 }),
            "live loss rows differ from the static report's",
          );
          assertEquals(got.accuracy.length, 2 * records.filter((r) => r.kind === "epoch").length);
          assertStringIncludes(got.status, "Finished");
          const marks = await live.eval<number>(
            `document.querySelectorAll("#chart-0 .chart-live svg g.role-mark > *").length`,
          );
          assertEquals(marks, got.loss.length + 1, "one point per row and the smoothed line");
          assertEquals(live.errors, []);
          assertEquals(live.dialogs, []);
          assertEquals(live.requests.filter((u) => !u.startsWith(server.url) && !u.startsWith("data:")), []);
          await live.screenshot(`${SHOTS}live.png`);
        } finally {
          live.close();
          await server.shutdown();
        }
      });
      console.log(
        `report_browser_test: built reports in ${(tBuilt - t0).toFixed(0)} ms, all checks in ${
          (performance.now() - t0).toFixed(0)
        } ms; ` +
          `screenshots in ${SHOTS}`,
      );
    } finally {
      await browser.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("renderReport output has no external URL a browser would fetch", async () => {
  const html = (await renderReport({ title: "t", sections: [] })).replace(
    /<script>[^]*?<\/script>/g,
    "<script></script>",
  );
  for (const m of html.matchAll(/\b(?:src|href)\s*=\s*["']?([^"'\s>]+)/gi)) {
    assert(m[1].startsWith("#") || m[1].startsWith("data:"), `external reference ${m[1]}`);
  }
  assertStringIncludes(html, "default-src 'none'");
});
