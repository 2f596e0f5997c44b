// Nova's rescue and unrescue over an in-process control plane with simulated nodes: the state
// machine (active/stopped → rescued → active), what a rescued server refuses, the rescue image the
// node is asked to boot, re-adoption after a launcher restart, and the compute API's answers.
import t from 'tap';
import { request } from 'undici';
import { startControlPlane } from '../helpers/control-plane.ts';
import { createInstances, waitForEvent, waitForState, workloadId } from '../helpers/api-waits.ts';
import { waitFor } from '../../shared/wait-for.ts';
import type { Instance } from '../../controller/api-types.ts';

const plane = await startControlPlane({ nodes: 1 });
t.teardown(() => plane.close());
const { demo, other } = plane;
const tenant = await demo.tenantId();
const action = (id: string, body: object) => demo.call<Instance>('POST', `/tenants/${tenant}/instances/${id}/action`, body);
const nova = async (method: string, path: string, body?: unknown, as = demo) => {
  const res = await request(`${plane.controllerUrl}/v2.1${path}`, {
    method: method as 'GET', dispatcher: plane.dispatcher, body: body === undefined ? undefined : JSON.stringify(body),
    headers: { 'x-auth-token': await as.authToken(), 'content-type': 'application/json' },
  });
  const text = await res.body.text();
  return { status: res.statusCode, body: text ? JSON.parse(text) : undefined };
};
const status = async (id: string) => (await nova('GET', `/servers/${id}`)).body.server as Record<string, unknown>;

/** What the node's backend was asked to rescue from, by instance. */
const rescuedFrom = new Map<string, string>();
const backend = plane.backends[0];
const rescue = backend.rescue!.bind(backend);
Object.defineProperty(backend, 'rescue', { value: (spec: Parameters<typeof rescue>[0], image: string) => (rescuedFrom.set(spec.instanceId, image), rescue(spec, image)), configurable: true });

t.test('rescue → rescued, unrescue → active, each with its event; a rescued VM refuses what would change it, survives launcher and controller restarts and deletes', async (t) => {
  const [inst] = await createInstances(demo, await workloadId(demo, 'qemu'));
  const active = await waitForState(demo, inst.id, 'active');
  await t.rejects(action(inst.id, { action: 'unrescue' }), { status: 409, code: 'invalid_state', message: /only a rescued instance can be unrescued/ });
  await action(inst.id, { action: 'rescue' });
  const rescued = await waitForState(demo, inst.id, 'rescued');
  t.equal(rescued.ssh_ip, inst.ip, 'a rescued VM keeps its address');
  t.equal(rescuedFrom.get(inst.id), active.image, 'no rescue image named: the node boots the instance\'s own');
  await waitForEvent(demo, new RegExp(`^Rescued ${inst.id}$`));
  for (const body of [{ action: 'rescue' }, { action: 'stop' }, { action: 'pause' }, { action: 'reboot' }, { action: 'reboot', hard: true }, { action: 'suspend' }, { action: 'rebuild', image: active.image }]) {
    await t.rejects(action(inst.id, body), { status: 409, code: 'invalid_state' }, `${body.action} of a rescued instance`);
  }
  const node = plane.launchers[0];
  const held = () => node.stats().instances.find((i) => i.instanceId === inst.id);
  t.equal(held()?.state, 'rescued', "the node's own report says rescued");
  t.equal(held()?.memUsageMB, active.mem_mb, 'the rescue runs: its memory is counted');
  await plane.restartLauncher(0);
  t.equal(plane.launchers[0].stats().instances.find((i) => i.instanceId === inst.id)?.state, 'rescued', 'a restarted node re-adopts it rescued');
  await waitForState(demo, inst.id, 'rescued');
  await plane.restartController();
  t.equal((await demo.call<Instance>('GET', `/tenants/${tenant}/instances/${inst.id}`)).state, 'rescued', 'a restarted controller still knows it rescued');
  await action(inst.id, { action: 'unrescue' });
  await waitForState(demo, inst.id, 'active');
  await waitForEvent(demo, new RegExp(`^Unrescued ${inst.id}$`));
  await action(inst.id, { action: 'rescue' });
  await waitForState(demo, inst.id, 'rescued');
  await demo.call('DELETE', `/tenants/${tenant}/instances/${inst.id}`);
  await waitForEvent(demo, new RegExp(`^Deleted ${inst.id}`));
  t.notOk(plane.launchers[0].stats().instances.some((i) => i.instanceId === inst.id), 'a rescued instance is deleted from its node');
});

t.test('a stopped VM is rescued too, and unrescued runs; a container is refused with 409 and its reason', async (t) => {
  const [inst] = await createInstances(demo, await workloadId(demo, 'qemu'));
  await waitForState(demo, inst.id, 'active');
  await action(inst.id, { action: 'stop' });
  await waitForState(demo, inst.id, 'exited');
  await action(inst.id, { action: 'rescue' });
  await waitForState(demo, inst.id, 'rescued');
  await action(inst.id, { action: 'unrescue' });
  await waitForState(demo, inst.id, 'active');
  await demo.call('DELETE', `/tenants/${tenant}/instances/${inst.id}`);

  const [container] = await createInstances(demo, await workloadId(demo, 'docker'));
  await waitForState(demo, container.id, 'active');
  await t.rejects(action(container.id, { action: 'rescue' }), { status: 409, message: /a container cannot be rescued/ });
  await t.rejects(action(container.id, { action: 'stop', image: 'x' }), { status: 400, message: /an option of rebuild and rescue only/ });
  await demo.call('DELETE', `/tenants/${tenant}/instances/${container.id}`);
});

t.test('Nova: rescue answers 200 with adminPass, RESCUE, 409 for reboot/rebuild/pause/stop, 400 for an unknown rescue image, 404 for a missing or foreign server; unrescue ACTIVE; both recorded', async (t) => {
  const image = (await demo.call<{ images: { id: string }[] }>('GET', '/image/v2/images')).images[0].id;
  const alt = await demo.call<{ id: string }>('POST', '/image/v2/images', { name: 'rescue-alt', disk_format: 'raw', container_format: 'bare' });
  const created = await nova('POST', '/servers', { server: { name: 'rescue-me', flavorRef: await workloadId(demo, 'qemu'), imageRef: image } });
  t.equal(created.status, 202);
  const id = created.body.server.id as string;
  t.teardown(async () => void await nova('DELETE', `/servers/${id}`));
  await waitForState(demo, id, 'active');
  const act = (body: unknown, as = demo) => nova('POST', `/servers/${id}/action`, body, as);

  t.equal((await act({ unrescue: null })).status, 409, 'an active server is not rescued');
  t.equal((await act({ rescue: { rescue_image_ref: 'no-such-image' } })).status, 400, 'an unknown rescue image is 400');
  t.equal((await act({ rescue: { adminPass: 'x', flavorRef: 'y' } })).status, 400, 'an unknown field is 400');
  t.equal((await nova('POST', '/servers/00000000-0000-4000-8000-000000000000/action', { rescue: {} })).status, 404, 'a missing server is 404');
  t.equal((await act({ rescue: {} }, other)).status, 404, "another tenant's server is 404");
  const r = await act({ rescue: { adminPass: 'secret', rescue_image_ref: alt.id } });
  t.equal(r.status, 200, 'Nova answers a rescue with 200');
  t.same(r.body, { adminPass: 'secret' });
  await waitFor('RESCUE', async () => (await status(id)).status === 'RESCUE');
  t.match(await status(id), { 'OS-EXT-STS:vm_state': 'rescued', 'OS-EXT-STS:power_state': 1 });
  t.equal(rescuedFrom.get(id), alt.id, 'the node boots the rescue image named');
  for (const a of [{ reboot: { type: 'HARD' } }, { rebuild: { imageRef: image } }, { pause: null }, { 'os-stop': null }, { rescue: null }]) {
    t.equal((await act(a)).status, 409, `${Object.keys(a)[0]} of a rescued server`);
  }
  t.equal((await act({ unrescue: null })).status, 202);
  await waitFor('ACTIVE after the unrescue', async () => (await status(id)).status === 'ACTIVE');
  const again = await act({ rescue: null });
  t.equal(again.status, 200);
  t.match(again.body.adminPass, /^[\w-]{8,}$/, 'no password given: one is made');
  await waitFor('RESCUE again', async () => (await status(id)).status === 'RESCUE');
  t.equal((await act({ unrescue: null })).status, 202);
  await waitFor('ACTIVE again', async () => (await status(id)).status === 'ACTIVE');
  const actions = (await nova('GET', `/servers/${id}/os-instance-actions`)).body.instanceActions as { action: string }[];
  t.same(actions.map((a) => a.action).filter((a) => a.includes('rescue')).sort(), ['rescue', 'rescue', 'unrescue', 'unrescue'], 'rescue and unrescue are recorded');
});
