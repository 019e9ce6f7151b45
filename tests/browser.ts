/**
 * A small headless-Chromium client for the browser tests: Debian's
 * `chromium` driven over the DevTools protocol on a WebSocket (no puppeteer
 * download), with no name resolving but loopback, every call bounded by a
 * timeout (nothing here may hang the suite), and tabs that record console
 * errors, exceptions, dialogs and requests.
 *
 * ```ts ignore
 * const skip = await browserSkipReason();
 * const browser = await Browser.launch(findChromium()!);
 * const page = await Page.open(browser, { offline: true });
 * await page.goto(`file://${path}`);
 * const title = await page.eval<string>("document.title");
 * page.close();
 * await browser.close();
 * ```
 *
 * @module
 */

/** Width and height of every tab's viewport, in CSS pixels. */
export const VIEWPORT = { width: 1280, height: 900 };

/**
 * Chromium's path: `$CHROMIUM`, else Debian's `/usr/bin/chromium` or
 * `/usr/bin/chromium-browser`; undefined when none exists.
 */
export function findChromium(): string | undefined {
  for (const c of [Deno.env.get("CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"]) {
    if (!c) continue;
    try {
      if (Deno.statSync(c).isFile) return c;
    } catch { /* not here */ }
  }
  return undefined;
}

/**
 * Why a browser test cannot run here, or undefined when it can: Chromium must
 * be installed, and the test may start it (`--allow-run`) and reach its
 * DevTools port (`--allow-net=127.0.0.1`).
 */
export async function browserSkipReason(): Promise<string | undefined> {
  if (findChromium() === undefined) return "Chromium is not installed (apt-get install -y chromium)";
  const run = (await Deno.permissions.query({ name: "run" })).state === "granted";
  // DevTools (and a live server, where a test has one) talk over loopback.
  const net = (await Deno.permissions.query({ name: "net", host: "127.0.0.1" })).state === "granted";
  if (!run || !net) return "it needs --allow-run and --allow-net=127.0.0.1 to drive Chromium";
  return undefined;
}

/**
 * A test that drives headless Chromium, ignored when `skip` (from `browserSkipReason`) says why it cannot run.
 * `fn` gets the test context, a launched browser and a fresh temporary folder (named `prefix…`); the browser
 * is closed and the folder removed afterwards. The resource and op sanitizers are off: the browser's pipes
 * and timers outlive the steps that use them.
 */
export function browserTest(
  name: string,
  skip: string | undefined,
  prefix: string,
  fn: (t: Deno.TestContext, browser: Browser, dir: string) => Promise<void>,
): void {
  Deno.test({
    name,
    ignore: skip !== undefined,
    sanitizeResources: false,
    sanitizeOps: false,
    async fn(t) {
      const dir = await Deno.makeTempDir({ prefix });
      const browser = await Browser.launch(findChromium()!);
      try {
        await fn(t, browser, dir);
      } finally {
        await browser.close();
        await Deno.remove(dir, { recursive: true });
      }
    },
  });
}

/** A DevTools event; `sessionId` names the tab it comes from. */
export interface CdpEvent {
  method: string;
  params: Record<string, unknown>;
  sessionId?: string;
}

const CALL_TIMEOUT_MS = 20_000;

/** A headless Chromium process and its DevTools connection. */
export class Browser {
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

  /** Starts Chromium at `path` with a fresh profile and connects to it (15 s to start listening). */
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

  /** Calls a DevTools method (in the tab `sessionId`, or on the browser); rejects after 20 s without an answer. */
  send<T = Record<string, unknown>>(
    method: string,
    params: Record<string, unknown> = {},
    sessionId?: string,
  ): Promise<T> {
    const id = this.#next++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`${method}: no answer in ${CALL_TIMEOUT_MS / 1000} s`));
      }, CALL_TIMEOUT_MS);
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

  /** Calls `listener` with every event; returns the function that stops it. */
  on(listener: (e: CdpEvent) => void): () => void {
    this.#listeners.push(listener);
    return () => (this.#listeners = this.#listeners.filter((l) => l !== listener));
  }

  /** The next event `method` of tab `sessionId`; rejects after `timeoutMs`. */
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

  /** Closes Chromium (killing it when it does not exit within seconds) and removes its profile. */
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

/**
 * A tab with everything a check needs recorded since the last {@link Page.goto}:
 * console errors and exceptions, dialogs (each dismissed), requests.
 */
export class Page {
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
        const text = (p.args as { value?: unknown; description?: string }[]).map((a) => a.value ?? a.description)
          .join(" ");
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

  /**
   * Opens a blank tab of {@link VIEWPORT}'s size, in front (a tab behind gets
   * no animation frames), with the network cut off when `offline`.
   */
  static async open(browser: Browser, { offline }: { offline: boolean }): Promise<Page> {
    const { targetId } = await browser.send<{ targetId: string }>("Target.createTarget", { url: "about:blank" });
    const { sessionId } = await browser.send<{ sessionId: string }>("Target.attachToTarget", {
      targetId,
      flatten: true,
    });
    const page = new Page(browser, sessionId);
    for (const domain of ["Page", "Runtime", "Log", "Network"]) await page.send(`${domain}.enable`);
    await page.send("Emulation.setDeviceMetricsOverride", { ...VIEWPORT, deviceScaleFactor: 1, mobile: false });
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

  /** Calls a DevTools method in this tab. */
  send<T = Record<string, unknown>>(method: string, params: Record<string, unknown> = {}): Promise<T> {
    return this.browser.send<T>(method, params, this.session);
  }

  /** Clears what was recorded, loads `url` and waits for its load event (15 s at most). */
  async goto(url: string): Promise<void> {
    this.errors = [];
    this.dialogs = [];
    this.requests = [];
    const loaded = this.browser.waitFor("Page.loadEventFired", this.session, 15_000)
      .catch(() => Promise.reject(new Error(`${url} did not load in 15 s`)));
    loaded.catch(() => {});
    await this.send("Page.navigate", { url });
    await loaded;
  }

  /** Evaluates `expression` in the page (awaiting a promise) and returns its value; an exception in it throws here. */
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

  /** Writes a PNG of the whole page (viewport width, full height) to `path`, creating its directory. */
  async screenshot(path: string): Promise<void> {
    const m = await this.send<{ cssContentSize: { width: number; height: number } }>("Page.getLayoutMetrics");
    const { data } = await this.send<{ data: string }>("Page.captureScreenshot", {
      format: "png",
      captureBeyondViewport: true,
      clip: { x: 0, y: 0, width: VIEWPORT.width, height: Math.ceil(m.cssContentSize.height), scale: 1 },
    });
    await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
    await Deno.writeFile(path, Uint8Array.from(atob(data), (c) => c.charCodeAt(0)));
  }

  /** Stops recording (the tab itself goes with the browser). */
  close(): void {
    this.#off();
  }
}
