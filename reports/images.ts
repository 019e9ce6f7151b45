/**
 * Images for reports: the course's `visualize_grid` (first-layer filters
 * as a padded grid, each normalised to 0–255 on its own), single images
 * (inputs and filter responses), nearest-neighbour upscaling, and PNG
 * encoding to `data:` URLs for `<img>` elements. Plain arrays in, no layers
 * imported.
 *
 * @module
 */

/** An n-dimensional array of numbers, row-major (a `Tensor` fits). */
export interface ImageArray {
  /** The values, row-major; as many as the product of `shape`. */
  data: ArrayLike<number>;
  /** Size of each dimension (positive integers). */
  shape: readonly number[];
}

/** An 8-bit image, row-major, `channels` bytes per pixel (1: grey, 3: RGB). */
export interface RasterImage {
  /** Width in pixels. */
  width: number;
  /** Height in pixels. */
  height: number;
  /** Bytes per pixel: 1 (grey) or 3 (RGB). */
  channels: 1 | 3;
  /** `width · height · channels` bytes, row by row, top to bottom. */
  pixels: Uint8Array;
}

function checkData(where: string, a: ImageArray, rank: number[]): void {
  if (!rank.includes(a.shape.length)) {
    throw new RangeError(`${where}: expected a ${rank.join(" or ")}-D array, got shape (${a.shape.join(", ")})`);
  }
  const size = a.shape.reduce((p, d) => p * d, 1);
  if (a.data.length !== size) {
    throw new RangeError(`${where}: data has ${a.data.length} values for shape (${a.shape.join(", ")}) of ${size}`);
  }
  for (const d of a.shape) {
    if (!Number.isInteger(d) || d <= 0) {
      throw new RangeError(`${where}: shape (${a.shape.join(", ")}) has a dimension that is not a positive integer`);
    }
  }
}

/** Options of {@link visualizeGrid}. */
export interface VisualizeGridOptions {
  /** Each image is scaled to [0, ubound]. Default 255. */
  ubound?: number;
  /** Pixels between images. Default 1. */
  padding?: number;
}

/**
 * The course's `visualize_grid`: N images `xs: (N, H, W, C)` laid out on a
 * ⌈√N⌉ × ⌈√N⌉ grid with `padding` zero pixels between them, each image
 * normalised to [0, ubound] by its own min and max. An image whose values
 * are all equal (where the course divides by zero) becomes ubound / 2.
 *
 * @returns the grid `(H·g + padding·(g − 1), W·g + padding·(g − 1), C)` as float64
 */
export function visualizeGrid(
  xs: ImageArray,
  options: VisualizeGridOptions = {},
): { data: Float64Array; shape: [number, number, number] } {
  checkData("visualizeGrid", xs, [4]);
  const [n, h, w, c] = xs.shape;
  const ubound = options.ubound ?? 255;
  const padding = options.padding ?? 1;
  if (!Number.isInteger(padding) || padding < 0) {
    throw new RangeError(`visualizeGrid: padding ${padding} is not a non-negative integer`);
  }
  const g = Math.ceil(Math.sqrt(n));
  const gh = h * g + padding * (g - 1);
  const gw = w * g + padding * (g - 1);
  const grid = new Float64Array(gh * gw * c);
  const per = h * w * c;
  for (let i = 0; i < n; i++) {
    const off = i * per;
    let low = Infinity;
    let high = -Infinity;
    for (let j = 0; j < per; j++) {
      const v = xs.data[off + j];
      if (v < low) low = v;
      if (v > high) high = v;
    }
    if (!Number.isFinite(low) || !Number.isFinite(high)) {
      throw new RangeError(`visualizeGrid: image ${i} has a non-finite value`);
    }
    const y0 = Math.floor(i / g) * (h + padding);
    const x0 = (i % g) * (w + padding);
    const range = high - low;
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        for (let k = 0; k < c; k++) {
          const v = xs.data[off + (y * w + x) * c + k];
          grid[((y0 + y) * gw + x0 + x) * c + k] = range > 0 ? ubound * (v - low) / range : ubound / 2;
        }
      }
    }
  }
  return { data: grid, shape: [gh, gw, c] };
}

/** Options of {@link imageFromArray}. */
export interface ImageFromArrayOptions {
  /** Scale values to 0–255 by the image's own min and max (the course's `imshow_no_ax(normalize=True)`). Default false: values are 0–255 already and are clamped and rounded. */
  normalize?: boolean;
  /** How the axes are laid out: `"HWC"` (height, width, channels; the default) or `"CHW"`. 2-D arrays are `(H, W)` grey. */
  layout?: "HWC" | "CHW";
}

/** An image as 8-bit pixels from `(H, W)`, `(H, W, C)` or `(C, H, W)` numbers, C = 1 or 3. */
export function imageFromArray(img: ImageArray, options: ImageFromArrayOptions = {}): RasterImage {
  checkData("imageFromArray", img, [2, 3]);
  const chw = options.layout === "CHW" && img.shape.length === 3;
  const [height, width, channels] = img.shape.length === 2
    ? [img.shape[0], img.shape[1], 1]
    : chw
    ? [img.shape[1], img.shape[2], img.shape[0]]
    : [img.shape[0], img.shape[1], img.shape[2]];
  if (channels !== 1 && channels !== 3) {
    throw new RangeError(`imageFromArray: ${channels} channels in shape (${img.shape.join(", ")}), expected 1 or 3`);
  }
  let low = 0;
  let scale = 1;
  if (options.normalize) {
    low = Infinity;
    let high = -Infinity;
    for (let i = 0; i < img.data.length; i++) {
      const v = img.data[i];
      if (v < low) low = v;
      if (v > high) high = v;
    }
    if (!Number.isFinite(low) || !Number.isFinite(high)) {
      throw new RangeError("imageFromArray: the image has a non-finite value");
    }
    scale = high > low ? 255 / (high - low) : 0;
  }
  const pixels = new Uint8Array(width * height * channels);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let k = 0; k < channels; k++) {
        const src = chw ? (k * height + y) * width + x : (y * width + x) * channels + k;
        const v = img.data[src];
        if (Number.isNaN(v)) throw new RangeError(`imageFromArray: value at (${y}, ${x}, ${k}) is NaN`);
        const s = options.normalize ? (scale === 0 ? 127.5 : (v - low) * scale) : v;
        pixels[(y * width + x) * channels + k] = Math.min(255, Math.max(0, Math.round(s)));
      }
    }
  }
  return { width, height, channels: channels as 1 | 3, pixels };
}

/** Options of {@link filterGridImage}. */
export interface FilterGridOptions {
  /** Pixels between filters. Default 1. */
  padding?: number;
  /** Upscale so the grid is at least this many pixels wide (whole multiples only, so pixels stay square and crisp). Default 256. */
  minWidth?: number;
}

/**
 * First-layer conv filters `w: (F, C, HH, WW)` (C = 1 or 3) as the course
 * shows them: `visualizeGrid(w.transpose(0, 2, 3, 1))`, upscaled by a whole
 * factor so each weight is a crisp block.
 */
export function filterGridImage(w: ImageArray, options: FilterGridOptions = {}): RasterImage {
  checkData("filterGridImage", w, [4]);
  const [f, c, hh, ww] = w.shape;
  if (c !== 1 && c !== 3) {
    throw new RangeError(`filterGridImage: filters (${w.shape.join(", ")}) have ${c} channels, expected 1 or 3`);
  }
  const nhwc = new Float64Array(f * hh * ww * c);
  for (let i = 0; i < f; i++) {
    for (let k = 0; k < c; k++) {
      for (let y = 0; y < hh; y++) {
        for (let x = 0; x < ww; x++) nhwc[((i * hh + y) * ww + x) * c + k] = w.data[((i * c + k) * hh + y) * ww + x];
      }
    }
  }
  const grid = visualizeGrid({ data: nhwc, shape: [f, hh, ww, c] }, { padding: options.padding ?? 1 });
  const img = imageFromArray(grid);
  return scaleImage(img, Math.max(1, Math.ceil((options.minWidth ?? 256) / img.width)));
}

/** Nearest-neighbour upscaling by a whole factor (every pixel becomes a factor × factor block). */
export function scaleImage(img: RasterImage, factor: number): RasterImage {
  if (!Number.isInteger(factor) || factor < 1) {
    throw new RangeError(`scaleImage: factor ${factor} is not a positive integer`);
  }
  if (factor === 1) return img;
  const { width, height, channels } = img;
  const w2 = width * factor;
  const out = new Uint8Array(w2 * height * factor * channels);
  for (let y = 0; y < height * factor; y++) {
    const sy = Math.floor(y / factor);
    for (let x = 0; x < w2; x++) {
      const s = (sy * width + Math.floor(x / factor)) * channels;
      const d = (y * w2 + x) * channels;
      for (let k = 0; k < channels; k++) out[d + k] = img.pixels[s + k];
    }
  }
  return { width: w2, height: height * factor, channels, pixels: out };
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 (ISO-HDLC, as PNG and zlib use it) of `bytes`. */
export function crc32(bytes: Uint8Array, crc = 0): number {
  let c = ~crc >>> 0;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

async function deflate(bytes: Uint8Array): Promise<Uint8Array> {
  // "deflate" is the zlib format (RFC 1950), which is what PNG's IDAT holds.
  const stream = new Blob([bytes as BlobPart]).stream().pipeThrough(new CompressionStream("deflate"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

/** Encodes an image as PNG (8-bit grey or RGB, no filtering, zlib-compressed). */
export async function encodePng(img: RasterImage): Promise<Uint8Array> {
  const { width, height, channels, pixels } = img;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new RangeError(`encodePng: size ${width} × ${height} is not positive whole pixels`);
  }
  if (pixels.length !== width * height * channels) {
    throw new RangeError(`encodePng: ${pixels.length} bytes for ${width} × ${height} × ${channels}`);
  }
  const header = new Uint8Array(13);
  const hv = new DataView(header.buffer);
  hv.setUint32(0, width);
  hv.setUint32(4, height);
  header[8] = 8;
  header[9] = channels === 3 ? 2 : 0;
  const row = width * channels;
  const raw = new Uint8Array((row + 1) * height);
  for (let y = 0; y < height; y++) raw.set(pixels.subarray(y * row, (y + 1) * row), y * (row + 1) + 1);
  const parts = [
    new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", header),
    chunk("IDAT", await deflate(raw)),
    chunk("IEND", new Uint8Array(0)),
  ];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** An image as a `data:image/png;base64,…` URL, for a report's images. */
export async function pngDataUrl(img: RasterImage): Promise<string> {
  const png = await encodePng(img);
  let binary = "";
  for (let i = 0; i < png.length; i += 0x8000) binary += String.fromCharCode(...png.subarray(i, i + 0x8000));
  return `data:image/png;base64,${btoa(binary)}`;
}
