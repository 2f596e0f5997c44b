// Compute os-server-groups over a whole control plane: the API, project isolation, persistence,
// and the scheduler enforcing a group's policy across two simulated nodes, and refusing on one.
import t from 'tap';
import { startControlPlane } from '../helpers/control-plane.ts';
import { waitForEvent } from '../helpers/api-waits.ts';
import { waitFor } from '../../shared/wait-for.ts';
import type { ControllerClient } from '../../shared/controller-client.ts';

type Group = { id: string; name: string; policies: string[]; members: string[]; metadata: object };
const refused = (status: number) => ({ name: 'ControllerError', status });
const createGroup = (c: ControllerClient, policy: string, name = `g-${policy}`) =>
  c.call<{ server_group: Group }>('POST', '/v2.1/os-server-groups', { server_group: { name, policies: [policy] } }).then((r) => r.server_group);
const flavorOf = async (c: ControllerClient) =>
  (await c.call<{ flavors: { id: string; name: string }[] }>('GET', '/v2.1/flavors')).flavors.find((f) => f.name === 'Busybox container')!.id;
const createServers = async (c: ControllerClient, group: string, count: number) => {
  await c.call('POST', '/v2.1/servers', { server: { name: 'member', flavorRef: await flavorOf(c), min_count: count, max_count: count }, 'os:scheduler_hints': { group } });
};
const hosts = async (c: ControllerClient, ids: string[]) =>
  Promise.all(ids.map(async (id) => (await c.call<{ server: { hostId: string; status: string } }>('GET', `/v2.1/servers/${id}`)).server));

t.test('two nodes', async (t) => {
  const plane = await startControlPlane({ nodes: 2 });
  t.teardown(() => plane.close());
  const { demo, other } = plane;

  t.test('create, show, list and delete; bad bodies are 400', async (t) => {
    const g = await createGroup(demo, 'affinity', 'same name');
    const g2 = await createGroup(demo, 'affinity', 'same name');
    t.not(g.id, g2.id);
    t.same(g, { id: g.id, name: 'same name', policies: ['affinity'], members: [], metadata: {} });
    t.same((await demo.call<{ server_group: Group }>('GET', `/v2.1/os-server-groups/${g.id}`)).server_group, g);
    t.ok((await demo.call<{ server_groups: Group[] }>('GET', '/v2.1/os-server-groups')).server_groups.some((x) => x.id === g2.id));
    await demo.call('DELETE', `/v2.1/os-server-groups/${g2.id}`);
    await t.rejects(demo.call('GET', `/v2.1/os-server-groups/${g2.id}`), refused(404));
    for (const body of [{}, { name: 'x' }, { name: 'x', policies: [] }, { name: 'x', policies: ['affinity', 'anti-affinity'] }, { name: 'x', policies: ['nearby'] },
      { name: '', policies: ['affinity'] }, { name: 'x', policies: ['soft-affinity'] }, { name: 'x', policies: ['affinity'], extra: 1 }]) {
      await t.rejects(demo.call('POST', '/v2.1/os-server-groups', { server_group: body }), refused(400), JSON.stringify(body));
    }
  });

  t.test('another project neither sees, shows, deletes nor joins my group', async (t) => {
    const g = await createGroup(demo, 'anti-affinity');
    t.notOk((await other.call<{ server_groups: Group[] }>('GET', '/v2.1/os-server-groups')).server_groups.some((x) => x.id === g.id));
    await t.rejects(other.call('GET', `/v2.1/os-server-groups/${g.id}`), refused(404));
    await t.rejects(other.call('DELETE', `/v2.1/os-server-groups/${g.id}`), refused(404));
    await t.rejects(createServers(other, g.id, 1), refused(400));
    t.ok((await demo.call<{ server_group: Group }>('GET', `/v2.1/os-server-groups/${g.id}`)).server_group);
  });

  t.test('anti-affinity puts two members on different nodes; affinity puts two on the same node', async (t) => {
    for (const [policy, distinct] of [['anti-affinity', 2], ['affinity', 1]] as const) {
      const g = await createGroup(demo, policy);
      await createServers(demo, g.id, 2);
      const members = await waitFor(`two members of ${policy}`, async () => {
        const { server_group } = await demo.call<{ server_group: Group }>('GET', `/v2.1/os-server-groups/${g.id}`);
        return server_group.members.length === 2 && server_group.members;
      });
      const placed = await waitFor('both placed and active', async () => {
        const views = await hosts(demo, members);
        return views.every((v) => v.status === 'ACTIVE' && v.hostId) && views;
      });
      t.equal(new Set(placed.map((v) => v.hostId)).size, distinct, policy);
    }
  });

  t.test('server groups survive a controller restart, members and all', async (t) => {
    const g = await createGroup(demo, 'affinity', 'durable');
    await createServers(demo, g.id, 1);
    await plane.restartController();
    const { server_group } = await demo.call<{ server_group: Group }>('GET', `/v2.1/os-server-groups/${g.id}`);
    t.equal(server_group.name, 'durable');
    t.equal(server_group.members.length, 1);
  });

  t.test('an admin limits groups per project and members per group (403)', async (t) => {
    const project = await demo.tenantId();
    await plane.admin.call('PUT', `/v2.1/os-quota-sets/${project}`, { quota_set: { server_group_members: 1 } });
    t.teardown(() => plane.admin.call('DELETE', `/v2.1/os-quota-sets/${project}`));
    const g = await createGroup(demo, 'anti-affinity');
    await t.rejects(createServers(demo, g.id, 2), refused(403));
    const { server_groups } = await demo.call<{ server_groups: Group[] }>('GET', '/v2.1/os-server-groups');
    await plane.admin.call('PUT', `/v2.1/os-quota-sets/${project}`, { quota_set: { server_groups: server_groups.length } });
    await t.rejects(createGroup(demo, 'affinity'), refused(403));
  });
});

t.test('one node: a second anti-affinity member fails with the reason, the first runs', async (t) => {
  const plane = await startControlPlane({ nodes: 1 });
  t.teardown(() => plane.close());
  const { demo } = plane;
  const g = await createGroup(demo, 'anti-affinity');
  await createServers(demo, g.id, 2);
  const event = await waitForEvent(demo, /group_policy \(server group .* is anti-affinity and its members are already on node-0/);
  t.match(event, { type: 'error' });
  const { server_group } = await demo.call<{ server_group: Group }>('GET', `/v2.1/os-server-groups/${g.id}`);
  t.equal(server_group.members.length, 1, 'the refused member is gone');
  const view = await waitFor('the first member to run', async () => {
    const [v] = await hosts(demo, server_group.members);
    return v.status === 'ACTIVE' && v;
  });
  t.match(view.hostId, /^[0-9a-f]{56}$/, 'on a node (hostId: the node hidden per project, as Nova)');
});
