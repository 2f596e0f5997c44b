// A read-only snapshot of the host's own state (namespaces, links, addresses, routes, firewall,
// forwarding, containers, the cluster's processes), so cleanup can prove the host is back to how setup found it.
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import Docker from 'dockerode';
import { z } from 'zod';
import { run } from '../shared/run.ts';
import { DOCKER_SOCKET } from '../shared/dockerd.ts';
import { clusterNamespaces, clusterOfNamespace, listNamespaces } from '../network/namespaces.ts';
import { ipJson } from '../network/ip.ts';
import { clusterPaths } from './cluster-files.ts';
import { missingTools } from './preflight.ts';
import { clusterProcesses } from './processes.ts';

/** Every list is sorted, and holds only fields that do not change by themselves, so two snapshots of
 *  an untouched host are deep-equal. */
export interface HostState {
  namespaces: string[];
  links: string[];
  addresses: string[];
  routes: string[];
  iptables: string[];
  /** `NAME VALUE` of the host's forwarding switches (a snapshot from before these were kept: []). */
  sysctls: string[];
  containers: string[];
  processes: string[];
}

const CLUSTER_LABEL = 'ciao.cluster';

export async function snapshotHost(opts: { cluster: string; docker?: boolean }): Promise<HostState> {
  const [namespaces, links, addresses, routes, iptables, sysctls, containers, processes] = await Promise.all([
    listNamespaces(),
    hostLinks(),
    hostAddresses(),
    hostRoutes(),
    firewallRules(),
    forwardingSysctls(),
    opts.docker === false ? [] : allContainers(),
    clusterProcessLines(opts.cluster),
  ]);
  return {
    namespaces: [...namespaces].sort(), links, addresses, routes, iptables, sysctls, containers,
    processes,
  };
}

/** Human-readable differences; [] when the host is as before. Given `cluster`, the proof is that
 *  cluster's: namespaces named for another cluster and containers labelled with another are not its
 *  changes (clusters side by side come and go on their own), while anything else that changed is.
 *  Processes of the cluster and containers labelled with it are leftovers whether or not `before`
 *  had them. */
export function diffHostState(before: HostState, after: HostState, opts: { cluster?: string } = {}): string[] {
  const out: string[] = [];
  const added = (a: string[], b: string[]) => b.filter((x) => !a.includes(x));
  const compare = (label: (item: string) => string, a: string[], b: string[]) => {
    for (const x of added(a, b)) out.push(`${label(x)} added: ${x}`);
    for (const x of added(b, a)) out.push(`${label(x)} removed: ${x}`);
  };
  const ours = (owner: string | undefined) => opts.cluster === undefined || !owner || owner === opts.cluster;
  // The root tests' own namespaces (`ciaotest-<id>-<role>`) come and go beside a cluster, like other clusters' do.
  const notForeignNs = (ns: string) => (opts.cluster === undefined || !ns.startsWith('ciaotest-')) && ours(clusterOfNamespace(ns));
  compare(() => 'namespace', before.namespaces.filter(notForeignNs), after.namespaces.filter(notForeignNs));
  compare(() => 'link', before.links, after.links);
  compare(() => 'address', before.addresses, after.addresses);
  compare(() => 'route', before.routes, after.routes);
  compare((line) => (/ -[AI] /.test(line) ? 'iptables rule' : 'iptables chain'), before.iptables, after.iptables);
  if (before.sysctls.length) compare(() => 'sysctl', before.sysctls, after.sysctls);
  const labelOf = (c: string) => c.split(' ')[2] || undefined;
  const labelled = opts.cluster === undefined ? [] : after.containers.filter((c) => labelOf(c) === opts.cluster);
  for (const c of labelled) out.push(`container left: ${c}`);
  const others = (cs: string[]) => cs.filter((c) => !labelled.includes(c) && ours(labelOf(c)));
  compare(() => 'container', others(before.containers), others(after.containers));
  for (const p of after.processes) out.push(`process left: ${p}`);
  return out;
}

/** What of a cluster is still on the host, found by name alone (no snapshot needed). */
export async function clusterLeftovers(cluster: string): Promise<string[]> {
  const namespaces = await clusterNamespaces(cluster);
  const containers = (await allContainers()).filter((c) => c.split(' ')[2] === cluster);
  return [
    ...namespaces.sort().map((n) => `namespace ${n}`),
    ...containers.map((c) => `container ${c.split(' ').slice(0, 2).join(' ')}`),
    ...(await clusterProcessLines(cluster)).map((p) => `process ${p}`),
  ];
}

const hostStateSchema = z.object({
  namespaces: z.array(z.string()), links: z.array(z.string()), addresses: z.array(z.string()), routes: z.array(z.string()),
  iptables: z.array(z.string()), sysctls: z.array(z.string()).default([]), containers: z.array(z.string()), processes: z.array(z.string()),
});

export async function writeHostState(path: string, s: HostState): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, `${JSON.stringify(s, null, 2)}\n`);
}

/** Throws when the file is missing or is not a snapshot. */
export async function readHostState(path: string): Promise<HostState> {
  const parsed = hostStateSchema.safeParse(JSON.parse(await readFile(path, 'utf8')));
  if (!parsed.success) throw new Error(`${path} is not a host snapshot: ${parsed.error.issues[0]?.message ?? 'bad shape'}`);
  return parsed.data;
}

// Links by name, kind and bridge: not operstate, flags, counters or qdisc, which flap with carrier and traffic.
async function hostLinks(): Promise<string[]> {
  const links = await ipJson<{ ifname: string; link_type?: string; master?: string; linkinfo?: { info_kind?: string } }[]>(undefined, '-d', 'link', 'show');
  return links.map((l) => {
    const kind = l.linkinfo?.info_kind ?? l.link_type ?? '?';
    return `${l.ifname} (${kind}${l.master ? `, master ${l.master}` : ''})`;
  }).sort();
}

// IPv6 privacy addresses (`temporary`) are replaced by the kernel on a timer: not the cluster's doing.
async function hostAddresses(): Promise<string[]> {
  const links = await ipJson<{ ifname: string; addr_info?: { local?: string; prefixlen?: number; temporary?: boolean }[] }[]>(undefined, 'addr', 'show');
  return links.flatMap((l) => (l.addr_info ?? [])
    .filter((a) => a.local && !a.temporary)
    .map((a) => `${l.ifname} ${a.local}/${a.prefixlen}`)).sort();
}

interface Route { type?: string; dst: string; gateway?: string; dev?: string; table?: string; nexthops?: { gateway?: string; dev?: string }[] }

// Destination, gateway, device and table only: `expires`, `flags` (linkdown) and `metric` can change on their own.
async function hostRoutes(): Promise<string[]> {
  const routes = await ipJson<Route[]>(undefined, 'route', 'show', 'table', 'all');
  return [...new Set(routes.map((r) => {
    const hops = r.nexthops?.map((h) => `nexthop${h.gateway ? ` via ${h.gateway}` : ''}${h.dev ? ` dev ${h.dev}` : ''}`) ?? [];
    return [
      r.type && r.type !== 'unicast' ? r.type : '', r.dst,
      r.gateway ? `via ${r.gateway}` : '', r.dev ? `dev ${r.dev}` : '', ...hops,
      r.table && r.table !== 'main' ? `table ${r.table}` : '',
    ].filter(Boolean).join(' ');
  }))].sort();
}

/** iptables-save and ip6tables-save, each line prefixed with its tool and table, without comments
 *  and with the packet/byte counters blanked. A missing tool gives nothing; a failing one one line. */
async function firewallRules(): Promise<string[]> {
  const lines: string[] = [];
  for (const tool of ['iptables-save', 'ip6tables-save']) {
    if ((await missingTools([tool])).length) continue;
    const r = await run(tool, [], { allowFailure: true, timeout: 10_000 });
    if (r.exitCode !== 0) {
      lines.push(`${tool} failed: ${r.stderr.trim().split('\n')[0] ?? ''}`);
      continue;
    }
    let table = '?';
    for (const line of r.stdout.split('\n')) {
      if (!line || line.startsWith('#') || line === 'COMMIT') continue;
      if (line.startsWith('*')) table = line.slice(1);
      else lines.push(`${tool.replace('-save', '')} ${table} ${line.replace(/\[\d+:\d+\]/g, '[*]')}`);
    }
  }
  return lines.sort();
}

/** The host namespace's forwarding switches: a dockerd turns IPv4 forwarding on in the namespace it
 *  runs in unless told not to (setup's is: shared/dockerd.ts). One missing (no IPv6) is left out. */
const FORWARDING = ['net/ipv4/ip_forward', 'net/ipv4/conf/all/forwarding', 'net/ipv6/conf/all/forwarding'];
async function forwardingSysctls(): Promise<string[]> {
  const values = await Promise.all(FORWARDING.map((k) => readFile(`/proc/sys/${k}`, 'utf8').then((v) => `${k.replaceAll('/', '.')} ${v.trim()}`, () => '')));
  return values.filter(Boolean).sort();
}

/** `ID NAME LABEL` of every container, or [] when no Docker engine answers on its socket. */
async function allContainers(): Promise<string[]> {
  if (!existsSync(DOCKER_SOCKET)) return [];
  const answers = await new Docker({ socketPath: DOCKER_SOCKET, timeout: 2000 }).ping().then(() => true, () => false);
  if (!answers) return [];
  // As `docker ps -a --format '{{.ID}} {{.Names}} {{.Label "ciao.cluster"}}'` prints them (snapshots
  // of clusters set up before are compared with these), from the API: no docker CLI to start.
  const all = await new Docker({ socketPath: DOCKER_SOCKET, timeout: 10_000 }).listContainers({ all: true });
  return all.map((c) => `${c.Id.slice(0, 12)} ${c.Names.map((n) => n.replace(/^\//, '')).join(',')} ${c.Labels?.[CLUSTER_LABEL] ?? ''}`.trim()).sort();
}

/** `PID CMDLINE` (first 120 characters) of the cluster's processes (singlevm/processes.ts). */
async function clusterProcessLines(cluster: string): Promise<string[]> {
  return (await clusterProcesses(cluster, clusterPaths(cluster).stateDir)).map((p) => `${p.pid} ${p.cmdline.slice(0, 120)}`);
}
