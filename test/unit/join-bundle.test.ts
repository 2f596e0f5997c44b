import t from 'tap';
import { chmod, mkdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tempDir } from '../../shared/temp-dir.ts';
import { joinNumber, parseDuration, readBundle, writeBundle, type JoinBundle } from '../../singlevm/join-bundle.ts';

const { path: dir, remove } = tempDir('ciao-join-bundle');
t.teardown(remove);
const pem = (label: string) => `-----BEGIN ${label}-----\nTUlJQmtUQ0NBVGVnQXdJQkFnSVVZ\nQUJD\n-----END ${label}-----\n`;
const good = (): JoinBundle => ({
  kind: 'ciao-join-bundle', version: 1, cluster: 'jt', nodeId: 'jt-join-2', expires: new Date(Date.now() + 3_600_000).toISOString(),
  pki: { ca: pem('CERTIFICATE'), cert: pem('CERTIFICATE'), key: pem('PRIVATE KEY') },
  scheduler: { address: '198.51.100.1', port: 40123 },
  network: { cidr: '198.51.100.0/24', leg: '198.51.100.62' },
  underlay: { vni: 1048576, port: 4790, cluster: '192.0.2.11', node: '192.0.2.12', prefix: 24 },
  vmImages: ['0b6f5f0e-8a3c-4f7e-9a57-3f1f6d1f2a10'],
});
let n = 0;
/** A bundle file with this content (0600 unless told), as a crafted one would arrive. */
async function file(content: unknown, mode = 0o600): Promise<string> {
  const f = join(dir, `b${n++}.json`);
  await writeFile(f, typeof content === 'string' ? content : JSON.stringify(content), { mode });
  await chmod(f, mode);
  return f;
}

t.test('a bundle is written 0600, read back whole, and never written over a file', async (t) => {
  const f = join(dir, 'join.json');
  const bundle = good();
  await writeBundle(f, bundle);
  t.equal((await stat(f)).mode & 0o777, 0o600);
  const back = await readBundle(f);
  t.same(back, bundle, 'the same bundle');
  t.equal(joinNumber(back), 2);
  await t.rejects(writeBundle(f, good()), /exists: a bundle is never written over a file/);
});

t.test('an expired bundle is refused, with the time it expired and what to do', async (t) => {
  const b = { ...good(), expires: '2026-01-01T00:00:00.000Z' };
  await t.rejects(readBundle(await file(b)), /expired at 2026-01-01T00:00:00\.000Z: export a new one/);
  const f = await file(good());
  await t.rejects(readBundle(f, new Date(Date.now() + 2 * 3_600_000)), { name: 'BundleError', message: /expired at/ }, 'refused once its hour is over');
  t.ok(await readBundle(f), 'the same file is taken before then');
});

t.test('a bundle others can read is refused: it holds a key', async (t) => {
  await t.rejects(readBundle(await file(good(), 0o644)), /readable by others \(mode 644\)/);
});

t.test('crafted bundles get a one-line error naming the field, never a path', async (t) => {
  const cases: [string, (b: Record<string, any>) => unknown, RegExp][] = [
    ['a node id that climbs out', (b) => ({ ...b, nodeId: '../../etc/passwd' }), /nodeId: must be jt-join-<1…39>/],
    ["another cluster's node id", (b) => ({ ...b, nodeId: 'other-join-2' }), /nodeId: must be jt-join/],
    ['a node number too large', (b) => ({ ...b, nodeId: 'jt-join-77', network: { ...b.network, leg: '198.51.100.137' } }), /nodeId/],
    ['a leg that is not the node\'s', (b) => ({ ...b, network: { ...b.network, leg: '198.51.100.10' } }), /network\.leg: must be 198\.51\.100\.62/],
    ['a cluster name with a slash', (b) => ({ ...b, cluster: 'jt/../x' }), /cluster: a cluster name/],
    ['a scheduler elsewhere', (b) => ({ ...b, scheduler: { ...b.scheduler, address: '10.0.0.1' } }), /scheduler\.address/],
    ['an unknown field', (b) => ({ ...b, path: '/etc/shadow' }), /\(top\)|path/],
    ['a key that is not PEM', (b) => ({ ...b, pki: { ...b.pki, key: '$(rm -rf /)' } }), /pki\.key: a PEM PRIVATE KEY/],
    ['an underlay address that is not one', (b) => ({ ...b, underlay: { ...b.underlay, node: '192.0.2.300' } }), /underlay\.node: an IPv4 address/],
    ['both ends one address', (b) => ({ ...b, underlay: { ...b.underlay, node: '192.0.2.11' } }), /underlay\.node: must differ/],
    ['an image id that is a path', (b) => ({ ...b, vmImages: ['../kernel'] }), /vmImages\.0/],
    ['another kind of file', (b) => ({ ...b, kind: 'something' }), /kind/],
    ['an expiry that is not a time', (b) => ({ ...b, expires: 'tomorrow' }), /expires/],
  ];
  for (const [what, craft, error] of cases) {
    await t.rejects(readBundle(await file(craft(good() as unknown as Record<string, any>))), error, what);
  }
  await t.rejects(readBundle(await file('{"kind": ')), /is not JSON/);
  await t.rejects(readBundle(await file('[]')), /is not a join bundle/);
  await t.rejects(readBundle(await file('x'.repeat(70_000))), /bytes: a bundle is a few KiB/);
  await mkdir(join(dir, 'adir'));
  await t.rejects(readBundle(join(dir, 'adir')), /is not a file/);
  await t.rejects(readBundle(join(dir, 'missing.json')), /cannot read/);
});

t.test('a bundle that fails its schema is not written', async (t) => {
  await t.rejects(writeBundle(join(dir, 'bad.json'), { ...good(), nodeId: 'jt-join-3' }));
  await t.rejects(stat(join(dir, 'bad.json')), /ENOENT/);
});

t.test('durations for --valid-for', async (t) => {
  t.equal(parseDuration('1h'), 3_600_000);
  t.equal(parseDuration('30m'), 1_800_000);
  t.equal(parseDuration('90s'), 90_000);
  t.equal(parseDuration('1d'), undefined);
  t.equal(parseDuration('-1h'), undefined);
  t.equal(parseDuration('h'), undefined);
});
