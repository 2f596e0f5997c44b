// Resize with confirm and revert over an in-process control plane with simulated nodes
// (docs/protocol.md "Resize"): Nova's states and errors, what the node holds meanwhile, quota at
// the larger flavor, resize from stopped, delete while VERIFY_RESIZE, and restarts of the
// controller and the launcher in the middle.
import t, { type Test } from 'tap';
import { startControlPlane } from '../helpers/control-plane.ts';
import { computeCall } from '../helpers/compute-call.ts';
import { waitForEvent, waitForState, workloadId } from '../helpers/api-waits.ts';
import { waitFor } from '../../shared/wait-for.ts';
import type { Instance } from '../../controller/api-types.ts';

const plane = await startControlPlane({ nodes: 1, statsIntervalMs: 300 });
t.teardown(() => plane.close());
const { demo, admin } = plane;
const tenant = await demo.tenantId();

const call = computeCall(plane);
type Server = { id: string; status: string; flavor: Record<string, unknown>; 'OS-DCF:diskConfig'?: string };
const show = async (id: string, headers: Record<string, string> = {}): Promise<Server> => (await call(demo, 'GET', `/servers/${id}`, undefined, headers)).body.server;
const status = async (id: string, want: string) => waitFor(`server ${id} to be ${want}`, async () => (await show(id)).status === want, { timeoutMs: 10_000 });
const action = (id: string, body: unknown) => call(demo, 'POST', `/servers/${id}/action`, body);

const small = await workloadId(demo, 'qemu');
const container = await workloadId(demo, 'docker');
const flavor = async (name: string, ram: number, vcpus: number, disk: number) => {
  const r = await call(admin, 'POST', '/flavors', { flavor: { name, ram, vcpus, disk } });
  if (r.status !== 200) throw new Error(`flavor create answered ${r.status}: ${JSON.stringify(r.body)}`);
  return r.body.flavor.id as string;
};
const large = await flavor('resize-large', 512, 2, 2);
const tiny = await flavor('resize-no-disk', 128, 1, 0);
/** Less memory, more disk: the old flavor's memory is what the node holds until the confirm. */
const lean = await flavor('resize-lean', 128, 1, 2);

async function boot(t: Test, flavorRef = small): Promise<string> {
  const r = await call(demo, 'POST', '/servers', { server: { name: 'resized', flavorRef } });
  if (r.status !== 202) throw new Error(`create answered ${r.status}: ${JSON.stringify(r.body)}`);
  t.teardown(async () => void await call(demo, 'DELETE', `/servers/${r.body.server.id}`));
  await waitForState(demo, r.body.server.id, 'active');
  return r.body.server.id;
}
/** What the node holds of the instance: its spec's resources, and the node's free memory. */
const onNode = async (id: string) => ({
  resources: (await plane.backends[0].list()).find((i) => i.spec.instanceId === id)?.spec.resources,
  freeMB: plane.launchers[0].stats().memAvailableMB,
});
const usedRam = async () => (await call(demo, 'GET', '/limits')).body.limits.absolute.totalRAMUsed as number;

t.test('resize → VERIFY_RESIZE → confirm: the node runs the new flavor, holding the old one until the confirm', async (t) => {
  const id = await boot(t);
  const freeBefore = (await onNode(id)).freeMB;
  t.equal((await action(id, { resize: { flavorRef: large, 'OS-DCF:diskConfig': 'AUTO' } })).status, 202);
  await status(id, 'VERIFY_RESIZE');
  t.equal((await show(id))['OS-DCF:diskConfig'], 'AUTO', 'the disk config the resize names is kept');
  const node = await onNode(id);
  t.same(node.resources, { vcpus: 2, memMB: 512, diskMB: 2048 }, 'the node runs it with the new flavor');
  t.equal(node.freeMB, freeBefore - 256, 'the node counts the larger flavor (512 MB for a 256 MB one), not both');
  t.equal(await usedRam(), 512, 'quota counts the larger of the two');
  t.match(await show(id, { 'OpenStack-API-Version': 'compute 2.47' }), { flavor: { original_name: 'resize-large', ram: 512, vcpus: 2, disk: 2 } }, 'the server shows the new flavor');
  t.match((await show(id)).flavor, { id: large });
  t.match(await show(id), { 'OS-EXT-STS:vm_state': 'resized', 'OS-EXT-STS:task_state': null });

  t.equal((await action(id, { 'os-stop': null })).status, 409, 'a server waiting for its confirmation is not stopped');
  t.equal((await action(id, { resize: { flavorRef: small } })).status, 409, 'nor resized again');
  await plane.restartController();
  await plane.waitForNodes();
  t.equal((await show(id)).status, 'VERIFY_RESIZE', 'the resize survives a controller restart');

  const confirmed = await action(id, { confirmResize: null });
  t.equal(confirmed.status, 204, 'confirmResize answers 204, as Nova');
  await status(id, 'ACTIVE');
  t.match((await show(id)).flavor, { id: large }, 'the new flavor stays');
  await waitFor('the node to drop the old flavor\'s hold', async () => (await onNode(id)).freeMB === freeBefore - 256);
  const inst = await demo.call<Instance>('GET', `/tenants/${tenant}/instances/${id}`);
  t.equal(inst.resize, null, 'the node answered the confirm: nothing left to do');
  t.equal(await usedRam(), 512);
  const actions = (await call(demo, 'GET', `/servers/${id}/os-instance-actions`)).body.instanceActions.map((a: { action: string }) => a.action);
  t.ok(actions.includes('resize') && actions.includes('confirmResize'), `instance actions recorded: ${actions.join(', ')}`);
});

t.test('revert: back to the old flavor on the node; the larger one was held so it always fits', async (t) => {
  const id = await boot(t);
  t.equal((await action(id, { resize: { flavorRef: large } })).status, 202);
  await status(id, 'VERIFY_RESIZE');
  t.equal((await action(id, { confirmResize: null })).status, 204);
  await status(id, 'ACTIVE');
  // A second resize round, this one reverted (the first was confirmed above: it holds `large` now).
  const back = await flavor('resize-larger', 1024, 2, 2);
  t.equal((await action(id, { resize: { flavorRef: back } })).status, 202);
  await status(id, 'VERIFY_RESIZE');
  t.equal((await action(id, { revertResize: null })).status, 202);
  await waitForEvent(demo, new RegExp(`^Reverted the resize of ${id}`));
  await status(id, 'ACTIVE');
  t.match((await show(id)).flavor, { id: large }, 'the flavor it had before');
  t.same((await onNode(id)).resources, { vcpus: 2, memMB: 512, diskMB: 2048 }, 'and the node runs it so');
  t.equal(await usedRam(), 512, 'the larger flavor is no longer counted');
  t.equal((await action(id, { revertResize: null })).status, 409, 'nothing to revert any more');
  t.equal((await action(id, { confirmResize: null })).status, 409, 'nor to confirm');
});

t.test('bad resizes are 400, an unknown server 404', async (t) => {
  const id = await boot(t);
  t.equal((await action('8d8b5c2e-0000-4000-8000-000000000000', { resize: { flavorRef: large } })).status, 404);
  t.equal((await action(id, { resize: { flavorRef: 'no-such-flavor' } })).status, 400, 'an unknown flavor');
  t.equal((await action(id, { resize: { flavorRef: '' } })).status, 400, 'an empty flavor');
  t.equal((await action(id, { resize: { flavorRef: null } })).status, 400, 'a null flavor');
  t.equal((await action(id, { resize: {} })).status, 400, 'no flavor');
  t.equal((await action(id, { resize: { flavorRef: large, extra: 1 } })).status, 400, 'an unknown field');
  t.equal((await action(id, { resize: { flavorRef: small } })).status, 400, 'the flavor it has');
  t.equal((await action(id, { resize: { flavorRef: tiny } })).status, 400, 'a smaller disk');
  t.equal((await action(id, { resize: { flavorRef: container } })).status, 400, 'a container flavor for a VM');
  t.equal((await show(id)).status, 'ACTIVE', 'none of them changed it');

  // Larger than the node: the node refuses it before anything stops, and the server is as it was.
  const huge = await flavor('resize-huge', 8192, 1, 2);
  t.equal((await action(id, { resize: { flavorRef: huge } })).status, 202, 'accepted: only the node knows what it has free');
  await waitForEvent(demo, new RegExp(`^Failed to resize ${id}: node node-0 has \\d+ MB`));
  await status(id, 'ACTIVE');
  t.match((await show(id)).flavor, { id: small }, 'the old flavor again');
  t.same((await onNode(id)).resources, { vcpus: 1, memMB: 256, diskMB: 1024 }, 'the node never changed it');
  await waitFor('the other tests\' servers gone', async () => (await call(demo, 'GET', '/servers')).body.servers.length === 1);
  t.equal(await usedRam(), 256, 'quota counts the old flavor only');
});

t.test('a stopped server is resized stopped and stays SHUTOFF after the confirm', async (t) => {
  const id = await boot(t);
  await action(id, { 'os-stop': null });
  await status(id, 'SHUTOFF');
  t.equal((await action(id, { resize: { flavorRef: large } })).status, 202);
  await waitForEvent(demo, new RegExp(`^Resized ${id} to flavor ${large} \\(stopped\\)`));
  await status(id, 'VERIFY_RESIZE');
  t.same((await onNode(id)).resources, { vcpus: 2, memMB: 512, diskMB: 2048 });
  t.equal((await action(id, { confirmResize: null })).status, 204);
  await status(id, 'SHUTOFF');
  t.equal((await action(id, { 'os-start': null })).status, 202);
  await status(id, 'ACTIVE');
});

t.test('a server in VERIFY_RESIZE can be deleted', async (t) => {
  const id = await boot(t);
  await action(id, { resize: { flavorRef: large } });
  await status(id, 'VERIFY_RESIZE');
  t.equal((await call(demo, 'DELETE', `/servers/${id}`)).status, 204);
  await waitFor('the server gone', async () => (await call(demo, 'GET', `/servers/${id}`)).status === 404);
  t.notOk((await onNode(id)).resources, 'gone from the node');
  await waitFor('no server left', async () => (await call(demo, 'GET', '/servers')).body.servers.length === 0);
  t.equal(await usedRam(), 0, 'nothing counted');
});

t.test('the node holds the old memory until the confirm, also after a launcher restart; the ciao API resizes a container', async (t) => {
  const id = await boot(t);
  const freeBefore = (await onNode(id)).freeMB;
  await action(id, { resize: { flavorRef: lean } });
  await status(id, 'VERIFY_RESIZE');
  t.same(await onNode(id), { resources: { vcpus: 1, memMB: 128, diskMB: 2048 }, freeMB: freeBefore }, 'runs with 128 MB, holds the old 256 MB');
  await plane.restartLauncher(0);
  await plane.waitForNodes();
  await waitFor('the restarted node to hold the old flavor again', async () => (await onNode(id)).freeMB === freeBefore);
  t.pass('the controller sent the resize again: the old memory is held');
  t.equal((await show(id)).status, 'VERIFY_RESIZE');
  t.equal((await action(id, { confirmResize: null })).status, 204);
  await waitFor('the node to free the old memory', async () => (await onNode(id)).freeMB === freeBefore + 128);
  t.equal(await usedRam(), 128, 'quota counts the new flavor only');

  const c = await boot(t, container);
  const bigger = await admin.call<{ id: string }>('POST', `/tenants/${await admin.tenantId()}/workloads`, {
    description: 'bigger container', vm_type: 'docker', image_name: 'busybox', visibility: 'public', defaults: { vcpus: 2, mem_mb: 128, disk_mb: 0 },
  });
  const path = `/tenants/${tenant}/instances/${c}/action`;
  await t.rejects(demo.call('POST', path, { action: 'resize' }), /workload is needed by resize/, 'resize needs a workload');
  await demo.call('POST', path, { action: 'resize', workload: bigger.id });
  await waitFor('the container resized', async () => (await demo.call<Instance>('GET', `/tenants/${tenant}/instances/${c}`)).resize?.phase === 'verify');
  t.same((await onNode(c)).resources, { vcpus: 2, memMB: 128, diskMB: 0 });
  await demo.call('POST', path, { action: 'confirm-resize' });
  await waitFor('the confirm answered', async () => (await demo.call<Instance>('GET', `/tenants/${tenant}/instances/${c}`)).resize === null);
  t.equal((await demo.call<Instance>('GET', `/tenants/${tenant}/instances/${c}`)).mem_mb, 128);
});
