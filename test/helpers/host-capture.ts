// A tcpdump filter for "no packet of the cluster crosses the host's links" (the root tests'
// host-safety proofs). The cluster's ranges include 203.0.113.0/24 (external IPs), and on the
// machines CI runs on the package mirror and the npm registry answer at an address in that range
// (a caching proxy): the host's own downloads (apt, npm, setup's VM image packages, another
// session's install) are not the cluster's packets. So the filter leaves out exactly the pairs
// (one of the host's own global IPv4 addresses, one address the host's installers resolve for
// their mirrors) and nothing else: a packet with a tenant or cluster address, a tunnel's, or one
// to an external IP the cluster maps (the lowest of a pool) is still caught.
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../../shared/run.ts';

/** The cluster's tenant, cluster and external ranges. */
const CLUSTER_NETS = ['172.16.0.0/12', '198.51.100.0/24', '203.0.113.0/24'];

/** Host names in apt's sources (one-line and deb822) and npm's registry. */
async function mirrorHosts(): Promise<string[]> {
  const files = ['/etc/apt/sources.list', ...(await readdir('/etc/apt/sources.list.d').catch(() => [] as string[]))
    .filter((f) => /\.(list|sources)$/.test(f)).map((f) => join('/etc/apt/sources.list.d', f))];
  const text = (await Promise.all(files.map((f) => readFile(f, 'utf8').catch(() => '')))).join('\n');
  const registry = (await run('npm', ['config', 'get', 'registry'])).stdout;
  const urls = [...text.split('\n').filter((l) => !/^\s*#/.test(l)).join('\n').matchAll(/https?:\/\/[^\s/]+/g)].map((m) => m[0]);
  return [...new Set([...urls, registry.trim()].flatMap((u) => URL.canParse(u) ? [new URL(u).hostname] : []))];
}

async function ipv4Of(host: string): Promise<string[]> {
  const r = await run('getent', ['ahostsv4', host]);
  return [...new Set(r.stdout.split('\n').map((l) => l.split(/\s+/)[0]).filter((a) => /^\d+\.\d+\.\d+\.\d+$/.test(a)))];
}

/** The pair to leave out: the host's own global IPv4 addresses and its mirrors' addresses. */
export async function hostDownloads(): Promise<{ own: string[]; mirrors: string[] }> {
  const own = (await run('ip', ['-4', '-o', 'addr', 'show', 'scope', 'global'])).stdout.split('\n')
    .map((l) => /\binet (\d+\.\d+\.\d+\.\d+)\//.exec(l)?.[1]).filter((a): a is string => !!a);
  const mirrors = [...new Set((await Promise.all((await mirrorHosts()).map(ipv4Of))).flat())];
  return { own, mirrors };
}

/** tcpdump's filter: a packet of the cluster's ranges (and VXLAN's port when `tunnels`), less the
 *  host's own traffic with its mirrors. */
export function clusterPacketFilter(downloads: { own: string[]; mirrors: string[] }, tunnels = false): string {
  const cluster = [...CLUSTER_NETS.map((n) => `net ${n}`), ...(tunnels ? ['udp port 4789'] : [])].join(' or ');
  const pairs = downloads.own.flatMap((a) => downloads.mirrors.map((m) => `(host ${a} and host ${m})`));
  return pairs.length ? `(${cluster}) and not (${pairs.join(' or ')})` : cluster;
}
