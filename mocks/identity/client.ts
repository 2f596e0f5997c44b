// A small client of the identity service for the cluster's own programs (controller, CLI): get a
// token for a user, ask whether a token is valid. identityUrl is the service's base (the client appends /v3).
import { request, type Dispatcher } from 'undici';
import { connectionHint } from '../../shared/connection-hint.ts';

export interface TokenInfo {
  token: string;
  expiresAt: string;
  userId: string;
  projectId: string | null;
  projectName: string | null;
  roles: string[];
  /** An application credential's access rules (empty: none, the token may make any request). */
  accessRules: { service: string; path: string; method: string }[];
  catalog: { type: string; name: string; endpoints: { interface: string; region: string; url: string }[] }[];
}

export interface PasswordAuth {
  username: string;
  password: string;
  userDomain?: string;
  /** Neither name nor id: an unscoped token. */
  projectName?: string;
  projectId?: string;
  projectDomain?: string;
}

interface TokenBody {
  token: {
    expires_at: string;
    user: { id: string };
    project?: { id: string; name: string };
    roles?: { name: string }[];
    application_credential?: { access_rules?: TokenInfo['accessRules'] };
    catalog?: TokenInfo['catalog'];
  };
}

const info = (token: string, body: TokenBody): TokenInfo => ({
  token,
  expiresAt: body.token.expires_at,
  userId: body.token.user.id,
  projectId: body.token.project?.id ?? null,
  projectName: body.token.project?.name ?? null,
  roles: (body.token.roles ?? []).map((r) => r.name),
  accessRules: body.token.application_credential?.access_rules ?? [],
  catalog: body.token.catalog ?? [],
});

interface Call {
  method: 'GET' | 'POST';
  dispatcher: Dispatcher;
  headers: Record<string, string>;
  body?: string;
}

async function send(identityUrl: string, path: string, call: Call) {
  let res;
  try {
    res = await request(`${identityUrl}${path}`, call);
  } catch (err) {
    throw new Error(`cannot reach identity at ${identityUrl}: ${(err as Error).message} (${connectionHint(err)})`);
  }
  return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
}

/** Keystone's {"error": {"message"}} when the body is one, else the body itself. */
const reason = (text: string) => {
  try {
    return String(JSON.parse(text).error.message);
  } catch {
    return text.slice(0, 200) || 'no reason given';
  }
};

export async function issueToken(identityUrl: string, auth: PasswordAuth, dispatcher: Dispatcher): Promise<TokenInfo> {
  const project = auth.projectId ? { id: auth.projectId }
    : auth.projectName ? { name: auth.projectName, domain: { name: auth.projectDomain ?? 'Default' } } : undefined;
  const body = {
    auth: {
      identity: { methods: ['password'], password: { user: { name: auth.username, password: auth.password, domain: { name: auth.userDomain ?? 'Default' } } } },
      ...(project && { scope: { project } }),
    },
  };
  const res = await send(identityUrl, '/v3/auth/tokens', {
    method: 'POST', dispatcher, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body),
  });
  if (res.status !== 201) {
    const scope = auth.projectName ?? auth.projectId;
    throw new Error(`identity at ${identityUrl} refused the credentials for user ${auth.username}${scope ? ` in project ${scope}` : ''}: ${reason(res.text)}`);
  }
  return info(String(res.headers['x-subject-token']), JSON.parse(res.text) as TokenBody);
}

/** The token's details (without the catalogue), or null when identity says it is invalid, expired or revoked. */
export async function validateToken(identityUrl: string, token: string, dispatcher: Dispatcher): Promise<TokenInfo | null> {
  // A token may check itself, so no service token is needed.
  const check = () => send(identityUrl, '/v3/auth/tokens?nocatalog', {
    // The header says this service enforces access rules: Keystone refuses to validate a rule-bound token for one that does not.
    method: 'GET', dispatcher, headers: { 'x-auth-token': token, 'x-subject-token': token, 'openstack-identity-access-rules': '1.0' },
  });
  // A kept-alive connection that identity closed just as the check went out ("other side closed")
  // fails at once; a check changes nothing, so it is asked once more, on a new connection.
  const res = await check().catch(check);
  if (res.status === 401 || res.status === 404) return null;
  if (res.status !== 200) throw new Error(`identity at ${identityUrl} answered HTTP ${res.status} to a token check: ${reason(res.text)}`);
  return info(token, JSON.parse(res.text) as TokenBody);
}
