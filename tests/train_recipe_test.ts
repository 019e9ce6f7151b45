/**
 * `deno task train` beyond the course: `--model SPEC|FILE` (a Sequential
 * net), `--weight-scale kaiming`, `--augment`, `--lr-schedule`, `--nesterov`
 * and `--weight-decay`: their mistakes are one line naming the flag (exit
 * code 2), they are part of the run's identity (its name) without renaming
 * the course's runs, they reach the Solver as the cifar10 experiment's recipe,
 * and a Sequential run killed mid-way resumes to the uninterrupted result.
 */

import { assert, assertEquals, assertNotEquals, assertStringIncludes } from "@std/assert";
import { buildModel, estimateTrainingBytes, sequentialModel } from "../layers/models/model_spec.ts";
import { Sequential } from "../layers/models/sequential.ts";
import { RandomState } from "../layers/random.ts";
import { CIFAR10_MODEL, CIFAR10_NET, CIFAR10_SOLVER } from "../pipeline/commands/experiments/cifar10.ts";
import { defaultRunName, main, parseTrainArgs, trainingSpec, usage } from "../pipeline/commands/train.ts";
import { type Checkpoint, loadCheckpoint } from "../pipeline/store/checkpoint.ts";
import type { TrainRecord } from "../pipeline/store/records.ts";
import { readRunLog } from "../pipeline/store/run_log.ts";
import { finished, trainChild } from "./_train_child.ts";

async function run(args: string[]) {
  const out: string[] = [], err: string[] = [];
  const code = await main(args, {
    out: (l) => out.push(l),
    err: (l) => err.push(l),
    progress: new WritableStream(),
    terminal: false,
  });
  return { code, out, err };
}

/** The recipe as the README gives it: the net, Kaiming, Nesterov, decay, one-cycle, augmentation. */
const RECIPE_FLAGS = [
  ...["--model", CIFAR10_NET, "--weight-scale", "kaiming", "--update-rule", "sgd-momentum", "--nesterov"],
  ...["--weight-decay", "5e-4", "--learning-rate", "0.1", "--lr-schedule", "onecycle", "--augment", "flip,crop4"],
  ...["--batch-size", "128", "--epochs", "8", "--shuffle"],
];

Deno.test("train: recipe-flag mistakes are one line naming the flag, exit code 2", async () => {
  const cases: [string[], string][] = [
    [["--model", "conv8x3-bn-relu,affine10"], 'train: --model: block 1 "conv8x3-bn-relu": bn needs features (N, D)'],
    [
      ["--model", "conv8x3-relu-pool2,affine7"],
      "train: --model: the spec ends with affine7 but the data has 10 classes",
    ],
    [["--model", "missing/net.json"], "train: --model missing/net.json: no such file"],
    [
      ["--weight-scale", "kaiming"],
      "train: --weight-scale kaiming applies to a Sequential net (--model SPEC), not --model fc",
    ],
    [["--weight-scale", "big"], 'train: --weight-scale expects a number ≥ 0, or kaiming, got "big"'],
    [["--nesterov"], "train: --nesterov needs --update-rule sgd-momentum, not adam"],
    [["--nesterov", "--update-rule", "sgd"], "train: --nesterov needs --update-rule sgd-momentum, not sgd"],
    [
      ["--weight-decay", "1e-3", "--update-rule", "rmsprop"],
      "train: --weight-decay applies to sgd, sgd-momentum and adam",
    ],
    [["--weight-decay", "x"], 'train: --weight-decay expects a number ≥ 0, got "x"'],
    [
      ["--augment", "mirror"],
      "train: --augment expects flip, cropP (P > 0 pixels of padding) or both, comma-separated",
    ],
    [["--augment", "flip,flip"], "train: --augment expects flip, cropP"],
    [["--lr-schedule", "warmup"], "train: --lr-schedule expects step:size=N[,gamma=G] | cosine[:min=LR][,steps=T]"],
    [["--lr-schedule", "step:gamma=0.5"], "train: --lr-schedule expects"],
    [
      ["--lr-schedule", "onecycle", "--epochs", "1", "--num-train", "100", "--batch-size", "50"],
      "train: --lr-schedule onecycle does not fit the run's 2 steps",
    ],
    [["--nesterov=yes"], "train: --nesterov takes no value"],
  ];
  for (const [args, line] of cases) {
    const r = await run(args);
    assertEquals([r.code, r.err.length, r.out], [2, 1, []], args.join(" "));
    assertStringIncludes(r.err[0], line, args.join(" "));
    assert(!r.err[0].includes("\n"), "one line");
  }
});

Deno.test("train --help lists the recipe flags", () => {
  const text = usage();
  for (const s of ["--model fc|cnn|SPEC|FILE", "--weight-scale S|kaiming", "--augment flip,cropP", "--lr-schedule"]) {
    assertStringIncludes(text, s);
  }
  for (const s of ["--nesterov", "--weight-decay WD", "onecycle[:pct=P]"]) assertStringIncludes(text, s);
});

Deno.test("train: the recipe flags give the cifar10 experiment's model and Solver settings", () => {
  const spec = trainingSpec(parseTrainArgs(RECIPE_FLAGS, { memoryBytes: null })!.config);
  assertEquals(spec.model, CIFAR10_MODEL);
  const { momentum: _m, ...decay } = CIFAR10_SOLVER.optimConfig!; // sgdNesterov's default momentum is 0.9
  assertEquals(spec.solver, { ...CIFAR10_SOLVER, optimConfig: decay, lrDecay: 1 });
});

Deno.test("train: a Sequential net from a JSON file is the same run as its compact spec", async () => {
  const dir = await Deno.makeTempDir({ prefix: "gradstream_recipe_" });
  try {
    const file = `${dir}/net.json`;
    await Deno.writeTextFile(file, JSON.stringify({ blocks: [["conv8x3", "sbn", "relu", "pool2"], "affine10"] }));
    const fromFile = parseTrainArgs(["--model", file], { memoryBytes: null })!.config;
    const fromText = parseTrainArgs(["--model", "conv8x3-sbn-relu-pool2,affine10"], { memoryBytes: null })!.config;
    assertEquals(fromFile, fromText);
    assertEquals(fromFile.spec, "conv8x3-sbn-relu-pool2,affine10");
    assertEquals(await defaultRunName(fromFile), await defaultRunName(fromText));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("train: the recipe flags are part of the run's name; the course's runs keep theirs", async () => {
  const name = async (args: string[]) => await defaultRunName(parseTrainArgs(args, { memoryBytes: null })!.config);
  // The names these runs had before the recipe flags existed.
  assertEquals(await name([]), "fc-sample-b4b37e45");
  assertEquals(await name(["--model", "cnn"]), "cnn-sample-b77a0c69");
  const recipe = await name(RECIPE_FLAGS);
  // Settings past 80 characters are left to the hash (here the weight decay).
  assert(recipe.startsWith("seq6-sample-sgd-momentum-lr0.1-b128-e8-shuffle-aug-flip-crop4-onecycle-nesterov-"), recipe);
  const variants = [
    ["--augment", "flip"],
    ["--lr-schedule", "cosine"],
    ["--weight-decay", "1e-3"],
    ["--weight-scale", "0.01"],
    ["--model", CIFAR10_NET.replace("affine10", "drop0.1-affine10")],
  ];
  const names = new Set([recipe]);
  for (const v of variants) {
    const i = RECIPE_FLAGS.indexOf(v[0]);
    names.add(await name([...RECIPE_FLAGS.slice(0, i), ...v, ...RECIPE_FLAGS.slice(i + 2)]));
  }
  names.add(await name(RECIPE_FLAGS.filter((f) => f !== "--nesterov")));
  assertEquals(names.size, variants.length + 2, "every recipe setting changes the name");
  // Spellings of the same settings name the same run.
  const respelled = RECIPE_FLAGS.map((f) => f === "flip,crop4" ? "crop4,flip" : f === "5e-4" ? "0.0005" : f);
  assertEquals(await name(respelled), recipe);
});

Deno.test("buildModel builds a Sequential spec as Sequential itself does, and estimates its memory from its shapes", () => {
  const spec = sequentialModel("conv4x3-sbn-relu-pool2,affine10", { weightScale: "kaiming", reg: 1e-3 });
  const input = { inputShape: [3, 8, 8], numClasses: 10, dtype: "float32" as const };
  const built = buildModel(spec, { ...input, random: new RandomState(3) });
  const direct = new Sequential(spec.spec, {
    inputDim: [3, 8, 8],
    weightScale: "kaiming",
    reg: 1e-3,
    random: new RandomState(3),
  });
  assert(built instanceof Sequential);
  assertEquals(built.reg, 1e-3);
  for (const k of Object.keys(direct.params)) assertEquals(built.params[k].data, direct.params[k].data, k);
  // Parameters: W1 (4·3·3·3), b1, gamma1, beta1 (4 each), W2 (4·4·4 × 10), b2 (10), five copies of float32.
  const bytes = estimateTrainingBytes(spec, { ...input, batchSize: 2 });
  assertEquals(bytes.parameters, 5 * 4 * (108 + 12 + 640 + 10));
  assertEquals(bytes.largestTensor, 640);
  assertNotEquals(bytes.activations, 0);
});

const RESUME_FLAGS = [
  ...["--model", "conv6x3-sbn-relu-pool2,conv8x3-sbn-relu-pool2,affine16-bn-relu-drop0.2,affine10"],
  ...["--weight-scale", "kaiming", "--update-rule", "sgd-momentum", "--nesterov", "--weight-decay", "5e-4"],
  ...["--learning-rate", "0.05", "--lr-schedule", "onecycle", "--augment", "flip,crop2", "--shuffle"],
  ...["--num-train", "100", "--num-val", "50", "--batch-size", "20", "--epochs", "12", "--gemm", "ts"],
  ...["--quiet", "--run-name", "r"],
];

/** A training process of this test's run: RESUME_FLAGS, then `--out out` and `extra`. */
const child = (out: string, extra: string[] = []) => trainChild(RESUME_FLAGS, out, extra);

function timeless(records: TrainRecord[]): unknown[] {
  return records.filter((r) => r.kind !== "start").map((r) => {
    const { elapsedMs: _e, examplesPerSec: _x, wallMs: _w, ...rest } = r as unknown as Record<string, unknown>;
    return rest;
  });
}

Deno.test({
  name:
    "train: a Sequential run with the recipe flags, killed after its first checkpoint, resumes to the uninterrupted result",
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "gradstream_recipe_resume_" });
    try {
      const full = child(`${dir}/full`);
      const victim = child(`${dir}/killed`);
      const ckpt = `${dir}/killed/r/checkpoint.safetensors`;
      let first: Checkpoint | null = null;
      for (let i = 0; i < 3000 && first === null; i++) {
        await new Promise((r) => setTimeout(r, 10));
        first = await loadCheckpoint(ckpt).catch(() => null);
      }
      assert(first !== null, "no checkpoint appeared");
      victim.kill("SIGKILL");
      const killed = await finished(victim);
      assertEquals(killed.signal, "SIGKILL", `the child ended before the kill: ${killed.stderr}`);
      const atKill = await loadCheckpoint(ckpt);
      assert(atKill.snapshot.epoch < 12, "killed before the end");
      const resumed = await finished(child(`${dir}/killed`, ["--resume"]));
      assertEquals(resumed.code, 0, resumed.stderr);
      assertEquals((await finished(full)).code, 0);

      const a = (await loadCheckpoint(`${dir}/full/r/checkpoint.safetensors`)).snapshot;
      const b = (await loadCheckpoint(ckpt)).snapshot;
      assertEquals(b.iteration, 60);
      for (const k of Object.keys(a.params)) assertEquals(b.params[k].data, a.params[k].data, k);
      for (const k of Object.keys(a.modelState)) assertEquals(b.modelState[k].data, a.modelState[k].data, k);
      assertEquals([b.lossHistory, b.valAccHistory], [a.lossHistory, a.valAccHistory]);
      const logA = await readRunLog(`${dir}/full/r/run.ndjson`);
      const logB = await readRunLog(`${dir}/killed/r/run.ndjson`);
      assertEquals(timeless(logB), timeless(logA));
      // The run's description names the recipe.
      const start = logA.find((r) => r.kind === "start");
      const model = (start?.kind === "start" ? start.run?.model : undefined) as Record<string, unknown> | undefined;
      assertEquals([model?.augment, model?.lrSchedule, model?.nesterov], ["flip,crop2", "onecycle", true]);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
