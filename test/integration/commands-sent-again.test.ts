// Commands and answers lost with a scheduler killed on the way (docs/protocol.md, "Actions";
// controller/commands-unheard.ts): a START, STOP, REBOOT or other action its node never got is
// sent again once the node's STATS show it neither done nor under way, and a node that gets one
// twice does it once. Each waits the controller's 10 s (START_UNSEEN_MS, …): these tests were
// restarts.test.ts's, which ran 119 s of tap's 120 s with them.
import t from 'tap';
import { startControlPlane } from '../helpers/control-plane.ts';
import { planeHooks } from '../helpers/plane-hooks.ts';
import { createInstances, events, waitForEvent, waitForState, workloadId } from '../helpers/api-waits.ts';
import type { Instance } from '../../controller/api-types.ts';
import { waitFor } from '../../shared/wait-for.ts';
import type { Frame, NodeStats, StartPayload } from '../../protocol/payloads.ts';
import type { Backend } from '../../launcher/backend.ts';

const plane = await startControlPlane({ nodes: 2, statsIntervalMs: 300, stoppedFiles: true });
t.teardown(() => plane.close());
const { demo } = plane;
const tenant = await demo.tenantId();
const { startsReaching, schedulerKeepsNextStart, nodesRunning } = planeHooks(plane);

t.test('a START lost on its way to its node (the scheduler killed after it told the controller) is sent to the node again: the instance starts, there', async (t) => {
  // The node drops the instance's first START, as a scheduler killed with it in its buffer would.
  const dropped = new Set<string>();
  const launchers = plane.launchers as unknown as { handle(f: Frame): Promise<void> }[];
  const restore = launchers.map((launcher) => {
    const own = launcher.handle.bind(launcher);
    launcher.handle = async (f: Frame) => {
      if (f.op === 'START' && !f.payload.cnci && !dropped.has(f.payload.instanceId)) return void dropped.add(f.payload.instanceId);
      return own(f);
    };
    return () => void (launcher.handle = own);
  });
  t.teardown(() => restore.forEach((r) => r()));
  const [inst] = await createInstances(demo, await workloadId(demo, 'docker'));
  await waitFor('its START to be dropped', () => dropped.has(inst.id));
  const placed = await demo.call<Instance>('GET', `/tenants/${tenant}/instances/${inst.id}`);
  t.equal(placed.state, 'pending', `pending, on ${placed.node_id}, which does not have it`);
  const active = await waitForState(demo, inst.id, 'active', 30_000);
  t.equal(active.node_id, placed.node_id, 'active on the node it was placed on');
  t.same(await nodesRunning(inst.id), [placed.node_id], 'which alone runs it');
});

t.test('an instance deleted after its START left and before the scheduler placed it is deleted from the node it lands on', async (t) => {
  const starts = startsReaching();
  const keeps = schedulerKeepsNextStart();
  const [inst] = await createInstances(demo, await workloadId(demo, 'docker'));
  await waitFor('the scheduler to take the START', keeps.taken);
  await demo.call('DELETE', `/tenants/${tenant}/instances/${inst.id}`);
  // Placed now: its node starts it.
  keeps.handle();
  await waitFor('its node to get the START', () => starts(inst.id) === 1);
  await waitFor('it to be gone', async () => !(await demo.call<{ instances: Instance[] }>('GET', `/tenants/${tenant}/instances`)).instances.some((i) => i.id === inst.id));
  await waitFor('no node to run it', async () => {
    for (const backend of plane.backends) if ((await backend.list()).some((a) => a.spec.instanceId === inst.id)) return false;
    return true;
  });
  t.pass('deleted, and no node runs it');
});

t.test('an instance deleted while a scheduler that goes holds its START is gone, and started nowhere', async (t) => {
  const starts = startsReaching();
  const keeps = schedulerKeepsNextStart();
  const [inst] = await createInstances(demo, await workloadId(demo, 'docker'));
  await waitFor('the scheduler to take the START', keeps.taken);
  await demo.call('DELETE', `/tenants/${tenant}/instances/${inst.id}`);
  t.equal((await demo.call<Instance>('GET', `/tenants/${tenant}/instances/${inst.id}`)).state, 'deleting', 'deleting while its START is out');
  await plane.restartScheduler();
  await waitForEvent(demo, new RegExp(`^Deleted ${inst.id}`));
  await plane.waitForNodes(2);
  t.equal(starts(inst.id), 0, 'no node got its START');
});

/** Makes `node` drop the first `op` for the instance, as a scheduler killed with it in its buffer
 *  would; returns how many such commands reached the node since, the dropped one included. */
function dropsFirst(t: { teardown(fn: () => void): void }, node: string, op: Frame['op'], instanceId: string): () => number {
  const launcher = plane.launchers[Number(node.replace('node-', ''))] as unknown as { handle(f: Frame): Promise<void> };
  const own = launcher.handle.bind(launcher);
  let reached = 0;
  launcher.handle = async (f: Frame) => {
    if (f.op === op && 'instanceId' in f.payload && f.payload.instanceId === instanceId && reached++ === 0) return;
    return own(f);
  };
  t.teardown(() => void (launcher.handle = own));
  return () => reached;
}

t.test('a STOP lost on its way to its node (with a scheduler killed) is sent to it again: the instance stops', async (t) => {
  const [inst] = await createInstances(demo, await workloadId(demo, 'docker'));
  const { node_id: node } = await waitForState(demo, inst.id, 'active');
  const stops = dropsFirst(t, node!, 'STOP', inst.id);
  await demo.call('POST', `/tenants/${tenant}/instances/${inst.id}/action`, { action: 'stop' });
  await waitFor('its STOP to be dropped', () => stops() === 1);
  t.equal((await demo.call<Instance>('GET', `/tenants/${tenant}/instances/${inst.id}`)).state, 'stopping', 'stopping, on a node that still runs it');
  await waitForEvent(demo, new RegExp(`^Stopped ${inst.id}$`), { timeoutMs: 30_000 });
  t.equal((await demo.call<Instance>('GET', `/tenants/${tenant}/instances/${inst.id}`)).state, 'exited', 'exited once its STOP came again');
  t.equal(stops(), 2, 'the STOP was sent once more');
  await demo.call('DELETE', `/tenants/${tenant}/instances/${inst.id}`);
  await waitForEvent(demo, new RegExp(`^Deleted ${inst.id}`));
});

t.test('a REBOOT lost on its way to its node, or its answer lost on the way back, is sent again: the reboot ends', async (t) => {
  const [inst] = await createInstances(demo, await workloadId(demo, 'docker'));
  const { node_id: node } = await waitForState(demo, inst.id, 'active');
  const reboots = dropsFirst(t, node!, 'REBOOT', inst.id);
  const rebooting = async () => (await demo.call<Instance>('GET', `/tenants/${tenant}/instances/${inst.id}`)).rebooting;
  const reboot = () => demo.call('POST', `/tenants/${tenant}/instances/${inst.id}/action`, { action: 'reboot' });
  await reboot();
  await waitFor('the REBOOT to be dropped', () => reboots() === 1);
  t.ok(await rebooting(), 'rebooting, on a node that does not know of it');
  await waitFor('the reboot to end', async () => !(await rebooting()), { timeoutMs: 30_000 });
  t.equal(reboots(), 2, 'its REBOOT was sent once more, and done');

  // Now the node reboots it, and the controller never hears its answer.
  const services = plane.controller.services;
  const onFrame = services.onFrame.bind(services);
  let lost = 0;
  services.onFrame = (f: Frame) => {
    if (f.op === 'INSTANCE_STATE' && f.payload.instanceId === inst.id && lost++ === 0) return;
    onFrame(f);
  };
  t.teardown(() => void (services.onFrame = onFrame));
  await reboot();
  await waitFor('the reboot to end', async () => !(await rebooting()), { timeoutMs: 30_000 });
  t.same([lost >= 1, reboots()], [true, 4], 'its answer was lost: the REBOOT was sent again, and the node rebooted it a second time');
  t.equal((await waitForState(demo, inst.id, 'active')).node_id, node);
  await demo.call('DELETE', `/tenants/${tenant}/instances/${inst.id}`);
  await waitForEvent(demo, new RegExp(`^Deleted ${inst.id}`));
});

/** Each command of `op` for `instanceId` reaches the launcher of `node` twice, as when it was sent
 *  again: at once (the first under way), or once the first is done (`after: 'done'`). */
function deliveredTwice(t: { teardown(fn: () => void): void }, node: string, op: Frame['op'], instanceId: string, after: 'under way' | 'done') {
  const launcher = plane.launchers[Number(node.replace('node-', ''))] as unknown as { handle(f: Frame): Promise<void> };
  const own = launcher.handle.bind(launcher);
  launcher.handle = async (f: Frame) => {
    if (f.op !== op || !('instanceId' in f.payload) || f.payload.instanceId !== instanceId) return own(f);
    const first = own(f);
    if (after === 'done') await first;
    await Promise.all([first, own(f)]);
  };
  t.teardown(() => void (launcher.handle = own));
}

t.test('a PAUSE and a SHELVE lost on their way to the node (with a scheduler killed) are sent again: each is done, once', async (t) => {
  const [inst] = await createInstances(demo, await workloadId(demo, 'docker'));
  const { node_id: node } = await waitForState(demo, inst.id, 'active');
  const get = () => demo.call<Instance>('GET', `/tenants/${tenant}/instances/${inst.id}`);
  const server = () => demo.call<{ server: Record<string, unknown> }>('GET', `/v2.1/servers/${inst.id}`);
  for (const [action, op, state, event] of [['pause', 'PAUSE', 'paused', 'Paused'], ['shelve', 'SHELVE', 'shelved', 'Shelved']] as const) {
    if (action === 'shelve') await demo.call('POST', `/tenants/${tenant}/instances/${inst.id}/action`, { action: 'unpause' }).then(() => waitForState(demo, inst.id, 'active'));
    const reached = dropsFirst(t, node!, op, inst.id);
    await demo.call('POST', `/tenants/${tenant}/instances/${inst.id}/action`, { action });
    await waitFor(`its ${op} to be dropped`, () => reached() === 1);
    t.match(await get(), { state: 'active', asked: { op } }, `${action}: active, the ${op} asked, on a node that does not know of it`);
    t.equal((await server()).server['OS-EXT-STS:task_state'], `${action === 'pause' ? 'paus' : 'shelv'}ing`, 'the compute API shows the task under way');
    await waitForEvent(demo, new RegExp(`^${event} ${inst.id}$`), { timeoutMs: 30_000 });
    t.match(await get(), { state, asked: null }, `${state} once its ${op} came again`);
    t.equal(reached(), 2, `the ${op} was sent once more`);
    t.equal((await server()).server['OS-EXT-STS:task_state'], null, 'no task under way');
  }
  t.notOk((await events(demo)).some((e) => e.message.startsWith(`Failed to`) && e.message.includes(inst.id)), 'no failure told');
  await demo.call('DELETE', `/tenants/${tenant}/instances/${inst.id}`);
  await waitForEvent(demo, new RegExp(`^Deleted ${inst.id}`));
});

t.test('an action its node gets twice (sent again, the first done or under way) is done once, and told done, not failed', async (t) => {
  const [inst] = await createInstances(demo, await workloadId(demo, 'docker'));
  const { node_id: node } = await waitForState(demo, inst.id, 'active');
  const act = (action: string) => demo.call('POST', `/tenants/${tenant}/instances/${inst.id}/action`, { action });
  deliveredTwice(t, node!, 'PAUSE', inst.id, 'done');
  await act('pause');
  await waitForEvent(demo, new RegExp(`^Paused ${inst.id}$`));
  await act('unpause');
  await waitForState(demo, inst.id, 'active');
  await act('shelve');
  await waitForState(demo, inst.id, 'shelved');
  // The unshelve's start waits until its node's STATS say it is under way.
  const launcher = plane.launchers[Number(node!.replace('node-', ''))] as unknown as { backend(spec: StartPayload): Backend; stats(): NodeStats };
  const pick = launcher.backend.bind(launcher);
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  launcher.backend = (spec) => {
    const backend = pick(spec);
    return Object.assign(Object.create(backend) as Backend, {
      async start(p: StartPayload) {
        if (p.instanceId === inst.id) await held;
        return backend.start(p);
      },
    });
  };
  t.teardown(() => void (launcher.backend = pick));
  deliveredTwice(t, node!, 'UNSHELVE', inst.id, 'under way');
  await act('unshelve');
  await waitFor('its STATS to say the unshelve is under way', () => launcher.stats().instances.find((i) => i.instanceId === inst.id)?.busy === 'unshelve');
  release();
  await waitForEvent(demo, new RegExp(`^Unshelved ${inst.id}`));
  t.equal((await waitForState(demo, inst.id, 'active')).node_id, node, 'unshelved, on its node');
  const told = (await events(demo)).map((e) => e.message).filter((m) => m.includes(inst.id));
  t.same(told.filter((m) => /^(Paused|Unshelved|Failed)/.test(m)).map((m) => m.split(' ')[0]), ['Paused', 'Unshelved'], 'each told done once, neither failed');
  await demo.call('DELETE', `/tenants/${tenant}/instances/${inst.id}`);
  await waitForEvent(demo, new RegExp(`^Deleted ${inst.id}`));
});

t.test('a stop whose answer went with a scheduler ends with its node\'s STATS', async (t) => {
  const [inst] = await createInstances(demo, await workloadId(demo, 'docker'));
  await waitForState(demo, inst.id, 'active');
  // The controller never hears the node's answer, as when the scheduler that carried it is killed.
  const services = plane.controller.services;
  const own = services.onFrame.bind(services);
  let lost = 0;
  services.onFrame = (f: Frame) => {
    if (f.op === 'INSTANCE_STATE' && f.payload.instanceId === inst.id && f.payload.state === 'exited') return void lost++;
    own(f);
  };
  t.teardown(() => void (services.onFrame = own));
  await demo.call('POST', `/tenants/${tenant}/instances/${inst.id}/action`, { action: 'stop' });
  await waitForEvent(demo, new RegExp(`^Stopped ${inst.id}$`));
  t.equal(lost, 1, 'its answer was lost');
  t.equal((await demo.call<Instance>('GET', `/tenants/${tenant}/instances/${inst.id}`)).state, 'exited');
  await demo.call('DELETE', `/tenants/${tenant}/instances/${inst.id}`);
  await waitForEvent(demo, new RegExp(`^Deleted ${inst.id}`));
});
