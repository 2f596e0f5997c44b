import t from 'tap';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TokenSigner } from '../../mocks/identity/tokens.ts';
import { tempDir } from '../../shared/temp-dir.ts';

const key = 'k'.repeat(64);
const fields = { user_id: 'u1', project_id: 'p1', roles: ['member'], methods: ['password'] };

const { path: dir, remove } = tempDir('ciao-tokens');
t.teardown(remove);

t.test('a signed token verifies to its payload', async (t) => {
  const s = new TokenSigner(key);
  const { token, payload } = s.issue(fields, 60);
  t.same(s.verify(token), payload);
  t.match(payload, { user_id: 'u1', project_id: 'p1', roles: ['member'], methods: ['password'] });
  t.equal(Date.parse(payload.expires_at) - Date.parse(payload.issued_at), 60_000);
});

t.test('a tampered token, a token from another key, or junk is refused', async (t) => {
  const s = new TokenSigner(key);
  const { token } = s.issue(fields, 60);
  const [body, sig] = token.split('.');
  const forged = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(body, 'base64url').toString()), roles: ['admin'] })).toString('base64url');
  t.equal(s.verify(`${forged}.${sig}`), null, 'a payload changed under the same signature');
  t.equal(new TokenSigner('x'.repeat(64)).verify(token), null, 'another signing key');
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
  const path = join(dir, 'restart-revoked.json');
  const s = new TokenSigner(key, path);
  const a = s.issue(fields, 60);
  const b = s.issue(fields, 60);
  s.revoke(a.payload);
  t.equal(s.verify(a.token), null);
  const restarted = new TokenSigner(key, path);
  t.equal(restarted.verify(a.token), null);
  t.ok(restarted.verify(b.token), 'other tokens stay valid');
});

t.test('the revocation file forgets tokens that have expired anyway', async (t) => {
  const path = join(dir, 'prune-revoked.json');
  const s = new TokenSigner(key, path);
  const now = Date.now();
  const short = s.issue(fields, 10, now);
  const long = s.issue(fields, 3600, now);
  s.revoke(short.payload, now);
  s.revoke(long.payload, now + 20_000);
  t.same(Object.keys(JSON.parse(await readFile(path, 'utf8'))), [long.payload.id]);
});

t.test('an unreadable revocation file stops the signer instead of forgetting revocations', async (t) => {
  const path = join(dir, 'corrupt-revoked.json');
  await writeFile(path, '{"half');
  t.throws(() => new TokenSigner(key, path), /cannot read the revoked-token list .*corrupt-revoked\.json.*delete it/);
});
