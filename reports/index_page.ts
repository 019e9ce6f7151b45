/**
 * `out/index.html`: one page linking every report under an output folder,
 * with each run's and each experiment's key numbers (status, iterations,
 * best validation accuracy, final training accuracy, training time). The
 * commands rewrite it after every run and experiment.
 *
 * A plain page: no charts, no scripts (a Content-Security-Policy forbids
 * them), nothing fetched; every piece of user text is escaped and every link
 * is a relative path inside the folder.
 *
 * @module
 */

import { escapeHtml, formatDuration, formatPercent } from "./mod.ts";
import { pageHead } from "./html.ts";

/** Where a run stands: training now, done, stopped by a non-finite loss, or ended without finishing. */
export type IndexRunStatus = "running" | "finished" | "stopped" | "interrupted";

/** One run as the index shows it. */
export interface IndexRun {
  /** The run's folder relative to the index's folder (`fc-sample-1a2b3c4d`, `convnet-sample-…/runs/…`). */
  name: string;
  /** The command that made it, short (`train`, `experiment convnet`). */
  command: string;
  /** The model, in words (`fc 100x5 batchnorm`). */
  model: string;
  /** The dataset, in words. */
  dataset: string;
  /** Where the run stands. */
  status: IndexRunStatus;
  /** Steps taken. */
  iterations: number;
  /** Steps planned. */
  planned?: number;
  /** Best validation accuracy, a fraction. */
  bestValAcc?: number;
  /** Training accuracy of the last check, a fraction. */
  finalTrainAcc?: number;
  /** Training time in ms (summed over resumed segments). */
  trainingMs?: number;
  /** When it started, ISO 8601. */
  started?: string;
  /** Its report relative to the index's folder, when there is one. */
  report?: string;
  /** The experiment folder it belongs to, relative to the index's folder. */
  experiment?: string;
}

/** One experiment folder as the index shows it. */
export interface IndexExperiment {
  /** The folder relative to the index's folder. */
  name: string;
  /** The experiment (`convnet`, `weight-scale`, …). */
  experiment: string;
  /** `finished` when its summary is written, else whether a process writes it now. */
  status: IndexRunStatus;
  /** Its runs. */
  runs: number;
  /** Its runs that finished. */
  finishedRuns: number;
  /** Its report relative to the index's folder, when there is one. */
  report?: string;
  /** Key numbers from its summary, in order. */
  keyNumbers?: Record<string, number | string | boolean | null>;
  /** Wall time of the whole experiment, ms. */
  wallMs?: number;
}

/** What the index page shows. */
export interface IndexPageInput {
  /** The folder, as the page's heading names it. */
  root: string;
  /** Every run, in the order to show. */
  runs: readonly IndexRun[];
  /** Every experiment folder, in the order to show. */
  experiments: readonly IndexExperiment[];
  /** When the page was made. Default now. */
  generatedAt?: Date | string;
}

/** A relative link inside the folder: each path segment percent-encoded, no `..`, no scheme. */
function href(path: string): string {
  const segments = path.split("/").filter((s) => s !== "" && s !== "." && s !== "..");
  return segments.map(encodeURIComponent).join("/");
}

function link(text: string, path: string | undefined): string {
  return path === undefined ? escapeHtml(text) : `<a href="${escapeHtml(href(path))}">${escapeHtml(text)}</a>`;
}

function status(s: IndexRunStatus): string {
  return `<span class="status ${s}">${s}</span>`;
}

function keyNumberText(v: number | string | boolean | null): string {
  if (typeof v === "number") return Number.isInteger(v) ? v.toLocaleString("en-US") : String(Number(v.toPrecision(4)));
  return String(v);
}

const CSS = `
body { margin: 0; font: 14px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "Liberation Sans", sans-serif; color: #1f2328; }
.page { max-width: 1200px; margin: 0 auto; padding: 36px 28px 60px; }
h1 { font-size: 26px; margin: 0 0 4px; } h2 { font-size: 18px; margin: 34px 0 8px; }
.meta { color: #59636e; margin: 0 0 8px; }
.wrap { overflow-x: auto; border: 1px solid #eaeef2; border-radius: 10px; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th { background: #f6f8fa; color: #59636e; font-size: 12.5px; font-weight: 600; text-align: left; padding: 8px 12px; border-bottom: 1px solid #d1d9e0; white-space: nowrap; }
td { padding: 7px 12px; border-bottom: 1px solid #eaeef2; vertical-align: top; }
tbody tr:last-child td { border-bottom: 0; }
td.num, th.num { text-align: right; white-space: nowrap; }
td.name { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "DejaVu Sans Mono", monospace; font-size: 12.5px; overflow-wrap: anywhere; max-width: 46ch; }
a { color: #0969da; text-decoration: none; } a:hover { text-decoration: underline; }
.status { display: inline-block; padding: 0 8px; border-radius: 999px; font-size: 12px; font-weight: 600; background: #eaeef2; color: #59636e; }
.status.finished { background: #dafbe1; color: #1a7f37; } .status.running { background: #ddf4ff; color: #0969da; }
.status.stopped { background: #ffebe9; color: #cf222e; } .status.interrupted { background: #fff8c5; color: #9a6700; }
.empty { color: #818b98; }
ul.keys { margin: 0; padding: 0; list-style: none; font-size: 12.5px; color: #3d444d; }
`;

/**
 * The index page's HTML (see the module docs).
 *
 * @example
 * ```ts
 * import { assertStringIncludes } from "@std/assert";
 * import { indexPageHtml } from "./index_page.ts";
 * const html = indexPageHtml({
 *   root: "out",
 *   runs: [{
 *     name: "fc-sample-1a2b3c4d", command: "train", model: "fc 100x5 batchnorm", dataset: "cifar10-sample",
 *     status: "finished", iterations: 200, bestValAcc: 0.301, report: "fc-sample-1a2b3c4d/report.html",
 *   }],
 *   experiments: [],
 * });
 * assertStringIncludes(html, `<a href="fc-sample-1a2b3c4d/report.html">fc-sample-1a2b3c4d</a>`);
 * assertStringIncludes(html, "30.10 %");
 * ```
 */
export function indexPageHtml(input: IndexPageInput): string {
  const t = input.generatedAt ?? new Date();
  const when = typeof t === "string" ? t : t.toISOString().slice(0, 16).replace("T", " ") + " UTC";
  const cell = (text: string | undefined, cls = "num") =>
    text === undefined ? `<td class="${cls} empty">—</td>` : `<td class="${cls}">${escapeHtml(text)}</td>`;
  const runRows = input.runs.map((r) =>
    `<tr><td class="name">${link(r.name, r.report)}</td>${cell(r.command, "")}${cell(r.model, "")}${
      cell(r.dataset, "")
    }<td>${status(r.status)}</td>${
      cell(
        r.planned !== undefined && r.planned !== r.iterations
          ? `${r.iterations.toLocaleString("en-US")} / ${r.planned.toLocaleString("en-US")}`
          : r.iterations.toLocaleString("en-US"),
      )
    }${cell(formatPercent(r.bestValAcc))}${cell(formatPercent(r.finalTrainAcc))}${cell(formatDuration(r.trainingMs))}${
      cell(r.started?.slice(0, 16).replace("T", " "), "num")
    }</tr>`
  );
  const experimentRows = input.experiments.map((e) => {
    const keys = Object.entries(e.keyNumbers ?? {}).slice(0, 4)
      .map(([k, v]) => `<li>${escapeHtml(k)}: ${escapeHtml(keyNumberText(v))}</li>`).join("");
    return `<tr><td class="name">${link(e.name, e.report)}</td>${cell(e.experiment, "")}<td>${status(e.status)}</td>${
      cell(`${e.finishedRuns} / ${e.runs}`)
    }${cell(formatDuration(e.wallMs))}<td>${keys ? `<ul class="keys">${keys}</ul>` : ""}</td></tr>`;
  });
  const table = (head: string, rows: string[], none: string) =>
    rows.length === 0
      ? `<p class="empty">${none}</p>`
      : `<div class="wrap"><table>\n<thead><tr>${head}</tr></thead>\n<tbody>\n${
        rows.join("\n")
      }\n</tbody>\n</table></div>`;
  const csp = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'";
  return `${pageHead(`Runs in ${input.root}`, csp, CSS)}
<body>
<div class="page">
<h1>Runs in ${escapeHtml(input.root)}</h1>
<p class="meta">${input.runs.length.toLocaleString("en-US")} run${input.runs.length === 1 ? "" : "s"}, ${
    input.experiments.length.toLocaleString("en-US")
  } experiment${input.experiments.length === 1 ? "" : "s"} · written ${
    escapeHtml(when)
  } by gradstream · list them with <code>deno task runs</code>, compare with <code>deno task runs compare DIR…</code></p>
<h2>Experiments</h2>
${
    table(
      `<th>Folder</th><th>Experiment</th><th>Status</th><th class="num">Runs done</th><th class="num">Wall time</th><th>Key numbers</th>`,
      experimentRows,
      "No experiments yet: deno task experiment --list names them.",
    )
  }
<h2>Runs</h2>
${
    table(
      `<th>Run</th><th>Command</th><th>Model</th><th>Dataset</th><th>Status</th><th class="num">Iterations</th><th class="num">Best val acc</th><th class="num">Final train acc</th><th class="num">Training time</th><th class="num">Started (UTC)</th>`,
      runRows,
      "No runs yet: deno task train starts one.",
    )
  }
</div>
</body>
</html>
`;
}
