// Real nodes announce their tunnel endpoint in HELLO; the scheduler sends every such node the whole
// set (TUNNEL_PEERS) when it changes, refuses a node claiming another's endpoint, and tells
// simulated nodes (no endpoint) nothing (docs/protocol.md, "Tunnel endpoints").
import t from 'tap';
import { join } from 'node:path';
import { createClusterPki } from '../../shared/pki.ts';
import { readTls } from '../../shared/tls-files.ts';
import { silentLogger } from '../../shared/log.ts';
import type { Frame, TunnelPeers } from '../../protocol/payloads.ts';
import { Scheduler } from '../../scheduler/server.ts';
import { waitFor } from '../../shared/wait-for.ts';
import { tempDir } from '../../shared/temp-dir.ts';
import { ProtocolPeer } from '../../protocol/client.ts';

const { path: dir, remove: removeDir } = tempDir('ciao-tunnels');
const pki = await createClusterPki(join(dir, 'pki'), 'test');
const scheduler = new Scheduler({ tls: readTls({ ca: pki.ca.cert, ...pki.scheduler }), logger: silentLogger() });
const port = await scheduler.listen(0);
const agentTls = readTls({ ca: pki.ca.cert, ...pki.agent });
t.teardown(async () => {
  await scheduler.close();
  removeDir();
});

/** A node that records the TUNNEL_PEERS sets it is sent, and any refusal. */
function node(id: string, tunnelIp?: string) {
  const peer = new ProtocolPeer({ id, roles: ['compute', 'network'], tunnelIp, host: '127.0.0.1', port, tls: agentTls, logger: silentLogger(), retryMs: 60_000 });
  const sets: TunnelPeers['peers'][] = [];
  const errors: Frame[] = [];
  peer.on('frame', (f) => {
    if (f.type === 'COMMAND' && f.op === 'TUNNEL_PEERS') sets.push(f.payload.peers);
    if (f.type === 'ERROR') errors.push(f);
  });
  peer.start();
  return { peer, sets, errors, last: () => sets.at(-1)?.map((p) => `${p.nodeId}=${p.ip}`).sort() };
}

t.test('every real node is sent the whole set as nodes come and go; a simulated node is sent nothing', async (t) => {
  const a = node('node-0', '198.51.100.10');
  await waitFor('node-0 to get its set', () => a.sets.length === 1, { timeoutMs: 5000 });
  t.same(a.last(), ['node-0=198.51.100.10'], 'a lone node gets a set of one: itself');

  const sim = node('node-sim-0');
  const b = node('node-1', '198.51.100.11');
  await waitFor('both nodes to get the set of two', () => a.last()?.length === 2 && b.last()?.length === 2, { timeoutMs: 5000 });
  t.same(a.last(), ['node-0=198.51.100.10', 'node-1=198.51.100.11']);
  t.same(b.last(), a.last());
  t.equal(b.sets.length, 1, 'the newcomer gets one whole set, not a change');

  b.peer.stop();
  await waitFor('node-0 to see node-1 go', () => a.last()?.length === 1, { timeoutMs: 5000 });
  t.same(a.last(), ['node-0=198.51.100.10']);
  t.equal(sim.sets.length, 0, 'the simulated node was told nothing');
  t.ok(sim.peer.isConnected, 'yet it is connected');
  sim.peer.stop();
  a.peer.stop();
  await waitFor('the scheduler to forget them', () => scheduler.nodeCount === 0, { timeoutMs: 5000 });
});

t.test("a node that claims another connected node's endpoint is refused with BAD_IDENTITY", async (t) => {
  const a = node('node-0', '198.51.100.10');
  await waitFor('node-0 to get its set', () => a.sets.length === 1, { timeoutMs: 5000 });
  const thief = node('node-5', '198.51.100.10');
  await waitFor('the thief to be refused', () => thief.errors.length > 0, { timeoutMs: 5000 });
  t.match(thief.errors[0], { op: 'BAD_IDENTITY', payload: { message: /tunnel endpoint 198\.51\.100\.10 is node-0's/ } });
  t.equal(thief.sets.length, 0);
  t.same(a.last(), ['node-0=198.51.100.10'], 'node-0 keeps its endpoint');
  t.equal(a.sets.length, 1, 'and is not told of the thief');
  thief.peer.stop();
  a.peer.stop();
  await waitFor('the scheduler to forget them', () => scheduler.nodeCount === 0, { timeoutMs: 5000 });
});
