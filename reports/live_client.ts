/**
 * The live page's client: appends the records a `serveRun` server streams
 * (Server-Sent Events) to the charts of a report page, and keeps a status
 * line. The loss rows follow `lossRows` exactly, because both use the same
 * functions (`loss_smoothing.ts`), and run labels become chart labels as the
 * specs make them (`chartLabel`).
 *
 * The page cannot load modules (it is one offline file whose scripts are
 * pinned by hash), so {@link liveScript} inlines the compiled source of
 * {@link followRun} and of the functions it calls, as Deno compiled them,
 * into one script. Those functions therefore use nothing outside their own
 * bodies but each other; a test runs the inlined script.
 *
 * Browser objects are described by the few members used ({@link LivePage}),
 * so this module type-checks without the DOM library and runs under test with
 * stand-ins.
 *
 * @module
 */

import { chartLabel } from "./chart_label.ts";
import { formatPercent } from "./format.ts";
import { addToAverage, defaultSmoothingSpan, keepsLossStep, lossStride, movingAverage } from "./loss_smoothing.ts";
import { checkEpoch } from "./run_data.ts";

/** What a live page listens to (the report's `live` options, as the page's JSON carries them). */
export interface LiveConfig {
  /** The label the charts use for records that carry none. */
  runLabel: string;
  /** Server-Sent Events URL, relative to the page. Default `"events"`. */
  eventsUrl?: string;
  /** As `lossRows`' `maxPoints`. Default 1000. */
  maxPoints?: number;
  /** As `lossRows`' `smoothingSpan`. Default from the run's planned steps. */
  smoothingSpan?: number;
}

/** The part of a vega `View` the client uses. */
export interface LiveView {
  /** Applies a changeset to a named dataset. */
  change(name: string, changes: unknown): unknown;
  /** Recomputes the layout (axes and titles need room once data arrives). */
  resize(): unknown;
  /** Runs the dataflow. */
  runAsync(): unknown;
}

/** The part of an `EventSource` the client uses. */
export interface LiveEvents {
  /** Called with each unnamed message (`data`: a JSON array of records). */
  onmessage: ((event: { data: string }) => void) | null;
  /** Called when the connection fails (the browser retries). */
  onerror: ((event: unknown) => void) | null;
  /** Listens to named events (`"done"`: the run's log is complete). */
  addEventListener(type: string, listener: () => void): void;
  /** Stops listening. */
  close(): void;
}

/** Everything {@link followRun} touches on the page: the browser objects, or stand-ins in a test. */
export interface LivePage {
  /** The report's live options. */
  config: LiveConfig;
  /** The page's charts, each with the dataset it grows (`loss` or `accuracy`), if any. */
  charts: readonly { id: string; live?: string }[];
  /** The vega view of each chart drawn so far, by chart id. */
  views: Readonly<Record<string, LiveView>>;
  /** Settles once every chart is drawn (or failed). */
  ready: Promise<unknown>;
  /** The status line. */
  status: { hidden: boolean; textContent: string | null; setAttribute(name: string, value: string): void };
  /** A vega changeset inserting these rows (`vega.changeset().insert(rows)`). */
  insert(rows: object[]): unknown;
  /** Opens the event stream (`new EventSource(url)`). */
  connect(url: string): LiveEvents;
  /** `setTimeout`. */
  later(callback: () => void, ms: number): unknown;
  /** Marks the page as complete (`data-live="done"` on the root element), when the stream has ended. */
  markDone(): void;
}

/** A record as it arrives: a run-log record (`pipeline/store/records.ts`), possibly with its run's label. */
type LiveRecord = Record<string, unknown> & { kind?: string; label?: unknown };

/**
 * Follows a run on a live page: reads the records `page.connect` streams,
 * appends loss and accuracy rows to the charts that grow with them (batched,
 * at most every 120 ms), and keeps the status line current. Records may carry
 * their run's label (several runs on one page); others belong to
 * `config.runLabel`.
 */
export function followRun(page: LivePage): void {
  const cfg = page.config;
  const say = (text: string, state: string) => {
    page.status.textContent = text;
    page.status.setAttribute("data-state", state);
  };
  page.status.hidden = false;
  say("Live: waiting for the run…", "waiting");
  let queue: LiveRecord[] = [];
  let done = false;
  let scheduled = false;
  let finished = 0;
  const states: Record<string, {
    stride: number;
    average: ReturnType<typeof movingAverage>;
    planned: number;
    perEpoch: number;
    started: boolean;
    iteration: number;
    loss: number;
    valAcc: number;
  }> = {};
  const rows: Record<string, object[]> = { loss: [], accuracy: [] };
  const num = (v: unknown) => (typeof v === "number" ? v : NaN);

  function onRecord(r: LiveRecord) {
    const label = typeof r.label === "string" ? r.label : cfg.runLabel;
    const run = chartLabel(label);
    const st = states[label] ??= {
      stride: 1,
      average: movingAverage(1),
      planned: 0,
      perEpoch: 0,
      started: false,
      iteration: 0,
      loss: NaN,
      valAcc: NaN,
    };
    const many = label !== cfg.runLabel || Object.keys(states).length > 1;
    if (r.kind === "start") {
      if (st.started) return;
      st.started = true;
      st.planned = num(r.numIterations);
      st.perEpoch = num(r.iterationsPerEpoch);
      st.stride = lossStride(st.planned, cfg.maxPoints || 1000);
      st.average = movingAverage(cfg.smoothingSpan || defaultSmoothingSpan(st.planned));
      return;
    }
    if (r.kind === "iteration") {
      const iteration = num(r.iteration);
      const loss = num(r.loss);
      st.iteration = iteration;
      if (!Number.isFinite(loss)) return;
      st.loss = loss;
      const smoothed = addToAverage(st.average, loss);
      if (keepsLossStep(iteration, st.stride, st.planned)) {
        rows.loss.push({ run, iteration, epoch: r.epoch, loss, smoothed });
      }
    } else if (r.kind === "epoch") {
      // A check of --check-every sits between the epoch ends, as the report draws it.
      const epoch = checkEpoch(num(r.epoch), num(r.iteration), r.epochEnd === true, st.perEpoch);
      const base = { run, epoch, iteration: r.iteration };
      const trainAcc = num(r.trainAcc);
      st.valAcc = num(r.valAcc);
      if (Number.isFinite(trainAcc)) rows.accuracy.push({ split: "training", accuracy: trainAcc, ...base });
      if (Number.isFinite(st.valAcc)) rows.accuracy.push({ split: "validation", accuracy: st.valAcc, ...base });
    } else if (r.kind === "end") {
      finished++;
      const runs = Object.keys(states).length;
      say(
        (many ? `${label} finished (${finished} of ${runs} runs so far): ` : "Finished: ") +
          `${r.iteration} iterations, best validation accuracy ${formatPercent(num(r.bestValAcc)) ?? "n/a"}`,
        "finished",
      );
      return;
    } else if (r.kind === "stopped") {
      say(`${many ? `${label} stopped` : "Stopped"} at iteration ${r.iteration}: ${r.message}`, "stopped");
      return;
    } else {
      return;
    }
    let text = `Live: ${many ? `${label}, ` : ""}iteration ${st.iteration}${st.planned ? ` of ${st.planned}` : ""}`;
    if (Number.isFinite(st.loss)) text += ` · loss ${st.loss.toFixed(4)}`;
    if (Number.isFinite(st.valAcc)) text += ` · validation accuracy ${formatPercent(st.valAcc)}`;
    say(text, "running");
  }

  function flush() {
    scheduled = false;
    page.ready.then(() => {
      const batch = queue;
      queue = [];
      batch.forEach(onRecord);
      for (const chart of page.charts) {
        const view = page.views[chart.id];
        const add = chart.live === undefined ? undefined : rows[chart.live];
        if (!view || !add || add.length === 0) continue;
        view.change(chart.live!, page.insert(add.slice()));
        // The layout was computed for the empty chart; axes and titles need room now.
        view.resize();
        view.runAsync();
      }
      rows.loss = [];
      rows.accuracy = [];
      if (done && queue.length === 0) page.markDone();
    });
  }
  function schedule() {
    if (!scheduled) {
      scheduled = true;
      page.later(flush, 120);
    }
  }
  const source = page.connect(cfg.eventsUrl || "events");
  source.onmessage = (e) => {
    for (const record of JSON.parse(e.data) as LiveRecord[]) queue.push(record);
    schedule();
  };
  source.addEventListener("done", () => {
    done = true;
    source.close();
    schedule();
  });
  source.onerror = () => {
    if (!done) say("Live: connection lost, retrying…", "error");
  };
}

/** The functions the live script inlines, {@link followRun} and everything it calls. */
const INLINED = [
  chartLabel,
  formatPercent,
  lossStride,
  keepsLossStep,
  defaultSmoothingSpan,
  movingAverage,
  addToAverage,
  checkEpoch,
  followRun,
];

/**
 * The live page's script: the compiled source of {@link followRun} and the
 * functions it calls, and the few lines that hand it the browser's objects
 * (`window.gradstream`, the status element, `vega.changeset`, `EventSource`).
 * It does nothing on a page opened from a file or without live options. No
 * user data is in this text (it comes from the page's JSON block), so its
 * hash is stable and the page's CSP can pin it.
 */
export function liveScript(): string {
  return `"use strict";
(function () {
${INLINED.map(String).join("\n")}
var gs = window.gradstream;
if (!gs.payload.live || !/^https?:$/.test(location.protocol)) return;
followRun({
  config: gs.payload.live,
  charts: gs.payload.charts,
  views: gs.views,
  ready: gs.ready,
  status: document.getElementById("gs-live-status"),
  insert: function (rows) { return vega.changeset().insert(rows); },
  connect: function (url) { return new EventSource(url); },
  later: function (callback, ms) { return setTimeout(callback, ms); },
  markDone: function () { document.documentElement.setAttribute("data-live", "done"); },
});
})();
`;
}
