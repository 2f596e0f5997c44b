// What `setup` checks before it changes anything (SPEC §2): KVM or TCG, tools present, the address
// plan against the host's routes, disk space. Everything here only reads the host.
import { spawn } from 'node:child_process';
import { access, constants, mkdir, readFile, stat, statfs, writeFile } from 'node:fs/promises';
import { delimiter, dirname, join } from 'node:path';
import { ipJson } from '../network/ip.ts';
import { overlaps, parseCidr } from '../controller/addresses.ts';
import { waitFor } from '../shared/wait-for.ts';

export type Accel = 'kvm' | 'tcg';

interface AccelProbe {
  kernel: string;
  initrd?: string;
  force?: 'auto' | Accel;
  timeoutMs?: number;
  /** Remembers the answer for this boot of the host and this kernel, so warm setups skip the probe. */
  cacheFile?: string;
}

/** KVM when a guest under it reaches the kernel's first words in time, TCG otherwise. On these
 *  machines /dev/kvm exists but a KVM guest spins at boot (SPEC §10): hence a real boot, not a file check. */
export async function probeAccel(p: AccelProbe): Promise<{ accel: Accel; why: string }> {
  const hasKvm = await access('/dev/kvm', constants.R_OK | constants.W_OK).then(() => true, () => false);
  if (p.force === 'tcg') return { accel: 'tcg', why: 'TCG asked for' };
  if (p.force === 'kvm') {
    if (!hasKvm) throw new Error('KVM asked for, but /dev/kvm is not usable here: use --accel tcg or auto');
    return { accel: 'kvm', why: 'KVM asked for' };
  }
  if (!hasKvm) return { accel: 'tcg', why: 'no usable /dev/kvm' };
  const bootId = (await readFile('/proc/sys/kernel/random/boot_id', 'utf8')).trim();
  if (p.cacheFile) {
    const cached = await readFile(p.cacheFile, 'utf8').then((s) => JSON.parse(s) as { bootId: string; kernel: string; accel: Accel; why: string }, () => undefined);
    if (cached?.bootId === bootId && cached.kernel === p.kernel) return { accel: cached.accel, why: `${cached.why} (cached)` };
  }
  const timeoutMs = p.timeoutMs ?? 3000;
  const qemu = spawn('qemu-system-x86_64', ['-machine', 'q35,accel=kvm', '-cpu', 'host', '-m', '128', '-nographic', '-no-reboot', '-nodefaults',
    '-serial', 'stdio', '-kernel', p.kernel, ...(p.initrd ? ['-initrd', p.initrd] : []), '-append', 'console=ttyS0 panic=-1'],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  let serial = '';
  qemu.stdout.on('data', (d: Buffer) => { serial += d.toString('latin1'); });
  qemu.stderr.on('data', (d: Buffer) => { serial += d.toString('latin1'); });
  // 'close' comes after 'error' too (QEMU missing), so awaiting it always ends.
  let failed: Error | undefined;
  qemu.on('error', (err) => { failed = err; });
  const exited = new Promise<void>((resolve) => qemu.on('close', () => resolve()));
  let result: { accel: Accel; why: string };
  try {
    // An exit ends the wait at once (a throw inside waitFor would only be retried until the deadline).
    const seen = await waitFor('a KVM guest to reach its kernel', () => {
      if (/Linux version/.test(serial)) return 'booted';
      return (failed || qemu.exitCode !== null || qemu.signalCode !== null) && 'exited';
    }, { timeoutMs, intervalMs: 50 });
    result = seen === 'booted'
      ? { accel: 'kvm', why: 'a KVM guest booted' }
      : { accel: 'tcg', why: `QEMU with KVM exited before the kernel started: ${failed?.message ?? serial.trim().split('\n').slice(-1)[0] ?? ''}` };
  } catch {
    result = { accel: 'tcg', why: `a KVM guest did not reach the kernel in ${timeoutMs / 1000} s` };
  } finally {
    qemu.kill('SIGKILL');
    await exited;
  }
  if (p.cacheFile) await mkdir(dirname(p.cacheFile), { recursive: true }).then(() => writeFile(p.cacheFile!, JSON.stringify({ bootId, kernel: p.kernel, ...result }) + '\n')).catch(() => undefined);
  return result;
}

export const cidrsOverlap = (a: string, b: string) => overlaps(parseCidr(a), parseCidr(b));

/** A sentence for each of `cidrs` that overlaps a route or address of the host (default routes aside). */
export async function routeCollisions(cidrs: string[]): Promise<string[]> {
  const routes = await ipJson<{ dst: string; dev?: string }[]>(undefined, '-4', 'route', 'show');
  const addrs = await ipJson<{ ifname: string; addr_info?: { family: string; local: string; prefixlen: number }[] }[]>(undefined, '-4', 'addr', 'show');
  const hostNets = [
    ...routes.filter((r) => r.dst !== 'default').map((r) => ({ net: r.dst.includes('/') ? r.dst : `${r.dst}/32`, what: `route ${r.dst}${r.dev ? ` dev ${r.dev}` : ''}` })),
    ...addrs.flatMap((a) => (a.addr_info ?? []).map((i) => ({ net: `${i.local}/32`, what: `address ${i.local} on ${a.ifname}` }))),
  ];
  const out: string[] = [];
  for (const cidr of cidrs) {
    for (const h of hostNets) if (cidrsOverlap(cidr, h.net)) out.push(`${cidr} overlaps the host's ${h.what}`);
  }
  return out;
}

/** Free space (MB) where `dir` is or would be created. */
export async function freeDiskMB(dir: string): Promise<number> {
  for (let d = dir; ; d = dirname(d)) {
    const s = await statfs(d).catch(() => undefined);
    if (s) return Math.floor((s.bavail * s.bsize) / 2 ** 20);
    if (d === dirname(d)) return 0;
  }
}

/** Which of `tools` are not executables on PATH. */
export async function missingTools(tools: string[]): Promise<string[]> {
  const dirs = (process.env.PATH ?? '').split(delimiter).filter(Boolean);
  const found = async (tool: string) => {
    // A directory has the X bit too: only an executable file counts.
    const executable = (f: string) => access(f, constants.X_OK).then(() => stat(f)).then((s) => s.isFile(), () => false);
    if (tool.includes('/')) return executable(tool);
    for (const d of dirs) if (await executable(join(d, tool))) return true;
    return false;
  };
  const missing: string[] = [];
  for (const t of tools) if (!(await found(t))) missing.push(t);
  return missing;
}
