// A new scheduler gathers its nodes before it refuses a START (docs/protocol.md, "Placement", 6).
// Just started, it has heard from none of them: they come back over the next seconds, while a
// controller that connects sends again at once every START no answer reached. A START it cannot
// place then is held here, not refused, until the nodes the controller expects are back (or, until
// it says which, until they have stopped arriving); then all held are handed back, in the order
// they came, to be placed or refused for good.

import { RECONNECT_MAX_MS } from '../protocol/client.ts';

/** For how long after its start a scheduler holds what it cannot place (ms). */
export const GATHER_MAX_MS = 15_000;
/** Nodes have stopped arriving once none connected or sent its first STATS for this long (ms): a
 *  node tries again at most every RECONNECT_MAX_MS, and its TLS handshake may take a second more. */
export const GATHER_QUIET_MS = RECONNECT_MAX_MS + 1_000;

/** Time and timers (a test's own, to step through). */
export interface Clock {
  now(): number;
  setTimer(fn: () => void, ms: number): unknown;
  clearTimer(timer: unknown): void;
}
export const realClock: Clock = { now: () => performance.now(), setTimer: (fn, ms) => setTimeout(fn, ms), clearTimer: (t) => clearTimeout(t as NodeJS.Timeout) };

export class Gathering<T> {
  private readonly startedAt: number;
  private lastArrival: number;
  /** By instance id, in the order they came (one that comes again keeps its place). */
  private readonly held = new Map<string, T>();
  /** The nodes still awaited, once the controller said which. */
  private expected?: Set<string>;
  private timer?: unknown;
  /** Fires once the gathering's time is up, for the nodes expected that never came back. */
  private giveUpTimer?: unknown;

  /** `notBack`: told, once the gathering's time is up, the nodes the controller expected that
   *  have not sent their first STATS (none: not told). */
  constructor(
    private readonly release: (held: T[]) => void,
    private readonly limits: { maxMs: number; quietMs: number } = { maxMs: GATHER_MAX_MS, quietMs: GATHER_QUIET_MS },
    private readonly clock: Clock = realClock,
    private readonly notBack: (ids: string[]) => void = () => {},
  ) {
    this.startedAt = this.lastArrival = clock.now();
  }

  /** A node connected, or sent its first STATS (`id`: it takes instances from then on). */
  arrived(id?: string): void {
    this.lastArrival = this.clock.now();
    if (id !== undefined && this.expected?.delete(id)) this.settle();
  }

  /** The nodes the controller knows of that have not sent their first STATS yet: once they have,
   *  nothing more is waited for. */
  expect(ids: string[]): void {
    this.expected = new Set(ids);
    this.settle();
    if (this.giveUpTimer || this.expected.size === 0) return;
    this.giveUpTimer = this.clock.setTimer(() => {
      const left = [...this.expected ?? []];
      if (left.length) this.notBack(left);
    }, Math.max(0, this.startedAt + this.limits.maxMs - this.clock.now()));
  }

  /** Whether nodes may still be arriving: what cannot be placed now is held. */
  get open(): boolean {
    const t = this.clock.now();
    if (t - this.startedAt >= this.limits.maxMs) return false;
    return this.expected ? this.expected.size > 0 : t - this.lastArrival < this.limits.quietMs;
  }

  get size(): number {
    return this.held.size;
  }

  holds(id: string): boolean {
    return this.held.has(id);
  }

  /** Holds `item` until the nodes have stopped arriving; one held under `id` is replaced, in its place. */
  hold(id: string, item: T): void {
    this.held.set(id, item);
    this.arm();
  }

  close(): void {
    if (this.timer) this.clock.clearTimer(this.timer);
    if (this.giveUpTimer) this.clock.clearTimer(this.giveUpTimer);
    this.timer = this.giveUpTimer = undefined;
    this.held.clear();
  }

  private arm() {
    if (this.timer) return;
    const end = this.startedAt + this.limits.maxMs;
    const due = this.expected ? end : Math.min(end, this.lastArrival + this.limits.quietMs);
    this.timer = this.clock.setTimer(() => {
      this.timer = undefined;
      if (this.open) return this.arm();
      this.settle();
    }, Math.max(0, due - this.clock.now()));
  }

  /** Once nodes are no longer awaited, what was held goes back. */
  private settle() {
    if (this.open || this.held.size === 0) return;
    if (this.timer) this.clock.clearTimer(this.timer);
    this.timer = undefined;
    const items = [...this.held.values()];
    this.held.clear();
    this.release(items);
  }
}
