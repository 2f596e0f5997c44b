// Needs root: `logs` on a throwaway cluster (a made-up state dir and one namespace with a bridge in
// it) bundles logs, consoles, leases and the namespace's network state, and never keys or passwords.
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { run } from '../../shared/run.ts';
import { tempDir } from '../../shared/temp-dir.ts';
import { createNamespace, deleteNamespace, namespaceName } from '../../network/namespaces.ts';
import { clusterPaths } from '../../singlevm/cluster-files.ts';
import { collectLogs } from '../../singlevm/logs.ts';

if (process.getuid?.() !== 0) throw new Error('test/root needs root (CI runs as root): run it with sudo');

// clusterPaths reads CIAO_HOME at each call: the throwaway cluster lives in a temp dir, not ~/local.
const { path: home, remove: removeHome } = tempDir('ciao-logs-test');
process.env.CIAO_HOME = home;
const id = randomBytes(2).toString('hex');
const name = `logtest-${id}`;
const ns = namespaceName(name, 'net');
t.teardown(async () => {
  await deleteNamespace(ns);
  removeHome();
});

const listArchive = async (file: string) => (await run('tar', ['-tzf', file])).stdout.split('\n').filter(Boolean);
const readFromArchive = async (file: string, entry: string) => (await run('tar', ['-xzOf', file, entry])).stdout;

t.test('logs bundles component logs, consoles, leases and the namespace\'s network state, and no secrets', async (t) => {
  const { stateDir } = clusterPaths(name);
  const files: Record<string, string> = {
    'cluster.json': JSON.stringify({ name }),
    'logs/controller.log': 'controller started\n',
    'pki/ca.key': '-----BEGIN PRIVATE KEY-----\n',
    'identity.json': '{"password": "secret"}\n',
    'node-0/instances/abc/console.log': 'guest booted\n',
    'cnci/t1/leases': '0 52:54:00:00:00:01 172.16.0.2 * *\n',
  };
  for (const [rel, text] of Object.entries(files)) {
    await mkdir(dirname(join(stateDir, rel)), { recursive: true });
    await writeFile(join(stateDir, rel), text);
  }
  // The bridge lives only inside the cluster's namespace: nothing is made in the host's.
  await createNamespace(ns);
  await run('ip', ['-n', ns, 'link', 'add', 'br0', 'type', 'bridge']);

  const out = join(home, 'out', 'logs.tar.gz');
  const { file, entries } = await collectLogs(name, out);
  t.equal(file, out);
  t.ok(entries.includes(`network/${ns}.txt`), 'entries name the namespace report');

  const archived = await listArchive(out);
  for (const want of ['./README.txt', './state/cluster.json', './state/logs/controller.log', './state/node-0/instances/abc/console.log',
    './state/cnci/t1/leases', `./network/${ns}.txt`, './containers.txt', './processes.txt']) {
    t.ok(archived.includes(want), want);
  }
  t.notOk(archived.some((f) => /pki\/|\.key$|identity\.json/.test(f)), 'no private keys, no identity config');

  const net = await readFromArchive(out, `./network/${ns}.txt`);
  t.match(net, /br0/, 'the bridge is in the namespace report');
  t.match(net, new RegExp(`### bridge -n ${ns} fdb show`), 'each command under its header');
  t.match(await readFromArchive(out, './README.txt'), /host: Linux /, 'README says which host');
  t.equal(await readFromArchive(out, './state/logs/controller.log'), files['logs/controller.log'].trimEnd(), 'logs are copied as they are (run trims the last newline)');
});

t.test('a cluster with nothing on this host is a clear error, and the CLI exits 1', async (t) => {
  const ghost = `ghost-${id}`;
  await t.rejects(collectLogs(ghost, join(home, 'ghost.tar.gz')), { message: `cluster ${ghost} has no state on this host: nothing to collect` });
  const cli = resolve(import.meta.dirname, '../../singlevm/logs-main.ts');
  const r = await run(process.execPath, ['--import', 'tsx', cli, '--name', ghost], { allowFailure: true, env: { ...process.env, CIAO_HOME: home } });
  t.equal(r.exitCode, 1);
  t.match(r.stderr, /nothing to collect/);
});
