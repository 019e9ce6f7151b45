/**
 * Keeping freed memory for reuse. Large typed arrays come from glibc's
 * `calloc`, which maps each one afresh (anything over 128 KiB, and the
 * threshold only creeps up) and hands it back to the system when it is
 * freed, so that the next step of a training loop takes a page fault for
 * every 4 KiB it touches again: 11 µs a page on the virtual machine this
 * was measured on, 3 ms per megabyte, more than the arithmetic of a layer.
 * `keepFreedMemory` tells glibc (through `mallopt`) to serve allocations up
 * to 32 MiB from its heap and never to trim it, so that freed arrays are
 * reused as they are (fresh 4 MiB arrays: 14.7 ms → 0.17 ms each).
 *
 * It needs `--allow-ffi` and glibc; elsewhere it does nothing.
 *
 * @module
 */

// mallopt parameters (malloc.h).
const M_TRIM_THRESHOLD = -1;
const M_MMAP_THRESHOLD = -3;
/** glibc's largest mmap threshold on 64-bit systems. */
const MMAP_THRESHOLD_MAX = 32 * 1024 * 1024;

let state: "untried" | "kept" | "unavailable" = "untried";

/**
 * Internal: makes glibc keep freed memory for reuse (see the module doc),
 * once per process; returns whether it did. Never throws and never prompts.
 */
export function keepFreedMemory(): boolean {
  if (state !== "untried") return state === "kept";
  state = "unavailable";
  try {
    if (Deno.build.os !== "linux") return false;
    if (Deno.permissions.querySync({ name: "ffi", path: "libc.so.6" }).state !== "granted") return false;
    const libc = Deno.dlopen("libc.so.6", { mallopt: { parameters: ["i32", "i32"], result: "i32" } });
    const ok = libc.symbols.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_MAX) === 1 &&
      libc.symbols.mallopt(M_TRIM_THRESHOLD, 2 ** 31 - 1) === 1;
    if (ok) state = "kept";
  } catch {
    // Not glibc, or no FFI: freed memory goes back to the system as before.
  }
  return state === "kept";
}
