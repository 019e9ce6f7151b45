/**
 * The `cifar10` recipe in gradstream and in PyTorch, one after the other on
 * this machine, and one table: validation and test accuracy, wall time of the
 * training loop (accuracy checks included, data loading not), images per
 * second, and the ratio of the wall times.
 *
 * ```sh
 * deno run -A bench/cifar10_compare.ts [--data ../shared/datasets/cifar-10-batches-bin] [--epochs 8]
 *     [--num-train 49000] [--threads 2] [--out out/cifar10-compare] [--skip-torch] [--skip-gradstream]
 * ```
 *
 * gradstream runs the experiment's full task (`pipeline/commands/experiments/cifar10.ts`, what
 * `deno task experiment cifar10 --dataset cifar10:DIR` runs) in this process, writing to `<out>/gradstream/`
 * its task (`task.json`) and the run's folder (run log, checkpoint every epoch, `result.json`) and the
 * experiment's report (`report.html`). Run again after an interruption, it resumes from the checkpoint; run
 * again after it finished, it keeps the run and evaluates its checkpoint (a different task is refused: pass
 * another `--out`). PyTorch runs
 * `bench/cifar10_torch.py` (`/usr/bin/python3`, `torch.set_num_threads(threads)`), whose JSON goes to
 * `<out>/torch.json`. gradstream's `blas` products use two threads where OpenBLAS is there.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { exists } from "../datasets/records.ts";
import { describeGemmBackend, useGemmBackend } from "../layers/kernels/gemm_backends.ts";
import { cifar10Experiment, cifar10Task, trainingSpeed } from "../pipeline/commands/experiments/cifar10.ts";
import type { ExperimentOutcome } from "../pipeline/commands/experiments/common.ts";
import { executeTask, type TaskResult } from "../pipeline/commands/experiments/tasks.ts";
import { writeFileAtomic } from "../pipeline/store/atomic_write.ts";
import { readRunLog } from "../pipeline/store/run_log.ts";
import { writeReport } from "../reports/render.ts";
import { summarizeRun } from "../reports/run_data.ts";

const PYTHON = "/usr/bin/python3";

/** One side's figures, as the table shows them. */
interface Figures {
  finalValAcc: number | null;
  bestValAcc: number | null;
  testAcc: number | null;
  wallMs: number | null;
  imagesPerSec: number | null;
  epochs: number;
  firstEpochValAcc: number | null;
}

const { values } = parseArgs({
  args: Deno.args,
  options: {
    data: { type: "string" },
    epochs: { type: "string" },
    "num-train": { type: "string" },
    threads: { type: "string", default: "2" },
    out: { type: "string", default: "out/cifar10-compare" },
    "skip-torch": { type: "boolean" },
    "skip-gradstream": { type: "boolean" },
  },
});
const data = values.data ?? new URL("../../shared/datasets/cifar-10-batches-bin", import.meta.url).pathname;
const epochs = values.epochs === undefined ? undefined : Number(values.epochs);
const numTrain = values["num-train"] === undefined ? undefined : Number(values["num-train"]);
const out = values.out.replace(/\/+$/, "");
const options = { dataset: `cifar10:${data}`, quick: false, seed: 0, epochs, numTrain };
const task = await cifar10Task(options);

async function gradstream(): Promise<Figures> {
  const dir = `${out}/gradstream`;
  await Deno.mkdir(dir, { recursive: true });
  const paths = { task: `${dir}/task.json`, log: `${dir}/run.ndjson` };
  const taskText = JSON.stringify(task, null, 1);
  if (await exists(paths.task)) {
    const before = JSON.stringify(JSON.parse(await Deno.readTextFile(paths.task)), null, 1);
    if (before !== taskText) {
      throw new Error(`cifar10_compare: ${paths.task} holds another task; pass another --out or remove ${dir}`);
    }
  } else await writeFileAtomic(paths.task, taskText + "\n");
  useGemmBackend("auto");
  console.error(`gradstream: ${dir} · gemm ${describeGemmBackend()}`);
  // The run's folder keeps a finished run, continues an interrupted one from its checkpoint, or starts it.
  const result: TaskResult = await executeTask(
    task,
    () => {},
    { dir, resume: true, force: false, elsewhere: "--out DIR" },
    { verbose: true, printEvery: 50 },
  );
  for (const line of result.notices ?? []) console.error(`gradstream: ${line}`);
  const records = await readRunLog(paths.log);
  const outcome: ExperimentOutcome = {
    options,
    tasks: [task],
    runs: [{ label: task.label, records }],
    results: new Map([[task.label, result]]),
    wallMs: result.wallMs,
    workers: 1,
    gemm: describeGemmBackend(),
  };
  const { report } = await cifar10Experiment.report(outcome);
  await writeReport(`${dir}/report.html`, report);
  console.error(`gradstream: report ${dir}/report.html`);
  const summary = summarizeRun({ label: task.label, records });
  const { wallMs, imagesPerSec } = trainingSpeed(outcome);
  const firstEpoch = records.find((r) => r.kind === "epoch" && r.epochEnd);
  return {
    finalValAcc: summary.finalValAcc ?? null,
    bestValAcc: summary.bestValAcc ?? null,
    testAcc: result.evaluation?.split === "test" ? result.evaluation.accuracy : null,
    wallMs,
    imagesPerSec,
    epochs: task.solver.numEpochs,
    firstEpochValAcc: firstEpoch?.kind === "epoch" ? firstEpoch.valAcc : null,
  };
}

async function torch(): Promise<Figures> {
  const threads = values.threads;
  const args = [
    new URL("./cifar10_torch.py", import.meta.url).pathname,
    ...["--data", data, "--epochs", String(task.solver.numEpochs), "--num-train", String(task.data.numTrain)],
    ...["--batch-size", String(task.solver.batchSize), "--threads", threads, "--seed", String(task.seed)],
  ];
  const env = { OMP_NUM_THREADS: threads, OPENBLAS_NUM_THREADS: threads, MKL_NUM_THREADS: threads };
  const child = new Deno.Command(PYTHON, { args, env, stdout: "piped", stderr: "inherit" }).spawn();
  let last = "";
  for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
    for (const line of chunk.split("\n")) {
      if (line.startsWith("{")) last = line;
      else if (line.trim() !== "") console.error(line);
    }
  }
  const { code } = await child.status;
  if (code !== 0 || last === "") throw new Error(`cifar10_compare: ${PYTHON} ${args[0]} failed (exit code ${code})`);
  await writeFileAtomic(`${out}/torch.json`, last + "\n");
  const r = JSON.parse(last);
  const firstEpoch = r.history.find((h: { epoch: number; iteration: number }) => h.epoch === 1);
  return {
    finalValAcc: r.finalValAcc,
    bestValAcc: r.bestValAcc,
    testAcc: r.testAcc,
    wallMs: r.wallMs,
    imagesPerSec: r.imagesPerSec,
    epochs: r.epochs,
    firstEpochValAcc: firstEpoch?.valAcc ?? null,
  };
}

let g: Figures | null = null, t: Figures | null = null;
try {
  g = values["skip-gradstream"] ? null : await gradstream();
  t = values["skip-torch"] ? null : await torch();
} catch (e) {
  console.error((e as Error).message.split("\n")[0]);
  Deno.exit(1);
}

const pct = (v: number | null | undefined) => v === null || v === undefined ? "n/a" : `${(100 * v).toFixed(2)} %`;
const min = (ms: number | null) => ms === null ? "n/a" : `${(ms / 60000).toFixed(1)} min`;
const rows: [string, (f: Figures) => string][] = [
  ["val acc after epoch 1", (f) => pct(f.firstEpochValAcc)],
  ["final val acc", (f) => pct(f.finalValAcc)],
  ["best val acc", (f) => pct(f.bestValAcc)],
  ["test acc (1,000 images)", (f) => pct(f.testAcc)],
  ["wall time (training loop)", (f) => min(f.wallMs)],
  ["images/s", (f) => f.imagesPerSec === null ? "n/a" : f.imagesPerSec.toFixed(1)],
];
console.log(
  `cifar10 recipe, ${task.solver.numEpochs} epochs of ${
    task.data.numTrain.toLocaleString("en-US")
  } images, batch ${task.solver.batchSize}:`,
);
console.log(`| ${"".padEnd(26)} | ${"gradstream".padEnd(10)} | ${"PyTorch".padEnd(10)} |`);
console.log(`| ${"-".repeat(26)} | ${"-".repeat(10)} | ${"-".repeat(10)} |`);
for (const [name, cell] of rows) {
  console.log(
    `| ${name.padEnd(26)} | ${(g ? cell(g) : "skipped").padEnd(10)} | ${(t ? cell(t) : "skipped").padEnd(10)} |`,
  );
}
if (g?.wallMs && t?.wallMs) {
  console.log(`wall-time ratio gradstream / PyTorch: ${(g.wallMs / t.wallMs).toFixed(2)} (target ≤ 1.0)`);
}
