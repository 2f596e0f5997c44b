// Builds the VM image from Debian packages and boots it under QEMU (TCG), with a config drive
// naming the instance and a demouser key; SSH must answer and `hostname` must be the instance id.
// QEMU's user-mode network forwards SSH to a loopback port: nothing leaves the machine.
import t from 'tap';
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { run } from '../../shared/run.ts';
import { waitFor } from '../../shared/wait-for.ts';
import { tempDir } from '../../shared/temp-dir.ts';
import { freePort } from '../../singlevm/ports.ts';
import { buildVmImage } from '../../images/vm-image.ts';
import { makeConfigDrive } from '../../images/config-drive.ts';

const cache = join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'ciao', 'images');
const { path: dir, remove: removeDir } = tempDir('ciao-vm-test');
t.teardown(removeDir);

t.test('the VM image boots, reads its config drive and answers SSH as demouser', async (t) => {
  const t0 = performance.now();
  const image = await buildVmImage(cache);
  t.comment(`image ${image.hash} ready in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  t.ok((await readFile(image.initrd)).length > 1_000_000, 'an initramfs was written');

  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'key')]);
  const pub = (await readFile(join(dir, 'key.pub'), 'utf8')).trim();
  const id = randomUUID();
  await makeConfigDrive(join(dir, 'config.iso'), {
    instanceId: id, hostname: id,
    userData: `#cloud-config\nusers:\n  - name: demouser\n    ssh_authorized_keys:\n      - ${pub}\n`,
  });

  const port = await freePort();
  const bootStart = performance.now();
  const qemu = spawn('qemu-system-x86_64', [
    '-machine', 'q35,accel=tcg', '-cpu', 'max', '-m', '256', '-smp', '1', '-nographic', '-no-reboot',
    '-kernel', image.kernel, '-initrd', image.initrd, '-append', 'console=ttyS0 panic=-1 quiet',
    '-drive', `file=${join(dir, 'config.iso')},if=virtio,format=raw,readonly=on`,
    '-netdev', `user,id=n0,hostfwd=tcp:127.0.0.1:${port}-:22`, '-device', 'virtio-net-pci,netdev=n0',
  ], { stdio: ['ignore', 'pipe', 'pipe'] });
  let consoleLog = '';
  qemu.stdout.on('data', (d) => (consoleLog += d));
  t.teardown(() => void qemu.kill('SIGKILL'));

  const ssh = (cmd: string) => run('ssh', [
    '-q', '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'ConnectTimeout=3',
    '-i', join(dir, 'key'), '-p', String(port), 'demouser@127.0.0.1', cmd,
  ], { timeout: 10_000 });
  const hostname = await waitFor('SSH into the VM', async () => (await ssh('hostname')).stdout.trim(), { timeoutMs: 90_000, intervalMs: 250 })
    .catch((err) => { throw new Error(`${(err as Error).message}\nconsole:\n${consoleLog.slice(-2000)}`); });
  t.comment(`boot → SSH answered in ${((performance.now() - bootStart) / 1000).toFixed(1)} s (TCG)`);
  t.equal(hostname, id, 'hostname is the instance id');
  t.match((await ssh('id')).stdout, /uid=1000\(demouser\)/);
  t.match(consoleLog, /ciao-vm: address \d+\.\d+\.\d+\.\d+/, 'the guest got an address by DHCP');
});
