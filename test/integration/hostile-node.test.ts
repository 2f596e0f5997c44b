// A node is trusted only for the instances placed on it (docs/security.md): a peer holding a
// valid node certificate that speaks of another node's instance, or a CNCI of another tenant's
// addresses, is ignored, and the instance and the mapping stay as they are; the controller warns of
// it. A report about an instance that no longer exists (a node ending a start after a delete) is
// ignored too, without a warning: nothing is wrong.
import t from 'tap';
import tls from 'node:tls';
import { once, type EventEmitter } from 'node:events';
import { startControlPlane } from '../helpers/control-plane.ts';
import { createInstances, waitForState, workloadId } from '../helpers/api-waits.ts';
import { readTls } from '../../shared/tls-files.ts';
import { Connection } from '../../protocol/frame.ts';
import type { Frame } from '../../protocol/payloads.ts';
import type { Instance } from '../../controller/api-types.ts';
import { waitFor } from '../../shared/wait-for.ts';
import type { Logger } from '../../shared/log.ts';

/** What the controller logged, line by line. */
const logged: { level: string; msg: string; fields: Record<string, unknown> }[] = [];
const recorder = (base: Record<string, unknown> = {}): Logger => {
  const at = (level: string) => (msg: string, fields: Record<string, unknown> = {}) => void logged.push({ level, msg, fields: { ...base, ...fields } });
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), child: (fields) => recorder({ ...base, ...fields }) };
};
/** The ops of the frames the controller logged at `level` with `msg`, about `instanceId`. */
const loggedAbout = (level: string, msg: RegExp, instanceId: string) =>
  logged.filter((l) => l.level === level && msg.test(l.msg) && (l.fields.payload as { instanceId?: string } | undefined)?.instanceId === instanceId).map((l) => l.fields.op);

const plane = await startControlPlane({ nodes: 2, statsIntervalMs: 200, controllerLogger: recorder() });
t.teardown(() => plane.close());
const { demo, other, pki } = plane;

/** A rogue peer with a real certificate of the cluster: it says HELLO as `id`, then sends `frames`;
 *  what it is sent goes to `told`. */
async function rogue(material: { cert: string; key: string }, id: string, roles: ('compute' | 'cnci')[], frames: Frame[], told: Frame[] = []) {
  const socket = tls.connect({ host: '127.0.0.1', port: plane.schedulerPort, servername: 'localhost', ...readTls({ ca: pki.ca.cert, ...material }) });
  await once(socket, 'secureConnect');
  const conn = new Connection(socket);
  conn.send({ type: 'HELLO', op: 'HELLO', payload: { id, roles } });
  t.match((await once(conn, 'frame'))[0], { type: 'HELLO' }, `${id} joined`);
  conn.on('frame', (f: Frame) => told.push(f));
  for (const f of frames) conn.send(f);
  await new Promise<void>((resolve) => socket.write('', () => resolve()));
  return () => socket.destroy();
}

/** A rogue node's STATS: it says it runs `instanceIds`. */
const statsListing = (nodeId: string, instanceIds: string[]): Frame => ({
  type: 'STATUS', op: 'STATS',
  payload: { nodeId, hostname: nodeId, status: 'READY', memTotalMB: 1024, memAvailableMB: 1024, diskTotalMB: 1024, diskAvailableMB: 1024, vcpus: 1, vcpusAvailable: 1, load: 0, instances: instanceIds.map((instanceId) => ({ instanceId, state: 'exited' as const })), at: Date.now() },
});

/** Waits for a STATS of `nodeId` sent after this moment: the rogue's frames, sent before and
 *  forwarded on the same scheduler → controller link, have been handled by then. */
async function afterNextStats(nodeId: string) {
  const since = new Date().toISOString();
  await waitFor(`a STATS of ${nodeId}`, async () => (await plane.admin.call<{ updated_at: string }>('GET', `/nodes/${nodeId}`)).updated_at > since);
}

t.test("a node that reports another node's instance deleted, exited or failed is not believed", async (t) => {
  const [victim] = await createInstances(other, await workloadId(other, 'docker'));
  const active = await waitForState(other, victim.id, 'active');
  const stop = await rogue(pki.agent, 'node-9', ['compute'], [
    { type: 'EVENT', op: 'INSTANCE_DELETED', payload: { instanceId: victim.id, nodeId: 'node-9' } },
    { type: 'EVENT', op: 'INSTANCE_STATE', payload: { instanceId: victim.id, nodeId: active.node_id!, state: 'exited' } },
    { type: 'ERROR', op: 'START_FAILURE', payload: { instanceId: victim.id, reason: 'launch_failure', message: 'spoofed' } },
  ]);
  t.teardown(stop);
  await afterNextStats(active.node_id!);
  const after = await other.call<Instance>('GET', `/tenants/${await other.tenantId()}/instances/${victim.id}`);
  t.equal(after.state, 'active', 'still active');
  t.equal(after.node_id, active.node_id, 'still on its node');
  t.same(loggedAbout('warn', /not its sender's/, victim.id).sort(), ['INSTANCE_DELETED', 'INSTANCE_STATE', 'START_FAILURE'], 'the controller warned of each spoofed frame');
});

t.test("a node that lists another node's instance in its STATS is told to delete it, itself: the instance stays as it is", async (t) => {
  const [victim] = await createInstances(other, await workloadId(other, 'docker'));
  const active = await waitForState(other, victim.id, 'active');
  const deletesTo = new Map<string, number>();
  for (const launcher of plane.launchers) {
    (launcher as unknown as { peer: EventEmitter }).peer.on('frame', (f: Frame) => {
      if (f.op === 'DELETE' && f.payload.instanceId === victim.id) deletesTo.set(f.to ?? '', (deletesTo.get(f.to ?? '') ?? 0) + 1);
    });
  }
  const told: Frame[] = [];
  const stop = await rogue(pki.agent, 'node-9', ['compute'], [statsListing('node-9', [victim.id]), statsListing('node-9', [victim.id])], told);
  t.teardown(stop);
  await waitFor('the rogue to be told to delete it', () => told.some((f) => f.op === 'DELETE' && f.payload.instanceId === victim.id));
  await afterNextStats(active.node_id!);
  const after = await other.call<Instance>('GET', `/tenants/${await other.tenantId()}/instances/${victim.id}`);
  t.equal(after.state, 'active', 'still active');
  t.equal(after.node_id, active.node_id, 'still on its node');
  t.same([...deletesTo], [], 'no DELETE reached a real node');
  t.ok((await plane.backends[Number(active.node_id!.replace('node-', ''))].list()).some((a) => a.spec.instanceId === victim.id), 'its node still runs it');
});

t.test('a report about an instance that no longer exists is ignored without a warning', async (t) => {
  const [inst] = await createInstances(demo, await workloadId(demo, 'docker'));
  const active = await waitForState(demo, inst.id, 'active');
  const path = `/tenants/${await demo.tenantId()}/instances`;
  await demo.call('DELETE', `${path}/${inst.id}`);
  await waitFor(`instance ${inst.id} to be gone`, async () => !(await demo.call<{ instances: Instance[] }>('GET', path)).instances.some((i) => i.id === inst.id));
  const stop = await rogue(pki.agent, 'node-9', ['compute'], [
    { type: 'ERROR', op: 'START_FAILURE', payload: { instanceId: inst.id, reason: 'network_failure', message: 'its CNCI went with its tenant' } },
    { type: 'EVENT', op: 'INSTANCE_DELETED', payload: { instanceId: inst.id, nodeId: 'node-9' } },
  ]);
  t.teardown(stop);
  await afterNextStats(active.node_id!);
  t.same(loggedAbout('info', /no longer exists/, inst.id).sort(), ['INSTANCE_DELETED', 'START_FAILURE'], 'both ignored, and said so');
  t.same(loggedAbout('warn', /./, inst.id), [], 'no warning about it');
});

t.test("a CNCI cannot speak for another tenant's CNCI", async (t) => {
  const [inst] = await createInstances(demo, await workloadId(demo, 'docker'));
  await waitForState(demo, inst.id, 'active');
  const theirs = await plane.admin.call<{ cnci: { instance_id: string; state: string } }>('GET', `/tenants/${await other.tenantId()}`);
  const stop = await rogue(pki.cnci, 'b0a6d6a2-7e1f-4a53-9e44-3f3c2b1f0a11', ['cnci'], [
    { type: 'STATUS', op: 'CNCI_READY', payload: { instanceId: theirs.cnci.instance_id, tenantId: await other.tenantId(), address: '198.51.100.250' } },
  ]);
  t.teardown(stop);
  await afterNextStats('node-0');
  const cnci = (await plane.admin.call<{ instances: Instance[] }>('GET', '/nodes/node-0/instances')).instances
    .concat((await plane.admin.call<{ instances: Instance[] }>('GET', '/nodes/node-1/instances')).instances)
    .find((i) => i.id === theirs.cnci.instance_id);
  t.ok(cnci, "the other tenant's CNCI is there");
  t.not(cnci!.ssh_ip, '198.51.100.250', 'its tunnel endpoint is unchanged');
});
