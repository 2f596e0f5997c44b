// A test's throwaway cluster is cleaned up when the test process is killed before its teardown
// (test/helpers/cluster-reaper.ts), and only by the teardown when that ran.
import t from 'tap';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { tempDir } from '../../shared/temp-dir.ts';
import { isAlive } from '../../shared/is-alive.ts';
import { waitFor } from '../../shared/wait-for.ts';
import { REPO_ROOT } from '../../singlevm/processes.ts';

/** The stand-in test process, its pid and the reaper watcher's pid (its first line of output). */
async function standIn(mode: 'teardown' | 'hang') {
  const { path: home, remove } = tempDir('ciao-reaper');
  const name = `reap${randomBytes(3).toString('hex')}`;
  const child = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'test/fixtures/reaped-cluster.ts'), name, home, mode], {
    cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'inherit'],
  });
  const watcherPid = await new Promise<number>((resolve, reject) => {
    child.stdout.once('data', (b: Buffer) => resolve(Number(b.toString().trim())));
    child.once('exit', (code) => reject(new Error(`the stand-in exited (${code}) before printing the watcher's pid`)));
  });
  return { home, remove, child, watcherPid };
}

t.test('kill -9 of the test process: the watcher cleans the cluster up and removes its home', async (t) => {
  const { home, child, watcherPid } = await standIn('hang');
  t.ok(isAlive(watcherPid), 'the watcher runs beside the test process');
  child.kill('SIGKILL');
  await waitFor('the watcher to remove the home', () => !existsSync(home), { timeoutMs: 60_000 });
  await waitFor('the watcher to end', () => !isAlive(watcherPid), { timeoutMs: 10_000 });
  t.notOk(existsSync(home), 'home removed');
});

t.test('a teardown that ran: the watcher ends and leaves the cleanup to it', async (t) => {
  const { home, remove, child, watcherPid } = await standIn('teardown');
  t.teardown(remove);
  await new Promise((resolve) => child.once('exit', resolve));
  await waitFor('the watcher to end', () => !isAlive(watcherPid), { timeoutMs: 10_000 });
  t.ok(existsSync(join(home, 'cleaned-by-teardown')), 'the teardown cleaned up, and the watcher did not remove the home');
});
