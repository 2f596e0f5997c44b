// Finding a prebuilt bundle by the hash of its sources, in plain JavaScript: the scripts' launcher
// (run-bundled.mjs) runs it before any TypeScript loader, and bundle-cache.ts builds on it. A set
// of bundles lives in .build/_bundles/<set>/<key>/; <set>/inputs.json lists the project files the
// last build read. The key hashes those files' contents, package-lock.json (the dependencies
// bundled in), the repo's path (bundles name it) and Node's version, so a changed file gives a new
// key, and a new import means a changed file. The key last computed is remembered with each file's
// size, mtime and ctime (<set>/key-memo.json): while none of them moved, no file is read (hashing
// them took 0.35–0.46 s of an emulated CPU inside ccloudvm, before setup's first step).
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** The repository (this file is in singlevm/). */
export const REPO = resolve(import.meta.dirname, '..');
/** `_` cannot start a cluster's name, so no cluster's old .build/<name> is this. */
export const BUNDLES_DIR = join(REPO, '.build', '_bundles');

/** Bumped when the way bundles are built changes (bundle-cache.ts): the old ones no longer match. */
const OPTIONS_VERSION = 'esm-node20-v3';

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

/** A file as its stat shows it: a write changes its mtime or its ctime (`touch -d` sets the mtime
 *  back, not the ctime), and a rename over it (an editor's save) its ctime. */
function statOf(path) {
  const s = statSync(path, { bigint: true });
  return `${s.size}:${s.mtimeNs}:${s.ctimeNs}`;
}

/** Files changed less than this before they were hashed are not remembered by their stat: a second
 *  write within the clock's tick could leave it as it was (git's "racy" files). */
const RACY_NS = 2_000_000_000n;

/** bundleKey, remembered in `memoFile` by the stat of every file it reads; a file whose stat moved
 *  (or a new list of inputs, options, Node or repo) hashes them all again. `now` (ms) is the clock. */
export function rememberedKey(memoFile, inputs, options, now = Date.now()) {
  const files = ['package-lock.json', ...[...inputs].sort()];
  const stats = files.map((f) => statOf(join(REPO, f)));
  const head = `${options}\0${REPO}\0${process.version}`;
  const memo = (() => {
    try {
      return JSON.parse(readFileSync(memoFile, 'utf8'));
    } catch {
      return undefined;
    }
  })();
  if (memo?.head === head && memo.files.length === files.length && memo.files.every((f, i) => f === files[i] && memo.stats[i] === stats[i])) return memo.key;
  const hashedAt = BigInt(Math.floor(now)) * 1_000_000n;
  const key = bundleKey(inputs, options);
  const settled = stats.every((st) => st.split(':').slice(1).every((ns) => BigInt(ns) < hashedAt - RACY_NS));
  // Stats taken before the hash and again after: a file written meanwhile is not remembered either.
  if (settled && files.every((f, i) => statOf(join(REPO, f)) === stats[i])) {
    try {
      writeFileSync(`${memoFile}.${process.pid}`, JSON.stringify({ head, key, files, stats }));
      renameSync(`${memoFile}.${process.pid}`, memoFile);
    } catch {
      // A read-only tree, or the set's folder not made yet: the key holds all the same.
    }
  }
  return key;
}

/** Where a set's key is remembered. */
export const keyMemo = (set) => join(BUNDLES_DIR, set, 'key-memo.json');

/** The bundles of `set` for the sources as they are now (name → file), if they are built. */
export function builtBundles(set, names, options) {
  let inputs;
  try {
    inputs = JSON.parse(readFileSync(join(BUNDLES_DIR, set, 'inputs.json'), 'utf8')).inputs;
    const dir = join(BUNDLES_DIR, set, rememberedKey(keyMemo(set), inputs, options));
    const files = Object.fromEntries(names.map((n) => [n, join(dir, `${n}.mjs`)]));
    return Object.values(files).every((f) => existsSync(f)) ? { dir, files } : undefined;
  } catch {
    return undefined; // never built, or an input is gone: build again
  }
}
