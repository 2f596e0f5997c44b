// SSH into guests with one shared connection each (singlevm/guest-ssh.ts): the ssh arguments, the
// control socket's name and folder, and when a failed command goes again on a connection of its
// own. sshRun runs against a fake `ip` on the PATH that records its arguments and exits as told.
import t, { type Test } from 'tap';
import { chmod, lstat, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { withTempDir } from '../../shared/temp-dir.ts';
import { ALIVE_COUNT, ALIVE_INTERVAL_S, controlSocket, PERSIST_S, retryAlone, sshArgs, sshRun } from '../../singlevm/guest-ssh.ts';

const option = (args: string[], name: string) => args.find((a, i) => args[i - 1] === '-o' && a.startsWith(`${name}=`))?.slice(name.length + 1);

t.test('a command over the shared connection: made when there is none, kept a while, dropped when the guest stops answering', async (t) => {
  const args = sshArgs('172.16.0.5', '/k/id', 'hostname', '/s/ssh-mux/abc');
  t.equal(option(args, 'ControlMaster'), 'auto');
  t.equal(option(args, 'ControlPath'), '/s/ssh-mux/abc');
  t.equal(option(args, 'ControlPersist'), String(PERSIST_S));
  t.equal(option(args, 'ServerAliveInterval'), String(ALIVE_INTERVAL_S));
  t.equal(option(args, 'ServerAliveCountMax'), String(ALIVE_COUNT));
  t.ok(ALIVE_INTERVAL_S * (ALIVE_COUNT + 1) <= 5, 'a dead connection is found within 5 s');
  t.same(args.slice(-4), ['-i', '/k/id', 'demouser@172.16.0.5', 'hostname'], 'the key, the user at the address, the command last');
  for (const o of ['BatchMode=yes', 'StrictHostKeyChecking=no', 'UserKnownHostsFile=/dev/null']) t.ok(args.includes(o), o);
});

t.test('a command on a connection of its own uses no shared one, not even one that is there', async (t) => {
  const args = sshArgs('172.16.0.5', '/k/id', 'hostname');
  t.equal(option(args, 'ControlMaster'), 'no');
  t.equal(option(args, 'ControlPath'), 'none');
  t.notOk(option(args, 'ControlPersist'));
});

t.test('one control socket per namespace, address and key; a key written anew is another key', async (t) => {
  const a = controlSocket('/s', 'ciao-x-cnci-01', '172.16.0.5', '/k:1:2:3');
  t.match(a, /^\/s\/[0-9a-f]{24}$/);
  t.equal(controlSocket('/s', 'ciao-x-cnci-01', '172.16.0.5', '/k:1:2:3'), a, 'the same inputs, the same socket');
  const others = [
    controlSocket('/s', 'ciao-x-cnci-02', '172.16.0.5', '/k:1:2:3'),
    controlSocket('/s', 'ciao-x-cnci-01', '172.16.0.6', '/k:1:2:3'),
    controlSocket('/s', 'ciao-x-cnci-01', '172.16.0.5', '/k:1:2:4'),
  ];
  t.equal(new Set([a, ...others]).size, 4, 'any other namespace, address or key identity: another socket');
  t.equal(controlSocket(`/${'d'.repeat(80)}`, 'ns', 'ip', 'k'), undefined, 'no sharing when the path is too long for a socket');
});

t.test('only a try over a connection that was already there goes again, and only after ssh itself failed', async (t) => {
  t.ok(retryAlone(255, true), 'the shared connection failed (its guest is gone): again, alone');
  t.notOk(retryAlone(255, false), 'this try made the connection and the guest did not answer: no second wait');
  t.notOk(retryAlone(1, true), 'the command itself failed: its answer stands');
  t.notOk(retryAlone(-1, true), 'timed out: not again');
});

/** A fake `ip` first on the PATH: appends its arguments (one line) to `calls`, exits with the next code of `exits`. */
async function fakeIp(dir: string, exits: number[]) {
  const bin = join(dir, 'bin');
  await mkdir(bin);
  await writeFile(join(dir, 'exits'), exits.join('\n') + '\n');
  await writeFile(join(bin, 'ip'), `#!/bin/sh
echo "$*" >> "${dir}/calls"
code=$(head -n 1 "${dir}/exits"); sed -i 1d "${dir}/exits"
[ "$code" = 0 ] && echo "guest-1"
[ "$code" = 0 ] || echo "ssh said no" >&2
exit "$code"
`);
  await chmod(join(bin, 'ip'), 0o755);
  return async () => (await readFile(join(dir, 'calls'), 'utf8')).trim().split('\n');
}

/** A cluster `gs` whose state dir is `dir/state` (as demo.sh says), a key in it, a fake `ip`. */
async function cluster(t: Test, dir: string, exits: number[]) {
  const saved = { PATH: process.env.PATH, CIAO_CLUSTER: process.env.CIAO_CLUSTER, CIAO_STATE_DIR: process.env.CIAO_STATE_DIR };
  const stateDir = join(dir, 'state');
  await mkdir(stateDir);
  await writeFile(join(dir, 'key'), 'not a real key', { mode: 0o600 });
  const calls = await fakeIp(dir, exits);
  Object.assign(process.env, { PATH: `${join(dir, 'bin')}:${process.env.PATH}`, CIAO_CLUSTER: 'gs', CIAO_STATE_DIR: stateDir });
  t.teardown(() => {
    for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k]; else process.env[k] = v;
  });
  return { stateDir, key: join(dir, 'key'), calls, ns: 'ciao-gs-cnci-0123456789' };
}

const controlOf = (call: string) => call.match(/ControlPath=(\S+)/)?.[1];

t.test('sshRun: shared through a 0700 folder of the cluster state dir; a failure of a connection that was there goes again alone, once', async (t) => {
  await withTempDir('ciao-guest-ssh', async (dir) => {
    const c = await cluster(t, dir, [0, 255, 0, 255, 255, 255]);
    t.equal(await sshRun(c.ns, '172.16.0.5', c.key, 'hostname'), 'guest-1');
    const [first] = await c.calls();
    t.match(first, /^netns exec ciao-gs-cnci-0123456789 ssh /, 'from the namespace');
    const control = controlOf(first)!;
    t.equal(control.startsWith(join(c.stateDir, 'ssh-mux') + '/'), true, 'the socket in <state dir>/ssh-mux, so stop and cleanup find its process');
    t.equal((await stat(join(c.stateDir, 'ssh-mux'))).mode & 0o777, 0o700, 'a folder only its owner enters');

    // The shared connection is there (a listening socket at its path): its failure (255) goes again, alone.
    const server = createServer().listen(control);
    await new Promise((resolve) => server.once('listening', resolve));
    t.teardown(() => server.close());
    t.equal(await sshRun(c.ns, '172.16.0.5', c.key, 'hostname'), 'guest-1', 'the second try answered');
    const [, viaShared, alone] = await c.calls();
    t.equal(controlOf(viaShared), control, 'first over the shared connection');
    t.match(alone, /ControlMaster=no .*ControlPath=none/, 'then on a connection of its own');

    const err = await sshRun(c.ns, '172.16.0.5', c.key, 'hostname').catch((e: Error) => e);
    t.match(err, { name: 'CommandError', exitCode: 255, message: /ssh said no/ }, 'both failed: the error of the second');
    t.equal((await c.calls()).length, 5, 'tried twice, no more');
    server.close();
    await rm(control, { force: true });
    await t.rejects(sshRun(c.ns, '172.16.0.5', c.key, 'hostname'), { name: 'CommandError' }, 'no shared connection was there');
    t.equal((await c.calls()).length, 6, 'one try');
    await t.rejects(lstat(control), 'no socket');
  });
});

t.test('sshRun: no sharing for a namespace of no cluster, with CIAO_SSH_SHARED=0, or for a cluster whose state dir is not here', async (t) => {
  await withTempDir('ciao-guest-ssh', async (dir) => {
    const c = await cluster(t, dir, [0, 0, 0]);
    await sshRun('elsewhere', '172.16.0.5', c.key, 'hostname');
    process.env.CIAO_SSH_SHARED = '0';
    t.teardown(() => delete process.env.CIAO_SSH_SHARED);
    await sshRun(c.ns, '172.16.0.5', c.key, 'hostname');
    delete process.env.CIAO_SSH_SHARED;
    process.env.CIAO_STATE_DIR = join(dir, 'absent');
    await sshRun(c.ns, '172.16.0.5', c.key, 'hostname');
    const calls = await c.calls();
    t.equal(calls.length, 3);
    for (const call of calls) t.match(call, /ControlPath=none/);
    await t.rejects(stat(join(dir, 'absent')), 'no state dir made');
  });
});
