// Waiting on a condition with a timeout (never a bare sleep): polls `check` until it returns a
// truthy value, and fails with what it waited for and the last error seen.
import pRetry, { AbortError } from 'p-retry';

export { AbortError };

/** How much slower than bare metal this machine is: CIAO_TIMEOUT_SCALE (ccloudvm sets it inside a
 *  nested VM from the acceleration it detected: TCG guests are many times slower). Every wait and
 *  probe timeout is multiplied by it. */
export const TIMEOUT_SCALE = Math.max(1, Number(process.env.CIAO_TIMEOUT_SCALE) || 1);
export const scaled = (ms: number) => ms * TIMEOUT_SCALE;

export interface WaitOptions {
  timeoutMs?: number;
  intervalMs?: number;
}

export async function waitFor<T>(what: string, check: () => Promise<T | undefined | null | false> | T | undefined | null | false, opts: WaitOptions = {}): Promise<T> {
  const timeoutMs = scaled(opts.timeoutMs ?? 30_000);
  const intervalMs = opts.intervalMs ?? 100;
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  return pRetry(async () => {
    try {
      const value = await check();
      if (value) return value as T;
      last = undefined;
    } catch (err) {
      // The check knows the wait is hopeless (e.g. what it waits on is gone): stop now.
      if (err instanceof AbortError) throw err;
      last = err;
    }
    if (Date.now() >= deadline) {
      const why = last ? `: ${(last as Error).message}` : '';
      throw new AbortError(`timed out after ${(timeoutMs / 1000).toFixed(1)} s waiting for ${what}${why}`);
    }
    throw new Error(`still waiting for ${what}`);
  }, { retries: Infinity, minTimeout: intervalMs, maxTimeout: intervalMs, factor: 1 });
}
