import t from 'tap';
import { execFileSync } from 'node:child_process';
import { createMemoryStore } from '../../controller/datastore/memory-store.ts';
import { createKeypair, findKeypair } from '../../controller/keypairs.ts';
import { parsePublicKey } from '../../controller/ssh-keys.ts';
import { withTempDir } from '../../shared/temp-dir.ts';

/** A key pair made by ssh-keygen: its public line and ssh-keygen's MD5 fingerprint of it. */
const sshKeygen = (args: string[]) => withTempDir('keypairs-test', async (dir) => {
  execFileSync('ssh-keygen', ['-q', '-N', '', '-C', 'me@there', '-f', `${dir}/k`, ...args]);
  const line = execFileSync('cat', [`${dir}/k.pub`]).toString().trim();
  const md5 = execFileSync('ssh-keygen', ['-l', '-E', 'md5', '-f', `${dir}/k.pub`]).toString().match(/MD5:(\S+)/)![1];
  return { line, md5 };
});

t.test('OpenSSH public keys of every accepted type parse, with ssh-keygen\'s MD5 fingerprint', async (t) => {
  for (const args of [['-t', 'rsa', '-b', '2048'], ['-t', 'ed25519'], ['-t', 'ecdsa', '-b', '256'], ['-t', 'ecdsa', '-b', '384'], ['-t', 'ecdsa', '-b', '521']]) {
    const { line, md5 } = await sshKeygen(args);
    t.same(parsePublicKey(`  ${line}\n`), { text: line, type: line.split(' ')[0], fingerprint: md5 }, args.join(' '));
  }
});

t.test('what is not a real key is refused with the reason', async (t) => {
  const { line } = await sshKeygen(['-t', 'ed25519']);
  const [, data] = line.split(' ');
  const cases: [string, RegExp][] = [
    ['', /OpenSSH public key/],
    ['ssh-rsa', /OpenSSH public key/],
    [`ssh-dss ${data}`, /type "ssh-dss" is not one of/],
    ['ssh-rsa JUNK nova@ubuntu', /not a valid ssh-rsa key/],
    [`ssh-rsa ${data}`, /not of type ssh-rsa/],
    ['ssh-ed25519 !!!', /not base64/],
    [`ssh-ed25519 ${Buffer.from(Buffer.from(data, 'base64').subarray(0, 30)).toString('base64')}`, /truncated/],
    [`ssh-ed25519 ${Buffer.concat([Buffer.from(data, 'base64'), Buffer.from([0])]).toString('base64')}`, /bytes after the key/],
  ];
  for (const [text, why] of cases) t.throws(() => parsePublicKey(text), { status: 400, message: why }, text.slice(0, 30));
});

t.test('x509 keypairs: a generated certificate and key, an imported certificate, a bad one refused', async (t) => {
  const store = createMemoryStore();
  const { keypair, privateKey } = await createKeypair(store, undefined, 'user-1', { name: 'cert', type: 'x509' });
  t.match(keypair, { type: 'x509', public_key: /^-----BEGIN CERTIFICATE-----/, fingerprint: /^([0-9a-f]{2}:){19}[0-9a-f]{2}$/ });
  t.match(privateKey, /^-----BEGIN PRIVATE KEY-----/);
  const openssl = execFileSync('openssl', ['x509', '-noout', '-fingerprint', '-sha1'], { input: keypair.public_key }).toString();
  t.equal(openssl.split('=')[1].trim().toLowerCase(), keypair.fingerprint);
  const imported = await createKeypair(store, undefined, 'user-1', { name: 'imported', type: 'x509', publicKey: keypair.public_key });
  t.equal(imported.privateKey, undefined);
  t.equal(imported.keypair.fingerprint, keypair.fingerprint);
  await t.rejects(createKeypair(store, undefined, 'user-1', { name: 'bad', type: 'x509', publicKey: 'not a cert' }), { status: 400, message: /X\.509/ });
  await t.rejects(createKeypair(store, undefined, 'user-1', { name: 'cert', type: 'ssh' }), { name: 'ApiError', status: 409 });
});

t.test('the key_pairs quota counts the user\'s keypairs (403); names are per user', async (t) => {
  const store = createMemoryStore();
  const quotas = { id: 'project', limits: { key_pairs: 1 } };
  await createKeypair(store, quotas, 'user-1', { name: 'a', type: 'ssh' });
  await t.rejects(createKeypair(store, quotas, 'user-1', { name: 'b', type: 'ssh' }), { status: 403, message: /key_pairs is 1/ });
  await createKeypair(store, quotas, 'user-2', { name: 'a', type: 'ssh' });
  t.not(findKeypair(store, 'user-1', 'a').id, findKeypair(store, 'user-2', 'a').id);
  t.throws(() => findKeypair(store, 'user-1', 'b'), { name: 'ApiError', status: 404 });
});
