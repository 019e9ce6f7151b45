/**
 * numpy's legacy random generator (`np.random.RandomState`, and the global
 * `np.random.seed` / `np.random.randn` …), reproduced bit for bit: the same
 * seed and the same sequence of calls give the same numbers as numpy 1.x.
 * That is what lets a notebook's seeded results (initial weights, batch
 * order, dropout masks) be reproduced here.
 *
 * The generator is MT19937 seeded with Knuth's initialisation (numpy's
 * `mt19937_seed`, used for an integer seed); doubles take 53 bits from two
 * draws; normals use the polar Box–Muller method keeping the spare value,
 * as numpy's `legacy_gauss`; bounded integers use masked rejection sampling.
 *
 * Scope of "bit for bit": raw draws, uniforms, integers, choices and
 * permutations depend only on MT19937 and match numpy everywhere. Normals
 * also go through the C library's `log`; they match numpy built on glibc
 * ≥ 2.28 on x86-64 CPUs with FMA (Linux on any machine from the last
 * decade). On other platforms numpy's own normals can differ in the last bit
 * in rare cases (a different `log`), never in the stream's position.
 *
 * @module
 */

import { formatShape, Tensor } from "./tensor.ts";

/** Words of MT19937 state. */
const N = 624;
/** MT19937 middle word offset. */
const M = 397;
const MATRIX_A = 0x9908b0df;
const UPPER_MASK = 0x80000000;
const LOWER_MASK = 0x7fffffff;
const TWO_32 = 4294967296;

/**
 * A snapshot of a {@link RandomState}, the same data as numpy's
 * `get_state()` tuple `('MT19937', key, pos, has_gauss, cached_gaussian)`.
 *
 * `getState` returns `key` as a `Uint32Array` (structured-clone friendly);
 * `setState` also takes a plain `number[]`, so a JSON round trip works as
 * `setState({ ...s, key: Array.from(s.key) })` → `JSON.stringify` → parse → `setState`.
 */
export interface RandomStateSnapshot {
  /** The 624 MT19937 state words. */
  key: ArrayLike<number>;
  /** Index of the next word to temper, 0 … 624 (624: regenerate first). */
  pos: number;
  /** Whether a spare normal from the last polar Box–Muller pair is cached. */
  hasGauss: boolean;
  /** The cached normal (0 when `hasGauss` is false, as numpy reports it). */
  gauss: number;
}

/** An array whose elements can be swapped in place (`number[]`, typed arrays, …). */
export interface MutableArrayLike<T> {
  /** Number of elements. */
  readonly length: number;
  /** Element access. */
  [index: number]: T;
}

/** `mask` with every bit below its highest set bit set (numpy's `gen_mask`). */
function smear32(v: number): number {
  v |= v >>> 1;
  v |= v >>> 2;
  v |= v >>> 4;
  v |= v >>> 8;
  v |= v >>> 16;
  return v >>> 0;
}

function checkShape(shape: readonly number[], where: string): number {
  let size = 1;
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) {
      throw new RangeError(`${where}: shape ${formatShape(shape)} has an axis that is not a non-negative integer`);
    }
    size *= d;
  }
  return size;
}

function toShape(size: number | readonly number[], where: string): readonly number[] {
  const shape = typeof size === "number" ? [size] : size;
  checkShape(shape, where);
  return shape;
}

// ---------------------------------------------------------------------------
// glibc's log, reproduced exactly.
//
// numpy's legacy normals compute `sqrt(-2·log(r2) / r2)` with the C library's
// `log`. V8's `Math.log` (fdlibm) and glibc's `log` (≥ 2.28, from Arm's
// optimized-routines) are each accurate to < 1 ulp but disagree on about one
// input in 3000, which would make one normal pair in 3000 differ in its last
// bit from numpy's. So `standardNormal` uses `glibcLog`: the same algorithm,
// table and operation order as the x86-64 FMA variant glibc selects on any
// CPU with FMA and AVX2 (read off its machine code), fused multiply–adds
// emulated exactly.

/**
 * glibc's `__log_data` (ln2hi, ln2lo, poly[5], poly1[11], then 128 pairs
 * (invc, logc)) as IEEE-754 bit patterns, copied from libm.so.6 of glibc
 * 2.36 (see `tests/fixtures/random_state.py --log-table`).
 */
const LOG_DATA_HEX = `
3fe62e42fefa3800 3d2ef35793c76730 bfe0000000000001 3fd555555551305b bfcfffffffeb4590 3fc999b324f10111
bfc55575e506c89f bfe0000000000000 3fd5555555555577 bfcffffffffffdcb 3fc999999995dd0c bfc55555556745a7
3fc24924a344de30 bfbfffffa4423d65 3fbc7184282ad6ca bfb999eb43b068ff 3fb78182f7afd085 bfb5521375d145cd
3ff734f0c3e0de9f bfd7cc7f79e69000 3ff713786a2ce91f bfd76feec20d0000 3ff6f26008fab5a0 bfd713e31351e000
3ff6d1a61f138c7d bfd6b85b38287800 3ff6b1490bc5b4d1 bfd65d5590807800 3ff69147332f0cba bfd602d076180000
3ff6719f18224223 bfd5a8ca86909000 3ff6524f99a51ed9 bfd54f4356035000 3ff63356aa8f24c4 bfd4f637c36b4000
3ff614b36b9ddc14 bfd49da7fda85000 3ff5f66452c65c4c bfd445923989a800 3ff5d867b5912c4f bfd3edf439b0b800
3ff5babccb5b90de bfd396ce448f7000 3ff59d61f2d91a78 bfd3401e17bda000 3ff5805612465687 bfd2e9e2ef468000
3ff56397cee76bd3 bfd2941b3830e000 3ff54725e2a77f93 bfd23ec58cda8800 3ff52aff42064583 bfd1e9e129279000
3ff50f22dbb2bddf bfd1956d2b48f800 3ff4f38f4734ded7 bfd141679ab9f800 3ff4d843cfde2840 bfd0edd094ef9800
3ff4bd3ec078a3c8 bfd09aa518db1000 3ff4a27fc3e0258a bfd047e65263b800 3ff4880524d48434 bfcfeb224586f000
3ff46dce1b192d0b bfcf474a7517b000 3ff453d9d3391854 bfcea4443d103000 3ff43a2744b4845a bfce020d44e9b000
3ff420b54115f8fb bfcd60a22977f000 3ff40782da3ef4b1 bfccc00104959000 3ff3ee8f5d57fe8f bfcc202956891000
3ff3d5d9a00b4ce9 bfcb81178d811000 3ff3bd60c010c12b bfcae2c9ccd3d000 3ff3a5242b75dab8 bfca45402e129000
3ff38d22cd9fd002 bfc9a877681df000 3ff3755bc5847a1c bfc90c6d69483000 3ff35dce49ad36e2 bfc87120a645c000
3ff34679984dd440 bfc7d68fb4143000 3ff32f5cceffcb24 bfc73cb83c627000 3ff3187775a10d49 bfc6a39a9b376000
3ff301c8373e3990 bfc60b3154b7a000 3ff2eb4ebb95f841 bfc5737d76243000 3ff2d50a0219a9d1 bfc4dc7b8fc23000
3ff2bef9a8b7fd2a bfc4462c51d20000 3ff2a91c7a0c1bab bfc3b08abc830000 3ff293726014b530 bfc31b996b490000
3ff27dfa5757a1f5 bfc2875490a44000 3ff268b39b1d3bbf bfc1f3b9f879a000 3ff2539d838ff5bd bfc160c8252ca000
3ff23eb7aac9083b bfc0ce7f57f72000 3ff22a012ba940b6 bfc03cdc49fea000 3ff2157996cc4132 bfbf57bdbc4b8000
3ff201201dd2fc9b bfbe370896404000 3ff1ecf4494d480b bfbd17983ef94000 3ff1d8f5528f6569 bfbbf9674ed8a000
3ff1c52311577e7c bfbadc79202f6000 3ff1b17c74cb26e9 bfb9c0c3e7288000 3ff19e010c2c1ab6 bfb8a646b372c000
3ff18ab07bb670bd bfb78d01b3ac0000 3ff1778a25efbcb6 bfb674f145380000 3ff1648d354c31da bfb55e0e6d878000
3ff151b990275fdd bfb4485cdea1e000 3ff13f0ea432d24c bfb333d94d6aa000 3ff12c8b7210f9da bfb22079f8c56000
3ff11a3028ecb531 bfb10e4698622000 3ff107fbda8434af bfaffa6c6ad20000 3ff0f5ee0f4e6bb3 bfadda8d4a774000
3ff0e4065d2a9fce bfabbcece4850000 3ff0d244632ca521 bfa9a1894012c000 3ff0c0a77ce2981a bfa788583302c000
3ff0af2f83c636d1 bfa5715e67d68000 3ff09ddb98a01339 bfa35c8a49658000 3ff08cabaf52e7df bfa149e364154000
3ff07b9f2f4e28fb bf9e72c082eb8000 3ff06ab58c358f19 bf9a55f152528000 3ff059eea5ecf92c bf963d62cf818000
3ff04949cdd12c90 bf9228fb8caa0000 3ff038c6c6f0ada9 bf8c317b20f90000 3ff02865137932a9 bf8419355daa0000
3ff0182427ea7348 bf781203c2ec0000 3ff008040614b195 bf60040979240000 3fefe01ff726fa1a 3f6feff384900000
3fefa11cc261ea74 3f87dc41353d0000 3fef6310b081992e 3f93cea3c4c28000 3fef25f63ceeadcd 3f9b9fc114890000
3feee9c8039113e7 3fa1b0d8ce110000 3feeae8078cbb1ab 3fa58a5bd001c000 3fee741aa29d0c9b 3fa95c8340d88000
3fee3a91830a99b5 3fad276aef578000 3fee01e009609a56 3fb07598e598c000 3fedca01e577bb98 3fb253f5e30d2000
3fed92f20b7c9103 3fb42edd8b380000 3fed5cac66fb5cce 3fb606598757c000 3fed272caa5ede9d 3fb7da76356a0000
3fecf26e3e6b2ccd 3fb9ab434e1c6000 3fecbe6da2a77902 3fbb78c7bb0d6000 3fec8b266d37086d 3fbd431332e72000
3fec5894bd5d5804 3fbf0a3171de6000 3fec26b533bb9f8c 3fc067152b914000 3febf583eeece73f 3fc147858292b000
3febc4fd75db96c1 3fc2266ecdca3000 3feb951e0c864a28 3fc303d7a6c55000 3feb65e2c5ef3e2c 3fc3dfc33c331000
3feb374867c9888b 3fc4ba366b7a8000 3feb094b211d304a 3fc5933928d1f000 3feadbe885f2ef7e 3fc66acd2418f000
3feaaf1d31603da2 3fc740f8ec669000 3fea82e63fd358a7 3fc815c0f51af000 3fea5740ef09738b 3fc8e92954f68000
3fea2c2a90ab4b27 3fc9bb3602f84000 3fea01a01393f2d1 3fca8bed1c2c0000 3fe9d79f24db3c1b 3fcb5b515c01d000
3fe9ae2505c7b190 3fcc2967ccbcc000 3fe9852ef297ce2f 3fccf635d5486000 3fe95cbaeea44b75 3fcdc1bd3446c000
3fe934c69de74838 3fce8c01b8cfe000 3fe90d4f2f6752e6 3fcf5509c0179000 3fe8e6528effd79d 3fd00e6c121fb800
3fe8bfce9fcc007c 3fd071b80e93d000 3fe899c0dabec30e 3fd0d46b9e867000 3fe87427aa2317fb 3fd13687334bd000
3fe84f00acb39a08 3fd1980d67234800 3fe82a49e8653e55 3fd1f8ffe0cc8000 3fe8060195f40260 3fd2595fd7636800
3fe7e22563e0a329 3fd2b9300914a800 3fe7beb377dcb5ad 3fd3187210436000 3fe79baa679725c2 3fd377266dec1800
3fe77907f2170657 3fd3d54ffbaf3000 3fe756cadbd6130c 3fd432eee32fe000
`;

const LOG_DATA: Float64Array = (() => {
  const words = LOG_DATA_HEX.trim().split(/\s+/);
  const bits = new BigUint64Array(words.map((w) => BigInt("0x" + w)));
  return new Float64Array(bits.buffer);
})();
const LN2HI = LOG_DATA[0], LN2LO = LOG_DATA[1];
const A0 = LOG_DATA[2], A1 = LOG_DATA[3], A2 = LOG_DATA[4], A3 = LOG_DATA[5], A4 = LOG_DATA[6];
const B0 = LOG_DATA[7], B1 = LOG_DATA[8], B2 = LOG_DATA[9], B3 = LOG_DATA[10], B4 = LOG_DATA[11], B5 = LOG_DATA[12];
const B6 = LOG_DATA[13], B7 = LOG_DATA[14], B8 = LOG_DATA[15], B9 = LOG_DATA[16], B10 = LOG_DATA[17];
/** Offset of the (invc, logc) table in LOG_DATA. */
const TAB = 18;

const F64 = new Float64Array(1);
const U32 = new Uint32Array(F64.buffer);
/** Index of the high 32-bit word of a double in U32 (platform byte order). */
const HI = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 1 : 0;
const LO = 1 - HI;
/** 2²⁷ + 1, Veltkamp's splitter for doubles. */
const SPLITTER = 134217729;

/** `x = m · 2^e` exactly, `m` a signed integer. */
function decompose(x: number): [bigint, number] {
  F64[0] = x;
  const hi = U32[HI], lo = U32[LO];
  const biased = (hi >>> 20) & 0x7ff;
  let m = (BigInt(hi & 0xfffff) << 32n) | BigInt(lo);
  let e = -1074;
  if (biased !== 0) {
    m |= 1n << 52n;
    e = biased - 1075;
  }
  return [hi >>> 31 ? -m : m, e];
}

/** `a·b + c` rounded once, by exact integer arithmetic (the slow, sure path of `fma`). */
function fmaExact(a: number, b: number, c: number): number {
  const [ma, ea] = decompose(a), [mb, eb] = decompose(b), [mc, ec] = decompose(c);
  const mp = ma * mb, ep = ea + eb;
  let e = Math.min(ep, ec);
  let m = (mp << BigInt(ep - e)) + (mc << BigInt(ec - e));
  if (m === 0n) return a * b + c; // an exact zero: let IEEE arithmetic pick its sign
  const neg = m < 0n;
  if (neg) m = -m;
  // Keep 64 bits plus a sticky bit: Number() then rounds to nearest-even exactly as a single rounding would.
  const extra = m.toString(2).length - 64;
  if (extra > 0) {
    const sticky = (m & ((1n << BigInt(extra)) - 1n)) !== 0n ? 1n : 0n;
    m = (m >> BigInt(extra)) | sticky;
    e += extra;
  }
  // Scale in two steps so that neither power of two under- or overflows.
  const h = Math.trunc(e / 2);
  const v = Number(m) * 2 ** h * 2 ** (e - h);
  return neg ? -v : v;
}

/**
 * Fused multiply–add `a·b + c` with one rounding, as the FMA instruction
 * glibc's log uses. Exact error-free transforms give `a·b + c = r + w + v`
 * with `r = fl(s + u)`; `r` is the correctly rounded result unless `w + v`
 * could cross a rounding boundary, which is left to `fmaExact`. Assumes no
 * overflow and no underflow in `a·b` (true for every call in `glibcLog`).
 */
function fma(a: number, b: number, c: number): number {
  const p = a * b;
  let t = SPLITTER * a;
  const ah = t - (t - a), al = a - ah;
  t = SPLITTER * b;
  const bh = t - (t - b), bl = b - bh;
  const e = ah * bh - p + ah * bl + al * bh + al * bl; // a·b = p + e exactly
  const s = p + c;
  let z = s - p;
  const q = (p - (s - z)) + (c - z); // p + c = s + q
  const u = q + e;
  z = u - q;
  const v = (q - (u - z)) + (e - z); // q + e = u + v
  const r = s + u;
  if (v === 0) return r; // a·b + c = s + u exactly, and r is its rounding
  z = r - s;
  const w = (s - (r - z)) + (u - z); // s + u = r + w, |w| ≤ ulp(r)/2
  // |w| < ulp(r)/2 strictly (w not a power of two) and v below ulp(w)/2: w + v cannot reach the boundary.
  if (w !== 0 && w + v === w) {
    F64[0] = w;
    if ((U32[HI] & 0xfffff) !== 0 || U32[LO] !== 0) return r;
  }
  return fmaExact(a, b, c);
}

/**
 * Natural logarithm computed exactly as glibc ≥ 2.28 computes `log` on
 * x86-64 CPUs with FMA (its `__log_fma`): same table, polynomial and order
 * of operations, so results are bit-identical to C's `log` there (and thus
 * to numpy's legacy normals). Differs from `Math.log` in the last bit for
 * about one input in 3000.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { glibcLog } from "./random.ts";
 *
 * assertEquals(glibcLog(Math.E), 1);
 * ```
 */
export function glibcLog(x: number): number {
  if (x >= 0.9375 && x < 1.064697265625) {
    // Close to 1: a degree-11 polynomial in r = x − 1, with r² split exactly for the leading term.
    if (x === 1) return 0;
    const r = x - 1, r2 = r * r, r3 = r * r2;
    const q123 = fma(r2, B3, fma(r, B2, B1));
    const q456 = fma(r2, B6, fma(r, B5, B4));
    const q789 = fma(r3, B10, fma(r2, B9, fma(r, B8, B7)));
    const q = fma(fma(q789, r3, q456), r3, q123);
    const w = r * 134217728;
    const rhi = r + w - w, rlo = r - rhi;
    const hi = r + rhi * rhi * B0; // rhi has ≤ 26 bits: rhi²·B0 is exact, as in the fused form
    const lo = r - hi + rhi * rhi * B0;
    return hi + fma(q, r3, fma(B0 * rlo, r + rhi, lo));
  }
  F64[0] = x;
  let hiWord = U32[HI];
  const top = hiWord >>> 16;
  if (((top - 0x0010) >>> 0) >= 0x7ff0 - 0x0010) {
    // Zero, negative, subnormal, infinite or NaN.
    if (x === 0) return -Infinity;
    if (x === Infinity) return Infinity;
    if (!(x > 0)) return NaN;
    // Subnormal: scale into the normal range, then take 52 off the exponent.
    F64[0] = x * 4503599627370496;
    U32[HI] -= 52 << 20;
    hiWord = U32[HI];
  }
  // x = 2^k · z with z in [0x1.6p-1, 0x1.6p0); the table entry i brackets z.
  const tmpHi = (hiWord - 0x3fe60000) | 0;
  const i = (tmpHi >>> 13) & 0x7f;
  const k = tmpHi >> 20;
  U32[HI] = hiWord - (tmpHi & 0xfff00000);
  const z = F64[0];
  const invc = LOG_DATA[TAB + 2 * i], logc = LOG_DATA[TAB + 2 * i + 1];
  const r = fma(z, invc, -1);
  const w = fma(k, LN2HI, logc);
  const hi = w + r;
  const lo = fma(k, LN2LO, w - hi + r);
  const r2 = r * r, r3 = r * r2;
  const p = fma(fma(r, A4, A3), r2, fma(r, A2, A1));
  return fma(r3, p, fma(r2, A0, lo)) + hi;
}

/**
 * numpy's legacy generator (`np.random.RandomState`), bit-identical to numpy
 * 1.x for the same integer seed and the same calls.
 *
 * Array results are float64 tensors in the order numpy fills them (row-major);
 * scalar variants (`randomSample`, `standardNormal`, `randint` without a size)
 * return plain numbers and consume exactly what numpy's scalar calls consume.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { RandomState } from "./random.ts";
 *
 * const rs = new RandomState(0);
 * assertEquals(rs.randomSample(), 0.5488135039273248); // as np.random.RandomState(0).random_sample()
 * assertEquals(rs.randn(2, 3).shape, [2, 3]);
 * ```
 */
export class RandomState {
  #key = new Uint32Array(N);
  #pos = N;
  #hasGauss = false;
  #gauss = 0;

  /**
   * A generator seeded with `seed` (an integer 0 ≤ seed < 2³², as
   * `np.random.RandomState(seed)`), or from OS entropy when omitted.
   */
  constructor(seed?: number) {
    this.seed(seed);
  }

  /**
   * Reseeds in place, as `np.random.seed(seed)`: also drops the cached normal.
   * Without `seed`, seeds from `crypto.getRandomValues` the way numpy seeds
   * from entropy (first word 0x80000000 so the state is never all zero).
   */
  seed(seed?: number): void {
    const key = this.#key;
    if (seed === undefined) {
      crypto.getRandomValues(key);
      key[0] = 0x80000000;
    } else {
      if (!Number.isInteger(seed) || seed < 0 || seed >= TWO_32) {
        throw new Error(`RandomState.seed: seed ${seed} is not an integer in [0, 2**32 - 1]`);
      }
      let s = seed >>> 0;
      for (let i = 0; i < N; i++) {
        key[i] = s;
        // 1812433253 · (s ^ (s >> 30)) + i + 1, modulo 2³².
        s = (Math.imul(1812433253, (s ^ (s >>> 30)) >>> 0) + i + 1) >>> 0;
      }
    }
    this.#pos = N;
    this.#hasGauss = false;
    this.#gauss = 0;
  }

  /** The full generator state, a copy, as `get_state()`; see {@link RandomStateSnapshot}. */
  getState(): RandomStateSnapshot & { key: Uint32Array } {
    return {
      key: this.#key.slice(),
      pos: this.#pos,
      hasGauss: this.#hasGauss,
      gauss: this.#hasGauss ? this.#gauss : 0,
    };
  }

  /** Restores a state from `getState` (or numpy's `get_state()` parts), as `set_state()`. */
  setState(state: RandomStateSnapshot): void {
    const { key, pos, hasGauss, gauss } = state;
    if (key.length !== N) {
      throw new RangeError(`RandomState.setState: key has ${key.length} words, expected ${N}`);
    }
    for (let i = 0; i < N; i++) {
      const w = key[i];
      if (!Number.isInteger(w) || w < 0 || w >= TWO_32) {
        throw new Error(`RandomState.setState: key[${i}] = ${w} is not a 32-bit unsigned integer`);
      }
    }
    if (!Number.isInteger(pos) || pos < 0 || pos > N) {
      throw new Error(`RandomState.setState: pos ${pos} is not an integer in [0, ${N}]`);
    }
    if (typeof hasGauss !== "boolean") {
      throw new TypeError(`RandomState.setState: hasGauss ${hasGauss} is not a boolean`);
    }
    if (typeof gauss !== "number" || !Number.isFinite(gauss)) {
      throw new TypeError(`RandomState.setState: gauss ${gauss} is not a finite number`);
    }
    this.#key.set(key);
    this.#pos = pos;
    this.#hasGauss = hasGauss;
    this.#gauss = hasGauss ? gauss : 0;
  }

  /** Refills the 624 state words (MT19937's twist). */
  #twist(): void {
    const key = this.#key;
    let i = 0, y: number;
    for (; i < N - M; i++) {
      y = (key[i] & UPPER_MASK) | (key[i + 1] & LOWER_MASK);
      key[i] = key[i + M] ^ (y >>> 1) ^ (-(y & 1) & MATRIX_A);
    }
    for (; i < N - 1; i++) {
      y = (key[i] & UPPER_MASK) | (key[i + 1] & LOWER_MASK);
      key[i] = key[i + M - N] ^ (y >>> 1) ^ (-(y & 1) & MATRIX_A);
    }
    y = (key[N - 1] & UPPER_MASK) | (key[0] & LOWER_MASK);
    key[N - 1] = key[M - 1] ^ (y >>> 1) ^ (-(y & 1) & MATRIX_A);
    this.#pos = 0;
  }

  /** The next raw 32-bit output, 0 ≤ v < 2³² (numpy's `random_raw` for MT19937). */
  nextUint32(): number {
    if (this.#pos === N) this.#twist();
    let y = this.#key[this.#pos++];
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  /** One double in [0, 1) with 53 random bits, as `random_sample()`. */
  randomSample(): number {
    const a = this.nextUint32() >>> 5, b = this.nextUint32() >>> 6;
    return (a * 67108864 + b) / 9007199254740992;
  }

  /** One standard normal, as `standard_normal()` / `randn()` (legacy polar Box–Muller). */
  standardNormal(): number {
    if (this.#hasGauss) {
      this.#hasGauss = false;
      const g = this.#gauss;
      this.#gauss = 0;
      return g;
    }
    let x1: number, x2: number, r2: number;
    do {
      x1 = 2 * this.randomSample() - 1;
      x2 = 2 * this.randomSample() - 1;
      r2 = x1 * x1 + x2 * x2;
    } while (r2 >= 1 || r2 === 0);
    const f = Math.sqrt((-2 * glibcLog(r2)) / r2);
    this.#gauss = f * x1;
    this.#hasGauss = true;
    return f * x2;
  }

  /**
   * Uniform doubles in [0, 1) of the given dimensions, as `np.random.rand(d0, d1, …)`.
   * With no dimensions the result is a 0-d tensor (one element); use
   * `randomSample()` for a plain number.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { RandomState } from "./random.ts";
   *
   * assertEquals(new RandomState(1).rand(3, 2).shape, [3, 2]);
   * ```
   */
  rand(...shape: number[]): Tensor {
    const out = new Float64Array(checkShape(shape, "rand"));
    for (let i = 0; i < out.length; i++) out[i] = this.randomSample();
    return new Tensor(out, shape);
  }

  /**
   * Standard normals of the given dimensions, as `np.random.randn(d0, d1, …)`,
   * e.g. `randn(200, 50)`. Use `standardNormal()` for a plain number.
   */
  randn(...shape: number[]): Tensor {
    const out = new Float64Array(checkShape(shape, "randn"));
    for (let i = 0; i < out.length; i++) out[i] = this.standardNormal();
    return new Tensor(out, shape);
  }

  /**
   * Normal samples `loc + scale · z`, as `normal(loc, scale, size)`:
   * a number without `shape`, else a float64 tensor of `shape`.
   * `scale` must be ≥ 0.
   */
  normal(loc?: number, scale?: number): number;
  /** A float64 tensor of `shape` filled with normal samples `loc + scale · z`. */
  normal(loc: number, scale: number, shape: number | readonly number[]): Tensor;
  normal(loc = 0, scale = 1, shape?: number | readonly number[]): number | Tensor {
    if (!(scale >= 0)) throw new Error(`normal: scale ${scale} is not ≥ 0`);
    if (shape === undefined) return loc + scale * this.standardNormal();
    const s = toShape(shape, "normal");
    const out = new Float64Array(checkShape(s, "normal"));
    for (let i = 0; i < out.length; i++) out[i] = loc + scale * this.standardNormal();
    return new Tensor(out, s);
  }

  /**
   * Uniform samples `low + (high − low) · u` in [low, high), as
   * `uniform(low, high, size)`: a number without `shape`, else a float64
   * tensor of `shape`. As in numpy, `high < low` is allowed (the interval flips).
   */
  uniform(low?: number, high?: number): number;
  /** A float64 tensor of `shape` filled with uniform samples in [low, high). */
  uniform(low: number, high: number, shape: number | readonly number[]): Tensor;
  uniform(low = 0, high = 1, shape?: number | readonly number[]): number | Tensor {
    const range = high - low;
    if (!Number.isFinite(range)) {
      throw new Error(`uniform: high − low = ${high} − ${low} is not finite`);
    }
    if (shape === undefined) return low + range * this.randomSample();
    const s = toShape(shape, "uniform");
    const out = new Float64Array(checkShape(s, "uniform"));
    for (let i = 0; i < out.length; i++) out[i] = low + range * this.randomSample();
    return new Tensor(out, s);
  }

  /**
   * Integers in [low, high), as `randint(low, high, size)` with numpy's
   * default int64 dtype; `randint(n)` draws from [0, n). A number without
   * `size`, else a float64 tensor of shape `size` (exact: bounds must be safe
   * integers, |v| ≤ 2⁵³ − 1).
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { RandomState } from "./random.ts";
   * import type { Tensor } from "./tensor.ts";
   *
   * const rs = new RandomState(0);
   * assertEquals(rs.randint(10), 5); // as np.random.RandomState(0).randint(10)
   * assertEquals((rs.randint(-3, 3, [2, 2]) as Tensor).shape, [2, 2]);
   * ```
   */
  randint(low: number, high?: number): number;
  /** A float64 tensor of `size` filled with integers in [low, high) (or [0, low) when `high` is undefined). */
  randint(low: number, high: number | undefined, size: number | readonly number[]): Tensor;
  randint(low: number, high?: number, size?: number | readonly number[]): number | Tensor {
    if (high === undefined) [low, high] = [0, low];
    for (const [name, v] of [["low", low], ["high", high]] as const) {
      if (!Number.isSafeInteger(v)) {
        throw new Error(`randint: ${name} ${v} is not a safe integer (|v| ≤ 2**53 − 1)`);
      }
    }
    if (low >= high) throw new Error(`randint: low ${low} >= high ${high}, the interval [low, high) is empty`);
    const shape = size === undefined ? undefined : toShape(size, "randint");
    const out = new Float64Array(shape === undefined ? 1 : checkShape(shape, "randint"));
    this.#boundedFill(low, high - 1, out);
    return shape === undefined ? out[0] : new Tensor(out, shape);
  }

  /**
   * Fills `out` with integers in [lo, hi] (both safe integers), as numpy's
   * `random_bounded_uint64_fill` with masking: 32-bit draws when the range
   * fits, else 64-bit draws (high word first), rejecting values above it.
   */
  #boundedFill(lo: number, hi: number, out: Float64Array): void {
    const rng = BigInt(hi) - BigInt(lo);
    if (rng === 0n) {
      out.fill(lo);
    } else if (rng <= 0xffffffffn) {
      const r = Number(rng);
      if (r === 0xffffffff) {
        for (let i = 0; i < out.length; i++) out[i] = lo + this.nextUint32();
      } else {
        const mask = smear32(r);
        for (let i = 0; i < out.length; i++) {
          let v: number;
          do {
            v = (this.nextUint32() & mask) >>> 0;
          } while (v > r);
          out[i] = lo + v;
        }
      }
    } else {
      for (let i = 0; i < out.length; i++) {
        const v = this.#bounded64(rng);
        out[i] = v < 2n ** 53n ? lo + Number(v) : Number(BigInt(lo) + v);
      }
    }
  }

  /** A value in [0, rng] for 2³² ≤ rng < 2⁶⁴ − 1: masked 64-bit draws. */
  #bounded64(rng: bigint): bigint {
    const rHi = Number(rng >> 32n), rLo = Number(rng & 0xffffffffn);
    const maskHi = smear32(rHi);
    for (;;) {
      const h = (this.nextUint32() & maskHi) >>> 0;
      const l = this.nextUint32();
      if (h < rHi || (h === rHi && l <= rLo)) return (BigInt(h) << 32n) | BigInt(l);
    }
  }

  /** A value in [0, max], as numpy's `random_interval` (what `shuffle` draws). */
  #interval(max: number): number {
    if (max === 0) return 0;
    if (max <= 0xffffffff) {
      const mask = smear32(max);
      let v: number;
      do {
        v = (this.nextUint32() & mask) >>> 0;
      } while (v > max);
      return v;
    }
    return Number(this.#bounded64(BigInt(max)));
  }

  /**
   * Shuffles `x` in place, as `shuffle(x)`: the elements of an array, or the
   * rows (axis 0) of a tensor. numpy's Fisher–Yates order: for i = n−1 … 1,
   * swap i with `random_interval(i)`.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { RandomState } from "./random.ts";
   *
   * const xs = [1, 2, 3, 4];
   * new RandomState(0).shuffle(xs);
   * assertEquals(xs, [3, 4, 2, 1]); // as numpy
   * ```
   */
  shuffle<T>(x: MutableArrayLike<T> | Tensor): void {
    if (x instanceof Tensor) {
      if (x.ndim === 0) throw new RangeError(`shuffle: a 0-d tensor ${formatShape(x.shape)} has no axis to shuffle`);
      const n = x.shape[0], row = n === 0 ? 0 : x.size / n, d = x.data;
      const buf = d.slice(0, row);
      for (let i = n - 1; i > 0; i--) {
        const j = this.#interval(i);
        if (j === i) continue;
        buf.set(d.subarray(j * row, (j + 1) * row));
        d.copyWithin(j * row, i * row, (i + 1) * row);
        d.set(buf, i * row);
      }
      return;
    }
    for (let i = x.length - 1; i > 0; i--) {
      const j = this.#interval(i);
      const t = x[i];
      x[i] = x[j];
      x[j] = t;
    }
  }

  /**
   * A random permutation of 0 … n−1, as `permutation(n)`
   * (`arange(n)` shuffled). Indices are returned as an `Int32Array`.
   */
  permutation(n: number): Int32Array {
    if (!Number.isInteger(n) || n < 0 || n > 0x7fffffff) {
      throw new RangeError(`permutation: n ${n} is not an integer in [0, 2**31 − 1]`);
    }
    const out = new Int32Array(n);
    for (let i = 0; i < n; i++) out[i] = i;
    this.shuffle(out);
    return out;
  }

  /**
   * Random indices into a population of `a` items, as `choice(a, size, replace)`
   * for an integer `a` without weights: with replacement (the default) this is
   * `randint(0, a, size)`; without, the first `size` of `permutation(a)`.
   * Without `size`, one index as a number.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { RandomState } from "./random.ts";
   *
   * // The course Solver's minibatch: np.random.choice(num_train, batch_size)
   * const batch = new RandomState(0).choice(1000, 100);
   * assertEquals(batch.length, 100);
   * assertEquals(batch.every((i) => i >= 0 && i < 1000), true);
   * ```
   */
  choice(a: number): number;
  /** `size` indices in [0, a), with replacement unless `replace` is false. */
  choice(a: number, size: number, options?: { replace?: boolean }): Int32Array;
  choice(a: number, size?: number, { replace = true }: { replace?: boolean } = {}): number | Int32Array {
    const n = size ?? 1;
    if (!Number.isInteger(n) || n < 0) throw new RangeError(`choice: size ${size} is not a non-negative integer`);
    if (!Number.isInteger(a) || a > 0x7fffffff || (a <= 0 && n !== 0)) {
      throw new Error(`choice: a ${a} is not a positive integer ≤ 2**31 − 1 (needed unless size is 0)`);
    }
    let out: Int32Array;
    if (replace) {
      const draws = new Float64Array(n);
      if (n > 0) this.#boundedFill(0, a - 1, draws);
      out = Int32Array.from(draws);
    } else {
      if (n > a) throw new Error(`choice: cannot take ${n} samples from ${a} without replacement`);
      out = this.permutation(a).slice(0, n);
    }
    return size === undefined ? out[0] : out;
  }
}

/**
 * The process-wide generator, numpy's global `np.random` (seeded from
 * entropy at load). Use it where course code calls `np.random.seed(…)` then
 * `np.random.randn(…)` and results must follow one shared stream — e.g. to
 * reproduce a notebook cell: `globalRandomState.seed(231)` then draw.
 * Prefer your own `new RandomState(seed)` in library code, so that
 * unrelated callers cannot shift each other's streams.
 */
export const globalRandomState: RandomState = new RandomState();
