// NAT for external IPs inside a tenant's CNCI namespace (never the host's): the external address on
// the CNCI's leg on ciao_br, DNAT in, SNAT out. iptables (nf_tables) rules live in that namespace only.
import type { PublicIpPayload } from '../protocol/payloads.ts';
import { run } from '../shared/run.ts';
import { ipIn } from '../network/ip.ts';
import { UnknownMappingError, type Nat } from './nat.ts';

export class IptablesNat implements Nat {
  constructor(private readonly ns: string, private readonly leg: string) {}

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
      if (!present) await this.iptables(table, name, '-A', chain, ...rule);
    }
  }

  async release(m: PublicIpPayload): Promise<void> {
    const removed = await ipIn(this.ns, 'addr', 'del', `${m.publicIp}/32`, 'dev', this.leg).then(() => true, () => false);
    for (const [table, name, chain, ...rule] of this.rules(m)) await this.iptables(table, name, '-D', chain, ...rule).catch(() => undefined);
    if (!removed) throw new UnknownMappingError(`${m.publicIp} is not mapped on this CNCI`);
  }
}
