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
import { UPLINK } from '../network/cluster-leg.ts';
import { ensureTenantSegment } from '../network/tenant-tunnel.ts';

export interface TenantGateway {
  ns: string;
  bridge: string;
  /** Stops its dnsmasq (the namespace goes with the CNCI). */
  stop(): Promise<void>;
}

/**
 * `ns` already has its leg (network/cluster-leg.ts) at `legIp`; files (hosts, leases, pid, log) go
 * to `dir`. Safe to call again for a gateway that is up (a restarted launcher re-adopting its CNCI).
 */
export async function startTenantGateway(ns: string, subnet: string, legIp: string, dir: string): Promise<TenantGateway> {
  const bridge = await ensureTenantSegment(ns, subnet, UPLINK, legIp);
  const { base, bits } = parseCidr(subnet);
  const gateway = gatewayOf(subnet);
  const addresses = (await ipIn(ns, '-4', '-o', 'addr', 'show', 'dev', bridge));
  if (!addresses.includes(` ${gateway}/`)) await addAddress(ns, bridge, `${gateway}/${bits}`);
  await run('ip', ['netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);
  if (!(await readPidFile(join(dir, 'dnsmasq.pid')))) {
    // On the command line, not in a hosts file: dnsmasq reads that file after dropping root, and the
    // cluster's state dir is private.
    const hosts = [...hostsOf(subnet)].filter((ip) => ip !== gateway).map((ip) => `--dhcp-host=${macFor(ip)},${ip}`);
    const netmask = intToIp((0xffffffff << (32 - bits)) >>> 0);
    // Detached, so the tenant keeps DHCP while its launcher restarts; found again by its pid file.
    await startDetached({
      name: `dnsmasq of ${ns}`, log: join(dir, 'dnsmasq.log'), pidFile: join(dir, 'dnsmasq.pid'), pidFileBy: 'process', readyTimeoutMs: 5000,
      command: 'ip', args: ['netns', 'exec', ns, 'dnsmasq', '--keep-in-foreground', '--conf-file=/dev/null', '--port=0',
        `--interface=${bridge}`, '--bind-interfaces', `--dhcp-range=${intToIp(base)},static,${netmask},infinite`, ...hosts,
        `--dhcp-option=3,${gateway}`, '--dhcp-authoritative', `--dhcp-leasefile=${join(dir, 'leases')}`, `--pid-file=${join(dir, 'dnsmasq.pid')}`,
        '--log-facility=-'],
    });
  }
  return { ns, bridge, stop: () => stopTenantGateway(dir) };
}

/** Stops the dnsmasq of the gateway whose files are in `dir`. Idempotent. */
export const stopTenantGateway = (dir: string) => stopFromPidFile(join(dir, 'dnsmasq.pid'), 5000);
