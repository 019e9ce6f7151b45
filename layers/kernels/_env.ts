/**
 * Internal: reading the environment without a permission prompt, shared by
 * the gemm backends and the parallel engine.
 *
 * @module
 */

/**
 * Reads an environment variable only when `--allow-env` already grants it,
 * so that probing a backend or the thread count never raises a permission
 * prompt; `undefined` when unset, empty or not granted.
 */
export function readEnv(name: string): string | undefined {
  try {
    if (Deno.permissions.querySync({ name: "env", variable: name }).state !== "granted") return undefined;
    return Deno.env.get(name) || undefined;
  } catch {
    return undefined;
  }
}
