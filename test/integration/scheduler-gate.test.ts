// The way a joined machine's launcher reaches the scheduler (docs/protocol.md, "Transport"): the
// scheduler's Unix socket (0600) and the scheduler gate that pipes TCP connections to it. Through
// both, the scheduler's checks are the same as on its port: a joined node's certificate takes its
// own id with the compute role, and nothing else.
import t from 'tap';
import tls from 'node:tls';
import net from 'node:net';
import { once } from 'node:events';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { createClusterPki, issueCert } from '../../shared/pki.ts';
import { readTls } from '../../shared/tls-files.ts';
import { silentLogger } from '../../shared/log.ts';
import { Connection } from '../../protocol/frame.ts';
import type { Frame, Role } from '../../protocol/payloads.ts';
import { Scheduler } from '../../scheduler/server.ts';
import { tempDir } from '../../shared/temp-dir.ts';
import { readPidFile, startDetached, stopProcess } from '../../shared/detached.ts';
import { REPO_ROOT } from '../../singlevm/processes.ts';

const { path: dir, remove: removeDir } = tempDir('ciao-gate');
const pki = await createClusterPki(join(dir, 'pki'), 'test');
const joined = await issueCert(join(dir, 'pki'), pki.ca, { name: 'join-1', commonName: 'test-join-1', roles: ['compute'], days: 1 });
const scheduler = new Scheduler({ tls: readTls({ ca: pki.ca.cert, ...pki.scheduler }), logger: silentLogger() });
await scheduler.listen(0);
const socket = join(dir, 'scheduler.sock');
await scheduler.listenSocket(socket);
// A free port for the gate (on loopback here; in a cluster, 198.51.100.1 inside its namespace).
const probe = net.createServer().listen(0, '127.0.0.1');
await once(probe, 'listening');
const gatePort = (probe.address() as net.AddressInfo).port;
probe.close();
const pidFile = join(dir, 'gate.pid');
await startDetached({
  name: 'scheduler gate', command: process.execPath, log: join(dir, 'gate.out'), pidFile, pidFileBy: 'process', cwd: REPO_ROOT,
  args: ['--import', 'tsx', join(REPO_ROOT, 'singlevm', 'scheduler-gate.ts'), '--listen', `127.0.0.1:${gatePort}`, '--socket', socket, '--pid-file', pidFile],
});
t.teardown(async () => {
  const pid = await readPidFile(pidFile);
  if (pid) await stopProcess(pid);
  await scheduler.close();
  removeDir();
});

/** HELLO through the gate with a key pair; the first frame answered. */
async function hello(material: { cert: string; key: string }, id: string, roles: Role[]): Promise<Frame | Error> {
  const s = tls.connect({ host: '127.0.0.1', port: gatePort, servername: 'localhost', ...readTls({ ca: pki.ca.cert, ...material }) });
  await once(s, 'secureConnect');
  const conn = new Connection(s);
  conn.send({ type: 'HELLO', op: 'HELLO', payload: { id, roles, tunnelIp: '198.51.100.61' } });
  const first = await Promise.race([once(conn, 'frame').then(([f]) => f as Frame), once(conn, 'close').then(() => new Error('closed without an answer'))]);
  s.destroy();
  return first;
}

t.test("the scheduler's socket is its owner's only", async (t) => {
  t.equal((await stat(socket)).mode & 0o777, 0o600);
});

t.test('through the gate, a joined node takes its own id with the compute role', async (t) => {
  t.match(await hello(joined, 'test-join-1', ['compute']), { type: 'HELLO', payload: { id: 'scheduler' } });
});

t.test("through the gate, the certificate's limits hold: no other id, no network role", async (t) => {
  t.match(await hello(joined, 'test-join-2', ['compute']), { type: 'ERROR', op: 'BAD_IDENTITY' });
  t.match(await hello(joined, 'test-join-1', ['compute', 'network']), { type: 'ERROR', op: 'BAD_ROLE' });
});

t.test('a client without a certificate of the cluster gets no handshake through the gate', async (t) => {
  const s = tls.connect({ host: '127.0.0.1', port: gatePort, servername: 'localhost', ca: await import('node:fs').then((fs) => fs.readFileSync(pki.ca.cert)) });
  const [outcome] = await Promise.race([once(s, 'error'), once(s, 'close').then(() => [new Error('closed')])]);
  t.ok(outcome instanceof Error, `refused: ${(outcome as Error).message}`);
  s.destroy();
});
