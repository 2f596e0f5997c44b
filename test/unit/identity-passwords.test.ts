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
