// Access rules on application credentials, as Keystone keeps them: per user, shared between
// credentials, shown with the credential, carried by its tokens only to a service that says it
// enforces them, deletable only when no credential uses them, and kept across a restart.
import t from 'tap';
import { request } from 'undici';
import { identityService } from '../helpers/identity-service.ts';
import { validateToken } from '../../mocks/identity/client.ts';

const identity = await identityService('ciao-identity-access-rules');
const { dispatcher } = identity;
t.teardown(() => identity.close());

const api = async (method: string, path: string, token?: string, body?: unknown, headers: Record<string, string> = {}) => {
  const res = await request(`${identity.url}${path}`, {
    method: method as 'GET', dispatcher, body: body === undefined ? undefined : JSON.stringify(body),
    headers: { 'content-type': 'application/json', ...(token && { 'x-auth-token': token }), ...headers },
  });
  const text = await res.body.text();
  return { status: res.statusCode, body: text ? JSON.parse(text) : undefined, token: String(res.headers['x-subject-token']) };
};
const login = (name: string, password: string) => api('POST', '/v3/auth/tokens', undefined, {
  auth: { identity: { methods: ['password'], password: { user: { name, domain: { id: 'default' }, password } } }, scope: { project: { name, domain: { id: 'default' } } } },
});

t.test('access rules: made with a credential, shared, carried by its tokens, and deleted when unused', async (t) => {
  const demo = await login('demo', 'dpw');
  const userId = demo.body.token.user.id as string;
  const admin = (await login('admin', 'apw')).token;
  const creds = `/v3/users/${userId}/application_credentials`;
  const rule = { service: 'compute', path: '/v2.1/servers/*/ips', method: 'GET' };
  t.equal((await api('POST', creds, demo.token, { application_credential: { name: 'bad', access_rules: [{ ...rule, method: 'BREW' }] } })).status, 400);
  t.equal((await api('POST', creds, demo.token, { application_credential: { name: 'bad', access_rules: [{ ...rule, path: 'no-slash' }] } })).status, 400);
  t.equal((await api('POST', creds, demo.token, { application_credential: { name: 'bad', access_rules: [{ id: 'nope' }] } })).status, 404);
  const first = await api('POST', creds, demo.token, { application_credential: { name: 'ips', access_rules: [rule] } });
  t.equal(first.status, 201);
  const [made] = first.body.application_credential.access_rules;
  t.same(made, { id: made.id, ...rule }, 'shown with the credential');
  const second = await api('POST', creds, demo.token, { application_credential: { name: 'ips-too', access_rules: [rule] } });
  t.same(second.body.application_credential.access_rules.map((r: { id: string }) => r.id), [made.id], 'the same rule is kept once and shared');
  const rules = `/v3/users/${userId}/access_rules`;
  t.equal((await api('GET', rules, demo.token)).body.access_rules.length, 1);
  t.equal((await api('GET', `${rules}?method=POST`, demo.token)).body.access_rules.length, 0, 'filtered by method');
  t.equal((await api('GET', `${rules}/${made.id}`, admin)).status, 200, 'an admin sees them');

  const session = await api('POST', '/v3/auth/tokens', undefined, {
    auth: { identity: { methods: ['application_credential'], application_credential: { id: first.body.application_credential.id, secret: first.body.application_credential.secret } } },
  });
  t.match(session.body.token.application_credential, { access_rules: [rule] }, 'its tokens carry the rules');
  t.equal((await api('GET', '/v3/auth/tokens', session.token, undefined, { 'x-subject-token': session.token })).status, 404, 'not to a service that does not enforce them');
  t.match(await validateToken(`${identity.url}`, session.token, dispatcher), { accessRules: [rule] }, "the controller's check says it enforces them, and gets them");

  await identity.restart();
  t.equal((await api('GET', rules, demo.token)).body.access_rules.length, 1, 'kept across a restart');
  t.equal((await api('DELETE', `${rules}/${made.id}`, demo.token)).status, 403, 'not while a credential uses it');
  for (const c of [first, second]) await api('DELETE', `${creds}/${c.body.application_credential.id}`, demo.token);
  t.equal((await api('DELETE', `${rules}/${made.id}`, demo.token)).status, 204);
  t.equal((await api('GET', rules, demo.token)).body.access_rules.length, 0);
});
