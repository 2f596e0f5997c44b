// stopDockerd: a dockerd that, like 20.10's, stops its containerd on SIGTERM and then lingers is
// killed as soon as that containerd is gone, and the containerd pid file it would have removed goes;
// one that ends by itself is only waited for.
import t from 'tap';
import { access, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startDetached } from '../../shared/detached.ts';
import { stopDockerd } from '../../shared/dockerd.ts';
import { isAlive } from '../../shared/is-alive.ts';
import { waitFor } from '../../shared/wait-for.ts';
import { tempDir } from '../../shared/temp-dir.ts';

const { path: dir, remove } = tempDir('ciao-stop-dockerd');
t.teardown(remove);
const exists = (p: string) => access(p).then(() => true, () => false);

/** A stand-in dockerd: runs a child "containerd" whose pid it writes; on SIGTERM it ends that child,
 *  then waits `lingerMs` before it exits. */
async function fakeDockerd(name: string, lingerMs: number) {
  const pidFile = join(dir, `${name}-containerd.pid`);
  const code = `
    const { spawn } = require('node:child_process');
    const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    require('node:fs').writeFileSync(${JSON.stringify(pidFile)}, String(child.pid));
    process.on('SIGTERM', () => { child.kill('SIGTERM'); setTimeout(() => process.exit(0), ${lingerMs}); });
    setInterval(() => {}, 1000);`;
  const { pid } = await startDetached({ name, command: process.execPath, args: ['-e', code], log: join(dir, `${name}.log`) });
  await waitFor('the containerd pid file', () => exists(pidFile), { timeoutMs: 5000 });
  return { pid, pidFile };
}

t.test('a dockerd that lingers after its containerd ended is killed then, and the containerd pid file goes', async (t) => {
  const d = await fakeDockerd('lingers', 30_000);
  const t0 = performance.now();
  await stopDockerd(d.pid, 20_000, d.pidFile);
  const ms = performance.now() - t0;
  t.notOk(isAlive(d.pid), 'dockerd is gone');
  t.ok(ms < 10_000, `it did not wait out the linger (${ms.toFixed(0)} ms)`);
  t.notOk(await exists(d.pidFile), 'the containerd pid file is removed');
});

t.test('a dockerd that exits by itself is waited for, its files left to it', async (t) => {
  const d = await fakeDockerd('prompt', 0);
  await writeFile(join(dir, 'untouched'), '');
  await stopDockerd(d.pid, 20_000, join(dir, 'untouched'));
  t.notOk(isAlive(d.pid), 'dockerd is gone');
  t.ok(await exists(join(dir, 'untouched')), 'a pid file that names no child of it is not removed');
});
