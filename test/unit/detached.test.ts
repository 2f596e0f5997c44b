// shared/detached.ts: the one way long-lived processes are started (log, pid file, readiness that
// gives up when the process exits) and stopped (SIGTERM, then SIGKILL).
import t from 'tap';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readPidFile, startDetached, stopFromPidFile, stopProcess, type DetachedSpec } from '../../shared/detached.ts';
import { isAlive } from '../../shared/is-alive.ts';
import { waitFor } from '../../shared/wait-for.ts';
import { tempDir } from '../../shared/temp-dir.ts';

const { path: dir, remove } = tempDir('ciao-detached');
t.teardown(remove);

/** A node program as the detached process. */
const nodeProgram = (name: string, code: string): DetachedSpec => ({
  name, command: process.execPath, args: ['-e', code], log: join(dir, `${name}.log`), pidFile: join(dir, `${name}.pid`),
});
const runsForever = 'setInterval(() => {}, 1000);';

t.test('started: its pid in the pid file, its output in the log, in a session of its own; stopped with SIGTERM', async (t) => {
  const spec = nodeProgram('plain', `console.log('hello from', process.pid); ${runsForever}`);
  const exits: [number, number | null, string | null][] = [];
  const { pid } = await startDetached({ ...spec, onExit: (p, code, signal) => exits.push([p, code, signal]) });
  t.equal(await readPidFile(spec.pidFile!), pid, 'the pid file names it');
  t.equal(Number(await readFile(spec.pidFile!, 'utf8')), pid);
  await waitFor('its output in the log', async () => (await readFile(spec.log, 'utf8')).includes(`hello from ${pid}`), { timeoutMs: 5000 });
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  t.equal(Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[3]), pid, 'it leads its own session');
  await stopFromPidFile(spec.pidFile!);
  t.notOk(isAlive(pid), 'stopped');
  await waitFor('the exit to be reported', () => exits.length === 1, { timeoutMs: 5000 });
  t.same(exits, [[pid, null, 'SIGTERM']], 'onExit heard how it ended');
  t.equal(await readPidFile(spec.pidFile!), undefined, 'a pid file naming a process that ended names none');
});

t.test('one that ignores SIGTERM is killed once the grace period is over', async (t) => {
  const spec = nodeProgram('stubborn', `process.on('SIGTERM', () => console.log('ignored')); console.log('up'); ${runsForever}`);
  const { pid } = await startDetached({ ...spec, ready: async () => (await readFile(spec.log, 'utf8')).includes('up') });
  await stopProcess(pid, 300);
  t.notOk(isAlive(pid), 'gone');
  t.match(await readFile(spec.log, 'utf8'), /ignored/, 'it was asked with SIGTERM first');
});

t.test('one that exits before it is ready fails the start at once, naming its exit and its log', async (t) => {
  const spec = nodeProgram('quitter', `console.error('bad config'); process.exit(3);`);
  await t.rejects(startDetached({ ...spec, ready: () => false, readyTimeoutMs: 60_000 }),
    { message: `quitter exited with code 3: see ${spec.log}` }, 'not a timeout: the wait ends with the process');
  t.match(await readFile(spec.log, 'utf8'), /bad config/);
});

t.test('one that is not ready in time is killed, and the error says what it waited for', async (t) => {
  const spec = nodeProgram('slow', runsForever);
  await t.rejects(startDetached({ ...spec, ready: () => false, readyTimeoutMs: 300 }), { message: /timed out after 0\.3 s waiting for slow to be ready/ });
  const pid = Number(await readFile(spec.pidFile!, 'utf8'));
  await waitFor('the process that was not ready to be killed', () => !isAlive(pid), { timeoutMs: 5000 });
  t.notOk(isAlive(pid));
});

t.test('a program that writes its own pid file is ready only once the file names it', async (t) => {
  const spec = nodeProgram('writer', `setTimeout(() => require('fs').writeFileSync(${JSON.stringify(join(dir, 'writer.pid'))}, process.pid + '\\n'), 300); ${runsForever}`);
  await writeFile(spec.pidFile!, `${process.pid}\n`); // a stale file naming another live process
  const { pid } = await startDetached({ ...spec, pidFileBy: 'process' });
  t.equal(await readPidFile(spec.pidFile!), pid, 'the wait ended on the file naming the new process');
  await stopProcess(pid);
});

t.test('a program that cannot be run says so', async (t) => {
  await t.rejects(startDetached({ name: 'nothing', command: join(dir, 'no-such-program'), args: [], log: join(dir, 'nothing.log') }),
    { message: /could not start nothing .*ENOENT/ });
});

t.test('readPidFile: nothing for a missing file, garbage, or pid 1', async (t) => {
  t.equal(await readPidFile(join(dir, 'missing.pid')), undefined);
  await writeFile(join(dir, 'garbage.pid'), 'twelve\n');
  t.equal(await readPidFile(join(dir, 'garbage.pid')), undefined);
  await writeFile(join(dir, 'init.pid'), '1\n');
  t.equal(await readPidFile(join(dir, 'init.pid')), undefined, 'never init');
});

t.test('one that notifies (shared/ready-notify.ts) is ready when it says so, and its channel holds neither process', async (t) => {
  const notify = `process.send({ ciao: 'ready' }, undefined, {}, () => process.disconnect());`;
  const spec = nodeProgram('notifier', `setTimeout(() => { console.log('now ready'); ${notify} }, 200); ${runsForever}`);
  const { pid, child } = await startDetached({ ...spec, notifies: true });
  t.match(await readFile(spec.log, 'utf8'), /now ready/, 'not before it said so');
  t.notOk(child.connected, 'the channel is closed');
  await stopProcess(pid);
});

t.test('one that notifies but exits, or closes its channel, before it says it is ready fails the start at once', async (t) => {
  const exits = nodeProgram('quitter', `console.log('bye'); process.exit(3);`);
  await t.rejects(startDetached({ ...exits, notifies: true, readyTimeoutMs: 60_000 }), { message: /^quitter exited with code 3: see .*quitter\.log$/ });
  const silent = nodeProgram('silent', `process.disconnect(); ${runsForever}`);
  await t.rejects(startDetached({ ...silent, notifies: true, readyTimeoutMs: 60_000 }), { message: /^silent closed its readiness channel without saying it is ready/ });
  const pid = Number(await readFile(silent.pidFile!, 'utf8'));
  await waitFor('the silent one to be killed', () => !isAlive(pid), { timeoutMs: 5000 });
});
