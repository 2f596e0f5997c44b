// Stateless signed tokens (HMAC-SHA256 over the payload), so a restarted identity service still
// honours the tokens it issued; revocations are kept in a file for the same reason.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';

export interface TokenPayload {
  id: string;
  user_id: string;
  project_id: string | null;
  methods: string[];
  issued_at: string;
  expires_at: string;
}

const b64 = (s: string | Buffer) => Buffer.from(s).toString('base64url');

export class TokenSigner {
  private readonly revoked: Set<string>;

  /** revokedPath: where revoked token ids are kept across restarts (none: in memory only). */
  constructor(private readonly key: string, private readonly revokedPath?: string) {
    this.revoked = new Set(revokedPath ? readRevoked(revokedPath) : []);
  }

  issue(fields: Omit<TokenPayload, 'id' | 'issued_at' | 'expires_at'>, ttlSeconds: number, now = Date.now()): { token: string; payload: TokenPayload } {
    const payload: TokenPayload = {
      id: randomBytes(12).toString('base64url'), ...fields,
      issued_at: new Date(now).toISOString(), expires_at: new Date(now + ttlSeconds * 1000).toISOString(),
    };
    const body = b64(JSON.stringify(payload));
    return { token: `${body}.${this.sign(body)}`, payload };
  }

  /** The payload of a genuine, unexpired, unrevoked token; null for anything else. */
  verify(token: string, now = Date.now()): TokenPayload | null {
    const [body, sig, extra] = token.split('.');
    if (!body || !sig || extra !== undefined) return null;
    const want = Buffer.from(this.sign(body));
    const got = Buffer.from(sig);
    if (want.length !== got.length || !timingSafeEqual(want, got)) return null;
    let payload: TokenPayload;
    try {
      payload = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
    } catch {
      return null;
    }
    if (Date.parse(payload.expires_at) <= now || this.revoked.has(payload.id)) return null;
    return payload;
  }

  revoke(payload: TokenPayload): void {
    this.revoked.add(payload.id);
    if (this.revokedPath) writeFileSync(this.revokedPath, JSON.stringify([...this.revoked]) + '\n');
  }

  private sign(body: string): string {
    return createHmac('sha256', this.key).update(body).digest('base64url');
  }
}

function readRevoked(path: string): string[] {
  try {
    const ids = JSON.parse(readFileSync(path, 'utf8'));
    return Array.isArray(ids) ? ids.filter((x) => typeof x === 'string') : [];
  } catch {
    return [];
  }
}
