/**
 * RandomState against numpy 1.24.2's legacy generator, bit for bit
 * (fixture: tests/fixtures/random_state.py).
 */

import { assert, assertEquals, assertLessOrEqual, assertStrictEquals, assertThrows } from "@std/assert";
import { glibcLog, globalRandomState, RandomState } from "../layers/random.ts";
import { matmul } from "../layers/kernels/gemm.ts";
import { map, Tensor } from "../layers/tensor.ts";
import { readFixture } from "./helpers.ts";

interface StateSummary {
  pos: number;
  has_gauss: boolean;
  gauss: number;
  key_head: number[];
  key_tail: number[];
}

interface SeedCase {
  seed: number;
  raw_first: number[];
  raw_620_630: number[];
  raw_1240_1250: number[];
  rand_7: number[];
  randn_9: number[];
  state_after_randn_9: StateSummary;
  randn_after_9: number[];
  randn_3x2: number[];
  normal_5: number[];
  uniform_5: number[];
  random_sample_scalar: number;
  standard_normal_scalar: number;
  randint: Record<string, number[] | number>;
  choice: Record<string, number[] | number>;
  perm: Record<string, number[] | number>;
}

const fx = await readFixture<{
  seeds: SeedCase[];
  interleaved: {
    seq: [string, number[], number[]][];
    state: StateSummary;
    reseed_7_randn_2: number[];
  };
  set_state: {
    key: number[];
    pos: number;
    has_gauss: boolean;
    gauss: number;
    next_randn_3: number[];
    next_rand_2: number[];
  };
  long_streams: Record<string, string>;
  batchnorm_cell: { means: number[]; stds: number[] };
  glibc_log: { x: number[]; log: number[] };
}>("random_state.json");

/** Element-wise `===` (so −0 vs 0 aside, one differing bit fails), with the first mismatch in the message. */
function assertBitExact(actual: ArrayLike<number>, expected: readonly number[], what: string): void {
  assertStrictEquals(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    if (actual[i] !== expected[i]) {
      throw new Error(`${what}: element ${i} is ${actual[i]}, numpy gives ${expected[i]}`);
    }
  }
}

function assertState(rs: RandomState, want: StateSummary, what: string): void {
  const s = rs.getState();
  assertStrictEquals(s.pos, want.pos, `${what}: pos`);
  assertStrictEquals(s.hasGauss, want.has_gauss, `${what}: hasGauss`);
  assertStrictEquals(s.gauss, want.gauss, `${what}: gauss`);
  assertBitExact(s.key.subarray(0, 4), want.key_head, `${what}: key head`);
  assertBitExact(s.key.subarray(622), want.key_tail, `${what}: key tail`);
}

async function sha256(values: ArrayLike<number>): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", Float64Array.from(values)));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

for (const c of fx.seeds) {
  Deno.test(`seed ${c.seed}: raw MT19937 outputs match numpy across two state refills`, () => {
    const rs = new RandomState(c.seed);
    const raw = Array.from({ length: 1300 }, () => rs.nextUint32());
    assertBitExact(raw.slice(0, 8), c.raw_first, "raw[0:8]");
    assertBitExact(raw.slice(620, 630), c.raw_620_630, "raw[620:630]");
    assertBitExact(raw.slice(1240, 1250), c.raw_1240_1250, "raw[1240:1250]");
  });

  Deno.test(`seed ${c.seed}: rand, randn (spare normal kept), normal, uniform match numpy bit for bit`, () => {
    assertBitExact(new RandomState(c.seed).rand(7).data, c.rand_7, "rand(7)");
    let rs = new RandomState(c.seed);
    assertBitExact(rs.randn(9).data, c.randn_9, "randn(9)");
    assertState(rs, c.state_after_randn_9, "state after randn(9)");
    assertBitExact(rs.randn(2).data, c.randn_after_9, "randn(2) after randn(9)");
    rs = new RandomState(c.seed);
    const r = rs.randn(3, 2);
    assertEquals(r.shape, [3, 2]);
    assertBitExact(r.data, c.randn_3x2, "randn(3, 2)");
    assertBitExact(rs.normal(1.5, 2.25, 5).data, c.normal_5, "normal(1.5, 2.25, 5)");
    assertBitExact(rs.uniform(-2, 3, 5).data, c.uniform_5, "uniform(-2, 3, 5)");
    assertStrictEquals(rs.randomSample(), c.random_sample_scalar);
    assertStrictEquals(rs.standardNormal(), c.standard_normal_scalar);
  });

  Deno.test(`seed ${c.seed}: randint matches numpy for small, one-value, 32-bit, 40-bit and 2**54 ranges`, () => {
    const rs = new RandomState(c.seed), w = c.randint;
    assertBitExact(rs.randint(10, undefined, 20).data, w.n10_size20 as number[], "randint(10, size=20)");
    assertBitExact(rs.randint(-5, 5, 10).data, w.m5_5_size10 as number[], "randint(-5, 5, 10)");
    assertStrictEquals(rs.randint(1000), w.scalar_1000);
    assertBitExact(rs.randint(7, 8, 3).data, w.one_value_size3 as number[], "randint(7, 8, 3)");
    assertBitExact(rs.randint(0, 2 ** 32, 4).data, w.full32_size4 as number[], "randint(0, 2**32, 4)");
    assertBitExact(rs.randint(-3, 2 ** 32 - 2, 4).data, w.over32_size4 as number[], "randint(-3, 2**32 - 2, 4)");
    assertBitExact(rs.randint(0, 2 ** 40, 5).data, w.pow40_size5 as number[], "randint(0, 2**40, 5)");
    const big = rs.randint(-(2 ** 53) + 1, 2 ** 53 - 1, 5);
    assertBitExact(big.data, w.big_size5 as number[], "randint(-2**53 + 1, 2**53 - 1, 5)");
    const s = rs.randint(100, undefined, [2, 3]);
    assertEquals(s.shape, [2, 3]);
    assertBitExact(s.data, w.shape_2x3 as number[], "randint(100, size=(2, 3))");
    assertStrictEquals(rs.randomSample(), w.after, "the stream after the randint calls");
  });

  Deno.test(`seed ${c.seed}: choice with and without replacement matches numpy`, () => {
    const rs = new RandomState(c.seed), w = c.choice;
    assertBitExact(rs.choice(100, 10), w.replace_100_10 as number[], "choice(100, 10)");
    assertBitExact(rs.choice(100, 10, { replace: false }), w.noreplace_100_10 as number[], "choice(100, 10, False)");
    assertBitExact(rs.choice(5, 5, { replace: false }), w.noreplace_5_5 as number[], "choice(5, 5, False)");
    assertBitExact(rs.choice(49000, 200), w.solver_49000_200 as number[], "choice(49000, 200)");
    assertStrictEquals(rs.choice(7), w.scalar_7);
    assertStrictEquals(rs.randomSample(), w.after, "the stream after the choice calls");
  });

  Deno.test(`seed ${c.seed}: shuffle (array and tensor rows) and permutation match numpy`, () => {
    const rs = new RandomState(c.seed), w = c.perm;
    const list = Array.from({ length: 10 }, (_, i) => i);
    rs.shuffle(list);
    const rows = new Tensor(Float64Array.from({ length: 12 }, (_, i) => i), [4, 3]);
    rs.shuffle(rows);
    assertBitExact(rs.permutation(10), w.permutation_10 as number[], "permutation(10)");
    assertBitExact(rs.permutation(1), w.permutation_1 as number[], "permutation(1)");
    assertBitExact(rs.permutation(300), w.permutation_300 as number[], "permutation(300)");
    assertBitExact(list, w.shuffle_list_10 as number[], "shuffle(list(range(10)))");
    assertBitExact(rows.data, w.shuffle_rows_4x3 as number[], "shuffle(arange(12).reshape(4, 3))");
    assertStrictEquals(rs.randomSample(), w.after, "the stream after the shuffles");
  });
}

Deno.test("interleaved calls keep the spare normal across rand/randint/permutation, as numpy", () => {
  const rs = new RandomState(2024);
  for (const [fn, args, want] of fx.interleaved.seq) {
    let got: ArrayLike<number>;
    if (fn === "randn") got = rs.randn(...args).data;
    else if (fn === "rand") got = rs.rand(...args).data;
    else if (fn === "randint") got = rs.randint(args[0], args[1], args[2]).data;
    else if (fn === "permutation") got = rs.permutation(args[0]);
    else if (fn === "uniform") got = rs.uniform(args[0], args[1], args[2]).data;
    else throw new Error(`unknown call ${fn}`);
    assertBitExact(got, want, `${fn}(${args.join(", ")})`);
  }
  assertState(rs, fx.interleaved.state, "state after the sequence");
  rs.randn(1);
  rs.seed(7);
  assertBitExact(rs.randn(2).data, fx.interleaved.reseed_7_randn_2, "randn(2) after seed(7) drops the cached normal");
});

Deno.test("setState from numpy's get_state() continues exactly as numpy", () => {
  const s = fx.set_state;
  const rs = new RandomState(1);
  rs.setState({ key: s.key, pos: s.pos, hasGauss: s.has_gauss, gauss: s.gauss });
  assertBitExact(rs.randn(3).data, s.next_randn_3, "randn(3) after set_state");
  assertBitExact(rs.rand(2).data, s.next_rand_2, "rand(2) after set_state");
});

Deno.test("getState → JSON → setState resumes the same stream, spare normal included", () => {
  const rs = new RandomState(5);
  rs.rand(700);
  rs.randn(3);
  const snap = rs.getState();
  assert(snap.hasGauss);
  const json = JSON.stringify({ ...snap, key: Array.from(snap.key) });
  const expected = rs.randn(5).data;
  const other = new RandomState(0);
  other.setState(JSON.parse(json));
  assertBitExact(other.randn(5).data, Array.from(expected), "randn(5) after restoring");
  // The snapshot is a copy: drawing more does not change it.
  assertStrictEquals(snap.pos, JSON.parse(json).pos);
});

Deno.test("setState rejects a short key, an out-of-range word and a bad pos", () => {
  const rs = new RandomState(0);
  const good = rs.getState();
  assertThrows(() => rs.setState({ ...good, key: good.key.subarray(0, 623) }), RangeError, "623 words");
  const key = Array.from(good.key);
  key[3] = 2 ** 32;
  assertThrows(() => rs.setState({ ...good, key }), Error, "key[3]");
  assertThrows(() => rs.setState({ ...good, pos: 625 }), Error, "pos 625");
});

for (const [name, hash] of Object.entries(fx.long_streams)) {
  Deno.test(`long stream ${name} has numpy's SHA-256`, async () => {
    // Names read `<call>_<args…>_<count>_seed<seed>`.
    const parts = name.split("_"), what = parts[0], count = Number(parts.at(-2));
    const rs = new RandomState(Number(parts.at(-1)!.slice(4)));
    let values: ArrayLike<number>;
    if (what === "randn") values = rs.randn(count).data;
    else if (what === "rand") values = rs.rand(count).data;
    else if (what === "randint") values = rs.randint(-1000, 1000, count).data;
    else if (what === "permutation") values = rs.permutation(count);
    else throw new Error(`unknown stream ${name}`);
    assertStrictEquals(await sha256(values), hash);
  });
}

Deno.test("glibcLog matches glibc's log bit for bit, including its incorrectly rounded cases", () => {
  const { x, log } = fx.glibc_log;
  const got = x.map(glibcLog);
  assertBitExact(got, log, "glibcLog");
  assertStrictEquals(glibcLog(0), -Infinity);
  assert(Number.isNaN(glibcLog(-1)));
  assertStrictEquals(glibcLog(Infinity), Infinity);
});

Deno.test("batchnorm notebook cell: seed(231), randn weights, relu(X·W1)·W2 has the printed means and stds", () => {
  const rs = new RandomState(231);
  const x = rs.randn(200, 50), w1 = rs.randn(50, 60), w2 = rs.randn(60, 3);
  const a = matmul(map(matmul(x, w1), (v) => (v > 0 ? v : 0)), w2);
  const n = a.shape[0], d = a.shape[1];
  const means = new Float64Array(d), stds = new Float64Array(d);
  for (let j = 0; j < d; j++) {
    let s = 0;
    for (let i = 0; i < n; i++) s += a.data[i * d + j];
    means[j] = s / n;
    let q = 0;
    for (let i = 0; i < n; i++) q += (a.data[i * d + j] - means[j]) ** 2;
    stds[j] = Math.sqrt(q / n);
  }
  // numpy prints these with 8 significant digits.
  const printedMeans = [-2.3814598, -13.18038246, 1.91780462];
  const printedStds = [27.18502186, 34.21455511, 37.68611762];
  for (let j = 0; j < d; j++) {
    assertLessOrEqual(Math.abs(means[j] - printedMeans[j]), 5e-8 * Math.abs(printedMeans[j]), `mean ${j}: ${means[j]}`);
    assertLessOrEqual(Math.abs(stds[j] - printedStds[j]), 5e-8 * Math.abs(printedStds[j]), `std ${j}: ${stds[j]}`);
    // And to numpy's full float64 values, up to summation order.
    assertLessOrEqual(Math.abs(means[j] - fx.batchnorm_cell.means[j]), 1e-12 * Math.abs(printedMeans[j]));
    assertLessOrEqual(Math.abs(stds[j] - fx.batchnorm_cell.stds[j]), 1e-12 * Math.abs(printedStds[j]));
  }
});

Deno.test("seeds outside [0, 2**32) and non-integers are rejected, naming the seed", () => {
  assertThrows(() => new RandomState(-1), Error, "seed -1");
  assertThrows(() => new RandomState(2 ** 32), Error, "seed 4294967296");
  assertThrows(() => new RandomState(1.5), Error, "seed 1.5");
});

Deno.test("randint, choice, normal and shape arguments validate their inputs", () => {
  const rs = new RandomState(0);
  assertThrows(() => rs.randint(0), Error, "low 0 >= high 0");
  assertThrows(() => rs.randint(5, 3), Error, "low 5 >= high 3");
  assertThrows(() => rs.randint(0, 2 ** 60), Error, "not a safe integer");
  assertThrows(() => rs.randint(0.5, 3), Error, "low 0.5");
  assertThrows(() => rs.choice(5, 6, { replace: false }), Error, "cannot take 6 samples from 5");
  assertThrows(() => rs.choice(0, 3), Error, "a 0");
  assertEquals(Array.from(rs.choice(0, 0)), []);
  assertThrows(() => rs.normal(0, -1, 3), Error, "scale -1");
  assertThrows(() => rs.rand(2, -1), RangeError, "rand: shape (2, -1)");
  assertThrows(() => rs.randn(2.5), RangeError, "randn: shape (2.5,)");
  assertThrows(() => rs.shuffle(new Tensor(new Float64Array(1), [])), RangeError, "0-d");
});

Deno.test("unseeded generators differ; globalRandomState reseeds like np.random.seed", () => {
  assert(new RandomState().randomSample() !== new RandomState().randomSample());
  globalRandomState.seed(0);
  assertStrictEquals(globalRandomState.randomSample(), fx.seeds[0].rand_7[0]);
});

Deno.test("rand/randn with no dimensions give a one-element 0-d tensor", () => {
  const t = new RandomState(0).rand();
  assertEquals(t.shape, []);
  assertStrictEquals(t.data[0], fx.seeds[0].rand_7[0]);
});
