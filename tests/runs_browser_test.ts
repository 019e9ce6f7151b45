/**
 * The pages of `deno task runs` in headless Chromium with the network cut
 * off: a comparison of three settings with two seeds each (bands drawn,
 * the configuration toggle showing every setting) and the index page.
 * Screenshots go to out/screenshots/runs/.
 *
 * Skipped, with a message, where Chromium cannot be started (see tests/browser.ts).
 */

import { assert, assertEquals, assertGreater } from "@std/assert";
import { main as train } from "../pipeline/commands/train.ts";
import { main as runs } from "../pipeline/commands/runs.ts";
import { browserSkipReason, browserTest, Page } from "./browser.ts";

const skip = await browserSkipReason();
if (skip) console.warn(`runs_browser_test: skipped, ${skip}`);

const SHOTS = new URL("../out/screenshots/runs/", import.meta.url).pathname;
// Ten epochs: an epoch axis that reaches 10 once read "1e+1" (vega's tick precision with a "~g" format).
const SMALL = ["--hidden-dims", "8", "--num-train", "50", "--num-val", "50", "--batch-size", "10", "--epochs", "10"];

browserTest(
  `a comparison of three settings with two seeds each opens offline: bands drawn, settings toggle works${
    skip ? ` (skipped: ${skip})` : ""
  }`,
  skip,
  "gradstream-runs-browser-",
  async (_t, browser, root) => {
    const dirs: string[] = [];
    for (const lr of ["5e-4", "2e-3", "8e-3"]) {
      for (const seed of ["0", "1"]) {
        const name = `lr${lr}-s${seed}`;
        const code = await train(
          [
            ...SMALL,
            "--learning-rate",
            lr,
            "--seed",
            seed,
            "--gemm",
            "ts",
            "--quiet",
            "--out",
            root,
            "--run-name",
            name,
          ],
          { out: () => {}, err: () => {} },
        );
        assertEquals(code, 0);
        dirs.push(`${root}/${name}`);
      }
    }
    const err: string[] = [];
    assertEquals(await runs(["compare", ...dirs], { out: () => {}, err: (l) => err.push(l) }), 0, err.join("\n"));
    assertEquals(await runs([root], { out: () => {}, err: (l) => err.push(l) }), 0, err.join("\n"));

    const tab = await Page.open(browser, { offline: true });
    await tab.goto(`file://${root}/compare.html`);
    await tab.eval("window.gradstream.ready.then(() => true)");
    const seen = await tab.eval<
      { charts: { interactive: boolean; areas: number; lines: number }[]; legend: string[]; ticks: string[] }
    >(
      `(() => ({
        charts: [...document.querySelectorAll("figure.chart")].map((f) => ({
          interactive: f.classList.contains("is-interactive"),
          areas: f.querySelectorAll(".chart-live svg g.mark-area path").length,
          lines: f.querySelectorAll(".chart-live svg g.mark-line path").length,
        })),
        legend: [...document.querySelectorAll("figure.chart")][0]
          ? [...document.querySelectorAll("#chart-0 .chart-live svg g.role-legend-label text")].map((t) => t.textContent)
          : [],
        ticks: [...document.querySelectorAll(".chart-live svg g.role-axis-label text")].map((t) => t.textContent),
      }))()`,
    );
    assertGreater(seen.ticks.length, 0, "no axis labels");
    for (const tick of seen.ticks) assert(/^[−-]?[\d,.]+%?$/.test(tick), `unreadable tick "${tick}"`);
    assert(seen.ticks.includes("10"), `the epoch axis reaches 10: ${seen.ticks.join(" ")}`);
    assertEquals(seen.charts.length, 2);
    for (const c of seen.charts) {
      assert(c.interactive, "a chart was not drawn by vega-embed");
      assertGreater(c.areas, 0, "no min–max band");
      assertGreater(c.lines, 0, "no mean line");
    }
    assertEquals(seen.legend, ["learningRate 0.0005", "learningRate 0.002", "learningRate 0.008"]);
    // The settings toggle: closed, only the differing rows show; opened, every setting.
    const section = await tab.eval<string>(
      `[...document.querySelectorAll("section")].find((s) => s.querySelector("h2")?.textContent === "Configuration").id`,
    );
    const rows = `[...document.querySelectorAll("#${section} tbody tr")].filter((tr) => tr.checkVisibility()).length`;
    assertEquals(await tab.eval<number>(rows), 2, "closed: learningRate and seed");
    await tab.eval(`document.querySelector("#${section} details.more > summary").click(); true`);
    assertGreater(await tab.eval<number>(rows), 10, "opened: every setting");
    await tab.screenshot(`${SHOTS}compare.png`);
    assertEquals(tab.errors, [], "console errors");
    assertEquals(tab.requests.filter((u) => !u.startsWith("file://") && !u.startsWith("data:")), [], "requests");

    await tab.goto(`file://${root}/index.html`);
    const links = await tab.eval<string[]>(`[...document.querySelectorAll("a")].map((a) => a.getAttribute("href"))`);
    assertEquals(links.length, 6);
    assert(links.every((l) => /^lr[\w.-]+\/report\.html$/.test(l)), links.join(" "));
    await tab.screenshot(`${SHOTS}index.png`);
    assertEquals(tab.errors, [], "console errors on the index page");
    tab.close();
    console.log(`runs_browser_test: screenshots in ${SHOTS}`);
  },
);
