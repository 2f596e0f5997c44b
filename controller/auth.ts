// Every request's token, checked with identity and cached until it expires (at most 30 s, so a
// revocation is seen soon). The caller's project is its tenant; the admin role sees everything.
import type { Dispatcher } from 'undici';
import { ApiError } from '../shared/errors.ts';
import { validateToken } from '../mocks/identity/client.ts';
import { allowedBy, type AccessRule } from './access-rules.ts';

export interface Caller {
  token: string;
  userId: string;
  projectId: string | null;
  projectName: string | null;
  admin: boolean;
  /** ISO time the token expires. */
  expiresAt: string;
  /** An application credential's access rules: the only requests the token may make. None: any. */
  accessRules?: AccessRule[];
}

/** The request a token is used for, as far as access rules look at it. */
export interface RequestTarget {
  raw: { method?: string };
  path: string;
}

export type TokenCheck = (token: string) => Promise<Caller | null>;

/** A TokenCheck against the identity service. */
export function identityCheck(identityUrl: string, dispatcher: Dispatcher): TokenCheck {
  return async (token) => {
    const info = await validateToken(identityUrl, token, dispatcher);
    if (!info) return null;
    return {
      token, userId: info.userId, projectId: info.projectId ?? null, projectName: info.projectName ?? null, admin: info.roles.includes('admin'), expiresAt: info.expiresAt,
      ...(info.accessRules.length && { accessRules: info.accessRules }),
    };
  };
}

export class TokenCache {
  private readonly cache = new Map<string, { caller: Caller; until: number }>();

  constructor(private readonly check: TokenCheck, private readonly maxAgeMs = 30_000) {}

  /** The token's caller, when the token may make this request (target: none only where no access rule can apply). */
  async authenticate(token: string | undefined, target?: RequestTarget): Promise<Caller> {
    const caller = await this.lookup(token);
    // Fail closed: a rule-bound token is refused wherever the request is not known.
    if (caller.accessRules && !(target && allowedBy(caller.accessRules, target.raw.method ?? 'GET', target.path))) {
      throw new ApiError('invalid_token', `this application credential's access rules do not allow ${target?.raw.method ?? 'this request'} ${target?.path ?? ''}`.trimEnd());
    }
    return caller;
  }

  private async lookup(token: string | undefined): Promise<Caller> {
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
