// A scheduler on a loopback port with a fresh cluster PKI in a temporary folder, stopped and
// removed when the test file ends (the scheduler's own integration tests).
import t from 'tap';
import { join } from 'node:path';
import { createClusterPki } from '../../shared/pki.ts';
import { readTls } from '../../shared/tls-files.ts';
import { silentLogger, type Logger } from '../../shared/log.ts';
import { Scheduler, type SchedulerOptions } from '../../scheduler/server.ts';
import { tempDir } from '../../shared/temp-dir.ts';

export async function testScheduler(prefix: string, logger: Logger = silentLogger(), opts: Pick<SchedulerOptions, 'gathering'> = {}) {
  const { path: dir, remove } = tempDir(prefix);
  const pki = await createClusterPki(join(dir, 'pki'), 'test');
  const scheduler = new Scheduler({ tls: readTls({ ca: pki.ca.cert, ...pki.scheduler }), logger, ...opts });
  const port = await scheduler.listen(0);
  t.teardown(async () => {
    await scheduler.close();
    remove();
  });
  return { dir, pki, scheduler, port };
}
