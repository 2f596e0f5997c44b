// Load shedding for creates (docs/api.md, "Busy"): while too many instances wait to start, or
// the controller's event loop lags, a create is refused at once with 503 `unavailable` and a
// Retry-After, so a burst is told when to come back instead of queueing until clients time out.
// Reads are never shed: they are cheap, and how a client sees the burst drain.
import { ApiError } from '../shared/errors.ts';

export interface AdmissionLimits {
  /** Instances created and not yet started (pending) beyond which a create must wait. */
  maxPendingStarts: number;
  /** How late (ms) the event loop may run a timer before creates must wait. */
  maxLagMs: number;
}

export const DEFAULT_ADMISSION: AdmissionLimits = { maxPendingStarts: 30_000, maxLagMs: 500 };

/** How often the event loop's lateness is sampled. */
const SAMPLE_MS = 100;

export class CreateAdmission {
  private lagMs = 0;
  private readonly sampler: NodeJS.Timeout;

  /** `pending`: how many instances wait to start right now. */
  constructor(private readonly limits: AdmissionLimits, private readonly pending: () => number) {
    let expected = performance.now() + SAMPLE_MS;
    this.sampler = setInterval(() => {
      const t = performance.now();
      this.lagMs = Math.max(0, t - expected);
      expected = t + SAMPLE_MS;
    }, SAMPLE_MS).unref();
  }

  /** Throws 503 with Retry-After when a create of `count` instances must wait. A create into an
   *  empty queue is let through whatever its size (it would never fit otherwise). */
  admit(count: number): void {
    const pending = this.pending();
    if (pending > 0 && pending + count > this.limits.maxPendingStarts) {
      throw new ApiError('unavailable', `the controller is busy: ${pending} instances are waiting to start (at most ${this.limits.maxPendingStarts}, this create adds ${count}): try again in 1 s`, 1);
    }
    if (this.lagMs > this.limits.maxLagMs) {
      const seconds = Math.max(1, Math.ceil(this.lagMs / 1000));
      throw new ApiError('unavailable', `the controller is busy: it runs ${Math.round(this.lagMs)} ms behind (at most ${this.limits.maxLagMs}): try again in ${seconds} s`, seconds);
    }
  }

  close(): void {
    clearInterval(this.sampler);
  }
}
