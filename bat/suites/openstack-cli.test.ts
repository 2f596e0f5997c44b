// BAT openstack-cli (issue 13): python-openstackclient's everyday flows against the cluster, as the
// demo user, each checked where it shows: a keypair made by `keypair create` logs into the VM that
// `server create --key-name --file --wait` made (finding the injected file) in a `server group create` group; `server pause` silences
// the guest and `unpause` brings the same boot back; `server reboot` boots it again (a new boot
// id); `server add volume` hot-plugs a block device the guest sees, `remove volume` unplugs it;
// `image set --property` shows in `image show`. One VM serves the guest checks, in that order. On a
// simulated cluster the states, views and events are checked and the guest checks are skipped.
import t from 'tap';
import type { Test } from 'tap';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cnciNamespace } from '../../cnci/cnci-backend.ts';
import { volumeSerial } from '../../launcher/qemu-backend.ts';
import { pingFrom } from '../../singlevm/probes.ts';
import { tempDir } from '../../shared/temp-dir.ts';
import { waitFor } from '../../shared/wait-for.ts';
import { requireOpenstackCli } from '../openstack-cli.ts';
import { expectEvent, guestShell, openstackCli, publicWorkload, REAL_ONLY, unique, user, userTenantPath } from '../lib.ts';

await requireOpenstackCli();
const { path: dir, remove: removeDir } = tempDir('bat-openstack-cli');
const { demo: openstack } = await openstackCli(dir);
const cluster = process.env.CIAO_CLUSTER ?? 'ciao';
const tenantPath = await userTenantPath();
const ns = cnciNamespace(cluster, tenantPath.split('/').pop()!);

interface Server { id: string; name: string; status: string; key_name: string | null; addresses: Record<string, string[]> }
// openstackclient shows `policies` (Compute before 2.64) or `policy` (2.64 on), by the microversion
// its SDK settles on with the cluster.
interface Group { id: string; name: string; policies?: string[]; policy?: string; members: string[] }
interface Volume { id: string; size: number; status: string; attachments: { server_id: string }[] }

/** Everything the suite makes, by name, deleted when it ends (after a failure too): the servers
 *  first, which frees their volumes. */
const made = { servers: [] as string[], volumes: [] as string[], keypairs: [] as string[], groups: [] as string[], images: [] as string[] };
t.teardown(async () => {
  await openstack.close(); // a command still running (a test that timed out) is killed first
  const servers = async () => (await user.call<{ servers: { id: string; name: string }[] }>('GET', '/v2.1/servers')).servers.filter((s) => made.servers.includes(s.name));
  for (const s of await servers()) await user.call('DELETE', `/v2.1/servers/${s.id}`).catch(() => undefined);
  await waitFor('the servers to be gone', async () => (await servers()).length === 0, { timeoutMs: 60_000 });
  await waitFor('the volumes to be deleted', async () => {
    const { volumes } = await user.call<{ volumes: { id: string; name: string; status: string }[] }>('GET', '/volume/v3/volumes/detail');
    const mine = volumes.filter((v) => made.volumes.includes(v.name));
    for (const v of mine) if (v.status === 'available' || v.status === 'error') await user.call('DELETE', `/volume/v3/volumes/${v.id}`).catch(() => undefined);
    return mine.length === 0;
  }, { timeoutMs: 60_000 });
  for (const k of made.keypairs) await user.call('DELETE', `/v2.1/os-keypairs/${k}`).catch(() => undefined);
  const { server_groups: groups } = await user.call<{ server_groups: Group[] }>('GET', '/v2.1/os-server-groups');
  for (const g of groups.filter((x) => made.groups.includes(x.name))) await user.call('DELETE', `/v2.1/os-server-groups/${g.id}`);
  const { images } = await user.call<{ images: { id: string; name: string }[] }>('GET', '/image/v2/images');
  for (const i of images.filter((x) => made.images.includes(x.name))) await user.call('DELETE', `/image/v2/images/${i.id}`);
  removeDir();
});

// The views are read through the API, beside what the client shows: the service's own word.
const server = async (id: string) => (await user.call<{ server: Server }>('GET', `/v2.1/servers/${id}`)).server;
const volume = async (id: string) => (await user.call<{ volume: Volume }>('GET', `/volume/v3/volumes/${id}`)).volume;

interface Vm {
  keyName: string; keyFile: string; group: Group; created: Server;
  /** A command's output in the guest, over SSH with the keypair's private key, once SSH answers
   *  (lib.ts guestShell: the wait ends at once if the server dies). */
  guest: ReturnType<typeof guestShell>;
  ip: string;
}

/** The VM the guest checks share, made by the first test that asks for it, as a user would:
 *  keypair create, server group create, server create --key-name --hint group=… --wait. */
let vm: Promise<Vm> | undefined;
const theVm = () => vm ??= makeVm();

async function makeVm(): Promise<Vm> {
  const keyName = unique('key');
  const groupName = unique('group');
  made.keypairs.push(keyName);
  made.groups.push(groupName);
  const keyFile = join(dir, 'id_keypair');
  const [, group, { description: flavor, image_name: image }] = await Promise.all([
    openstack.json('keypair', 'create', '--private-key', keyFile, keyName),
    openstack.json<Group>('server', 'group', 'create', '--policy', 'affinity', groupName),
    publicWorkload('qemu'),
  ]);
  // openstackclient writes the key world-readable, and ssh refuses such a key.
  await chmod(keyFile, 0o600);
  const name = unique('server');
  made.servers.push(name);
  // A file injected as Nova's personality (--file), which the guest finds at boot.
  const injected = join(dir, 'injected.txt');
  await writeFile(injected, INJECTED);
  const created = await openstack.json<Server>('server', 'create', '--flavor', flavor, '--image', image, '--key-name', keyName, '--hint', `group=${group.id}`,
    '--file', `${INJECTED_PATH}=${injected}`, '--wait', name);
  const ip = Object.values(created.addresses).flat()[0];
  const guest = guestShell(tenantPath, created.id, ns, ip, keyFile, user);
  return { keyName, keyFile, group, created, guest, ip };
}

const [INJECTED_PATH, INJECTED] = ['/etc/ciao-bat/injected.txt', 'injected by server create --file\n'];

/** A check of what the guest sees: made on a real cluster, reported skipped on a simulated one. */
async function inGuest(t: Test, what: string, check: () => Promise<unknown>): Promise<void> {
  if (REAL_ONLY) t.pass(what, { skip: REAL_ONLY });
  else await check();
}

/** The volume `volume create` made, as a user makes one while a server builds. */
let vol: Promise<Volume> | undefined;
const theVolume = () => vol ??= (async () => {
  const name = unique('volume');
  made.volumes.push(name);
  return openstack.json<Volume>('volume', 'create', '--size', '1', name);
})();

// The VM and the volume are made as the suite starts, while the image test (which needs neither)
// runs: these flows need not wait for each other (their commands run side by side in the one
// client process, docs/bat.md "openstack-cli: one client process"). The
// tests get a failure, if one fails, when they ask for it. (With --run, a test makes what it needs.)
if (!process.env.TAP_GREP) for (const early of [theVm(), theVolume()]) early.catch(() => undefined);

t.test('image set --property: image show has it, and the image service keeps it', async (t) => {
  const name = unique('image');
  made.images.push(name);
  const file = join(dir, 'tiny.img');
  await writeFile(file, 'a tiny image\n');
  const image = await openstack.json<{ id: string; properties?: Record<string, string> }>('image', 'create', '--file', file, '--disk-format', 'raw', '--container-format', 'bare', name);
  t.notOk(image.properties && 'bat_flow' in image.properties, 'no such property yet');
  await openstack.text('image', 'set', '--property', 'bat_flow=openstack-cli', image.id);
  t.match((await openstack.json('image', 'show', image.id)).properties, { bat_flow: 'openstack-cli' }, 'image show: the property');
  t.match(await user.call('GET', `/image/v2/images/${image.id}`), { bat_flow: 'openstack-cli' }, 'the image API answers it too');
});

t.test('keypair create, server group create, server create --key-name --hint group --wait: ACTIVE in its group, and the private key logs in', async (t) => {
  const { keyName, keyFile, group, created, guest } = await theVm();
  t.same(group.policy ?? group.policies, group.policy ? 'affinity' : ['affinity'], 'server group create: an affinity group');
  t.same(group.members, [], 'server group create: empty');
  t.match(created, { status: 'ACTIVE', key_name: keyName }, 'server create --wait returns the server ACTIVE, with its key');
  t.match(await readFile(keyFile, 'utf8'), /^-----BEGIN [A-Z ]*PRIVATE KEY-----\n/, 'keypair create wrote the private key');
  const { server_group: { members } } = await user.call<{ server_group: Group }>('GET', `/v2.1/os-server-groups/${group.id}`);
  t.same(members, [created.id], 'the server is a member of its group');
  await inGuest(t, 'the keypair logs in', async () => t.equal(await guest('hostname'), created.id, "the keypair's private key logs in, as the server"));
});

t.test('server create --file: the guest finds the injected file (Nova\'s personality, through the config drive)', async (t) => {
  const { guest } = await theVm();
  await inGuest(t, 'the injected file', async () => t.equal(`${await guest(`cat ${INJECTED_PATH}`)}\n`, INJECTED, `${INJECTED_PATH} holds what --file gave`));
});

t.test('server pause: the guest answers no ping; server unpause: it answers again, the same boot', async (t) => {
  const { created: { id }, guest, ip } = await theVm();
  const bootId = REAL_ONLY ? '' : await guest('cat /proc/sys/kernel/random/boot_id');
  await expectEvent(tenantPath, new RegExp(`^Paused ${id}`), () => openstack.text('server', 'pause', id), user);
  t.equal((await server(id)).status, 'PAUSED', 'PAUSED');
  await inGuest(t, 'a paused guest answers nothing', async () => t.notOk(await pingFrom(ns, ip), 'a paused VM does not answer ping'));
  await expectEvent(tenantPath, new RegExp(`^Unpaused ${id}`), () => openstack.text('server', 'unpause', id), user);
  t.equal((await server(id)).status, 'ACTIVE', 'ACTIVE again');
  await inGuest(t, 'the guest goes on', async () => {
    t.equal(await guest('cat /proc/sys/kernel/random/boot_id'), bootId, 'it answers over SSH again, the same boot went on');
    t.ok(await pingFrom(ns, ip), 'and answers ping');
  });
});

t.test('server reboot --wait: the guest boots again (a new boot id), as itself', async (t) => {
  const { created: { id }, guest } = await theVm();
  const bootId = REAL_ONLY ? '' : await guest('cat /proc/sys/kernel/random/boot_id');
  const event = await expectEvent(tenantPath, new RegExp(`^Rebooting ${id}`), () => openstack.text('server', 'reboot', '--wait', id), user);
  t.match(event.message, /\(soft\)/, 'a soft reboot, as asked');
  t.equal((await server(id)).status, 'ACTIVE', '--wait returned once it is ACTIVE again');
  await inGuest(t, 'the guest booted again', async () => {
    const again = await guest('cat /proc/sys/kernel/random/boot_id', { accept: (now) => now !== bootId, what: 'the guest to answer with a new boot id' });
    t.not(again, bootId, 'a new boot id');
    t.equal(await guest('hostname'), id, 'as itself');
  });
});

t.test('volume create, server add volume: the guest sees a block device of its size; server remove volume: it goes', async (t) => {
  const { created: { id }, guest } = await theVm();
  const vol = await theVolume();
  const available = () => waitFor(`volume ${vol.id} to be available`, async () => (await volume(vol.id)).status === 'available', { timeoutMs: 60_000 });
  await available();
  // The guest's block device with the volume's serial: "<device> <size in 512-byte sectors>".
  const device = () => guest(`for d in /sys/block/vd*; do [ "$(cat $d/serial)" = ${volumeSerial(vol.id)} ] && [ -b /dev/\${d##*/} ] && echo "\${d##*/} $(cat $d/size)"; done; true`);
  await inGuest(t, 'no such disk before', async () => t.equal(await device(), '', 'the guest has no such disk yet'));

  await expectEvent(tenantPath, new RegExp(`^Attached volume ${vol.id} to ${id}`), () => openstack.text('server', 'add', 'volume', id, vol.id), user);
  t.match(await volume(vol.id), { status: 'in-use', attachments: [{ server_id: id }] }, 'in use by the server');
  // The guest finds a hot-plugged disk on its own time (PCIe hot-plug, then virtio's probe), after the attach has answered.
  const sized = new RegExp(`^vd[a-z] ${vol.size * 2 * 1024 * 1024}$`);
  let seen = '';
  await inGuest(t, 'the guest sees the disk', async () => {
    await waitFor('the guest to see the hot-plugged disk', async () => sized.test(seen = await device()), { timeoutMs: 15_000, intervalMs: 200 }).catch(() => undefined);
    t.match(seen, sized, 'the guest sees a block device of the volume\'s size (within 15 s of the attach)');
  });

  await expectEvent(tenantPath, new RegExp(`^Detached volume ${vol.id} from ${id}`), () => openstack.text('server', 'remove', 'volume', id, vol.id), user);
  await available();
  t.same((await volume(vol.id)).attachments, [], 'available again, attached to nothing');
  await inGuest(t, 'the disk is gone', async () => t.equal(await device(), '', 'the guest no longer has it'));
});
