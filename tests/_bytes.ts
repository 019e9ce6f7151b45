/**
 * What the dataset and file tests share (Deno std's `_name.ts` convention: not
 * a test file): bytes as the readers meet them (gzip members, IDX files,
 * chunks joined back together) and a temporary folder that is removed after.
 *
 * @module
 */

/** `bytes` as one gzip member (CompressionStream's). */
export async function gzip(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/**
 * An IDX file: magic `0 0 typeByte ndim`, the dimensions as big-endian uint32,
 * then `values` as they are (default type byte 0x08: unsigned bytes).
 */
export function idx(dims: number[], values: Uint8Array | number[], typeByte = 0x08): Uint8Array {
  const out = new Uint8Array(4 + 4 * dims.length + values.length);
  out.set([0, 0, typeByte, dims.length]);
  const view = new DataView(out.buffer);
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  out.set(values, 4 + 4 * dims.length);
  return out;
}

/** The chunks of a byte stream joined back into one array. */
export function concat(parts: Uint8Array[]): Uint8Array {
  return Uint8Array.from(parts.flatMap((p) => [...p]));
}

/** Runs `fn` on a fresh temporary folder (named `prefix…`) and removes the folder afterwards, whatever happens. */
export async function withTempDir(
  fn: (dir: string) => Promise<void> | void,
  prefix = "gradstream-test-",
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
