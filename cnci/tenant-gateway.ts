// The data plane of a tenant's CNCI, in its own namespace: its leg on ciao_br, the tenant segment
// with the .1 gateway, forwarding on (for its tenant only: nothing routes other tenants' subnets
// to it), and dnsmasq handing each instance its controller-assigned address by MAC. Since an
// instance's MAC is 02:00 + its IP, every address of the subnet is listed up front.
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../shared/run.ts';
import { isAlive } from '../shared/is-alive.ts';
import { waitFor } from '../shared/wait-for.ts';
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

const dnsmasqPid = async (dir: string) => {
  const pid = Number(await readFile(join(dir, 'dnsmasq.pid'), 'utf8').catch(() => ''));
  return pid > 1 && isAlive(pid) ? pid : undefined;
};

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
  if (!(await dnsmasqPid(dir))) {
    // On the command line, not in a hosts file: dnsmasq reads that file after dropping root, and the
    // cluster's state dir is private.
    const hosts = [...hostsOf(subnet)].filter((ip) => ip !== gateway).map((ip) => `--dhcp-host=${macFor(ip)},${ip}`);
    const netmask = intToIp((0xffffffff << (32 - bits)) >>> 0);
    const log = openSync(join(dir, 'dnsmasq.log'), 'a');
    // Detached, so the tenant keeps DHCP while its launcher restarts; found again by its pid file.
    const child = spawn('ip', ['netns', 'exec', ns, 'dnsmasq', '--keep-in-foreground', '--conf-file=/dev/null', '--port=0',
      `--interface=${bridge}`, '--bind-interfaces', `--dhcp-range=${intToIp(base)},static,${netmask},infinite`, ...hosts,
      `--dhcp-option=3,${gateway}`, '--dhcp-authoritative', `--dhcp-leasefile=${join(dir, 'leases')}`, `--pid-file=${join(dir, 'dnsmasq.pid')}`,
      '--log-facility=-',
    ], { stdio: ['ignore', log, log], detached: true });
    closeSync(log);
    child.unref();
    await waitFor(`dnsmasq of ${ns} (log: ${join(dir, 'dnsmasq.log')})`, async () => {
      if (child.exitCode !== null) throw new Error(`dnsmasq in ${ns} exited with ${child.exitCode}: see ${join(dir, 'dnsmasq.log')}`);
      return !!(await dnsmasqPid(dir));
    }, { timeoutMs: 5000, intervalMs: 20 });
  }
  return { ns, bridge, stop: () => stopTenantGateway(dir) };
}

/** Stops the dnsmasq of the gateway whose files are in `dir`. Idempotent. */
export async function stopTenantGateway(dir: string): Promise<void> {
  const pid = await dnsmasqPid(dir);
  if (!pid) return;
  process.kill(pid, 'SIGTERM');
  await waitFor(`dnsmasq (pid ${pid}) to stop`, () => !isAlive(pid), { timeoutMs: 5000, intervalMs: 20 });
}
