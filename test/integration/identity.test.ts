// The identity service over HTTPS, as the controller, the CLI and OpenStack clients use it.
import t from 'tap';
import { readFile } from 'node:fs/promises';
import { request } from 'undici';
import { silentLogger } from '../../shared/log.ts';
import { waitFor } from '../../shared/wait-for.ts';
import { createIdentityServer } from '../../mocks/identity/server.ts';
import { defaultIdentityConfig, loadIdentityConfig } from '../../mocks/identity/config.ts';
import { issueToken, validateToken } from '../../mocks/identity/client.ts';
import { LoginThrottle } from '../../mocks/identity/login-throttle.ts';
import { identityService } from '../helpers/identity-service.ts';

const identity = await identityService('ciao-identity');
const { tls, configPath, dispatcher } = identity;
t.teardown(() => identity.close());
let url = identity.url;

const api = async (method: string, path: string, token?: string, body?: unknown, headers: Record<string, string> = {}) => {
  const res = await request(`${url}${path}`, {
    method: method as 'GET', dispatcher, body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    headers: { 'content-type': 'application/json', ...(token && { 'x-auth-token': token }), ...headers },
  });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, body: text ? JSON.parse(text) : undefined };
};
const password = (user: object, scope?: object | 'unscoped') => ({ auth: { identity: { methods: ['password'], password: { user } }, ...(scope && { scope }) } });
const check = (caller: string, subject: string, method = 'GET') => api(method, '/v3/auth/tokens', caller, undefined, { 'x-subject-token': subject });
const names = (items: { name: string }[]) => items.map((i) => i.name).sort();
const login = (username: string, pw: string, projectName: string) => issueToken(url, { username, password: pw, projectName }, dispatcher);

t.test('version discovery at / and /v3', async (t) => {
  t.match(await api('GET', '/'), { status: 300, body: { versions: { values: [{ id: 'v3.14', links: [{ rel: 'self', href: `${url}/v3/` }] }] } } });
  t.match(await api('GET', '/v3'), { status: 200, body: { version: { id: 'v3.14', status: 'stable', 'media-types': [{ base: 'application/json' }] } } });
});

t.test('password auth by name+domain and by id, scoped by project name or id', async (t) => {
  const byName = await api('POST', '/v3/auth/tokens', undefined, password({ name: 'demo', password: 'dpw', domain: { name: 'Default' } }, { project: { name: 'demo', domain: { name: 'Default' } } }));
  t.equal(byName.status, 201);
  t.type(byName.headers['x-subject-token'], 'string');
  t.match(byName.body.token, {
    methods: ['password'], project: { name: 'demo', domain: { id: 'default', name: 'Default' } }, roles: [{ id: String, name: 'member' }],
    user: { name: 'demo', domain: { id: 'default' } }, expires_at: String, issued_at: String, audit_ids: [String],
  });
  const catalog: { type: string; endpoints: { interface: string; region_id: string; url: string }[] }[] = byName.body.token.catalog;
  t.same(catalog.map((c) => c.type).sort(), ['compute', 'identity', 'image', 'volume', 'volumev3']);
  t.same(catalog.find((c) => c.type === 'identity')!.endpoints.map((e) => e.interface), ['public', 'internal', 'admin']);
  t.equal(catalog.find((c) => c.type === 'identity')!.endpoints[0].url, `${url}/v3`);

  const projectId = byName.body.token.project.id;
  const byId = await api('POST', '/v3/auth/tokens', undefined, password({ id: byName.body.token.user.id, password: 'dpw' }, { project: { id: projectId } }));
  t.equal(byId.status, 201);
  t.equal(byId.body.token.project.id, projectId);
});

t.test('with no scope, a token is scoped to the default project (Keystone\'s rule)', async (t) => {
  const res = await api('POST', '/v3/auth/tokens', undefined, password({ name: 'demo', password: 'dpw', domain: { id: 'default' } }));
  t.equal(res.status, 201);
  t.match(res.body.token, { project: { name: 'demo' }, roles: [{ name: 'member' }], catalog: Array });
});

t.test('an unscoped token has no project, roles or catalogue, and re-scopes with the token method', async (t) => {
  const unscoped = await api('POST', '/v3/auth/tokens', undefined, password({ name: 'demo', password: 'dpw', domain: { id: 'default' } }, 'unscoped'));
  t.equal(unscoped.status, 201);
  t.notOk(unscoped.body.token.project);
  t.notOk(unscoped.body.token.roles);
  t.notOk(unscoped.body.token.catalog);
  const token = unscoped.headers['x-subject-token'] as string;
  t.same(names((await api('GET', '/v3/auth/projects', token)).body.projects), ['demo']);

  const rescoped = await api('POST', '/v3/auth/tokens', undefined, { auth: { identity: { methods: ['token'], token: { id: token } }, scope: { project: { name: 'demo', domain: { name: 'Default' } } } } });
  t.equal(rescoped.status, 201);
  t.match(rescoped.body.token, { methods: ['password', 'token'], project: { name: 'demo' }, roles: [{ name: 'member' }] });
  t.equal(rescoped.body.token.expires_at, unscoped.body.token.expires_at, 'a re-scoped token expires with its source');
});

t.test('bad credentials or no role are 401, bad bodies 400, all in the Keystone error shape', async (t) => {
  const wrong = await api('POST', '/v3/auth/tokens', undefined, password({ name: 'demo', password: 'nope', domain: { name: 'Default' } }));
  t.match(wrong, { status: 401, body: { error: { code: 401, title: 'Unauthorized', message: String } } });
  t.equal((await api('POST', '/v3/auth/tokens', undefined, password({ name: 'nobody', password: 'dpw', domain: { name: 'Default' } }))).status, 401);
  const noRole = await api('POST', '/v3/auth/tokens', undefined, password({ name: 'demo', password: 'dpw', domain: { name: 'Default' } }, { project: { name: 'admin', domain: { name: 'Default' } } }));
  t.match(noRole, { status: 401, body: { error: { message: /no role on project admin/ } } });
  t.match(await api('POST', '/v3/auth/tokens', undefined, '{"auth": '), { status: 400, body: { error: { code: 400, title: 'Bad Request' } } });
  t.match(await api('POST', '/v3/auth/tokens', undefined, { auth: { identity: { methods: ['password'], password: { user: { name: 7 } } } } }), { status: 400, body: { error: { message: /auth\.identity\.password\.user/ } } });
  t.match(await api('POST', '/v3/auth/tokens', undefined, { auth: {} }), { status: 400 });
});

t.test('every answer is JSON with a request id, unknown paths are 404', async (t) => {
  const missing = await api('GET', '/v3/nothing-here');
  t.match(missing, { status: 404, body: { error: { code: 404, title: 'Not Found' } } });
  const { token } = await login('demo', 'dpw', 'demo');
  const head = await check(token, token, 'HEAD');
  for (const r of [missing, head]) {
    t.equal(r.headers['content-type'], 'application/json');
    t.match(r.headers['x-openstack-request-id'], /^req-[0-9a-f-]{36}$/);
  }
});

t.test('validation with GET and HEAD, by the owner or an admin; revocation makes it 404', async (t) => {
  const demo = await login('demo', 'dpw', 'demo');
  const admin = await login('admin', 'apw', 'admin');
  t.match(await check(demo.token, demo.token), { status: 200, headers: { 'x-subject-token': demo.token }, body: { token: { user: { name: 'demo' }, catalog: Array } } });
  t.notOk((await api('GET', '/v3/auth/tokens?nocatalog', demo.token, undefined, { 'x-subject-token': demo.token })).body.token.catalog);
  t.match(await check(demo.token, demo.token, 'HEAD'), { status: 200, body: undefined });
  t.equal((await check(admin.token, demo.token)).status, 200, 'an admin checks anyone');
  t.equal((await check(demo.token, admin.token)).status, 403, "a member does not check someone else's token");
  t.equal((await api('GET', '/v3/auth/tokens', undefined, undefined, { 'x-subject-token': demo.token })).status, 401, 'no X-Auth-Token');
  t.equal((await check('forged.token', demo.token)).status, 401, 'a bad X-Auth-Token');
  t.equal((await check(demo.token, 'forged.token')).status, 404, 'a bad subject token');

  t.equal((await check(demo.token, demo.token, 'DELETE')).status, 204);
  t.equal((await check(admin.token, demo.token)).status, 404, 'revoked');
  t.equal(await validateToken(url, demo.token, dispatcher), null);
  t.ok(await validateToken(url, admin.token, dispatcher), 'other tokens stay valid');
});

t.test('projects: admin lists all, a member only theirs (GET /v3/projects is 403 for them, as in Keystone)', async (t) => {
  const admin = await login('admin', 'apw', 'admin');
  const demo = await login('demo', 'dpw', 'demo');
  t.same(names((await api('GET', '/v3/projects', admin.token)).body.projects), ['admin', 'demo']);
  t.match(await api('GET', '/v3/projects', demo.token), { status: 403, body: { error: { title: 'Forbidden' } } });
  t.match((await api('GET', '/v3/projects', admin.token)).body.links, { self: `${url}/v3/projects`, next: null, previous: null });
  t.same(names((await api('GET', '/v3/auth/projects', demo.token)).body.projects), ['demo']);
  t.same(names((await api('GET', '/v3/projects?name=demo', admin.token)).body.projects), ['demo']);
  t.same(names((await api('GET', `/v3/users/${demo.userId}/projects`, demo.token)).body.projects), ['demo']);
  t.equal((await api('GET', `/v3/projects/${admin.projectId}`, demo.token)).status, 404);
  t.equal((await api('GET', `/v3/projects/${demo.projectId}`, admin.token)).status, 200);
  t.equal((await api('GET', '/v3/users', demo.token)).status, 403);
  t.match(await api('POST', '/v3/projects', demo.token, { project: { name: 'x' } }), { status: 403, body: { error: { title: 'Forbidden' } } });
});

t.test('created projects, users and role assignments survive a restart, and so do tokens and revocations', async (t) => {
  const admin = await login('admin', 'apw', 'admin');
  const project = (await api('POST', '/v3/projects', admin.token, { project: { name: 'team', description: 'a team' } })).body.project;
  t.equal((await api('POST', '/v3/projects', admin.token, { project: { name: 'team' } })).status, 409);
  const created = await api('POST', '/v3/users', admin.token, { user: { name: 'ann', password: 'annpw', default_project_id: project.id } });
  t.equal(created.status, 201);
  const user = created.body.user;
  t.equal((await api('PUT', `/v3/projects/${project.id}/users/${user.id}/roles/member`, admin.token)).status, 204);
  const revoked = await login('demo', 'dpw', 'demo');
  await check(revoked.token, revoked.token, 'DELETE');

  await identity.restart();
  url = identity.url;
  const ann = await login('ann', 'annpw', 'team');
  t.equal(ann.projectId, project.id);
  t.same(ann.roles, ['member']);
  t.match((await api('GET', `/v3/role_assignments?user.id=${user.id}&scope.project.id=${project.id}`, admin.token)).body.role_assignments, [{ user: { id: user.id }, scope: { project: { id: project.id } } }]);
  t.ok(await validateToken(url, admin.token, dispatcher), 'a token issued before the restart is still valid');
  t.equal(await validateToken(url, revoked.token, dispatcher), null, 'a token revoked before the restart is still revoked');
});

t.test("deleting a project ends the tokens scoped to it", async (t) => {
  const admin = await login('admin', 'apw', 'admin');
  const project = (await api('POST', '/v3/projects', admin.token, { project: { name: 'short-lived' } })).body.project;
  await api('PUT', `/v3/projects/${project.id}/users/${admin.userId}/roles/admin`, admin.token);
  const scoped = await login('admin', 'apw', 'short-lived');
  t.ok(await validateToken(url, scoped.token, dispatcher));
  t.equal((await api('DELETE', `/v3/projects/${project.id}`, admin.token)).status, 204);
  t.equal((await check(admin.token, scoped.token)).status, 404);
});

t.test('tokens expire', async (t) => {
  const config = loadIdentityConfig(configPath);
  config.token_ttl_seconds = 1;
  const short = createIdentityServer({ config, tls, logger: silentLogger() });
  const { url: shortUrl } = await short.listen(0);
  t.teardown(() => short.close());
  const { token } = await issueToken(shortUrl, { username: 'demo', password: 'dpw', projectName: 'demo' }, dispatcher);
  t.ok(await validateToken(shortUrl, token, dispatcher));
  await t.resolves(waitFor('the token to expire', async () => (await validateToken(shortUrl, token, dispatcher)) === null, { timeoutMs: 5000 }));
});

t.test('the client says whom identity refused', async (t) => {
  await t.rejects(issueToken(url, { username: 'demo', password: 'nope', projectName: 'demo' }, dispatcher),
    { message: `identity at ${url} refused the credentials for user demo in project demo: The user name or password is wrong.` });
});

t.test('passwords are kept as scrypt hashes: the config on disk holds none of them', async (t) => {
  const text = await readFile(configPath, 'utf8');
  t.notMatch(text, /"password"\s*:/, 'no plain password field');
  t.notMatch(text, /"apw"|"dpw"/, 'neither password appears');
  t.ok(loadIdentityConfig(configPath).users.every((u) => /^scrypt\$/.test(u.password_hash ?? '')), 'every user has a scrypt hash');
  const created = await api('POST', '/v3/users', (await login('admin', 'apw', 'admin')).token, { user: { name: 'hashed-user', password: 'secret-pw' } });
  t.equal(created.status, 201);
  t.notMatch(await readFile(configPath, 'utf8'), /secret-pw/, 'a created user is stored hashed too');
});

t.test('failed logins are throttled per user with a 429 that says when to retry; a correct login is not slowed', async (t) => {
  const tight = createIdentityServer({
    config: defaultIdentityConfig({ adminPassword: 'apw', demoPassword: 'dpw', controllerUrl: 'https://127.0.0.1:8889' }),
    tls, logger: silentLogger(), throttle: { perUser: 3, perSource: 100 },
  });
  const base = (await tight.listen(0)).url;
  t.teardown(() => tight.close());
  const attempt = async (pw: string) => {
    const res = await request(`${base}/v3/auth/tokens`, { method: 'POST', dispatcher, headers: { 'content-type': 'application/json' }, body: JSON.stringify(password({ name: 'demo', password: pw, domain: { id: 'default' } })) });
    const body = await res.body.json() as { error?: { message: string } };
    return { status: res.statusCode, retryAfter: res.headers['retry-after'], message: body.error?.message };
  };
  for (let i = 0; i < 10; i++) t.equal((await attempt('dpw')).status, 201, `correct login ${i + 1}`);
  for (let i = 0; i < 3; i++) t.equal((await attempt('wrong')).status, 401, `wrong password ${i + 1}: 401`);
  const fourth = await attempt('wrong');
  t.equal(fourth.status, 401, 'the fourth failure is still heard, and locks the user');
  const locked = await attempt('dpw');
  t.equal(locked.status, 429, 'while locked, even the right password waits');
  t.match(locked.message, /retry in \d+ s/);
  t.ok(Number(locked.retryAfter) >= 1, `Retry-After: ${locked.retryAfter}`);
  const other = await request(`${base}/v3/auth/tokens`, { method: 'POST', dispatcher, headers: { 'content-type': 'application/json' }, body: JSON.stringify(password({ name: 'admin', password: 'apw', domain: { id: 'default' } })) });
  t.equal(other.statusCode, 201, 'another user logs in');
  await other.body.dump();
});

t.test('login throttling: failures lock a key for a doubling time; success clears the user; the table is bounded', async (t) => {
  const throttle = new LoginThrottle({ perUser: 2, perSource: 5, maxLockMs: 8000, maxKeys: 4 });
  const now = 1_000_000;
  throttle.failed('u', 's', now);
  throttle.failed('u', 's', now);
  t.equal(throttle.wait('u', 'x', now), 0, 'two failures are allowed');
  throttle.failed('u', 's', now);
  t.equal(throttle.wait('u', 'x', now), 1000, 'the third locks the user for 1 s');
  throttle.failed('u', 's', now);
  t.equal(throttle.wait('u', 'x', now), 2000, 'then 2 s');
  throttle.failed('u', 's', now);
  t.equal(throttle.wait('v', 's', now), 0, "the source is not locked yet after 5 failures");
  throttle.failed('v', 's', now);
  t.equal(throttle.wait('v', 's', now), 1000, 'the sixth from one source locks the source for every user');
  throttle.succeeded('u');
  t.equal(throttle.wait('u', 'x', now), 0, 'a success clears the user');
  t.equal(throttle.wait('v', 'x', now + 61_000), 0, 'a lock ends');
  for (let i = 0; i < 10; i++) throttle.failed(`flood-${i}`, 'f', now);
  t.ok((throttle as unknown as { entries: Map<string, unknown> }).entries.size <= 4, 'made-up names do not grow the table');
});
