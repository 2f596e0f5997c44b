// python-openstackclient (Debian's python3-openstackclient) against identity and the controller.
import t from 'tap';
import { writeFile } from 'node:fs/promises';
import { startControlPlane } from '../helpers/control-plane.ts';
import { waitForState } from '../helpers/api-waits.ts';
import { openstackClouds, requireOpenstackCli } from '../../bat/openstack-cli.ts';
import { waitFor } from '../../shared/wait-for.ts';

await requireOpenstackCli();
const plane = await startControlPlane({ nodes: 1 });
t.teardown(() => plane.close());

const osc = await openstackClouds(plane.dir, { identityUrl: plane.identityUrl, caFile: plane.pki.ca.cert }, {
  demo: { username: 'demo', password: 'demo-pw', project: 'demo' },
  admin: { username: 'admin', password: 'admin-pw', project: 'admin' },
});
const openstack = (user: 'demo' | 'admin', ...args: string[]) => osc[user].json(...args);

t.test('token issue and project list', async (t) => {
  const token = await openstack('demo', 'token', 'issue');
  t.match(token, { id: String, project_id: await plane.demo.tenantId() });
  const projects = await openstack('admin', 'project', 'list');
  t.same(projects.map((p: { Name: string }) => p.Name).sort(), ['admin', 'demo', 'other']);
});

t.test('flavor list shows the workloads', async (t) => {
  const flavors = await openstack('demo', 'flavor', 'list');
  t.same(flavors.map((f: { Name: string }) => f.Name).sort(), ['Busybox container', 'Debian VM']);
});

t.test('image create --file, image list, server create --image, list, show, stop, start, delete', async (t) => {
  const file = `${plane.dir}/tiny.img`;
  await writeFile(file, 'not really a disk\n');
  const image = await openstack('demo', 'image', 'create', '--file', file, '--disk-format', 'raw', '--container-format', 'bare', 'tiny');
  t.match(image, { name: 'tiny' });
  t.match(await openstack('demo', 'image', 'show', image.id), { name: 'tiny', status: 'active', size: 18, checksum: String });
  const images = await openstack('demo', 'image', 'list');
  t.ok(images.some((i: { Name: string }) => i.Name === 'tiny'));

  const server = await openstack('demo', 'server', 'create', '--flavor', 'Debian VM', '--image', 'tiny', 'web-1');
  t.match(server, { name: 'web-1' });
  await waitForState(plane.demo, server.id, 'active');
  const list = await openstack('demo', 'server', 'list');
  t.match(list, [{ ID: server.id, Name: 'web-1', Status: 'ACTIVE' }]);
  t.match(await openstack('demo', 'server', 'show', server.id), { id: server.id, status: 'ACTIVE' });

  await osc.demo.text('server', 'stop', server.id);
  await waitForState(plane.demo, server.id, 'exited');
  await osc.demo.text('server', 'start', server.id);
  await waitForState(plane.demo, server.id, 'active');

  await osc.demo.text('server', 'delete', server.id);
  await waitFor('the server to be gone', async () => (await openstack('demo', 'server', 'list')).length === 0);
  await osc.demo.text('image', 'delete', image.id);
  t.notOk((await openstack('demo', 'image', 'list')).some((i: { Name: string }) => i.Name === 'tiny'));
});
