// Identity's password hashes: a burst of hashes more than the cores waits its turn (each holds
// 16 MB while it runs) and every one of them completes and verifies.
import t from 'tap';
import { availableParallelism } from 'node:os';
import { hashPassword, verifyPassword } from '../../mocks/identity/passwords.ts';

t.test('a burst of hashes beyond one per core all complete, and each verifies only its own password', async (t) => {
  const passwords = Array.from({ length: availableParallelism() * 2 + 1 }, (_, i) => `secret-${i}`);
  const hashes = await Promise.all(passwords.map((p) => hashPassword(p)));
  t.same(await Promise.all(hashes.map((h, i) => verifyPassword(passwords[i], h))), passwords.map(() => true));
  t.equal(await verifyPassword('secret-0', hashes[1]), false);
});

t.test('the hash a missing user is checked against: in the stored form, matched by no password, made without a scrypt', async (t) => {
  const { unmatchableHash, isPasswordHash } = await import('../../mocks/identity/passwords.ts');
  const started = performance.now();
  const hash = unmatchableHash();
  const madeMs = performance.now() - started;
  t.ok(isPasswordHash(hash), 'scrypt$N$r$p$salt$key, so checking against it costs one scrypt');
  t.equal(hash.split('$').slice(1, 4).join('$'), (await hashPassword('x')).split('$').slice(1, 4).join('$'), 'with the parameters of a real hash');
  t.ok(madeMs < 5, `made at once (${madeMs.toFixed(2)} ms; a scrypt takes tens of ms)`);
  t.equal(await verifyPassword('', hash), false);
  t.equal(await verifyPassword('anything', hash), false);
  t.not(unmatchableHash(), hash, 'a new random salt and key each time');
});
