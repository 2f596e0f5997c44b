// The scheduler's flow to the controller (docs/protocol.md, "Flow to the controller"): while the
// controller reads slower than nodes report, a node's superseded STATS and instance states are
// dropped, the latest are delivered, a death is never dropped, and nothing the node sends overtakes
// what it sent before.
import t from 'tap';
import type { Frame } from '../../protocol/payloads.ts';
import { waitFor } from '../../shared/wait-for.ts';
import { testScheduler } from '../helpers/test-scheduler.ts';
import { silentLogger, type Logger } from '../../shared/log.ts';

/** The ids of the peers the scheduler said were gone, in order. */
const gone: unknown[] = [];
const quiet = silentLogger();
const noticing: Logger = { ...quiet, info: (msg, fields) => void (msg === 'peer disconnected' && gone.push(fields?.id)), child: () => noticing };
// Answering at once as a scheduler up for long does: what a scheduler just started holds while its
// nodes come back is tested on its own (test/unit/gathering.test.ts, restarts.test.ts).
const { pki, joinAs, scheduler } = await testScheduler('ciao-flow', noticing, { gathering: { maxMs: 0, quietMs: 0 } });

const REPORTS = 400;
/** A node's report, numbered by `load`, made big (~20 KB) so that a few hundred fill the link. */
const stats = (n: number): Frame => ({
  type: 'STATUS', op: 'STATS', payload: {
    nodeId: 'node-1', hostname: 'node-1', status: 'READY', memTotalMB: 1024, memAvailableMB: 1024, diskTotalMB: 1024, diskAvailableMB: 1024,
    vcpus: 4, vcpusAvailable: 4, load: n,
    instances: Array.from({ length: 200 }, (_, i) => ({ instanceId: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`, state: 'active' as const })),
  },
});

t.test('a controller that reads slowly gets each node\'s latest STATS, not every one, in the node\'s order', async (t) => {
  const controller = await joinAs(pki.controller, 'controller', ['controller']);
  controller.socket.pause();
  const node = await joinAs(pki.agent, 'node-1', ['compute']);
  for (let n = 1; n <= REPORTS; n++) node.conn.send(stats(n));
  node.conn.send({ type: 'EVENT', op: 'INSTANCE_STATE', payload: { instanceId: 'after-the-reports', nodeId: 'node-1', state: 'active' } });
  // Frames from one node are handled in order: its answer to a frame it may not send comes after
  // the scheduler took every report above.
  node.conn.send({ type: 'COMMAND', op: 'CORDONED', payload: { nodes: [] } });
  await waitFor('the scheduler to take the reports', () => node.frames.some((f) => f.type === 'ERROR'));

  controller.socket.resume();
  await waitFor('the event after the reports to reach the controller', () => controller.frames.some((f) => f.op === 'INSTANCE_STATE'), { timeoutMs: 20_000 });
  const fromNode = controller.frames.filter((f) => f.from === 'node-1');
  const loads = fromNode.flatMap((f) => (f.op === 'STATS' ? [f.payload.load] : []));
  t.ok(loads.length < REPORTS, `superseded reports were dropped (${loads.length} of ${REPORTS} delivered)`);
  t.same(loads, [...loads].sort((a, b) => a - b), 'in the order the node sent them');
  t.equal(loads.at(-1), REPORTS, 'the latest report is delivered');
  t.equal(fromNode.at(-1)?.op, 'INSTANCE_STATE', 'the event the node sent after its reports comes after them');
  node.socket.destroy();
  controller.socket.destroy();
});

type Peer = Awaited<ReturnType<typeof joinAs>>;

/** The node's frames so far are taken by the scheduler: its answer to a frame it may not send
 *  comes after them. Waited for as it comes, not polled: fillLink asks it hundreds of times. */
function taken(node: Peer, what: string): Promise<void> {
  const answered = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out after 10 s waiting for ${what}`)), 10_000);
    const answer = (f: Frame) => {
      if (f.type !== 'ERROR') return;
      clearTimeout(timer);
      node.conn.off('frame', answer);
      resolve();
    };
    node.conn.on('frame', answer);
  });
  node.conn.send({ type: 'COMMAND', op: 'CORDONED', payload: { nodes: [] } });
  return answered;
}

/** Sends `report`s from the node until the controller's link is backed up for good: the kernel
 *  takes no more of what the scheduler writes, and the scheduler's socket holds more than its
 *  high-water mark (Connection.backedUp), which, the controller reading nothing, it will hold for
 *  ever. From then on the node's frames wait in the scheduler; none goes out. A burst of reports
 *  alone does not do it: the scheduler writes one report a drain, how many drains come in a burst
 *  is timing, and a link whose socket holds less than its high-water mark still takes frames. */
async function fillLink(node: Peer, report: (n: number) => Frame): Promise<number> {
  const link = (scheduler as unknown as { controller?: { conn: { socket: { writableNeedDrain: boolean } } } }).controller!.conn.socket;
  for (let n = 1; n <= 10 * REPORTS; n++) {
    node.conn.send(report(n));
    await taken(node, `the scheduler to take report ${n}`);
    if (link.writableNeedDrain) return n;
  }
  throw new Error(`the controller's link took ${10 * REPORTS} reports of 20 KB, and is not full`);
}

const state = (instanceId: string, s: 'pending' | 'active' | 'exited', exit?: { reason: string; console: string[] }): Frame =>
  ({ type: 'EVENT', op: 'INSTANCE_STATE', payload: { instanceId, nodeId: 'node-2', state: s, ...(exit ? { exit } : {}) } });

t.test('a controller that reads slowly gets each instance\'s latest state, every death, in the node\'s order', async (t) => {
  const controller = await joinAs(pki.controller, 'controller', ['controller']);
  controller.socket.pause();
  const node = await joinAs(pki.agent, 'node-2', ['compute']);
  // Fill the link: from now on the node's reports and states wait in the scheduler.
  await fillLink(node, (n) => ({ ...stats(n), payload: { ...stats(n).payload, nodeId: 'node-2', hostname: 'node-2' } }) as Frame);
  const STARTS = 50;
  for (let i = 0; i < STARTS; i++) node.conn.send(state(`start-${i}`, 'pending'));
  for (let i = 0; i < STARTS; i++) node.conn.send(state(`start-${i}`, 'active'));
  // A death, then the same instance started again: both are told.
  node.conn.send(state('dies', 'exited', { reason: 'killed', console: ['last line'] }));
  node.conn.send(state('dies', 'active'));
  node.conn.send({ type: 'EVENT', op: 'INSTANCE_DELETED', payload: { instanceId: 'deleted', nodeId: 'node-2' } });
  node.conn.send({ type: 'COMMAND', op: 'CORDONED', payload: { nodes: [] } });
  await waitFor('the scheduler to take the frames', () => node.frames.some((f) => f.type === 'ERROR'));

  controller.socket.resume();
  await waitFor('the node\'s last frame to reach the controller', () => controller.frames.some((f) => f.op === 'INSTANCE_DELETED'), { timeoutMs: 20_000 });
  const fromNode = controller.frames.filter((f) => f.from === 'node-2' && f.op !== 'STATS');
  const told = fromNode.map((f) => (f.op === 'INSTANCE_STATE' ? `${f.payload.instanceId} ${f.payload.state}${f.payload.exit ? ' exit' : ''}` : f.op));
  t.same(told, [
    ...Array.from({ length: STARTS }, (_, i) => `start-${i} active`),
    'dies exited exit', 'dies active', 'INSTANCE_DELETED',
  ], 'each start\'s pending was replaced by its active; the death and what followed it are told, in order');
  node.socket.destroy();
  controller.socket.destroy();
});

t.test('a controller that goes while frames wait for it learns, when it comes back, each node\'s whole state, then what came meanwhile, in the node\'s order', async (t) => {
  const first = await joinAs(pki.controller, 'controller', ['controller']);
  first.socket.pause();
  const node = await joinAs(pki.agent, 'node-3', ['compute']);
  const report = (n: number) => ({ ...stats(n), payload: { ...stats(n).payload, nodeId: 'node-3', hostname: 'node-3' } }) as Frame;
  const at = (s: 'pending' | 'active' | 'exited', id: string, exit?: { reason: string; console: string[] }) =>
    ({ ...state(id, s, exit), payload: { ...state(id, s, exit).payload, nodeId: 'node-3' } }) as Frame;
  const told = (f: Frame) => (f.op === 'INSTANCE_STATE' ? `${f.payload.instanceId} ${f.payload.state}${f.payload.exit ? ' exit' : ''}` : f.op);
  // Fill the link, then states that wait in the scheduler behind it.
  const last = await fillLink(node, report);
  node.conn.send(at('pending', 'held'));
  node.conn.send(at('active', 'held'));
  await taken(node, 'the scheduler to take the frames before the controller goes');

  // The controller goes without reading a byte (its socket reset, as when it is killed); the node
  // goes on meanwhile.
  const seen = gone.length;
  first.socket.destroy();
  await waitFor('the scheduler to see the controller gone', () => gone.slice(seen).includes('controller'));
  node.conn.send(report(last + 1));
  node.conn.send(at('exited', 'died', { reason: 'killed', console: ['last line'] }));
  node.conn.send(at('active', 'meanwhile'));
  node.conn.send({ type: 'EVENT', op: 'INSTANCE_DELETED', payload: { instanceId: 'deleted-meanwhile', nodeId: 'node-3' } });
  await taken(node, 'the scheduler to take the frames sent while no controller was there');

  const again = await joinAs(pki.controller, 'controller', ['controller']);
  await waitFor('the last frame to reach the controller that came back', () => again.frames.some((f) => f.op === 'INSTANCE_DELETED'), { timeoutMs: 20_000 });
  const fromNode = again.frames.filter((f) => f.from === 'node-3' || (f.op === 'NODE_CONNECTED' && f.payload.nodeId === 'node-3'));
  t.equal(fromNode[0]?.op, 'NODE_CONNECTED', 'first, that the node is there');
  const reports = fromNode.flatMap((f, i) => (f.op === 'STATS' ? [{ i, load: f.payload.load }] : []));
  t.equal(reports.at(-1)?.load, last + 1, 'the node\'s latest report: every instance\'s state, whatever frames went with the controller');
  t.ok(reports.every((r) => r.load >= last), `no report older than the last one held (${reports.map((r) => r.load).join(', ')})`);
  const meanwhile = fromNode.findIndex((f) => f.op === 'INSTANCE_STATE' && f.payload.instanceId === 'died');
  t.ok(reports.length && reports[0].i < meanwhile, 'a report before what the node sent meanwhile');
  t.same(fromNode.slice(meanwhile).filter((f) => f.op !== 'STATS').map(told), ['died exited exit', 'meanwhile active', 'INSTANCE_DELETED'],
    'what the node sent while the controller was away, a death with its reason among it, in the node\'s order');
  node.socket.destroy();
  again.socket.destroy();
});

t.test('a controller that comes back is told, in its HELLO, what the scheduler placed or refused and was not told is saved', async (t) => {
  const first = await joinAs(pki.controller, 'controller', ['controller']);
  const node = await joinAs(pki.agent, 'node-4', ['compute']);
  node.conn.send({ ...stats(0), payload: { ...stats(0).payload, nodeId: 'node-4', hostname: 'node-4', instances: [] } } as Frame);
  const start = (instanceId: string, nodeId?: string): Frame => ({
    type: 'COMMAND', op: 'START', payload: {
      instanceId, tenantId: 't', workloadId: 'w', vmType: 'docker', image: 'debian', resources: { vcpus: 1, memMB: 16, diskMB: 16 },
      requirements: { nodeId }, network: { ip: '172.16.0.2', mac: '02:00:00:00:00:02', subnet: '172.16.0.0/24', gateway: '172.16.0.1' },
    },
  });
  /** The scheduler's answers about STARTs, in the order they came. */
  const answers = (frames: Frame[]) => frames.flatMap((f) => (f.op === 'PLACED' || (f.op === 'START_FAILURE' && !f.from) ? [f.payload] : []));
  await waitFor('the node to be a candidate', () => {
    first.conn.send(start('probe'));
    return answers(first.frames).some((a) => a.instanceId === 'probe' && 'nodeId' in a);
  });
  first.conn.send(start('saved'));
  first.conn.send(start('refused', 'no-such-node'));
  first.conn.send(start('placed'));
  // A link is read in order: the answer to the last START comes last.
  const told = await waitFor('the three answers', () => (answers(first.frames).some((a) => a.instanceId === 'placed') ? answers(first.frames) : undefined));
  const seqOf = (id: string) => told.find((a) => a.instanceId === id)!.seq!;
  t.ok(told.every((a, i) => i === 0 || a.seq! > told[i - 1].seq!), 'each answer is numbered, in order');
  // Saved up to 'saved': the probe and it are not told again.
  first.conn.send({ type: 'COMMAND', op: 'PLACEMENTS_SAVED', payload: { upTo: seqOf('saved') } });
  // A frame the scheduler answers at once: by then it took the one above (a link is read in order).
  first.conn.send({ type: 'COMMAND', op: 'STOP', to: 'nowhere', payload: { instanceId: 'x' } });
  await waitFor('the scheduler to take the acknowledgement', () => first.frames.some((f) => f.op === 'UNREACHABLE'));
  const seen = gone.length;
  first.socket.destroy();
  await waitFor('the scheduler to see the controller gone', () => gone.slice(seen).includes('controller'));

  const again = await joinAs(pki.controller, 'controller', ['controller']);
  const hello = again.frames[0];
  if (hello.op !== 'HELLO') return t.fail(`a HELLO first, not ${hello.op}`);
  t.same(hello.payload.placed, [{ instanceId: 'placed', nodeId: 'node-4', seq: seqOf('placed') }], 'the placement not said saved is told again');
  t.same(hello.payload.refused?.map((r) => [r.instanceId, r.reason, r.seq]), [['refused', 'no_cn', seqOf('refused')]], 'so is the refusal');
  // Said saved now, they are not told to the next one.
  again.conn.send({ type: 'COMMAND', op: 'PLACEMENTS_SAVED', payload: { upTo: seqOf('placed') } });
  again.conn.send({ type: 'COMMAND', op: 'STOP', to: 'nowhere', payload: { instanceId: 'x' } });
  await waitFor('the scheduler to take the acknowledgement', () => again.frames.some((f) => f.op === 'UNREACHABLE'));
  const seen2 = gone.length;
  again.socket.destroy();
  await waitFor('the scheduler to see the controller gone', () => gone.slice(seen2).includes('controller'));
  const third = await joinAs(pki.controller, 'controller', ['controller']);
  const hello3 = third.frames[0];
  t.same(hello3.op === 'HELLO' && [hello3.payload.placed, hello3.payload.refused], [[], []], 'nothing is told again once saved');
  t.notOk(node.frames[0].op === 'HELLO' && 'placed' in node.frames[0].payload, 'a node is told none of it');
  node.socket.destroy();
  third.socket.destroy();
});

t.test('a controller that comes back is told each connected CNCI\'s last CNCI_READY again; not one of a CNCI that left', async (t) => {
  const first = await joinAs(pki.controller, 'controller', ['controller']);
  const ready = (id: string): Frame => ({ type: 'STATUS', op: 'CNCI_READY', payload: { instanceId: id, tenantId: `tenant-of-${id}`, address: '10.0.0.5' } });
  const staying = await joinAs(pki.cnci, 'cnci-staying', ['cnci']);
  const leaving = await joinAs(pki.cnci, 'cnci-leaving', ['cnci']);
  staying.conn.send(ready('cnci-staying'));
  leaving.conn.send(ready('cnci-leaving'));
  await waitFor('both to reach the controller', () => first.frames.filter((f) => f.op === 'CNCI_READY').length === 2);
  const seen = gone.length;
  leaving.socket.destroy();
  first.socket.destroy();
  await waitFor('the scheduler to see both gone', () => ['controller', 'cnci-leaving'].every((id) => gone.slice(seen).includes(id)));
  const again = await joinAs(pki.controller, 'controller', ['controller']);
  // An answer on the controller's link comes after what the scheduler told it when it connected.
  again.conn.send({ type: 'COMMAND', op: 'STOP', to: 'nowhere', payload: { instanceId: 'x' } });
  await waitFor('the scheduler\'s answer', () => again.frames.some((f) => f.op === 'UNREACHABLE'));
  t.same(again.frames.filter((f) => f.op === 'CNCI_READY').map((f) => [f.from, f.op === 'CNCI_READY' && f.payload.instanceId]), [['cnci-staying', 'cnci-staying']],
    'the staying CNCI\'s readiness, stamped with its id, and nothing of the one that left');
  staying.socket.destroy();
  again.socket.destroy();
});
