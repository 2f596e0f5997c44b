// Access rules as the controller enforces them on an application credential's token: service type
// from the path, the method, and the path template (`*` one segment, `**` the rest).
import t from 'tap';
import { allowedBy, pathMatches, serviceTypesOf } from '../../controller/access-rules.ts';
import { TokenCache, type Caller } from '../../controller/auth.ts';

t.test('a template matches segment by segment', async (t) => {
  t.ok(pathMatches('/v2.1/servers/*/ips', '/v2.1/servers/abc/ips'));
  t.notOk(pathMatches('/v2.1/servers/*/ips', '/v2.1/servers/abc/def/ips'), '* is one segment');
  t.notOk(pathMatches('/v2.1/servers/*/ips', '/v2.1/servers/abc'));
  t.ok(pathMatches('/v2.1/servers/**', '/v2.1/servers/abc/ips'), '** is the rest');
  t.notOk(pathMatches('/v2.1/servers/**', '/v2.1/servers'), '** is at least one segment');
  t.notOk(pathMatches('/v2.1/servers', '/v2.1/servers/abc'));
});

t.test('a rule names the service type serving the path and the method', async (t) => {
  const rules = [{ service: 'compute', method: 'GET', path: '/v2.1/servers' }];
  t.same(serviceTypesOf('/image/v2/images'), ['image']);
  t.ok(allowedBy(rules, 'GET', '/v2.1/servers'));
  t.notOk(allowedBy(rules, 'POST', '/v2.1/servers'));
  t.notOk(allowedBy([{ ...rules[0], service: 'image' }], 'GET', '/v2.1/servers'), 'another service type');
  t.notOk(allowedBy([{ service: 'compute', method: 'GET', path: '/tenants/**' }], 'GET', '/tenants/x/instances'), 'the ciao API is no OpenStack service');
});

t.test('the token cache refuses a rule-bound token outside its rules, and where the request is unknown', async (t) => {
  const bound: Caller = { token: 'a', userId: 'u', projectId: 'p', projectName: 'p', admin: false, expiresAt: new Date(Date.now() + 60_000).toISOString(), accessRules: [{ service: 'compute', method: 'GET', path: '/v2.1/servers/*/ips' }] };
  const cache = new TokenCache(async () => bound);
  t.match(await cache.authenticate('a', { raw: { method: 'GET' }, path: '/v2.1/servers/s1/ips' }), { userId: 'u' });
  await t.rejects(cache.authenticate('a', { raw: { method: 'DELETE' }, path: '/v2.1/servers/s1' }), { code: 'invalid_token', message: /access rules do not allow DELETE/ });
  await t.rejects(cache.authenticate('a'), { code: 'invalid_token' });
  const free = new TokenCache(async () => ({ ...bound, accessRules: undefined }));
  t.match(await free.authenticate('a', { raw: { method: 'DELETE' }, path: '/v2.1/servers/s1' }), { userId: 'u' }, 'a token without rules may do anything its roles allow');
});
