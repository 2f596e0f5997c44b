// What one restore from a snapshot template costs its QEMU, step by step, outside any cluster
// (docs/vm-snapshots.md, "Where the CPU goes"): QEMU started from a kept template with the
// template's own stand-ins (no network: the guest's DHCP finds no server), and its CPU time (utime +
// stime of /proc/PID/stat) when QMP answers, when the template is loaded, when the guest took its
// identity, when its console says SSH listens, and over the second after.
// Usage: npx tsx scripts/restore-cpu.ts TEMPLATE_DIR [--runs N]
//   PAUSE_S=S    seconds between runs (freed memory goes back to the host's hypervisor meanwhile, as in BAT)
//   ACCEL=…      the accelerator's options (-accel), in place of the template machine's
//   PERF=FILE    `perf record -g` of QEMU from the load to SSH listening
//   SMAPS=1      QEMU's RAM blocks, and its mappings that got transparent huge pages
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { withTempDir } from '../shared/temp-dir.ts';
import { waitFor } from '../shared/wait-for.ts';
import { cpuSeconds } from './lib/qemu-cpu.ts';
import { handOverIdentity, identityLine, restoreArgs } from '../launcher/vm-restore.ts';
import { QmpSession } from '../launcher/qmp.ts';
import { templateDevices, type Template } from '../launcher/vm-snapshot.ts';

const { values, positionals } = parseArgs({ allowPositionals: true, options: { runs: { type: 'string', default: '5' } } });
const dir = positionals[0];
if (!dir) throw new Error('usage: restore-cpu.ts TEMPLATE_DIR [--runs N]');
const shape = JSON.parse(await readFile(join(dir, 'template.json'), 'utf8'));
const template: Template = { key: 'x', dir, ram: join(dir, 'ram'), state: join(dir, 'state'), console: join(dir, 'console.log'), shape };
const env = process.env;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const cpu = cpuSeconds;
/** QEMU's mappings with huge pages, and its totals. */
const hugePages = async (pid: number) => [
  ...(await readFile(`/proc/${pid}/smaps`, 'utf8')).split(/\n(?=[0-9a-f]+-)/).filter((m) => !/AnonHugePages:\s+0 kB/.test(m))
    .map((m) => [m.split('\n')[0], ...['AnonHugePages', 'Size', 'Rss'].map((k) => new RegExp(`^${k}:\\s+\\d+ kB`, 'm').exec(m)?.[0])].join(' ')),
  (await readFile(`/proc/${pid}/smaps_rollup`, 'utf8')).split('\n').filter((l) => /Rss|Anon|Huge/.test(l)).join(' | '),
].join('\n');

const rows: Record<'up' | 'loaded' | 'taken' | 'listens' | 'after' | 'seconds', number>[] = [];
for (let i = 0; i < Number(values.runs); i++) {
  if (i > 0 && env.PAUSE_S) await sleep(Number(env.PAUSE_S) * 1000);
  await withTempDir('restore-cpu', async (tmp) => {
    const qmp = join(tmp, 'qmp.sock');
    const ident = join(tmp, 'ident.sock');
    const args = [...restoreArgs(template, ident, templateDevices(shape, dir)), '-qmp', `unix:${qmp},server=on,wait=off`];
    if (env.ACCEL) args[args.indexOf('-accel') + 1] = env.ACCEL;
    const t0 = performance.now();
    const q = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    q.stdout.on('data', (c) => { out += c.toString(); });
    try {
      await waitFor('QMP', async () => q.exitCode === null && existsSync(qmp), { timeoutMs: 10_000, intervalMs: 5 });
      await sleep(20);
      const up = await cpu(q.pid!);
      const perf = env.PERF ? spawn('perf', ['record', '-q', '-g', '-F', '4000', '-p', String(q.pid), '-o', env.PERF], { stdio: 'inherit' }) : undefined;
      if (perf) await sleep(300);
      // The restore's steps, as restoreFromTemplate takes them, with the CPU read between them.
      const session = await QmpSession.open(qmp);
      await session.execute('migrate-set-capabilities', { capabilities: [{ capability: 'x-ignore-shared', state: true }] });
      await session.execute('migrate-incoming', { uri: `exec:cat ${template.state}` });
      await waitFor('the template to load', async () => ((await session.execute('query-status')) as { status: string }).status === 'paused', { timeoutMs: 10_000, intervalMs: 5 });
      const loaded = await cpu(q.pid!);
      if (env.SMAPS) console.log(await session.execute('human-monitor-command', { 'command-line': 'info ramblock' }));
      await session.execute('cont');
      session.close();
      const network = { mac: '02:00:00:00:00:01', address: '10.99.0.2/24', gateway: '10.99.0.1' };
      await handOverIdentity(ident, identityLine(Date.now(), shape.diskMB > 0 ? 2 : 1, randomBytes(64), network));
      const taken = await cpu(q.pid!);
      await waitFor('SSH listens', async () => out.includes('SSH listens'), { timeoutMs: 30_000, intervalMs: 5 });
      const listens = await cpu(q.pid!);
      const seconds = (performance.now() - t0) / 1000;
      if (env.SMAPS) console.log(await hugePages(q.pid!));
      if (perf) { perf.kill('SIGINT'); await new Promise((r) => perf.once('exit', r)); }
      await sleep(1000);
      const row = { up, loaded, taken, listens, after: await cpu(q.pid!) - listens, seconds };
      rows.push(row);
      console.log(`run ${i + 1}: ${line(row)}`);
    } finally {
      q.kill('SIGKILL');
      await new Promise((r) => q.once('exit', r));
    }
  });
}
function line(r: (typeof rows)[number]): string {
  return `QEMU up ${r.up.toFixed(2)}, loaded ${r.loaded.toFixed(2)}, identity taken ${r.taken.toFixed(2)}, SSH listens ${r.listens.toFixed(2)} CPU-s (${r.seconds.toFixed(2)} s), the second after ${r.after.toFixed(2)}`;
}
const median = (k: keyof (typeof rows)[number]) => rows.map((r) => r[k]).sort((a, b) => a - b)[Math.floor(rows.length / 2)];
console.log(`median: ${line({ up: median('up'), loaded: median('loaded'), taken: median('taken'), listens: median('listens'), after: median('after'), seconds: median('seconds') })}`);
