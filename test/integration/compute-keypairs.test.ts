// Compute os-keypairs over a whole control plane: generated and imported keys, Nova's name rules,
// per-user ownership, persistence, and a server's key_name reaching its START (the config drive).
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startControlPlane } from '../helpers/control-plane.ts';
import { waitFor } from '../../shared/wait-for.ts';

const plane = await startControlPlane({ nodes: 1 });
t.teardown(() => plane.close());
const { demo, other } = plane;

/** What a refused call rejects with. */
const refused = (status: number) => ({ name: 'ControllerError', status });
type Keypair = { name: string; public_key: string; fingerprint: string; user_id?: string; private_key?: string; id?: number };
const create = (body: object, c = demo) => c.call<{ keypair: Keypair }>('POST', '/v2.1/os-keypairs', { keypair: body });
const RSA = execFileSync('sh', ['-c', `d=$(mktemp -d) && ssh-keygen -q -t rsa -b 2048 -N '' -C me@there -f "$d/k" && cat "$d/k.pub" && rm -r "$d"`]).toString().trim();

t.test('a generated keypair: its private key once, usable by ssh-keygen, its fingerprint MD5 of the key', async (t) => {
  const { keypair } = await create({ name: 'gen-1' });
  t.match(keypair, { name: 'gen-1', public_key: /^ssh-ed25519 \S+ gen-1@ciao$/, fingerprint: /^([0-9a-f]{2}:){15}[0-9a-f]{2}$/, user_id: /\S/ });
  const file = join(plane.dir, 'gen-1');
  writeFileSync(file, keypair.private_key!, { mode: 0o600 });
  t.equal(execFileSync('ssh-keygen', ['-y', '-f', file]).toString().trim(), keypair.public_key);
  t.match(execFileSync('ssh-keygen', ['-l', '-E', 'md5', '-f', file]).toString(), `MD5:${keypair.fingerprint}`);
  const { keypair: shown } = await demo.call<{ keypair: Keypair }>('GET', '/v2.1/os-keypairs/gen-1');
  t.notOk('private_key' in shown, 'the private key is never shown again');
  t.match(shown, { name: 'gen-1', public_key: keypair.public_key, fingerprint: keypair.fingerprint, deleted: false, id: Number });
});

t.test('an imported key keeps its text and has no private key; list and delete', async (t) => {
  const { keypair } = await create({ name: 'imported key', public_key: RSA });
  t.equal(keypair.public_key, RSA);
  t.notOk('private_key' in keypair);
  const { keypairs } = await demo.call<{ keypairs: { keypair: Keypair }[] }>('GET', '/v2.1/os-keypairs');
  t.ok(keypairs.some((k) => k.keypair.name === 'imported key' && k.keypair.public_key === RSA));
  await demo.call('DELETE', `/v2.1/os-keypairs/${encodeURIComponent('imported key')}`);
  await t.rejects(demo.call('GET', `/v2.1/os-keypairs/${encodeURIComponent('imported key')}`), refused(404));
  await t.rejects(demo.call('DELETE', '/v2.1/os-keypairs/never-was'), refused(404));
});

t.test('bad names and keys are 400, a duplicate name 409', async (t) => {
  for (const name of ['', 'key_/.\\@:', 'x'.repeat(256), ' lead', 'trail ']) await t.rejects(create({ name }), refused(400), JSON.stringify(name));
  for (const public_key of [' ', 'ssh-rsa JUNK nova@ubuntu', `ssh-rsa ${'A'.repeat(2048)} x`, 'ssh-dss AAAAB3NzaC1kc3M= x', RSA.replace(/^ssh-rsa/, 'ssh-ed25519'),
    // A line break would add a line of the tenant's choosing to the guest's authorized_keys.
    `${RSA} comment\nssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExtra other`]) {
    await t.rejects(create({ name: 'bad-key', public_key }), refused(400), public_key.slice(0, 30));
  }
  await t.rejects(create({ name: 'x', type: 'ssh' }), refused(400), 'type needs microversion 2.2');
  await create({ name: 'dup' });
  await t.rejects(create({ name: 'dup' }), refused(409));
});

t.test('keypairs are the user\'s: another user neither sees, shows, deletes nor uses them, and may reuse the name', async (t) => {
  await create({ name: 'mine' });
  const { keypairs } = await other.call<{ keypairs: { keypair: Keypair }[] }>('GET', '/v2.1/os-keypairs');
  t.notOk(keypairs.some((k) => k.keypair.name === 'mine'));
  await t.rejects(other.call('GET', '/v2.1/os-keypairs/mine'), refused(404));
  await t.rejects(other.call('DELETE', '/v2.1/os-keypairs/mine'), refused(404));
  const { flavors } = await other.call<{ flavors: { id: string; name: string }[] }>('GET', '/v2.1/flavors');
  const flavor = flavors.find((f) => f.name === 'Busybox container')!.id;
  await t.rejects(other.call('POST', '/v2.1/servers', { server: { name: 's', flavorRef: flavor, key_name: 'mine' } }), { name: 'ControllerError', status: 400, message: /key_name/ });
  t.ok((await create({ name: 'mine' }, other)).keypair.public_key);
  t.ok((await demo.call<{ keypair: Keypair }>('GET', '/v2.1/os-keypairs/mine')).keypair);
});

t.test('a server made with key_name shows it and its START carries the public key for the config drive', async (t) => {
  const { keypair } = await create({ name: 'boot-key', public_key: RSA });
  const { flavors } = await demo.call<{ flavors: { id: string; name: string }[] }>('GET', '/v2.1/flavors');
  const flavor = flavors.find((f) => f.name === 'Debian VM')!.id;
  const { server } = await demo.call<{ server: { id: string } }>('POST', '/v2.1/servers', { server: { name: 'with-key', flavorRef: flavor, key_name: 'boot-key' } });
  const spec = await waitFor('the server on a node', async () => (await Promise.all(plane.backends.map((b) => b.list()))).flat().find((i) => i.spec.instanceId === server.id)?.spec, { timeoutMs: 10_000 });
  t.same(spec.publicKeys, { 'boot-key': keypair.public_key });
  t.equal((await demo.call<{ server: { key_name: string } }>('GET', `/v2.1/servers/${server.id}`)).server.key_name, 'boot-key');
  await t.rejects(demo.call('POST', '/v2.1/servers', { server: { name: 'no-key', flavorRef: flavor, key_name: 'nope' } }), refused(400));
});

t.test('keypairs survive a controller restart', async (t) => {
  const { keypair } = await create({ name: 'durable' });
  await plane.restartController();
  const { keypair: shown } = await demo.call<{ keypair: Keypair }>('GET', '/v2.1/os-keypairs/durable');
  t.equal(shown.fingerprint, keypair.fingerprint);
});
