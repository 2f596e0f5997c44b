// `logs`: one archive for a bug report — every component's log, the guests' console logs, the
// dnsmasq leases, the cluster's containers and processes, and the network state (links, addresses,
// routes, neighbours, bridge FDBs, iptables rules, sockets) of every namespace of the cluster.
// Never the secrets: no private keys, no identity config with its passwords.
import { cp, mkdir, readdir, writeFile, access } from 'node:fs/promises';
import { basename, dirname, join, relative } from 'node:path';
import Docker from 'dockerode';
import { run } from '../shared/run.ts';
import { DOCKER_SOCKET } from '../shared/dockerd.ts';
import { withTempDir } from '../shared/temp-dir.ts';
import { clusterNamespaces } from '../network/namespaces.ts';
import { clusterPaths } from './cluster-files.ts';
import { clusterProcesses } from './processes.ts';

const exists = (p: string) => access(p).then(() => true, () => false);

/** Files of the state dir worth reading in a bug report (and nothing secret). */
function wanted(rel: string): boolean {
  if (rel.startsWith('pki/') || rel.startsWith('ssh/') || rel.endsWith('.key') || rel === 'identity.json') return false;
  const name = basename(rel);
  return rel.startsWith('logs/') || name === 'console.log' || /(^|\/)consoles\/[^/]+\.log$/.test(rel)
    || name === 'leases' || name.endsWith('.leases') || name === 'dnsmasq.log'
    || name === 'spec.json' || /^[^/]+\.json$/.test(rel);
}

async function filesUnder(dir: string, root = dir): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...await filesUnder(path, root));
    else if (entry.isFile()) out.push(relative(root, path));
  }
  return out;
}

/** Each command's output under a header; a failing command leaves its error there instead. */
async function report(commands: string[][]): Promise<string> {
  const parts: string[] = [];
  for (const argv of commands) {
    const r = await run(argv[0], argv.slice(1), { allowFailure: true, timeout: 10_000 }).catch((err) => ({ stdout: '', stderr: (err as Error).message, exitCode: -1 }));
    parts.push(`### ${argv.join(' ')}${r.exitCode ? ` (exit ${r.exitCode})` : ''}\n${r.stdout}${r.stderr ? `\n${r.stderr}` : ''}\n`);
  }
  return parts.join('\n');
}

const namespaceReport = (ns: string) => report([
  ['ip', '-n', ns, '-d', 'link', 'show'],
  ['ip', '-n', ns, 'addr', 'show'],
  ['ip', '-n', ns, 'route', 'show', 'table', 'all'],
  ['ip', '-n', ns, 'neigh', 'show'],
  ['bridge', '-n', ns, 'link', 'show'],
  ['bridge', '-n', ns, 'fdb', 'show'],
  ['ip', 'netns', 'exec', ns, 'iptables-save'],
  ['ip', 'netns', 'exec', ns, 'ss', '-tulpn'],
]);

/** The cluster's containers and their last log lines — asked only when the engine answers, so a
 *  host without Docker (or with a hung dockerd) costs a 2 s ping, not a timeout per command. */
async function containersReport(cluster: string): Promise<string> {
  const answers = await new Docker({ socketPath: DOCKER_SOCKET, timeout: 2000 }).ping().then(() => true, () => false);
  if (!answers) return `no Docker engine answers on ${DOCKER_SOCKET}: no containers collected\n`;
  const filter = ['--filter', `label=ciao.cluster=${cluster}`];
  const ids = (await run('docker', ['ps', '-a', '-q', ...filter], { allowFailure: true, timeout: 10_000 }).catch(() => ({ stdout: '' }))).stdout.split('\n').filter(Boolean);
  return report([['docker', 'ps', '-a', ...filter], ...ids.map((id) => ['docker', 'logs', '--tail', '200', id])]);
}

export async function collectLogs(cluster: string, outFile: string): Promise<{ file: string; entries: string[] }> {
  const { stateDir } = clusterPaths(cluster);
  const namespaces = await clusterNamespaces(cluster);
  if (!(await exists(stateDir)) && !namespaces.length) throw new Error(`cluster ${cluster} has no state on this host: nothing to collect`);
  return withTempDir(`ciao-${cluster}-logs`, async (work) => {
    const entries: string[] = [];
    for (const rel of (await filesUnder(stateDir)).filter(wanted)) {
      await mkdir(join(work, 'state', dirname(rel)), { recursive: true });
      await cp(join(stateDir, rel), join(work, 'state', rel));
      entries.push(`state/${rel}`);
    }
    await mkdir(join(work, 'network'));
    for (const ns of namespaces) {
      await writeFile(join(work, 'network', `${ns}.txt`), await namespaceReport(ns));
      entries.push(`network/${ns}.txt`);
    }
    await writeFile(join(work, 'containers.txt'), await containersReport(cluster));
    const processes = await clusterProcesses(cluster, stateDir);
    await writeFile(join(work, 'processes.txt'), processes.map((p) => `${p.pid} ${p.cmdline}`).join('\n') + '\n');
    entries.push('containers.txt', 'processes.txt');
    await writeFile(join(work, 'README.txt'), [
      `ciao cluster "${cluster}": logs collected ${new Date().toISOString()}`,
      `host: ${(await run('uname', ['-a'])).stdout.trim()}`,
      '',
      'state/     component logs (logs/), guest consoles (node-<i>/instances/*/console.log; of deleted VMs node-<i>/consoles/), dnsmasq logs and leases, cluster.json, timings',
      'network/   per cluster namespace: links, addresses, routes, neighbours, bridge ports and FDBs, iptables rules, sockets',
      'containers.txt, processes.txt: the cluster\'s containers (with their last log lines) and processes',
      'Left out on purpose: pki/ and ssh/ (private keys), identity.json (passwords).',
      '',
    ].join('\n'));
    entries.unshift('README.txt');
    await mkdir(dirname(outFile), { recursive: true });
    await run('tar', ['-czf', outFile, '-C', work, '.']);
    return { file: outFile, entries };
  });
}
