// NAT for external IPs inside a tenant's CNCI namespace (never the host's): the external address on
// the CNCI's leg on ciao_br, DNAT in, SNAT out, and a /32 route to the leg in the cluster namespace.
// iptables (nf_tables) rules live in the CNCI's namespace only.
import type { PublicIpPayload } from '../protocol/payloads.ts';
import { run } from '../shared/run.ts';
import { ipIn } from '../network/ip.ts';
import { UnknownMappingError, type Nat } from './nat.ts';

/** Where the cluster network learns that an external IP lives behind this CNCI's leg. */
export interface ExternalRoute {
  clusterNs: string;
  /** The CNCI's leg address on the cluster network, and the link there that reaches it. */
  via: string;
  dev: string;
}

export class IptablesNat implements Nat {
  constructor(private readonly ns: string, private readonly leg: string, private readonly route?: ExternalRoute) {}

  private iptables(...args: string[]) {
    return run('ip', ['netns', 'exec', this.ns, 'iptables', '-w', ...args]);
  }

  private rules(m: PublicIpPayload): string[][] {
    return [
      ['-t', 'nat', 'PREROUTING', '-d', `${m.publicIp}/32`, '-j', 'DNAT', '--to-destination', m.privateIp],
      ['-t', 'nat', 'POSTROUTING', '-s', `${m.privateIp}/32`, '-j', 'SNAT', '--to-source', m.publicIp],
    ];
  }

  async assign(m: PublicIpPayload): Promise<void> {
    await ipIn(this.ns, 'addr', 'replace', `${m.publicIp}/32`, 'dev', this.leg);
    for (const [table, name, chain, ...rule] of this.rules(m)) {
      const present = (await this.iptables(table, name, '-C', chain, ...rule).catch(() => undefined)) !== undefined;
      // First in its chain: an instance with an external IP leaves as that IP, before the tenant's
      // masquerade for egress (docs/egress.md) could match it.
      if (!present) await this.iptables(table, name, '-I', chain, '1', ...rule);
    }
    if (this.route) await ipIn(this.route.clusterNs, 'route', 'replace', `${m.publicIp}/32`, 'via', this.route.via, 'dev', this.route.dev);
  }

  async release(m: PublicIpPayload): Promise<void> {
    const removed = await ipIn(this.ns, 'addr', 'del', `${m.publicIp}/32`, 'dev', this.leg).then(() => true, () => false);
    for (const [table, name, chain, ...rule] of this.rules(m)) await this.iptables(table, name, '-D', chain, ...rule).catch(() => undefined);
    if (this.route) await ipIn(this.route.clusterNs, 'route', 'del', `${m.publicIp}/32`).catch(() => undefined);
    if (!removed) throw new UnknownMappingError(`${m.publicIp} is not mapped on this CNCI`);
  }
}
