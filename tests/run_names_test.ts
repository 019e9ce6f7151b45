/**
 * Default run names (pipeline/commands/run_names.ts) and the per-model
 * defaults they are read against (pipeline/commands/model_defaults.ts).
 */

import { assertEquals, assertMatch, assertNotEquals } from "@std/assert";
import { readableRunName, settingsHash, shortNumber } from "../pipeline/commands/run_names.ts";
import { defaultsText, MODEL_DEFAULTS, TRAIN_NAME_SPELLINGS } from "../pipeline/commands/model_defaults.ts";

const fcDefaults = { model: "fc", ...MODEL_DEFAULTS.fc, lrDecay: 1, numTrain: null, numVal: null, seed: 0 };

function fcName(changes: Record<string, unknown>) {
  return readableRunName({
    prefix: ["fc", "sample"],
    settings: { ...fcDefaults, ...changes },
    defaults: fcDefaults,
    spellings: TRAIN_NAME_SPELLINGS,
  });
}

Deno.test("a run name reads as the settings that differ from the model's defaults, then a hash of all of them", async () => {
  assertMatch(await fcName({}), /^fc-sample-[0-9a-f]{8}$/);
  assertMatch(
    await fcName({ dropout: 0.1, learningRate: 2e-3, hiddenDims: [16, 16], normalization: "none", seed: 1 }),
    /^fc-sample-h16x2-no-norm-dropout0\.1-lr2e-3-s1-[0-9a-f]{8}$/,
  );
  assertMatch(
    await fcName({ hiddenDims: [64, 32], updateRule: "sgd-momentum", shuffle: true }),
    /^fc-sample-h64-32-sgd-momentum-shuffle-/,
  );
});

Deno.test("the same settings give the same name whatever their order; other settings another hash", async () => {
  const a = await settingsHash({ x: 1, y: [1, 2], z: { p: 1, q: 2 } });
  assertEquals(await settingsHash({ z: { q: 2, p: 1 }, y: [1, 2], x: 1 }), a);
  assertNotEquals(await settingsHash({ x: 1, y: [2, 1], z: { p: 1, q: 2 } }), a);
  // A setting without a spelling (dtype is spelled, "extra" is not) still changes the name through the hash.
  assertNotEquals(await fcName({ extra: 1 }), await fcName({}));
});

Deno.test("a long readable part is cut at a dash before the hash", async () => {
  const name = await readableRunName({
    prefix: ["exp"],
    settings: { a: "x".repeat(50), b: "y".repeat(50) },
    defaults: {},
    spellings: [{ key: "a", short: "a" }, { key: "b", short: "b" }],
    maxLength: 60,
  });
  assertMatch(name, /^exp-ax{50}-[0-9a-f]{8}$/);
});

Deno.test("names hold only letters, digits, dot, underscore and dash", async () => {
  const name = await readableRunName({
    prefix: ["fc", "cifar10"],
    settings: { tag: "a b/c" },
    defaults: {},
    spellings: [{ key: "tag", short: "" }],
  });
  assertMatch(name, /^fc-cifar10-a-b-c-[0-9a-f]{8}$/);
});

Deno.test("shortNumber writes a number as briefly as it reads", () => {
  assertEquals([1e-3, 5e-4, 0.02, 0.1, 1, 1e3, 1234.5].map(shortNumber), [
    "1e-3",
    "5e-4",
    "0.02",
    "0.1",
    "1",
    "1000",
    "1234.5",
  ]);
});

Deno.test("the convnet's defaults are the course's ThreeLayerConvNet; --help shows each model's values", () => {
  const { numFilters, filterSize, hiddenDim, weightScale, reg } = MODEL_DEFAULTS.cnn;
  assertEquals({ numFilters, filterSize, hiddenDim, weightScale, reg }, {
    numFilters: 32,
    filterSize: 7,
    hiddenDim: 100,
    weightScale: 1e-3,
    reg: 0,
  });
  assertEquals(MODEL_DEFAULTS.fc.weightScale, 2e-2);
  assertEquals(defaultsText("epochs"), "(default 10 for fc, 1 for cnn, 10 for SPEC)");
  assertEquals(defaultsText("numFilters"), "(default 32)");
});
