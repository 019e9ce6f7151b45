import { assert, assertEquals, assertThrows } from "@std/assert";
import {
  crc32,
  encodePng,
  filterGridImage,
  imageFromArray,
  pngDataUrl,
  scaleImage,
  visualizeGrid,
} from "../reports/images.ts";

/** Reads back a PNG that encodePng wrote: checks the signature and every chunk's CRC, inflates the pixels. */
async function decodePng(
  png: Uint8Array,
): Promise<{ width: number; height: number; colorType: number; pixels: Uint8Array }> {
  assertEquals([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  let off = 8;
  let width = 0, height = 0, colorType = -1;
  const idat: Uint8Array[] = [];
  const types: string[] = [];
  while (off < png.length) {
    const len = view.getUint32(off);
    const type = String.fromCharCode(...png.subarray(off + 4, off + 8));
    types.push(type);
    const data = png.subarray(off + 8, off + 8 + len);
    assertEquals(view.getUint32(off + 8 + len), crc32(png.subarray(off + 4, off + 8 + len)), `${type} CRC`);
    if (type === "IHDR") {
      width = view.getUint32(off + 8);
      height = view.getUint32(off + 12);
      assertEquals(data[8], 8, "bit depth");
      colorType = data[9];
    }
    if (type === "IDAT") idat.push(data);
    off += 12 + len;
  }
  assertEquals(types, ["IHDR", "IDAT", "IEND"]);
  const inflated = new Uint8Array(
    await new Response(new Blob(idat as BlobPart[]).stream().pipeThrough(new DecompressionStream("deflate")))
      .arrayBuffer(),
  );
  const channels = colorType === 2 ? 3 : 1;
  const row = width * channels;
  const pixels = new Uint8Array(row * height);
  for (let y = 0; y < height; y++) {
    assertEquals(inflated[y * (row + 1)], 0, "filter type");
    pixels.set(inflated.subarray(y * (row + 1) + 1, (y + 1) * (row + 1)), y * row);
  }
  return { width, height, colorType, pixels };
}

Deno.test("crc32 gives the standard check value for '123456789'", () => {
  assertEquals(crc32(new TextEncoder().encode("123456789")), 0xcbf43926);
});

Deno.test("visualizeGrid lays 3 images on a 2 × 2 grid, each scaled to [0, 255] by its own min and max, zero padding", () => {
  // (N=3, H=1, W=2, C=1)
  const grid = visualizeGrid({ data: [0, 2, -1, -3, 5, 5], shape: [3, 1, 2, 1] });
  assertEquals(grid.shape, [3, 5, 1]);
  assertEquals([...grid.data], [
    0,
    255,
    0,
    255,
    0, //
    0,
    0,
    0,
    0,
    0, // padding row
    127.5,
    127.5,
    0,
    0,
    0, // constant image → mid grey; fourth cell empty
  ]);
});

Deno.test("filterGridImage shows filter (F, C, HH, WW) as RGB in grid order, upscaled by a whole factor", () => {
  // Two 1×1 RGB filters; each normalised over its own three channels.
  const img = filterGridImage({ data: [0, 1, 2, 4, 2, 0], shape: [2, 3, 1, 1] }, { minWidth: 6 });
  // Grid: 2 × 2 cells of 1 px with 1 px padding = 3 × 3, upscaled ×2 to 6 × 6.
  assertEquals([img.width, img.height, img.channels], [6, 6, 3]);
  const px = (x: number, y: number) => [...img.pixels.subarray((y * 6 + x) * 3, (y * 6 + x) * 3 + 3)];
  assertEquals(px(0, 0), [0, 128, 255]);
  assertEquals(px(1, 1), [0, 128, 255]);
  assertEquals(px(2, 0), [0, 0, 0]);
  assertEquals(px(4, 0), [255, 128, 0]);
  assertThrows(
    () => filterGridImage({ data: new Float64Array(2 * 2 * 3 * 3), shape: [2, 2, 3, 3] }),
    RangeError,
    "2 channels",
  );
});

Deno.test("imageFromArray reads (H, W, C), (C, H, W) and (H, W) and normalises on request", () => {
  const hwc = imageFromArray({ data: [0, 10, 20, 300, -5, 60], shape: [1, 2, 3] });
  assertEquals([...hwc.pixels], [0, 10, 20, 255, 0, 60]);
  const chw = imageFromArray({ data: [1, 2, 3, 4, 5, 6], shape: [3, 1, 2] }, { layout: "CHW" });
  assertEquals([...chw.pixels], [1, 3, 5, 2, 4, 6]);
  const grey = imageFromArray({ data: [-1, 0, 1, 3], shape: [2, 2] }, { normalize: true });
  assertEquals([grey.channels, ...grey.pixels], [1, 0, 64, 128, 255]);
  assertThrows(() => imageFromArray({ data: [1, 2, 3], shape: [2, 2] }), RangeError, "3 values for shape (2, 2)");
});

Deno.test("scaleImage turns every pixel into a factor × factor block", () => {
  const img = scaleImage({ width: 2, height: 1, channels: 1, pixels: new Uint8Array([7, 9]) }, 2);
  assertEquals([img.width, img.height, ...img.pixels], [4, 2, 7, 7, 9, 9, 7, 7, 9, 9]);
  assertThrows(() => scaleImage(img, 1.5), RangeError, "factor 1.5");
});

Deno.test("encodePng writes a valid PNG whose pixels read back exactly (RGB and grey)", async () => {
  const rgb = { width: 3, height: 2, channels: 3 as const, pixels: Uint8Array.from({ length: 18 }, (_, i) => i * 13) };
  const back = await decodePng(await encodePng(rgb));
  assertEquals([back.width, back.height, back.colorType], [3, 2, 2]);
  assertEquals(back.pixels, rgb.pixels);
  const grey = { width: 2, height: 2, channels: 1 as const, pixels: new Uint8Array([0, 64, 128, 255]) };
  const g = await decodePng(await encodePng(grey));
  assertEquals([g.colorType, ...g.pixels], [0, 0, 64, 128, 255]);
  const url = await pngDataUrl(grey);
  assert(url.startsWith("data:image/png;base64,iVBORw0KGgo"));
});
