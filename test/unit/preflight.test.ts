import t from 'tap';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ipJson } from '../../network/ip.ts';
import { cidrsOverlap, freeDiskMB, missingTools, routeCollisions } from '../../singlevm/preflight.ts';

t.test('CIDRs overlap when one holds any address of the other', async (t) => {
  t.ok(cidrsOverlap('10.0.0.0/24', '10.0.0.0/24'), 'the same range');
  t.ok(cidrsOverlap('10.0.0.0/8', '10.1.2.0/24'), 'a larger range holds a smaller one');
  t.ok(cidrsOverlap('10.1.2.0/24', '10.0.0.0/8'), 'and the other way round');
  t.ok(cidrsOverlap('192.0.2.0/24', '192.0.2.7/32'), 'a host address inside');
  t.ok(cidrsOverlap('0.0.0.0/0', '203.0.113.0/24'), 'everything holds everything');
  t.notOk(cidrsOverlap('10.0.0.0/24', '10.0.1.0/24'), 'neighbours do not overlap');
  t.notOk(cidrsOverlap('172.16.0.0/12', '172.32.0.0/16'), 'just past the end');
  t.notOk(cidrsOverlap('198.51.100.0/24', '203.0.113.0/24'), 'far apart');
});

t.test('missingTools names the tools not on PATH', async (t) => {
  t.same(await missingTools(['sh']), []);
  t.same(await missingTools(['sh', 'ciao-no-such-tool-4f2a']), ['ciao-no-such-tool-4f2a']);
});

t.test('freeDiskMB measures the nearest existing folder', async (t) => {
  t.ok((await freeDiskMB(tmpdir())) > 0);
  t.ok((await freeDiskMB(join(tmpdir(), 'ciao-not-made-yet', 'deeper'))) > 0, 'a folder not created yet');
});

t.test('routeCollisions names the host route a range overlaps, and nothing for a free range', async (t) => {
  // Read the host's own IPv4 routes and addresses here, so the test holds whatever network this host has.
  const routes = await ipJson<{ dst: string }[]>(undefined, '-4', 'route', 'show');
  const addrs = await ipJson<{ addr_info?: { local: string }[] }[]>(undefined, '-4', 'addr', 'show');
  const taken = [
    ...routes.filter((r) => r.dst !== 'default').map((r) => (r.dst.includes('/') ? r.dst : `${r.dst}/32`)),
    ...addrs.flatMap((a) => (a.addr_info ?? []).map((i) => `${i.local}/32`)),
  ];
  const free = ['198.51.100.0/24', '203.0.113.0/24', '192.0.2.0/24', '100.127.254.0/24']
    .find((c) => !taken.some((h) => cidrsOverlap(c, h)));
  if (free) t.same(await routeCollisions([free]), [], `${free} is not on this host`);
  else t.comment('every candidate range is on this host: nothing free to try');

  const loopback = await routeCollisions(['127.0.0.0/8']);
  t.match(loopback.join('\n'), /127\.0\.0\.0\/8 overlaps the host's address 127\.0\.0\.1 on lo/, 'the loopback address counts');
  t.same(await routeCollisions([]), []);
});
