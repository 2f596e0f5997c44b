// A tenant's CNCI agent: joins the scheduler with the cnci role under its instance id, says
// CNCI_READY, maps/unmaps external IPs through its Nat, answering each with an event or error, and
// turns its tenant's egress on or off when told.
import { ProtocolPeer } from '../protocol/client.ts';
import type { Frame, PublicIpPayload } from '../protocol/payloads.ts';
import type { Logger } from '../shared/log.ts';
import { UnknownMappingError, type Nat } from './nat.ts';

export interface CnciAgentOptions {
  instanceId: string;
  tenantId: string;
  scheduler: { host: string; port: number; tls: { ca: Buffer; cert: Buffer; key: Buffer } };
  nat: Nat;
  /** Its leg on the cluster network, announced in CNCI_READY (a real CNCI's). */
  address?: string;
  /** Turns the tenant's way out on or off (cnci/tenant-egress.ts); absent where there is none. */
  setEgress?: (on: boolean) => Promise<void>;
  logger: Logger;
}

export class CnciAgent {
  private readonly peer: ProtocolPeer;
  /** Fault injection (verify step 6): every NAT change fails while set. */
  private natFailure = false;
  /** The last egress switch being applied (they run in order). */
  private egressApplied = Promise.resolve();

  constructor(private readonly opts: CnciAgentOptions) {
    this.peer = new ProtocolPeer({
      id: opts.instanceId, roles: ['cnci'], logger: opts.logger,
      host: opts.scheduler.host, port: opts.scheduler.port, tls: opts.scheduler.tls,
    });
    this.peer.on('connected', () =>
      this.peer.send({ type: 'STATUS', op: 'CNCI_READY', payload: { instanceId: opts.instanceId, tenantId: opts.tenantId, address: opts.address } }));
    this.peer.on('frame', (frame) => void this.handle(frame));
  }

  start(): void {
    this.peer.start();
  }

  stop(): void {
    this.peer.stop();
  }

  private async handle(frame: Frame) {
    if (frame.type !== 'COMMAND') return;
    if (frame.op === 'CNCI_FAULT') {
      this.natFailure = frame.payload.natFailure;
      this.opts.logger.info('NAT fault switch', { natFailure: this.natFailure });
    } else if (frame.op === 'CNCI_EGRESS') {
      // One at a time, in the order sent: an on and an off applied together could end in either.
      const on = frame.payload.egress;
      this.egressApplied = this.egressApplied.then(() => this.egress(on));
      await this.egressApplied;
    } else if (frame.op === 'ASSIGN_PUBLIC_IP') {
      await this.change('assign', frame.payload);
    } else if (frame.op === 'RELEASE_PUBLIC_IP') {
      await this.change('release', frame.payload);
    }
  }

  private async egress(on: boolean) {
    if (!this.opts.setEgress) {
      this.opts.logger.warn('egress switch ignored: this CNCI has no way out (setup without --egress)', { egress: on });
      return;
    }
    try {
      await this.opts.setEgress(on);
      this.opts.logger.info('egress applied', { egress: on });
    } catch (err) {
      this.opts.logger.warn('egress could not be applied', { egress: on, error: (err as Error).message });
    }
  }

  private async change(op: 'assign' | 'release', map: PublicIpPayload) {
    try {
      if (this.natFailure) throw new Error('NAT failure injected (fault switch is on)');
      await this.opts.nat[op](map);
    } catch (err) {
      const reason = err instanceof UnknownMappingError ? 'unknown_ip' : 'nat_failure';
      this.opts.logger.warn('NAT change failed', { op, publicIp: map.publicIp, error: (err as Error).message });
      this.peer.send({ type: 'ERROR', op: 'PUBLIC_IP_FAILURE', payload: { ...map, op, reason, message: (err as Error).message } });
      return;
    }
    this.peer.send({ type: 'EVENT', op: op === 'assign' ? 'PUBLIC_IP_ASSIGNED' : 'PUBLIC_IP_RELEASED', payload: map });
  }
}
