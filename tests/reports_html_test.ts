import { assert, assertEquals, assertRejects, assertStringIncludes } from "@std/assert";
import { formatNumber } from "../reports/format.ts";
import { escapeHtml, jsonForScript, renderReportHtml, type Report } from "../reports/html.ts";
import { renderReport, writeReport } from "../reports/render.ts";
import { gradientCheckSection, trainingReport } from "../reports/run_report.ts";
import { lossCurveSpec } from "../reports/specs.ts";
import { VEGA_VERSIONS, vendorScripts } from "../reports/vendor.ts";
import { readRunFixture } from "./helpers.ts";

const HOSTILE = "<img src=x onerror=alert(1)>";
const BREAKOUT = "</script><script>alert(2)</script>";

const baseline = await readRunFixture("baseline");
const stopped = await readRunFixture("stopped");

function hostileReport(): Report {
  return trainingReport({
    title: `Title ${HOSTILE}`,
    description: `Description ${HOSTILE}\n\nsecond ${BREAKOUT}`,
    config: { dataset: { path: `/data/${HOSTILE}` }, note: BREAKOUT, [`key ${HOSTILE}`]: 1 },
    runs: [{ label: "baseline", records: baseline }, { label: HOSTILE, records: stopped }, {
      label: BREAKOUT,
      records: baseline,
    }],
    generatedAt: "2025-01-01 12:00 UTC",
    extraSections: [
      gradientCheckSection(
        [{ layer: HOSTILE, gradient: BREAKOUT, relError: 1e-9, threshold: 1e-7, pass: true }],
        `Checks ${HOSTILE}`,
      ),
    ],
  });
}

/** The page with the contents of its script elements (vega builds, page script, JSON data) cut out. */
function markupOnly(html: string): string {
  return html.replace(/(<script\b[^>]*>)[^]*?<\/script>/g, "$1</script>");
}

Deno.test("escapeHtml escapes the five characters that matter in content and quoted attributes", () => {
  assertEquals(
    escapeHtml(`<a href="x" title='y'>&</a>`),
    "&#60;a href=&#34;x&#34; title=&#39;y&#39;&#62;&#38;&#60;/a&#62;",
  );
});

Deno.test("jsonForScript cannot close its <script> and parses back unchanged", () => {
  const value = { label: `${BREAKOUT} <!-- & \u2028\u2029 >`, n: 1 };
  const text = jsonForScript(value);
  assert(!/[<>&\u2028\u2029]/.test(text), text);
  assertEquals(JSON.parse(text), value);
});

Deno.test("formatNumber writes integers with separators and others to 4 significant digits", () => {
  assertEquals(formatNumber(49000), "49,000");
  assertEquals(formatNumber(0.123456), "0.1235");
  assertEquals(formatNumber(2.5e-7), "2.50e-7");
  assertEquals(formatNumber(NaN), "NaN");
});

Deno.test("renderReport escapes every user string in the markup: no element or script comes from a label", async () => {
  const html = await renderReport(hostileReport());
  const markup = markupOnly(html);
  assert(!markup.includes("<img"), "a label became an <img> element");
  assertEquals(
    markup.match(/<script\b/g)?.length,
    1 + 3 + 1,
    "script elements: data, three vega builds, the page script",
  );
  assertStringIncludes(markup, "<title>Title &#60;img src=x onerror=alert(1)&#62;</title>");
  assertStringIncludes(markup, "&#60;/script&#62;&#60;script&#62;alert(2)&#60;/script&#62;");
  // Run labels appear escaped in the summary table and in the static SVG legends.
  assertStringIncludes(markup, "<td>&#60;img src=x onerror=alert(1)&#62;</td>");
  assertStringIncludes(markup, "&lt;img src=x onerror");
  // The JSON block holds the labels, escaped for <script>.
  const data = html.match(/<script type="application\/json" id="gs-data">([^]*?)<\/script>/)![1];
  assert(!data.includes("<"), "raw < in the JSON block");
  const payload = JSON.parse(data);
  assertEquals(payload.charts.length, 3);
  assertEquals(payload.embed.tooltip, { theme: "light" });
});

Deno.test("renderReport inlines the pinned vega builds and pins every script by hash in its CSP", async () => {
  const html = await renderReport({
    title: "t",
    sections: [{ heading: "Loss", spec: lossCurveSpec([{ label: "a", records: baseline }]) }],
  });
  const scripts = await vendorScripts();
  for (const s of [scripts.vega, scripts.vegaLite, scripts.vegaEmbed]) assert(html.includes(`<script>${s}</script>`));
  assertStringIncludes(scripts.vega, VEGA_VERSIONS.vega);
  const csp = html.match(/http-equiv="Content-Security-Policy" content="([^"]+)"/)![1];
  const inline = [...html.matchAll(/<script>([^]*?)<\/script>/g)].map((m) => m[1]);
  assertEquals(inline.length, 4);
  for (const body of inline) {
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(body)));
    assertStringIncludes(csp, `'sha256-${btoa(String.fromCharCode(...digest))}'`);
  }
  assertStringIncludes(csp, "default-src 'none'");
  assertStringIncludes(csp, "connect-src 'none'");
  assert(!/script-src[^;]*'unsafe-inline'/.test(csp), "inline scripts allowed by CSP");
});

Deno.test("renderReport gives each chart a static SVG with its own element ids", async () => {
  const spec = lossCurveSpec([{ label: "a", records: baseline }]);
  const html = await renderReport({ title: "t", sections: [{ heading: "One", spec }, { heading: "Two", spec }] });
  const statics = [...html.matchAll(/<div class="chart-static"[^>]*>(<svg[^]*?<\/svg>)<\/div>/g)];
  assertEquals(statics.length, 2);
  const ids = [...markupOnly(html).matchAll(/\sid="([^"]+)"/g)].map((m) => m[1]);
  assertEquals(ids.length, new Set(ids).size, "duplicate ids in the page");
  assertStringIncludes(html, 'id="one"');
  assertStringIncludes(html, 'id="two"');
});

Deno.test("renderReport refuses images that are not data: URLs and ragged tables", async () => {
  await assertRejects(
    () =>
      renderReport({
        title: "t",
        sections: [{ heading: "I", images: [{ src: "https://example.com/x.png", alt: "x" }] }],
      }),
    TypeError,
    "is not a base64 data: URL",
  );
  await assertRejects(
    () => renderReport({ title: "t", sections: [{ heading: "T", table: { columns: ["a", "b"], rows: [["1"]] } }] }),
    RangeError,
    "row 0 has 1 cells for 2 columns",
  );
  await assertRejects(
    async () =>
      renderReportHtml({ title: "t", sections: [{ heading: "c", spec: lossCurveSpec([]) }] }, {
        staticSvgs: [],
        scripts: await vendorScripts(),
      }),
    RangeError,
    "0 static SVGs for 1 charts",
  );
});

Deno.test("a live page carries its run label and the live script; a static page has neither", async () => {
  const live = await renderReport(
    trainingReport({ title: "live", runs: [{ label: HOSTILE, records: [] }], live: { runLabel: HOSTILE } }),
  );
  assertStringIncludes(live, "new EventSource(");
  assertStringIncludes(live, "connect-src 'self'");
  const data = JSON.parse(live.match(/id="gs-data">([^]*?)<\/script>/)![1]);
  assertEquals(data.live.runLabel, HOSTILE);
  assertEquals(data.charts.map((c: { live?: string }) => c.live), ["loss", "accuracy"]);
  const still = await renderReport({ title: "s", sections: [] });
  assert(!still.includes("new EventSource("));
});

Deno.test("writeReport replaces the file atomically and leaves no temporary behind", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/report.html`;
    await Deno.writeTextFile(path, "old");
    await writeReport(path, { title: "New report", sections: [] });
    assertStringIncludes(await Deno.readTextFile(path), "<h1>New report</h1>");
    assertEquals([...Deno.readDirSync(dir)].map((e) => e.name), ["report.html"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("renderReport renders run labels with line and paragraph separators (U+2028, U+2029)", async () => {
  const label = "line\u2028para\u2029end";
  const html = await renderReport(trainingReport({ title: "t", runs: [{ label, records: baseline }] }));
  // No raw separator anywhere in a script: the JSON is escaped and the charts show the label on one line.
  for (const [, body] of html.matchAll(/<script\b[^>]*>([^]*?)<\/script>/g)) {
    assert(!/[\u2028\u2029]/.test(body.slice(0, 20_000_000)), "raw U+2028/U+2029 inside a script element");
  }
  const data = JSON.parse(html.match(/id="gs-data">([^]*?)<\/script>/)![1]);
  const lossRows = data.charts[0].spec.datasets.loss as { run: string }[];
  assertEquals(new Set(lossRows.map((r) => r.run)), new Set(["line para end"]));
  // The table keeps the label as given (escaped markup, the separators kept).
  assertStringIncludes(markupOnly(html), `<td>${label}</td>`);
});

Deno.test("renderReport shortens a 200 kB run label in charts, keeps it whole in the table, and stays small", async () => {
  const label = "x".repeat(200_000);
  const html = await renderReport(trainingReport({ title: "t", runs: [{ label, records: baseline }] }));
  assert(html.length < 3_000_000, `report of ${html.length} characters`);
  const data = JSON.parse(html.match(/id="gs-data">([^]*?)<\/script>/)![1]);
  const shown = new Set((data.charts[0].spec.datasets.loss as { run: string }[]).map((r) => r.run));
  assertEquals(shown.size, 1);
  const [short] = shown;
  assert(short.length <= 64 && short.startsWith("xxxx") && short.includes("…"), short);
  assertStringIncludes(markupOnly(html), `<td>${label}</td>`);
});

Deno.test("the accuracy section says when the runs were checked: every N iterations, or between epoch ends when runs differ", () => {
  // The first check --check-every N adds (at iteration N, inside the first epoch), after the first step's check.
  const withChecks = (every: number) =>
    baseline.flatMap((r) =>
      r.kind === "epoch" && r.iteration === 1 ? [r, { ...r, iteration: every, epochEnd: false }] : [r]
    );
  const text = (...everies: number[]) =>
    trainingReport({
      title: "t",
      runs: everies.map((n, i) => ({ label: `r${i}`, records: n === 0 ? baseline : withChecks(n) })),
    }).sections.find((s) => s.heading === "Accuracy")!.text ?? "";
  assertStringIncludes(text(0), "after the first step and at the end of every epoch.");
  assertStringIncludes(text(0, 5), "after the first step, every 5 iterations and at the end of every epoch.");
  assertStringIncludes(text(5, 5), "every 5 iterations");
  assertStringIncludes(text(5, 3), "after the first step, between epoch ends and at the end of every epoch.");
});
