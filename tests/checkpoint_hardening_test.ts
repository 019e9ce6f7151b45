/**
 * Issue 12, items 2, 3 (checkpoints), 4 and 5: safetensors dtypes that name
 * prototype properties, checkpoints that are not regular files, corrupt or
 * edited checkpoints, and resuming on another gemm backend.
 */

import { assert, assertEquals, assertRejects, assertStringIncludes, assertThrows } from "@std/assert";
import { FullyConnectedNet } from "../layers/models/fully_connected_net.ts";
import { RandomState } from "../layers/random.ts";
import {
  type Checkpoint,
  CheckpointError,
  computeChange,
  decodeCheckpoint,
  encodeCheckpoint,
  loadCheckpoint,
} from "../pipeline/store/checkpoint.ts";
import {
  decodeSafetensors,
  encodeSafetensors,
  readSafetensors,
  SafetensorsError,
} from "../pipeline/store/safetensors.ts";
import { Solver } from "../pipeline/solver.ts";

/** The bytes of a real checkpoint: a small adam run of 2 epochs (4 iterations each). */
async function checkpointBytes(): Promise<Uint8Array> {
  const rs = new RandomState(5);
  const xTrain = rs.randn(16, 6), xVal = rs.randn(8, 6);
  const yTrain = Int32Array.from(rs.randint(0, 3, [16]).data), yVal = Int32Array.from(rs.randint(0, 3, [8]).data);
  const random = new RandomState(1);
  const model = new FullyConnectedNet([5], { inputDim: 6, numClasses: 3, random, weightScale: 0.1 });
  let last: Uint8Array | undefined;
  const solver = new Solver(model, { xTrain, yTrain, xVal, yVal }, {
    updateRule: "adam",
    batchSize: 4,
    numEpochs: 2,
    random,
    verbose: false,
    sinks: [
      new WritableStream({
        async write(e) {
          if (e.snapshot) last = await encodeCheckpoint(e.snapshot, solver.runInfo());
        },
      }),
    ],
  });
  await solver.train();
  return last!;
}

const good = await checkpointBytes();

/** Re-lays a checkpoint with its metadata changed by `edit` (the tensor data, and so its checksum, unchanged). */
function editMetadata(bytes: Uint8Array, edit: (m: Record<string, string>) => void): Uint8Array {
  const { tensors, metadata } = decodeSafetensors(bytes);
  const m = { ...metadata };
  edit(m);
  return encodeSafetensors(tensors, m);
}

function editJson(key: string, edit: (v: Record<string, unknown>) => void) {
  return (m: Record<string, string>) => {
    const v = JSON.parse(m[key]);
    edit(v);
    m[key] = JSON.stringify(v);
  };
}

Deno.test("safetensors dtypes __proto__, toString and constructor are SafetensorsErrors naming the file (issue 12.2)", () => {
  for (const dtype of ["__proto__", "toString", "constructor", "hasOwnProperty", "valueOf"]) {
    const header = JSON.stringify({ x: { dtype, shape: [1], data_offsets: [0, 4] } });
    const padded = header + " ".repeat((8 - header.length % 8) % 8);
    const bytes = new Uint8Array(8 + padded.length + 4);
    new DataView(bytes.buffer).setBigUint64(0, BigInt(padded.length), true);
    bytes.set(new TextEncoder().encode(padded), 8);
    assertThrows(
      () => decodeSafetensors(bytes, { source: "evil.safetensors" }),
      SafetensorsError,
      `evil.safetensors: tensor "x" has unknown dtype ${JSON.stringify(dtype)}`,
    );
  }
});

Deno.test("a tensor or optimizer config named __proto__ stays an own entry through a checkpoint", async () => {
  const { snapshot, info } = await decodeCheckpoint(good);
  const own = <T>(record: Record<string, T>) => {
    const out: Record<string, T> = {};
    for (const [k, v] of Object.entries(record)) {
      Object.defineProperty(out, k === "W1" ? "__proto__" : k, {
        value: v,
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return out;
  };
  const renamed = {
    ...snapshot,
    params: own(snapshot.params),
    bestParams: own(snapshot.bestParams),
    optimConfigs: own(snapshot.optimConfigs),
  };
  const checkpoint = await decodeCheckpoint(await encodeCheckpoint(renamed, info), "proto.safetensors");
  for (const record of [checkpoint.snapshot.params, checkpoint.snapshot.bestParams, checkpoint.snapshot.optimConfigs]) {
    assert(Object.hasOwn(record, "__proto__"));
    assertEquals(Object.getPrototypeOf(record), Object.prototype);
  }
});

Deno.test("a current checkpoint loads with no notice and records the gemm backend (issue 12.4, 12.5)", async () => {
  const checkpoint = await decodeCheckpoint(good, "good.safetensors");
  assertEquals(checkpoint.notices, []);
  assertEquals(checkpoint.compute?.threads, 1);
  assert(["blas", "wasm", "ts"].includes(checkpoint.compute!.gemm));
  assertEquals(checkpoint.snapshot.iteration, 8);
});

Deno.test("a bit flip in a checkpoint's tensor data is refused by its SHA-256, naming the file and entry (issue 12.4)", async () => {
  const flipped = good.slice();
  flipped[flipped.length - 20] ^= 0x04;
  await assertRejects(
    () => decodeCheckpoint(flipped, "flip.safetensors"),
    CheckpointError,
    `flip.safetensors: checkpoint entry "dataSha256": the tensors hash to `,
  );
});

Deno.test("a renamed tensor or a renamed dataSha256 entry is refused, not loaded unverified (found by the fuzz test)", async () => {
  const text = new TextDecoder("latin1");
  const swap = (from: string, to: string) => {
    const i = text.decode(good).indexOf(from);
    assert(i > 0, from);
    const out = good.slice();
    out.set(new TextEncoder().encode(to), i);
    return out;
  };
  await assertRejects(
    () => decodeCheckpoint(swap('"params/W1"', '"params/W3"'), "r.safetensors"),
    CheckpointError,
    `r.safetensors: checkpoint entry "dataSha256": the tensors hash to `,
  );
  await assertRejects(
    () => decodeCheckpoint(swap('"dataSha256"', '"datiSha256"'), "r.safetensors"),
    CheckpointError,
    `r.safetensors: checkpoint metadata has an unknown entry "datiSha256"`,
  );
});

Deno.test("edited checkpoint metadata is refused naming the file and the entry (issue 12.4)", async () => {
  const cases: [string, (m: Record<string, string>) => void, string][] = [
    [
      "iteration moved to another epoch boundary",
      editJson("progress", (p) => p.iteration = 4),
      `e.safetensors: checkpoint entry "progress".epoch = 2 does not match iteration 4 (epoch 1)`,
    ],
    [
      "iteration and epoch moved together",
      editJson("progress", (p) => (p.iteration = 4, p.epoch = 1)),
      `e.safetensors: checkpoint entry "history/loss" has 8 entries, expected one per iteration (4)`,
    ],
    ["epoch 99", editJson("progress", (p) => p.epoch = 99), `checkpoint entry "progress".epoch = 99 does not match`],
    [
      "iteration past the run",
      editJson("progress", (p) => (p.iteration = 12, p.epoch = 3)),
      `checkpoint entry "progress".iteration = 12 is not an epoch end of the run (4 iterations per epoch, 8 in all)`,
    ],
    [
      "random.pos = 700",
      editJson("random", (r) => r.pos = 700),
      `e.safetensors: checkpoint entry "random".pos = 700 is not a generator position in [0, 624]`,
    ],
    [
      "optim t = -5",
      editJson("optim", (o) => (o.W1 as Record<string, number>).t = -5),
      `e.safetensors: checkpoint entry "optim".W1.t = -5 is not a step count: a whole number ≥ iteration 8`,
    ],
    [
      "bestValAcc raised",
      editJson("progress", (p) => p.bestValAcc = 1),
      `checkpoint entry "progress".bestValAcc = 1 is not the best validation accuracy`,
    ],
    [
      "unknown optimizer key",
      editJson("optim", (o) => (o.W1 as Record<string, number>)["toString"] = 1),
      `e.safetensors: checkpoint optimizer config of W1: configFromCheckpoint: "toString" is not a scalar of adam`,
    ],
  ];
  for (const [what, edit, message] of cases) {
    const error = await assertRejects(
      () => decodeCheckpoint(editMetadata(good, edit), "e.safetensors"),
      CheckpointError,
      undefined,
      what,
    );
    assertStringIncludes(error.message, message, what);
  }
});

Deno.test("histories cut short are refused even with a matching checksum (issue 12.4)", async () => {
  const checkpoint = await decodeCheckpoint(good);
  const { snapshot, info } = checkpoint;
  const cut = await encodeCheckpoint({ ...snapshot, lossHistory: snapshot.lossHistory.slice(0, 5) }, info);
  await assertRejects(
    () => decodeCheckpoint(cut, "cut.safetensors"),
    CheckpointError,
    `cut.safetensors: checkpoint entry "history/loss" has 5 entries, expected one per iteration (8)`,
  );
  const cutAcc = await encodeCheckpoint({ ...snapshot, valAccHistory: snapshot.valAccHistory.slice(1) }, info);
  await assertRejects(
    () => decodeCheckpoint(cutAcc, "cut.safetensors"),
    CheckpointError,
    `checkpoint entry "history/valAcc" has 2 entries, expected one per accuracy check so far (3)`,
  );
});

Deno.test("a checkpoint written before checksums existed loads with a one-line notice", async () => {
  const old = editMetadata(good, (m) => {
    delete m.dataSha256;
    delete m.compute;
  });
  const checkpoint: Checkpoint = await decodeCheckpoint(old, "old.safetensors");
  assertEquals(checkpoint.notices, [
    "old.safetensors: written before checkpoints carried a checksum; its tensor data is not verified",
  ]);
  assertEquals(checkpoint.compute, undefined);
  assertEquals(computeChange(checkpoint, { gemm: "ts", threads: 1 }), null);
});

Deno.test("computeChange names both backends and thread counts (issue 12.5)", () => {
  assertEquals(
    computeChange({ compute: { gemm: "blas", threads: 1 } }, { gemm: "wasm", threads: 1 }, "c.safetensors"),
    "c.safetensors: the checkpoint was written with gemm blas with 1 thread, this run uses gemm wasm with 1 thread: " +
      "resuming would not be bit-identical",
  );
  assertEquals(
    computeChange({ compute: { gemm: "blas", threads: 2 } }, { gemm: "blas", threads: 1 }, "c"),
    "c: the checkpoint was written with gemm blas with 2 threads, this run uses gemm blas with 1 thread: " +
      "resuming would not be bit-identical",
  );
  assertEquals(computeChange({ compute: { gemm: "ts", threads: 1 } }, { gemm: "ts", threads: 1 }), null);
});

Deno.test("a checkpoint that is a FIFO, /dev/zero or a directory is refused at once (issue 12.3)", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "gradstream_ckpt_harden_" });
  try {
    const fifo = `${dir}/fifo.safetensors`;
    const made = await new Deno.Command("mkfifo", { args: [fifo] }).output().then((o) => o.success, () => false);
    if (made) {
      await assertRejects(
        () => loadCheckpoint(fifo),
        CheckpointError,
        `${fifo}: is a FIFO (named pipe), not a regular file`,
      );
      await assertRejects(() => readSafetensors(fifo), SafetensorsError, `${fifo}: is a FIFO (named pipe)`);
    } else await t.step("(skipped: mkfifo is not available)", () => {});
    const zero = `${dir}/zero.safetensors`;
    await Deno.symlink("/dev/zero", zero);
    await assertRejects(() => loadCheckpoint(zero), CheckpointError, `${zero}: is a character device`);
    await assertRejects(() => loadCheckpoint(dir), CheckpointError, `${dir}: is a directory, not a regular file`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
