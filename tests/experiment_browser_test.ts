/**
 * Opens the report of every experiment (`deno task experiment NAME --quick`)
 * in headless Chromium with the network cut off, and checks what a reader
 * sees: every chart drawn by vega-embed with marks, every image decoded and
 * shown at a readable size, no console errors, no request leaving the page.
 * Screenshots go to out/screenshots/experiments/.
 *
 * Skipped, with a message, when Chromium is not installed (`apt-get install
 * -y chromium`; `CHROMIUM` overrides the path) or when the test may not
 * start it or reach 127.0.0.1 (run with --allow-run --allow-net=127.0.0.1).
 * The DevTools client is tests/browser.ts.
 */

import { assert, assertEquals, assertGreater } from "@std/assert";
import { main } from "../pipeline/commands/experiment.ts";
import { EXPERIMENTS } from "../pipeline/commands/experiments/index.ts";
import { Browser, browserSkipReason, findChromium, Page } from "./browser.ts";

const skip = await browserSkipReason();
if (skip) console.warn(`experiment_browser_test: skipped, ${skip}`);

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
    const browser = await Browser.launch(findChromium()!);
    try {
      const tab = await Page.open(browser, { offline: true });
      for (const experiment of EXPERIMENTS) {
        await t.step(experiment.name, async () => {
          const err: string[] = [];
          const code = await main(
            [experiment.name, "--quick", "--quiet", "--out", root, "--run-name", experiment.name],
            {
              out: () => {},
              err: (l) => err.push(l),
            },
          );
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
      await browser.close();
      await Deno.remove(root, { recursive: true });
    }
  },
});
