// Compute keypairs (Nova's os-keypairs): per user, named uniquely per user, stored with their
// public key only. A server made with a key_name gets that key on its config drive.
import { randomUUID } from 'node:crypto';
import { ApiError, notFound } from '../shared/errors.ts';
import type { Keypair, Quotas } from './api-types.ts';
import { now } from './context.ts';
import type { Datastore } from './datastore/datastore.ts';
import { generateKeyPair, parsePublicKey } from './ssh-keys.ts';
import { limitOf, UNLIMITED } from './quotas.ts';

export const keypairsOf = (store: Datastore, userId: string): Keypair[] => store.keypairs.byTenant(userId);

export function findKeypair(store: Datastore, userId: string, name: string): Keypair {
  const k = keypairsOf(store, userId).find((p) => p.name === name);
  if (!k) throw notFound('keypair', name);
  return k;
}

/** Imports `publicKey`, or generates a pair and returns its private half (shown this once). */
export function createKeypair(store: Datastore, quotas: Quotas | undefined, userId: string, name: string, publicKey?: string): { keypair: Keypair; privateKey?: string } {
  const mine = keypairsOf(store, userId);
  if (mine.some((k) => k.name === name)) throw new ApiError('conflict', `Key pair '${name}' already exists.`);
  const limit = limitOf(quotas, 'key_pairs');
  if (limit !== UNLIMITED && mine.length >= limit) throw new ApiError('forbidden', `Quota exceeded, too many key pairs: key_pairs is ${limit}`);
  const generated = publicKey === undefined ? generateKeyPair(`${name}@ciao`) : undefined;
  const key = generated?.publicKey ?? parsePublicKey(publicKey!);
  const serial = store.keypairs.all().reduce((max, k) => Math.max(max, k.serial), 0) + 1;
  const keypair: Keypair = {
    id: randomUUID(), owner: userId, name, type: 'ssh', public_key: key.text, fingerprint: key.fingerprint, serial, created_at: now(),
  };
  store.keypairs.put(keypair);
  return { keypair, privateKey: generated?.privateKey };
}
