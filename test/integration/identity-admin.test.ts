// The identity service's admin API as Keystone's: users, domains, projects, groups, roles and
// grants, the catalogue, credentials and policies — Keystone's rules, 4xx for bad input, 403 for a
// member, and everything kept across a restart in the identity config file.
import t from 'tap';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { request } from 'undici';
import { silentLogger } from '../../shared/log.ts';
import { createIdentityServer } from '../../mocks/identity/server.ts';
import { loadIdentityConfig } from '../../mocks/identity/config.ts';
import { CREDENTIALS_PER_USER } from '../../mocks/identity/context.ts';
import { identityService } from '../helpers/identity-service.ts';

const identity = await identityService('ciao-identity-admin');
const { dir, tls, configPath, dispatcher } = identity;
t.teardown(() => identity.close());
let url = identity.url;
const restart = async () => {
  await identity.restart();
  url = identity.url;
};

const api = async (method: string, path: string, token?: string, body?: unknown) => {
  const res = await request(`${url}${path}`, {
    method: method as 'GET', dispatcher, body: body === undefined ? undefined : JSON.stringify(body),
    headers: { 'content-type': 'application/json', ...(token && { 'x-auth-token': token }) },
  });
  const text = await res.body.text();
  return { status: res.statusCode, body: text ? JSON.parse(text) : undefined };
};
/** A login: the token and its body, or the refusal. */
const auth = async (user: object, scope?: object | 'unscoped') => {
  const res = await request(`${url}/v3/auth/tokens`, {
    method: 'POST', dispatcher, headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ auth: { identity: { methods: ['password'], password: { user } }, ...(scope && { scope }) } }),
  });
  const body = await res.body.json() as { token: { roles?: { name: string }[]; project?: { id: string }; catalog?: { type: string; endpoints: { url: string }[] }[] } };
  return { status: res.statusCode, token: String(res.headers['x-subject-token']), body: body.token };
};
const login = async (name: string, password: string, project: string, domain = 'Default') =>
  (await auth({ name, password, domain: { name: domain } }, { project: { name: project, domain: { name: domain } } })).token;
const admin = async () => login('admin', 'apw', 'admin');
const demo = async () => login('demo', 'dpw', 'demo');
const ids = (items: { id: string }[]) => items.map((i) => i.id);

t.test('users: extra attributes kept, update, disable, password change and delete', async (t) => {
  const a = await admin();
  const created = await api('POST', '/v3/users', a, { user: { name: 'ann', password: 'annpw', email: 'ann@example.com', description: 'Ann' } });
  t.match(created, { status: 201, body: { user: { name: 'ann', email: 'ann@example.com', description: 'Ann', enabled: true, domain_id: 'default' } } });
  const id = created.body.user.id;
  t.notOk('password' in created.body.user, 'the password is never shown');
  const patched = await api('PATCH', `/v3/users/${id}`, a, { user: { name: 'ann2', email: 'ann2@example.com', enabled: false } });
  t.match(patched.body.user, { name: 'ann2', email: 'ann2@example.com', description: 'Ann', enabled: false });
  t.same(ids((await api('GET', '/v3/users?enabled=false', a)).body.users), [id]);
  t.equal((await auth({ id, password: 'annpw' })).status, 401, 'a disabled user cannot log in');
  await api('PATCH', `/v3/users/${id}`, a, { user: { enabled: true } });
  t.equal((await auth({ id, password: 'annpw' })).status, 201);

  t.equal((await api('POST', `/v3/users/${id}/password`, undefined, { user: { original_password: 'wrong', password: 'new' } })).status, 401);
  t.equal((await api('POST', `/v3/users/${id}/password`, undefined, { user: { original_password: 'annpw', password: 'newpw' } })).status, 204);
  t.equal((await auth({ id, password: 'annpw' })).status, 401, 'the old password is gone');
  const session = await auth({ id, password: 'newpw' });
  t.equal(session.status, 201);

  t.equal((await api('DELETE', `/v3/users/${id}`, a)).status, 204);
  t.equal((await api('GET', `/v3/users/${id}`, a)).status, 404);
  t.equal((await api('GET', '/v3/auth/projects', session.token)).status, 401, "a deleted user's tokens end");
  t.equal((await api('DELETE', `/v3/users/${id}`, a)).status, 404);
});

t.test('users: bad input is 400, a member may not change users (403)', async (t) => {
  const a = await admin();
  t.equal((await api('POST', '/v3/users', a, { user: { name: 'x'.repeat(256), password: 'p' } })).status, 400);
  t.equal((await api('POST', '/v3/users', a, { user: { name: 'bob', enabled: 'False' } })).status, 400, 'enabled is a boolean');
  t.equal((await api('POST', '/v3/users', a, { user: { name: 'bob', domain_id: 'nowhere' } })).status, 404);
  t.equal((await api('POST', '/v3/users', a, { user: { name: 'bob', email: { nested: true } } })).status, 400, 'extras are plain values');
  const d = await demo();
  const me = (await api('GET', '/v3/users?name=admin', a)).body.users[0].id;
  t.equal((await api('PATCH', `/v3/users/${me}`, d, { user: { enabled: false } })).status, 403);
  t.equal((await api('DELETE', `/v3/users/${me}`, d)).status, 403);
});

t.test('domains: created, unique, disabled before deletion, and deletion takes their contents', async (t) => {
  const a = await admin();
  t.equal((await api('POST', '/v3/domains', a, { domain: { name: '' } })).status, 400);
  t.equal((await api('POST', '/v3/domains', a, { domain: { name: 'd'.repeat(65) } })).status, 400);
  t.equal((await api('POST', '/v3/domains', await demo(), { domain: { name: 'x' } })).status, 403);
  const dom = (await api('POST', '/v3/domains', a, { domain: { name: 'acme', description: 'Acme' } })).body.domain;
  t.match(dom, { name: 'acme', description: 'Acme', enabled: true });
  t.equal((await api('POST', '/v3/domains', a, { domain: { name: 'ACME' } })).status, 409, 'names are unique regardless of case');
  const project = (await api('POST', '/v3/projects', a, { project: { name: 'rocket', domain_id: dom.id } })).body.project;
  const user = (await api('POST', '/v3/users', a, { user: { name: 'wile', password: 'wpw', domain_id: dom.id } })).body.user;
  await api('PUT', `/v3/projects/${project.id}/users/${user.id}/roles/member`, a);
  const wile = await login('wile', 'wpw', 'rocket', 'acme');
  t.equal((await api('GET', '/v3/auth/projects', wile)).status, 200, 'a user of the domain logs in by its name');

  t.equal((await api('DELETE', `/v3/domains/${dom.id}`, a)).status, 403, 'an enabled domain is not deleted');
  t.match(await api('PATCH', `/v3/domains/${dom.id}`, a, { domain: { enabled: false } }), { status: 200, body: { domain: { enabled: false } } });
  t.equal((await auth({ name: 'wile', password: 'wpw', domain: { name: 'acme' } })).status, 401, "a disabled domain's users cannot log in");
  t.equal((await api('GET', '/v3/auth/projects', wile)).status, 401, 'and their tokens end');
  t.equal((await api('DELETE', `/v3/domains/${dom.id}`, a)).status, 204);
  t.equal((await api('GET', `/v3/projects/${project.id}`, a)).status, 404);
  t.equal((await api('GET', `/v3/users/${user.id}`, a)).status, 404);
  t.equal((await api('DELETE', `/v3/domains/${dom.id}`, a)).status, 404);
  t.equal((await api('PATCH', '/v3/domains/default', a, { domain: { enabled: false } })).status, 403);
});

t.test('a domain\'s config: whitelisted identity and ldap options, kept per group and option', async (t) => {
  const a = await admin();
  const dom = (await api('POST', '/v3/domains', a, { domain: { name: 'configured' } })).body.domain;
  t.match((await api('GET', '/v3/domains/config/identity/driver/default', a)).body, { config: { driver: 'sql' } });
  t.equal((await api('GET', `/v3/domains/${dom.id}/config`, a)).status, 404);
  t.equal((await api('PUT', `/v3/domains/${dom.id}/config`, a, { config: { ldap: { password: 'x' } } })).status, 403, 'not a whitelisted option');
  t.equal((await api('PUT', `/v3/domains/${dom.id}/config`, a, { config: { nova: {} } })).status, 400);
  t.equal((await api('PUT', `/v3/domains/${dom.id}/config`, await demo(), { config: { identity: { driver: 'ldap' } } })).status, 403);
  const config = { identity: { driver: 'ldap' }, ldap: { url: 'ldap://dir.example', user_tree_dn: 'ou=Users' } };
  t.match(await api('PUT', `/v3/domains/${dom.id}/config`, a, { config }), { status: 201, body: { config } });
  t.match(await api('PATCH', `/v3/domains/${dom.id}/config/identity`, a, { config: { identity: { list_limit: 5 } } }), { status: 200, body: { config: { identity: { driver: 'ldap', list_limit: 5 } } } });
  t.match(await api('PATCH', `/v3/domains/${dom.id}/config/ldap/url`, a, { config: { url: 'ldap://other' } }), { status: 200, body: { config: { ldap: { url: 'ldap://other' } } } });
  t.equal((await api('DELETE', `/v3/domains/${dom.id}/config/ldap/url`, a)).status, 204);
  t.equal((await api('GET', `/v3/domains/${dom.id}/config/ldap/url`, a)).status, 404);
  await restart();
  const b = await admin();
  t.same((await api('GET', `/v3/domains/${dom.id}/config`, b)).body.config, { identity: { driver: 'ldap', list_limit: 5 }, ldap: { user_tree_dn: 'ou=Users' } }, 'kept across a restart');
  t.equal((await api('DELETE', `/v3/domains/${dom.id}/config`, b)).status, 204);
  t.equal((await api('GET', `/v3/domains/${dom.id}/config`, b)).status, 404);
});

t.test('projects: update, enabled, parents, tags and is_domain; members may not list them all', async (t) => {
  const a = await admin();
  t.equal((await api('POST', '/v3/projects', a, { project: { name: 'p'.repeat(65) } })).status, 400);
  t.equal((await api('GET', '/v3/projects', await demo())).status, 403);
  const root = (await api('POST', '/v3/projects', a, { project: { name: 'root', tags: ['a', 'b'] } })).body.project;
  const leaf = (await api('POST', '/v3/projects', a, { project: { name: 'leaf', parent_id: root.id } })).body.project;
  t.match(root, { parent_id: 'default', tags: ['a', 'b'], is_domain: false });
  t.equal(leaf.parent_id, root.id);
  t.same(ids((await api('GET', `/v3/projects?parent_id=${root.id}`, a)).body.projects), [leaf.id]);
  t.equal((await api('DELETE', `/v3/projects/${root.id}`, a)).status, 403, 'a project with children stays');

  const patched = await api('PATCH', `/v3/projects/${leaf.id}`, a, { project: { name: 'leaf2', description: 'd2', enabled: false } });
  t.match(patched.body.project, { name: 'leaf2', description: 'd2', enabled: false });
  t.same(ids((await api('GET', '/v3/projects?enabled=false', a)).body.projects), [leaf.id]);
  await api('PUT', `/v3/projects/${leaf.id}/users/${(await api('GET', '/v3/users?name=admin', a)).body.users[0].id}/roles/admin`, a);
  t.equal((await auth({ name: 'admin', password: 'apw', domain: { id: 'default' } }, { project: { id: leaf.id } })).status, 401, 'a disabled project cannot be scoped to');

  t.equal((await api('PUT', `/v3/projects/${root.id}/tags/c`, a)).status, 201);
  t.equal((await api('GET', `/v3/projects/${root.id}/tags/c`, a)).status, 204);
  t.match(await api('PUT', `/v3/projects/${root.id}/tags`, a, { tags: ['x', 'y'] }), { status: 200, body: { tags: ['x', 'y'] } });
  t.equal((await api('PUT', `/v3/projects/${root.id}/tags`, a, { tags: ['a,b'] })).status, 400);
  t.equal((await api('DELETE', `/v3/projects/${root.id}/tags/x`, a)).status, 204);
  t.equal((await api('GET', `/v3/projects/${root.id}/tags/x`, a)).status, 404);
  t.same((await api('GET', `/v3/projects/${root.id}/tags`, a)).body.tags, ['y']);
  t.equal((await api('PUT', `/v3/projects/${root.id}/tags/z`, await demo())).status, 403);

  const asDomain = (await api('POST', '/v3/projects', a, { project: { name: 'dom-project', is_domain: true } })).body.project;
  t.match(asDomain, { is_domain: true, domain_id: null });
  t.ok(ids((await api('GET', '/v3/domains', a)).body.domains).includes(asDomain.id), 'an is_domain project is a domain');
  t.same(ids((await api('GET', '/v3/projects?is_domain=true&name=dom-project', a)).body.projects), [asDomain.id]);
});

t.test('groups and grants: a group role counts for its members, roles imply roles, taking one away ends the tokens', async (t) => {
  const a = await admin();
  const project = (await api('POST', '/v3/projects', a, { project: { name: 'team' } })).body.project;
  const user = (await api('POST', '/v3/users', a, { user: { name: 'gus', password: 'gpw' } })).body.user;
  const group = (await api('POST', '/v3/groups', a, { group: { name: 'crew', description: 'the crew' } })).body.group;
  const reader = (await api('POST', '/v3/roles', a, { role: { name: 'reader' } })).body.role;
  const writer = (await api('POST', '/v3/roles', a, { role: { name: 'writer' } })).body.role;
  t.equal((await api('POST', '/v3/roles', a, { role: { name: 'reader' } })).status, 409);
  t.equal((await api('POST', '/v3/roles', await demo(), { role: { name: 'x' } })).status, 403);
  t.equal((await api('PUT', `/v3/groups/${group.id}/users/${user.id}`, a)).status, 204);
  t.same(ids((await api('GET', `/v3/users/${user.id}/groups`, a)).body.groups), [group.id]);
  t.equal((await api('PUT', `/v3/projects/${project.id}/groups/${group.id}/roles/${writer.id}`, a)).status, 204);
  t.equal((await api('PUT', `/v3/roles/${writer.id}/implies/${reader.id}`, a)).status, 201);
  t.equal((await api('PUT', `/v3/roles/${reader.id}/implies/${writer.id}`, a)).status, 403, 'no cycles');

  const session = await auth({ id: user.id, password: 'gpw' }, { project: { id: project.id } });
  t.same(session.body.roles!.map((r) => r.name).sort(), ['reader', 'writer'], 'the group role and the role it implies');
  const effective = await api('GET', `/v3/role_assignments?effective&user.id=${user.id}`, a);
  t.same(effective.body.role_assignments.map((x: { role: { id: string } }) => x.role.id).sort(), [reader.id, writer.id].sort());

  t.equal((await api('DELETE', `/v3/projects/${project.id}/groups/${group.id}/roles/${writer.id}`, a)).status, 204);
  t.equal((await api('GET', `/v3/projects/${project.id}/groups/${group.id}/roles/${writer.id}`, a)).status, 404);
  t.equal((await api('GET', '/v3/auth/projects', session.token)).status, 401, 'the token that carried the role ends');
  t.equal((await api('DELETE', `/v3/projects/${project.id}/groups/${group.id}/roles/${writer.id}`, a)).status, 404);
});

t.test('grants on domains, inherited to projects, and on the system', async (t) => {
  const a = await admin();
  const dom = (await api('POST', '/v3/domains', a, { domain: { name: 'inherit-dom' } })).body.domain;
  const project = (await api('POST', '/v3/projects', a, { project: { name: 'inner', domain_id: dom.id } })).body.project;
  const user = (await api('POST', '/v3/users', a, { user: { name: 'ida', password: 'ipw' } })).body.user;
  const member = (await api('GET', '/v3/roles?name=member', a)).body.roles[0];
  t.equal((await api('PUT', `/v3/domains/${dom.id}/users/${user.id}/roles/${member.id}`, a)).status, 204);
  const unscoped = await auth({ id: user.id, password: 'ipw' }, 'unscoped');
  t.same(ids((await api('GET', '/v3/auth/domains', unscoped.token)).body.domains), [dom.id]);
  t.equal((await auth({ id: user.id, password: 'ipw' }, { project: { id: project.id } })).status, 401, 'a domain role is not a project role');
  t.equal((await api('PUT', `/v3/OS-INHERIT/domains/${dom.id}/users/${user.id}/roles/${member.id}/inherited_to_projects`, a)).status, 204);
  t.equal((await auth({ id: user.id, password: 'ipw' }, { project: { id: project.id } })).status, 201, 'an inherited domain role reaches its projects');
  t.equal((await api('PUT', `/v3/system/users/${user.id}/roles/${member.id}`, a)).status, 204);
  t.same(ids((await api('GET', `/v3/system/users/${user.id}/roles`, a)).body.roles), [member.id]);
  t.equal((await api('PUT', `/v3/system/users/${user.id}/roles/${member.id}`, await demo())).status, 403);
});

t.test('the catalogue is managed through services, endpoints and regions, and tokens carry it', async (t) => {
  const a = await admin();
  const service = (await api('POST', '/v3/services', a, { service: { type: 'metering', name: 'meter', description: 'counts' } })).body.service;
  t.equal((await api('POST', '/v3/endpoints', a, { endpoint: { service_id: service.id, interface: 'public', url: 'https://m.example/v1', enabled: 'True' } })).status, 400);
  t.equal((await api('POST', '/v3/endpoints', a, { endpoint: { service_id: 'nope', interface: 'public', url: 'https://m.example/v1' } })).status, 404);
  const endpoint = await api('POST', '/v3/endpoints', a, { endpoint: { service_id: service.id, interface: 'public', url: 'https://m.example/v1', region: 'Mars' } });
  t.match(endpoint, { status: 201, body: { endpoint: { region: 'Mars', region_id: 'Mars', enabled: true } } });
  t.equal((await api('GET', '/v3/regions/Mars', a)).status, 200, 'the region is made with the endpoint');
  const inCatalog = async () => (await auth({ name: 'demo', password: 'dpw', domain: { id: 'default' } })).body.catalog!.find((s) => s.type === 'metering');
  t.same((await inCatalog())?.endpoints.map((e) => e.url), ['https://m.example/v1']);
  await api('PATCH', `/v3/services/${service.id}`, a, { service: { enabled: false } });
  t.notOk(await inCatalog(), 'a disabled service leaves the catalogue');
  t.equal((await api('GET', '/v3/services', await demo())).status, 403);
  const child = (await api('POST', '/v3/regions', a, { region: { description: 'moon', parent_region_id: 'Mars' } })).body.region;
  t.equal((await api('DELETE', '/v3/regions/Mars', a)).status, 403, 'a region with children stays');
  t.equal((await api('PATCH', '/v3/regions/Mars', a, { region: { parent_region_id: child.id } })).status, 403, 'no region under itself');
  t.equal((await api('DELETE', `/v3/services/${service.id}`, a)).status, 204);
  t.equal((await api('GET', `/v3/endpoints/${endpoint.body.endpoint.id}`, a)).status, 404, 'its endpoints go with it');
});

t.test('credentials are their owner\'s; policies are for admins', async (t) => {
  const a = await admin();
  const d = await demo();
  const project = (await auth({ name: 'demo', password: 'dpw', domain: { id: 'default' } })).body.project!.id;
  const demoId = (await api('GET', '/v3/users?name=demo', a)).body.users[0].id;
  const adminId = (await api('GET', '/v3/users?name=admin', a)).body.users[0].id;
  t.equal((await api('POST', '/v3/credentials', d, { credential: { user_id: demoId, project_id: project, type: 'ec2', blob: 'not json' } })).status, 400);
  t.equal((await api('POST', '/v3/credentials', d, { credential: { user_id: adminId, type: 'totp', blob: 'x' } })).status, 403, 'not for another user');
  const cred = (await api('POST', '/v3/credentials', d, { credential: { user_id: demoId, project_id: project, type: 'ec2', blob: '{"access":"k","secret":"s"}' } })).body.credential;
  t.same(ids((await api('GET', '/v3/credentials', d)).body.credentials), [cred.id]);
  t.ok(ids((await api('GET', '/v3/credentials', a)).body.credentials).includes(cred.id), 'an admin sees every credential');
  t.match(await api('PATCH', `/v3/credentials/${cred.id}`, d, { credential: { blob: '{"access":"k2"}' } }), { status: 200, body: { credential: { blob: '{"access":"k2"}' } } });

  t.equal((await api('POST', '/v3/policies', d, { policy: { type: 'json', blob: '{}' } })).status, 403);
  t.equal((await api('POST', '/v3/policies', a, { policy: { type: 'json' } })).status, 400);
  const policy = (await api('POST', '/v3/policies', a, { policy: { type: 'json', blob: '{}' } })).body.policy;
  t.match(await api('PATCH', `/v3/policies/${policy.id}`, a, { policy: { type: 'yaml' } }), { status: 200, body: { policy: { type: 'yaml', blob: '{}' } } });
});

t.test('EC2 credentials: a user\'s own, for a project they hold a role on, shown in /v3/credentials', async (t) => {
  const a = await admin();
  const d = await demo();
  const session = await auth({ name: 'demo', password: 'dpw', domain: { id: 'default' } });
  const demoId = (await api('GET', '/v3/users?name=demo', a)).body.users[0].id;
  const adminProject = (await auth({ name: 'admin', password: 'apw', domain: { id: 'default' } })).body.project!.id;
  t.equal((await api('POST', `/v3/users/${demoId}/credentials/OS-EC2`, d, { tenant_id: adminProject })).status, 403, 'not for a project without a role');
  t.equal((await api('POST', `/v3/users/${demoId}/credentials/OS-EC2`, d, {})).status, 400);
  const created = await api('POST', `/v3/users/${demoId}/credentials/OS-EC2`, d, { tenant_id: session.body.project!.id });
  t.match(created, { status: 201, body: { credential: { user_id: demoId, tenant_id: session.body.project!.id, access: /^[0-9a-f]{32}$/, secret: String } } });
  const { access } = created.body.credential;
  t.same((await api('GET', `/v3/users/${demoId}/credentials/OS-EC2/${access}`, d)).body.credential, created.body.credential);
  t.ok((await api('GET', '/v3/credentials?type=ec2', d)).body.credentials.some((c: { blob: string }) => JSON.parse(c.blob).access === access));
  const adminId = (await api('GET', '/v3/users?name=admin', a)).body.users[0].id;
  t.equal((await api('GET', `/v3/users/${adminId}/credentials/OS-EC2`, d)).status, 403, "not another user's");
  t.equal((await api('DELETE', `/v3/users/${demoId}/credentials/OS-EC2/${access}`, d)).status, 204);
  t.equal((await api('GET', `/v3/users/${demoId}/credentials/OS-EC2/${access}`, d)).status, 404);

  const kept = (await api('GET', `/v3/credentials?user_id=${demoId}`, d)).body.credentials.length;
  for (let i = kept; i < CREDENTIALS_PER_USER; i++) t.equal((await api('POST', `/v3/users/${demoId}/credentials/OS-EC2`, d, { tenant_id: session.body.project!.id })).status, 201);
  t.equal((await api('POST', `/v3/users/${demoId}/credentials/OS-EC2`, d, { tenant_id: session.body.project!.id })).status, 403, 'a tenant cannot grow the config file without end');
});

t.test('application credentials: a user hands roles on a project to an application; its tokens carry those roles and end with it', async (t) => {
  const a = await admin();
  const project = (await api('POST', '/v3/projects', a, { project: { name: 'apps' } })).body.project;
  const user = (await api('POST', '/v3/users', a, { user: { name: 'ada', password: 'apw2' } })).body.user;
  const reader = (await api('POST', '/v3/roles', a, { role: { name: 'app-reader' } })).body.role;
  await api('PUT', `/v3/projects/${project.id}/users/${user.id}/roles/member`, a);
  await api('PUT', `/v3/projects/${project.id}/users/${user.id}/roles/${reader.id}`, a);
  const own = (await auth({ id: user.id, password: 'apw2' }, { project: { id: project.id } })).token;
  const path = `/v3/users/${user.id}/application_credentials`;
  t.equal((await api('POST', path, a, { application_credential: { name: 'x' } })).status, 403, "not for another user, admin or not");
  t.equal((await api('POST', path, own, { application_credential: { name: 'x', roles: [{ name: 'admin' }] } })).status, 403, 'not a role the user lacks');
  t.equal((await api('POST', path, own, { application_credential: { name: 'x', expires_at: '2000-01-01T00:00:00' } })).status, 400, 'not already expired');
  t.equal((await api('POST', path, own, { application_credential: { name: 'x', colour: 'red' } })).status, 400);
  const created = await api('POST', path, own, { application_credential: { name: 'ci', roles: [{ id: reader.id }] } });
  t.match(created, { status: 201, body: { application_credential: { name: 'ci', project_id: project.id, secret: String, roles: [{ id: reader.id }] } } });
  const { id, secret } = created.body.application_credential;
  t.notOk('secret' in (await api('GET', `${path}/${id}`, own)).body.application_credential, 'the secret is shown once');
  t.equal((await api('POST', path, own, { application_credential: { name: 'ci' } })).status, 409);

  const appLogin = async (ref: object) => {
    const res = await request(`${url}/v3/auth/tokens`, {
      method: 'POST', dispatcher, headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ auth: { identity: { methods: ['application_credential'], application_credential: ref } } }),
    });
    return { status: res.statusCode, token: String(res.headers['x-subject-token']), body: (await res.body.json() as { token: { roles: { name: string }[]; project: { id: string } } }).token };
  };
  t.equal((await appLogin({ id, secret: 'wrong' })).status, 401);
  const session = await appLogin({ name: 'ci', secret, user: { id: user.id } });
  t.equal(session.status, 201);
  t.match(session.body, { project: { id: project.id }, roles: [{ name: 'app-reader' }], application_credential: { id, restricted: true } });
  t.equal((await api('POST', path, session.token, { application_credential: { name: 'more' } })).status, 403, 'a restricted credential makes no other');
  t.equal((await api('POST', '/v3/auth/tokens', undefined, {
    auth: { identity: { methods: ['token'], token: { id: session.token } }, scope: { project: { id: project.id } } },
  })).status, 403, "its token cannot be re-scoped into one with all the user's roles");

  await restart();
  t.equal((await api('GET', '/v3/auth/projects', session.token)).status, 200, 'the credential and its token survive a restart');
  t.equal((await api('DELETE', `/v3/projects/${project.id}/users/${user.id}/roles/${reader.id}`, await admin())).status, 204);
  t.equal((await appLogin({ id, secret })).status, 401, 'not once the user lost a role it names');
  await api('PUT', `/v3/projects/${project.id}/users/${user.id}/roles/${reader.id}`, await admin());
  const again = await appLogin({ id, secret });
  t.equal(again.status, 201);
  const mine = (await auth({ id: user.id, password: 'apw2' }, { project: { id: project.id } })).token;
  t.equal((await api('DELETE', `${path}/${id}`, mine)).status, 204);
  t.equal((await api('GET', '/v3/auth/projects', again.token)).status, 401, 'its tokens end with it');
  t.equal((await appLogin({ id, secret })).status, 401);
});

t.test('OAuth1 consumers and endpoint groups are admin-managed records', async (t) => {
  const a = await admin();
  const consumer = await api('POST', '/v3/OS-OAUTH1/consumers', a, { consumer: { description: 'app' } });
  t.match(consumer, { status: 201, body: { consumer: { description: 'app', secret: String } } });
  const shown = (await api('GET', `/v3/OS-OAUTH1/consumers/${consumer.body.consumer.id}`, a)).body.consumer;
  t.notOk('secret' in shown, 'the secret is shown once');
  t.notMatch(await readFile(configPath, 'utf8'), consumer.body.consumer.secret, 'and kept only as a hash');
  t.equal((await api('GET', '/v3/OS-OAUTH1/consumers', await demo())).status, 403);

  const service = (await api('POST', '/v3/services', a, { service: { type: 'grouped' } })).body.service;
  const endpoint = (await api('POST', '/v3/endpoints', a, { endpoint: { service_id: service.id, interface: 'internal', url: 'https://g.example' } })).body.endpoint;
  t.equal((await api('POST', '/v3/OS-EP-FILTER/endpoint_groups', a, { endpoint_group: { name: 'g', filters: { colour: 'red' } } })).status, 400);
  const group = (await api('POST', '/v3/OS-EP-FILTER/endpoint_groups', a, { endpoint_group: { name: 'g', filters: { service_id: service.id } } })).body.endpoint_group;
  t.same(ids((await api('GET', `/v3/OS-EP-FILTER/endpoint_groups/${group.id}/endpoints`, a)).body.endpoints), [endpoint.id]);
  await api('PATCH', `/v3/OS-EP-FILTER/endpoint_groups/${group.id}`, a, { endpoint_group: { filters: { interface: 'public' } } });
  t.notOk(ids((await api('GET', `/v3/OS-EP-FILTER/endpoint_groups/${group.id}/endpoints`, a)).body.endpoints).includes(endpoint.id));
  t.equal((await api('DELETE', `/v3/OS-EP-FILTER/endpoint_groups/${group.id}`, a)).status, 204);
  t.equal((await api('GET', `/v3/OS-EP-FILTER/endpoint_groups/${group.id}`, a)).status, 404);
});

t.test('everything made through the API survives a restart', async (t) => {
  const a = await admin();
  const dom = (await api('POST', '/v3/domains', a, { domain: { name: 'kept', enabled: false } })).body.domain;
  const project = (await api('POST', '/v3/projects', a, { project: { name: 'kept-project', tags: ['t1'], enabled: false } })).body.project;
  const user = (await api('POST', '/v3/users', a, { user: { name: 'kept-user', password: 'kpw', email: 'k@example.com', enabled: false } })).body.user;
  const group = (await api('POST', '/v3/groups', a, { group: { name: 'kept-group' } })).body.group;
  await api('PUT', `/v3/groups/${group.id}/users/${user.id}`, a);
  const role = (await api('POST', '/v3/roles', a, { role: { name: 'kept-role', domain_id: dom.id } })).body.role;
  const service = (await api('POST', '/v3/services', a, { service: { type: 'kept' } })).body.service;
  const endpoint = (await api('POST', '/v3/endpoints', a, { endpoint: { service_id: service.id, interface: 'admin', url: 'https://k.example' } })).body.endpoint;
  const policy = (await api('POST', '/v3/policies', a, { policy: { type: 'json', blob: '{"a":1}' } })).body.policy;
  const consumer = (await api('POST', '/v3/OS-OAUTH1/consumers', a, { consumer: { description: 'kept' } })).body.consumer;
  const group2 = (await api('POST', '/v3/OS-EP-FILTER/endpoint_groups', a, { endpoint_group: { name: 'kept', filters: { region_id: 'RegionOne' } } })).body.endpoint_group;

  await restart();
  const b = await admin();
  t.match((await api('GET', `/v3/domains/${dom.id}`, b)).body.domain, { name: 'kept', enabled: false });
  t.match((await api('GET', `/v3/projects/${project.id}`, b)).body.project, { tags: ['t1'], enabled: false });
  t.match((await api('GET', `/v3/users/${user.id}`, b)).body.user, { email: 'k@example.com', enabled: false });
  t.same(ids((await api('GET', `/v3/groups/${group.id}/users`, b)).body.users), [user.id]);
  t.match((await api('GET', `/v3/roles/${role.id}`, b)).body.role, { domain_id: dom.id });
  t.match((await api('GET', `/v3/endpoints/${endpoint.id}`, b)).body.endpoint, { service_id: service.id, url: 'https://k.example' });
  t.match((await api('GET', `/v3/policies/${policy.id}`, b)).body.policy, { blob: '{"a":1}' });
  t.match((await api('GET', `/v3/OS-OAUTH1/consumers/${consumer.id}`, b)).body.consumer, { description: 'kept' });
  t.match((await api('GET', `/v3/OS-EP-FILTER/endpoint_groups/${group2.id}`, b)).body.endpoint_group, { filters: { region_id: 'RegionOne' } });
});

t.test('a config written before the catalogue API: its catalogue keeps its ids and becomes services and endpoints', async (t) => {
  const legacyPath = join(dir, 'legacy.json');
  const legacy = JSON.parse(await readFile(configPath, 'utf8'));
  for (const key of ['services', 'endpoints', 'regions', 'groups', 'credentials', 'policies', 'consumers', 'endpoint_groups']) delete legacy[key];
  legacy.catalog = [{ type: 'compute', name: 'ciao-compute', url: 'https://127.0.0.1:8889/v2.1' }];
  await writeFile(legacyPath, JSON.stringify(legacy));
  const old = createIdentityServer({ config: loadIdentityConfig(legacyPath), configPath: legacyPath, tls, logger: silentLogger() });
  const base = (await old.listen(0)).url;
  t.teardown(() => old.close());
  const res = await request(`${base}/v3/auth/tokens`, {
    method: 'POST', dispatcher, headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ auth: { identity: { methods: ['password'], password: { user: { name: 'admin', password: 'apw', domain: { id: 'default' } } } } } }),
  });
  const catalog = ((await res.body.json()) as { token: { catalog: { id: string; type: string; endpoints: { id: string }[] }[] } }).token.catalog;
  t.match(catalog.find((s) => s.type === 'compute'), { id: 'compute-ciao-compute', endpoints: [{ id: 'ciao-compute-public' }, { id: 'ciao-compute-internal' }, { id: 'ciao-compute-admin' }] });
  const saved = loadIdentityConfig(legacyPath);
  t.same(saved.services?.map((s) => s.id), ['compute-ciao-compute'], 'the file now holds the services');
  t.same(saved.catalog, []);
});
