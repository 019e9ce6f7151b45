/**
 * The sweep plan (pipeline/store/plan.ts): it reads back what it writes, and
 * every broken file is refused with its file, line and byte offset named.
 */

import { assertEquals, assertRejects, assertThrows } from "@std/assert";
import { formatPlan, parsePlan, type Plan, PlanError, readPlan, writePlan } from "../pipeline/store/plan.ts";

function plan(runs = 3): Plan {
  return {
    header: {
      kind: "plan",
      format: 1,
      experiment: "weight-scale",
      options: { dataset: "sample", quick: true, seed: 0, seeds: 1 },
      runs,
      out: "out/weight-scale",
    },
    runs: Array.from({ length: runs }, (_, i) => ({
      kind: "run" as const,
      index: i,
      name: `run ${i} σ=1e-${i}`,
      dir: `out/weight-scale/runs/run-${i}`,
      config: { kind: "train", label: `run ${i} σ=1e-${i}`, seed: i * 1000 },
    })),
  };
}

/** The plan's text with line `line` (1-based) replaced by `f` of its parsed JSON. */
function editLine(p: Plan, line: number, f: (o: Record<string, unknown>) => unknown): string {
  const lines = formatPlan(p).split("\n");
  lines[line - 1] = JSON.stringify(f(JSON.parse(lines[line - 1])));
  return lines.join("\n");
}

/** Asserts that parsing `text` fails at `line` with a message matching `problem`, naming the byte offset. */
function assertRefused(text: string, line: number, problem: RegExp): void {
  const e = assertThrows(() => parsePlan(text, "sweep.plan"), PlanError);
  assertEquals(e.line, line, e.message);
  const offset = new TextEncoder().encode(text.split("\n").slice(0, line - 1).map((l) => l + "\n").join("")).length;
  if (line > 0) assertEquals(e.message.startsWith(`sweep.plan:${line} (byte ${offset}): `), true, e.message);
  assertEquals(problem.test(e.message), true, e.message);
}

Deno.test("formatPlan writes a header line and one line per run, and parsePlan reads them back", () => {
  const text = formatPlan(plan());
  assertEquals(text.split("\n").length, 5);
  assertEquals(JSON.parse(text.split("\n")[2]).index, 1);
  assertEquals(parsePlan(text), plan());
  assertEquals(parsePlan(text.trimEnd()), plan(), "the final newline is optional");
});

Deno.test("a plan of no runs is a header alone", () => {
  assertEquals(parsePlan(formatPlan(plan(0))), plan(0));
});

Deno.test("parsePlan names the file, line and byte offset of a line that is not JSON", () => {
  const lines = formatPlan(plan()).split("\n");
  lines[2] = lines[2].slice(0, 20);
  assertRefused(lines.join("\n"), 3, /is not JSON/);
});

Deno.test("parsePlan refuses a file without a plan header, or of another format", () => {
  assertRefused(editLine(plan(), 1, (h) => ({ ...h, kind: "run" })), 1, /a plan starts with a "plan" header/);
  assertRefused(editLine(plan(), 1, (h) => ({ ...h, format: 2 })), 1, /has format 2; this build reads plan format 1/);
  assertRefused(editLine(plan(), 1, (h) => ({ ...h, options: [] })), 1, /"options" must be an object/);
  assertRefused(editLine(plan(), 1, (h) => ({ ...h, experiment: "" })), 1, /"experiment" must be a non-empty/);
  const e = assertThrows(() => parsePlan("", "sweep.plan"), PlanError);
  assertEquals(e.message, "sweep.plan: is empty; expected a plan header on line 1");
});

Deno.test("parsePlan refuses runs out of order, duplicated names or folders, and bad seeds", () => {
  assertRefused(editLine(plan(), 3, (r) => ({ ...r, index: 2 })), 3, /has index 2, expected 1 \(runs are numbered/);
  assertRefused(editLine(plan(), 4, (r) => ({ ...r, name: "run 0 σ=1e-0" })), 4, /is also run 0's/);
  assertRefused(
    editLine(plan(), 4, (r) => ({ ...r, dir: "out/weight-scale/runs/../runs/run-1" })),
    4,
    /folder "out\/weight-scale\/runs\/..\/runs\/run-1" is also run 1's/,
  );
  for (const seed of [-1, 1.5, 2 ** 32, "7"]) {
    assertRefused(
      editLine(plan(), 2, (r) => ({ ...r, config: { ...(r.config as object), seed } })),
      2,
      /"config.seed" is .*; expected an integer in \[0, 2\^32\)/,
    );
  }
  assertRefused(editLine(plan(), 2, (r) => ({ ...r, config: null })), 2, /"config" must be an object/);
});

Deno.test("parsePlan refuses a blank line in the middle and a file cut short", () => {
  const lines = formatPlan(plan()).split("\n");
  assertRefused([...lines.slice(0, 2), "", ...lines.slice(2)].join("\n"), 3, /is blank/);
  const e = assertThrows(() => parsePlan(lines.slice(0, 3).join("\n"), "sweep.plan"), PlanError);
  assertEquals(e.message, "sweep.plan: the header says 3 runs but 2 follow (the file is cut short?)");
});

Deno.test("byte offsets count UTF-8 bytes, not characters", () => {
  // Run names hold "σ" (2 bytes in UTF-8): the offset of line 4 must count them as such.
  assertRefused(editLine(plan(), 4, (r) => ({ ...r, kind: "other" })), 4, /expected a "run" line/);
});

Deno.test("writePlan writes atomically and readPlan names the file in its errors", async () => {
  const dir = await Deno.makeTempDir({ prefix: "gradstream-plan-" });
  try {
    await writePlan(`${dir}/sweep.plan`, plan());
    assertEquals(await readPlan(`${dir}/sweep.plan`), plan());
    assertEquals([...Deno.readDirSync(dir)].map((e) => e.name), ["sweep.plan"]);
    await Deno.writeTextFile(`${dir}/bad.plan`, "{}\n");
    const e = await assertRejects(() => readPlan(`${dir}/bad.plan`), PlanError);
    assertEquals(e.message.startsWith(`${dir}/bad.plan:1 (byte 0): has kind null`), true, e.message);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
