// The data plane of a tenant's CNCI, in its own namespace: its leg on ciao_br, the tenant segment
// with the .1 gateway, forwarding on (for its tenant only: nothing routes other tenants' subnets
// to it), and dnsmasq handing each instance its controller-assigned address by MAC. Since an
// instance's MAC is 02:00 + its IP, every address of the subnet is listed up front.
import { join } from 'node:path';
import { run } from '../shared/run.ts';
import { readPidFile, startDetached, stopFromPidFile } from '../shared/detached.ts';
import { gatewayOf, hostsOf, intToIp, macFor, parseCidr } from '../controller/addresses.ts';
import { addAddress } from '../network/links.ts';
import { ipIn } from '../network/ip.ts';
import { ensureTenantSegment } from '../network/tenant-tunnel.ts';
import { CLUSTER_NETWORK, UPLINK } from '../network/cluster-leg.ts';
import { applyTenantEgress, readTenantEgress } from './tenant-egress.ts';
import { EGRESS_NET, HOST_NAME } from '../network/egress.ts';

/** The cluster's way out (docs/egress.md), when setup made one: the resolver the tenant's DNS
 *  forwards to (slirp4netns's forwarder unless --egress-dns named another). */
export interface TenantEgress {
  dns: string;
}

export interface TenantGateway {
  ns: string;
  bridge: string;
  /** Stops its dnsmasq (the namespace goes with the CNCI). */
  stop(): Promise<void>;
}

/**
 * `ns` already has its leg (network/cluster-leg.ts) at `legIp`; files (hosts, leases, pid, log) go
 * to `dir`. Safe to call again for a gateway that is up (a restarted launcher re-adopting its CNCI).
 * `fresh`: `ns` was made just now (it has its leg and nothing else), so nothing is looked for first.
 */
export async function startTenantGateway(ns: string, subnet: string, legIp: string, dir: string, egress?: TenantEgress, fresh = false): Promise<TenantGateway> {
  const { bridge } = await ensureTenantSegment(ns, subnet, UPLINK, legIp, fresh);
  const { base, bits } = parseCidr(subnet);
  const gateway = gatewayOf(subnet);
  if (fresh || !(await ipIn(ns, '-4', '-o', 'addr', 'show', 'dev', bridge)).includes(` ${gateway}/`)) await addAddress(ns, bridge, `${gateway}/${bits}`);
  await run('ip', ['netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);
  // The tenant starts nothing towards the cluster network (node legs, their VXLAN port, other CNCIs'
  // legs); answers to what came from there (an external IP's probes) still go back.
  await ensureRule(ns, fresh, 'filter', 'FORWARD', '-i', bridge, '-d', CLUSTER_NETWORK, '-m', 'conntrack', '--ctstate', 'NEW', '-j', 'DROP');
  if (egress) {
    // Out through the cluster namespace (its default route leads to the egress stack), as the leg,
    // while the tenant has egress on (what the controller last said; off until it says).
    await ensureRule(ns, fresh, 'nat', 'POSTROUTING', '-s', subnet, '-o', UPLINK, '-j', 'MASQUERADE');
    await applyTenantEgress(ns, bridge, await readTenantEgress(dir));
  }
  if (!(await readPidFile(join(dir, 'dnsmasq.pid')))) {
    // On the command line, not in a hosts file: dnsmasq reads that file after dropping root, and the
    // cluster's state dir is private.
    const hosts = [...hostsOf(subnet)].filter((ip) => ip !== gateway).map((ip) => `--dhcp-host=${macFor(ip)},${ip}`);
    const netmask = intToIp((0xffffffff << (32 - bits)) >>> 0);
    // Detached, so the tenant keeps DHCP while its launcher restarts; found again by its pid file.
    await startDetached({
      name: `dnsmasq of ${ns}`, log: join(dir, 'dnsmasq.log'), pidFile: join(dir, 'dnsmasq.pid'), pidFileBy: 'process', readyTimeoutMs: 5000,
      command: 'ip', args: ['netns', 'exec', ns, 'dnsmasq', '--keep-in-foreground', '--conf-file=/dev/null', ...dnsArgs(gateway, egress),
        `--interface=${bridge}`, '--bind-interfaces', `--dhcp-range=${intToIp(base)},static,${netmask},infinite`, ...hosts,
        `--dhcp-option=3,${gateway}`, '--dhcp-authoritative', `--dhcp-leasefile=${join(dir, 'leases')}`, `--pid-file=${join(dir, 'dnsmasq.pid')}`,
        '--log-facility=-'],
    });
  }
  return { ns, bridge, stop: () => stopTenantGateway(dir) };
}

/** No DNS without egress (there is nothing to resolve); with it, the tenant's resolver at its
 *  gateway, forwarding to the egress resolver, and answering host.ciao.internal itself. */
const dnsArgs = (gateway: string, egress?: TenantEgress) => (egress
  ? ['--no-resolv', '--no-hosts', `--server=${egress.dns}`, `--address=/${HOST_NAME}/${EGRESS_NET.gateway}`, `--dhcp-option=6,${gateway}`]
  : ['--port=0']);

/** Appends the rule to the namespace's table unless it is there (`fresh`: a namespace made just now
 *  has no rules). */
async function ensureRule(ns: string, fresh: boolean, table: string, chain: string, ...rule: string[]): Promise<void> {
  const iptables = (...args: string[]) => run('ip', ['netns', 'exec', ns, 'iptables', '-w', '-t', table, ...args]);
  if (fresh || await iptables('-C', chain, ...rule).then(() => false, () => true)) await iptables('-A', chain, ...rule);
}

/** Stops the dnsmasq of the gateway whose files are in `dir`. Idempotent. */
export const stopTenantGateway = (dir: string) => stopFromPidFile(join(dir, 'dnsmasq.pid'), 5000);
