// singlevm/keeper.sh with a small daemon of its own (docs/lifecycle.md, "The controller's keeper"):
// started as setup starts the controller (startDaemon with `keep`), it answers on the socket the
// keeper holds; killed, it is started again at once, and a request made meanwhile is answered by
// the new one; an exit 0 or a stop ends the keeper and frees the port; one that keeps failing is
// started again later each time.
import t from 'tap';
import type { Test } from 'tap';
import http from 'node:http';
import { createServer } from 'node:net';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tempDir } from '../../shared/temp-dir.ts';
import { waitFor } from '../../shared/wait-for.ts';
import { freePort } from '../../singlevm/ports.ts';
import { clusterProcesses, isAlive, keeperPidFile, startDaemon, stopProcess } from '../../singlevm/processes.ts';
import { readPidFile } from '../../shared/pid-file.ts';

const DAEMON = `
import http from 'node:http';
const fd = Number(process.argv[process.argv.indexOf('--listen-fd') + 1]);
if (process.env.TOY_CANNOT_START) process.exit(1);
http.createServer((req, res) => {
  res.end(String(process.pid));
  if (req.url === '/exit0') process.exit(0);
}).listen({ fd }, () => {
  process.send?.({ ciao: 'ready' }, undefined, {}, () => process.disconnect());
  if (process.env.TOY_FAILS) setTimeout(() => process.exit(1), 100);
});
`;

/** The toy daemon, kept on a free port; its pid files and log. */
async function kept(t: Test, env: Record<string, string> = {}) {
  const temp = tempDir('keeper');
  const dir = temp.path;
  t.teardown(async () => {
    for (const f of ['toy-keeper.pid', 'toy.pid']) {
      const pid = await readPidFile(join(dir, f));
      if (pid) await stopProcess(pid);
    }
    temp.remove();
  });
  const entry = join(dir, 'toy.mjs');
  await writeFile(entry, DAEMON);
  const port = await freePort();
  const pidFile = join(dir, 'toy.pid');
  const pid = await startDaemon({ name: 'toy', entry, args: [], env, keep: { host: '127.0.0.1', port } }, 'keeper-test', { logs: dir, pids: dir });
  const ask = (path = '/') => new Promise<number>((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d)).on('end', () => resolve(Number(body)));
    }).on('error', reject);
  });
  const keeper = (await readPidFile(keeperPidFile(pidFile)))!;
  return { pid, port, ask, keeper, daemonPid: () => readPidFile(pidFile), log: () => readFile(join(dir, 'toy.out'), 'utf8') };
}

const portFree = (port: number) => new Promise<boolean>((resolve) => {
  const s = createServer().once('error', () => resolve(false)).listen({ host: '127.0.0.1', port }, () => s.close(() => resolve(true)));
});

t.test('killed, the daemon is started again at once on the same socket: a request made meanwhile is answered by the new one', async (t) => {
  const toy = await kept(t);
  t.equal(await toy.ask(), toy.pid, 'the daemon answers on the socket its keeper holds');
  t.not(toy.keeper, toy.pid, 'the keeper is another process');
  process.kill(toy.pid, 'SIGKILL');
  const answeredBy = await toy.ask();
  t.not(answeredBy, toy.pid, 'asked right after the kill: answered, by another daemon');
  t.equal(await toy.daemonPid(), answeredBy, 'whose pid its pid file names');
  t.match(await toy.log(), new RegExp(`toy-keeper: the toy \\(pid ${toy.pid}\\) ended with signal KILL: started again\\n`), 'the keeper says so in the log');

  await toy.ask('/exit0');
  await waitFor('the keeper to end after its daemon exited 0', () => !isAlive(toy.keeper));
  t.ok(await portFree(toy.port), 'nothing holds the port any more');
});

t.test('the keeper and its daemon stopped at the same moment (stop.sh, cleanup.sh): both end, nothing is started again', async (t) => {
  const toy = await kept(t);
  await Promise.all([stopProcess(toy.keeper), stopProcess(toy.pid)]);
  t.notOk(isAlive(toy.keeper), 'the keeper ended');
  t.equal(await toy.daemonPid(), undefined, 'no daemon runs');
  t.ok(await portFree(toy.port), 'nothing holds the port');
});

t.test('a daemon that fails again soon after its start waits longer before each start', async (t) => {
  const toy = await kept(t, { TOY_FAILS: '1' });
  await waitFor('three starts again, the later ones later each time', async () => /started again in 2 s/.test(await toy.log()), { timeoutMs: 15_000 });
  t.match(await toy.log(), /ended with code 1: started again\n[\s\S]*ended with code 1: started again in 1 s\n[\s\S]*ended with code 1: started again in 2 s\n/);
  await stopProcess(toy.keeper);
  t.notOk(isAlive(toy.keeper), 'a stop during the wait ends it');
  t.ok(await portFree(toy.port), 'and nothing holds the port');
});

t.test('a daemon that cannot start fails its start, with nothing of it left: its keeper, a daemon started again, the socket', async (t) => {
  const port = await freePort();
  const temp = tempDir('keeper');
  t.teardown(() => temp.remove());
  const entry = join(temp.path, 'toy.mjs');
  await writeFile(entry, DAEMON);
  const cluster = `keeper-test-${process.pid}`;
  await t.rejects(startDaemon({ name: 'toy', entry, args: [], env: { TOY_CANNOT_START: '1' }, keep: { host: '127.0.0.1', port } }, cluster, { logs: temp.path, pids: temp.path }),
    /toy (exited|closed its readiness channel)/);
  t.same(await clusterProcesses(cluster), [], 'no process of it');
  t.ok(await portFree(port), 'nothing holds the port');
});
