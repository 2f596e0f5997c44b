// External-IP pools: which addresses a pool holds and which one a new mapping gets (the lowest free).
// A pool is kept as ranges of address numbers, never as a list of addresses: its size, a clash with
// another pool and the lowest free address are found without listing it (docs/security.md).
import { ApiError } from '../shared/errors.ts';
import { intToIp, ipToInt, parseCidr } from './addresses.ts';
import type { Pool } from './api-types.ts';

/** Inclusive ranges of address numbers, sorted and merged. */
export type Ranges = [number, number][];

export function poolRanges(pool: Pool): Ranges {
  const ranges: Ranges = pool.ips.map((ip) => [ipToInt(ip), ipToInt(ip)]);
  for (const subnet of pool.subnets) {
    const { base, size, bits } = parseCidr(subnet);
    // A /31 or /32 is all hosts; larger subnets lose their network and broadcast addresses.
    ranges.push(bits >= 31 ? [base, base + size - 1] : [base + 1, base + size - 2]);
  }
  ranges.sort((x, y) => x[0] - y[0]);
  const merged: Ranges = [];
  for (const [from, to] of ranges) {
    const last = merged.at(-1);
    if (last && from <= last[1] + 1) last[1] = Math.max(last[1], to);
    else merged.push([from, to]);
  }
  return merged;
}

export const poolSize = (pool: Pool): number => poolRanges(pool).reduce((n, [from, to]) => n + to - from + 1, 0);

/** Every address of a pool, in order (for small pools and tests: the service never lists one). */
export const poolAddresses = (pool: Pool): string[] =>
  poolRanges(pool).flatMap(([from, to]) => Array.from({ length: to - from + 1 }, (_, i) => intToIp(from + i)));

/** The first address two pools both hold, if any. */
export function firstShared(a: Pool, b: Pool): string | undefined {
  let best: number | undefined;
  for (const [af, at] of poolRanges(a)) {
    for (const [bf, bt] of poolRanges(b)) {
      const from = Math.max(af, bf);
      if (from <= Math.min(at, bt) && (best === undefined || from < best)) best = from;
    }
  }
  return best === undefined ? undefined : intToIp(best);
}

/** The lowest free address over the given pools (in address order), with its pool. Walks past used
 *  addresses only: at most one step per mapping. */
export function lowestFreeAddress(pools: Pool[], used: ReadonlySet<string>): { ip: string; pool: Pool } {
  let best: { ip: string; pool: Pool; n: number } | undefined;
  for (const pool of pools) {
    search: for (const [from, to] of poolRanges(pool)) {
      for (let n = from; n <= to; n++) {
        if (best && n >= best.n) break search;
        if (!used.has(intToIp(n))) {
          best = { ip: intToIp(n), pool, n };
          break search;
        }
      }
    }
  }
  if (!best) {
    const names = pools.map((p) => p.name).join(', ') || 'none';
    throw new ApiError('pool_exhausted', `no free external IP is left (pools: ${names}); an admin can add addresses with \`ciao add pool\``);
  }
  return best;
}
