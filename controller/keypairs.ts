// Compute keypairs (Nova's os-keypairs): per user, named uniquely per user, stored with their
// public key only. A server made with a key_name gets that key on its config drive.
import { randomUUID } from 'node:crypto';
import { ApiError, notFound } from '../shared/errors.ts';
import type { Keypair, Quotas } from './api-types.ts';
import { now } from './context.ts';
import type { Datastore } from './datastore/datastore.ts';
import { generateKeyPair, parsePublicKey } from './ssh-keys.ts';
import { generateCertificate, parseCertificate } from './x509-keys.ts';
import { limitOf, UNLIMITED } from './quotas.ts';

export const keypairsOf = (store: Datastore, userId: string): Keypair[] => store.keypairs.byTenant(userId);

export function findKeypair(store: Datastore, userId: string, name: string): Keypair {
  const k = keypairsOf(store, userId).find((p) => p.name === name);
  if (!k) throw notFound('keypair', name);
  return k;
}

export interface NewKeypair {
  name: string;
  type: Keypair['type'];
  /** Imported when given; otherwise a pair is generated. */
  publicKey?: string;
}

/** Imports the public key, or generates a pair and returns its private half (shown this once). */
export async function createKeypair(store: Datastore, quotas: Quotas | undefined, userId: string, { name, type, publicKey }: NewKeypair): Promise<{ keypair: Keypair; privateKey?: string }> {
  const mine = keypairsOf(store, userId);
  if (mine.some((k) => k.name === name)) throw new ApiError('conflict', `Key pair '${name}' already exists.`);
  const limit = limitOf(quotas, 'key_pairs');
  if (limit !== UNLIMITED && mine.length >= limit) throw new ApiError('forbidden', `Quota exceeded, too many key pairs: key_pairs is ${limit}`);
  const generated = publicKey !== undefined ? undefined : type === 'x509' ? await generateCertificate() : generateKeyPair(`${name}@ciao`);
  const key = generated?.publicKey ?? (type === 'x509' ? parseCertificate(publicKey!) : parsePublicKey(publicKey!));
  // Checked again: another request may have taken the name while the certificate was made.
  if (keypairsOf(store, userId).some((k) => k.name === name)) throw new ApiError('conflict', `Key pair '${name}' already exists.`);
  const serial = store.keypairs.all().reduce((max, k) => Math.max(max, k.serial), 0) + 1;
  const keypair: Keypair = {
    id: randomUUID(), owner: userId, name, type, public_key: key.text, fingerprint: key.fingerprint, serial, created_at: now(),
  };
  store.keypairs.put(keypair);
  return { keypair, privateKey: generated?.privateKey };
}
