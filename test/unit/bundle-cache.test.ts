// singlevm/bundle-cache.ts: bundles kept by the hash of their sources: built once, found again
// while the sources are the same, built again when one of them (even one only imported) changes;
// in a bundle, import.meta.dirname is the source file's own folder.
import t from 'tap';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { bundles, REPO } from '../../singlevm/bundle-cache.ts';
import { BUNDLES_DIR } from '../../singlevm/bundle-key.mjs';

// The sources must be in the repo (a bundle's inputs are the project's files): under .build, which git ignores.
const src = join(REPO, '.build', `_unit-src-${process.pid}`);
const set = `unit-${process.pid}`;
t.teardown(async () => {
  await rm(src, { recursive: true, force: true });
  await rm(join(BUNDLES_DIR, set), { recursive: true, force: true });
});

t.test('built once, found again while the sources are the same, built again when an imported file changes', async (t) => {
  await mkdir(src, { recursive: true });
  await writeFile(join(src, 'entry.ts'), "import { word } from './word.ts';\nexport const dir: string = import.meta.dirname;\nexport const said = word;\n");
  await writeFile(join(src, 'word.ts'), "export const word = 'first';\n");
  const s = { set, entries: { entry: relative(REPO, join(src, 'entry.ts')) } };
  const first = await bundles(s);
  t.equal(first.built, true, 'the first call builds');
  t.equal(dirname(dirname(first.files.entry)), join(BUNDLES_DIR, set), 'under .build/_bundles/<set>/<key>/');
  const loaded = await import(pathToFileURL(first.files.entry).href);
  t.same([loaded.said, loaded.dir], ['first', src], 'the code, and import.meta.dirname the source\'s own folder');

  const again = await bundles(s);
  t.same(again, { files: first.files, built: false }, 'the same sources: the same bundle, not built');

  await writeFile(join(src, 'word.ts'), "export const word = 'second';\n");
  const changed = await bundles(s);
  t.equal(changed.built, true, 'an imported file changed: built again');
  t.not(changed.files.entry, first.files.entry, 'under a new key');
  t.equal((await import(pathToFileURL(changed.files.entry).href)).said, 'second');
});
