import t from 'tap';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TokenSigner } from '../../mocks/identity/tokens.ts';

const key = 'k'.repeat(64);
const fields = { user_id: 'u1', project_id: 'p1', methods: ['password'] };

t.test('a signed token verifies to its payload', async (t) => {
  const s = new TokenSigner(key);
  const { token, payload } = s.issue(fields, 60);
  t.same(s.verify(token), payload);
  t.match(payload, { user_id: 'u1', project_id: 'p1' });
});

t.test('a tampered token, a token from another key, or junk is refused', async (t) => {
  const s = new TokenSigner(key);
  const { token } = s.issue(fields, 60);
  const [body, sig] = token.split('.');
  const forged = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(body, 'base64url').toString()), project_id: 'admin' })).toString('base64url');
  t.equal(s.verify(`${forged}.${sig}`), null);
  t.equal(new TokenSigner('x'.repeat(64)).verify(token), null);
  t.equal(s.verify('junk'), null);
  t.equal(s.verify(`${token}.extra`), null);
});

t.test('an expired token is refused', async (t) => {
  const s = new TokenSigner(key);
  const now = Date.now();
  const { token } = s.issue(fields, 10, now);
  t.ok(s.verify(token, now + 9_000));
  t.equal(s.verify(token, now + 10_000), null);
});

t.test('revocation holds across a restart when a revocation file is given', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'ciao-tokens-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'revoked.json');
  const s = new TokenSigner(key, path);
  const a = s.issue(fields, 60);
  const b = s.issue(fields, 60);
  s.revoke(a.payload);
  const restarted = new TokenSigner(key, path);
  t.equal(restarted.verify(a.token), null);
  t.ok(restarted.verify(b.token), 'other tokens stay valid');
});
