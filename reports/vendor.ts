/**
 * The pinned Vega libraries: the Deno modules (for compiling specs and
 * rendering static SVG on the server) and the browser builds that every
 * report inlines, read as text from the npm packages.
 *
 * How the browser builds are found: `createRequire(import.meta.url)
 * .resolve(name)` asks Deno's own npm resolver for each package's entry
 * file, and the UMD build (`build/vega.min.js`, …) sits next to it in the
 * package's `build/` folder. This works the same with the global npm cache
 * (Deno's default) and with a `node_modules` folder (`nodeModulesDir`), needs
 * no extra flag (text imports are still unstable, and the packages' `exports`
 * maps hide `build/*.min.js` from import specifiers), and reads exactly the
 * versions deno.json pins (`vega`, `vega-lite`, `vega-embed` in its import
 * map; the lock file checks their integrity). Each build must carry the
 * version {@link VEGA_VERSIONS} expects, so a version bump in one place only
 * fails loudly.
 *
 * @module
 */

import { createRequire } from "node:module";
import * as vega from "vega";
import * as vegaLite from "vega-lite";

export { vega, vegaLite };

/** The versions deno.json pins (and every report inlines). */
export const VEGA_VERSIONS = { vega: "6.4.0", vegaLite: "6.5.0", vegaEmbed: "7.3.0" } as const;

/** The three browser builds, in the order a page must load them. */
export interface VendorScripts {
  /** vega's minified browser build (`vega.min.js`), as text. */
  vega: string;
  /** vega-lite's minified browser build (`vega-lite.min.js`), as text. */
  vegaLite: string;
  /** vega-embed's minified browser build (`vega-embed.min.js`), as text. */
  vegaEmbed: string;
}

const require = createRequire(import.meta.url);

// vega-embed is only needed as text for the page; it is a dynamic import so
// that it is part of the module graph (and thus resolvable) without being run.
function importVegaEmbed() {
  return import("vega-embed");
}

function entryOf(name: string): string {
  return require.resolve(name);
}

async function readBuild(pkg: string, file: string, version: string): Promise<string> {
  let entry: string;
  try {
    entry = entryOf(pkg);
  } catch {
    if (pkg !== "vega-embed") throw new Error(`vendorScripts: npm package ${pkg}@${version} cannot be resolved`);
    await importVegaEmbed();
    entry = entryOf(pkg);
  }
  const path = entry.replace(/[/\\][^/\\]*$/, "/") + file;
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    throw new Error(`vendorScripts: cannot read ${pkg}@${version} browser build ${path} (${(e as Error).message})`);
  }
  // Inlined into <script>: these would end the element or open an HTML comment state.
  if (/<\/script|<!--/i.test(text)) throw new Error(`vendorScripts: ${path} contains "</script" or "<!--"`);
  if (!text.includes(version)) throw new Error(`vendorScripts: ${path} is not version ${version}`);
  return text;
}

let cached: Promise<VendorScripts> | undefined;

/**
 * The browser builds of vega, vega-lite and vega-embed as text (read once
 * per process, then cached).
 *
 * @throws Error naming the package when a build cannot be found or read
 */
export function vendorScripts(): Promise<VendorScripts> {
  cached ??= (async () => {
    const [v, vl, ve] = await Promise.all([
      readBuild("vega", "vega.min.js", VEGA_VERSIONS.vega),
      readBuild("vega-lite", "vega-lite.min.js", VEGA_VERSIONS.vegaLite),
      readBuild("vega-embed", "vega-embed.min.js", VEGA_VERSIONS.vegaEmbed),
    ]);
    return { vega: v, vegaLite: vl, vegaEmbed: ve };
  })();
  cached.catch(() => (cached = undefined));
  return cached;
}
