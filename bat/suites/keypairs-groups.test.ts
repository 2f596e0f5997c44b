// BAT keypairs and server groups, through the Compute API as the demo user: a VM made with a
// generated keypair lets that key log in (real clusters), and anti-affinity places a group's two
// servers on different nodes, or fails the second with its reason when there is only one node.
import t from 'tap';
import type { Test } from 'tap';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cnciNamespace } from '../../cnci/cnci-backend.ts';
import { tempDir } from '../../shared/temp-dir.ts';
import { AbortError, waitFor } from '../../shared/wait-for.ts';
import { admin, BOOT_MS, expectEvent, guestShell, publicWorkload, REAL_ONLY, unique, user, userTenantPath, sideBySide } from '../lib.ts';

// Its tests share nothing they change: they run side by side (docs/bat.md).
sideBySide(t);

const cluster = process.env.CIAO_CLUSTER ?? 'ciao';
interface Server { id: string; status: string; hostId: string; key_name: string | null; addresses: Record<string, { addr: string }[]> }

const flavorFor = async (vmType: 'qemu' | 'docker') => {
  const { description } = await publicWorkload(vmType);
  const { flavors } = await user.call<{ flavors: { id: string; name: string }[] }>('GET', '/v2.1/flavors');
  return flavors.find((f) => f.name === description)!.id;
};

/** POST /v2.1/servers; the servers it makes (by name) are deleted when the test ends. */
async function createServers(t: Test, body: object, name: string): Promise<void> {
  t.teardown(async () => {
    const mine = async () => (await user.call<{ servers: { id: string }[] }>('GET', `/v2.1/servers?name=${name}`)).servers;
    for (const s of await mine()) await user.call('DELETE', `/v2.1/servers/${s.id}`).catch(() => undefined);
    await waitFor(`servers ${name} to be gone`, async () => (await mine()).length === 0, { timeoutMs: 60_000 });
  });
  await user.call('POST', '/v2.1/servers', body);
}

const server = async (id: string) => (await user.call<{ server: Server }>('GET', `/v2.1/servers/${id}`)).server;
const active = (id: string) => waitFor(`server ${id} to be ACTIVE`, async () => {
  const s = await server(id);
  // It will not become ACTIVE by itself: the wait ends now, saying so.
  if (s.status === 'ERROR' || s.status === 'SHUTOFF') throw new AbortError(`server ${id} is in ${s.status}`);
  return s.status === 'ACTIVE' && s;
}, { timeoutMs: BOOT_MS });

t.test('a generated keypair\'s private key logs into a VM made with its key_name', async (t) => {
  const keyName = unique('key');
  const { keypair } = await user.call<{ keypair: { private_key: string } }>('POST', '/v2.1/os-keypairs', { keypair: { name: keyName } });
  t.teardown(() => user.call('DELETE', `/v2.1/os-keypairs/${keyName}`));
  const name = unique('keyed');
  await createServers(t, { server: { name, flavorRef: await flavorFor('qemu'), key_name: keyName } }, name);
  const [{ id }] = (await user.call<{ servers: { id: string }[] }>('GET', `/v2.1/servers?name=${name}`)).servers;
  const vm = await active(id);
  t.equal(vm.key_name, keyName);
  if (REAL_ONLY) {
    t.pass('SSH with the keypair', { skip: REAL_ONLY });
    return;
  }
  const { path: dir, remove } = tempDir('bat-keypair');
  t.teardown(remove);
  const key = join(dir, 'id');
  await writeFile(key, keypair.private_key, { mode: 0o600 });
  const ip = Object.values(vm.addresses)[0][0].addr;
  const path = await userTenantPath();
  const guest = guestShell(path, id, cnciNamespace(cluster, path.split('/').pop()!), ip, key, user);
  t.equal(await guest('hostname', { what: `SSH to ${ip} with the keypair` }), id, 'the keypair logs in, as the instance');
});

t.test('anti-affinity: two servers on different nodes, or the second refused with its reason on one node', async (t) => {
  const { server_group: group } = await user.call<{ server_group: { id: string } }>('POST', '/v2.1/os-server-groups', { server_group: { name: unique('apart'), policies: ['anti-affinity'] } });
  t.teardown(() => user.call('DELETE', `/v2.1/os-server-groups/${group.id}`));
  const { nodes } = await admin.call<{ nodes: { id: string; roles: string[]; status: string }[] }>('GET', '/nodes');
  const computeNodes = nodes.filter((n) => n.roles.includes('compute') && n.status !== 'MISSING').length;
  const name = unique('apart');
  const body = { server: { name, flavorRef: await flavorFor('docker'), min_count: 2, max_count: 2 }, 'os:scheduler_hints': { group: group.id } };
  const members = async () => (await user.call<{ server_group: { members: string[] } }>('GET', `/v2.1/os-server-groups/${group.id}`)).server_group.members;
  if (computeNodes >= 2) {
    await createServers(t, body, name);
    const placed = await Promise.all((await members()).map(active));
    t.equal(placed.length, 2);
    t.not(placed[0].hostId, placed[1].hostId, 'on different nodes');
    return;
  }
  // The demo tenant is shared with the openstack-cli suite, running at the same time: its own group's refusal.
  const event = await expectEvent(await userTenantPath(), new RegExp(`^Failed to start .*group_policy.*server group ${group.id} `), () => createServers(t, body, name), user);
  t.match(event.message, /anti-affinity and its members are already on/);
  const left = await members();
  t.equal(left.length, 1, 'one member runs');
  await active(left[0]);
});
