import { assert, assertEquals, assertGreater, assertThrows } from "@std/assert";
import { GRADIENT_CHECK_NAMES, GRADIENT_CHECKS, runGradientCheck } from "../layers/gradient_checks.ts";

// One test per entry of the catalogue the `gradcheck` experiment reports: every gradient within the bound the
// catalogue gives it, every vanishing gradient below its bound.
for (const check of GRADIENT_CHECKS) {
  Deno.test(`gradient check ${check.name}: ${check.description}`, () => {
    const { check: name, rows, vanishing } = check.run();
    assertEquals(name, check.name);
    assertGreater(rows.length, 0, "no gradient compared");
    console.log(
      `${check.name}: ${rows.map((r) => `${r.layer} ${r.gradient} ${r.relError.toExponential(2)}`).join(", ")}`,
    );
    for (const r of rows) {
      assert(r.relError <= r.threshold, `${r.layer} ${r.gradient}: relative error ${r.relError} > ${r.threshold}`);
      assert(r.pass, `${r.layer} ${r.gradient} not marked as passing`);
    }
    for (const v of vanishing) {
      assert(v.maxAbs <= v.threshold, `${v.layer} ${v.gradient}: max |gradient| ${v.maxAbs} > ${v.threshold}`);
      assert(v.pass, `${v.layer} ${v.gradient} not marked as passing`);
    }
  });
}

Deno.test("runGradientCheck refuses an unknown check and names the known ones", () => {
  assertThrows(() => runGradientCheck("nope"), RangeError, `known: ${GRADIENT_CHECK_NAMES.join(", ")}`);
});
