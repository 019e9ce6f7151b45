/**
 * The `train` command, run in-process through `main(args, io)`: flag
 * errors, --help, the files a run writes, a blown-up loss, bad checkpoints.
 */

import { assert, assertEquals, assertMatch, assertStringIncludes } from "@std/assert";
import { loadCheckpoint } from "../pipeline/store/checkpoint.ts";
import { readRunLog } from "../pipeline/store/run_log.ts";
import { main, parseTrainArgs, TRAIN_DEFAULTS, usage } from "../pipeline/commands/train.ts";

async function run(args: string[]) {
  const out: string[] = [], err: string[] = [];
  const progress: string[] = [];
  const decoder = new TextDecoder();
  const code = await main(args, {
    out: (l) => out.push(l),
    err: (l) => err.push(l),
    progress: new WritableStream({ write: (c) => void progress.push(decoder.decode(c)) }),
    terminal: false,
  });
  return { code, out, err, progress: progress.join("") };
}

Deno.test("train: a malformed or unknown flag is one line naming the flag, exit code 2", async () => {
  const cases: [string[], string][] = [
    [["--epochs", "ten"], 'train: --epochs expects a positive integer, got "ten"'],
    [["--epochs", "0"], 'train: --epochs expects a positive integer, got "0"'],
    [["--batch-size", "2.5"], 'train: --batch-size expects a positive integer, got "2.5"'],
    [["--dropout", "1"], 'train: --dropout expects a probability of dropping a unit in [0, 1), got "1"'],
    [["--learning-rate", "fast"], 'train: --learning-rate expects a number ≥ 0, got "fast"'],
    [
      ["--model", "rnn"],
      'train: --model expects fc, cnn, a Sequential spec (conv32x3-sbn-relu-pool2,affine10) or a JSON file, got "rnn" ' +
      '(block 1 "rnn": unknown layer "rnn"; expected convFxK[sS][pP], affineM, relu, poolK[sS], bn, ln, sbn, gnG or dropP)',
    ],
    [
      ["--update-rule", "adagrad"],
      'train: --update-rule expects one of sgd, sgd-momentum, rmsprop, adam, got "adagrad"',
    ],
    [
      ["--normalization", "groupnorm"],
      'train: --normalization expects one of batchnorm, layernorm, none, got "groupnorm"',
    ],
    [
      ["--hidden-dims", "100,x"],
      'train: --hidden-dims expects comma-separated positive integers like 100,100, got "100,x"',
    ],
    [["--seed", "-1"], 'train: --seed expects a value; write --seed=VALUE for a value starting with "-"'],
    [["--seed=-1"], 'train: --seed expects an integer in [0, 2^32), got "-1"'],
    [["--model", "cnn", "--filter-size", "4"], 'train: --filter-size expects an odd positive integer, got "4"'],
    [["--filter-size", "3"], "train: --filter-size applies to --model cnn only (this run is --model fc)"],
    [["--model", "cnn", "--dropout", "0.5"], "train: --dropout applies to --model fc only (this run is --model cnn)"],
    [["--port", "8080"], "train: --port applies to --serve only (the live page's port)"],
    [["--serve", "--port", "70000"], 'train: --port expects a port number in [0, 65535] (0: a free one), got "70000"'],
    [["--check-every", "0"], 'train: --check-every expects a positive integer, got "0"'],
    [
      ["--resume", "--force"],
      "train: --resume and --force contradict each other: --resume keeps the run, --force replaces it",
    ],
    [["--frobnicate"], "train: unknown flag --frobnicate (see --help)"],
    [["--resume=yes"], "train: --resume takes no value"],
    [["--epochs"], "train: --epochs expects a value"],
    [["fast"], 'train: unexpected argument "fast"; flags start with -- (see --help)'],
  ];
  for (const [args, line] of cases) {
    const r = await run(args);
    assertEquals([r.code, r.err, r.out], [2, [line], []], args.join(" "));
  }
});

Deno.test("train --help prints usage with each model's defaults, exit code 0", async () => {
  const r = await run(["--help"]);
  assertEquals(r.code, 0);
  assertEquals(r.out.join("\n"), usage().trimEnd());
  for (
    const s of [
      "--hidden-dims N,N,…",
      "(default 100,100,100,100,100)",
      "(default adam)",
      "(default 0.02 for fc, 0.001 for cnn, kaiming for SPEC)",
      "(default 10 for fc, 1 for cnn, 10 for SPEC)",
      "ThreeLayerConvNet: 32 filters 7×7, hidden 100, weight scale 0.001, reg 0",
      "--resume",
      "--force",
      "--check-every N",
      "--serve",
    ]
  ) {
    assertStringIncludes(r.out[0], s);
  }
  assertEquals(parseTrainArgs([])!.config.hiddenDims, TRAIN_DEFAULTS.hiddenDims);
});

Deno.test("train: a flag left out takes its model's default; --num-train the dataset's whole training split", () => {
  const cnn = parseTrainArgs(["--model", "cnn"])!.config;
  assertEquals(
    [cnn.weightScale, cnn.hiddenDim, cnn.numFilters, cnn.filterSize, cnn.reg, cnn.epochs, cnn.numTrain],
    [1e-3, 100, 32, 7, 0, 1, 1000],
  );
  const fc = parseTrainArgs([])!.config;
  assertEquals([fc.weightScale, fc.epochs, fc.numTrain], [2e-2, 10, 1000]);
  const cifar = parseTrainArgs(["--model", "cnn", "--dataset", "cifar10:/nowhere"], { memoryBytes: null })!.config;
  assertEquals(cifar.numTrain, 49000);
  assertEquals(parseTrainArgs(["--model", "cnn", "--weight-scale", "0.01"])!.config.weightScale, 0.01);
});

Deno.test("train writes its run log and checkpoint under --out and prints where, with course progress lines", async () => {
  const dir = await Deno.makeTempDir({ prefix: "gradstream_cli_" });
  try {
    const r = await run([
      "--hidden-dims",
      "16,16",
      "--dropout",
      "0.1",
      "--num-train",
      "100",
      "--num-val",
      "50",
      "--epochs",
      "2",
      "--batch-size",
      "25",
      "--print-every",
      "3",
      "--gemm",
      "ts",
      "--out",
      dir,
    ]);
    assertEquals([r.code, r.err], [0, []]);
    const runDir = /^train: (\S+) \(cifar10-sample, 100 training examples; gemm ts/.exec(r.out[0])?.[1];
    // The name reads as the settings that differ from the fc defaults, then a hash of all of them.
    assertMatch(runDir ?? "", new RegExp(`^${dir}/fc-sample-h16x2-dropout0\\.1-b25-e2-n100-nval50-[0-9a-f]{8}$`));
    assertEquals(r.out[1], `train: run log ${runDir}/run.ndjson`);
    assertEquals(r.out[2], `train: checkpoint ${runDir}/checkpoint.safetensors`);
    assertMatch(r.out[3], /^train: final train acc 0\.\d{3}, val acc 0\.\d{3}, best val acc 0\.\d{3}; /);
    const lines = r.progress.split("\n");
    assertMatch(lines[0], /^\(Iteration 1 \/ 8\) loss: \d\.\d{6}$/);
    assertMatch(lines[1], /^\(Epoch 0 \/ 2\) train acc: 0\.\d{6}; val_acc: 0\.\d{6}$/);
    assertMatch(lines[2], /^\(Iteration 4 \/ 8\) loss: /);
    const records = await readRunLog(`${runDir}/run.ndjson`);
    assertEquals(records.map((x) => x.kind).filter((k) => k !== "iteration"), [
      "start",
      "epoch",
      "epoch",
      "epoch",
      "end",
    ]);
    const start = records[0];
    assert(start.kind === "start");
    assertEquals(start.run.model, {
      model: "fc",
      reg: 0,
      weightScale: 0.02,
      dtype: "float32",
      updateRule: "adam",
      learningRate: 0.001,
      lrDecay: 1,
      epochs: 2,
      batchSize: 25,
      numTrain: 100,
      numVal: 50,
      dataset: "sample",
      seed: 0,
      shuffle: false,
      hiddenDims: [16, 16],
      normalization: "batchnorm",
      dropout: 0.1,
    });
    const { snapshot } = await loadCheckpoint(`${runDir}/checkpoint.safetensors`);
    assertEquals([snapshot.iteration, snapshot.epoch], [8, 2]);

    // Resuming a finished run keeps it as it is (its report redone) and says so.
    const logBefore = await Deno.readTextFile(`${runDir}/run.ndjson`);
    const again = await run([
      ...["--hidden-dims", "16,16", "--dropout", "0.1", "--num-train", "100", "--num-val", "50", "--epochs", "2"],
      ...["--batch-size", "25", "--print-every", "3", "--gemm", "ts", "--out", dir, "--resume"],
    ]);
    assertEquals(again.code, 0, again.err.join("\n"));
    assertEquals(again.out[0], `train: ${runDir} holds a finished run: kept as it is (--resume)`);
    assertStringIncludes(again.out.join("\n"), `train: report ${runDir}/report.html`);
    assertEquals(await Deno.readTextFile(`${runDir}/run.ndjson`), logBefore);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

const blowUp = [
  ...["--normalization", "none", "--hidden-dims", "10", "--update-rule", "sgd", "--learning-rate", "1e3"],
  ...[
    "--lr-decay",
    "1e6",
    "--num-train",
    "50",
    "--num-val",
    "50",
    "--batch-size",
    "50",
    "--epochs",
    "20",
    "--gemm",
    "ts",
  ],
];

Deno.test("train: a loss that becomes NaN stops with the iteration and loss named and keeps the last good checkpoint", async () => {
  const dir = await Deno.makeTempDir({ prefix: "gradstream_cli_" });
  try {
    const r = await run([...blowUp, "--out", dir, "--run-name", "boom"]);
    assertEquals(r.code, 1);
    assertEquals(r.err.length, 1);
    assertMatch(
      r.err[0],
      /^train: training stopped: (loss is (NaN|-?Infinity) at iteration (\d+)|parameter \w+ is not finite after iteration \d+) \(during epoch \d+\); the last good checkpoint \(iteration \d+, epoch \d+\) is kept at .*boom\/checkpoint\.safetensors$/,
    );
    assertStringIncludes(r.progress, "(Stopped)");
    const { snapshot } = await loadCheckpoint(`${dir}/boom/checkpoint.safetensors`);
    for (const t of Object.values(snapshot.params)) assert(t.data.every(Number.isFinite));
    const kept = Number(/\(iteration (\d+), epoch/.exec(r.err[0])![1]);
    assertEquals(snapshot.iteration, kept);
    const log = await readRunLog(`${dir}/boom/run.ndjson`);
    assertEquals(log.at(-1)!.kind, "stopped");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("train --resume with a corrupt, missing or foreign checkpoint fails with a clear message", async () => {
  const dir = await Deno.makeTempDir({ prefix: "gradstream_cli_" });
  try {
    const small = [
      ...["--hidden-dims", "8", "--num-train", "50", "--num-val", "50", "--epochs", "1", "--gemm", "ts", "--quiet"],
      ...["--out", dir, "--run-name", "r"],
    ];
    const missing = await run([...small, "--resume"]);
    assertEquals([missing.code, missing.err], [1, [`train: ${dir}/r/checkpoint.safetensors: no checkpoint there`]]);

    assertEquals((await run(small)).code, 0);
    const other = await run([...small.map((a) => (a === "8" ? "9" : a)), "--resume"]);
    assertEquals(other.code, 1);
    assertMatch(other.err[0], /^train: .*\/r: holds another run: its model is .*"hiddenDims":\[8\]/);

    const path = `${dir}/r/checkpoint.safetensors`;
    const bytes = await Deno.readFile(path);
    bytes[10] = 0x7b; // "{" inside the JSON header
    bytes[11] = 0x7b;
    await Deno.writeFile(path, bytes);
    // Unfinished (no end record), so that --resume reads the checkpoint rather than keeping the run.
    const log = `${dir}/r/run.ndjson`;
    const lines = (await Deno.readTextFile(log)).trimEnd().split("\n");
    await Deno.writeTextFile(log, lines.filter((l) => !l.includes('"kind":"end"')).join("\n") + "\n");
    const corrupt = await run([...small, "--resume"]);
    assertEquals(corrupt.code, 1);
    assertMatch(corrupt.err[0], /^train: .*checkpoint\.safetensors: not a readable checkpoint: /);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("train as a real process: a bad flag exits with code 2 and one line on stderr", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-read",
      "--allow-env",
      new URL("../pipeline/commands/train.ts", import.meta.url).pathname,
      "--epochs",
      "ten",
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assertEquals(out.code, 2);
  assertEquals(new TextDecoder().decode(out.stderr), 'train: --epochs expects a positive integer, got "ten"\n');
  assertEquals(out.stdout.length, 0);
});

Deno.test("train: --run-name must be a plain name (no '.', '..', slashes, leading dots or control characters)", async () => {
  for (const name of [".", "..", "a/b", "../x", ".hidden", "a\u0001b", "x".repeat(201)]) {
    const r = await run(["--run-name", name]);
    assertEquals([r.code, r.err.length, r.out], [2, 1, []], JSON.stringify(name));
    assertStringIncludes(r.err[0], "train: --run-name expects a plain name");
  }
});

Deno.test("train: sizes that cannot fit are refused with one line naming the flag and the limit, exit code 2", async () => {
  const cases: [string[], string][] = [
    [["--hidden-dims", "99999999999"], "train: --hidden-dims 99999999999 is more than 2147483647 (the most elements"],
    [["--hidden-dim", "99999999999", "--model", "cnn"], "train: --hidden-dim 99999999999 is more than 2147483647"],
    [["--batch-size", "2000"], "train: --batch-size 2000 is larger than the training set (--num-train 1000)"],
    [["--num-train", "5000"], "train: --num-train 5000 is more than the sample's 1000 training images"],
    [["--hidden-dims", "60000,60000"], "train: --hidden-dims: a weight of 3600000000 elements is more than 2147483647"],
  ];
  for (const [args, line] of cases) {
    const r = await run(args);
    assertEquals([r.code, r.err.length, r.out], [2, 1, []], args.join(" "));
    assertStringIncludes(r.err[0], line);
  }
});

Deno.test("train: a model whose parameters and activations exceed the memory is refused before loading, exit code 2", async () => {
  const out: string[] = [], err: string[] = [];
  const code = await main([], { out: (l) => out.push(l), err: (l) => err.push(l), memoryBytes: 2 ** 20 });
  assertEquals([code, out], [2, []]);
  assertMatch(
    err[0],
    /^train: --hidden-dims: training this model needs about [\d.]+ GiB, more than this machine's 0\.0 GiB/,
  );
});

const memoryVisible = Deno.permissions.querySync({ name: "sys", kind: "systemMemoryInfo" }).state === "granted";

Deno.test(
  `train: a model larger than the machine's memory is refused before loading${
    memoryVisible ? "" : " (skipped: no --allow-sys=systemMemoryInfo)"
  }`,
  { ignore: !memoryVisible },
  async () => {
    // Thirty layers of 40,000 units: each weight fits a typed array, all of them together need about a terabyte.
    const huge = await run(["--hidden-dims", Array(30).fill(40000).join(",")]);
    assertEquals([huge.code, huge.err.length], [2, 1]);
    assertMatch(
      huge.err[0],
      /^train: --hidden-dims: training this model needs about [\d.]+ GiB, more than this machine's/,
    );
  },
);

Deno.test("train: an unknown --dataset is a command-line mistake (exit code 2), as in experiment", async () => {
  const r = await run(["--dataset", "foo"]);
  assertEquals([r.code, r.err], [2, [
    'train: --dataset expects sample | cifar10:DIR | fashion-mnist | fashion-mnist:DIR | mnist:DIR, got "foo"',
  ]]);
});
