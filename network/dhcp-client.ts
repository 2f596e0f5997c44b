// An address by DHCP for a link inside a cluster namespace (a CNCI's leg on ciao_br gets it from the
// cluster's dnsmasq on ciaovlan, SPEC §4), with busybox's udhcpc: ask once, set the address, quit;
// and given back when the link goes, with dnsmasq's own dhcp_release (its leases never expire).
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../shared/run.ts';
import { ipJson } from './ip.ts';

const SCRIPT = `#!/bin/sh
# udhcpc calls this with the lease in its environment: only the address is taken (no default route).
[ "$1" = bound ] || [ "$1" = renew ] || exit 0
ip addr flush dev "$interface"
ip addr add "$ip/\${mask:-24}" dev "$interface"
`;

/** The IPv4 address `link` has in `ns`, if any. */
export async function addressOf(ns: string, link: string): Promise<string | undefined> {
  const [info] = await ipJson<{ addr_info?: { family: string; local: string }[] }[]>(ns, '-4', 'addr', 'show', 'dev', link);
  return info?.addr_info?.find((a) => a.family === 'inet')?.local;
}

/** Leases an address for `link` in `ns` (a link that has one keeps it); `dir` holds udhcpc's script.
 *  `fresh`: the link was made just now, without an address. */
export async function leaseAddress(ns: string, link: string, dir: string, fresh = false): Promise<string> {
  const have = fresh ? undefined : await addressOf(ns, link);
  if (have) return have;
  const script = join(dir, 'udhcpc.script');
  await writeFile(script, SCRIPT);
  await chmod(script, 0o755);
  await run('ip', ['netns', 'exec', ns, 'busybox', 'udhcpc', '-i', link, '-s', script, '-q', '-n', '-f', '-t', '10', '-T', '1'], { timeout: 20_000 });
  const got = await addressOf(ns, link);
  if (!got) throw new Error(`no DHCP answer for ${link} in ${ns}: is the cluster's dnsmasq running on ciaovlan?`);
  return got;
}

/** The DHCP client id udhcpc sends for a link of this MAC (type 1, Ethernet, then the MAC). */
const clientId = (mac: string) => `01:${mac}`;

/** Gives `ip`, leased to `mac`, back to the cluster's dnsmasq on `dev` in `clusterNs`: its leases
 *  are infinite (an address must not change under the instances that know it), so one that is not
 *  given back is lost until cleanup. dhcp_release sends the DHCPRELEASE from the server's own side
 *  (dnsmasq-utils; what Neutron does), so the client's namespace may already be gone. */
export async function releaseAddress(clusterNs: string, dev: string, ip: string, mac: string): Promise<void> {
  await run('ip', ['netns', 'exec', clusterNs, 'dhcp_release', dev, ip, mac, clientId(mac)], { timeout: 5000 });
}
