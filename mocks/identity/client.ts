// A small client of the identity service for the cluster's own programs: get a token for a user,
// ask whether a token is valid. identityUrl is the service's base (the client appends /v3).
import { request, type Dispatcher } from 'undici';

export interface TokenInfo {
  token: string;
  expiresAt: string;
  userId: string;
  projectId: string | null;
  projectName: string | null;
  roles: string[];
  catalog: { type: string; endpoints: { interface: string; url: string }[] }[];
}

export interface PasswordAuth {
  username: string;
  password: string;
  userDomain?: string;
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
  catalog: body.token.catalog ?? [],
});

export async function issueToken(identityUrl: string, auth: PasswordAuth, dispatcher: Dispatcher): Promise<TokenInfo> {
  const project = auth.projectId ? { id: auth.projectId } : auth.projectName ? { name: auth.projectName, domain: { name: auth.projectDomain ?? 'Default' } } : undefined;
  const body = {
    auth: {
      identity: { methods: ['password'], password: { user: { name: auth.username, password: auth.password, domain: { name: auth.userDomain ?? 'Default' } } } },
      ...(project ? { scope: { project } } : {}),
    },
  };
  let res;
  try {
    res = await request(`${identityUrl}/v3/auth/tokens`, { method: 'POST', dispatcher, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  } catch (err) {
    throw new Error(`cannot reach identity at ${identityUrl}: ${(err as Error).message} (is the cluster up? ./singlevm/setup.sh)`);
  }
  const text = await res.body.text();
  if (res.statusCode !== 201) {
    let why = text;
    try {
      why = JSON.parse(text).error.message;
    } catch { /* not a Keystone error body */ }
    const scope = auth.projectName ?? auth.projectId;
    throw new Error(`identity at ${identityUrl} refused user ${auth.username}${scope ? ` in project ${scope}` : ''}: ${why}`);
  }
  return info(String(res.headers['x-subject-token']), JSON.parse(text) as TokenBody);
}

/** The token's details, or null when identity says it is invalid, expired or revoked. */
export async function validateToken(identityUrl: string, token: string, dispatcher: Dispatcher): Promise<TokenInfo | null> {
  const res = await request(`${identityUrl}/v3/auth/tokens?nocatalog`, { method: 'GET', dispatcher, headers: { 'x-auth-token': token, 'x-subject-token': token } });
  const text = await res.body.text();
  if (res.statusCode === 401 || res.statusCode === 404) return null;
  if (res.statusCode !== 200) throw new Error(`identity answered HTTP ${res.statusCode} to a token check`);
  return info(token, JSON.parse(text) as TokenBody);
}
