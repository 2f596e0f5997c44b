import t from 'tap';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { createClusterPki } from '../../shared/pki.ts';
import { clusterAgent, readTls } from '../../shared/tls-files.ts';
import { silentLogger } from '../../shared/log.ts';
import { waitFor } from '../../shared/wait-for.ts';
import { createIdentityServer } from '../../mocks/identity/server.ts';
import { defaultIdentityConfig, loadIdentityConfig } from '../../mocks/identity/config.ts';
import { issueToken, validateToken } from '../../mocks/identity/client.ts';

const dir = await mkdtemp(join(tmpdir(), 'ciao-identity-'));
const pki = await createClusterPki(join(dir, 'pki'), 'test');
const tls = readTls({ ca: pki.ca.cert, ...pki.https });
const configPath = join(dir, 'identity.json');
await writeFile(configPath, JSON.stringify(defaultIdentityConfig({ adminPassword: 'apw', demoPassword: 'dpw', controllerUrl: 'https://127.0.0.1:8889' })));
const dispatcher = clusterAgent(pki.ca.cert);
const start = async () => {
  const server = createIdentityServer({ config: loadIdentityConfig(configPath), configPath, tls, statePath: dir, logger: silentLogger() });
  return { server, url: (await server.listen(0)).url };
};
let { server, url } = await start();
t.teardown(async () => {
  await server.close();
  await dispatcher.close();
  await rm(dir, { recursive: true, force: true });
});

const api = async (method: string, path: string, token?: string, body?: unknown, headers: Record<string, string> = {}) => {
  const res = await request(`${url}${path}`, {
    method: method as 'GET', dispatcher, body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    headers: { 'content-type': 'application/json', ...(token ? { 'x-auth-token': token } : {}), ...headers },
  });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, body: text ? JSON.parse(text) : undefined };
};
const password = (user: object, scope?: object) => ({ auth: { identity: { methods: ['password'], password: { user } }, ...(scope ? { scope } : {}) } });

t.test('password auth by name+domain and by id, scoped by project name or id', async (t) => {
  const byName = await api('POST', '/v3/auth/tokens', undefined, password({ name: 'demo', password: 'dpw', domain: { name: 'Default' } }, { project: { name: 'demo', domain: { name: 'Default' } } }));
  t.equal(byName.status, 201);
  t.type(byName.headers['x-subject-token'], 'string');
  t.match(byName.body.token, { project: { name: 'demo' }, roles: [{ name: 'member' }], user: { name: 'demo', domain: { id: 'default' } } });
  t.same(byName.body.token.catalog.map((c: { type: string }) => c.type).sort(), ['compute', 'identity', 'image', 'volume']);
  const projectId = byName.body.token.project.id;
  const byId = await api('POST', '/v3/auth/tokens', undefined, password({ id: byName.body.token.user.id, password: 'dpw' }, { project: { id: projectId } }));
  t.equal(byId.status, 201);
  t.equal(byId.body.token.project.id, projectId);
});

t.test('an unscoped token has no project, roles or catalogue', async (t) => {
  const r = await api('POST', '/v3/auth/tokens', undefined, password({ name: 'demo', password: 'dpw', domain: { id: 'default' } }));
  t.equal(r.status, 201);
  t.notOk(r.body.token.project);
  t.notOk(r.body.token.catalog);
});

t.test('bad credentials are 401, no role on the project is 401, malformed JSON is 400', async (t) => {
  t.match(await api('POST', '/v3/auth/tokens', undefined, password({ name: 'demo', password: 'nope', domain: { name: 'Default' } })), { status: 401, body: { error: { code: 401, title: 'Unauthorized' } } });
  t.match(await api('POST', '/v3/auth/tokens', undefined, password({ name: 'demo', password: 'dpw', domain: { name: 'Default' } }, { project: { name: 'admin', domain: { name: 'Default' } } })), { status: 401, body: { error: { message: /no role on project admin/ } } });
  t.match(await api('POST', '/v3/auth/tokens', undefined, '{"auth": '), { status: 400, body: { error: { code: 400 } } });
  t.match(await api('POST', '/v3/auth/tokens', undefined, { auth: {} }), { status: 400 });
});

t.test('validation with GET and HEAD, then revocation makes it 404', async (t) => {
  const { token } = await issueToken(url, { username: 'demo', password: 'dpw', projectName: 'demo' }, dispatcher);
  t.match(await api('GET', '/v3/auth/tokens', token, undefined, { 'x-subject-token': token }), { status: 200, body: { token: { user: { name: 'demo' } } } });
  t.equal((await api('HEAD', '/v3/auth/tokens', token, undefined, { 'x-subject-token': token })).status, 200);
  t.equal((await api('GET', '/v3/auth/tokens', undefined, undefined, { 'x-subject-token': token })).status, 401);
  t.equal((await api('DELETE', '/v3/auth/tokens', token, undefined, { 'x-subject-token': token })).status, 204);
  t.equal(await validateToken(url, token, dispatcher), null);
});

t.test('projects: admin sees all, a member only theirs', async (t) => {
  const admin = await issueToken(url, { username: 'admin', password: 'apw', projectName: 'admin' }, dispatcher);
  const demo = await issueToken(url, { username: 'demo', password: 'dpw', projectName: 'demo' }, dispatcher);
  t.same((await api('GET', '/v3/projects', admin.token)).body.projects.map((p: { name: string }) => p.name).sort(), ['admin', 'demo']);
  t.same((await api('GET', '/v3/projects', demo.token)).body.projects.map((p: { name: string }) => p.name), ['demo']);
  t.same((await api('GET', `/v3/users/${demo.userId}/projects`, demo.token)).body.projects.map((p: { name: string }) => p.name), ['demo']);
  t.equal((await api('POST', '/v3/projects', demo.token, { project: { name: 'x' } })).status, 403);
});

t.test('created projects, users and role assignments survive a restart, and so do tokens', async (t) => {
  const admin = await issueToken(url, { username: 'admin', password: 'apw', projectName: 'admin' }, dispatcher);
  const project = (await api('POST', '/v3/projects', admin.token, { project: { name: 'team' } })).body.project;
  const user = (await api('POST', '/v3/users', admin.token, { user: { name: 'ann', password: 'annpw', default_project_id: project.id } })).body.user;
  t.equal((await api('PUT', `/v3/projects/${project.id}/users/${user.id}/roles/member`, admin.token)).status, 204);
  await server.close();
  ({ server, url } = await start());
  const ann = await issueToken(url, { username: 'ann', password: 'annpw', projectName: 'team' }, dispatcher);
  t.equal(ann.projectId, project.id);
  t.ok(await validateToken(url, admin.token, dispatcher), 'a token issued before the restart is still valid');
});

t.test('tokens expire', async (t) => {
  const config = loadIdentityConfig(configPath);
  config.token_ttl_seconds = 1;
  const short = createIdentityServer({ config, tls, logger: silentLogger() });
  const { url: shortUrl } = await short.listen(0);
  t.teardown(() => short.close());
  const { token } = await issueToken(shortUrl, { username: 'demo', password: 'dpw', projectName: 'demo' }, dispatcher);
  t.ok(await validateToken(shortUrl, token, dispatcher));
  await waitFor('the token to expire', async () => (await validateToken(shortUrl, token, dispatcher)) === null, { timeoutMs: 5000 });
  t.pass('expired');
});
