// A scheduler on a loopback port with a fresh cluster PKI in a temporary folder, stopped and
// removed when the test file ends (the scheduler's own integration tests).
import t from 'tap';
import tls from 'node:tls';
import { once } from 'node:events';
import { join } from 'node:path';
import { Connection } from '../../protocol/frame.ts';
import type { Frame, Role } from '../../protocol/payloads.ts';
import { waitFor } from '../../shared/wait-for.ts';
import { createClusterPki } from '../../shared/pki.ts';
import { readTls } from '../../shared/tls-files.ts';
import { silentLogger, type Logger } from '../../shared/log.ts';
import { Scheduler, type SchedulerOptions } from '../../scheduler/server.ts';
import { tempDir } from '../../shared/temp-dir.ts';

export async function testScheduler(prefix: string, logger: Logger = silentLogger(), opts: Pick<SchedulerOptions, 'gathering' | 'awayMs'> = {}) {
  const { path: dir, remove } = tempDir(prefix);
  const pki = await createClusterPki(join(dir, 'pki'), 'test');
  const scheduler = new Scheduler({ tls: readTls({ ca: pki.ca.cert, ...pki.scheduler }), logger, ...opts });
  const port = await scheduler.listen(0);
  t.teardown(async () => {
    await scheduler.close();
    remove();
  });
  /** A peer that said HELLO and was greeted; its frames after the greeting are collected. */
  const joinAs = async (material: { cert: string; key: string }, id: string, roles: Role[]) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ...readTls({ ca: pki.ca.cert, ...material }) });
    await once(socket, 'secureConnect');
    const conn = new Connection(socket);
    // Collected from the first: what the scheduler sends right after its greeting comes in the same read.
    const frames: Frame[] = [];
    conn.on('frame', (f) => frames.push(f));
    conn.send({ type: 'HELLO', op: 'HELLO', payload: { id, roles } });
    const greeting = await waitFor(`${id}'s greeting`, () => frames[0]);
    if (greeting.type !== 'HELLO') {
      socket.destroy();
      throw new Error(`${id} refused: ${JSON.stringify(greeting)}`);
    }
    return { socket, conn, frames };
  };
  return { dir, pki, scheduler, port, joinAs };
}
