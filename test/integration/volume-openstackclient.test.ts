// python-openstackclient (Debian's python3-openstackclient) against the Block Storage v3 subset
// and compute's os-volume_attachments: volume create, list, show, set, delete, server add/remove volume.
import t from 'tap';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startControlPlane } from '../helpers/control-plane.ts';
import { waitForState, workloadId, createInstances } from '../helpers/api-waits.ts';
import { run } from '../../shared/run.ts';
import { waitFor } from '../../shared/wait-for.ts';

const which = await run('which', ['openstack'], { allowFailure: true });
if (which.exitCode !== 0) throw new Error('python-openstackclient is missing: apt-get install python3-openstackclient (.ci/run installs it)');

const plane = await startControlPlane({ nodes: 1 });
t.teardown(() => plane.close());
const { demo } = plane;

// openstackclient finds Block Storage in the catalogue under `volumev3` (mocks/identity/config.ts).
const cloudsFile = join(plane.dir, 'clouds.yaml');
await writeFile(cloudsFile, JSON.stringify({ clouds: { ciao: {
  auth: { auth_url: `${plane.identityUrl}/v3`, username: 'demo', password: 'demo-pw', project_name: 'demo', user_domain_name: 'Default', project_domain_name: 'Default' },
  identity_api_version: '3', cacert: plane.pki.ca.cert, interface: 'public',
} } }));
const env = { PATH: process.env.PATH, HOME: plane.dir, OS_CLIENT_CONFIG_FILE: cloudsFile, OS_CLOUD: 'ciao' };
const openstack = async (...args: string[]) => {
  const r = await run('openstack', args, { env, timeout: 60_000 });
  return r.stdout.trim().startsWith('{') || r.stdout.trim().startsWith('[') ? JSON.parse(r.stdout) : r.stdout;
};
// Waits go through the API (an openstack command costs seconds to start): the file stays within its time limit.
const volumeStatus = async (id: string) => (await demo.call<{ volume: { status: string } }>('GET', `/volume/v3/volumes/${id}`)).volume.status;
const waitForStatus = (id: string, status: string) => waitFor(`volume ${id} to be ${status}`, async () => (await volumeStatus(id)) === status);

t.test('volume create --size 1, list, set (name, property, size), show, delete', async (t) => {
  const v = await openstack('volume', 'create', '--size', '1', '--description', 'from osc', 'v1', '-f', 'json');
  t.match(v, { name: 'v1', size: 1, description: 'from osc' });
  await waitForStatus(v.id, 'available');
  t.match(await openstack('volume', 'list', '-f', 'json'), [{ ID: v.id, Name: 'v1', Status: 'available', Size: 1 }]);
  await openstack('volume', 'set', '--name', 'v1-renamed', '--property', 'team=a', '--size', '2', v.id);
  t.match(await openstack('volume', 'show', v.id, '-f', 'json'), { name: 'v1-renamed', properties: { team: 'a' }, size: 2 }, 'renamed, tagged and extended');
  await openstack('volume', 'delete', v.id);
  await t.rejects(volumeStatus(v.id), { name: 'ControllerError', status: 404 });
});

t.test('server add volume and server remove volume attach and detach for real', async (t) => {
  const [inst] = await createInstances(demo, await workloadId(demo, 'qemu'));
  await waitForState(demo, inst.id, 'active');
  const { volume: v } = await demo.call<{ volume: { id: string } }>('POST', '/volume/v3/volumes', { volume: { size: 1, name: 'data' } });
  await waitForStatus(v.id, 'available');
  await openstack('server', 'add', 'volume', inst.id, v.id);
  await waitForStatus(v.id, 'in-use');
  const onNode = async () => (await plane.backends[0].list()).find((i) => i.spec.instanceId === inst.id)?.spec.volumes?.map((x) => x.id) ?? [];
  t.same(await onNode(), [v.id], 'the node has the volume');
  await openstack('server', 'remove', 'volume', inst.id, v.id);
  await waitForStatus(v.id, 'available');
  t.same(await onNode(), [], 'the node let it go');
  await demo.call('DELETE', `/volume/v3/volumes/${v.id}`);
});
