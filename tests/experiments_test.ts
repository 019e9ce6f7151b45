/**
 * `deno task experiment`: every experiment runs in --quick mode and writes its
 * report, records and key numbers; the key numbers land in the report; the
 * report does not depend on the number of workers; the notebooks' gradient
 * checks (the definitions the gradcheck experiment reports) all pass; and
 * command-line mistakes give one line and exit code 2.
 */

import { assert, assertEquals, assertGreater, assertLess, assertMatch, assertStringIncludes } from "@std/assert";
import { main } from "../pipeline/commands/experiment.ts";
import { withoutTiming } from "../pipeline/commands/experiments/common.ts";
import { EXPERIMENTS } from "../pipeline/commands/experiments/index.ts";
import { parseRunLog } from "../pipeline/store/run_log.ts";
import type { TrainRecord } from "../pipeline/store/records.ts";

interface Ran {
  code: number;
  out: string[];
  err: string[];
}

async function run(args: string[], extra: Parameters<typeof main>[1] = {}): Promise<Ran> {
  const out: string[] = [], err: string[] = [];
  const code = await main(args, { out: (l) => out.push(l), err: (l) => err.push(l), ...extra });
  return { code, out, err };
}

interface Summary {
  experiment: string;
  workers: number;
  tasks: { label: string; records?: string; stopped?: boolean }[];
  keyNumbers: Record<string, number | string | boolean | null>;
}

async function readOutput(dir: string) {
  const html = await Deno.readTextFile(`${dir}/report.html`);
  const summary: Summary = JSON.parse(await Deno.readTextFile(`${dir}/summary.json`));
  const runs = new Map<string, TrainRecord[]>();
  for (const t of summary.tasks) {
    if (t.records) runs.set(t.label, parseRunLog(await Deno.readTextFile(`${dir}/${t.records}`)));
  }
  return { html, summary, runs };
}

/** The chart data of a report page (the JSON payload its scripts read). */
function chartData(html: string): unknown {
  const json = /<script type="application\/json" id="gs-data">(.*?)<\/script>/s.exec(html)?.[1];
  assert(json !== undefined, "no chart payload in the page");
  return (JSON.parse(json) as { charts: { spec: { datasets?: unknown } }[] }).charts.map((c) => c.spec.datasets);
}

/** The page's main content without the configuration block (workers and gemm threads differ by design). */
function mainContent(html: string): string {
  const body = /<main>(.*)<\/main>/s.exec(html)?.[1] ?? "";
  return body.replace(/<section id="configuration">.*?<\/section>/s, "");
}

const pct = (v: unknown) => `${(100 * (v as number)).toFixed(2)} %`;

/** Asserts that two long texts are equal, showing only where they first differ. */
function assertSameText(a: string, b: string, what: string): void {
  if (a === b) return;
  let i = 0;
  while (i < a.length && a[i] === b[i]) i++;
  throw new Error(
    `${what} differ at character ${i}:\n  ${JSON.stringify(a.slice(i - 80, i + 80))}\n  ${
      JSON.stringify(b.slice(i - 80, i + 80))
    }`,
  );
}

/** Asserts that a page contains `text`, without printing the whole page when it does not. */
function assertInPage(html: string, text: string, what = text): void {
  assert(html.includes(text), `the report does not contain ${JSON.stringify(what)}`);
}

const root = await Deno.makeTempDir({ prefix: "gradstream-experiments-" });

// Quick mode of every experiment, once; the checks below read what it wrote.
const outputs = new Map<string, Awaited<ReturnType<typeof readOutput>>>();

for (const experiment of EXPERIMENTS) {
  Deno.test(`${experiment.name} --quick writes its report, records and key numbers`, async () => {
    const t0 = performance.now();
    const r = await run([experiment.name, "--quick", "--out", root, "--run-name", experiment.name, "--workers", "2"]);
    assertEquals(r.code, 0, r.err.join("\n"));
    const dir = `${root}/${experiment.name}`;
    const o = await readOutput(dir);
    outputs.set(experiment.name, o);
    assertStringIncludes(r.out.join("\n"), `experiment: report ${dir}/report.html`);
    assertInPage(o.html, "<title>");
    assertEquals(o.summary.experiment, experiment.name);
    if (experiment.trains) {
      assertGreater(o.runs.size, 0);
      // Progress on stderr: a header, then a line per finished run with the count.
      assertMatch(r.err[0], new RegExp(`^experiment ${experiment.name} \\(quick\\): \\d+ runs? on \\d+ workers?`));
      assertStringIncludes(r.err.join("\n"), `[${o.runs.size}/${o.runs.size}]`);
      for (const [label, records] of o.runs) {
        assertEquals(records[0].kind, "start", label);
        assertEquals(records.at(-1)!.kind, "end", label);
        // The sweep's 40 runs appear by weight scale instead.
        if (experiment.name !== "weight-scale") assert(o.html.includes(label), `run "${label}" is not in the report`);
      }
    }
    console.log(
      `${experiment.name} --quick: ${(performance.now() - t0).toFixed(0)} ms, ${o.runs.size} runs, ${
        JSON.stringify(o.summary.keyNumbers).slice(0, 300)
      }`,
    );
  });
}

Deno.test("batchnorm --quick: batch norm trains faster than the baseline, and the numbers are in the report", () => {
  const { html, summary } = outputs.get("batchnorm")!;
  const k = summary.keyNumbers;
  for (const key of ["baselineFinalTrainAcc", "batchnormFinalTrainAcc", "baselineBestValAcc", "batchnormBestValAcc"]) {
    assertInPage(html, pct(k[key]), key);
  }
  assertGreater(k.batchnormFinalTrainAcc as number, k.baselineFinalTrainAcc as number);
});

Deno.test("weight-scale --quick: 5 scales × 2 groups, plotted against the scale", () => {
  const { html, summary } = outputs.get("weight-scale")!;
  assertEquals(summary.tasks.length, 10);
  const [data] = chartData(html) as { weightScale: { run: string; weightScale: number; finalTrainLoss: number }[] }[];
  assertEquals(data.weightScale.length, 10);
  assertEquals(new Set(data.weightScale.map((r) => r.run)), new Set(["baseline", "batchnorm"]));
  assertInPage(html, `${summary.keyNumbers.baselineScalesWithin5pt} / 5`);
  assertInPage(html, `${summary.keyNumbers.batchnormScalesWithin5pt} / 5`);
});

Deno.test("dropout --quick and convnet-overfit --quick: the train − validation gap is reported; the convnet overfits", () => {
  const dropout = outputs.get("dropout")!;
  for (const p of [0, 0.75]) {
    const gap = dropout.summary.keyNumbers[`gap[p=${p}]`] as number;
    assertInPage(dropout.html, `${(100 * gap).toFixed(2)} pt`);
  }
  const overfit = outputs.get("convnet-overfit")!.summary.keyNumbers;
  assertGreater(
    (overfit.finalTrainAcc as number) - (overfit.finalValAcc as number),
    0.3,
    "the convnet should overfit its images",
  );
});

Deno.test("convnet, gradcheck and conv-filters --quick: filters, all checks passing, the filter responses", () => {
  const convnet = outputs.get("convnet")!.html;
  assertInPage(convnet, "First-layer filters");
  assertMatch(convnet, /<img src="data:image\/png;base64,[^"]+" alt="32 first-layer filters of 7×7×3/);
  const gradcheck = outputs.get("gradcheck")!;
  assertEquals(gradcheck.summary.keyNumbers.failed, 0);
  assertInPage(gradcheck.html, "all pass");
  const filters = outputs.get("conv-filters")!.html;
  assertEquals(filters.match(/<img src="data:image\/png/g)?.length, 6);
  for (const word of ["dog", "cat", "grayscale", "horizontal edges"]) assertInPage(filters, word);
});

Deno.test("cifar10 --quick: the confusion matrix, per-class accuracy and the evaluated accuracy are in the report", () => {
  const { html, summary } = outputs.get("cifar10")!;
  const k = summary.keyNumbers;
  assertEquals([k.evaluatedOn, k.testAcc, k.reachedTarget], ["validation", null, null]);
  assert(typeof k.evaluatedAcc === "number" && k.evaluatedAcc >= 0 && k.evaluatedAcc <= 1, "accuracy recorded");
  assertGreater(k.imagesPerSec as number, 0);
  for (const text of ["Confusion matrix", "Per-class accuracy", "Images per second", pct(k.evaluatedAcc)]) {
    assertInPage(html, text);
  }
  const datasets = chartData(html) as Record<string, { count?: number; class?: string }[]>[];
  const confusion = datasets.find((d) => d?.confusion)!.confusion;
  assertEquals(confusion.length, 100, "10 × 10 cells");
  assertEquals(confusion.reduce((a, r) => a + r.count!, 0), 100, "every validation image counted once");
  assertEquals(datasets.find((d) => d?.perClassAccuracy)!.perClassAccuracy.length, 10);
  // At the recipe's peak rate 0.1 these six steps of batch 32 diverged (loss 3.3, then 60).
  const losses = [...outputs.get("cifar10")!.runs.values()][0].flatMap((r) => r.kind === "iteration" ? [r.loss] : []);
  assertEquals(losses.length, 6);
  for (const loss of losses) assertLess(loss, 2 * losses[0], `losses ${losses.join(", ")}`);
});

Deno.test("weight-scale --quick gives the same records and report with 1 and 2 workers (timing aside)", async () => {
  const dirs = [`${root}/w1`, `${root}/w2`];
  for (const [i, dir] of dirs.entries()) {
    const r = await run([
      ...["weight-scale", "--quick", "--quiet", "--out", dir, "--run-name", "weight-scale"],
      ...["--workers", String(i + 1)],
    ]);
    assertEquals(r.code, 0, r.err.join("\n"));
  }
  const [one, two] = await Promise.all(dirs.map((d) => readOutput(`${d}/weight-scale`)));
  assertEquals(one.summary.workers, 1);
  assertEquals(two.summary.workers, 2);
  assertEquals([...one.runs.keys()], [...two.runs.keys()]);
  for (const [label, records] of one.runs) {
    assertEquals(records.map(withoutTiming), two.runs.get(label)!.map(withoutTiming), label);
  }
  assertEquals(chartData(one.html), chartData(two.html));
  // The second page is rendered after every other report of this file: vega's clip-path ids, which it
  // counts per process, must still be numbered per chart for the pages to match.
  assertInPage(two.html, 'clip-path="url(#c0-clip1)"');
  assertSameText(mainContent(one.html), mainContent(two.html), "the report pages");
  assertEquals(one.summary.keyNumbers, two.summary.keyNumbers);
});

Deno.test("command-line mistakes give one line naming the problem and exit code 2", async () => {
  const cases: [string[], RegExp][] = [
    [["batchnorm", "--bogus"], /^experiment: unknown flag --bogus; expected NAME and --dataset SPEC, /],
    [["batchnorm", "--workers", "0"], /^experiment: --workers expects a positive integer, got "0"$/],
    [["batchnorm", "--workers"], /^experiment: --workers expects a value: --workers N$/],
    [["batchnorm", "--quick=yes"], /^experiment: --quick takes no value$/],
    [["no-such"], /^experiment: unknown experiment "no-such"; expected one of batchnorm, weight-scale, /],
    [[], /^experiment: expects an experiment name, one of batchnorm, /],
    [["batchnorm", "dropout"], /^experiment: expects one experiment name, got "batchnorm" "dropout"$/],
    [["gradcheck", "--epochs", "3"], /^experiment: --epochs does not apply to gradcheck: it trains nothing$/],
    [["gradcheck", "--dataset", "sample"], /^experiment: --dataset does not apply to gradcheck/],
    [
      ["batchnorm", "--num-train", "5000"],
      /^experiment: --num-train 5000 is more than the sample's 1000 training images$/,
    ],
    [["batchnorm", "--dataset", "imagenet"], /^experiment: --dataset expects sample \| cifar10:DIR \| /],
    [["batchnorm", "--seed", "-1"], /^experiment: --seed expects a value|^experiment: --seed expects an integer/],
    [["batchnorm", "--gemm", "gpu"], /^experiment: --gemm expects one of blas, wasm, ts, auto, got "gpu"$/],
  ];
  for (const [args, pattern] of cases) {
    const r = await run(args);
    assertEquals(r.code, 2, `${args.join(" ")}: ${r.err.join("\n")}`);
    assertEquals(r.err.length, 1, `${args.join(" ")}: ${r.err.join("\n")}`);
    assertMatch(r.err[0], pattern);
    assertEquals(r.out, []);
  }
});

Deno.test("convnet on a CIFAR-10 folder without batches 2–4 says what is there and which --num-train works", async () => {
  const dir = await Deno.makeTempDir({ dir: root, prefix: "cifar-" });
  for (const name of ["data_batch_1.bin", "data_batch_5.bin", "test_batch.bin"]) {
    await Deno.writeFile(`${dir}/${name}`, new Uint8Array(0));
  }
  const r = await run(["convnet", "--dataset", `cifar10:${dir}`, "--out", root]);
  assertEquals(r.code, 2);
  assertEquals(r.err.length, 1);
  assertStringIncludes(r.err[0], "holds only data_batch_1, data_batch_5");
  assertStringIncludes(r.err[0], "Pass --num-train 10000 (or fewer)");
});

Deno.test("a run that fails in its worker is named, with exit code 1", async () => {
  const r = await run([
    "batchnorm",
    "--quick",
    "--quiet",
    "--out",
    root,
    "--dataset",
    "cifar10:/nonexistent-gradstream-data",
  ]);
  assertEquals(r.code, 1);
  assertMatch(r.err[0], /^experiment: run "(baseline|batchnorm)" failed: .*nonexistent-gradstream-data/);
});

Deno.test("--help and --list describe every experiment", async () => {
  const help = await run(["--help"]);
  const list = await run(["--list"]);
  assertEquals([help.code, list.code], [0, 0]);
  for (const e of EXPERIMENTS) {
    assertStringIncludes(help.out.join("\n"), e.name);
    assertStringIncludes(list.out.join("\n"), `${e.name}`);
    assertStringIncludes(list.out.join("\n"), `--quick: ${e.quick}`);
  }
});

const netGranted = (await Deno.permissions.query({ name: "net", host: "127.0.0.1" })).state === "granted";

Deno.test({
  name: "--serve streams every run's labelled records to the live page, then serves the final report until stopped",
  ignore: !netGranted,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const stop = new AbortController();
    let seen: { page: string; labels: Set<string>; records: number; done: boolean } | undefined;
    let watching: Promise<void> | undefined;
    const finished = run([
      "batchnorm",
      "--quick",
      "--quiet",
      "--serve",
      "--out",
      `${root}/serve`,
      "--run-name",
      "batchnorm",
    ], {
      signal: stop.signal,
      onServe(url) {
        watching = (async () => {
          const page = await (await fetch(url)).text();
          const res = await fetch(`${url}events`);
          const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
          const labels = new Set<string>();
          let text = "", records = 0, done = false;
          while (!done) {
            const { value, done: end } = await reader.read();
            if (end) break;
            text += value;
            for (let cut = text.indexOf("\n\n"); cut >= 0; cut = text.indexOf("\n\n")) {
              const message = text.slice(0, cut);
              text = text.slice(cut + 2);
              if (message.startsWith("event: done")) done = true;
              const data = /^data: (.*)$/m.exec(message)?.[1];
              if (data && !message.startsWith("event:")) {
                for (const r of JSON.parse(data) as { label?: string }[]) {
                  records++;
                  if (r.label) labels.add(r.label);
                }
              }
            }
          }
          await reader.cancel().catch(() => {});
          seen = { page, labels, records, done };
        })();
      },
    });
    // The runs finish, then the command keeps serving until stopped.
    while (watching === undefined) await new Promise((r) => setTimeout(r, 20));
    await watching;
    stop.abort();
    const r = await finished;
    assertEquals(r.code, 0, r.err.join("\n"));
    assertMatch(r.out[0], /^experiment: live view at http:\/\/127\.0\.0\.1:\d+\/$/);
    assertStringIncludes(r.out.join("\n"), "serving the final report");
    assert(seen !== undefined && seen.done, "the event stream did not end");
    assertInPage(seen.page, "(live)");
    assertEquals(seen.labels, new Set(["baseline", "batchnorm"]));
    const logs = await readOutput(`${root}/serve/batchnorm`);
    assertEquals(seen.records, [...logs.runs.values()].reduce((n, rs) => n + rs.length, 0));
    assert(!logs.html.includes("(live)"), "the final report replaced the live page");
  },
});

Deno.test("clean up", async () => {
  await Deno.remove(root, { recursive: true });
});
