// Stateless signed tokens (base64url payload + "." + HMAC-SHA256), so a restarted identity service
// still honours the tokens it issued; revocations are kept in a file for the same reason.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';

export interface TokenPayload {
  id: string;
  user_id: string;
  project_id: string | null;
  /** Role names on the project at issue time (none for an unscoped token). */
  roles: string[];
  methods: string[];
  /** The application credential it was issued for: its roles, nothing more, and it ends with it. */
  application_credential_id?: string;
  /** The trust it was issued under: its roles, on its project, and it ends with it. */
  trust_id?: string;
  issued_at: string;
  expires_at: string;
}

const b64 = (s: string) => Buffer.from(s).toString('base64url');

export class TokenSigner {
  /** Revoked token id → its expiry: an entry is only needed until the token would expire anyway. */
  private readonly revoked: Map<string, string>;

  /** revokedPath: where revocations are kept across restarts (none: in memory only). */
  constructor(private readonly key: string, private readonly revokedPath?: string) {
    this.revoked = new Map(revokedPath ? readRevoked(revokedPath) : []);
  }

  issue(fields: Pick<TokenPayload, 'user_id' | 'project_id' | 'roles' | 'methods' | 'application_credential_id' | 'trust_id'>, ttlSeconds: number, now = Date.now()): { token: string; payload: TokenPayload } {
    const payload: TokenPayload = {
      id: randomBytes(16).toString('base64url'), ...fields,
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
    // The signature is ours, so the payload is one we wrote: no need to validate its shape.
    const payload = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as TokenPayload;
    if (Date.parse(payload.expires_at) <= now || this.revoked.has(payload.id)) return null;
    return payload;
  }

  revoke(payload: TokenPayload, now = Date.now()): void {
    this.revoked.set(payload.id, payload.expires_at);
    for (const [id, expires] of this.revoked) if (Date.parse(expires) <= now) this.revoked.delete(id);
    if (!this.revokedPath) return;
    // temp + rename: a crash mid-write must not lose the revocations already made.
    const tmp = `${this.revokedPath}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(Object.fromEntries(this.revoked)) + '\n', { mode: 0o600 });
    renameSync(tmp, this.revokedPath);
  }

  private sign(body: string): string {
    return createHmac('sha256', this.key).update(body).digest('base64url');
  }
}

function readRevoked(path: string): [string, string][] {
  try {
    const entries = Object.entries(JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>);
    return entries.filter((e): e is [string, string] => typeof e[1] === 'string');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []; // nothing revoked yet
    // Starting without the list would make revoked tokens valid again, so refuse instead.
    throw new Error(`cannot read the revoked-token list ${path}: ${(err as Error).message} (delete it to forget all revocations)`);
  }
}
