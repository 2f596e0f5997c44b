// External-IP pools: which addresses a pool holds and which one a new mapping gets (the lowest free).
import { ApiError } from '../shared/errors.ts';
import { hostsOf, ipToInt } from './addresses.ts';
import type { Pool } from './api-types.ts';

export function poolAddresses(pool: Pool): string[] {
  const all = new Set<string>(pool.ips);
  for (const subnet of pool.subnets) for (const ip of hostsOf(subnet)) all.add(ip);
  return [...all].sort((a, b) => ipToInt(a) - ipToInt(b));
}

/** The lowest free address over the given pools (in address order), with its pool. */
export function lowestFreeAddress(pools: Pool[], used: ReadonlySet<string>): { ip: string; pool: Pool } {
  let best: { ip: string; pool: Pool; n: number } | undefined;
  for (const pool of pools) {
    const ip = poolAddresses(pool).find((a) => !used.has(a));
    if (ip !== undefined && (!best || ipToInt(ip) < best.n)) best = { ip, pool, n: ipToInt(ip) };
  }
  if (!best) {
    const names = pools.map((p) => p.name).join(', ') || 'none';
    throw new ApiError('pool_exhausted', `no free external IP is left (pools: ${names}); an admin can add addresses with \`ciao add pool\``);
  }
  return best;
}
