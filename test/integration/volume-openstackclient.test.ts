// python-openstackclient (Debian's python3-openstackclient) against the Block Storage v3 subset
// and compute's os-volume_attachments: volume create, list, show, set, delete, server add/remove volume.
import t from 'tap';
import { startControlPlane } from '../helpers/control-plane.ts';
import { waitForState, workloadId, createInstances } from '../helpers/api-waits.ts';
import { openstackClouds, requireOpenstackCli } from '../../bat/openstack-cli.ts';
import { waitFor } from '../../shared/wait-for.ts';

await requireOpenstackCli();
const plane = await startControlPlane({ nodes: 1 });
t.teardown(() => plane.close());
const { demo } = plane;

// openstackclient finds Block Storage in the catalogue under `volumev3` (mocks/identity/config.ts).
const osc = await openstackClouds(plane.dir, { identityUrl: plane.identityUrl, caFile: plane.pki.ca.cert }, {
  demo: { username: 'demo', password: 'demo-pw', project: 'demo' },
});
// Waits go through the API (an openstack command costs seconds to start): the file stays within its time limit.
const volumeStatus = async (id: string) => (await demo.call<{ volume: { status: string } }>('GET', `/volume/v3/volumes/${id}`)).volume.status;
const waitForStatus = (id: string, status: string) => waitFor(`volume ${id} to be ${status}`, async () => (await volumeStatus(id)) === status);

t.test('volume create --size 1, list, set (name, property, size), show, delete', async (t) => {
  const v = await osc.demo.json('volume', 'create', '--size', '1', '--description', 'from osc', 'v1');
  t.match(v, { name: 'v1', size: 1, description: 'from osc' });
  await waitForStatus(v.id, 'available');
  t.match(await osc.demo.json('volume', 'list'), [{ ID: v.id, Name: 'v1', Status: 'available', Size: 1 }]);
  await osc.demo.text('volume', 'set', '--name', 'v1-renamed', '--property', 'team=a', '--size', '2', v.id);
  t.match(await osc.demo.json('volume', 'show', v.id), { name: 'v1-renamed', properties: { team: 'a' }, size: 2 }, 'renamed, tagged and extended');
  await osc.demo.text('volume', 'delete', v.id);
  await t.rejects(volumeStatus(v.id), { name: 'ControllerError', status: 404 });
});

t.test('server add volume and server remove volume attach and detach for real', async (t) => {
  const [inst] = await createInstances(demo, await workloadId(demo, 'qemu'));
  await waitForState(demo, inst.id, 'active');
  const { volume: v } = await demo.call<{ volume: { id: string } }>('POST', '/volume/v3/volumes', { volume: { size: 1, name: 'data' } });
  await waitForStatus(v.id, 'available');
  await osc.demo.text('server', 'add', 'volume', inst.id, v.id);
  await waitForStatus(v.id, 'in-use');
  const onNode = async () => (await plane.backends[0].list()).find((i) => i.spec.instanceId === inst.id)?.spec.volumes?.map((x) => x.id) ?? [];
  t.same(await onNode(), [v.id], 'the node has the volume');
  await osc.demo.text('server', 'remove', 'volume', inst.id, v.id);
  await waitForStatus(v.id, 'available');
  t.same(await onNode(), [], 'the node let it go');
  await demo.call('DELETE', `/volume/v3/volumes/${v.id}`);
});
