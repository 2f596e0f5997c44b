import t from 'tap';
import { existsSync } from 'node:fs';
import { mkdir, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { run } from '../../shared/run.ts';
import { tempDir, withTempDir } from '../../shared/temp-dir.ts';

const REPO_ROOT = join(import.meta.dirname, '..', '..');

t.test('withTempDir gives fn a new private folder, returns what fn returns and removes the folder', async (t) => {
  let seen = '';
  const result = await withTempDir('ciao-temp-test', async (dir) => {
    seen = dir;
    const s = await stat(dir);
    t.ok(s.isDirectory(), 'the folder exists inside fn');
    t.equal(s.mode & 0o777, 0o700, 'only its user can enter it');
    t.match(basename(dir), /^ciao-temp-test-\w{6}$/);
    t.equal(dirname(dir), tmpdir());
    await writeFile(join(dir, 'file'), 'x');
    return 42;
  });
  t.equal(result, 42);
  t.notOk(existsSync(seen), 'gone once fn resolved, contents and all');
});

t.test('withTempDir removes the folder when fn throws, and the error reaches the caller', async (t) => {
  let seen = '';
  const boom = new Error('boom');
  const caught = await withTempDir('ciao-temp-test', async (dir) => {
    seen = dir;
    await writeFile(join(dir, 'file'), 'x');
    throw boom;
  }).catch((err: unknown) => err);
  t.equal(caught, boom, "fn's own error, not one of the removal");
  t.ok(seen, 'fn ran');
  t.notOk(existsSync(seen), 'gone once fn threw');
});

t.test('tempDir lasts until remove(), which removes a folder that is not empty', async (t) => {
  const dir = tempDir('ciao-temp-test');
  t.teardown(dir.remove);
  await mkdir(join(dir.path, 'a', 'b'), { recursive: true });
  await writeFile(join(dir.path, 'a', 'b', 'file'), 'x');
  t.ok(existsSync(join(dir.path, 'a', 'b', 'file')), 'there until remove()');
  dir.remove();
  t.notOk(existsSync(dir.path), 'gone, contents and all');
  t.doesNotThrow(() => dir.remove(), 'a second remove() does nothing');
});

t.test('a folder from tempDir still there when the process exits is removed then', async (t) => {
  const script = [
    "import { writeFileSync } from 'node:fs';",
    "import { tempDir } from './shared/temp-dir.ts';",
    "const dir = tempDir('ciao-temp-test');",
    "writeFileSync(dir.path + '/file', 'x');",
    'console.log(dir.path);',
    'process.exit(0);',
  ].join('\n');
  const child = await run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: REPO_ROOT });
  const left = child.stdout.trim();
  t.match(left, /ciao-temp-test-\w{6}$/, 'the child made a folder');
  t.notOk(existsSync(left), 'and it did not outlive the child');
});
