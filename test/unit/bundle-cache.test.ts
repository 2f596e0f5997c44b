// singlevm/bundle-cache.ts: bundles kept by the hash of their sources: built once, found again
// while the sources are the same, built again when one of them (even one only imported) changes;
// in a bundle, import.meta.dirname is the source file's own folder.
import t from 'tap';
import { mkdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { execFileSync } from 'node:child_process';
import { bundles, REPO } from '../../singlevm/bundle-cache.ts';
import { BUNDLES_DIR, bundleKey, rememberedKey } from '../../singlevm/bundle-key.mjs';

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

t.test('the key is remembered by its files\' stat: used while none moved; a write, even one that puts the mtime back, hashes again', async (t) => {
  const dir = join(src, 'memo');
  await mkdir(dir, { recursive: true });
  const a = join(dir, 'a.ts'), b = join(dir, 'b.ts');
  await writeFile(a, 'export const a = 1;\n');
  await writeFile(b, 'export const b = 2;\n');
  const old = new Date(Date.now() - 60_000);
  for (const f of [a, b]) await utimes(f, old, old);
  const inputs = [relative(REPO, a), relative(REPO, b)];
  const memo = join(dir, 'key-memo.json');
  // Hashed as if 5 s from now: the files' ctimes (now: utimes sets them) are then settled.
  const later = () => Date.now() + 5000;
  t.equal(rememberedKey(memo, inputs, 'opts'), bundleKey(inputs, 'opts'));
  t.equal(await readFile(memo, 'utf8').catch(() => 'none'), 'none', 'files written less than 2 s ago (their ctimes) are not remembered by their stat');
  const key = rememberedKey(memo, inputs, 'opts', later());
  t.equal(key, bundleKey(inputs, 'opts'), 'the key is the hash of the files');
  // The memo's key made recognisable: a call that returns it did not hash the files.
  const kept = JSON.parse(await readFile(memo, 'utf8'));
  await writeFile(memo, JSON.stringify({ ...kept, key: 'remembered' }));
  t.equal(rememberedKey(memo, inputs, 'opts'), 'remembered', 'no file moved: the remembered key');
  t.equal(rememberedKey(memo, inputs, 'other opts', later()), bundleKey(inputs, 'other opts'), 'other options: hashed');
  await writeFile(memo, JSON.stringify({ ...kept, key: 'remembered' }));
  await writeFile(b, 'export const b = 3;\n');
  await utimes(b, old, old);
  t.equal(rememberedKey(memo, inputs, 'opts', later()), bundleKey(inputs, 'opts'), 'same size, mtime set back: the ctime moved, hashed again');
  t.not(rememberedKey(memo, inputs, 'opts'), key, 'and the key is new');
});

t.test('bundled itself (setup\'s scripts build the daemons), it still gives a bundle its sources\' import.meta.dirname', async (t) => {
  const dir = join(src, 'nested');
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'inner.ts'), 'console.log(import.meta.dirname);\n');
  // What setup's bundle does: bundle-cache.ts, bundled, builds another set.
  await writeFile(join(dir, 'builder.ts'), [
    "import { bundles } from '../../../singlevm/bundle-cache.ts';",
    `const b = await bundles({ set: ${JSON.stringify(`${set}-inner`)}, entries: { inner: ${JSON.stringify(relative(REPO, join(dir, 'inner.ts')))} } });`,
    'console.log(b.files.inner);',
  ].join('\n') + '\n');
  t.teardown(() => rm(join(BUNDLES_DIR, `${set}-inner`), { recursive: true, force: true }));
  const builder = await bundles({ set, entries: { builder: relative(REPO, join(dir, 'builder.ts')) } });
  const inner = execFileSync(process.execPath, [builder.files.builder], { encoding: 'utf8' }).trim();
  t.equal(execFileSync(process.execPath, [inner], { encoding: 'utf8' }).trim(), dir, 'the inner bundle prints its source\'s folder, not its own');
});

t.test('a bundle is Latin-1 text: V8 keeps a script\'s source in its heap, at two bytes a character if one is beyond U+00FF', async (t) => {
  await mkdir(src, { recursive: true });
  // Characters beyond Latin-1 in comments (the project's own comments have ≤, → and —) and in a string.
  await writeFile(join(src, 'wide.ts'), "// at most ≤ 500 MB → fine\nexport function f(a: number): boolean {\n  // a — inside a body\n  return a > 1 && // ≤ in an expression\n    a < 9;\n}\nexport const s = 'ok ≤ → —';\n");
  const b = await bundles({ set, entries: { wide: relative(REPO, join(src, 'wide.ts')) } });
  const text = await readFile(b.files.wide, 'utf8');
  t.notMatch(text, /[^\u0000-\u00ff]/, 'no character beyond U+00FF');
  const m = await import(pathToFileURL(b.files.wide).href);
  t.same([m.s, m.f(5), m.f(1)], ['ok ≤ → —', true, false], 'the string\'s value (escaped) and the code are kept');
});
