/**
 * Opens generated reports in headless Chromium (the client in
 * tests/browser.ts) with the network cut off, and checks what a user would see: every chart drawn by
 * vega-embed with marks in its SVG, images decoded, no console errors, no
 * request leaving the page, and a hostile run label shown as text (no
 * element made from it, no dialog), in the page, the legends and a real
 * tooltip. Then the same pages with JavaScript off (static SVG), and a live
 * page fed by `serveRun` over loopback. Screenshots go to out/screenshots/.
 *
 * Skipped, with a message, when Chromium is not installed
 * (`apt-get install -y chromium`; `CHROMIUM` overrides the path) or the
 * test lacks `--allow-run` and `--allow-net=127.0.0.1`.
 */

import { assert, assertEquals, assertGreater, assertStringIncludes } from "@std/assert";
import type { TrainRecord } from "../pipeline/store/records.ts";
import { serveRun } from "../reports/live_server.ts";
import { renderReport, writeReport } from "../reports/render.ts";
import { lossRows } from "../reports/run_data.ts";
import { filterGridSection, gradientCheckSection, imagesSection, trainingReport } from "../reports/run_report.ts";
import { accuracyPanelsSpec, dropoutSpec, weightScaleSpec } from "../reports/specs.ts";
import { browserSkipReason, browserTest, Page } from "./browser.ts";
import { readRunFixture } from "./helpers.ts";

const HOSTILE = "<img src=x onerror=alert(1)>";

const skip = await browserSkipReason();
if (skip) console.warn(`report_browser_test: skipped, ${skip}`);

// ---------------------------------------------------------------- reports under test

async function buildReports(dir: string): Promise<{ training: string; experiments: string }> {
  const [baseline, batchnorm, stopped, resumed] = await Promise.all(
    ["baseline", "batchnorm", "stopped", "resumed"].map(readRunFixture),
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

browserTest(
  "reports render in headless Chromium: charts drawn, no errors, no network, hostile labels stay text",
  skip,
  "gradstream-reports-",
  async (t, browser, dir) => {
    const t0 = performance.now();
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
      const records = await readRunFixture("baseline");
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
        return { loss: v["chart-0"].data("loss").map(({ run, iteration, epoch, epochs, seconds, loss, smoothed }) => ({ run, iteration, epoch, epochs, seconds, loss, smoothed })),
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
  },
);

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
