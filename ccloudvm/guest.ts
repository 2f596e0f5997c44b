// The guest of a ccloudvm VM, from the host: SSH into it (through the forward on the host's
// loopback), its console's last line for progress, and the waits for it to boot and provision.
import { readFile } from 'node:fs/promises';
import { run } from '../shared/run.ts';
import { AbortError, waitFor } from '../shared/wait-for.ts';
import { closeSshConnection, qemuPid, UNIX_PATH_MAX, vmPaths, type VmRecord } from './vm.ts';

/** How long the guest gets to boot to SSH and to provision, by acceleration. */
export const BOOT_MS = { kvm: 120_000, tcg: 600_000 };
const PROVISION_MS = 45 * 60_000;

export function sshArgs(r: VmRecord, extra: string[] = []): string[] {
  const p = vmPaths(r.name);
  return ['-i', p.key, '-p', String(r.forwards[0].host), '-o', 'StrictHostKeyChecking=accept-new', '-o', `UserKnownHostsFile=${p.knownHosts}`,
    '-o', 'LogLevel=ERROR', '-o', 'ConnectTimeout=5', ...multiplexing(p.sshControl), ...extra, 'root@127.0.0.1'];
}

/** One SSH connection per VM, kept open (ControlPersist): the first command opens it, every later
 *  one (connect, status, the test's commands) is a new session on it — no key exchange and no
 *  login, which cost 1.5–15 s each with the guest under TCG (docs/ccloudvm.md, "connect").
 *  stopVm closes it. A socket path too long for a unix socket goes without. */
function multiplexing(control: string): string[] {
  if (Buffer.byteLength(control) > UNIX_PATH_MAX) return [];
  return ['-o', 'ControlMaster=auto', '-o', `ControlPath=${control}`, '-o', 'ControlPersist=yes'];
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

/** The first boot's unit says on the serial console when it is done (image.ts, FIRSTBOOT_SCRIPT):
 *  the wait reads the console file, so it costs the guest nothing (a poll over SSH every 2 s did). */
export async function waitProvisioned(r: VmRecord, progress: (note: string) => void) {
  const consoleSays = async () => {
    const text = await readFile(vmPaths(r.name).console, 'latin1').catch(() => '');
    return /ccloudvm: provisioning failed/.test(text) ? 'failed' : /ccloudvm: provisioned\r?$/m.test(text) ? 'done' : undefined;
  };
  await waitFor(`VM ${r.name} to be provisioned`, async () => {
    if (!await qemuPid(r.name)) throw new AbortError(`QEMU exited: see ${vmPaths(r.name).console} and ${vmPaths(r.name).qemuLog}`);
    const said = await consoleSays();
    if (said) return true;
    progress(await lastConsoleLine(r));
    return false;
  }, { timeoutMs: PROVISION_MS, intervalMs: 500 });
  // A session on the shared connection has the environment of the connection's login: the one
  // opened while the guest booted predates /etc/environment (the proxy), so it goes.
  await closeSshConnection(r.name);
  // What the console said, checked where it counts (and the SSH connection opened for what follows).
  const state = (await inVm(r, 'if [ -e /var/lib/ccloudvm/provisioned ]; then echo done; elif systemctl is-failed -q ccloudvm-firstboot; then echo failed; fi')).stdout.trim();
  if (state !== 'done') {
    const tail = (await inVm(r, 'tail -n 15 /var/log/ccloudvm-provision.log')).stdout;
    throw new Error(`provisioning failed; the end of /var/log/ccloudvm-provision.log:\n${tail}`);
  }
}
