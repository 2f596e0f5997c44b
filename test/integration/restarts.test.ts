import t, { type Test } from 'tap';
import { startControlPlane } from '../helpers/control-plane.ts';
import { planeHooks } from '../helpers/plane-hooks.ts';
import { createInstances, events, waitForEvent, waitForState, workloadId } from '../helpers/api-waits.ts';
import type { Instance, Volume } from '../../controller/api-types.ts';
import { waitFor } from '../../shared/wait-for.ts';
import { openSqliteStore } from '../../controller/datastore/sqlite-store.ts';
import Database from 'better-sqlite3';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { once, type EventEmitter } from 'node:events';
import type { Frame } from '../../protocol/payloads.ts';
import type { Backend } from '../../launcher/backend.ts';

// A commit that waits for the database's lock fails at once and is tried again (the kills below).
const commitFailures: Error[] = [];
const plane = await startControlPlane({ nodes: 2, statsIntervalMs: 300, stoppedFiles: true, store: { busyTimeoutMs: 0, retryMs: 100, onError: (err) => commitFailures.push(err) } });
t.teardown(() => plane.close());
const { demo, admin } = plane;
const tenant = await demo.tenantId();
const { startsReaching, onNextStart, schedulerKeepsNextStart, nodesRunning } = planeHooks(plane);

t.test('a controller restart keeps tenants, workloads, instances, pools, quotas and events', async (t) => {
  const [inst] = await createInstances(demo, await workloadId(demo, 'docker'));
  const placed = await waitForState(demo, inst.id, 'active');
  await admin.call('POST', '/pools', { name: 'keep', subnet: '203.0.113.0/28' });
  await admin.call('PUT', `/tenants/${tenant}/quotas`, { instances: 50 });
  const before = { events: (await events(demo)).length, workloads: (await demo.call<{ workloads: unknown[] }>('GET', `/tenants/${tenant}/workloads`)).workloads.length };

  await plane.restartController();

  t.equal((await waitForState(demo, inst.id, 'active')).node_id, placed.node_id);
  t.equal((await demo.call<{ workloads: unknown[] }>('GET', `/tenants/${tenant}/workloads`)).workloads.length, before.workloads);
  t.ok((await events(demo)).length >= before.events);
  t.equal((await admin.call<{ total: number }>('GET', '/pools/keep')).total, 14);
  const q = await demo.call<{ quotas: { name: string; limit: number }[] }>('GET', `/tenants/${tenant}/quotas`);
  t.equal(q.quotas.find((x) => x.name === 'instances')!.limit, 50);
  await plane.waitForNodes(2);
  // The restarted controller still drives the cluster: stop and delete work.
  await demo.call('POST', `/tenants/${tenant}/instances/${inst.id}/action`, { action: 'stop' });
  await waitForState(demo, inst.id, 'exited');
  await demo.call('DELETE', `/tenants/${tenant}/instances/${inst.id}`);
  await waitForEvent(demo, new RegExp(`^Deleted ${inst.id}`));
});

t.test('a launcher that disconnects: its instances go missing, then come back with it', async (t) => {
  const created = await createInstances(demo, await workloadId(demo, 'docker'), 2);
  const onNode0 = [];
  for (const i of created) {
    const a = await waitForState(demo, i.id, 'active');
    if (a.node_id === 'node-0') onNode0.push(a);
  }
  t.ok(onNode0.length >= 1, 'round robin put one on node-0');
  plane.launchers[0].stop();
  await waitFor('node-0 missing', async () => (await admin.call<{ status: string }>('GET', '/nodes/node-0')).status === 'MISSING');
  // Missing once the scheduler's 10 s for node-0 are up (docs/protocol.md, "Placement" 7).
  for (const i of onNode0) await waitForState(demo, i.id, 'missing', 20_000);
  t.ok((await admin.call<{ events: { message: string }[] }>('GET', '/events')).events.some((e) => e.message === 'Node node-0 did not come back: its instances are missing'));
  const all = await admin.call<{ events: { message: string }[] }>('GET', '/events');
  t.ok(all.events.some((e) => e.message === 'Node node-0 disconnected'));

  await plane.restartLauncher(0);
  for (const i of onNode0) await waitForState(demo, i.id, 'active');
  t.equal((await admin.call<{ status: string }>('GET', '/nodes/node-0')).status, 'READY');
});

t.test('the nodes\' launchers killed and back within seconds: a create meanwhile waits for them and starts, a delete meanwhile reaches its node', async (t) => {
  const workload = await workloadId(demo, 'docker');
  const [kept] = await createInstances(demo, workload);
  const { node_id: node } = await waitForState(demo, kept.id, 'active');
  const eventsBefore = (await events(demo)).length;
  for (const launcher of plane.launchers) launcher.stop();
  await waitFor(`${node} to be MISSING`, async () => (await admin.call<{ status: string }>('GET', `/nodes/${node}`)).status === 'MISSING');
  await demo.call('DELETE', `/tenants/${tenant}/instances/${kept.id}`);
  const [created] = await createInstances(demo, workload);
  await waitFor('the scheduler to hold the START for the nodes away', () => plane.scheduler.heldStarts > 0);
  await plane.restartLauncher(0);
  await plane.restartLauncher(1);
  t.ok((await waitForState(demo, created.id, 'active')).node_id, 'the create made while no node was connected is active');
  await waitForEvent(demo, new RegExp(`^Deleted ${kept.id}$`));
  t.same(await nodesRunning(kept.id), [], `the delete reached ${node}: it runs it no more`);
  const told = (await events(demo)).slice(eventsBefore).map((e) => e.message);
  t.notOk(told.some((m) => /^Failed|not connected/.test(m)), `no failure told (${told.join('; ')})`);
  await demo.call('DELETE', `/tenants/${tenant}/instances/${created.id}`);
  await waitForEvent(demo, new RegExp(`^Deleted ${created.id}`));
});

t.test('the nodes\' launchers away longer than they are waited for (10 s): a create meanwhile is refused, a delete meanwhile ends without its node', async (t) => {
  const workload = await workloadId(demo, 'docker');
  const [kept] = await createInstances(demo, workload);
  const { node_id: node } = await waitForState(demo, kept.id, 'active');
  for (const launcher of plane.launchers) launcher.stop();
  await waitFor(`${node} to be MISSING`, async () => (await admin.call<{ status: string }>('GET', `/nodes/${node}`)).status === 'MISSING');
  await demo.call('DELETE', `/tenants/${tenant}/instances/${kept.id}`);
  const [created] = await createInstances(demo, workload);
  await waitFor('the scheduler to hold the START', () => plane.scheduler.heldStarts > 0);
  const refused = await waitForEvent(demo, new RegExp(`^Failed to start ${created.id}: no_cn`), { timeoutMs: 20_000 });
  t.ok(refused, `refused once no node came back: ${refused.message}`);
  t.ok(await waitForEvent(demo, new RegExp(`^Deleted ${kept.id} \\(its node node-\\d is not connected\\)`), { timeoutMs: 20_000 }), 'the delete ended without its node');
  await plane.restartLauncher(0);
  await plane.restartLauncher(1);
  await plane.waitForNodes(2);
  await waitFor(`the node to delete ${kept.id}, which it ran (a stray)`, async () => (await nodesRunning(kept.id)).length === 0);
});

t.test('an action asked while its node is away is taken, and done once the node is back; the node\'s instances are not missing meanwhile', async (t) => {
  onNextStart((f, place) => place(pinnedTo('node-0')(f)));
  const [inst] = await createInstances(demo, await workloadId(demo, 'docker'));
  await waitForState(demo, inst.id, 'active');
  plane.launchers[0].stop();
  await waitFor('node-0 to be MISSING', async () => (await admin.call<{ status: string }>('GET', '/nodes/node-0')).status === 'MISSING');
  t.equal((await demo.call<Instance>('GET', `/tenants/${tenant}/instances/${inst.id}`)).state, 'active', 'its instance is as it was');
  await demo.call('POST', `/tenants/${tenant}/instances/${inst.id}/action`, { action: 'pause' });
  await plane.restartLauncher(0);
  await waitForEvent(demo, new RegExp(`^Paused ${inst.id}$`));
  t.equal((await waitForState(demo, inst.id, 'paused')).node_id, 'node-0', 'paused on node-0');
  t.notOk((await events(demo)).some((e) => e.message.startsWith(`Failed to pause ${inst.id}`) || e.message.startsWith('Node node-0 did not come back')), 'no failure told');
  await demo.call('DELETE', `/tenants/${tenant}/instances/${inst.id}`);
  await waitForEvent(demo, new RegExp(`^Deleted ${inst.id}`));
});

/** Makes the backend's `method` never end for instance `id`, as in a launcher killed meanwhile:
 *  `reached` resolves when the action gets there, `restore` puts the method back. */
function hangIn(t: Test, backend: Backend, method: 'stop' | 'offload' | 'start' | 'resize', id: string) {
  type Arg = string | { instanceId: string };
  const methods = backend as unknown as Record<string, ((arg: Arg) => Promise<unknown>) | undefined>;
  const before = methods[method];
  let reach!: () => void;
  const reached = new Promise<void>((resolve) => (reach = resolve));
  methods[method] = (arg: Arg) => {
    if ((typeof arg === 'string' ? arg : arg.instanceId) !== id) return before ? before.call(backend, arg) : Promise.resolve();
    reach();
    return new Promise<void>(() => {});
  };
  const restore = () => {
    if (before) methods[method] = before;
    else delete methods[method];
  };
  t.teardown(restore);
  return { reached, restore };
}

t.test('a launcher killed in the middle of a reboot: the next one makes the reboot again, and it ends', async (t) => {
  const [inst] = await createInstances(demo, await workloadId(demo, 'docker'));
  const { node_id: node } = await waitForState(demo, inst.id, 'active');
  const i = Number(node!.replace('node-', ''));
  const backend = plane.backends[i];
  // The reboot's stop never ends: its launcher is killed meanwhile.
  const cut = hangIn(t, backend, 'stop', inst.id);
  const reboot = () => demo.call('POST', `/tenants/${tenant}/instances/${inst.id}/action`, { action: 'reboot' });
  await reboot();
  await cut.reached;
  cut.restore();
  // What the next launcher's backend starts (a reboot starts the instance again from its own disk).
  const startNow = backend.start.bind(backend);
  const startedAgain: boolean[] = [];
  backend.start = (spec) => {
    if (spec.instanceId === inst.id) startedAgain.push(!!spec.restart);
    return startNow(spec);
  };
  t.teardown(() => { backend.start = startNow; });
  await plane.restartLauncher(i);
  await waitFor('the reboot to end', async () => !(await demo.call<Instance>('GET', `/tenants/${tenant}/instances/${inst.id}`)).rebooting, { timeoutMs: 30_000 });
  t.same(startedAgain, [true], 'the next launcher made the reboot again: the instance started again from its own disk, once');
  t.equal((await waitForState(demo, inst.id, 'active')).node_id, node, 'active, on its node');
  t.notOk((await events(demo)).some((e) => e.message.startsWith(`Failed to reboot ${inst.id}`)), 'no failure told');
  await reboot();
  await waitFor('a reboot asked after it to end', async () => !(await demo.call<Instance>('GET', `/tenants/${tenant}/instances/${inst.id}`)).rebooting);
  await demo.call('DELETE', `/tenants/${tenant}/instances/${inst.id}`);
  await waitForEvent(demo, new RegExp(`^Deleted ${inst.id}`));
});

for (const [hung, found] of [['stop', 'still running'], ['resize', 'stopped, and started again first']] as const) {
  t.test(`a launcher killed in the middle of a resize (its instance found ${found}): the resize its node is sent again on its return is done, and waits for the confirm`, async (t) => {
    const [inst] = await createInstances(demo, await workloadId(demo, 'docker'));
    const { node_id: node } = await waitForState(demo, inst.id, 'active');
    const i = Number(node!.replace('node-', ''));
    const backend = plane.backends[i];
    const bigger = await admin.call<{ id: string }>('POST', `/tenants/${await admin.tenantId()}/workloads`, {
      description: 'a bigger container', vm_type: 'docker', image_name: 'busybox', visibility: 'public', defaults: { vcpus: 2, mem_mb: 128, disk_mb: 0 },
    });
    // The resize's stop, or its resize once stopped, never ends: its launcher is killed meanwhile.
    const cut = hangIn(t, backend, hung, inst.id);
    const path = `/tenants/${tenant}/instances/${inst.id}`;
    await demo.call('POST', `${path}/action`, { action: 'resize', workload: bigger.id });
    await cut.reached;
    cut.restore();
    // Found stopped, it should run: the next launcher starts it again, and that start lasts until the
    // resize the controller sends again has reached the node (it came `pending` before: refused).
    let arrived!: () => void;
    const resizeArrived = new Promise<void>((resolve) => (arrived = resolve));
    if (hung === 'resize') {
      const startNow = backend.start.bind(backend);
      backend.start = async (spec) => {
        if (spec.instanceId === inst.id) await resizeArrived;
        return startNow(spec);
      };
      t.teardown(() => { backend.start = startNow; });
    }
    await plane.restartLauncher(i, undefined, (launcher) => {
      const own = (launcher as unknown as { handle(f: Frame): Promise<void> }).handle.bind(launcher);
      (launcher as unknown as { handle(f: Frame): Promise<void> }).handle = (f: Frame) => {
        const done = own(f);
        if (f.op === 'RESIZE' && f.payload.instanceId === inst.id) arrived();
        return done;
      };
    });
    await waitFor('the resize to wait for its confirm', async () => (await demo.call<Instance>('GET', path)).resize?.phase === 'verify', { timeoutMs: 30_000 });
    t.same((await events(demo)).filter((e) => e.message.startsWith(`Failed to resize ${inst.id}`)).map((e) => e.message), [], 'no failure told');
    await demo.call('POST', `${path}/action`, { action: 'confirm-resize' });
    await waitFor('the confirm answered', async () => (await demo.call<Instance>('GET', path)).resize === null);
    t.match(await demo.call<Instance>('GET', path), { state: 'active', mem_mb: 128 }, 'active, with the new flavor');
    await demo.call('DELETE', path);
    await waitForEvent(demo, new RegExp(`^Deleted ${inst.id}`));
  });
}

t.test('a launcher killed in the middle of a shelve, then of an offload, then of an unshelve: the next one makes each again, and each is told done once', async (t) => {
  const [inst] = await createInstances(demo, await workloadId(demo, 'docker'));
  const { node_id: node } = await waitForState(demo, inst.id, 'active');
  const i = Number(node!.replace('node-', ''));
  const path = `/tenants/${tenant}/instances/${inst.id}`;
  const steps = [['shelve', 'stop', 'Shelved', 'shelved'], ['offload', 'offload', 'Offloaded', 'shelved_offloaded'], ['unshelve', 'start', 'Unshelved', 'active']] as const;
  for (const [action, hung, told, state] of steps) {
    const cut = hangIn(t, plane.backends[i], hung, inst.id);
    await demo.call('POST', `${path}/action`, { action });
    await cut.reached;
    cut.restore();
    await plane.restartLauncher(i);
    await waitForEvent(demo, new RegExp(`^${told} ${inst.id}`));
    t.equal((await waitForState(demo, inst.id, state)).node_id, node, `${state}, on its node`);
  }
  const mine = (await events(demo)).map((e) => e.message).filter((m) => m.includes(inst.id));
  t.same(mine.filter((m) => m.startsWith('Failed')), [], 'no failure told');
  t.equal(mine.filter((m) => /^(Shelved|Offloaded|Unshelved) /.test(m)).length, 3, 'each told done once');
  await demo.call('DELETE', path);
  await waitForEvent(demo, new RegExp(`^Deleted ${inst.id}`));
});

t.test('an action cut short that the instance is in no state to make again is told failed, saying so; one recorded without the image it needs, or with one that fails its check, too', async (t) => {
  const [inst] = await createInstances(demo, await workloadId(demo, 'docker'));
  const { node_id: node } = await waitForState(demo, inst.id, 'active');
  const i = Number(node!.replace('node-', ''));
  const cutShort = async (recorded: unknown, told: RegExp) => {
    // What a launcher killed in the middle of it left (an offload of an active instance cannot be
    // made: it must be shelved first).
    await plane.restartLauncher(i, () => writeFileSync(join(plane.dir, `node-${i}-actions.json`), JSON.stringify({ [inst.id]: recorded })));
    await waitForEvent(demo, told);
    t.equal((await waitForState(demo, inst.id, 'active')).node_id, node, 'it stays active, on its node');
  };
  await cutShort({ op: 'SHELVE_OFFLOAD', payload: { instanceId: inst.id } },
    new RegExp(`^Failed to offload ${inst.id}: the launcher of node ${node} was restarted during the offload, which it made again: instance ${inst.id} is active, not shelved$`));
  await cutShort('RESCUE', new RegExp(`^Failed to rescue ${inst.id}: the launcher of node ${node} was restarted during the rescue: it may be half done, and the instance is active$`));
  // A record that does not hold as a command (an empty image) is not made again: told the same way.
  await cutShort({ op: 'REBUILD', payload: { instanceId: inst.id, image: '' } },
    new RegExp(`^Failed to rebuild ${inst.id}: the launcher of node ${node} was restarted during the rebuild: it may be half done, and the instance is active$`));
  await demo.call('DELETE', `/tenants/${tenant}/instances/${inst.id}`);
  await waitForEvent(demo, new RegExp(`^Deleted ${inst.id}`));
});

t.test('a launcher killed in the middle of a start (what it made is there, half made), and again in the middle of the start made again: the next one deletes it and starts it again from the start', async (t) => {
  const backend = plane.backends[0];
  const startNow = backend.start.bind(backend);
  const deleteNow = backend.delete.bind(backend);
  const starts: string[] = [];
  const deletes: string[] = [];
  const halfMade: ((id: string) => void)[] = [];
  const made = () => new Promise<string>((resolve) => halfMade.push(resolve));
  // The next two starts of an instance on node-0 make it, then never end: its launcher is killed meanwhile.
  let hung = 0;
  backend.start = async (spec) => {
    starts.push(spec.instanceId);
    const running = await startNow(spec);
    if (hung === 2 || spec.cnci) return running;
    hung++;
    halfMade.shift()!(spec.instanceId);
    return new Promise<never>(() => {});
  };
  backend.delete = async (id) => {
    deletes.push(id);
    return deleteNow(id);
  };
  t.teardown(() => {
    backend.start = startNow;
    backend.delete = deleteNow;
  });
  onNextStart((f, place) => place(pinnedTo('node-0')(f)));
  const first = made();
  const [inst] = await createInstances(demo, await workloadId(demo, 'docker'));
  t.equal(await first, inst.id, 'node-0 made it, and its launcher is killed before the start ends');
  const again = made();
  await plane.restartLauncher(0);
  t.equal(await again, inst.id, 'the next launcher made it again, and is killed before that start ends');
  await plane.restartLauncher(0);
  t.equal((await waitForState(demo, inst.id, 'active')).node_id, 'node-0', 'active on node-0');
  t.same([deletes.filter((id) => id === inst.id).length, starts.filter((id) => id === inst.id).length], [2, 3], 'what was half made was deleted each time, then it was started again');
  t.same(await nodesRunning(inst.id), ['node-0'], 'it runs there, once');
  await demo.call('DELETE', `/tenants/${tenant}/instances/${inst.id}`);
  await waitForEvent(demo, new RegExp(`^Deleted ${inst.id}`));
});

t.test('a restarted launcher starts again what died, not what was stopped on request; many deletes at once all finish', async (t) => {
  const created = await createInstances(demo, await workloadId(demo, 'docker'), 12);
  const placed = await Promise.all(created.map((i) => waitForState(demo, i.id, 'active')));
  const onNode0 = placed.filter((i) => i.node_id === 'node-0');
  t.ok(onNode0.length >= 2, `node-0 holds ${onNode0.length} of them`);
  const [dead, ...stopped] = onNode0;
  plane.backends[0].crash(dead.id, { reason: 'killed', console: [] });
  await waitForState(demo, dead.id, 'exited');
  await Promise.all(stopped.map((i) => demo.call('POST', `/tenants/${tenant}/instances/${i.id}/action`, { action: 'stop' })));
  await Promise.all(stopped.map((i) => waitForState(demo, i.id, 'exited')));

  await plane.restartLauncher(0);
  await waitForState(demo, dead.id, 'active');
  t.pass('the instance that died runs again');
  for (const i of stopped) t.equal((await demo.call<Instance>('GET', `/tenants/${tenant}/instances/${i.id}`)).state, 'exited', `${i.id} stopped on request stays stopped`);

  // Each delete of a stopped instance rewrites the record: all at once, none may be lost.
  await Promise.all(placed.map((i) => demo.call('DELETE', `/tenants/${tenant}/instances/${i.id}`)));
  for (const i of placed) await waitForEvent(demo, new RegExp(`^Deleted ${i.id}`));
  t.pass(`${placed.length} deletes at once all finished`);
});

t.test('an instance that dies while the scheduler is down is exited with its reason once it is back', async (t) => {
  const [inst] = await createInstances(demo, await workloadId(demo, 'docker'));
  const active = await waitForState(demo, inst.id, 'active');
  const node = Number(active.node_id!.replace('node-', ''));
  // Its node cannot tell anyone at the moment it dies: only its reports after can.
  await plane.restartScheduler(() => plane.backends[node].crash(inst.id, { reason: 'QEMU was killed by SIGKILL', console: ['Kernel panic - not syncing'] }));
  const exited = await waitForState(demo, inst.id, 'exited');
  t.match(exited.reason, /QEMU was killed by SIGKILL/, 'the reason the node gave');
  const ev = await waitForEvent(demo, new RegExp(`${inst.id} exited unexpectedly`));
  t.match(ev.message, /QEMU was killed by SIGKILL; console: Kernel panic - not syncing/, 'an error event with the reason and the console\'s last line');
  await demo.call('DELETE', `/tenants/${tenant}/instances/${inst.id}`);
  await waitForEvent(demo, new RegExp(`^Deleted ${inst.id}`));
});

t.test('an instance whose deletion ends while the scheduler is down is gone once its node is back', async (t) => {
  const [inst] = await createInstances(demo, await workloadId(demo, 'docker'));
  const active = await waitForState(demo, inst.id, 'active');
  const backend = plane.backends[Number(active.node_id!.replace('node-', ''))];
  // The node takes the DELETE, and ends it only once the scheduler is gone: its INSTANCE_DELETED
  // has no one to go to.
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let deleting!: () => void;
  const taken = new Promise<void>((resolve) => (deleting = resolve));
  const deleteNow = backend.delete.bind(backend);
  backend.delete = async (id: string) => {
    deleting();
    await released;
    return deleteNow(id);
  };
  t.teardown(() => { backend.delete = deleteNow; });
  await demo.call('DELETE', `/tenants/${tenant}/instances/${inst.id}`);
  await taken;
  await plane.restartScheduler(async () => {
    release();
    await waitFor('the node to end the deletion', async () => !(await backend.list()).some((a) => a.spec.instanceId === inst.id));
  });
  await waitForEvent(demo, new RegExp(`^Deleted ${inst.id}`));
  t.notOk((await demo.call<{ instances: Instance[] }>('GET', `/tenants/${tenant}/instances`)).instances.some((i) => i.id === inst.id), 'gone from the list');
});

t.test('a node back while it still deletes an instance says it is deleted once it is, not when asked again', async (t) => {
  const [inst] = await createInstances(demo, await workloadId(demo, 'docker'));
  const active = await waitForState(demo, inst.id, 'active');
  const node = Number(active.node_id!.replace('node-', ''));
  const backend = plane.backends[node];
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const deleteNow = backend.delete.bind(backend);
  let calls = 0;
  backend.delete = async (id: string) => {
    calls++;
    await released;
    return deleteNow(id);
  };
  t.teardown(() => { backend.delete = deleteNow; });
  // What the node is asked, seen beside the launcher's own handling.
  const asked: string[] = [];
  (plane.launchers[node] as unknown as { peer: EventEmitter }).peer.on('frame', (f: Frame) => {
    if (f.op === 'DELETE' && f.payload.instanceId === inst.id) asked.push(f.op);
  });
  await demo.call('DELETE', `/tenants/${tenant}/instances/${inst.id}`);
  await waitFor('the node to take the DELETE', () => calls === 1);
  // The node reconnects while its deletion is under way: the controller asks again.
  await plane.restartScheduler();
  await waitFor('the DELETE asked again', () => asked.length >= 2);
  await plane.waitForNodes(2);
  const shown = await demo.call<Instance>('GET', `/tenants/${tenant}/instances/${inst.id}`);
  t.equal(shown.state, 'deleting', 'still deleting while the node deletes it');
  release();
  await waitForEvent(demo, new RegExp(`^Deleted ${inst.id}`));
  t.equal(calls, 1, 'deleted once');
});

/** The DELETEs of `id` its node gets, counted as they come. */
function deletesReaching(node: number, id: string) {
  const seen = { count: 0 };
  (plane.launchers[node] as unknown as { peer: EventEmitter }).peer.on('frame', (f: Frame) => {
    if (f.op === 'DELETE' && f.payload.instanceId === id) seen.count++;
  });
  return seen;
}

t.test('a controller killed before it saved a DELETE neither answered it nor told the node: the instance is still there, running', async (t) => {
  const [inst] = await createInstances(demo, await workloadId(demo, 'docker'));
  const active = await waitForState(demo, inst.id, 'active');
  const node = Number(active.node_id!.replace('node-', ''));
  const deletes = deletesReaching(node, inst.id);
  // Its state came in reports, written behind: on disk before the kill below, so that what the
  // restarted controller shows is the DELETE's doing alone.
  const onDisk = new Database(join(plane.dir, 'controller.db'), { readonly: true });
  t.teardown(() => onDisk.close());
  await waitFor('its active state to be on disk', () => {
    const row = onDisk.prepare('SELECT data FROM instances WHERE id = ?').get(inst.id) as { data: string } | undefined;
    return row !== undefined && JSON.parse(row.data).state === 'active';
  });
  // Another connection holds the database's write lock: the controller commits nothing meanwhile.
  const lock = new Database(join(plane.dir, 'controller.db'));
  lock.exec('BEGIN IMMEDIATE');
  t.teardown(() => {
    if (lock.inTransaction) lock.exec('ROLLBACK');
    lock.close();
  });
  const failuresBefore = commitFailures.length;
  const answer = demo.call('DELETE', `/tenants/${tenant}/instances/${inst.id}`).then(() => 'answered', (err: Error) => err.message);
  await waitFor('the controller to take the DELETE', async () => (await demo.call<Instance>('GET', `/tenants/${tenant}/instances/${inst.id}`)).state === 'deleting');
  await waitFor('its commit to fail', () => commitFailures.length > failuresBefore);
  await plane.crashController(() => { lock.exec('ROLLBACK'); });
  t.match(await answer, /cannot reach the controller/, 'the DELETE was not answered: it was not saved');
  t.equal((await demo.call<Instance>('GET', `/tenants/${tenant}/instances/${inst.id}`)).state, 'active', 'the restarted controller has it active');
  t.ok((await plane.backends[node].list()).some((a) => a.spec.instanceId === inst.id), 'and its node still runs it');
  // Asked again, it is deleted; the node is asked this once.
  await plane.waitForNodes(2);
  await demo.call('DELETE', `/tenants/${tenant}/instances/${inst.id}`);
  await waitForEvent(demo, new RegExp(`^Deleted ${inst.id}`));
  t.equal(deletes.count, 1, 'the first DELETE never reached the node');
});

t.test('a DELETE answered before the controller is killed is still under way after, and ends', async (t) => {
  const [inst] = await createInstances(demo, await workloadId(demo, 'docker'));
  await waitForState(demo, inst.id, 'active');
  await demo.call('DELETE', `/tenants/${tenant}/instances/${inst.id}`);
  await plane.crashController();
  const after = await demo.call<{ instances: Instance[] }>('GET', `/tenants/${tenant}/instances`);
  t.not(after.instances.find((i) => i.id === inst.id)?.state, 'active', 'not active again');
  await waitFor('it to be gone', async () => !(await demo.call<{ instances: Instance[] }>('GET', `/tenants/${tenant}/instances`)).instances.some((i) => i.id === inst.id));
});

/** Holds the database's write lock from the scheduler's next placement on (taken before its
 *  answer goes to the controller, which then cannot save it); `release()` lets go. */
function lockFromNextPlacement(t: { teardown(fn: () => void): void }, change?: (f: Frame) => Frame) {
  const lock = new Database(join(plane.dir, 'controller.db'));
  t.teardown(() => {
    if (lock.inTransaction) lock.exec('ROLLBACK');
    lock.close();
  });
  let placed = false;
  onNextStart((f, place) => {
    lock.exec('BEGIN IMMEDIATE');
    placed = true;
    place(change ? change(f) : f);
  });
  return { placed: () => placed, release: () => void lock.exec('ROLLBACK') };
}

t.test('a START that a scheduler took with it is sent to the next one: the instance starts, once', async (t) => {
  const keeps = schedulerKeepsNextStart();
  const starts = startsReaching();
  const [inst] = await createInstances(demo, await workloadId(demo, 'docker'));
  await waitFor('the scheduler to take the START', keeps.taken);
  await plane.restartScheduler();
  const active = await waitForState(demo, inst.id, 'active');
  t.ok(active.node_id, `active, on ${active.node_id}`);
  t.equal(starts(inst.id), 1, 'one START reached a node');
});

t.test('a controller that reconnects to the same scheduler does not send again a START it holds: the instance starts, once', async (t) => {
  const keeps = schedulerKeepsNextStart();
  const starts = startsReaching();
  const [inst] = await createInstances(demo, await workloadId(demo, 'docker'));
  await waitFor('the scheduler to take the START', keeps.taken);
  // The controller's link drops; the scheduler stays, with the START. The controller has done what
  // it does on connecting (its own listener runs first) once this one hears of it.
  const peer = (plane.controller as unknown as { peer: EventEmitter & { conn: { socket: { destroy(): void } } } }).peer;
  const back = once(peer, 'connected');
  peer.conn.socket.destroy();
  await back;
  keeps.handle();
  const active = await waitForState(demo, inst.id, 'active');
  t.ok(active.node_id, `active, on ${active.node_id}`);
  // A second START would have been placed and sent at once: its node would have it by now.
  await waitFor('a STATS of its node after it is active', async () => (await admin.call<{ updated_at: string }>('GET', `/nodes/${active.node_id}`)).updated_at > active.updated_at);
  t.equal(starts(inst.id), 1, 'one START reached a node');
});

t.test('a controller killed before it saved where the scheduler placed an instance is told again: the instance is active, on its node, started once', async (t) => {
  const starts = startsReaching();
  const locked = lockFromNextPlacement(t);
  const failuresBefore = commitFailures.length;
  const [inst] = await createInstances(demo, await workloadId(demo, 'docker'));
  await waitFor('the scheduler to place it', locked.placed);
  await waitFor('the node to get its START', () => starts(inst.id) === 1);
  await waitFor('the placement\'s commit to fail', () => commitFailures.length > failuresBefore);
  await plane.crashController(locked.release);
  const active = await waitForState(demo, inst.id, 'active');
  t.ok((await plane.backends[Number(active.node_id!.replace('node-', ''))].list()).some((a) => a.spec.instanceId === inst.id), `active, on ${active.node_id}, which runs it`);
  t.equal(starts(inst.id), 1, 'and was not started again elsewhere');
});

t.test('a controller killed before it saved that the scheduler refused a START is told again: the instance fails, with the reason', async (t) => {
  const locked = lockFromNextPlacement(t, (f) => (f.op === 'START' ? { ...f, payload: { ...f.payload, requirements: { nodeId: 'no-such-node' } } } : f));
  const failuresBefore = commitFailures.length;
  const [inst] = await createInstances(demo, await workloadId(demo, 'docker'));
  await waitFor('the scheduler to refuse it', locked.placed);
  await waitFor('the refusal\'s commit to fail', () => commitFailures.length > failuresBefore);
  await plane.crashController(locked.release);
  const failed = await waitForEvent(demo, new RegExp(`^Failed to start ${inst.id}: no_cn`));
  t.ok(failed, 'its failure is told');
  await waitFor('it to be gone', async () => !(await demo.call<{ instances: Instance[] }>('GET', `/tenants/${tenant}/instances`)).instances.some((i) => i.id === inst.id));
});

t.test('a START that a killed controller never got to the scheduler is sent again by the restarted one: the instance starts, once', async (t) => {
  const starts = startsReaching();
  // Taken and dropped: as one still in the killed controller's socket would be.
  const keeps = schedulerKeepsNextStart();
  const [inst] = await createInstances(demo, await workloadId(demo, 'docker'));
  await waitFor('the scheduler to take the START', keeps.taken);
  await plane.crashController();
  const active = await waitForState(demo, inst.id, 'active');
  t.ok(active.node_id, `active, on ${active.node_id}`);
  t.equal(starts(inst.id), 1, 'one START reached a node');
});

/** The START placed on `nodeId`, whatever the scheduler would have chosen. */
const pinnedTo = (nodeId: string) => (f: Frame): Frame => (f.op === 'START' ? { ...f, payload: { ...f.payload, requirements: { ...f.payload.requirements, nodeId } } } : f);

/** Creates an instance the scheduler places on node-0, the database locked from that placement on
 *  (the controller cannot save where it went), and waits for node-0 to run it. `release()` lets go
 *  of the lock; `told()` is what the event log has said about the instance since. */
async function placedOnNode0Unsaved(t: { teardown(fn: () => void): void }) {
  const locked = lockFromNextPlacement(t, pinnedTo('node-0'));
  const failuresBefore = commitFailures.length;
  const eventsNow = async () => (await admin.call<{ events: { id: string; message: string }[] }>('GET', '/events')).events;
  const marks = new Set((await eventsNow()).map((e) => e.id));
  const [inst] = await createInstances(demo, await workloadId(demo, 'docker'));
  await waitFor('the scheduler to place it', locked.placed);
  await waitFor("the placement's commit to fail", () => commitFailures.length > failuresBefore);
  await waitFor('node-0 to run it', async () => (await nodesRunning(inst.id)).includes('node-0'));
  const told = async () => (await eventsNow()).filter((e) => !marks.has(e.id) && e.message.includes(inst.id)).map((e) => e.message);
  return { inst, release: locked.release, told };
}

for (const again of ['node-1', 'node-0']) {
  t.test(`a scheduler and a controller killed at once, a placement on node-0 unsaved, the START placed again on ${again}: the instance runs once, there`, async (t) => {
    const starts = startsReaching();
    const { inst, release, told: toldNow } = await placedOnNode0Unsaved(t);
    // Neither the new scheduler nor the new controller knows where it went.
    await plane.crashController(async () => {
      release();
      await plane.restartScheduler();
      await waitFor('both nodes to be back', () => plane.scheduler.placement.get('node-0') !== undefined && plane.scheduler.placement.get('node-1') !== undefined);
      onNextStart((f, place) => place(pinnedTo(again)(f)), inst.id);
    });
    const active = await waitForState(demo, inst.id, 'active');
    t.equal(active.node_id, again, `active, on ${again}`);
    t.equal(starts(inst.id), 2, 'its START was sent again');
    await waitFor(`${again} alone to run it`, async () => (await nodesRunning(inst.id)).join() === again);
    t.pass(`${again} alone runs it`);
    const told = (await toldNow()).sort();
    const started = new RegExp(`^Started ${inst.id} on ${again}$`);
    if (again === 'node-1') t.match(told, [new RegExp(`^Node node-0 runs instance ${inst.id}, which is on node-1: deleted there$`), started], 'its start and the stray are told, and nothing else');
    else t.match(told, [started], 'its start is told, and nothing else: no failure, no stray');
    t.equal(told.length, again === 'node-1' ? 2 : 1, 'no other event about it');
  });
}

t.test('a scheduler and a controller killed at once, the nodes back after the controller: the START sent again waits for them, and the instance runs once', async (t) => {
  const { inst, release, told: toldNow } = await placedOnNode0Unsaved(t);
  await plane.crashController(async () => {
    release();
    for (const launcher of plane.launchers) launcher.stop();
    await plane.restartScheduler();
  });
  // The restarted controller sends the START again to a scheduler no node has reached yet.
  await waitFor('the new scheduler to hold the START', () => plane.scheduler.heldStarts > 0);
  await plane.restartLauncher(1);
  await plane.restartLauncher(0);
  const active = await waitForState(demo, inst.id, 'active');
  await waitFor(`${active.node_id} alone to run it`, async () => (await nodesRunning(inst.id)).join() === active.node_id);
  t.pass(`active, and run by ${active.node_id} alone`);
  const told = await toldNow();
  t.notOk(told.some((m) => /Failed/.test(m)), `no failure told (${told.join('; ')})`);
});

t.test('an action asked while the scheduler is away waits for it, and is done once it is back', async (t) => {
  const [inst] = await createInstances(demo, await workloadId(demo, 'docker'));
  await waitForState(demo, inst.id, 'active');
  const controller = plane.controller as unknown as { linkBack?: unknown };
  let stop!: Promise<unknown>;
  await plane.restartScheduler(async () => {
    await waitFor('the controller to see the scheduler gone', () => !plane.controller.schedulerConnected);
    stop = demo.call('POST', `/tenants/${tenant}/instances/${inst.id}/action`, { action: 'stop' });
    await waitFor('the stop to wait for the scheduler', () => controller.linkBack !== undefined);
  });
  await stop;
  t.pass('the stop was taken once the scheduler was back, not refused');
  await plane.waitForNodes(plane.launchers.length);
  t.equal((await waitForState(demo, inst.id, 'exited')).state, 'exited');
  await demo.call('DELETE', `/tenants/${tenant}/instances/${inst.id}`);
  await waitForEvent(demo, new RegExp(`^Deleted ${inst.id}`));
});

/** An instance active on node-0; then the scheduler restarted while node-0's launcher is down. */
async function onNode0SchedulerBackWithoutIt(): Promise<Instance> {
  onNextStart((f, place) => place(pinnedTo('node-0')(f)));
  const [inst] = await createInstances(demo, await workloadId(demo, 'docker'));
  await waitForState(demo, inst.id, 'active');
  await plane.restartScheduler(async () => {
    plane.launchers[0].stop();
    await waitFor('the controller to see the scheduler gone', () => !plane.controller.schedulerConnected);
  });
  return inst;
}

t.test('an action a scheduler just started gets for a node not back yet waits for the node, and reaches it', async (t) => {
  // node-0 is not back when the new scheduler gets the STOP (its launcher is down meanwhile).
  const inst = await onNode0SchedulerBackWithoutIt();
  await demo.call('POST', `/tenants/${tenant}/instances/${inst.id}/action`, { action: 'stop' });
  await waitFor('the new scheduler to hold the STOP for node-0', () => (plane.scheduler as unknown as { away: { isAway(id: string): boolean } }).away.isAway('node-0'));
  await plane.restartLauncher(0);
  await waitForEvent(demo, new RegExp(`^Stopped ${inst.id}$`));
  t.notOk((await events(demo)).some((e) => e.message.startsWith(`Failed to stop ${inst.id}`)), 'and no failure told');
  await plane.waitForNodes();
  await demo.call('DELETE', `/tenants/${tenant}/instances/${inst.id}`);
  await waitForEvent(demo, new RegExp(`^Deleted ${inst.id}`));
});

t.test('a node that never comes back to a new scheduler is told gone once its gathering is over: MISSING, with its instances', async (t) => {
  const inst = await onNode0SchedulerBackWithoutIt();
  await waitFor('node-0 to be MISSING', async () => (await admin.call<{ status: string }>('GET', '/nodes/node-0')).status === 'MISSING', { timeoutMs: 25_000 });
  t.equal((await waitForState(demo, inst.id, 'missing')).node_id, 'node-0', 'and its instance missing');
  t.ok((await admin.call<{ events: { message: string }[] }>('GET', '/events')).events.some((e) => e.message === 'Node node-0 disconnected'), 'told as a link that dropped');
  await plane.restartLauncher(0);
  await waitForState(demo, inst.id, 'active');
  await demo.call('DELETE', `/tenants/${tenant}/instances/${inst.id}`);
  await waitForEvent(demo, new RegExp(`^Deleted ${inst.id}`));
});

t.test('instances created while the scheduler link is down start once it is back', async (t) => {
  await plane.restartController();
  const [inst] = await createInstances(demo, await workloadId(demo, 'docker'));
  const active: Instance = await waitForState(demo, inst.id, 'active');
  t.ok(active.node_id);
});

t.test('a volume whose making a crash cut short is made again by the restarted controller', async (t) => {
  const path = `/tenants/${tenant}/volumes`;
  const made = await demo.call<Volume>('POST', path, { size_mb: 8 });
  const file = join(plane.dir, 'volumes', `${made.id}.qcow2`);
  await waitFor('the volume to be made', async () => (await demo.call<Volume>('GET', `${path}/${made.id}`)).state === 'available');

  await plane.restartController(() => {
    // What a controller killed in the middle of qemu-img leaves: the record says creating, no whole file.
    const store = openSqliteStore(join(plane.dir, 'controller.db'));
    store.volumes.put({ ...store.volumes.get(made.id)!, state: 'creating' });
    store.close();
    rmSync(file);
  });

  await waitFor('the volume to be made again', async () => (await demo.call<Volume>('GET', `${path}/${made.id}`)).state === 'available');
  t.ok(existsSync(file), 'its file is there');
  await demo.call('DELETE', `${path}/${made.id}`);
  t.notOk(existsSync(file), 'and goes with it');
});

t.test('volumes attached to an instance that is no more (a release a kill cut short) are released by the restarted controller', async (t) => {
  const path = `/tenants/${tenant}/volumes`;
  const [ephemeral, kept] = [await demo.call<Volume>('POST', path, { size_mb: 8 }), await demo.call<Volume>('POST', path, { size_mb: 8 })];
  const file = join(plane.dir, 'volumes', `${ephemeral.id}.qcow2`);
  await waitFor('the volumes to be made', async () => (await Promise.all([ephemeral, kept].map((v) => demo.call<Volume>('GET', `${path}/${v.id}`)))).every((v) => v.state === 'available'));
  await plane.restartController(() => {
    // What a controller killed after an instance went and before its volumes were released left.
    const store = openSqliteStore(join(plane.dir, 'controller.db'));
    const gone = '00000000-0000-4000-8000-0000000000ff';
    store.volumes.put({ ...store.volumes.get(ephemeral.id)!, state: 'in-use', attachment: { instance_id: gone, root: true, ephemeral: true } });
    store.volumes.put({ ...store.volumes.get(kept.id)!, state: 'in-use', attachment: { instance_id: gone, root: false, ephemeral: false } });
    store.close();
  });
  await waitFor('the ephemeral volume to go', async () => !(await demo.call<{ volumes: Volume[] }>('GET', path)).volumes.some((v) => v.id === ephemeral.id));
  await waitFor('its file to go', () => !existsSync(file));
  t.match(await demo.call<Volume>('GET', `${path}/${kept.id}`), { state: 'available', attachment: null }, 'the other is available again');
  await demo.call('DELETE', `${path}/${kept.id}`);
});

t.test("an attach or detach whose answer a controller restart lost is finished by the restarted controller", async (t) => {
  const path = `/tenants/${tenant}/volumes`;
  const [vm] = await createInstances(demo, await workloadId(demo, 'qemu'));
  await waitForState(demo, vm.id, 'active');
  const stateOf = async (id: string) => (await demo.call<Volume>('GET', `${path}/${id}`)).state;
  const v = await demo.call<Volume>('POST', path, { size_mb: 8 });
  await waitFor('the volume to be made', async () => (await stateOf(v.id)) === 'available');
  await demo.call('POST', `${path}/${v.id}/attach`, { instance_id: vm.id });
  await waitFor('the volume to be attached', async () => (await stateOf(v.id)) === 'in-use');

  // The node attached it, but the controller went down before it heard so.
  const setState = (state: Volume['state']) => () => {
    const store = openSqliteStore(join(plane.dir, 'controller.db'));
    store.volumes.put({ ...store.volumes.get(v.id)!, state });
    store.close();
  };
  await plane.restartController(setState('attaching'));
  await waitFor('the attach to be confirmed', async () => (await stateOf(v.id)) === 'in-use');

  // A detach cut short the same way is done when the command comes again.
  await plane.restartController(setState('detaching'));
  await waitFor('the detach to be done', async () => (await stateOf(v.id)) === 'available');
  t.notOk((await demo.call<Instance>('GET', `/tenants/${tenant}/instances/${vm.id}`)).volumes?.includes(v.id), 'the instance no longer lists it');
  await demo.call('DELETE', `${path}/${v.id}`);
  await demo.call('DELETE', `/tenants/${tenant}/instances/${vm.id}`);
});
