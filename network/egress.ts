// The cluster's way out (docs/egress.md), opt-in with setup's --egress: slirp4netns, a user-mode
// network stack run as an ordinary host process, owns the tap `egress0` inside the cluster
// namespace and turns its flows into sockets of its own, so the host's namespace gains no link,
// address, route or rule. Inside the cluster namespace: forwarding, a masquerade out of egress0, and
// a filter that lets through only what may leave (never the cluster's own ranges, the host's
// loopback except the ports opened, the host's own addresses or link-local).
import { join } from 'node:path';
import { run } from '../shared/run.ts';
import { readPidFile, startDetached } from '../shared/detached.ts';
import { ipIn, ipJson } from './ip.ts';
import { CLUSTER_NETWORK } from './cluster-leg.ts';
import type { ProxySetting } from './proxy.ts';

export const EGRESS_LINK = 'egress0';
/** slirp4netns's network (its default): the namespace's end, its gateway (the host's loopback when
 *  opened) and its DNS forwarder (the host's resolvers). */
export const EGRESS_NET = { cidr: '10.0.2.0/24', address: '10.0.2.100', gateway: '10.0.2.2', dns: '10.0.2.3' };
/** The name a workload gives the host's loopback, answered by its CNCI's dnsmasq. */
export const HOST_NAME = 'host.ciao.internal';
/** Ranges that are the cluster's own (SPEC §4): they never leave through egress. */
export const CLUSTER_RANGES = [CLUSTER_NETWORK, '203.0.113.0/24', '172.16.0.0/12'];
const CHAIN = 'CIAO-EGRESS';

export interface EgressSettings {
  /** Ports of the host's loopback that workloads may reach (as host.ciao.internal:PORT). */
  allowHostPorts: number[];
  /** The resolver tenants' DNS forwards to: `ADDR` or `ADDR#PORT`; slirp4netns's forwarder (the
   *  host's resolvers) when absent. */
  dns?: string;
  /** The proxy variables workloads get (network/proxy.ts); its host ports are in allowHostPorts. */
  proxy?: ProxySetting;
}

export interface Resolver {
  addr: string;
  port: number;
  /** In dnsmasq's --server form. */
  server: string;
}

/** Where tenants' DNS goes, as seen from the cluster: a resolver on the host's loopback is reached
 *  at slirp4netns's gateway. `dns` was validated by setup (an IPv4 address, an optional #port). */
export function resolverOf(dns: string | undefined): Resolver {
  const [given, portText] = (dns ?? `${EGRESS_NET.dns}#53`).split('#');
  const addr = given.startsWith('127.') ? EGRESS_NET.gateway : given;
  const port = portText ? Number(portText) : 53;
  return { addr, port, server: `${addr}#${port}` };
}

/** Whether anything of the host's loopback is opened (slirp4netns then maps its gateway to it). */
export const opensHostLoopback = (s: EgressSettings) => s.allowHostPorts.length > 0 || resolverOf(s.dns).addr === EGRESS_NET.gateway;

/** The filter on what leaves through egress0, as iptables argument lists (first match wins). */
export function egressFilter(s: EgressSettings, hostAddresses: string[]): string[][] {
  const rule = (...r: string[]) => ['-A', CHAIN, ...r];
  const dns = resolverOf(s.dns);
  return [
    ...s.allowHostPorts.map((p) => rule('-d', `${EGRESS_NET.gateway}/32`, '-p', 'tcp', '--dport', String(p), '-j', 'ACCEPT')),
    ...['udp', 'tcp'].map((proto) => rule('-d', `${dns.addr}/32`, '-p', proto, '--dport', String(dns.port), '-j', 'ACCEPT')),
    rule('-d', EGRESS_NET.cidr, '-j', 'DROP'),
    rule('-d', '169.254.0.0/16', '-j', 'DROP'),
    rule('-d', '127.0.0.0/8', '-j', 'DROP'),
    ...CLUSTER_RANGES.map((r) => rule('-d', r, '-j', 'DROP')),
    ...hostAddresses.map((a) => rule('-d', `${a}/32`, '-j', 'DROP')),
    rule('-j', 'ACCEPT'),
  ];
}

/** The host's own IPv4 addresses (read, never changed): slirp4netns connecting to one of them
 *  would reach the host's services, so the filter drops them. */
export async function hostAddresses(): Promise<string[]> {
  const links = await ipJson<{ addr_info?: { family: string; local: string }[] }[]>(undefined, '-4', 'addr', 'show');
  return links.flatMap((l) => (l.addr_info ?? []).filter((a) => a.family === 'inet' && !a.local.startsWith('127.')).map((a) => a.local));
}

const iptablesIn = (ns: string, ...args: string[]) => run('ip', ['netns', 'exec', ns, 'iptables', '-w', ...args]);

/** slirp4netns on `clusterNs` (unless its pid file names one that runs), then forwarding, NAT and
 *  the filter, made again whole each time (a resume). `dir` holds its pid file and log. */
export async function ensureEgress(clusterNs: string, dir: string, s: EgressSettings): Promise<void> {
  const pidFile = join(dir, 'slirp4netns.pid');
  if (!(await readPidFile(pidFile))) {
    await startDetached({
      name: `slirp4netns of ${clusterNs}`, log: join(dir, 'slirp4netns.log'), pidFile, readyTimeoutMs: 5000,
      command: 'slirp4netns', args: [
        // Not --enable-sandbox: its new mount namespace unmounts what it does not need, and /run/netns
        // is a shared mount here, so the unmounts reach the host's: every named namespace lost its name.
        '--configure', '--mtu=65520', '--enable-seccomp',
        // The host's loopback stays closed unless a port is opened; then the filter opens only those.
        ...(opensHostLoopback(s) ? [] : ['--disable-host-loopback']),
        '--netns-type=path', `/run/netns/${clusterNs}`, EGRESS_LINK,
      ],
      ready: async () => (await ipIn(clusterNs, '-4', '-o', 'addr', 'show', 'dev', EGRESS_LINK).catch(() => '')).includes(` ${EGRESS_NET.address}/`),
    });
  }
  await run('ip', ['netns', 'exec', clusterNs, 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);
  // With br_netfilter loaded (dockerd loads it), a CNCI's packet crossing ciao_br meets the nat table
  // as a bridged frame first: its NAT is settled there ("none") and the masquerade out of egress0
  // never applies. The setting is this namespace's own; without br_netfilter there is no such key.
  await run('ip', ['netns', 'exec', clusterNs, 'sysctl', '-qw', 'net.bridge.bridge-nf-call-iptables=0'], { allowFailure: true });
  await iptablesIn(clusterNs, '-N', CHAIN).catch(() => undefined);
  await iptablesIn(clusterNs, '-F', CHAIN);
  for (const r of egressFilter(s, await hostAddresses())) await iptablesIn(clusterNs, ...r);
  const ensure = async (...r: string[]) => {
    if (await iptablesIn(clusterNs, '-C', ...r).then(() => false, () => true)) await iptablesIn(clusterNs, '-A', ...r);
  };
  await ensure('FORWARD', '-o', EGRESS_LINK, '-j', CHAIN);
  // And what the cluster namespace sends itself (verify's probes): an external IP that is not mapped
  // any more must not be pinged through slirp4netns, from the host, on the real network.
  await ensure('OUTPUT', '-o', EGRESS_LINK, '-j', CHAIN);
  // Nothing from outside starts a flow in: only answers come back.
  await ensure('FORWARD', '-i', EGRESS_LINK, '-m', 'conntrack', '--ctstate', 'ESTABLISHED,RELATED', '-j', 'ACCEPT');
  await ensure('FORWARD', '-i', EGRESS_LINK, '-j', 'DROP');
  await iptablesIn(clusterNs, '-t', 'nat', '-C', 'POSTROUTING', '-o', EGRESS_LINK, '-j', 'MASQUERADE')
    .catch(() => iptablesIn(clusterNs, '-t', 'nat', '-A', 'POSTROUTING', '-o', EGRESS_LINK, '-j', 'MASQUERADE'));
}
