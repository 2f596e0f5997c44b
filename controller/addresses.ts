// IPv4 arithmetic for the address plan (SPEC §4): tenant subnets from 172.16.0.0/12, instance
// addresses from .2 (the CNCI gateway is .1), MAC = 02:00 + the address's four bytes.
import { ApiError, badRequest } from '../shared/errors.ts';

export const TENANT_SPACE = '172.16.0.0/12';

export function ipToInt(ip: string): number {
  const parts = ip.split('.');
  if (parts.length !== 4) throw badRequest(`${ip} is not an IPv4 address`);
  let n = 0;
  for (const p of parts) {
    const b = Number(p);
    if (!/^\d{1,3}$/.test(p) || b > 255) throw badRequest(`${ip} is not an IPv4 address`);
    n = n * 256 + b;
  }
  return n;
}

export const intToIp = (n: number): string => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');

export interface Cidr {
  base: number;
  bits: number;
  size: number;
}

export function parseCidr(cidr: string): Cidr {
  const [ip, bitsText] = cidr.split('/');
  const bits = Number(bitsText);
  if (bitsText === undefined || !Number.isInteger(bits) || bits < 0 || bits > 32) throw badRequest(`${cidr} is not a CIDR such as 203.0.113.0/24`);
  const size = 2 ** (32 - bits);
  const base = ipToInt(ip);
  if (base % size !== 0) throw badRequest(`${cidr} has host bits set: did you mean ${intToIp(base - (base % size))}/${bits}?`);
  return { base, bits, size };
}

export const formatCidr = (c: Cidr): string => `${intToIp(c.base)}/${c.bits}`;

export const overlaps = (a: Cidr, b: Cidr): boolean => a.base < b.base + b.size && b.base < a.base + a.size;

/** The first /bits subnet of the tenant space that overlaps none of the taken ones. */
export function allocateSubnet(taken: string[], bits: number): string {
  if (!Number.isInteger(bits) || bits < 12 || bits > 30) throw badRequest(`subnet_bits must be between 12 and 30, not ${bits}`);
  const space = parseCidr(TENANT_SPACE);
  const used = taken.map(parseCidr).sort((a, b) => a.base - b.base);
  const size = 2 ** (32 - bits);
  for (let base = space.base; base + size <= space.base + space.size; base += size) {
    const candidate = { base, bits, size };
    const clash = used.find((u) => overlaps(u, candidate));
    if (!clash) return formatCidr(candidate);
    // Jump to the first aligned subnet after the clash rather than walking every subnet inside it.
    base = Math.ceil((clash.base + clash.size) / size) * size - size;
  }
  throw new ApiError('pool_exhausted', `no free /${bits} subnet is left in ${TENANT_SPACE}`);
}

export const gatewayOf = (subnet: string): string => intToIp(parseCidr(subnet).base + 1);

export function macFor(ip: string): string {
  const n = ipToInt(ip);
  const bytes = [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];
  return ['02', '00', ...bytes.map((b) => b.toString(16).padStart(2, '0'))].join(':');
}

/** Usable addresses of a CIDR: all but network and broadcast, except for /31 and /32. */
export function* hostsOf(cidr: string): Generator<string> {
  const { base, size, bits } = parseCidr(cidr);
  const [first, last] = bits >= 31 ? [base, base + size - 1] : [base + 1, base + size - 2];
  for (let n = first; n <= last; n++) yield intToIp(n);
}
