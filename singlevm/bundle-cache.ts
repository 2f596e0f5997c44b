// The project's TypeScript entries bundled into plain JavaScript (esbuild) and kept by the hash of
// their sources (bundle-key.mjs): a run whose sources are unchanged starts from the bundles built
// before, without esbuild; a changed file builds the set again. The daemons run from these bundles
// (build-daemons.ts), and so do the singlevm scripts (run-bundled.mjs).
import { mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import type { Plugin } from 'esbuild';
import { BUNDLES_DIR, REPO, builtBundles, bundleOptions, keyMemo, rememberedKey } from './bundle-key.mjs';

export { REPO };

/** A set of entries bundled together: its name (a folder under .build/_bundles) and its entries
 *  (bundle name → entry file, relative to the repo). */
export interface BundleSet {
  set: string;
  entries: Record<string, string>;
  /** Split the code the entries share, and what they import dynamically, into chunks (the
   *  scripts: setup on a healthy cluster loads only what it needs). */
  splitting?: boolean;
}

const optionsOf = (s: BundleSet) => bundleOptions(s.entries, !!s.splitting);
/** Sets built before these many (newest first) are removed, when older than an hour (a setup
 *  running now may have just found one). */
const KEEP = 3;

/** `import.meta.dirname` and `.filename` as the source file's own: a bundle runs from .build, and
 *  code that finds files beside it (the VM image's guest init, the repo's root, the controller's
 *  SQLite writer) must still find them. The patterns are regular expressions, not strings: this
 *  file is itself bundled (setup's scripts build the daemons), and a string naming them here would
 *  be replaced with this file's own folder, leaving the daemons' `import.meta.dirname` as it is. */
const META_DIRNAME = /\bimport\.meta\.dirname\b/g;
const META_FILENAME = /\bimport\.meta\.filename\b/g;
const sourceLocation: Plugin = {
  name: 'source-location',
  setup(b) {
    b.onLoad({ filter: /\.(ts|mjs)$/ }, (args) => {
      if (args.path.includes('/node_modules/')) return undefined;
      const text = readFileSync(args.path, 'utf8')
        .replace(META_DIRNAME, JSON.stringify(dirname(args.path)))
        .replace(META_FILENAME, JSON.stringify(args.path));
      return { contents: text, loader: args.path.endsWith('.ts') ? 'ts' : 'js' };
    });
  },
};

/** The bundles of `s` (name → file), built when the sources changed since the last build. */
export async function bundles(s: BundleSet): Promise<{ files: Record<string, string>; built: boolean }> {
  const names = Object.keys(s.entries);
  const found = builtBundles(s.set, names, optionsOf(s));
  if (found) return { files: found.files, built: false };
  const setDir = join(BUNDLES_DIR, s.set);
  const tmp = join(setDir, `tmp-${process.pid}-${Date.now()}`);
  await mkdir(tmp, { recursive: true });
  try {
    // Loaded only to build: a run with every bundle there does without it.
    const { build } = await import('esbuild');
    const result = await build({
      entryPoints: Object.fromEntries(Object.entries(s.entries).map(([name, entry]) => [name, join(REPO, entry)])),
      outdir: tmp,
      outExtension: { '.js': '.mjs' },
      bundle: true,
      splitting: !!s.splitting,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      metafile: true,
      plugins: [sourceLocation],
      external: ['better-sqlite3', 'cpu-features', 'ssh2', 'esbuild', 'tsx'],
      // Bundled CommonJS dependencies still call require().
      banner: { js: "import { createRequire as __ciaoRequire } from 'node:module'; const require = __ciaoRequire(import.meta.url);" },
      logLevel: 'silent',
      // No comments, no indentation; names are kept. V8 keeps each script's source in its heap,
      // at two bytes a character when a single one is beyond Latin-1 (a ≤ or an → in a comment):
      // the controller's was 6.0 MB, 2.2 MB as this (docs/scale.md, "Fifth pass: memory").
      minifyWhitespace: true,
    });
    const inputs = Object.keys(result.metafile.inputs).map((i) => relative(REPO, join(REPO, i))).filter((i) => !i.startsWith('node_modules/') && !i.startsWith('..'));
    const dir = join(setDir, rememberedKey(keyMemo(s.set), inputs, optionsOf(s)));
    // Two setups at once may build the same key: the first rename wins, the other's copy goes.
    await rename(tmp, dir).catch(async (err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOTEMPTY' && err.code !== 'EEXIST') throw err;
      await rm(tmp, { recursive: true, force: true });
    });
    const manifest = join(setDir, `inputs.json.${process.pid}`);
    await writeFile(manifest, JSON.stringify({ inputs }, null, 1) + '\n');
    await rename(manifest, join(setDir, 'inputs.json'));
    await prune(setDir, dir);
    return { files: Object.fromEntries(names.map((n) => [n, join(dir, `${n}.mjs`)])), built: true };
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

async function prune(setDir: string, keep: string): Promise<void> {
  const dirs = await Promise.all((await readdir(setDir)).filter((d) => /^[0-9a-f]{16}$/.test(d))
    .map(async (d) => ({ path: join(setDir, d), mtime: (await stat(join(setDir, d))).mtimeMs })));
  const old = dirs.filter((d) => d.path !== keep).sort((a, b) => b.mtime - a.mtime).slice(KEEP - 1);
  for (const d of old) if (Date.now() - d.mtime > 3_600_000) await rm(d.path, { recursive: true, force: true });
}
