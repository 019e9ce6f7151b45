/**
 * `--seeds K` (pipeline/commands/experiments/seeds.ts): each configuration
 * repeated with K seeds derived from its own, deterministically.
 */

import { assertEquals, assertNotEquals, assertThrows } from "@std/assert";
import { expandSeeds, replicateSeed, seededLabel } from "../pipeline/commands/experiments/seeds.ts";

const tasks = [
  { kind: "train", label: "baseline", seed: 0, lr: 1e-3 },
  { kind: "train", label: "batchnorm", seed: 0, lr: 1e-3 },
  { kind: "train", label: "other seed", seed: 42, lr: 1e-2 },
];

Deno.test("replicateSeed keeps the seed for replicate 0 and gives fixed, distinct 32-bit seeds after it", () => {
  assertEquals(replicateSeed(7, 0), 7);
  // Fixed values (checked against a Python rendering of the same mix): a change here changes every --seeds plan.
  assertEquals([1, 2, 3].map((r) => replicateSeed(0, r)), [2462723854, 1020716019, 454327756]);
  const seen = new Set<number>();
  for (const base of [0, 1, 2 ** 32 - 1]) {
    for (let r = 0; r < 200; r++) {
      const s = replicateSeed(base, r);
      assertEquals(Number.isInteger(s) && s >= 0 && s < 2 ** 32, true, `${base}/${r}: ${s}`);
      seen.add(s);
    }
  }
  assertEquals(seen.size, 600);
  assertThrows(() => replicateSeed(-1, 1), RangeError, "replicateSeed: base -1 is not an integer in [0, 2^32)");
  assertThrows(() => replicateSeed(0, 0.5), RangeError, "replicateSeed: replicate 0.5 is not a non-negative integer");
});

Deno.test("expandSeeds with K = 1 leaves the plan as it is", () => {
  const { tasks: out, groups } = expandSeeds(tasks, 1);
  assertEquals(out, tasks);
  assertEquals(groups.map((g) => g.runs), [["baseline"], ["batchnorm"], ["other seed"]]);
});

Deno.test("expandSeeds repeats each configuration K times in a row, replicate 0 with its own seed", () => {
  const { tasks: out, groups } = expandSeeds(tasks, 3);
  assertEquals(out.length, 9);
  assertEquals(out.map((t) => t.lr), [1e-3, 1e-3, 1e-3, 1e-3, 1e-3, 1e-3, 1e-2, 1e-2, 1e-2]);
  assertEquals(out.map((t) => t.seed).slice(0, 3), [0, replicateSeed(0, 1), replicateSeed(0, 2)]);
  assertEquals(out[6].seed, 42);
  assertEquals(out[0].label, seededLabel("baseline", 0));
  assertEquals(out[0].label, "baseline (seed 0)");
  assertEquals(new Set(out.map((t) => t.label)).size, 9);
  assertEquals(groups.map((g) => g.label), ["baseline", "batchnorm", "other seed"]);
  assertEquals(groups[2].seeds, out.slice(6).map((t) => t.seed));
  assertEquals(groups[2].runs, out.slice(6).map((t) => t.label));
  // Two configurations with the same seed get the same replicate seeds: only the configuration differs.
  assertEquals(groups[0].seeds, groups[1].seeds);
  assertNotEquals(groups[0].seeds, groups[2].seeds);
  assertEquals(tasks[0].label, "baseline", "the input is not changed");
});

Deno.test("expandSeeds refuses a bad K and, with K > 1, a task that has no seed", () => {
  for (const k of [0, 1.5, 1001]) {
    assertThrows(() => expandSeeds(tasks, k), RangeError, `expandSeeds: seeds ${k} is not an integer in [1, 1000]`);
  }
  assertThrows(
    () => expandSeeds([{ label: "affine" }], 2),
    RangeError,
    `expandSeeds: task "affine" has no seed to vary`,
  );
  assertEquals(expandSeeds([{ label: "affine" }], 1).tasks, [{ label: "affine" }]);
});
