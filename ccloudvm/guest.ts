// The guest of a ccloudvm VM, from the host: SSH into it (through the forward on the host's
// loopback), its console's last line for progress, and the waits for it to boot and provision.
import { readFile } from 'node:fs/promises';
import { run } from '../shared/run.ts';
import { waitFor } from '../shared/wait-for.ts';
import { qemuPid, vmPaths, type VmRecord } from './vm.ts';

/** How long the guest gets to boot to SSH and to provision, by acceleration. */
export const BOOT_MS = { kvm: 120_000, tcg: 600_000 };
const PROVISION_MS = 45 * 60_000;

export function sshArgs(r: VmRecord, extra: string[] = []): string[] {
  const p = vmPaths(r.name);
  return ['-i', p.key, '-p', String(r.forwards[0].host), '-o', 'StrictHostKeyChecking=accept-new', '-o', `UserKnownHostsFile=${p.knownHosts}`,
    '-o', 'LogLevel=ERROR', '-o', 'ConnectTimeout=5', ...extra, 'root@127.0.0.1'];
}

/** Runs a command in the VM; resolves with its result (a failing command is not thrown). */
export function inVm(r: VmRecord, command: string, timeout = 60_000) {
  return run('ssh', [...sshArgs(r, ['-o', 'BatchMode=yes']), command], { allowFailure: true, timeout });
}

export const quote = (s: string) => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

async function lastConsoleLine(r: VmRecord): Promise<string> {
  const text = await readFile(vmPaths(r.name).console, 'latin1').catch(() => '');
  // eslint-disable-next-line no-control-regex
  const lines = text.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').split(/\r?\n/).map((l) => l.trim()).filter(Boolean);
  return (lines.at(-1) ?? '').slice(0, 100);
}

export async function waitSsh(r: VmRecord, progress: (note: string) => void) {
  await waitFor(`SSH of VM ${r.name} on 127.0.0.1:${r.forwards[0].host}`, async () => {
    if (!await qemuPid(r.name)) throw new Error(`QEMU exited: see ${vmPaths(r.name).console} and ${vmPaths(r.name).qemuLog}`);
    progress(await lastConsoleLine(r));
    return (await inVm(r, 'true', 15_000)).exitCode === 0;
  }, { timeoutMs: BOOT_MS[r.accel], intervalMs: 1000 });
}

export async function waitProvisioned(r: VmRecord, progress: (note: string) => void) {
  await waitFor(`VM ${r.name} to be provisioned`, async () => {
    const state = (await inVm(r, 'if [ -e /var/lib/ccloudvm/provisioned ]; then echo done; elif systemctl is-failed -q ccloudvm-firstboot; then echo failed; fi')).stdout.trim();
    if (state === 'failed') {
      const tail = (await inVm(r, 'tail -n 15 /var/log/ccloudvm-provision.log')).stdout;
      throw new Error(`provisioning failed; the end of /var/log/ccloudvm-provision.log:\n${tail}`);
    }
    progress(await lastConsoleLine(r));
    return state === 'done';
  }, { timeoutMs: PROVISION_MS, intervalMs: 2000 }).catch((err: Error) => {
    throw new Error(err.message.replace(/^timed out.*?: provisioning failed/s, 'provisioning failed'));
  });
}
