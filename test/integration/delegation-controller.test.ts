// Delegated tokens at the controller: an application credential's access rules limit what its
// token may do there, and a trust-scoped token acts in the trustor's project with the delegated roles.
import t from 'tap';
import { request } from 'undici';
import { startControlPlane } from '../helpers/control-plane.ts';

const plane = await startControlPlane({ nodes: 1 });
t.teardown(() => plane.close());

const call = async (base: string, method: string, path: string, token?: string, body?: unknown) => {
  const res = await request(`${base}${path}`, {
    method: method as 'GET', dispatcher: plane.dispatcher, body: body === undefined ? undefined : JSON.stringify(body),
    headers: { 'content-type': 'application/json', ...(token && { 'x-auth-token': token }) },
  });
  const text = await res.body.text();
  return { status: res.statusCode, body: text ? JSON.parse(text) : undefined, token: String(res.headers['x-subject-token']) };
};
const identity = (method: string, path: string, token?: string, body?: unknown) => call(plane.identityUrl, method, path, token, body);
const controller = (method: string, path: string, token: string) => call(plane.controllerUrl, method, path, token);
const login = (name: string, password: string, scope?: object) => identity('POST', '/v3/auth/tokens', undefined, {
  auth: { identity: { methods: ['password'], password: { user: { name, domain: { id: 'default' }, password } } }, scope: scope ?? { project: { name, domain: { id: 'default' } } } },
});

t.test("an application credential's token reaches only what its access rules allow", async (t) => {
  const demo = await login('demo', 'demo-pw');
  const userId = demo.body.token.user.id;
  const made = await identity('POST', `/v3/users/${userId}/application_credentials`, demo.token, {
    application_credential: { name: 'flavors-only', access_rules: [{ service: 'compute', method: 'GET', path: '/v2.1/flavors' }] },
  });
  const { id, secret } = made.body.application_credential;
  const app = await identity('POST', '/v3/auth/tokens', undefined, { auth: { identity: { methods: ['application_credential'], application_credential: { id, secret } } } });
  t.equal((await controller('GET', '/v2.1/flavors', app.token)).status, 200, 'the rule: GET /v2.1/flavors at compute');
  t.equal((await controller('GET', '/v2.1/servers', app.token)).status, 401, 'another path');
  t.equal((await controller('GET', '/image/v2/images', app.token)).status, 401, 'another service');
  t.equal((await controller('GET', '/v2.1/servers', demo.token)).status, 200, "the user's own token is not bound");
});

t.test('a trust-scoped token works at the controller in the trustor\'s project', async (t) => {
  const demo = await login('demo', 'demo-pw');
  const other = await login('other', 'other-pw');
  const trust = await identity('POST', '/v3/OS-TRUST/trusts', demo.token, {
    trust: { trustor_user_id: demo.body.token.user.id, trustee_user_id: other.body.token.user.id, project_id: demo.body.token.project.id, roles: [{ name: 'member' }], impersonation: false },
  });
  t.equal(trust.status, 201);
  const delegated = await login('other', 'other-pw', { 'OS-TRUST:trust': { id: trust.body.trust.id } });
  t.match(delegated.body.token, { user: { name: 'other' }, project: { id: demo.body.token.project.id } });
  t.equal((await controller('GET', `/v2.1/${demo.body.token.project.id}/servers`, delegated.token)).status, 200, "it acts in the trustor's project");
  t.equal((await controller('GET', `/v2.1/${other.body.token.project.id}/servers`, delegated.token)).status, 403, 'not in the trustee\'s own');
});
