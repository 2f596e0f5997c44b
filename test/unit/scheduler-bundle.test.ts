// The scheduler's bundle holds no HTTP client: it only serves TLS, and loading undici (1 MB of
// source, evaluated at start) cost it 9 MB of resident memory (docs/scale.md, "Fifth pass: memory").
import t from 'tap';
import { join } from 'node:path';
import { build } from 'esbuild';
import { REPO } from '../../singlevm/bundle-cache.ts';

t.test('scheduler/main.ts bundles neither undici nor any other package but zod', async (t) => {
  const r = await build({ entryPoints: [join(REPO, 'scheduler', 'main.ts')], bundle: true, platform: 'node', format: 'esm', write: false, metafile: true, outfile: 'scheduler.mjs', logLevel: 'silent' });
  // The files that put code into the bundle (others are read, and shaken out).
  const used = Object.entries(Object.values(r.metafile.outputs)[0].inputs).filter(([, i]) => i.bytesInOutput > 0).map(([f]) => f);
  const packages = new Set(used.map((f) => /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(f)?.[1]).filter(Boolean));
  t.same([...packages], ['zod']);
});
