// The scheduler takes a peer's roles from its certificate: claiming a role the certificate does
// not grant, or coming without a certificate of the cluster CA, gets the peer refused.
import t from 'tap';
import tls from 'node:tls';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClusterPki, createCa, issueCert } from '../../shared/pki.ts';
import { readTls } from '../../shared/tls-files.ts';
import { silentLogger } from '../../shared/log.ts';
import { Connection } from '../../protocol/frame.ts';
import type { Frame, Role } from '../../protocol/payloads.ts';
import { Scheduler } from '../../scheduler/server.ts';

const dir = await mkdtemp(join(tmpdir(), 'ciao-roles-'));
const pki = await createClusterPki(join(dir, 'pki'), 'test');
const scheduler = new Scheduler({ tls: readTls({ ca: pki.ca.cert, ...pki.scheduler }), logger: silentLogger() });
const port = await scheduler.listen(0);
t.teardown(async () => {
  await scheduler.close();
  await rm(dir, { recursive: true, force: true });
});

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
