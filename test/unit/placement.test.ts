import t from 'tap';
import { Placement } from '../../scheduler/placement.ts';
import type { NodeStats } from '../../protocol/payloads.ts';

const stats = (nodeId: string, free: Partial<NodeStats> = {}): NodeStats => ({
  nodeId, hostname: `${nodeId}.host`, status: 'READY',
  memTotalMB: 4096, memAvailableMB: 4096, diskTotalMB: 10000, diskAvailableMB: 10000, vcpus: 4, vcpusAvailable: 4, load: 0, instances: [],
  ...free,
});
const want = (memMB = 512, extra: object = {}) => ({ resources: { vcpus: 1, memMB, diskMB: 100 }, requirements: { ...extra } });

function cluster(...nodes: [string, ('compute' | 'network')[], Partial<NodeStats>?][]) {
  const p = new Placement();
  for (const [id, roles, free] of nodes) {
    p.add(id, `${id}.host`, roles);
    p.update(stats(id, free));
  }
  return p;
}

t.test('spreads starts round robin after the last pick', async (t) => {
  const p = cluster(['a', ['compute']], ['b', ['compute']], ['c', ['compute']]);
  const picks = [1, 2, 3, 4].map(() => p.place(want()));
  t.same(picks.map((r) => r.ok && r.nodeId), ['a', 'b', 'c', 'a']);
});

t.test('skips nodes without room and reserves what it placed until the next STATS', async (t) => {
  const p = cluster(['a', ['compute'], { memAvailableMB: 600 }], ['b', ['compute'], { memAvailableMB: 100 }]);
  t.match(p.place(want(512)), { ok: true, nodeId: 'a' });
  const full = p.place(want(512));
  t.match(full, { ok: false, reason: 'full_cloud' });
  t.match(!full.ok && full.message, /largest free memory is 100 MB/);
  p.update(stats('a', { memAvailableMB: 600 }));
  t.match(p.place(want(512)), { ok: true, nodeId: 'a' });
});

t.test('a node that reported FULL gets nothing', async (t) => {
  const p = cluster(['a', ['compute'], { status: 'FULL' }]);
  t.match(p.place(want(1)), { ok: false, reason: 'full_cloud' });
});

t.test('network-node workloads go to network nodes only', async (t) => {
  const p = cluster(['cn', ['compute']], ['nn', ['network']]);
  t.match(p.place(want(512, { networkNode: true })), { ok: true, nodeId: 'nn' });
  t.match(p.place(want(512)), { ok: true, nodeId: 'cn' });
  t.match(cluster(['cn', ['compute']]).place(want(512, { networkNode: true })), { ok: false, reason: 'no_net_cn' });
});

t.test('no node at all is no_cn', async (t) => {
  t.match(new Placement().place(want()), { ok: false, reason: 'no_cn', message: 'no compute node is connected' });
});

t.test('node id and hostname requirements pick that node or say none matches', async (t) => {
  const p = cluster(['a', ['compute']], ['b', ['compute']]);
  t.match(p.place(want(1, { nodeId: 'b' })), { ok: true, nodeId: 'b' });
  t.match(p.place(want(1, { nodeId: 'b' })), { ok: true, nodeId: 'b' });
  t.match(p.place(want(1, { hostname: 'a.host' })), { ok: true, nodeId: 'a' });
  t.match(p.place(want(1, { nodeId: 'zz' })), { ok: false, reason: 'no_cn', message: /node_id=zz/ });
});

t.test('a node that leaves is no longer picked and the rotation goes on', async (t) => {
  const p = cluster(['a', ['compute']], ['b', ['compute']], ['c', ['compute']]);
  t.match(p.place(want()), { nodeId: 'a' });
  t.match(p.place(want()), { nodeId: 'b' });
  p.remove('b');
  t.match(p.place(want()), { nodeId: 'c' });
  t.match(p.place(want()), { nodeId: 'a' });
  t.equal(p.size, 2);
});

t.test('a refusal names a node away that could take the instance: by its role, requirements, cordon, group and last free room', async (t) => {
  const p = cluster(['a', ['compute', 'network'], { memAvailableMB: 1024 }], ['b', ['compute']]);
  p.remove('a', true);
  p.remove('b');
  t.match(p.place(want(512)), { ok: false, reason: 'no_cn', awaits: 'a' }, 'a compute instance: a was one');
  t.match(p.place(want(512, { networkNode: true })), { ok: false, reason: 'no_net_cn', awaits: 'a' }, 'a CNCI too');
  t.notOk((p.place(want(2048)) as { awaits?: string }).awaits, 'not what its last STATS had no room for');
  t.notOk((p.place(want(512, { nodeId: 'b' })) as { awaits?: string }).awaits, 'not what names another node (b left for good)');
  p.setCordoned(['a']);
  t.notOk((p.place(want(512)) as { awaits?: string }).awaits, 'not while it is cordoned');
  p.setCordoned([]);
  const anti = { group: { id: 'g', policy: 'anti-affinity', nodes: ['a'] } };
  t.notOk((p.place(want(512, anti)) as { awaits?: string }).awaits, 'not what its group keeps off it');
  t.match(p.place(want(512, { group: { ...anti.group, policy: 'soft-anti-affinity' } })), { awaits: 'a' }, 'a soft policy may end there');
  p.returned('a');
  t.notOk((p.place(want(512)) as { awaits?: string }).awaits, 'returned: no longer awaited');
});

t.test('a node away and back is a candidate again from its first STATS', async (t) => {
  const p = cluster(['a', ['compute']]);
  p.remove('a', true);
  p.add('a', 'a.host', ['compute']);
  t.match(p.place(want(512)), { ok: false, reason: 'full_cloud', awaits: 'a' }, 'connected, no STATS yet: still awaited');
  p.update(stats('a'));
  p.returned('a');
  t.match(p.place(want(512)), { ok: true, nodeId: 'a' });
});

t.test('a node is not a candidate before its first STATS', async (t) => {
  const p = new Placement();
  p.add('a', 'a', ['compute']);
  t.match(p.place(want(1)), { ok: false, reason: 'full_cloud' });
});

t.test('a server group\'s policy narrows the nodes: anti-affinity avoids members\' nodes, affinity keeps to them', async (t) => {
  const group = (policy: 'affinity' | 'anti-affinity' | 'soft-anti-affinity', nodes: string[] = []) => ({ group: { id: 'g', policy, nodes } });
  const p = cluster(['a', ['compute']], ['b', ['compute']]);
  t.match(p.place({ instanceId: 'i1', ...want(512, group('anti-affinity')) }), { ok: true, nodeId: 'a' });
  // The scheduler remembers its own placement even before the controller knows of it.
  t.match(p.place({ instanceId: 'i2', ...want(512, group('anti-affinity')) }), { ok: true, nodeId: 'b' });
  const refused = p.place({ instanceId: 'i3', ...want(512, group('anti-affinity')) });
  t.match(refused, { ok: false, reason: 'group_policy', message: /anti-affinity and its members are already on a, b/ });
  t.match(p.place({ instanceId: 'i3', ...want(512, { group: { id: 'g', policy: 'soft-anti-affinity', nodes: [] } }) }), { ok: true }, 'soft: a preference only');
  p.forget('i2', 'a');
  t.match(p.place({ instanceId: 'i5', ...want(512, group('anti-affinity')) }), { ok: false, reason: 'group_policy' }, 'a node it was not placed on says it is deleted: it still binds b');
  p.forget('i2', 'b');
  p.forget('i3');
  t.match(p.place({ instanceId: 'i4', ...want(512, group('anti-affinity')) }), { ok: true, nodeId: 'b' }, 'a forgotten member frees its node');
  const q = cluster(['a', ['compute']], ['b', ['compute'], { memAvailableMB: 600 }]);
  t.match(q.place(want(512, group('affinity', ['b']))), { ok: true, nodeId: 'b' });
  t.match(q.place(want(512, group('affinity', ['b']))), { ok: false, reason: 'group_policy', message: /affinity and its members are on b.*largest free memory is 88 MB/ });
});

t.test('cordoned nodes get nothing new: the others take it, and a requirement naming only them is no_cn saying so', async (t) => {
  const p = cluster(['a', ['compute', 'network']], ['b', ['compute', 'network']], ['c', ['compute', 'network']]);
  p.setCordoned(['b']);
  t.same([1, 2, 3, 4].map(() => { const r = p.place(want()); return r.ok && r.nodeId; }), ['a', 'c', 'a', 'c']);
  t.match(p.place(want(1, { networkNode: true })), { ok: true, nodeId: 'a' }, 'a CNCI neither');
  const pinned = p.place(want(1, { nodeId: 'b' }));
  t.match(pinned, { ok: false, reason: 'no_cn', message: 'every compute node that matches node_id=b is cordoned (maintenance): b' });
  p.setCordoned(['a', 'b', 'c']);
  t.match(p.place(want(1, { networkNode: true })), { ok: false, reason: 'no_net_cn', message: /every network node is cordoned/ });
  p.setCordoned([]);
  t.match(p.place(want(1, { nodeId: 'b' })), { ok: true, nodeId: 'b' }, 'uncordoned: the whole set replaces the last');
});
