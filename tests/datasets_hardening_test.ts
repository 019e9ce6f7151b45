/**
 * Issue 12, items 1 and 3: dataset readers under hostile files. IDX headers
 * are checked against the file before anything is allocated, gzip errors
 * name offsets, and only regular files are opened (a FIFO must not hang).
 */

import { assert, assertEquals, assertRejects, assertStringIncludes } from "@std/assert";
import { watchAllocations } from "../datasets/_allocations.ts";
import { loadCifar10 } from "../datasets/cifar10.ts";
import { loadMnist } from "../datasets/idx.ts";
import { DatasetFormatError } from "../datasets/records.ts";

async function gzip(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

function idx(dims: number[], values: Uint8Array | number[]): Uint8Array {
  const out = new Uint8Array(4 + 4 * dims.length + values.length);
  out.set([0, 0, 8, dims.length]);
  const view = new DataView(out.buffer);
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  out.set(values, 4 + 4 * dims.length);
  return out;
}

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "gradstream_harden_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Writes a valid 2-image MNIST set, with `override` replacing files by name (no `.gz`). */
async function writeMnist(dir: string, gz: boolean, override: Record<string, Uint8Array> = {}): Promise<void> {
  const files: Record<string, Uint8Array> = {
    "train-images-idx3-ubyte": idx([2, 2, 2], [1, 2, 3, 4, 5, 6, 7, 8]),
    "train-labels-idx1-ubyte": idx([2], [3, 4]),
    "t10k-images-idx3-ubyte": idx([1, 2, 2], [9, 9, 9, 9]),
    "t10k-labels-idx1-ubyte": idx([1], [1]),
    ...override,
  };
  for (const [name, bytes] of Object.entries(files)) {
    await Deno.writeFile(`${dir}/${name}${gz ? ".gz" : ""}`, gz ? await gzip(bytes) : bytes);
  }
}

async function mkfifo(path: string): Promise<boolean> {
  try {
    const { success } = await new Deno.Command("mkfifo", { args: [path] }).output();
    return success;
  } catch {
    return false;
  }
}

/** Runs `fn` and returns the largest output buffer a loader asked for meanwhile, in bytes. */
async function largestAllocation(fn: () => Promise<unknown>): Promise<number> {
  let largest = 0;
  const stop = watchAllocations((bytes) => largest = Math.max(largest, bytes));
  try {
    await fn().catch(() => {});
  } finally {
    stop();
  }
  return largest;
}

const opts = { numTraining: 1, numValidation: 1, numTest: 1, subtractMean: false };

Deno.test("loadMnist refuses an IDX header of 65535×65535 images in a 64-byte file before allocating (issue 12.1)", async () => {
  for (const gz of [false, true]) {
    await withTempDir(async (dir) => {
      // 64 bytes: a header claiming 65535 images of 65535×65535 pixels, then 48 bytes of pixels.
      const huge = idx([65535, 65535, 65535], new Uint8Array(48));
      assertEquals(huge.length, 64);
      await writeMnist(dir, gz, { "train-images-idx3-ubyte": huge, "train-labels-idx1-ubyte": idx([65535], [1]) });
      const file = `${dir}/train-images-idx3-ubyte${gz ? ".gz" : ""}`;
      const error = await assertRejects(() => loadMnist(dir, opts), DatasetFormatError);
      assertStringIncludes(error.message, `loadMnist: ${file}: `);
      assertEquals(await largestAllocation(() => loadMnist(dir, opts)), 0);
    });
  }
});

Deno.test("loadMnist checks a 1000×1000 IDX header against 48 bytes of file before allocating (issue 12.1)", async () => {
  await withTempDir(async (dir) => {
    const lying = idx([2, 1000, 1000], new Uint8Array(32));
    await writeMnist(dir, false, { "train-images-idx3-ubyte": lying });
    await assertRejects(
      () => loadMnist(dir, opts),
      DatasetFormatError,
      `loadMnist: ${dir}/train-images-idx3-ubyte: size 48 bytes is not a 16-byte header plus a multiple of the ` +
        "1000000-byte record size: the record at byte 16 is truncated to 32 bytes",
    );
    assertEquals(await largestAllocation(() => loadMnist(dir, opts)), 0);
  });
});

Deno.test("a corrupt gzipped IDX header names the file and how far the data went (issue 12.1)", async () => {
  await withTempDir(async (dir) => {
    await writeMnist(dir, true);
    const path = `${dir}/train-images-idx3-ubyte.gz`;
    const bytes = await Deno.readFile(path);
    bytes.fill(0x55, 10, bytes.length - 8);
    await Deno.writeFile(path, bytes);
    const error = await assertRejects(() => loadMnist(dir, opts), DatasetFormatError);
    assertStringIncludes(error.message, `loadMnist: ${path}: corrupt gzip data within the first `);
    assertStringIncludes(error.message, " compressed bytes, after 0 decompressed bytes");
  });
});

Deno.test("bytes after the end of a gzip stream get a clear message, not 'failed to write whole buffer' (issue 12.9)", async () => {
  await withTempDir(async (dir) => {
    await writeMnist(dir, true);
    const path = `${dir}/train-labels-idx1-ubyte.gz`;
    const gz = await Deno.readFile(path);
    await Deno.writeFile(path, new Uint8Array([...gz, 1, 2, 3, 4]));
    const error = await assertRejects(() => loadMnist(dir, opts), DatasetFormatError);
    assertStringIncludes(error.message, `loadMnist: ${path}: unexpected bytes after the end of the gzip stream`);
    assert(!error.message.includes("failed to write whole buffer"), error.message);
  });
});

Deno.test("dataset readers refuse a FIFO instead of hanging: IDX, .gz batch, batches.meta.txt (issue 12.3)", async (t) => {
  await withTempDir(async (dir) => {
    if (!(await mkfifo(`${dir}/probe`))) {
      await t.step("(skipped: mkfifo is not available)", () => {});
      return;
    }
    await Deno.mkdir(`${dir}/mnist`);
    await writeMnist(`${dir}/mnist`, false);
    await Deno.remove(`${dir}/mnist/t10k-labels-idx1-ubyte`);
    await mkfifo(`${dir}/mnist/t10k-labels-idx1-ubyte`);
    await assertRejects(
      () => loadMnist(`${dir}/mnist`, opts),
      DatasetFormatError,
      `loadMnist: ${dir}/mnist/t10k-labels-idx1-ubyte: is a FIFO (named pipe), not a regular file`,
    );
    await Deno.mkdir(`${dir}/cifar`);
    await mkfifo(`${dir}/cifar/data_batch_1.bin.gz`);
    const cifar = { numTraining: 10, numValidation: 0, numTest: 0, subtractMean: false };
    await assertRejects(
      () => loadCifar10(`${dir}/cifar`, cifar),
      DatasetFormatError,
      `loadCifar10: ${dir}/cifar/data_batch_1.bin.gz: is a FIFO (named pipe), not a regular file`,
    );
    await Deno.remove(`${dir}/cifar/data_batch_1.bin.gz`);
    await Deno.writeFile(`${dir}/cifar/data_batch_1.bin`, new Uint8Array(3073 * 10000));
    await mkfifo(`${dir}/cifar/batches.meta.txt`);
    await assertRejects(
      () => loadCifar10(`${dir}/cifar`, cifar),
      DatasetFormatError,
      `${dir}/cifar/batches.meta.txt: is a FIFO (named pipe), not a regular file`,
    );
  });
});

Deno.test("a directory in place of a CIFAR-10 batch is named as a directory, not by its size (issue 12.3)", async () => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(`${dir}/data_batch_1.bin`);
    await assertRejects(
      () => loadCifar10(dir, { numTraining: 10, numValidation: 0, numTest: 0, subtractMean: false }),
      DatasetFormatError,
      `loadCifar10: ${dir}/data_batch_1.bin: is a directory, not a regular file`,
    );
  });
});

Deno.test("a symbolic link loop gets our message, naming the file (issue 12.3)", async () => {
  await withTempDir(async (dir) => {
    await Deno.symlink(`${dir}/data_batch_1.bin.gz`, `${dir}/data_batch_1.bin`);
    await Deno.symlink(`${dir}/data_batch_1.bin`, `${dir}/data_batch_1.bin.gz`);
    await assertRejects(
      () => loadCifar10(dir, { numTraining: 10, numValidation: 0, numTest: 0, subtractMean: false }),
      DatasetFormatError,
      `loadCifar10: ${dir}/data_batch_1.bin: is a symbolic link loop (too many levels of links), not a regular file`,
    );
  });
});

Deno.test("a character device (/dev/zero) in place of an IDX file is refused at once (issue 12.3)", async (t) => {
  await withTempDir(async (dir) => {
    try {
      await Deno.stat("/dev/zero");
    } catch {
      await t.step("(skipped: no /dev/zero)", () => {});
      return;
    }
    await writeMnist(dir, false);
    await Deno.remove(`${dir}/train-images-idx3-ubyte`);
    await Deno.symlink("/dev/zero", `${dir}/train-images-idx3-ubyte`);
    await assertRejects(
      () => loadMnist(dir, opts),
      DatasetFormatError,
      `loadMnist: ${dir}/train-images-idx3-ubyte: is a character device, not a regular file`,
    );
  });
});
