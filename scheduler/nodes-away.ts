// A node away for a moment is waited for (docs/protocol.md, "Placement", 7). A node whose link
// drops is usually back within seconds (a launcher restarted, a link that broke), so for a while
// after it left, what only it could take waits for it: a START that fits nowhere else but would fit
// it, and the commands sent to it. Once it is back, or its time is up, they go on: the commands to
// it (or, its time up, to be answered UNREACHABLE), the STARTs to be placed again.

import { RECONNECT_MAX_MS } from '../protocol/client.ts';
import { realClock, type Clock } from './gathering.ts';

/** For how long after its link dropped a node is waited for (ms): a launcher resumed reconnects in
 *  2–3 s, a broken link within its backoff (RECONNECT_MAX_MS), and a handshake may take a second more. */
export const AWAY_MAX_MS = 2 * RECONNECT_MAX_MS;

export interface AwayHandlers<S, C> {
  /** STARTs that waited, in the order they came, to be placed again. */
  retry(starts: S[]): void;
  /** A node's time is up: it is no longer waited for, and what was held for it is undeliverable. */
  expired(nodeId: string, commands: C[]): void;
}

export class NodesAway<S, C> {
  /** When each away node left: a node that drops again before it is back keeps its first time. */
  private readonly leftAt = new Map<string, number>();
  /** By instance id, in the order they came (one that comes again keeps its place). */
  private readonly starts = new Map<string, S>();
  /** By node id, in the order they came. */
  private readonly commands = new Map<string, C[]>();
  private timer?: unknown;
  /** Closed with its scheduler: the links that drop then are not waited for. */
  private closed = false;

  constructor(
    private readonly on: AwayHandlers<S, C>,
    private readonly maxMs = AWAY_MAX_MS,
    private readonly clock: Clock = realClock,
  ) {}

  /** The node's link dropped. Returns for how long it is waited for from now (ms; 0: not at all). */
  left(nodeId: string): number {
    if (this.closed || this.maxMs <= 0) return 0;
    const since = this.leftAt.get(nodeId);
    if (since !== undefined) return Math.max(0, since + this.maxMs - this.clock.now());
    this.leftAt.set(nodeId, this.clock.now());
    this.arm();
    return this.maxMs;
  }

  isAway(nodeId: string): boolean {
    return this.leftAt.has(nodeId);
  }

  get heldStarts(): number {
    return this.starts.size;
  }

  holdsStart(instanceId: string): boolean {
    return this.starts.has(instanceId);
  }

  holdStart(instanceId: string, start: S): void {
    this.starts.set(instanceId, start);
  }

  holdCommand(nodeId: string, command: C): void {
    const held = this.commands.get(nodeId);
    if (held) held.push(command);
    else this.commands.set(nodeId, [command]);
  }

  /** The node connected again: the commands held for it, in order, to be sent to it now (before
   *  any that comes after). It is still away for STARTs until its first STATS (`back`). */
  reconnected(nodeId: string): C[] {
    const held = this.commands.get(nodeId) ?? [];
    this.commands.delete(nodeId);
    return held;
  }

  /** The node sent its first STATS: it takes instances again, and the STARTs that waited are tried again. */
  back(nodeId: string): void {
    if (!this.leftAt.delete(nodeId)) return;
    this.retryStarts();
  }

  close(): void {
    this.closed = true;
    if (this.timer) this.clock.clearTimer(this.timer);
    this.timer = undefined;
    this.leftAt.clear();
    this.starts.clear();
    this.commands.clear();
  }

  private retryStarts() {
    if (this.starts.size === 0) return;
    const starts = [...this.starts.values()];
    this.starts.clear();
    this.on.retry(starts);
  }

  /** One timer, for the node whose time is up first. */
  private arm() {
    if (this.timer || this.leftAt.size === 0) return;
    const first = Math.min(...this.leftAt.values());
    this.timer = this.clock.setTimer(() => {
      this.timer = undefined;
      this.expire();
      this.arm();
    }, Math.max(0, first + this.maxMs - this.clock.now()));
  }

  private expire() {
    const now = this.clock.now();
    const up = [...this.leftAt].filter(([, at]) => now - at >= this.maxMs).map(([id]) => id);
    for (const id of up) {
      this.leftAt.delete(id);
      const held = this.commands.get(id) ?? [];
      this.commands.delete(id);
      this.on.expired(id, held);
    }
    if (up.length) this.retryStarts();
  }
}
