// Failed logins slow the next ones down (docs/security.md), per user and per source address:
// past a few failures within a window, each key is locked for a time that doubles with every
// further failure, up to a minute, and a login in that time is answered 429 with when to retry.
// A successful login clears its user's count. Logins that succeed cost nothing here, so the
// suites, which log in many times, are never slowed. The table is bounded: a flood of made-up
// names cannot grow it without end.

export interface ThrottleOptions {
  /** Failures allowed within the window before a user is locked. */
  perUser?: number;
  /** Failures allowed from one source address (over all users) before it is locked. */
  perSource?: number;
  windowMs?: number;
  maxLockMs?: number;
  maxKeys?: number;
}

interface Entry {
  failures: number;
  last: number;
  lockedUntil: number;
}

export class LoginThrottle {
  private readonly entries = new Map<string, Entry>();
  private readonly o: Required<ThrottleOptions>;

  constructor(opts: ThrottleOptions = {}) {
    this.o = { perUser: 5, perSource: 50, windowMs: 60_000, maxLockMs: 60_000, maxKeys: 10_000, ...opts };
  }

  /** Milliseconds to wait before a login of `user` from `source` is heard, or 0. */
  wait(user: string, source: string, now = Date.now()): number {
    return Math.max(0, ...[`u:${user}`, `s:${source}`].map((k) => (this.entries.get(k)?.lockedUntil ?? 0) - now));
  }

  failed(user: string, source: string, now = Date.now()): void {
    this.count(`u:${user}`, this.o.perUser, now);
    this.count(`s:${source}`, this.o.perSource, now);
  }

  succeeded(user: string): void {
    this.entries.delete(`u:${user}`);
  }

  private count(key: string, allowed: number, now: number) {
    let e = this.entries.get(key);
    if (!e || now - e.last > this.o.windowMs) e = { failures: 0, last: now, lockedUntil: 0 };
    e.failures++;
    e.last = now;
    if (e.failures > allowed) e.lockedUntil = now + Math.min(this.o.maxLockMs, 1000 * 2 ** (e.failures - allowed - 1));
    this.entries.delete(key); // re-inserted last: the map's order is the eviction order
    this.entries.set(key, e);
    if (this.entries.size > this.o.maxKeys) this.entries.delete(this.entries.keys().next().value!);
  }
}
