// The controller's node list counts its nodes by status as they change (GET /cluster/status):
// the counts always equal what walking the list finds.
import t from 'tap';
import { NodeRegistry } from '../../controller/nodes.ts';
import { createMemoryStore } from '../../controller/datastore/memory-store.ts';
import type { NodeStats } from '../../protocol/payloads.ts';

const stats = (nodeId: string, status: NodeStats['status']): NodeStats => ({
  nodeId, hostname: nodeId, status, memTotalMB: 1024, memAvailableMB: 512, diskTotalMB: 1024, diskAvailableMB: 512, vcpus: 4, vcpusAvailable: 2, load: 0, instances: [],
});
const walked = (r: NodeRegistry) => {
  const all = r.all();
  const n = (s: string) => all.filter((x) => x.status === s).length;
  return { total: all.length, ready: n('READY'), full: n('FULL'), missing: n('MISSING'), cordoned: all.filter((x) => x.cordoned).length };
};

t.test('the summary follows connects, reports, cordons, disconnects, reconnects and removals', async (t) => {
  const store = createMemoryStore();
  const r = new NodeRegistry(store.nodes);
  for (const id of ['a', 'b', 'c']) r.connected({ nodeId: id, roles: ['compute'] });
  t.same(r.summary(), { total: 3, ready: 0, full: 3, missing: 0, cordoned: 0 });
  r.update(stats('a', 'READY'));
  r.update(stats('b', 'READY'));
  r.update(stats('d', 'READY')); // a report from a node not yet announced
  r.setCordoned('b', true);
  r.setCordoned('b', true);
  r.disconnected('c');
  t.same(r.summary(), { total: 4, ready: 3, full: 0, missing: 1, cordoned: 1 });
  t.same(r.summary(), walked(r));
  r.connected({ nodeId: 'c', roles: ['compute'] }); // back: replaces its MISSING entry
  r.connected({ nodeId: 'b', roles: ['compute'] }); // a reconnect keeps its cordon
  r.forget('a');
  t.same(r.summary(), { total: 3, ready: 1, full: 2, missing: 0, cordoned: 1 });
  t.same(r.summary(), walked(r));
  t.same(new NodeRegistry(store.nodes).summary(), { total: 3, ready: 0, full: 0, missing: 3, cordoned: 1 }, 'a restarted controller: all MISSING until they report, cordons kept');
});
