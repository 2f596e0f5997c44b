// What SSH into a tenant VM costs the VM (docs/bat.md, "SSH into guests"): one VM of the public
// workload in a tenant of its own, and its QEMU's CPU time (utime + stime of /proc/PID/stat) before
// and after each step: the restore until SSH answers, one command on a connection of its own, the
// same with other algorithms, a command over a shared connection, an idle shared connection.
// Usage (a real cluster's demo.sh sourced): npx tsx scripts/guest-ssh-cpu.ts [--runs N]
import { lstat, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { run } from '../shared/run.ts';
import { withTempDir } from '../shared/temp-dir.ts';
import { waitFor } from '../shared/wait-for.ts';
import { cpuSeconds, qemuPid as qemuPidOf } from './lib/qemu-cpu.ts';
import { cnciNamespace } from '../cnci/cnci-backend.ts';
import { sshArgs } from '../singlevm/guest-ssh.ts';
import { admin, deleteInstances, publicWorkload, unique, waitState } from '../bat/lib.ts';
import type { Instance, Tenant } from '../controller/api-types.ts';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '5' } } });
const runs = Number(values.runs);
const cluster = process.env.CIAO_CLUSTER ?? 'ciao';
const demoKey = process.env.CIAO_SSH_KEY ?? '';

const cpu = cpuSeconds;
const qemuPid = (id: string) => qemuPidOf(cluster, id);

const tenant = await admin.call<Tenant>('POST', '/tenants', { name: unique('sshcpu') });
const path = `/tenants/${tenant.id}`;
const ns = cnciNamespace(cluster, tenant.id);
try {
  await withTempDir('ciao-sshcpu', async (dir) => {
    const w = await publicWorkload('qemu');
    const [vm] = (await admin.call<{ instances: Instance[] }>('POST', `${path}/instances`, { workload_id: w.id })).instances;
    const { ip } = await waitState(path, vm.id, 'active');
    const pid = await qemuPid(vm.id);
    console.log(`restore → active: QEMU ${(await cpu(pid)).toFixed(2)} CPU-s since its start`);
    const ssh = (key: string, command: string, extra: string[] = [], control?: string) =>
      run('ip', ['netns', 'exec', ns, 'ssh', ...extra, ...sshArgs(ip, key, command, control)]);
    await waitFor(`SSH to ${ip}`, () => ssh(demoKey, 'true').then(() => true, () => false), { timeoutMs: 120_000, intervalMs: 100 });
    console.log(`restore → active → first SSH answer (host key made): QEMU ${(await cpu(pid)).toFixed(2)} CPU-s since its start`);
    const offer = await run('ip', ['netns', 'exec', ns, 'ssh', '-vv', ...sshArgs(ip, demoKey, 'true')], { allowFailure: true });
    for (const l of offer.stderr.split('\n').filter((x) => /peer server KEXINIT|^debug2: (KEX algorithms|host key algorithms|ciphers stoc|MACs stoc)|kex: (algorithm|host key algorithm|server->client)/.test(x))) console.log('  ', l.trim());

    // An RSA user key beside the demo ed25519 one, authorized in the guest.
    const rsa = join(dir, 'id_rsa');
    await run('ssh-keygen', ['-q', '-t', 'rsa', '-b', '3072', '-N', '', '-f', rsa]);
    await ssh(demoKey, `cat >> ~/.ssh/authorized_keys <<'E'\n${(await readFile(`${rsa}.pub`, 'utf8')).trim()}\nE`);

    const idle = async (s: number) => {
      const c0 = await cpu(pid), t0 = Date.now();
      await new Promise((r) => setTimeout(r, s * 1000));
      return (await cpu(pid) - c0) / ((Date.now() - t0) / 1000);
    };
    const base = await idle(3);
    console.log(`idle guest: ${base.toFixed(4)} CPU-s/s`);
    const perCommand = async (label: string, once: () => Promise<unknown>) => {
      const c0 = await cpu(pid), t0 = Date.now();
      for (let i = 0; i < runs; i++) await once();
      const used = await cpu(pid) - c0 - base * (Date.now() - t0) / 1000;
      console.log(`${label.padEnd(62)} ${(used / runs).toFixed(3)} CPU-s of the guest per command (${runs}, ${((Date.now() - t0) / runs).toFixed(0)} ms each)`);
    };
    await perCommand('own connection, the defaults (ed25519 user key)', () => ssh(demoKey, 'true'));
    await perCommand('own connection, RSA 3072 user key', () => ssh(rsa, 'true'));
    for (const kex of ['curve25519-sha256', 'ecdh-sha2-nistp256', 'diffie-hellman-group14-sha256']) {
      await perCommand(`own connection, kex ${kex}`, () => ssh(demoKey, 'true', ['-o', `KexAlgorithms=${kex}`]).catch(() => undefined));
    }
    for (const hk of ['ssh-ed25519', 'ecdsa-sha2-nistp256', 'rsa-sha2-256']) {
      await perCommand(`own connection, host key ${hk}`, () => ssh(demoKey, 'true', ['-o', `HostKeyAlgorithms=${hk}`]).catch(() => undefined));
    }
    for (const c of ['chacha20-poly1305@openssh.com', 'aes128-ctr']) {
      await perCommand(`own connection, cipher ${c}`, () => ssh(demoKey, 'true', ['-o', `Ciphers=${c}`]).catch(() => undefined));
    }
    const control = join(dir, 'mux');
    await perCommand('shared: the first command (makes the connection)', async () => {
      await ssh(demoKey, 'true', [], control);
      await run('ip', ['netns', 'exec', ns, 'ssh', '-o', `ControlPath=${control}`, '-O', 'exit', 'x'], { allowFailure: true });
      await waitFor('the master to end', () => lstat(control).then(() => false, () => true));
    });
    await ssh(demoKey, 'true', [], control);
    await perCommand('shared: a command over the live connection', () => ssh(demoKey, 'true', [], control));
    console.log(`idle guest with a shared connection open (keepalives): ${(await idle(5)).toFixed(4)} CPU-s/s`);
    await run('ip', ['netns', 'exec', ns, 'ssh', '-o', `ControlPath=${control}`, '-O', 'exit', 'x'], { allowFailure: true });
  });
} finally {
  await deleteInstances(path);
  await admin.call('DELETE', path);
}
