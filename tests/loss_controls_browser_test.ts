/**
 * The loss chart's controls in headless Chromium with the network cut off,
 * on a report of two `train` runs with long labels: the smoothing slider
 * (0 draws the points themselves), the log-scale toggle, the x-axis switch
 * (iteration, epoch, training time), the legend showing each label whole,
 * the two time figures, and vega-embed's PNG and SVG export producing
 * images offline. Screenshots go to out/screenshots/report/.
 *
 * Skipped, with a message, where Chromium cannot be started (see tests/browser.ts).
 */

import { assert, assertAlmostEquals, assertEquals, assertGreater, assertNotEquals } from "@std/assert";
import { main as train } from "../pipeline/commands/train.ts";
import { readRunLog } from "../pipeline/store/run_log.ts";
import { renderReport } from "../reports/render.ts";
import { trainingReport } from "../reports/run_report.ts";
import { browserSkipReason, browserTest, Page } from "./browser.ts";

const skip = await browserSkipReason();
if (skip) console.warn(`loss_controls_browser_test: skipped, ${skip}`);

const SHOTS = new URL("../out/screenshots/report/", import.meta.url).pathname;
const SMALL = ["--hidden-dims", "20", "--num-train", "200", "--num-val", "100", "--batch-size", "20", "--epochs", "4"];
const LABELS = [
  "fc 20, learning rate 1e-3, batch 20, four epochs on the sample",
  "fc 20, learning rate 1e-2, batch 20, four epochs on the sample",
];

/** What the loss chart draws now: its controls, its derived rows and its axis labels. */
const INSPECT = `(() => {
  const view = window.gradstream.views["chart-0"];
  const rows = view.data("data_0").slice().sort((a, b) => a.run.localeCompare(b.run) || a.iteration - b.iteration);
  const fig = document.querySelector("#chart-0");
  const texts = (sel) => [...fig.querySelectorAll(sel)].map((t) => t.textContent);
  return {
    inputs: [...fig.querySelectorAll(".vega-bindings input")].map((i) => i.type),
    smoothing: view.signal("smoothing"),
    logScale: view.signal("logScale"),
    xAxis: view.signal("xAxis"),
    rows: rows.map((r) => ({ run: r.run, loss: r.loss, smooth: r.smooth, x: r.x, y: r.y, iteration: r.iteration,
      epochs: r.epochs, seconds: r.seconds })),
    yLabels: texts(".chart-live svg .role-axis-label text").slice(0, 40),
    legend: texts(".chart-live svg .role-legend-label text"),
    line: fig.querySelector(".chart-live svg g.mark-line path")?.getAttribute("d") ?? "",
  };
})()`;

interface Seen {
  inputs: string[];
  smoothing: number;
  logScale: boolean;
  xAxis: string;
  rows: {
    run: string;
    loss: number;
    smooth: number;
    x: number;
    y: number;
    iteration: number;
    epochs: number;
    seconds: number;
  }[];
  yLabels: string[];
  legend: string[];
  line: string;
}

/** Sets a bound input the way a person does (value, then the input and change events) and lets vega redraw. */
function setInput(selector: string, how: string): string {
  return `(async () => {
    const el = document.querySelector(${JSON.stringify(`#chart-0 .vega-bindings ${selector}`)});
    ${how}
    el.dispatchEvent(new Event("input", { bubbles: true }));
    el.dispatchEvent(new Event("change", { bubbles: true }));
    await window.gradstream.views["chart-0"].runAsync();
    await new Promise((r) => requestAnimationFrame(() => r(true)));
    return true;
  })()`;
}

browserTest(
  `the loss chart's smoothing slider, log toggle, x-axis switch and PNG/SVG export work offline${
    skip ? ` (skipped: ${skip})` : ""
  }`,
  skip,
  "gradstream-loss-controls-",
  async (_t, browser, root) => {
    const runs = [];
    for (const [i, lr] of ["1e-3", "1e-2"].entries()) {
      const args = [...SMALL, "--learning-rate", lr, "--gemm", "ts", "--quiet", "--out", root, "--run-name", `r${i}`];
      assertEquals(await train(args, { out: () => {}, err: () => {} }), 0);
      runs.push({ label: LABELS[i], records: await readRunLog(`${root}/r${i}/run.ndjson`) });
    }
    await Deno.writeTextFile(
      `${root}/report.html`,
      await renderReport(trainingReport({ title: "Two runs", runs })),
    );
    const tab = await Page.open(browser, { offline: true });
    await tab.goto(`file://${root}/report.html`);
    await tab.eval("window.gradstream.ready.then(() => true)");

    const first = await tab.eval<Seen>(INSPECT);
    assertEquals(first.inputs, ["range", "checkbox", "radio", "radio", "radio"]);
    assertEquals([first.logScale, first.xAxis], [false, "iteration"]);
    assertGreater(first.smoothing, 0);
    // Each label whole in the legend: nothing cut off with an ellipsis.
    assertEquals(first.legend, LABELS);
    // The two time figures of several runs.
    const cards = await tab.eval<string[]>(
      `[...document.querySelectorAll(".highlights .label")]
      .map((e) => e.textContent.trim())`,
    );
    assert(cards.includes("Wall time") && cards.includes("Run time, summed"), cards.join(" | "));
    await tab.screenshot(`${SHOTS}loss-controls.png`);

    // Smoothing 0: the line goes through the points themselves.
    await tab.eval(setInput(`input[type="range"]`, `el.value = "0";`));
    const raw = await tab.eval<Seen>(INSPECT);
    assertEquals(raw.smoothing, 0);
    for (const r of raw.rows) assertEquals(r.smooth, r.loss);
    assertNotEquals(raw.line, first.line, "the line did not move");
    // 0.99: heavier smoothing, still debiased (the first point is the first loss).
    await tab.eval(setInput(`input[type="range"]`, `el.value = "0.99";`));
    const heavy = await tab.eval<Seen>(INSPECT);
    assertEquals(heavy.smoothing, 0.99);
    for (const run of LABELS) {
      const own = heavy.rows.filter((r) => r.run === run);
      assertAlmostEquals(own[0].smooth, own[0].loss, 1e-12);
      assertAlmostEquals(own[1].smooth, (0.99 * own[0].loss + own[1].loss) / 1.99, 1e-12);
    }

    // Log scale: log10 of the loss is drawn, and the ticks read as losses.
    await tab.eval(setInput(`input[type="checkbox"]`, `el.checked = true;`));
    const logged = await tab.eval<Seen>(INSPECT);
    assertEquals(logged.logScale, true);
    for (const r of logged.rows) assertAlmostEquals(r.y, Math.log10(r.loss), 1e-12);
    assert(logged.yLabels.some((l) => /^[0-9.]+$/.test(l)), logged.yLabels.join(" "));
    await tab.screenshot(`${SHOTS}loss-controls-log.png`);
    await tab.eval(setInput(`input[type="checkbox"]`, `el.checked = false;`));

    // The x axis in epochs, then in training time.
    await tab.eval(setInput(`input[type="radio"][value="epoch"]`, `el.checked = true;`));
    const epochs = await tab.eval<Seen>(INSPECT);
    assertEquals(epochs.xAxis, "epoch");
    for (const r of epochs.rows) assertEquals(r.x, r.epochs);
    assertEquals(Math.max(...epochs.rows.map((r) => r.x)), 4);
    await tab.eval(setInput(`input[type="radio"][value="time"]`, `el.checked = true;`));
    const time = await tab.eval<Seen>(INSPECT);
    for (const r of time.rows) assertEquals(r.x, r.seconds);
    await tab.screenshot(`${SHOTS}loss-controls-time.png`);

    // vega-embed's actions make the images here, offline: the links get data URLs when pressed.
    // (The page's content security policy lets nothing be fetched, so the PNG is read from its data URL, and the SVG
    // blob is checked to be there; vega's own toSVG gives what it holds.)
    const exported = await tab.eval<string[]>(`(async () => {
      const links = [...document.querySelectorAll("#chart-0 .vega-actions a")].filter((a) => /SVG|PNG/.test(a.textContent));
      const heads = [];
      for (const a of links) {
        a.dispatchEvent(new MouseEvent("mousedown", { bubbles: true }));
        for (let i = 0; i < 100 && !/^(data|blob):/.test(a.href); i++) await new Promise((r) => setTimeout(r, 20));
        heads.push(a.href.startsWith("data:image/png;base64,")
          ? "png " + atob(a.href.slice(22, 34)).slice(1, 4)
          : a.href.startsWith("blob:") ? "blob " + a.download : a.href.slice(0, 30));
      }
      heads.push("svg " + (await window.gradstream.views["chart-0"].toSVG()).slice(0, 4));
      return heads;
    })()`);
    assertEquals(exported.length, 3, `no Save as SVG / Save as PNG actions: ${exported.join(" | ")}`);
    assert(exported.includes("png PNG"), exported.join(" | "));
    assert(exported.some((h) => /^blob .*\.svg$/.test(h)), exported.join(" | "));
    assert(exported.includes("svg <svg"), exported.join(" | "));
    assertEquals(tab.errors, [], "console errors");
    assertEquals(tab.requests.filter((u) => !u.startsWith("file://") && !u.startsWith("data:")), [], "requests");
    tab.close();
    console.log(`loss_controls_browser_test: screenshots in ${SHOTS}`);
  },
);
