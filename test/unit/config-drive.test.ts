import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeConfigDrive } from '../../images/config-drive.ts';
import { withTempDir } from '../../shared/temp-dir.ts';

const metaData = (c: Parameters<typeof makeConfigDrive>[1]) => withTempDir('config-drive-test', async (dir) => {
  const iso = join(dir, 'config.iso');
  await makeConfigDrive(iso, c);
  t.equal(execFileSync('isoinfo', ['-d', '-i', iso]).toString().match(/Volume id: (\S+)/)?.[1], 'config-2', 'cloud-init finds it by its label');
  return JSON.parse(execFileSync('isoinfo', ['-R', '-i', iso, '-x', '/openstack/latest/meta_data.json']).toString());
});

t.test('meta_data.json carries a keypair\'s public key as public_keys, as OpenStack\'s does', async (t) => {
  const key = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHrbv7c8qxjwoTWmZMsu7OfU2NpPeotkFFZ4E31/pOfs k@ciao';
  t.same(await metaData({ instanceId: 'i-1', hostname: 'i-1', publicKeys: { k: key } }), { uuid: 'i-1', name: 'i-1', hostname: 'i-1', public_keys: { k: key } });
  t.same(await metaData({ instanceId: 'i-2', hostname: 'i-2' }), { uuid: 'i-2', name: 'i-2', hostname: 'i-2' }, 'and none without a keypair');
});

t.test('injected files (Nova\'s personality) are listed in meta_data.json and their contents are under openstack/content', async (t) => {
  const files = [{ path: '/test.txt', contents: Buffer.from('This is a test file.').toString('base64') }, { path: '/etc/a b/c', contents: '' }];
  await withTempDir('config-drive-test', async (dir) => {
    const iso = join(dir, 'config.iso');
    await makeConfigDrive(iso, { instanceId: 'i-3', hostname: 'i-3', files });
    const meta = JSON.parse(execFileSync('isoinfo', ['-R', '-i', iso, '-x', '/openstack/latest/meta_data.json']).toString());
    t.same(meta.files, [{ path: '/test.txt', content_path: '/content/0000' }, { path: '/etc/a b/c', content_path: '/content/0001' }]);
    t.equal(execFileSync('isoinfo', ['-R', '-i', iso, '-x', '/openstack/content/0000']).toString(), 'This is a test file.');
    t.equal(execFileSync('isoinfo', ['-R', '-i', iso, '-x', '/openstack/content/0001']).toString(), '', 'an empty file stays empty');
  });
});

t.test('the workloads\' environment (the proxies) is ciao/environment, KEY=VALUE lines; none without it', async (t) => {
  await withTempDir('config-drive-test', async (dir) => {
    const iso = join(dir, 'config.iso');
    await makeConfigDrive(iso, { instanceId: 'i-3', hostname: 'i-3', environment: { http_proxy: 'http://10.0.2.2:3128', no_proxy: 'localhost,172.16.0.0/12' } });
    t.equal(execFileSync('isoinfo', ['-R', '-i', iso, '-x', '/ciao/environment']).toString(), 'http_proxy=http://10.0.2.2:3128\nno_proxy=localhost,172.16.0.0/12\n');
    await makeConfigDrive(join(dir, 'bare.iso'), { instanceId: 'i-4', hostname: 'i-4' });
    t.notMatch(execFileSync('isoinfo', ['-R', '-f', '-i', join(dir, 'bare.iso')]).toString(), /ciao/);
  });
});

t.test('its files are laid out beside the ISO, not in the OS temp dir; what a killed launcher left there is not in the next ISO, and nothing stays', async (t) => {
  await withTempDir('config-drive-test', async (dir) => {
    const iso = join(dir, 'config.iso');
    // A launcher killed while it laid out an earlier drive with user data.
    await mkdir(join(`${iso}.d`, 'openstack', 'latest'), { recursive: true });
    await writeFile(join(`${iso}.d`, 'openstack', 'latest', 'user_data'), '#cloud-config\n');
    await makeConfigDrive(iso, { instanceId: 'i-5', hostname: 'i-5' });
    t.notMatch(execFileSync('isoinfo', ['-R', '-f', '-i', iso]).toString(), /user_data/, 'the old user data is not on the drive');
    t.same(await readdir(dir), ['config.iso'], 'only the ISO is left beside it');
  });
});
