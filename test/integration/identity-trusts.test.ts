// OS-TRUST as Keystone's: a trustor delegates roles on a project to a trustee, whose trust-scoped
// tokens carry exactly those roles (as the trustor when impersonating), spend remaining_uses, stop
// at expires_at, may be redelegated within limits, survive a restart, and end with the trust.
import t from 'tap';
import { request } from 'undici';
import { identityService } from '../helpers/identity-service.ts';

const identity = await identityService('ciao-identity-trusts');
const { dispatcher } = identity;
t.teardown(() => identity.close());

const api = async (method: string, path: string, token?: string, body?: unknown) => {
  const res = await request(`${identity.url}${path}`, {
    method: method as 'GET', dispatcher, body: body === undefined ? undefined : JSON.stringify(body),
    headers: { 'content-type': 'application/json', ...(token && { 'x-auth-token': token }) },
  });
  const text = await res.body.text();
  return { status: res.statusCode, body: text ? JSON.parse(text) : undefined, token: String(res.headers['x-subject-token']) };
};
const login = async (userId: string, password: string, scope?: object) => api('POST', '/v3/auth/tokens', undefined, {
  auth: { identity: { methods: ['password'], password: { user: { id: userId, password } } }, ...(scope && { scope }) },
});
const trustLogin = (userId: string, password: string, trustId: string) => login(userId, password, { 'OS-TRUST:trust': { id: trustId } });

const admin = (await api('POST', '/v3/auth/tokens', undefined, {
  auth: { identity: { methods: ['password'], password: { user: { name: 'admin', domain: { id: 'default' }, password: 'apw' } } }, scope: { project: { name: 'admin', domain: { id: 'default' } } } },
})).token;
const project = (await api('POST', '/v3/projects', admin, { project: { name: 'delegated' } })).body.project;
const mkUser = async (name: string) => (await api('POST', '/v3/users', admin, { user: { name, password: `${name}-pw` } })).body.user as { id: string };
const trustor = await mkUser('trustor');
const trustee = await mkUser('trustee');
const stranger = await mkUser('stranger');
const mkRole = async (name: string) => (await api('POST', '/v3/roles', admin, { role: { name } })).body.role as { id: string; name: string };
const delegated = await mkRole('delegated');
const kept = await mkRole('kept');
for (const r of [delegated, kept]) await api('PUT', `/v3/projects/${project.id}/users/${trustor.id}/roles/${r.id}`, admin);
await api('PUT', `/v3/projects/${project.id}/users/${trustee.id}/roles/member`, admin);
const trustorToken = async () => (await login(trustor.id, 'trustor-pw', { project: { id: project.id } })).token;
const newTrust = (token: string, fields: object = {}) => api('POST', '/v3/OS-TRUST/trusts', token, {
  trust: { trustor_user_id: trustor.id, trustee_user_id: trustee.id, project_id: project.id, roles: [{ name: 'delegated' }], impersonation: true, ...fields },
});

t.test('a trust is made by its trustor, for roles they hold, and seen by its two parties and admins', async (t) => {
  const own = await trustorToken();
  const strangerToken = (await login(stranger.id, 'stranger-pw')).token;
  t.equal((await newTrust(strangerToken)).status, 403, 'not by someone else');
  t.equal((await newTrust(own, { roles: [{ name: 'admin' }] })).status, 403, 'not a role the trustor lacks');
  t.equal((await newTrust(own, { expires_at: 'bad.123Z' })).status, 400);
  t.equal((await newTrust(own, { impersonation: 'yes' })).status, 400);
  t.equal((await newTrust(own, { remaining_uses: 2, allow_redelegation: true })).status, 400, 'uses and redelegation do not mix');
  t.equal((await newTrust(own, { allow_redelegation: true, redelegation_count: 4 })).status, 403, 'no deeper than max_redelegation_count');
  const created = await newTrust(own, { expires_at: '2999-01-01T00:00:00Z' });
  t.match(created, { status: 201, body: { trust: { trustor_user_id: trustor.id, trustee_user_id: trustee.id, project_id: project.id, impersonation: true, expires_at: '2999-01-01T00:00:00Z', remaining_uses: null, roles: [{ id: delegated.id, name: 'delegated' }] } } });
  const id = created.body.trust.id as string;
  t.equal(created.body.trust.roles.length, 1, 'only the role delegated');
  t.equal((await api('GET', `/v3/OS-TRUST/trusts/${id}/roles/${delegated.id}`, own)).status, 200);
  t.equal((await api('HEAD', `/v3/OS-TRUST/trusts/${id}/roles/${delegated.id}`, own)).status, 200);
  t.equal((await api('GET', `/v3/OS-TRUST/trusts/${id}/roles/${kept.id}`, own)).status, 404, 'not the role kept');
  t.equal((await api('GET', `/v3/OS-TRUST/trusts/${id}`, (await login(trustee.id, 'trustee-pw')).token)).status, 200, 'the trustee sees it');
  t.equal((await api('GET', `/v3/OS-TRUST/trusts/${id}`, strangerToken)).status, 403, 'a stranger does not');
  t.equal((await api('GET', '/v3/OS-TRUST/trusts', strangerToken)).status, 403, 'all trusts is for admins');
  t.same((await api('GET', `/v3/OS-TRUST/trusts?trustor_user_id=${trustor.id}`, own)).body.trusts.map((x: { id: string }) => x.id), [id]);
  t.ok((await api('GET', '/v3/OS-TRUST/trusts/', admin)).body.trusts.some((x: { id: string }) => x.id === id), 'an admin lists them all');
  t.equal((await api('DELETE', `/v3/OS-TRUST/trusts/${id}`, (await login(trustee.id, 'trustee-pw')).token)).status, 403, 'the trustee cannot delete it');
  t.equal((await api('DELETE', `/v3/OS-TRUST/trusts/${id}`, own)).status, 204);
  t.equal((await api('GET', `/v3/OS-TRUST/trusts/${id}`, own)).status, 404);
});

t.test("a trust-scoped token carries the trustor's delegated roles, and ends with the trust, even across a restart", async (t) => {
  const impersonating = (await newTrust(await trustorToken())).body.trust.id as string;
  t.equal((await trustLogin(stranger.id, 'stranger-pw', impersonating)).status, 403, 'only the trustee uses it');
  const session = await trustLogin(trustee.id, 'trustee-pw', impersonating);
  t.match(session, { status: 201, body: { token: { user: { id: trustor.id }, project: { id: project.id }, 'OS-TRUST:trust': { id: impersonating, impersonation: true, trustee_user: { id: trustee.id } } } } });
  t.same(session.body.token.roles.map((r: { name: string }) => r.name), ['delegated'], "the delegated role only: not 'kept', not the trustee's member");
  t.equal((await api('POST', '/v3/auth/tokens', undefined, {
    auth: { identity: { methods: ['token'], token: { id: session.token } }, scope: { project: { id: project.id } } },
  })).status, 403, 'it cannot be re-scoped');

  const plain = (await newTrust(await trustorToken(), { impersonation: false })).body.trust.id as string;
  const asTrustee = await trustLogin(trustee.id, 'trustee-pw', plain);
  t.match(asTrustee.body.token, { user: { id: trustee.id }, roles: [{ name: 'delegated' }] }, 'without impersonation the token is the trustee\'s');

  await identity.restart();
  t.equal((await api('GET', '/v3/auth/projects', session.token)).status, 200, 'the trust and its token survive a restart');
  await api('DELETE', `/v3/projects/${project.id}/users/${trustor.id}/roles/${delegated.id}`, admin);
  t.equal((await api('GET', '/v3/auth/projects', asTrustee.token)).status, 401, "its tokens end when the trustor loses the role");
  await api('PUT', `/v3/projects/${project.id}/users/${trustor.id}/roles/${delegated.id}`, admin);
  const again = await trustLogin(trustee.id, 'trustee-pw', impersonating);
  t.equal((await api('DELETE', `/v3/OS-TRUST/trusts/${impersonating}`, await trustorToken())).status, 204);
  t.equal((await api('GET', '/v3/auth/projects', again.token)).status, 401, 'deleting the trust ends its tokens');
  t.equal((await trustLogin(trustee.id, 'trustee-pw', impersonating)).status, 401);
});

t.test('remaining_uses counts tokens; a token ends no later than its trust', async (t) => {
  const once = (await newTrust(await trustorToken(), { remaining_uses: 1 })).body.trust.id as string;
  t.equal((await trustLogin(trustee.id, 'trustee-pw', once)).status, 201);
  t.equal((await trustLogin(trustee.id, 'trustee-pw', once)).status, 401, 'its one use is spent');
  const soon = new Date(Date.now() + 1500).toISOString();
  const brief = (await newTrust(await trustorToken(), { expires_at: soon })).body.trust.id as string;
  const token = (await trustLogin(trustee.id, 'trustee-pw', brief)).body.token;
  t.equal(token.expires_at, soon, 'its token expires with it');
});

t.test('redelegation: within the trust it comes from, and only as deep as allowed', async (t) => {
  const root = (await newTrust(await trustorToken(), { impersonation: false, allow_redelegation: true, redelegation_count: 1 })).body.trust;
  t.match(root, { allow_redelegation: true, redelegation_count: 1 });
  const viaTrust = (await trustLogin(trustee.id, 'trustee-pw', root.id)).token;
  const redelegate = (fields: object) => api('POST', '/v3/OS-TRUST/trusts', viaTrust, {
    trust: { trustor_user_id: trustee.id, trustee_user_id: stranger.id, project_id: project.id, roles: [{ name: 'delegated' }], impersonation: false, ...fields },
  });
  t.equal((await redelegate({ impersonation: true })).status, 403, 'no impersonation its parent lacks');
  t.equal((await redelegate({ roles: [{ name: 'kept' }] })).status, 403, 'no role its parent does not delegate');
  const child = await redelegate({});
  t.match(child, { status: 201, body: { trust: { redelegated_trust_id: root.id, redelegation_count: 0, allow_redelegation: false } } });
  const childToken = (await trustLogin(stranger.id, 'stranger-pw', child.body.trust.id)).token;
  t.equal((await api('POST', '/v3/OS-TRUST/trusts', childToken, {
    trust: { trustor_user_id: stranger.id, trustee_user_id: trustee.id, project_id: project.id, roles: [{ name: 'delegated' }], impersonation: false },
  })).status, 403, 'the chain stops at its depth');
  t.equal((await api('DELETE', `/v3/OS-TRUST/trusts/${root.id}`, await trustorToken())).status, 204);
  t.equal((await api('GET', '/v3/auth/projects', childToken)).status, 401, 'deleting a trust deletes the ones made from it');
});
