// Passwords as identity keeps them (docs/security.md): scrypt hashes from node:crypto, never the
// passwords, compared in constant time. Hashing runs on libuv's thread pool, so a flood of logins
// does not stall the event loop; a password that verified once is remembered by a SHA-256 of it
// (in memory only), so the suites' thousands of logins stay fast while every wrong guess pays scrypt.
import { createHash, randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { availableParallelism } from 'node:os';

const PARAMS = { N: 16384, r: 8, p: 1 };
const KEY_BYTES = 32;

/** Hashes at once: one per core. Each holds 128·N·r bytes (16 MB) while it runs; libuv's four pool
 *  threads would hold 64 MB at the peak of a burst of logins on two cores, for no more speed. */
const MAX_AT_ONCE = availableParallelism();
let running = 0;
const waiting: (() => void)[] = [];

const derive = async (password: string, salt: Buffer, o: ScryptOptions & { N: number; r: number; p: number }) => {
  // A finished hash hands its slot to the next in line.
  if (running < MAX_AT_ONCE) running++;
  else await new Promise<void>((go) => waiting.push(go));
  try {
    return await new Promise<Buffer>((resolve, reject) => scrypt(password, salt, KEY_BYTES, { ...o, maxmem: 128 * o.N * o.r * 2 }, (err, key) => (err ? reject(err) : resolve(key))));
  } finally {
    const next = waiting.shift();
    if (next) next();
    else running--;
  }
};

/** `scrypt$N$r$p$<salt>$<hash>` (base64). */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await derive(password, salt, PARAMS);
  return ['scrypt', PARAMS.N, PARAMS.r, PARAMS.p, salt.toString('base64'), key.toString('base64')].join('$');
}

/** A hash in the stored form that no password matches (its key is random, not derived): verifying
 *  against it costs one scrypt, as a wrong password does, without running one to make it. */
export function unmatchableHash(): string {
  return ['scrypt', PARAMS.N, PARAMS.r, PARAMS.p, randomBytes(16).toString('base64'), randomBytes(KEY_BYTES).toString('base64')].join('$');
}

export const isPasswordHash = (s: string): boolean => /^scrypt\$\d+\$\d+\$\d+\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/.test(s);

/** stored hash → SHA-256 of a password that matched it. */
const verified = new Map<string, Buffer>();

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  if (!isPasswordHash(stored)) return false;
  const [, n, r, p, salt, hash] = stored.split('$');
  const quick = createHash('sha256').update(salt).update(password).digest();
  const known = verified.get(stored);
  if (known && timingSafeEqual(known, quick)) return true;
  const want = Buffer.from(hash, 'base64');
  const got = await derive(password, Buffer.from(salt, 'base64'), { N: Number(n), r: Number(r), p: Number(p) });
  const ok = got.length === want.length && timingSafeEqual(got, want);
  if (ok) verified.set(stored, quick);
  return ok;
}
