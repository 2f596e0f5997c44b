import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiError } from '../../shared/errors.ts';
import { injectedFiles } from '../../controller/http/compute/personality.ts';
import { InjectedFile } from '../../protocol/payloads.ts';
import { tarArchive } from '../../launcher/tar.ts';

const b64 = (s: string) => Buffer.from(s).toString('base64');
const statusOf = (act: () => unknown) => {
  try {
    act();
  } catch (err) {
    return err instanceof ApiError ? err.status : 'not an ApiError';
  }
  return 'no error';
};

t.test('personality: paths made absolute, contents checked as base64, Nova\'s quotas as 403', async (t) => {
  t.equal(injectedFiles(undefined), undefined, 'none given, none kept');
  t.same(injectedFiles([{ path: 'etc/x.txt', contents: b64('x') }, { path: '//y', contents: '' }]), [{ path: '/etc/x.txt', contents: b64('x') }, { path: '/y', contents: '' }]);
  t.equal(statusOf(() => injectedFiles([{ path: '/a', contents: 'This is a test file.' }])), 400, 'contents not base64 (Tempest\'s negative test)');
  t.equal(statusOf(() => injectedFiles(Array.from({ length: 6 }, (_, n) => ({ path: `/f${n}`, contents: '' })))), 403, 'more than injected_files (5)');
  t.equal(statusOf(() => injectedFiles([{ path: '/big', contents: Buffer.alloc(10_241).toString('base64') }])), 403, 'over injected_file_content_bytes');
  t.equal(statusOf(() => injectedFiles([{ path: `/${'p'.repeat(255)}`, contents: '' }])), 403, 'over injected_file_path_bytes');
  for (const path of ['/a/../etc/shadow', '..', '/', '/a/./b', '/a"b', '/a\\b', '/a\nb']) {
    t.equal(statusOf(() => injectedFiles([{ path, contents: '' }])), 400, `path ${JSON.stringify(path)} refused`);
  }
});

t.test('the node takes no injected path with a ".." segment, a quote or a control character', async (t) => {
  t.ok(InjectedFile.safeParse({ path: '/etc/x', contents: '' }).success);
  for (const path of ['/a/../b', 'relative', '/a"', '/a\u0001', '/..']) t.notOk(InjectedFile.safeParse({ path, contents: '' }).success, path);
});

t.test('tarArchive is a tar that tar itself unpacks, long paths (pax) included', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ciao-tar-test-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const long = `${'d'.repeat(120)}/${'f'.repeat(110)}.txt`;
  const archive = join(dir, 'a.tar');
  writeFileSync(archive, tarArchive([{ path: 'etc/test0.txt', data: Buffer.from('zero') }, { path: long, data: Buffer.alloc(1000, 7) }, { path: 'empty', data: Buffer.alloc(0) }]));
  execFileSync('tar', ['-xf', archive, '-C', dir]);
  t.equal(readFileSync(join(dir, 'etc/test0.txt'), 'utf8'), 'zero');
  t.same(readFileSync(join(dir, long)), Buffer.alloc(1000, 7), 'a path over 100 bytes through a pax header');
  t.equal(readFileSync(join(dir, 'empty')).length, 0);
});
