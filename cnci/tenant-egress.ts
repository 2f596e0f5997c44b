// A tenant's way out, on or off, in its CNCI's namespace (docs/egress.md, "Per tenant"): off drops
// every packet between the tenant and outside the cluster (both directions, established flows too)
// and removes the default route; on empties that chain and puts the route back. The last setting
// the controller sent is kept in the CNCI's folder, so the data plane made again applies it.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../shared/run.ts';
import { ipIn } from '../network/ip.ts';
import { CLUSTER_IP, CLUSTER_NETWORK, UPLINK } from '../network/cluster-leg.ts';

export const EGRESS_CHAIN = 'CIAO-EGRESS';

const iptables = (ns: string, ...args: string[]) => run('ip', ['netns', 'exec', ns, 'iptables', '-w', ...args]);

/** The drops of a tenant without egress. Bridged traffic inside the tenant never matches (its
 *  ports are the bridge's), nor do flows DNATed here (its external IPs), nor the cluster network. */
export const egressOffRules = (bridge: string): string[][] => [
  ['-i', bridge, '-o', UPLINK, '!', '-d', CLUSTER_NETWORK, '-m', 'conntrack', '!', '--ctstate', 'DNAT', '-j', 'DROP'],
  ['-i', UPLINK, '-o', bridge, '!', '-s', CLUSTER_NETWORK, '-m', 'conntrack', '!', '--ctstate', 'DNAT', '-j', 'DROP'],
];

/** Applies `on` in `ns` (idempotent): the chain first in FORWARD, its rules, the default route. */
export async function applyTenantEgress(ns: string, bridge: string, on: boolean): Promise<void> {
  await iptables(ns, '-N', EGRESS_CHAIN).catch(() => undefined); // exists already: fine
  if (await iptables(ns, '-C', 'FORWARD', '-j', EGRESS_CHAIN).then(() => false, () => true)) await iptables(ns, '-I', 'FORWARD', '1', '-j', EGRESS_CHAIN);
  if (on) {
    await iptables(ns, '-F', EGRESS_CHAIN);
    await ipIn(ns, 'route', 'replace', 'default', 'via', CLUSTER_IP, 'dev', UPLINK);
    return;
  }
  // Drops in place before the chain is emptied of anything else: never a moment without them.
  for (const rule of egressOffRules(bridge)) {
    if (await iptables(ns, '-C', EGRESS_CHAIN, ...rule).then(() => false, () => true)) await iptables(ns, '-A', EGRESS_CHAIN, ...rule);
  }
  await ipIn(ns, 'route', 'del', 'default').catch(() => undefined); // none: fine
}

const file = (dir: string) => join(dir, 'egress.json');

/** What the controller last said, or off when it never said (fail closed). */
export const readTenantEgress = (dir: string): Promise<boolean> =>
  readFile(file(dir), 'utf8').then((s) => (JSON.parse(s) as { egress?: unknown }).egress === true, () => false);

export const saveTenantEgress = (dir: string, on: boolean) => writeFile(file(dir), JSON.stringify({ egress: on }));
