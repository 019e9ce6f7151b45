/**
 * The parallel engine: the layers' hot loops on every core.
 *
 * A persistent pool of `threads() − 1` module workers (`parallel_worker.ts`,
 * `node:worker_threads` workers started on first use and `unref`'d, so that
 * they never keep the process alive) shares the work of one call with the
 * calling thread. A call is a *job*: a task (a function every thread has,
 * see `defineTask`), a count of items, the typed arrays it reads and writes
 * and a few numbers. The calling thread publishes the job in a small
 * `SharedArrayBuffer` and wakes the workers (`Atomics.notify`); every
 * thread then claims chunks of items from one atomic counter until none are
 * left, so that a core busy with another process simply takes fewer. A
 * worker that has not woken up by the time the calling thread has run out
 * of chunks is let off the job rather than waited for.
 *
 * The arrays are not copied: a worker sees the calling thread's memory
 * through its address (`Deno.UnsafePointer`, so the pool needs
 * `--allow-ffi`; without it every job runs on the calling thread). Tensors
 * therefore stay ordinary `ArrayBuffer`s, whose memory the allocator reuses
 * (a fresh `SharedArrayBuffer` costs a page fault per 4 KiB on every
 * allocation, 11 ms for 4 MiB on the machine this was measured on).
 *
 * Results do not depend on the thread count, bit for bit: a task computes
 * each item the same way whichever thread runs it and however the items are
 * cut into chunks, and reductions across items (weight gradients, batch
 * statistics) write one partial per item (or per fixed block of items) that
 * the calling thread adds up in item order. A job that cannot be shared (one
 * thread, too little work, no `--allow-ffi`, a gemm backend the workers
 * cannot have, a job started from inside a task) runs the same task on the
 * calling thread, with the same results.
 *
 * OpenBLAS: the pool, not OpenBLAS, owns the cores. Every thread's products
 * run on one OpenBLAS thread, and large products are split across the pool
 * by `gemm`, so that the two never oversubscribe the cores.
 *
 * Control: env `GRADSTREAM_THREADS`, `setThreads(n)` (see `threads.ts`),
 * `closeThreads()` to end the workers (they restart on the next job).
 *
 * @module
 */

import { Worker as NodeWorker } from "node:worker_threads";
import { readEnv } from "./_env.ts";
import { onThreadsChange, threads } from "./threads.ts";

export { defaultThreads, describeThreads, MAX_THREADS, setThreads, threads } from "./threads.ts";

/** A typed array a task may read or write. */
export type View = Float32Array | Float64Array | Int32Array;

onThreadsChange((n) => {
  if (pool !== null && pool.workers.length !== n - 1) void closeThreads();
});

/** How many pool workers are running now (0 before the first shared job and after `closeThreads`). */
export function runningWorkers(): number {
  return pool === null ? 0 : pool.workers.length;
}

/**
 * Starts the pool now (it otherwise starts on the first job that can be
 * shared) and resolves when every worker serves jobs, so that the first
 * steps of a run are shared too. Resolves at once with one thread or without
 * `--allow-ffi`; rejects when a worker cannot start.
 */
export async function startThreads(): Promise<void> {
  const p = ensurePool();
  if (p === null) return;
  const deadline = performance.now() + 60_000;
  while (Atomics.load(p.ctl, READY) < p.workers.length) {
    if (p.fatal !== "") throw new Error(`startThreads: ${p.fatal}`);
    if (performance.now() > deadline) throw new Error("startThreads: the workers did not start within 60 s");
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

/**
 * Chunks of work the pool's workers (not the calling thread) have run since
 * the pool started: how the tests see that a job was really shared.
 */
export function workerChunks(): number {
  return pool === null ? 0 : Atomics.load(pool.ctl, WORKER_CHUNKS);
}

/**
 * Ends the pool's workers and waits until they are gone. Later jobs start a
 * fresh pool. Nothing needs this before exit (the workers never keep the
 * process alive); tests and commands that want every thread gone when they
 * return call it.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { closeThreads, runningWorkers } from "./parallel.ts";
 * await closeThreads();
 * assertEquals(runningWorkers(), 0);
 * ```
 */
export async function closeThreads(): Promise<void> {
  const p = pool;
  if (p === null) return;
  pool = null;
  await Promise.all(p.workers.map((w) => w.terminate()));
}

// ---------------------------------------------------------------------------------------------------------------
// Tasks

/**
 * The body of a task: compute items `begin … end − 1` of a job from its
 * arrays and numeric arguments. The result must not depend on how a job's
 * items are cut into ranges, nor on which thread runs a range.
 */
export type TaskFn = (arrays: View[], args: Float64Array, begin: number, end: number) => void;

/** A named task every thread can run (see `defineTask`). */
export interface Task {
  /** Unique name, `file.what`. */
  readonly name: string;
  /** The body. */
  readonly run: TaskFn;
  /** Whether the body calls `gemm` (the workers then need the calling thread's backend). */
  readonly gemm: boolean;
  /** Its number in every thread: a hash of the name (a clash is an error where both are defined). */
  readonly id: number;
  /** The module that defines it (its `import.meta.url`), which every pool worker imports. */
  readonly module: string;
}

const registry = new Map<number, Task>();

/** The modules that define tasks, in the order they did: a pool worker imports each before it serves jobs. */
const taskModules = new Set<string>();

/** FNV-1a of the name, as a signed 32-bit integer (what the control block holds). */
function taskId(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  return h | 0;
}

/**
 * Internal: declares a task under `name`, defined by the module at `module`
 * (pass `import.meta.url`). Pool workers import that module, so they have the
 * task too; a module first seen after the pool started restarts the pool.
 */
export function defineTask(module: string, name: string, run: TaskFn, options: { gemm?: boolean } = {}): Task {
  const id = taskId(name);
  const have = registry.get(id);
  if (have !== undefined) throw new Error(`defineTask: "${name}" has the number of "${have.name}" already`);
  const task: Task = { name, run, gemm: options.gemm ?? false, id, module };
  registry.set(id, task);
  taskModules.add(module);
  return task;
}

/** The gemm backends a worker can install by name: marked by the modules that make them. */
const standardBackends = new WeakSet<object>();

/** Internal: marks `backend` as one a worker can install by its name (`ts`, `wasm`, `blas`). */
export function markStandardBackend(backend: object): void {
  standardBackends.add(backend);
}

const BACKEND_NAMES = ["ts", "wasm", "blas"] as const;

/** Options of `parallelFor`. */
export interface ParallelOptions {
  /** Items per claimed chunk. Default 1. */
  grain?: number;
  /** The gemm backend in use, for tasks that call `gemm`: workers install the same one. */
  backend?: { readonly name: string };
  /** Run on the calling thread alone (too little work to share). Default false. */
  serial?: boolean;
}

/** Whether the calling thread is inside a job now: a task's own jobs (a gemm in a layer's task) run serially. */
let inJob = false;

/**
 * Internal: runs `task` over items `0 … items − 1` on the pool and the
 * calling thread, or on the calling thread alone (see the module doc for
 * when). Returns when every item is done; rethrows a task's error.
 */
export function parallelFor(
  task: Task,
  items: number,
  arrays: readonly View[],
  args: readonly number[],
  options: ParallelOptions = {},
): void {
  if (items <= 0) return;
  const grain = Math.max(1, Math.floor(options.grain ?? 1));
  if (args.length > MAX_ARGS) throw new RangeError(`parallelFor: ${task.name} has more than ${MAX_ARGS} arguments`);
  let backendCode = 0;
  if (task.gemm && options.backend !== undefined) {
    backendCode = standardBackends.has(options.backend)
      ? BACKEND_NAMES.indexOf(options.backend.name as typeof BACKEND_NAMES[number])
      : -1;
  }
  const p = options.serial || inJob || items <= grain || backendCode < 0 || arrays.length > MAX_ARRAYS
    ? null
    : ensurePool(task);
  if (p === null) {
    task.run(arrays as View[], Float64Array.from(args), 0, items);
    return;
  }
  inJob = true;
  try {
    runJob(p, task, items, grain, arrays, args, backendCode);
  } finally {
    inJob = false;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The pool: a control block in shared memory, one job at a time.

// Int32 slots of the control block.
const GEN = 0; // generation of the job now published
const NEXT = 1; // next chunk to claim
const ITEMS = 2;
const TASK = 3;
const NARRAYS = 4;
const BACKEND = 5;
const FAILED = 6;
const GRAIN = 7;
const READY = 8; // workers that have started serving
const WORKER_CHUNKS = 9; // chunks the workers have run, all jobs together
const SEEN = 64; // + 2·w: the last generation worker w joined or was let off
const DONE = 65; // + 2·w: the last generation worker w finished
const ARRAY_SLOTS = 256; // 2 per array: length, kind
const MAX_ARRAYS = 32;
const INT_SLOTS = 512;
// Float64 slots, after the int32 ones.
const ARGS_BYTE = 4 * INT_SLOTS;
const MAX_ARGS = 64;
const POINTERS_BYTE = ARGS_BYTE + 8 * MAX_ARGS;
const ERROR_BYTE = POINTERS_BYTE + 8 * MAX_ARRAYS;
const ERROR_BYTES = 2048;
const CONTROL_BYTES = ERROR_BYTE + ERROR_BYTES;

interface Pool {
  ctl: Int32Array;
  args: Float64Array;
  pointers: Float64Array;
  text: Uint8Array;
  workers: NodeWorker[];
  gen: number;
  fatal: string;
  /** The task modules the workers imported when they started. */
  modules: ReadonlySet<string>;
}

let pool: Pool | null = null;
const DEBUG = readEnv("GRADSTREAM_PARALLEL_DEBUG") !== undefined;

/** Whether this process may pass memory addresses to its workers (`--allow-ffi`), asked once. */
let pointersAllowed: boolean | undefined;

function ensurePool(task?: Task): Pool | null {
  if (pool !== null && task !== undefined && !pool.modules.has(task.module)) {
    // The workers started before this task's module was loaded: start them again with it.
    const old = pool;
    pool = null;
    for (const w of old.workers) void w.terminate();
  }
  if (pool !== null) return pool.fatal === "" ? pool : null;
  const n = threads();
  if (n <= 1) return null;
  if (pointersAllowed === undefined) {
    try {
      pointersAllowed = typeof Deno?.UnsafePointer?.of === "function" &&
        Deno.permissions.querySync({ name: "ffi" }).state === "granted";
    } catch {
      pointersAllowed = false;
    }
  }
  if (!pointersAllowed) return null;
  const sab = new SharedArrayBuffer(CONTROL_BYTES);
  const p: Pool = {
    ctl: new Int32Array(sab, 0, INT_SLOTS),
    args: new Float64Array(sab, ARGS_BYTE, MAX_ARGS),
    pointers: new Float64Array(sab, POINTERS_BYTE, MAX_ARRAYS),
    text: new Uint8Array(sab, ERROR_BYTE, ERROR_BYTES),
    workers: [],
    gen: 0,
    fatal: "",
    modules: new Set(taskModules),
  };
  const url = new URL("./parallel_worker.ts", import.meta.url);
  for (let w = 0; w < n - 1; w++) {
    const worker = new NodeWorker(url, { workerData: { control: sab, index: w, modules: [...p.modules] } });
    worker.on("error", (e: Error) => {
      p.fatal = `worker ${w} failed: ${e.message}`;
    });
    worker.unref();
    p.workers.push(worker);
  }
  pool = p;
  return p;
}

function runJob(
  p: Pool,
  task: Task,
  items: number,
  grain: number,
  arrays: readonly View[],
  args: readonly number[],
  backendCode: number,
): void {
  const ctl = p.ctl;
  for (let i = 0; i < arrays.length; i++) {
    const a = arrays[i];
    p.pointers[i] = a.length === 0 ? 0 : Number(Deno.UnsafePointer.value(Deno.UnsafePointer.of(a)));
    ctl[ARRAY_SLOTS + 2 * i] = a.length;
    ctl[ARRAY_SLOTS + 2 * i + 1] = a instanceof Float32Array ? 0 : a instanceof Float64Array ? 1 : 2;
  }
  for (let i = 0; i < args.length; i++) p.args[i] = args[i];
  ctl[TASK] = task.id;
  ctl[ITEMS] = items;
  ctl[GRAIN] = grain;
  ctl[NARRAYS] = arrays.length;
  ctl[BACKEND] = backendCode;
  ctl[FAILED] = 0;
  Atomics.store(ctl, NEXT, 0);
  const gen = ++p.gen;
  Atomics.store(ctl, GEN, gen);
  Atomics.notify(ctl, GEN);
  let error: unknown = null;
  const tStart = performance.now();
  try {
    const chunks = Math.ceil(items / grain);
    for (let c = Atomics.add(ctl, NEXT, 1); c < chunks; c = Atomics.add(ctl, NEXT, 1)) {
      task.run(arrays as View[], p.args, c * grain, Math.min(items, (c + 1) * grain));
    }
  } catch (e) {
    error = e;
    // Let the workers run out of chunks quickly.
    Atomics.store(ctl, NEXT, 1 << 30);
  }
  const tMain = performance.now();
  const claimed = Atomics.load(ctl, NEXT);
  // A worker that has not joined yet is let off this job; one that joined is waited for.
  for (let w = 0; w < p.workers.length; w++) {
    if (Atomics.compareExchange(ctl, SEEN + 2 * w, gen - 1, gen) === gen - 1) continue;
    for (let done = Atomics.load(ctl, DONE + 2 * w); done !== gen; done = Atomics.load(ctl, DONE + 2 * w)) {
      // `done` is the value seen before sleeping: a store after it wakes the wait at once.
      if (Atomics.wait(ctl, DONE + 2 * w, done, 60_000) === "timed-out" && Atomics.load(ctl, DONE + 2 * w) !== gen) {
        p.fatal = `worker ${w} did not finish ${task.name} within 60 s`;
        throw new Error(`parallelFor: ${p.fatal}`);
      }
    }
  }
  if (DEBUG) {
    const ran = (tMain - tStart).toFixed(3), waited = (performance.now() - tMain).toFixed(3);
    console.error(`job ${gen} ${task.name}: calling thread ran ${ran} ms, ${claimed} claims, waited ${waited} ms`);
  }
  if (error !== null) throw error;
  if (ctl[FAILED] !== 0) {
    const end = p.text.indexOf(0);
    const text = new TextDecoder().decode(p.text.slice(0, end < 0 ? ERROR_BYTES : end));
    throw new Error(`parallelFor: ${task.name} failed in a worker: ${text}`);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The worker side (run by parallel_worker.ts)

/**
 * Internal: the loop of pool worker `index` on the control block `control`:
 * wait for a job, join it (unless let off), claim and run chunks until none
 * are left, report done. `installBackend` installs a gemm backend by name.
 * Never returns.
 */
export function serveJobs(control: SharedArrayBuffer, index: number, installBackend: (name: string) => void): never {
  const ctl = new Int32Array(control, 0, INT_SLOTS);
  const args = new Float64Array(control, ARGS_BYTE, MAX_ARGS);
  const pointers = new Float64Array(control, POINTERS_BYTE, MAX_ARRAYS);
  const text = new Uint8Array(control, ERROR_BYTE, ERROR_BYTES);
  let backend = -1;
  const views: View[] = [];
  const seenSlot = SEEN + 2 * index, doneSlot = DONE + 2 * index;
  Atomics.add(ctl, READY, 1);
  for (;;) {
    const gen = Atomics.load(ctl, GEN);
    if (Atomics.load(ctl, seenSlot) === gen) {
      // Spin a little before sleeping: the jobs of one layer come microseconds apart.
      for (let s = 0; s < 4000 && Atomics.load(ctl, GEN) === gen; s++);
      if (Atomics.load(ctl, GEN) === gen) Atomics.wait(ctl, GEN, gen);
      continue;
    }
    if (Atomics.compareExchange(ctl, seenSlot, gen - 1, gen) !== gen - 1) continue;
    try {
      const task = registry.get(ctl[TASK]);
      if (task === undefined) {
        throw new Error(`no task number ${ctl[TASK]} in the pool workers (see parallel_worker.ts)`);
      }
      if (task.gemm && ctl[BACKEND] !== backend) {
        backend = ctl[BACKEND];
        installBackend(BACKEND_NAMES[backend]);
      }
      const n = ctl[NARRAYS];
      views.length = n;
      for (let i = 0; i < n; i++) {
        const length = ctl[ARRAY_SLOTS + 2 * i], kind = ctl[ARRAY_SLOTS + 2 * i + 1];
        const bytes = length * (kind === 1 ? 8 : 4);
        const buffer = length === 0
          ? new ArrayBuffer(0)
          : Deno.UnsafePointerView.getArrayBuffer(Deno.UnsafePointer.create(BigInt(pointers[i]))!, bytes);
        views[i] = kind === 0
          ? new Float32Array(buffer)
          : kind === 1
          ? new Float64Array(buffer)
          : new Int32Array(buffer);
      }
      const items = ctl[ITEMS], grain = ctl[GRAIN], chunks = Math.ceil(items / grain);
      const t0 = performance.now();
      let mine = 0;
      for (let c = Atomics.add(ctl, NEXT, 1); c < chunks; c = Atomics.add(ctl, NEXT, 1)) {
        task.run(views, args, c * grain, Math.min(items, (c + 1) * grain));
        mine++;
      }
      Atomics.add(ctl, WORKER_CHUNKS, mine);
      if (DEBUG) {
        console.error(`  worker ${index} job ${gen}: ${mine} chunks in ${(performance.now() - t0).toFixed(3)} ms`);
      }
    } catch (e) {
      Atomics.store(ctl, NEXT, 1 << 30);
      if (Atomics.compareExchange(ctl, FAILED, 0, 1) === 0) {
        const bytes = new TextEncoder().encode(String((e as Error)?.message ?? e).slice(0, 500));
        text.fill(0);
        text.set(bytes.subarray(0, ERROR_BYTES - 1));
      }
    }
    views.length = 0;
    Atomics.store(ctl, doneSlot, gen);
    Atomics.notify(ctl, doneSlot);
  }
}
