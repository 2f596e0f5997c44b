// Finding a prebuilt bundle by the hash of its sources, in plain JavaScript: the scripts' launcher
// (run-bundled.mjs) runs it before any TypeScript loader, and bundle-cache.ts builds on it. A set
// of bundles lives in .build/_bundles/<set>/<key>/; <set>/inputs.json lists the project files the
// last build read. The key hashes those files' contents, package-lock.json (the dependencies
// bundled in), the repo's path (bundles name it) and Node's version, so a changed file gives a new
// key, and a new import means a changed file.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** The repository (this file is in singlevm/). */
export const REPO = resolve(import.meta.dirname, '..');
/** `_` cannot start a cluster's name, so no cluster's old .build/<name> is this. */
export const BUNDLES_DIR = join(REPO, '.build', '_bundles');

/** Bumped when the way bundles are built changes (bundle-cache.ts): the old ones no longer match. */
const OPTIONS_VERSION = 'esm-node20-v1';

/** What the key says of how a set is built: its entries, and whether its shared code is split. */
export const bundleOptions = (entries, splitting) => `${OPTIONS_VERSION} ${splitting ? 'split' : 'whole'} ${JSON.stringify(entries)}`;

/** The key of `inputs` (repo-relative paths) built with `options` (a string naming how). */
export function bundleKey(inputs, options) {
  const h = createHash('sha256');
  h.update(`${options}\0${REPO}\0${process.version}\0`);
  h.update(readFileSync(join(REPO, 'package-lock.json')));
  for (const input of [...inputs].sort()) {
    h.update(`\0${input}\0`);
    h.update(readFileSync(join(REPO, input)));
  }
  return h.digest('hex').slice(0, 16);
}

/** The bundles of `set` for the sources as they are now (name → file), if they are built. */
export function builtBundles(set, names, options) {
  let inputs;
  try {
    inputs = JSON.parse(readFileSync(join(BUNDLES_DIR, set, 'inputs.json'), 'utf8')).inputs;
    const dir = join(BUNDLES_DIR, set, bundleKey(inputs, options));
    const files = Object.fromEntries(names.map((n) => [n, join(dir, `${n}.mjs`)]));
    return Object.values(files).every((f) => existsSync(f)) ? { dir, files } : undefined;
  } catch {
    return undefined; // never built, or an input is gone: build again
  }
}
