/**
 * im2col and col2im for float32 in WebAssembly SIMD, the data movement of the
 * fast convolution: five times the JavaScript loops' speed on 7 × 7 filters,
 * where the unfolding otherwise costs as much as the matrix product.
 *
 * The kernel works inside its own memory: a chunk of the caller's images is
 * copied in (one `set`), each image is copied into a zero-padded image there
 * and unfolded into a column block that also lives there, and that block (a
 * `Float32Array` view of the kernel's memory) is what `gemm` reads. Backward,
 * `gemm` writes the column gradient into the same block (the columns are
 * spent by then), col2im sums it image by image into the padded image, whose
 * interior is copied out to the caller's `dx`.
 *
 * Results equal `im2col` / `col2im` of `im2col.ts` exactly: copies are copies,
 * and a float32 sum rounded once per addition is what the JavaScript loop
 * (float64 addition, rounded to float32 on the store) computes too.
 *
 * Internal to the fast layers; not part of the public API. The module is
 * built from `IM2COL_WAT` below: after editing it, run
 * `deno run --allow-read --allow-write --allow-env --allow-net --no-lock layers/kernels/im2col_wasm.ts`
 * (it fetches `npm:wabt` once and rewrites `IM2COL_WASM_BASE64` in this file).
 *
 * @module
 */

import type { ConvGeometry } from "../conv_params.ts";

/**
 * The kernel's text. Pointers and row strides are in bytes. `taps` sweeps
 * the filter taps (c, i, j) and output rows oh of ONE padded image
 * `(C, Hp, Wp)`, copying into the columns (im2col) or adding from them
 * (col2im); a tap's output row is `outW` values `ld` bytes apart from the
 * next tap's. Stride 1 moves four floats per `v128` load/store;
 * stride 2 gathers the even lanes of two loads with one shuffle (the second
 * load may read up to 16 bytes past a row, so 16 spare bytes follow the
 * padded image); other strides and the row tails go one float at a time.
 * `im2col_chunk` and `col2im_chunk`, the entry points, loop over a chunk's
 * images and move them between compact and padded layout (`copy_rows`).
 */
export const IM2COL_WAT = `(module
  (memory (export "memory") 1)
  ;; taps(xp, cols, C, Hp, Wp, HH, WW, stride, outH, outW, ld, fold): cols row (c·HH + i)·WW + j sits at cols + that·ld
  ;; and its element oh·outW + ow belongs to xp[c, oh·stride + i, ow·stride + j]. fold = 0 copies each image element
  ;; to its column element (im2col); fold = 1 adds each column element into its image element, taps in order (col2im).
  (func $taps (param $xp i32) (param $cols i32) (param $C i32) (param $Hp i32) (param $Wp i32)
      (param $HH i32) (param $WW i32) (param $stride i32) (param $outH i32) (param $outW i32) (param $ld i32)
      (param $fold i32)
    (local $c i32) (local $i i32) (local $j i32) (local $oh i32) (local $row i32) (local $src i32)
    (local $d i32) (local $s i32) (local $e i32) (local $rowStep i32) (local $step i32)
    (local.set $rowStep (i32.shl (i32.mul (local.get $stride) (local.get $Wp)) (i32.const 2)))
    (local.set $step (i32.shl (local.get $stride) (i32.const 2)))
    (local.set $row (local.get $cols))
    (loop $lc
      (local.set $i (i32.const 0))
      (loop $li
        (local.set $j (i32.const 0))
        (loop $lj
          (local.set $src (i32.add (local.get $xp) (i32.shl (i32.add (i32.mul (i32.add (i32.mul (local.get $c)
            (local.get $Hp)) (local.get $i)) (local.get $Wp)) (local.get $j)) (i32.const 2))))
          (local.set $d (local.get $row))
          (local.set $oh (i32.const 0))
          (loop $loh
            (local.set $s (local.get $src))
            (local.set $e (i32.add (local.get $d) (i32.shl (local.get $outW) (i32.const 2))))
            (if (local.get $fold)
              (then
                (if (i32.eq (local.get $stride) (i32.const 1))
                  (then
                    (block $b4 (loop $l4
                      (br_if $b4 (i32.gt_u (i32.add (local.get $d) (i32.const 16)) (local.get $e)))
                      (v128.store (local.get $s) (f32x4.add (v128.load (local.get $s)) (v128.load (local.get $d))))
                      (local.set $d (i32.add (local.get $d) (i32.const 16)))
                      (local.set $s (i32.add (local.get $s) (i32.const 16)))
                      (br $l4)))))
                (block $b1 (loop $l1
                  (br_if $b1 (i32.ge_u (local.get $d) (local.get $e)))
                  (f32.store (local.get $s) (f32.add (f32.load (local.get $s)) (f32.load (local.get $d))))
                  (local.set $d (i32.add (local.get $d) (i32.const 4)))
                  (local.set $s (i32.add (local.get $s) (local.get $step)))
                  (br $l1))))
              (else
                (if (i32.eq (local.get $stride) (i32.const 1))
                  (then
                    (block $b4 (loop $l4
                      (br_if $b4 (i32.gt_u (i32.add (local.get $d) (i32.const 16)) (local.get $e)))
                      (v128.store (local.get $d) (v128.load (local.get $s)))
                      (local.set $d (i32.add (local.get $d) (i32.const 16)))
                      (local.set $s (i32.add (local.get $s) (i32.const 16)))
                      (br $l4))))
                  (else
                    (if (i32.eq (local.get $stride) (i32.const 2))
                      (then
                        (block $b4 (loop $l4
                          (br_if $b4 (i32.gt_u (i32.add (local.get $d) (i32.const 16)) (local.get $e)))
                          (v128.store (local.get $d)
                            (i8x16.shuffle 0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27
                              (v128.load (local.get $s)) (v128.load offset=16 (local.get $s))))
                          (local.set $d (i32.add (local.get $d) (i32.const 16)))
                          (local.set $s (i32.add (local.get $s) (i32.const 32)))
                          (br $l4)))))))
                (block $b1 (loop $l1
                  (br_if $b1 (i32.ge_u (local.get $d) (local.get $e)))
                  (f32.store (local.get $d) (f32.load (local.get $s)))
                  (local.set $d (i32.add (local.get $d) (i32.const 4)))
                  (local.set $s (i32.add (local.get $s) (local.get $step)))
                  (br $l1)))))
            (local.set $src (i32.add (local.get $src) (local.get $rowStep)))
            (local.set $oh (i32.add (local.get $oh) (i32.const 1)))
            (br_if $loh (i32.lt_u (local.get $oh) (local.get $outH))))
          (local.set $row (i32.add (local.get $row) (local.get $ld)))
          (local.set $j (i32.add (local.get $j) (i32.const 1)))
          (br_if $lj (i32.lt_u (local.get $j) (local.get $WW))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $li (i32.lt_u (local.get $i) (local.get $HH))))
      (local.set $c (i32.add (local.get $c) (i32.const 1)))
      (br_if $lc (i32.lt_u (local.get $c) (local.get $C)))))
  ;; copy_rows(src, srcStride, dst, dstStride, rows, width): rows of width floats; strides in bytes.
  (func $copy_rows (param $src i32) (param $ss i32) (param $dst i32) (param $ds i32) (param $rows i32) (param $width i32)
    (local $r i32) (local $s i32) (local $d i32) (local $e i32)
    (block $done (loop $lr
      (br_if $done (i32.ge_u (local.get $r) (local.get $rows)))
      (local.set $s (local.get $src))
      (local.set $d (local.get $dst))
      (local.set $e (i32.add (local.get $d) (i32.shl (local.get $width) (i32.const 2))))
      (block $b4 (loop $l4
        (br_if $b4 (i32.gt_u (i32.add (local.get $d) (i32.const 16)) (local.get $e)))
        (v128.store (local.get $d) (v128.load (local.get $s)))
        (local.set $d (i32.add (local.get $d) (i32.const 16)))
        (local.set $s (i32.add (local.get $s) (i32.const 16)))
        (br $l4)))
      (block $b1 (loop $l1
        (br_if $b1 (i32.ge_u (local.get $d) (local.get $e)))
        (f32.store (local.get $d) (f32.load (local.get $s)))
        (local.set $d (i32.add (local.get $d) (i32.const 4)))
        (local.set $s (i32.add (local.get $s) (i32.const 4)))
        (br $l1)))
      (local.set $src (i32.add (local.get $src) (local.get $ss)))
      (local.set $dst (i32.add (local.get $dst) (local.get $ds)))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br $lr))))
  ;; im2col_chunk(x, xp, cols, N, C, H, W, pad, HH, WW, stride, outH, outW): N compact images (C, H, W) at x, each
  ;; copied into the zero-bordered padded image xp and unfolded into its columns: image n's block at
  ;; cols + n·outH·outW·4, rows N·outH·outW·4 bytes apart.
  (func (export "im2col_chunk") (param $x i32) (param $xp i32) (param $cols i32) (param $N i32) (param $C i32)
      (param $H i32) (param $W i32) (param $pad i32) (param $HH i32) (param $WW i32) (param $stride i32)
      (param $outH i32) (param $outW i32)
    (local $n i32) (local $Hp i32) (local $Wp i32) (local $P4 i32) (local $img i32)
    (local.set $Hp (i32.add (local.get $H) (i32.shl (local.get $pad) (i32.const 1))))
    (local.set $Wp (i32.add (local.get $W) (i32.shl (local.get $pad) (i32.const 1))))
    (local.set $P4 (i32.shl (i32.mul (local.get $outH) (local.get $outW)) (i32.const 2)))
    (local.set $img (i32.shl (i32.mul (i32.mul (local.get $C) (local.get $H)) (local.get $W)) (i32.const 2)))
    (memory.fill (local.get $xp) (i32.const 0)
      (i32.shl (i32.mul (i32.mul (local.get $C) (local.get $Hp)) (local.get $Wp)) (i32.const 2)))
    (block $done (loop $ln
      (br_if $done (i32.ge_u (local.get $n) (local.get $N)))
      ;; The C·H rows of image n land pad rows and pad columns in; channel c's rows start Hp·Wp floats apart,
      ;; so rows are copied per channel.
      (call $copy_channels (i32.add (local.get $x) (i32.mul (local.get $n) (local.get $img))) (local.get $xp)
        (local.get $C) (local.get $H) (local.get $W) (local.get $pad))
      (call $taps (local.get $xp) (i32.add (local.get $cols) (i32.mul (local.get $n) (local.get $P4)))
        (local.get $C) (local.get $Hp) (local.get $Wp) (local.get $HH) (local.get $WW) (local.get $stride)
        (local.get $outH) (local.get $outW) (i32.mul (local.get $N) (local.get $P4)) (i32.const 0))
      (local.set $n (i32.add (local.get $n) (i32.const 1)))
      (br $ln))))
  ;; copy_channels(x, xp, C, H, W, pad): compact (C, H, W) at x into the interior of padded xp.
  (func $copy_channels (param $x i32) (param $xp i32) (param $C i32) (param $H i32) (param $W i32) (param $pad i32)
    (local $c i32) (local $Wp i32) (local $chan i32)
    (local.set $Wp (i32.add (local.get $W) (i32.shl (local.get $pad) (i32.const 1))))
    (local.set $chan (i32.mul (i32.add (local.get $H) (i32.shl (local.get $pad) (i32.const 1))) (local.get $Wp)))
    (block $done (loop $lc
      (br_if $done (i32.ge_u (local.get $c) (local.get $C)))
      (call $copy_rows
        (i32.add (local.get $x) (i32.shl (i32.mul (i32.mul (local.get $c) (local.get $H)) (local.get $W)) (i32.const 2)))
        (i32.shl (local.get $W) (i32.const 2))
        (i32.add (local.get $xp) (i32.shl (i32.add (i32.add (i32.mul (local.get $c) (local.get $chan))
          (i32.mul (local.get $pad) (local.get $Wp))) (local.get $pad)) (i32.const 2)))
        (i32.shl (local.get $Wp) (i32.const 2))
        (local.get $H) (local.get $W))
      (local.set $c (i32.add (local.get $c) (i32.const 1)))
      (br $lc))))
  ;; col2im_chunk(cols, dxp, dx, N, C, H, W, pad, HH, WW, stride, outH, outW): the adjoint of im2col_chunk, WRITING
  ;; (not adding) image n's gradient as compact (C, H, W) at dx + n·C·H·W·4.
  (func (export "col2im_chunk") (param $cols i32) (param $dxp i32) (param $dx i32) (param $N i32) (param $C i32)
      (param $H i32) (param $W i32) (param $pad i32) (param $HH i32) (param $WW i32) (param $stride i32)
      (param $outH i32) (param $outW i32)
    (local $n i32) (local $c i32) (local $Hp i32) (local $Wp i32) (local $P4 i32) (local $img i32) (local $chan i32)
    (local.set $Hp (i32.add (local.get $H) (i32.shl (local.get $pad) (i32.const 1))))
    (local.set $Wp (i32.add (local.get $W) (i32.shl (local.get $pad) (i32.const 1))))
    (local.set $chan (i32.mul (local.get $Hp) (local.get $Wp)))
    (local.set $P4 (i32.shl (i32.mul (local.get $outH) (local.get $outW)) (i32.const 2)))
    (local.set $img (i32.shl (i32.mul (i32.mul (local.get $C) (local.get $H)) (local.get $W)) (i32.const 2)))
    (block $done (loop $ln
      (br_if $done (i32.ge_u (local.get $n) (local.get $N)))
      (memory.fill (local.get $dxp) (i32.const 0) (i32.shl (i32.mul (local.get $C) (local.get $chan)) (i32.const 2)))
      (call $taps (local.get $dxp) (i32.add (local.get $cols) (i32.mul (local.get $n) (local.get $P4)))
        (local.get $C) (local.get $Hp) (local.get $Wp) (local.get $HH) (local.get $WW) (local.get $stride)
        (local.get $outH) (local.get $outW) (i32.mul (local.get $N) (local.get $P4)) (i32.const 1))
      (local.set $c (i32.const 0))
      (block $cd (loop $lc
        (br_if $cd (i32.ge_u (local.get $c) (local.get $C)))
        (call $copy_rows
          (i32.add (local.get $dxp) (i32.shl (i32.add (i32.add (i32.mul (local.get $c) (local.get $chan))
            (i32.mul (local.get $pad) (local.get $Wp))) (local.get $pad)) (i32.const 2)))
          (i32.shl (local.get $Wp) (i32.const 2))
          (i32.add (i32.add (local.get $dx) (i32.mul (local.get $n) (local.get $img)))
            (i32.shl (i32.mul (i32.mul (local.get $c) (local.get $H)) (local.get $W)) (i32.const 2)))
          (i32.shl (local.get $W) (i32.const 2))
          (local.get $H) (local.get $W))
        (local.set $c (i32.add (local.get $c) (i32.const 1)))
        (br $lc)))
      (local.set $n (i32.add (local.get $n) (i32.const 1)))
      (br $ln))))
)
`;

/** `IM2COL_WAT` assembled (base64); regenerated by running this file. */
// BEGIN GENERATED
export const IM2COL_WASM_BASE64: string = [
  "AGFzbQEAAAABKQNgDH9/f39/f39/f39/fwBgBn9/f39/fwBgDX9/f39/f39/f39/f38AAwYFAAECAQIFAwEAAQcoAwZtZW1vcnkC",
  "AAxpbTJjb2xfY2h1bmsAAgxjb2wyaW1fY2h1bmsABAqPCAW3AwELfyAHIARsQQJ0IRUgB0ECdCEWIAEhEANAQQAhDQNAQQAhDgNA",
  "IAAgDCADbCANaiAEbCAOakECdGohESAQIRJBACEPA0AgESETIBIgCUECdGohFCALBEAgB0EBRgRAAkADQCASQRBqIBRLDQEgEyAT",
  "/QAEACAS/QAEAP3kAf0LBAAgEkEQaiESIBNBEGohEwwACwsLAkADQCASIBRPDQEgEyATKgIAIBIqAgCSOAIAIBJBBGohEiATIBZq",
  "IRMMAAsLBSAHQQFGBEACQANAIBJBEGogFEsNASASIBP9AAQA/QsEACASQRBqIRIgE0EQaiETDAALCwUgB0ECRgRAAkADQCASQRBq",
  "IBRLDQEgEiAT/QAEACAT/QAEEP0NAAECAwgJCgsQERITGBkaG/0LBAAgEkEQaiESIBNBIGohEwwACwsLCwJAA0AgEiAUTw0BIBIg",
  "EyoCADgCACASQQRqIRIgEyAWaiETDAALCwsgESAVaiERIA9BAWohDyAPIAhJDQALIBAgCmohECAOQQFqIQ4gDiAGSQ0ACyANQQFq",
  "IQ0gDSAFSQ0ACyAMQQFqIQwgDCACSQ0ACwuNAQEEfwJAA0AgBiAETw0BIAAhByACIQggCCAFQQJ0aiEJAkADQCAIQRBqIAlLDQEg",
  "CCAH/QAEAP0LBAAgCEEQaiEIIAdBEGohBwwACwsCQANAIAggCU8NASAIIAcqAgA4AgAgCEEEaiEIIAdBBGohBwwACwsgACABaiEA",
  "IAIgA2ohAiAGQQFqIQYMAAsLC44BAQV/IAUgB0EBdGohDiAGIAdBAXRqIQ8gCyAMbEECdCEQIAQgBWwgBmxBAnQhESABQQAgBCAO",
  "bCAPbEECdPwLAAJAA0AgDSADTw0BIAAgDSARbGogASAEIAUgBiAHEAMgASACIA0gEGxqIAQgDiAPIAggCSAKIAsgDCADIBBsQQAQ",
  "ACANQQFqIQ0MAAsLC2MBA38gBCAFQQF0aiEHIAMgBUEBdGogB2whCAJAA0AgBiACTw0BIAAgBiADbCAEbEECdGogBEECdCABIAYg",
  "CGwgBSAHbGogBWpBAnRqIAdBAnQgAyAEEAEgBkEBaiEGDAALCwvQAQEHfyAFIAdBAXRqIQ8gBiAHQQF0aiEQIA8gEGwhEyALIAxs",
  "QQJ0IREgBCAFbCAGbEECdCESAkADQCANIANPDQEgAUEAIAQgE2xBAnT8CwAgASAAIA0gEWxqIAQgDyAQIAggCSAKIAsgDCADIBFs",
  "QQEQAEEAIQ4CQANAIA4gBE8NASABIA4gE2wgByAQbGogB2pBAnRqIBBBAnQgAiANIBJsaiAOIAVsIAZsQQJ0aiAGQQJ0IAUgBhAB",
  "IA5BAWohDgwACwsgDUEBaiENDAALCws=",
].join("");
// END GENERATED

type ChunkFn = (
  src: number,
  pad: number,
  dst: number,
  N: number,
  C: number,
  H: number,
  W: number,
  padding: number,
  HH: number,
  WW: number,
  stride: number,
  outH: number,
  outW: number,
) => void;

const PAGE = 65536;
/** The most memory the kernel asks for: 2 GiB, so that every byte address stays a non-negative i32. */
const MAX_BYTES = 2 ** 31 - PAGE;

/** Rounds a byte count up to a multiple of 64 (a cache line). */
const align = (bytes: number) => Math.ceil(bytes / 64) * 64;

/**
 * Internal: the float32 column kernel and its memory, laid out for one call
 * of a fast layer by `columns`: a chunk of compact images (or their
 * gradients), one padded image, then the column block.
 */
export class ColumnKernel {
  readonly #memory: WebAssembly.Memory;
  readonly #im2col: ChunkFn;
  readonly #col2im: ChunkFn;
  #f32: Float32Array;
  #padAt = 0;
  #colsAt = 0;

  constructor(instance: WebAssembly.Instance) {
    const e = instance.exports as Record<string, unknown>;
    this.#memory = e.memory as WebAssembly.Memory;
    this.#im2col = e.im2col_chunk as ChunkFn;
    this.#col2im = e.col2im_chunk as ChunkFn;
    this.#f32 = new Float32Array(this.#memory.buffer);
  }

  /** Bytes of the kernel's memory now (it grows to the largest call so far and never shrinks). */
  memoryBytes(): number {
    return this.#memory.buffer.byteLength;
  }

  /**
   * Lays memory out for chunks of up to `images` images of `g` and returns
   * the column block of `colFloats` values as a view, valid until the next
   * `columns` call (which may grow memory and so detach it); `null` when
   * that much memory cannot be had.
   */
  columns(g: ConvGeometry, images: number, colFloats: number): Float32Array | null {
    const chw = g.C * g.H * g.W;
    const padFloats = g.C * (g.H + 2 * g.pad) * (g.W + 2 * g.pad);
    const padAt = align(images * chw * 4);
    // The 16 spare bytes keep the stride-2 kernel's over-read of the last row inside the padded image's slot.
    const colsAt = align(padAt + padFloats * 4 + 16);
    const bytes = colsAt + colFloats * 4;
    // 32-bit WebAssembly addresses end at 4 GiB (and memory may refuse to grow): the caller then uses JavaScript.
    if (bytes > MAX_BYTES) return null;
    if (this.#memory.buffer.byteLength < bytes) {
      try {
        this.#memory.grow(Math.ceil((bytes - this.#memory.buffer.byteLength) / PAGE));
      } catch {
        return null;
      }
    }
    this.#padAt = padAt;
    this.#colsAt = colsAt;
    if (this.#f32.buffer !== this.#memory.buffer) this.#f32 = new Float32Array(this.#memory.buffer);
    return new Float32Array(this.#memory.buffer, this.#colsAt, colFloats);
  }

  /**
   * Unfolds images `x[xOff …]` of chunk geometry `g` (g.N images, at most
   * the `images` of `columns`) into the column block, laid out as `im2col`
   * lays out (C·HH·WW, g.N·outH·outW).
   */
  im2col(x: Float32Array, xOff: number, g: ConvGeometry): void {
    const { N, C, H, W, HH, WW, stride, pad, outH, outW } = g;
    if (N === 0 || C === 0 || outH * outW === 0) return;
    this.#f32.set(x.subarray(xOff, xOff + N * C * H * W));
    this.#im2col(0, this.#padAt, this.#colsAt, N, C, H, W, pad, HH, WW, stride, outH, outW);
  }

  /**
   * The adjoint: folds the column gradient held in the column block (laid
   * out as `im2col`'s output for chunk geometry `g`) back onto the images,
   * and WRITES it to `dx[dxOff … dxOff + g.N·C·H·W)`, whatever was there
   * (`col2im` adds instead; on a zeroed `dx` the two agree exactly).
   */
  col2imInto(g: ConvGeometry, dx: Float32Array, dxOff: number): void {
    const { N, C, H, W, HH, WW, stride, pad, outH, outW } = g;
    const size = N * C * H * W;
    if (size === 0) return;
    if (outH * outW === 0) {
      dx.fill(0, dxOff, dxOff + size);
      return;
    }
    this.#col2im(this.#colsAt, this.#padAt, 0, N, C, H, W, pad, HH, WW, stride, outH, outW);
    dx.set(this.#f32.subarray(0, size), dxOff);
  }
}

let kernel: ColumnKernel | null | undefined;

/**
 * Internal: the column kernel, instantiated on first use; `null` where this
 * engine lacks WebAssembly SIMD (the JavaScript loops serve then).
 */
export function columnKernel(): ColumnKernel | null {
  if (kernel !== undefined) return kernel;
  kernel = null;
  try {
    if (typeof WebAssembly !== "object" || IM2COL_WASM_BASE64 === "") return kernel;
    const bin = atob(IM2COL_WASM_BASE64);
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    if (!WebAssembly.validate(bytes)) return kernel;
    kernel = new ColumnKernel(new WebAssembly.Instance(new WebAssembly.Module(bytes), {}));
  } catch {
    kernel = null;
  }
  return kernel;
}

if (import.meta.main) {
  // Dev-time: assemble IM2COL_WAT and rewrite the generated constant above.
  const spec = "npm:wabt@1.0.39";
  const wabtInit = (await import(spec)).default as () => Promise<{
    parseWat(
      name: string,
      text: string,
      features: Record<string, boolean>,
    ): { validate(): void; toBinary(o: Record<string, never>): { buffer: Uint8Array }; destroy(): void };
  }>;
  const wabt = await wabtInit();
  const mod = wabt.parseWat("im2col.wat", IM2COL_WAT, { simd: true, bulk_memory: true });
  mod.validate();
  const bytes = mod.toBinary({}).buffer;
  mod.destroy();
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  const b64 = btoa(bin);
  const lines = b64.match(/.{1,100}/g)!.map((l) => `  "${l}",`).join("\n");
  const url = new URL(import.meta.url);
  const src = await Deno.readTextFile(url);
  const start = src.indexOf("// BEGIN GENERATED\n"), end = src.indexOf("// END GENERATED");
  const generated = `// BEGIN GENERATED\nexport const IM2COL_WASM_BASE64: string = [\n${lines}\n].join("");\n`;
  await Deno.writeTextFile(url, src.slice(0, start) + generated + src.slice(end));
  console.log(`im2col_wasm: wrote ${bytes.length} bytes of kernel into ${url.pathname}`);
}
