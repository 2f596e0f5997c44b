import t from 'tap';
import { startControlPlane } from '../helpers/control-plane.ts';
import { createInstances, eventMark, events, waitForEvent, waitForState, workloadId } from '../helpers/api-waits.ts';
import type { Instance, Tenant } from '../../controller/api-types.ts';
import { waitFor } from '../../shared/wait-for.ts';

const plane = await startControlPlane({ nodes: 3 });
t.teardown(() => plane.close());
const { demo, admin } = plane;
const tenant = await demo.tenantId();

t.test('an instance goes pending → active, with its address, MAC and node, and a Started event', async (t) => {
  const [inst] = await createInstances(demo, await workloadId(demo, 'qemu'));
  t.equal(inst.state, 'pending');
  t.match(inst.ip, /^172\.16\.\d+\.\d+$/);
  t.equal(inst.mac, `02:00:${inst.ip.split('.').map((b) => Number(b).toString(16).padStart(2, '0')).join(':')}`);
  const active = await waitForState(demo, inst.id, 'active');
  t.match(active.node_id, /^node-\d$/);
  t.equal(active.ssh_ip, inst.ip, 'a VM reports its SSH address');
  await waitForEvent(demo, new RegExp(`^Started ${inst.id}`));
});

t.test('the tenant got its CNCI first, at the gateway .1, hidden from the tenant', async (t) => {
  const me = await demo.call<Tenant>('GET', `/tenants/${tenant}`);
  t.equal(me.cnci?.state, 'ready');
  const { instances } = await demo.call<{ instances: Instance[] }>('GET', `/tenants/${tenant}/instances`);
  t.notOk(instances.some((i) => i.cnci), 'the tenant does not list its CNCI');
  const all = (await Promise.all(plane.launchers.map((l) => admin.call<{ instances: Instance[] }>('GET', `/nodes/${l.id}/instances`)))).flatMap((r) => r.instances);
  const cnci = all.find((i) => i.id === me.cnci!.instance_id)!;
  t.equal(cnci.ip, me.subnet.replace(/0\/24$/, '1'));
});

t.test('stop → exited, restart → active, each with its event; wrong states are 409', async (t) => {
  const [inst] = await createInstances(demo, await workloadId(demo, 'docker'));
  await waitForState(demo, inst.id, 'active');
  await t.rejects(demo.call('POST', `/tenants/${tenant}/instances/${inst.id}/action`, { action: 'restart' }), { status: 409, code: 'invalid_state' });
  await demo.call('POST', `/tenants/${tenant}/instances/${inst.id}/action`, { action: 'stop' });
  await waitForState(demo, inst.id, 'exited');
  await waitForEvent(demo, new RegExp(`^Stopped ${inst.id}`));
  await t.rejects(demo.call('POST', `/tenants/${tenant}/instances/${inst.id}/action`, { action: 'stop' }), { name: 'ControllerError', status: 409 });
  await demo.call('POST', `/tenants/${tenant}/instances/${inst.id}/action`, { action: 'restart' });
  await waitForState(demo, inst.id, 'active');
  await t.rejects(demo.call('POST', `/tenants/${tenant}/instances/${inst.id}/action`, { action: 'explode' }), { name: 'ControllerError', status: 400 });
  await t.rejects(demo.call('POST', `/tenants/${tenant}/instances/${inst.id}/action`, { action: 'stop', hard: true }), { status: 400, message: /hard is an option of reboot only/ });
});

t.test('pause → paused, unpause → active, each with its event; stop, reboot and a second pause of a paused one are 409', async (t) => {
  const [inst] = await createInstances(demo, await workloadId(demo, 'qemu'));
  const action = (body: object) => demo.call('POST', `/tenants/${tenant}/instances/${inst.id}/action`, body);
  await waitForState(demo, inst.id, 'active');
  await t.rejects(action({ action: 'unpause' }), { status: 409, code: 'invalid_state', message: /only a paused instance can be unpaused/ });
  await action({ action: 'pause' });
  const paused = await waitForState(demo, inst.id, 'paused');
  t.equal(paused.ssh_ip, inst.ip, 'a paused VM keeps its address');
  await waitForEvent(demo, new RegExp(`^Paused ${inst.id}`));
  for (const body of [{ action: 'pause' }, { action: 'stop' }, { action: 'reboot' }]) {
    await t.rejects(action(body), { status: 409, code: 'invalid_state' }, `${body.action} of a paused instance`);
  }
  const node = await admin.call<{ instances: Instance[] }>('GET', `/nodes/${paused.node_id}/instances`);
  t.equal(node.instances.find((i) => i.id === inst.id)?.state, 'paused', "the node's own report says paused too");
  await action({ action: 'unpause' });
  await waitForState(demo, inst.id, 'active');
  await waitForEvent(demo, new RegExp(`^Unpaused ${inst.id}`));
  await demo.call('DELETE', `/tenants/${tenant}/instances/${inst.id}`);
});

t.test('suspend → suspended, resume → active, each with its event; a restarted node re-adopts it suspended; a container is refused with 409', async (t) => {
  const [inst] = await createInstances(demo, await workloadId(demo, 'qemu'));
  const action = (body: object) => demo.call('POST', `/tenants/${tenant}/instances/${inst.id}/action`, body);
  const active = await waitForState(demo, inst.id, 'active');
  await t.rejects(action({ action: 'resume' }), { status: 409, code: 'invalid_state', message: /only a suspended instance can be resumed/ });
  await action({ action: 'suspend' });
  await waitForState(demo, inst.id, 'suspended');
  await waitForEvent(demo, new RegExp(`^Suspended ${inst.id}`));
  for (const body of [{ action: 'suspend' }, { action: 'stop' }, { action: 'pause' }, { action: 'reboot' }]) {
    await t.rejects(action(body), { status: 409, code: 'invalid_state' }, `${body.action} of a suspended instance`);
  }
  const node = plane.launchers.findIndex((l) => l.id === active.node_id);
  const held = plane.launchers[node].stats().instances.find((i) => i.instanceId === inst.id);
  t.equal(held?.state, 'suspended', "the node's own report says suspended");
  t.equal(held?.memUsageMB, 0, 'its runtime holds no memory now');
  t.ok(plane.launchers[node].stats().memAvailableMB <= plane.launchers[node].stats().memTotalMB - active.mem_mb, 'its memory stays counted on the node, so its resume fits');
  await plane.restartLauncher(node);
  t.equal(plane.launchers[node].stats().instances.find((i) => i.instanceId === inst.id)?.state, 'suspended', 'a restarted node re-adopts it suspended, not started again');
  await waitForState(demo, inst.id, 'suspended');
  await action({ action: 'resume' });
  await waitForState(demo, inst.id, 'active');
  await waitForEvent(demo, new RegExp(`^Resumed ${inst.id}`));
  await action({ action: 'suspend' });
  await waitForState(demo, inst.id, 'suspended');
  await demo.call('DELETE', `/tenants/${tenant}/instances/${inst.id}`);
  await waitForEvent(demo, new RegExp(`^Deleted ${inst.id}`));
  t.notOk(plane.launchers[node].stats().instances.some((i) => i.instanceId === inst.id), 'a suspended instance is deleted from its node');

  const [container] = await createInstances(demo, await workloadId(demo, 'docker'));
  await waitForState(demo, container.id, 'active');
  await t.rejects(demo.call('POST', `/tenants/${tenant}/instances/${container.id}/action`, { action: 'suspend' }), { status: 409, message: /a container cannot be suspended/ });
  await demo.call('DELETE', `/tenants/${tenant}/instances/${container.id}`);
});

t.test('reboot keeps the instance active on its node: a stop and a start from its own disk, neither reported', async (t) => {
  const [inst] = await createInstances(demo, await workloadId(demo, 'docker'));
  const action = (body: object) => demo.call('POST', `/tenants/${tenant}/instances/${inst.id}/action`, body);
  const active = await waitForState(demo, inst.id, 'active');
  const backend = plane.backends[plane.launchers.findIndex((l) => l.id === active.node_id)];
  const starts: boolean[] = [];
  const start = backend.start.bind(backend);
  // This node's starts are recorded.
  Object.defineProperty(backend, 'start', { value: (spec: Parameters<typeof start>[0]) => (starts.push(!!spec.restart), start(spec)), configurable: true });
  t.teardown(() => void delete (backend as { start?: unknown }).start);
  const mark = await eventMark(demo);
  await action({ action: 'reboot', hard: true });
  await waitForEvent(demo, new RegExp(`^Rebooting ${inst.id} \\(hard\\)`), { after: mark });
  await waitFor('the start of the reboot', async () => starts.length > 0);
  t.same(starts, [true], 'started again from its own disk, once');
  const after = await waitFor('the reboot to end', async () => {
    const i = await demo.call<Instance>('GET', `/tenants/${tenant}/instances/${inst.id}`);
    return i.state === 'active' && !i.rebooting && i;
  });
  t.equal(after.node_id, active.node_id, 'on the same node');
  t.notOk((await events(demo)).some((e) => !mark.has(e.id) && /^(Stopped|Instance .* exited)/.test(e.message)), 'a reboot is not a stop or a death');
  await action({ action: 'stop' });
  await waitForState(demo, inst.id, 'exited');
  await t.rejects(action({ action: 'reboot' }), { status: 409, message: /only an active instance can be rebooted/ });
  await demo.call('DELETE', `/tenants/${tenant}/instances/${inst.id}`);
});

t.test('an instance that dies is exited with its reason and an error event; a restart brings it back and clears the reason', async (t) => {
  const [inst] = await createInstances(demo, await workloadId(demo, 'qemu'));
  const active = await waitForState(demo, inst.id, 'active');
  const node = plane.launchers.findIndex((l) => l.id === active.node_id);
  const mark = await eventMark(demo);
  plane.backends[node].crash(inst.id, { reason: 'QEMU was killed by SIGKILL', console: ['[    1.0] booted', 'Kernel panic - not syncing'] });
  const dead = await waitForState(demo, inst.id, 'exited');
  t.equal(dead.reason, 'exited unexpectedly: QEMU was killed by SIGKILL');
  t.notOk(dead.ssh_ip, 'a dead VM reports no SSH address');
  const event = await waitForEvent(demo, new RegExp(`^Instance ${inst.id} exited unexpectedly`), { after: mark });
  t.equal(event.type, 'error');
  t.equal(event.message, `Instance ${inst.id} exited unexpectedly on ${active.node_id}: QEMU was killed by SIGKILL; console: Kernel panic - not syncing`);
  t.notOk((await events(demo)).some((e) => !mark.has(e.id) && e.message.startsWith(`Stopped ${inst.id}`)), 'a death is not reported as a stop');
  // A STATS repeating the state keeps the reason.
  await waitFor('a STATS after the death', async () => (await admin.call<{ updated_at: string }>('GET', `/nodes/${active.node_id}`)).updated_at > event.time);
  t.equal((await demo.call<Instance>('GET', `/tenants/${tenant}/instances/${inst.id}`)).reason, dead.reason);

  await demo.call('POST', `/tenants/${tenant}/instances/${inst.id}/action`, { action: 'restart' });
  const back = await waitForState(demo, inst.id, 'active');
  t.equal(back.reason, null, 'the restart cleared the reason');
  t.equal(back.ssh_ip, inst.ip);
});

t.test('delete removes the instance with a Deleted event and frees its address', async (t) => {
  const [inst] = await createInstances(demo, await workloadId(demo, 'docker'));
  await waitForState(demo, inst.id, 'active');
  await demo.call('DELETE', `/tenants/${tenant}/instances/${inst.id}`);
  await waitForEvent(demo, new RegExp(`^Deleted ${inst.id}`));
  await t.rejects(demo.call('GET', `/tenants/${tenant}/instances/${inst.id}`), { status: 404, code: 'not_found' });
  const [again] = await createInstances(demo, await workloadId(demo, 'docker'));
  t.equal(again.ip, inst.ip, 'the freed address is the lowest free one again');
});

t.test('instances spread over the nodes', async (t) => {
  const created = await createInstances(demo, await workloadId(demo, 'docker'), 6);
  const nodes = new Set<string>();
  for (const i of created) nodes.add((await waitForState(demo, i.id, 'active')).node_id!);
  t.equal(nodes.size, 3);
});

t.test('a start that fails on the node becomes an event with the reason, and the instance goes', async (t) => {
  await t.rejects(admin.call('POST', '/nodes/node-0/faults', { start_failure: 'gremlins' }), { name: 'ControllerError', status: 400, message: /launch_failure/ });
  await t.rejects(admin.call('POST', '/nodes/node-9/faults', { start_failure: null }), { name: 'ControllerError', status: 404 });
  for (const l of plane.launchers) await admin.call('POST', `/nodes/${l.id}/faults`, { start_failure: 'launch_failure' });
  t.teardown(async () => {
    for (const l of plane.launchers) await admin.call('POST', `/nodes/${l.id}/faults`, { start_failure: null });
  });
  const [inst] = await createInstances(demo, await workloadId(demo, 'docker'));
  await waitForEvent(demo, new RegExp(`^Failed to start ${inst.id}: launch_failure`));
  await t.rejects(demo.call('GET', `/tenants/${tenant}/instances/${inst.id}`), { name: 'ControllerError', status: 404 });
});

t.test('an unschedulable requirement fails with no_cn and the instance goes', async (t) => {
  const w = await demo.call<{ id: string }>('POST', `/tenants/${tenant}/workloads`, 'description: pinned\nvm_type: docker\nimage_name: busybox\nrequirements: {hostname: nowhere}\n', 'application/yaml');
  const [inst] = await createInstances(demo, w.id);
  await waitForEvent(demo, new RegExp(`^Failed to start ${inst.id}: no_cn .*hostname=nowhere`));
  const pinned = await demo.call<{ id: string }>('POST', `/tenants/${tenant}/workloads`, 'description: pinned\nvm_type: docker\nimage_name: busybox\nrequirements: {node_id: node-2}\n', 'application/yaml');
  const [on2] = await createInstances(demo, pinned.id);
  t.equal((await waitForState(demo, on2.id, 'active')).node_id, 'node-2');
});

t.test('a workload bigger than any node fails with full_cloud', async (t) => {
  const w = await demo.call<{ id: string }>('POST', `/tenants/${tenant}/workloads`, { description: 'huge', vm_type: 'docker', image_name: 'busybox', defaults: { vcpus: 1, mem_mb: 999_999 } });
  const [inst] = await createInstances(demo, w.id);
  const e = await waitForEvent(demo, new RegExp(`^Failed to start ${inst.id}: full_cloud`));
  t.equal(e.type, 'error');
});

t.test('events can be cleared', async (t) => {
  t.ok((await events(demo)).length > 0);
  await demo.call('DELETE', `/tenants/${tenant}/events`);
  t.same(await events(demo), []);
});

t.test('delete all removes every instance of the tenant', async (t) => {
  const r = await demo.call<{ deleted: number }>('DELETE', `/tenants/${tenant}/instances`);
  t.ok(r.deleted > 0);
  const { instances } = await demo.call<{ instances: Instance[] }>('GET', `/tenants/${tenant}/instances`);
  t.ok(instances.every((i) => i.state === 'deleting'));
  await waitFor('no instances left', async () => (await demo.call<{ instances: Instance[] }>('GET', `/tenants/${tenant}/instances`)).instances.length === 0);
});
