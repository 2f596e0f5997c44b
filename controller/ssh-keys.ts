// OpenSSH public keys as Nova's keypairs take them: an imported key is parsed and checked to be a
// real key (its blob decodes, names its own type, and node:crypto accepts the key material); a
// generated key is an Ed25519 pair, its private half in OpenSSH's own format, so `ssh -i` takes it.
import { createHash, createPublicKey, generateKeyPairSync, randomBytes, type JsonWebKey } from 'node:crypto';
import { badRequest } from '../shared/errors.ts';

/** The key types an imported key may have (DSA is refused, as modern OpenSSH does). */
const CURVES: Record<string, { crv: string; bytes: number }> = {
  'ecdsa-sha2-nistp256': { crv: 'P-256', bytes: 32 },
  'ecdsa-sha2-nistp384': { crv: 'P-384', bytes: 48 },
  'ecdsa-sha2-nistp521': { crv: 'P-521', bytes: 66 },
};
export const KEY_TYPES = ['ssh-rsa', 'ssh-ed25519', ...Object.keys(CURVES)];

/** Reads the SSH wire format's length-prefixed strings (RFC 4251 §5). */
class WireReader {
  private at = 0;
  constructor(private readonly buf: Buffer) {}
  string(): Buffer {
    if (this.at + 4 > this.buf.length) throw new Error('truncated');
    const len = this.buf.readUInt32BE(this.at);
    if (this.at + 4 + len > this.buf.length) throw new Error('truncated');
    const s = this.buf.subarray(this.at + 4, this.at + 4 + len);
    this.at += 4 + len;
    return s;
  }
  get done(): boolean {
    return this.at === this.buf.length;
  }
}

const wireString = (s: Buffer | string): Buffer => {
  const b = Buffer.from(s);
  const len = Buffer.alloc(4);
  len.writeUInt32BE(b.length);
  return Buffer.concat([len, b]);
};
const b64url = (b: Buffer) => b.toString('base64url');
/** An SSH mpint as a JWK integer: no sign byte. */
const unsigned = (b: Buffer) => b64url(b[0] === 0 ? b.subarray(1) : b);

function jwkOf(type: string, r: WireReader): JsonWebKey {
  if (type === 'ssh-rsa') {
    const e = r.string();
    const n = r.string();
    return { kty: 'RSA', e: unsigned(e), n: unsigned(n) };
  }
  if (type === 'ssh-ed25519') {
    const x = r.string();
    if (x.length !== 32) throw new Error('an Ed25519 key is 32 bytes');
    return { kty: 'OKP', crv: 'Ed25519', x: b64url(x) };
  }
  const curve = CURVES[type]!;
  if (r.string().toString() !== type.slice('ecdsa-sha2-'.length)) throw new Error('the curve does not match the key type');
  const q = r.string();
  if (q.length !== 1 + 2 * curve.bytes || q[0] !== 4) throw new Error('the point is not an uncompressed point of the curve');
  return { kty: 'EC', crv: curve.crv, x: b64url(q.subarray(1, 1 + curve.bytes)), y: b64url(q.subarray(1 + curve.bytes)) };
}

export interface PublicKey {
  /** "type base64 [comment]", as given (trimmed). */
  text: string;
  type: string;
  /** Nova's fingerprint: the MD5 of the key blob, as colon-separated hex. */
  fingerprint: string;
}

const md5Fingerprint = (blob: Buffer) => createHash('md5').update(blob).digest('hex').match(/../g)!.join(':');

/** Parses an OpenSSH public key line; throws 400 saying what is wrong. */
export function parsePublicKey(text: string): PublicKey {
  const trimmed = text.trim();
  // One line: a key with a line break would write more lines into the guest's authorized_keys.
  if (/[\r\n]/.test(trimmed)) throw badRequest('public_key must be one line: an OpenSSH public key has no line break');
  const [type, data] = trimmed.split(/\s+/);
  if (!type || !data) throw badRequest('public_key must be an OpenSSH public key: "<type> <base64> [comment]"');
  if (!KEY_TYPES.includes(type)) throw badRequest(`public_key's type ${JSON.stringify(type.slice(0, 40))} is not one of ${KEY_TYPES.join(', ')}`);
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(data)) throw badRequest('public_key\'s key data is not base64');
  const blob = Buffer.from(data, 'base64');
  try {
    const r = new WireReader(blob);
    if (r.string().toString() !== type) throw new Error(`the key data is not of type ${type}`);
    const jwk = jwkOf(type, r);
    if (!r.done) throw new Error('there are bytes after the key');
    createPublicKey({ key: jwk, format: 'jwk' });
  } catch (err) {
    throw badRequest(`public_key is not a valid ${type} key: ${(err as Error).message}`);
  }
  return { text: trimmed, type, fingerprint: md5Fingerprint(blob) };
}

/** A new Ed25519 key pair: the public key line and the private key in OpenSSH's format. */
export function generateKeyPair(comment: string): { publicKey: PublicKey; privateKey: string } {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const pub = Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url');
  const seed = Buffer.from(privateKey.export({ format: 'jwk' }).d!, 'base64url');
  const blob = Buffer.concat([wireString('ssh-ed25519'), wireString(pub)]);
  // openssh-key-v1 (OpenSSH's PROTOCOL.key), unencrypted: the check number twice, the key, the
  // comment, then padding 1, 2, 3 … to a multiple of 8.
  const check = randomBytes(4);
  let secret = Buffer.concat([check, check, wireString('ssh-ed25519'), wireString(pub), wireString(Buffer.concat([seed, pub])), wireString(comment)]);
  const pad = (8 - (secret.length % 8)) % 8;
  secret = Buffer.concat([secret, Buffer.from(Array.from({ length: pad }, (_, i) => i + 1))]);
  const body = Buffer.concat([
    Buffer.from('openssh-key-v1\0'), wireString('none'), wireString('none'), wireString(''),
    Buffer.from([0, 0, 0, 1]), wireString(blob), wireString(secret),
  ]);
  const lines = body.toString('base64').match(/.{1,70}/g)!;
  const text = `ssh-ed25519 ${blob.toString('base64')} ${comment}`;
  return {
    publicKey: { text, type: 'ssh-ed25519', fingerprint: md5Fingerprint(blob) },
    privateKey: `-----BEGIN OPENSSH PRIVATE KEY-----\n${lines.join('\n')}\n-----END OPENSSH PRIVATE KEY-----\n`,
  };
}
