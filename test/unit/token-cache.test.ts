import t from 'tap';
import { TokenCache, type Caller } from '../../controller/auth.ts';

const caller = (token: string, expiresInMs = 3_600_000): Caller => ({
  token, userId: 'u', projectId: 'p', projectName: 'demo', admin: false, expiresAt: new Date(Date.now() + expiresInMs).toISOString(),
});

t.test('a valid token is asked about once, then served from the cache', async (t) => {
  let asked = 0;
  const cache = new TokenCache(async (tok) => (asked++, caller(tok)));
  t.match(await cache.authenticate('a'), { projectId: 'p' });
  await cache.authenticate('a');
  t.equal(asked, 1);
});

t.test('the cache keeps an answer at most maxAge, and never past the token expiry', async (t) => {
  let asked = 0;
  const short = new TokenCache(async (tok) => (asked++, caller(tok)), 0);
  await short.authenticate('a');
  await short.authenticate('a');
  t.equal(asked, 2, 'maxAge 0 asks every time');
  asked = 0;
  const expiring = new TokenCache(async (tok) => (asked++, caller(tok, -1)));
  await expiring.authenticate('b');
  await expiring.authenticate('b');
  t.equal(asked, 2, 'an expired token is asked about again');
});

t.test('missing, refused and unverifiable tokens are typed errors', async (t) => {
  const cache = new TokenCache(async () => null);
  await t.rejects(cache.authenticate(undefined), { code: 'missing_token', message: /X-Auth-Token/ });
  await t.rejects(cache.authenticate('forged'), { code: 'invalid_token' });
  const down = new TokenCache(async () => { throw new Error('connect ECONNREFUSED'); });
  await t.rejects(down.authenticate('x'), { code: 'unavailable', message: /ECONNREFUSED/ });
});
