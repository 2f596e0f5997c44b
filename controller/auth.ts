// Every request's token, checked with identity and cached until it expires (at most 30 s, so a
// revocation is seen soon). The caller's project is its tenant; the admin role sees everything.
import type { Dispatcher } from 'undici';
import { ApiError } from '../shared/errors.ts';
import { validateToken } from '../mocks/identity/client.ts';

export interface Caller {
  token: string;
  userId: string;
  projectId: string | null;
  projectName: string | null;
  admin: boolean;
  /** ISO time the token expires. */
  expiresAt: string;
}

export type TokenCheck = (token: string) => Promise<Caller | null>;

/** A TokenCheck against the identity service. */
export function identityCheck(identityUrl: string, dispatcher: Dispatcher): TokenCheck {
  return async (token) => {
    const info = await validateToken(identityUrl, token, dispatcher);
    if (!info) return null;
    return { token, userId: info.userId, projectId: info.projectId ?? null, projectName: info.projectName ?? null, admin: info.roles.includes('admin'), expiresAt: info.expiresAt };
  };
}

export class TokenCache {
  private readonly cache = new Map<string, { caller: Caller; until: number }>();

  constructor(private readonly check: TokenCheck, private readonly maxAgeMs = 30_000) {}

  async authenticate(token: string | undefined): Promise<Caller> {
    if (!token) throw new ApiError('missing_token', 'this request needs a token in X-Auth-Token: get one from identity (POST /v3/auth/tokens), or use the ciao CLI with . ~/local/demo.sh');
    const hit = this.cache.get(token);
    if (hit && hit.until > Date.now()) return hit.caller;
    let caller: Caller | null;
    try {
      caller = await this.check(token);
    } catch (err) {
      throw new ApiError('unavailable', `identity could not be asked about the token: ${(err as Error).message}`);
    }
    if (!caller) {
      this.cache.delete(token);
      throw new ApiError('invalid_token', 'the token is invalid, expired or revoked: get a new one');
    }
    const expires = Date.parse(caller.expiresAt) || Infinity;
    this.cache.set(token, { caller, until: Math.min(expires, Date.now() + this.maxAgeMs) });
    if (this.cache.size > 10_000) this.cache.delete(this.cache.keys().next().value!);
    return caller;
  }
}
