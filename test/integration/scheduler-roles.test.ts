// The scheduler takes a peer's roles and id from its certificate: claiming a role the certificate
// does not grant, an id it does not name or one already connected, or coming without a certificate
// of the cluster CA, gets the peer refused.
import t from 'tap';
import tls from 'node:tls';
import { once } from 'node:events';
import { join } from 'node:path';
import { createCa, issueCert } from '../../shared/pki.ts';
import { readTls } from '../../shared/tls-files.ts';
import { silentLogger } from '../../shared/log.ts';
import { Connection } from '../../protocol/frame.ts';
import type { Frame, Role } from '../../protocol/payloads.ts';
import { waitFor } from '../../shared/wait-for.ts';
import { testScheduler } from '../helpers/test-scheduler.ts';
import { ProtocolPeer } from '../../protocol/client.ts';
import type { AddressInfo } from 'node:net';

const { dir, pki, scheduler, port } = await testScheduler('ciao-roles');

/** Connects with a key pair, says HELLO with the given roles, returns the first frame answered. */
async function hello(material: { cert: string; key: string }, roles: Role[], id = roles.includes('controller') ? 'controller' : 'node-1', ca = pki.ca.cert): Promise<Frame | Error> {
  const socket = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ...readTls({ ca, ...material }) });
  try {
    await once(socket, 'secureConnect');
  } catch (err) {
    return err as Error;
  }
  const conn = new Connection(socket);
  conn.send({ type: 'HELLO', op: 'HELLO', payload: { id, roles } });
  const first = await Promise.race([
    once(conn, 'frame').then(([f]) => f as Frame),
    once(conn, 'close').then(() => new Error('closed without an answer')),
  ]);
  socket.destroy();
  return first;
}

t.test('an agent certificate may join as compute and network', async (t) => {
  t.match(await hello(pki.agent, ['compute', 'network']), { type: 'HELLO', payload: { id: 'scheduler' } });
});

t.test('claiming a role the certificate does not grant is refused with BAD_ROLE', async (t) => {
  t.match(await hello(pki.cnci, ['compute']), { type: 'ERROR', op: 'BAD_ROLE', payload: { message: /does not grant role compute \(it grants: cnci\)/ } });
  t.match(await hello(pki.agent, ['controller']), { type: 'ERROR', op: 'BAD_ROLE' });
  t.match(await hello(pki.controller, ['controller', 'compute']), { type: 'ERROR', op: 'BAD_ROLE' });
});

t.test('nobody may join as the scheduler, not even with its own certificate', async (t) => {
  t.match(await hello(pki.scheduler, ['scheduler']), { type: 'ERROR', op: 'BAD_ROLE' });
});

t.test('a certificate from another CA does not get through the handshake', async (t) => {
  const otherDir = join(dir, 'other');
  const otherCa = await createCa(otherDir, 'other');
  const rogue = await issueCert(otherDir, otherCa, { name: 'rogue', commonName: 'rogue', roles: ['compute'] });
  const r = await hello(rogue, ['compute']);
  t.ok(r instanceof Error || (r as Frame).type !== 'HELLO', 'refused');
  t.equal(scheduler.nodeCount, 0);
});

t.test("a node's id is its certificate's name: another id is refused with BAD_IDENTITY", async (t) => {
  t.match(await hello(pki.agent, ['compute'], 'node-7'), { type: 'HELLO' }, 'a fleet certificate (node-*) names node-7');
  t.match(await hello(pki.agent, ['compute'], 'controller-ish'), { type: 'ERROR', op: 'BAD_IDENTITY', payload: { message: /does not speak for controller-ish/ } });
  t.match(await hello(pki.controller, ['controller'], 'node-1'), { type: 'ERROR', op: 'BAD_IDENTITY' }, 'nor may the controller speak as a node');
  const single = await issueCert(join(dir, 'pki'), pki.ca, { name: 'node-3', commonName: 'node-3', roles: ['compute'] });
  t.match(await hello(single, ['compute'], 'node-3'), { type: 'HELLO' });
  t.match(await hello(single, ['compute'], 'node-4'), { type: 'ERROR', op: 'BAD_IDENTITY' }, "a node's own certificate names it alone");
});

t.test('a second live connection under one id is refused; the first keeps its place', async (t) => {
  const socket = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ...readTls({ ca: pki.ca.cert, ...pki.agent }) });
  await once(socket, 'secureConnect');
  const first = new Connection(socket);
  first.send({ type: 'HELLO', op: 'HELLO', payload: { id: 'node-5', roles: ['compute'] } });
  t.match((await once(first, 'frame'))[0], { type: 'HELLO' });
  t.match(await hello(pki.agent, ['compute'], 'node-5'), { type: 'ERROR', op: 'BAD_IDENTITY', payload: { message: /node-5 is already connected/ } });
  t.ok(first.isOpen, 'the first connection is kept');
  socket.destroy();
  await waitFor('node-5 to be forgotten', () => scheduler.nodeCount === 0);
  t.match(await hello(pki.agent, ['compute'], 'node-5'), { type: 'HELLO' }, 'once it is gone, the id is free again');
});

t.test('a protocol client refuses a server whose certificate is not the scheduler\'s', async (t) => {
  // The cluster's HTTPS certificate is signed by the same CA and names localhost too, but has no role.
  const impostor = tls.createServer({ ...readTls({ ca: pki.ca.cert, ...pki.https }), requestCert: true, rejectUnauthorized: true });
  const greeted: unknown[] = [];
  impostor.on('secureConnection', (s) => new Connection(s).on('frame', (f) => greeted.push(f)));
  impostor.listen(0, '127.0.0.1');
  await once(impostor, 'listening');
  const errors: string[] = [];
  const logger = { ...silentLogger(), error: (msg: string) => errors.push(msg) };
  const peer = new ProtocolPeer({ id: 'node-1', roles: ['compute'], logger, host: '127.0.0.1', port: (impostor.address() as AddressInfo).port, tls: readTls({ ca: pki.ca.cert, ...pki.agent }), retryMs: 50 });
  peer.start();
  await waitFor('the client to refuse the impostor', () => errors.some((e) => /not the scheduler/.test(e)));
  peer.stop();
  impostor.close();
  t.same(greeted, [], 'it never said HELLO to it');
  t.notOk(peer.isConnected);
});

