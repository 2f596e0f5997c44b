// The data plane of a tenant's CNCI, in its own namespace: its leg on ciao_br, the tenant segment
// with the .1 gateway, forwarding on (for its tenant only: nothing routes other tenants' subnets
// to it), and dnsmasq handing each instance its controller-assigned address by MAC.
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../shared/run.ts';
import { gatewayOf, intToIp, parseCidr } from '../controller/addresses.ts';
import { addAddress } from '../network/links.ts';
import { UPLINK } from '../network/cluster-leg.ts';
import { ensureTenantSegment } from '../network/tenant-tunnel.ts';

export interface TenantGateway {
  ns: string;
  bridge: string;
  /** Adds a static DHCP host and makes dnsmasq re-read the list. */
  addHost(mac: string, ip: string): Promise<void>;
  stop(): void;
}

/** `ns` already has its leg (network/cluster-leg.ts) at `legIp`; files go to `dir`. */
export async function startTenantGateway(ns: string, subnet: string, legIp: string, dir: string): Promise<TenantGateway> {
  const bridge = await ensureTenantSegment(ns, subnet, UPLINK, legIp);
  const { bits } = parseCidr(subnet);
  await addAddress(ns, bridge, `${gatewayOf(subnet)}/${bits}`);
  await run('ip', ['netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);
  const hosts = join(dir, 'dhcp-hosts');
  await writeFile(hosts, '');
  const { base } = parseCidr(subnet);
  const netmask = intToIp((0xffffffff << (32 - bits)) >>> 0);
  const dnsmasq: ChildProcess = spawn('ip', ['netns', 'exec', ns, 'dnsmasq', '--keep-in-foreground', '--conf-file=/dev/null', '--port=0',
    `--interface=${bridge}`, '--bind-interfaces', `--dhcp-range=${intToIp(base)},static,${netmask}`, `--dhcp-hostsfile=${hosts}`,
    `--dhcp-option=3,${gatewayOf(subnet)}`, `--dhcp-leasefile=${join(dir, 'leases')}`, `--pid-file=${join(dir, 'dnsmasq.pid')}`,
  ], { stdio: ['ignore', 'ignore', 'inherit'] });
  return {
    ns, bridge,
    async addHost(mac, ip) {
      await appendFile(hosts, `${mac},${ip}\n`);
      dnsmasq.kill('SIGHUP');
    },
    stop: () => void dnsmasq.kill(),
  };
}
