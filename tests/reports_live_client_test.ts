import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import type { TrainRecord } from "../pipeline/store/records.ts";
import { chartLabel } from "../reports/chart_label.ts";
import { followRun, type LiveConfig, type LiveEvents, type LivePage } from "../reports/live_client.ts";
import { renderReport } from "../reports/render.ts";
import { accuracyRows, lossRows } from "../reports/run_data.ts";
import { trainingReport } from "../reports/run_report.ts";
import { readRunFixture } from "./helpers.ts";

const baseline = await readRunFixture("baseline");
const stopped = await readRunFixture("stopped");

/** A page of stand-ins: the rows each chart received, the status line, and an event stream the test drives. */
function standInPage(config: LiveConfig) {
  const inserted: Record<string, object[]> = { loss: [], accuracy: [] };
  const status = {
    hidden: true,
    textContent: "" as string | null,
    state: "",
    setAttribute: (_: string, v: string) => {
      status.state = v;
    },
  };
  const timers: (() => void)[] = [];
  let source: LiveEvents | undefined;
  const view = (name: string) => ({
    change: (dataset: string, rows: unknown) => {
      assertEquals(dataset, name);
      inserted[name].push(...(rows as object[]));
    },
    resize: () => {},
    runAsync: () => {},
  });
  const page = {
    config,
    charts: [{ id: "chart-0", live: "loss" }, { id: "chart-1", live: "accuracy" }],
    views: { "chart-0": view("loss"), "chart-1": view("accuracy") },
    ready: Promise.resolve(),
    status,
    insert: (rows: object[]) => rows,
    connect: (url: string) => {
      assertEquals(url, config.eventsUrl ?? "events");
      source = {
        onmessage: null,
        onerror: null,
        listeners: {} as Record<string, () => void>,
        addEventListener(type, f) {
          (this as unknown as { listeners: Record<string, () => void> }).listeners[type] = f;
        },
        close() {},
      } as LiveEvents;
      return source;
    },
    later: (f: () => void) => timers.push(f),
    done: false,
    markDone: () => (page.done = true),
  };
  /** Streams the records in batches of `batch`, then the end of the stream, and lets every timer and promise run. */
  async function stream(records: readonly (TrainRecord & { label?: string })[], batch = 17) {
    for (let i = 0; i < records.length; i += batch) {
      source!.onmessage!({ data: JSON.stringify(records.slice(i, i + batch)) });
      while (timers.length) timers.shift()!();
      await new Promise((r) => setTimeout(r, 0));
    }
    (source as unknown as { listeners: Record<string, () => void> }).listeners.done();
    while (timers.length) timers.shift()!();
    await new Promise((r) => setTimeout(r, 0));
  }
  return { page: page as LivePage & { done: boolean }, inserted, status, stream };
}

/** The accuracy rows the report's chart shows (split in words). */
function accuracyChartRows(label: string, records: readonly TrainRecord[]) {
  return accuracyRows({ label, records }).map((r) => ({
    ...r,
    split: r.split === "train" ? "training" : "validation",
  }));
}

const sortKeys = (rows: object[]) => rows.map((r) => Object.fromEntries(Object.entries(r).sort()));

Deno.test("followRun appends exactly the loss and accuracy rows the final report shows, thinned and smoothed alike", async () => {
  const { page, inserted, status, stream } = standInPage({ runLabel: "baseline", maxPoints: 10 });
  followRun(page);
  assertEquals([status.hidden, status.state], [false, "waiting"]);
  await stream(baseline);
  assertEquals(
    sortKeys(inserted.loss),
    sortKeys(lossRows({ label: "baseline", records: baseline }, { maxPoints: 10 })),
  );
  assertEquals(sortKeys(inserted.accuracy), sortKeys(accuracyChartRows("baseline", baseline)));
  assertEquals(status.state, "finished");
  assertStringIncludes(status.textContent!, "Finished: 120 iterations, best validation accuracy");
  assert(page.done, "page not marked done");
});

Deno.test("followRun skips non-finite losses as lossRows does and says where a run stopped", async () => {
  const { page, inserted, status, stream } = standInPage({ runLabel: "stopped" });
  followRun(page);
  await stream(stopped, 5);
  assertEquals(sortKeys(inserted.loss), sortKeys(lossRows({ label: "stopped", records: stopped })));
  assertEquals(status.state, "stopped");
});

Deno.test("followRun draws records of other runs under their own chart labels, shortened as the specs shorten them", async () => {
  const long = "run\u2028" + "q".repeat(300);
  const { page, inserted, status, stream } = standInPage({ runLabel: "first" });
  followRun(page);
  await stream(baseline.map((r) => ({ ...r, label: long })));
  assertEquals(new Set(inserted.loss.map((r) => (r as { run: string }).run)), new Set([chartLabel(long)]));
  assertStringIncludes(status.textContent!, `${long} finished (1 of 1 runs so far)`);
});

/** Runs the scripts of a rendered page with stand-ins for the browser, served over http. */
function runLivePage(html: string, protocol: string) {
  const scripts = [...html.matchAll(/<script>([^]*?)<\/script>/g)].map((m) => m[1]);
  const live = scripts.at(-1)!;
  const payload = JSON.parse(html.match(/id="gs-data">([^]*?)<\/script>/)![1]);
  const { page, inserted, stream } = standInPage(payload.live);
  let connected = false;
  const window = { gradstream: { payload, views: page.views, ready: page.ready } };
  const document = {
    getElementById: (id: string) => (assertEquals(id, "gs-live-status"), page.status),
    documentElement: {
      setAttribute: (k: string, v: string) => (assertEquals([k, v], ["data-live", "done"]), page.markDone()),
    },
  };
  const vega = { changeset: () => ({ insert: (rows: object[]) => rows }) };
  class EventSource {
    constructor(url: string) {
      connected = true;
      return page.connect(url) as unknown as EventSource;
    }
  }
  // deno-lint-ignore no-explicit-any
  const setTimeout = (f: () => void, ms: number) => page.later(f, ms) as any;
  new Function("window", "document", "location", "vega", "EventSource", "setTimeout", live)(
    window,
    document,
    { protocol },
    vega,
    EventSource,
    setTimeout,
  );
  return { connected, inserted, page, stream };
}

Deno.test("the live page's inlined script is the live client: run as the page runs it, it draws the report's rows", async () => {
  const html = await renderReport(
    trainingReport({ title: "live", runs: [{ label: "baseline", records: [] }], live: { runLabel: "baseline" } }),
  );
  const { connected, inserted, page, stream } = runLivePage(html, "http:");
  assert(connected, "the script did not connect");
  await stream(baseline);
  assertEquals(sortKeys(inserted.loss), sortKeys(lossRows({ label: "baseline", records: baseline })));
  assert(page.done);
});

Deno.test("the live page's script does nothing when the page is opened from a file", async () => {
  const html = await renderReport(
    trainingReport({ title: "live", runs: [{ label: "baseline", records: [] }], live: { runLabel: "baseline" } }),
  );
  const { connected } = runLivePage(html, "file:");
  assertEquals(connected, false);
});
