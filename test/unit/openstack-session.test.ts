// The openstack client process BAT's openstack-cli suite runs its commands through (bat/openstack-session.ts
// and bat/openstack-driver.py), with Debian's python3-openstackclient and no cluster: answers framed to
// the right command when several run at once, failures named as a failed `openstack` process names
// them, timeouts, a driver that dies, bad requests, and one login for many commands.
import t from 'tap';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, readdir } from 'node:fs/promises';
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { execa } from 'execa';
import { CommandError } from '../../shared/run.ts';
import { tempDir } from '../../shared/temp-dir.ts';
import { freePort } from '../../singlevm/ports.ts';
import { openstackClouds, openstackInterpreter, requireOpenstackCli } from '../../bat/openstack-cli.ts';
import { DRIVER, OpenstackSession } from '../../bat/openstack-session.ts';
import { identityService } from '../helpers/identity-service.ts';

await requireOpenstackCli();
const python = await openstackInterpreter();
const { path: dir, remove } = tempDir('openstack-session');
t.teardown(remove);

// An identity URL where nothing listens (commands fail at once), and one that accepts and never
// answers (commands hang until their timeout).
const refusedUrl = `http://127.0.0.1:${await freePort()}`;
const sockets: Socket[] = [];
const silent = createServer((s) => sockets.push(s));
silent.listen(0, '127.0.0.1');
await once(silent, 'listening');
const silentUrl = `http://127.0.0.1:${(silent.address() as { port: number }).port}`;
t.teardown(() => {
  for (const s of sockets) s.destroy();
  silent.close();
});

// A clouds.yaml per identity URL, in a folder of its own (the session's HOME).
const someUser = { username: 'u', password: 'p', project: 'p' };
const cloudAt = async (name: string, identityUrl: string) => {
  await mkdir(join(dir, name));
  await openstackClouds(join(dir, name), { identityUrl, caFile: '/dev/null' }, { [name]: someUser });
};
await cloudAt('refused', refusedUrl);
await cloudAt('silent', silentUrl);
await cloudAt('closing', silentUrl);

const session = (cloud: string) => {
  const home = join(dir, cloud);
  const s = new OpenstackSession({ python, env: { PATH: process.env.PATH, HOME: home, OS_CLIENT_CONFIG_FILE: join(home, 'clouds.yaml'), OS_CLOUD: cloud }, workdir: home });
  t.teardown(() => s.close());
  return s;
};
// Sessions the tests below share (each test starts a driver only where it must: Python starts in seconds).
const refused = session('refused');
const silentSession = session('silent');

t.test('commands run side by side, each answered with its own output, the last newline cut as execa cuts it', async (t) => {
  const s = refused;
  const [version, completion, commands, help] = await Promise.all([
    s.run(['--version'], 60_000),
    s.run(['complete'], 60_000),
    s.run(['command', 'list', '-f', 'json'], 60_000),
    s.run(['help', 'server', 'pause'], 60_000),
  ]);
  t.match(version.stdout, /^openstack \d+\.\d+\.\d+$/, '--version: the program is named openstack, as the command is');
  const alone = await execa('openstack', ['complete'], { env: { PATH: process.env.PATH, HOME: dir }, extendEnv: false });
  t.ok(completion.stdout.length > 65_536, `complete: more than a pipe holds (${completion.stdout.length} characters)`);
  t.equal(completion.stdout, alone.stdout, 'complete: what an openstack process of its own prints, byte for byte');
  const groups = JSON.parse(commands.stdout) as { 'Command Group': string; Commands: string[] }[];
  t.ok(groups.some((g) => g.Commands.includes('server pause')), 'command list: server pause among the commands');
  t.match(help.stdout, /^usage: openstack server pause/, 'help server pause: its own usage');
});

t.test('a failed command throws a CommandError naming the command, its exit status and stderr', async (t) => {
  const s = refused;
  const err = await s.run(['server', 'list'], 60_000).catch((e: unknown) => e);
  t.type(err, CommandError);
  const { argv, exitCode, stderr, message } = err as CommandError;
  t.same(argv, ['openstack', 'server', 'list']);
  t.equal(exitCode, 1, 'exit status 1, as the openstack process exits');
  t.match(stderr, /Failed to discover available identity versions|Unable to establish connection/, 'the client\'s own words on stderr');
  t.match(message, /^openstack server list failed \(exit 1\): /);

  const unknown = await s.run(['no-such-command'], 60_000).catch((e: unknown) => e) as CommandError;
  t.equal(unknown.exitCode, 2, 'an unknown command: exit 2, as openstack exits');
  t.match((await s.run(['--version'], 60_000)).stdout, /^openstack /, 'the session goes on after failures');
});

t.test('a command past its timeout is killed and reported so; the others go on', async (t) => {
  const s = silentSession;
  const [hung, version] = await Promise.allSettled([s.run(['token', 'issue'], 2_000), s.run(['--version'], 60_000)]);
  t.equal(hung.status, 'rejected');
  const err = (hung as PromiseRejectedResult).reason as CommandError;
  t.type(err, CommandError);
  t.equal(err.exitCode, -9, 'killed (SIGKILL)');
  t.match(err.message, /^openstack token issue failed \(exit -9\): .*timed out after 2 s: killed/);
  t.match(version, { status: 'fulfilled', value: { stdout: /^openstack / } }, 'the command beside it answered');
});

t.test('a driver that dies fails its running commands with its stderr; the next command starts a new one', async (t) => {
  const s = silentSession;
  const hung = s.run(['token', 'issue'], 60_000).catch((e: unknown) => e);
  // The driver has it once the command's child runs: wait for the driver to be up.
  await s.run(['--version'], 60_000);
  const pid = s.pid!;
  process.kill(pid, 'SIGKILL');
  const err = await hung as CommandError;
  t.type(err, CommandError);
  t.match(err.message, /^openstack token issue failed \(exit \?\): .*the openstack driver \(.*openstack-driver\.py\) exited \(SIGKILL\) before the command ended/);
  t.match((await s.run(['--version'], 60_000)).stdout, /^openstack /, 'a new driver answers');
  t.not(s.pid, pid, 'in a new process');
});

t.test('close kills the commands still running, ends the driver, and leaves nothing in its folder', async (t) => {
  const s = session('closing');
  const hung = s.run(['token', 'issue'], 60_000).catch((e: unknown) => e);
  await s.run(['--version'], 60_000);
  const pid = s.pid!;
  const workdir = join(dir, 'closing');
  t.equal((await readdir(workdir)).filter((n) => n.startsWith('openstack-driver-')).length, 1, 'the driver keeps its commands\' output in its own folder there');
  await s.close();
  t.match((await hung as Error).message, /exited \(code 0\) before the command ended/, 'the running command is told');
  t.throws(() => process.kill(pid, 0), { code: 'ESRCH' }, 'the driver is gone');
  t.same((await readdir(workdir)).filter((n) => n.startsWith('openstack-driver-')), [], 'its folder is gone');
});

t.test('a line that is not a request ends the driver with exit 2 and the reason', async (t) => {
  // The last: an id already running (the first token issue hangs on the silent identity URL).
  const hang = '{"id": 1, "argv": ["token", "issue"]}';
  const lines = ['not json', '{"id": 1, "argv": ["x", 2]}', `${hang}\n${hang}`];
  const silentEnv = { HOME: join(dir, 'silent'), OS_CLIENT_CONFIG_FILE: join(dir, 'silent', 'clouds.yaml'), OS_CLOUD: 'silent' };
  await Promise.all(lines.map(async (line) => {
    const child = spawn(python[0], [...python.slice(1), DRIVER], { env: { PATH: process.env.PATH, ...silentEnv }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c) => { stderr += c; });
    child.stdin.end(`${line}\n`);
    const [code] = await once(child, 'close');
    t.equal(code, 2, `${line}: exit 2`);
    t.match(stderr, /^openstack-driver: (not JSON|not a request|request 1 is running already)/m, `${line}: says why`);
  }));
});

t.test('an idle session keeps no process alive: a script that never closes it exits', async (t) => {
  const script = `import { OpenstackSession } from ${JSON.stringify(new URL('../../bat/openstack-session.ts', import.meta.url).pathname)};
const s = new OpenstackSession({ python: ${JSON.stringify(python)}, env: { PATH: process.env.PATH, HOME: ${JSON.stringify(dir)} } });
console.log((await s.run(['--version'], 60_000)).stdout);`;
  const r = await execa('node', ['--import', 'tsx', '--input-type=module', '-e', script], { timeout: 60_000, reject: false });
  t.equal(r.exitCode, 0, r.stderr);
  t.match(r.stdout, /^openstack /);
});

t.test('one login for many commands: later commands reuse the token, as the interactive shell does', async (t) => {
  const identity = await identityService('openstack-session-identity');
  t.teardown(() => identity.close());
  const caFile = join(identity.dir, 'pki', 'ca.crt');
  const { demo } = await openstackClouds(identity.dir, { identityUrl: identity.url, caFile }, { demo: { username: 'demo', password: 'dpw', project: 'demo' } });
  t.teardown(() => demo.close());
  const first = await demo.json<{ id: string; expires: string }>('token', 'issue');
  const again = await demo.json<{ id: string }>('token', 'issue');
  t.equal(again.id, first.id, 'the second command shows the token the first got');
  t.match(await demo.json('project', 'list', '--my-projects'), [{ Name: 'demo' }], 'and the token works');

  const other = await execa('openstack', ['token', 'issue', '-f', 'json'], { env: { PATH: process.env.PATH, HOME: identity.dir, OS_CLIENT_CONFIG_FILE: join(identity.dir, 'clouds.yaml'), OS_CLOUD: 'demo' }, extendEnv: false });
  t.not(JSON.parse(other.stdout).id, first.id, 'an openstack process of its own logs in anew (so the same id above is the reuse)');
});
