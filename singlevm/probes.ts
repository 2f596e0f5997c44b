// verify's probes of a real cluster. Every packet starts inside one of the cluster's namespaces (or
// a container of the cluster) and goes to an address inside them: the host never sends one.
import { readdir, readFile } from 'node:fs/promises';
import { run } from '../shared/run.ts';
import { scaled, TIMEOUT_SCALE } from '../shared/wait-for.ts';
import { linksOf } from '../network/ip.ts';
import { containerName } from '../launcher/docker-backend.ts';
import { sshRun } from './guest-ssh.ts';

export { sshRun };

/** `hostname` of a guest, over SSH (above). */
export const sshHostname = (ns: string, ip: string, key: string): Promise<string> => sshRun(ns, ip, key, 'hostname');

/** One ICMP echo from namespace `ns`: true when it is answered within a second. */
export async function pingFrom(ns: string, ip: string): Promise<boolean> {
  return (await run('ip', ['netns', 'exec', ns, 'ping', '-n', '-q', '-c', '1', '-W', '1', ip], { allowFailure: true })).exitCode === 0;
}

/** One ICMP echo from inside an instance's container (busybox ping). */
export async function pingFromContainer(cluster: string, instanceId: string, ip: string): Promise<boolean> {
  const r = await run('docker', ['exec', containerName(cluster, instanceId), 'ping', '-c', '1', '-W', '1', ip], { allowFailure: true });
  return r.exitCode === 0;
}

/** One ICMP echo to each of `ips`, all at once, from inside an instance's container: its network
 *  namespace entered with nsenter (the host's iputils ping, which waits fractions of a second; no
 *  docker exec per probe). The addresses that answered within `windowS` seconds. */
export async function pingsFromContainer(cluster: string, instanceId: string, ips: string[], windowS: number): Promise<Set<string>> {
  const pid = (await run('docker', ['inspect', '-f', '{{.State.Pid}}', containerName(cluster, instanceId)], { allowFailure: true })).stdout.trim();
  if (!/^[1-9]\d*$/.test(pid)) throw new Error(`the container of ${instanceId} does not run`);
  const answers = await Promise.all(ips.map((ip) =>
    run('nsenter', ['-t', pid, '-n', 'ping', '-n', '-q', '-c', '1', '-W', String(windowS * Math.min(TIMEOUT_SCALE, 10)), ip], { allowFailure: true })));
  return new Set(ips.filter((_, i) => answers[i].exitCode === 0));
}

/** An HTTP GET of http://HOST:PORT/PATH inside a guest or a container, as one shell command that
 *  always succeeds (parseHttpGet reads what it printed). busybox's own resolver (nslookup) finds
 *  HOST and nc carries the request: the static busybox's wget crashes in glibc's resolver. */
export const httpGetCommand = (host: string, port: number, path: string) =>
  `ip=$(nslookup ${host} 2>/dev/null | awk '/^Address/ && $NF !~ /:/ {a=$NF} END {print a}'); `
  + `[ -n "$ip" ] || { echo "cannot resolve ${host}"; exit 0; }; `
  + `printf 'GET /${path} HTTP/1.0\\r\\nHost: ${host}\\r\\n\\r\\n' | nc -w ${Math.ceil(scaled(3000) / 1000)} "$ip" ${port} 2>&1; exit 0`;

/** What httpGetCommand printed: whether a server answered at all (any HTTP status), whether with
 *  200, and the body (or what went wrong). */
export function parseHttpGet(out: string): { answered: boolean; ok: boolean; body: string } {
  const status = out.match(/^HTTP\/1\.[01] (\d{3})/);
  const body = status ? out.slice(out.search(/\r?\n\r?\n/)).trim() : out.trim();
  return { answered: !!status, ok: status?.[1] === '200', body };
}

/** httpGetCommand inside an instance's container. */
export async function httpGetFromContainer(cluster: string, instanceId: string, host: string, port: number, path: string) {
  const r = await run('docker', ['exec', containerName(cluster, instanceId), 'sh', '-c', httpGetCommand(host, port, path)], { allowFailure: true });
  return parseHttpGet(r.stdout + r.stderr);
}

/** httpGetCommand inside a guest, over SSH from namespace `ns`. */
export const httpGetFromVm = async (ns: string, ip: string, key: string, host: string, port: number, path: string) =>
  parseHttpGet(await sshRun(ns, ip, key, httpGetCommand(host, port, path)));

/** What instances left on the node: taps, container veths, tenant bridges and VXLANs in its
 *  namespace, the cluster's containers, and QEMU processes (SPEC §6 step 8). CNCIs are not counted. */
export async function nodeLeftovers(cluster: string, nodeNs: string): Promise<string[]> {
  const left: string[] = [];
  for (const l of await linksOf(nodeNs)) {
    if (/^(tap|c[0-9a-f]|t\d|vx\d)/.test(l.ifname)) left.push(`link ${l.ifname} in ${nodeNs}`);
  }
  const containers = (await run('docker', ['ps', '-a', '--filter', `label=ciao.cluster=${cluster}`, '--format', '{{.Names}}'])).stdout.trim();
  if (containers) left.push(...containers.split('\n').map((c) => `container ${c}`));
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (isInstanceQemu(cluster, cmdline)) left.push(`QEMU process ${entry}`);
  }
  return left;
}

/** Whether a process's command line (NUL-separated) is the QEMU of one of the cluster's instances
 *  (`-name ciao-<cluster>-<instance id>`), not the launcher's own: a snapshot template being made
 *  (`ciao-snapshot-template-<key>`, in the node's folder too) is no instance's leftover. */
export function isInstanceQemu(cluster: string, cmdline: string): boolean {
  const uuid = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
  const name = `ciao-${cluster.replace(/[^a-z0-9-]/g, '\\$&')}-${uuid}`;
  return cmdline.startsWith('qemu-system') && new RegExp(`\0-name\0${name}\0`).test(cmdline);
}
