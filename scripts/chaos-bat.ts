// One daemon of the real cluster killed (SIGKILL) at chosen moments of BAT and resumed by setup.sh at
// once, as test/root/chaos.test.ts does at random moments: what a kill at that moment costs BAT, in
// time and in failed tests (docs/lifecycle.md, "Chaos"). Each moment is one BAT run on the same
// cluster; the cluster is set up first (a warm setup.sh) and cleaned up at the end unless --keep.
// Prints one line per moment, and the tests that failed; exits 1 when setup or a resume fails.
//   npm run chaos:bat -- [--kill launcher|controller|scheduler|identity|dnsmasq|qemu] [--at 4,8,14] [--name chaos-bat] [--keep]
import { parseArgs } from 'node:util';
import { readFile } from 'node:fs/promises';
import { setTimeout as delay } from 'node:timers/promises';
import { join } from 'node:path';
import { run } from '../shared/run.ts';
import { clusterPaths } from '../singlevm/cluster-files.ts';
import { pidFiles } from '../singlevm/pid-files.ts';
import { clusterProcesses, killFound, REPO_ROOT } from '../singlevm/processes.ts';

const { values } = parseArgs({
  options: {
    kill: { type: 'string', default: 'launcher' }, at: { type: 'string', default: '4,8,14' },
    name: { type: 'string', default: 'chaos-bat' }, keep: { type: 'boolean', default: false },
  },
});
const victim = values.kill!;
const name = values.name!;
const paths = clusterPaths(name);
/** The process of each victim, as test/root/chaos.test.ts finds it; a QEMU: the first of BAT's VMs
 *  found (waited for below: the kill's moment may come before BAT's first VM). */
const victims: Record<string, () => Promise<number | undefined>> = {
  launcher: async () => (await pidFiles(paths.pids)).find((p) => p.name === 'launcher')?.pid,
  controller: async () => (await pidFiles(paths.pids)).find((p) => p.name === 'controller')?.pid,
  scheduler: async () => (await pidFiles(paths.pids)).find((p) => p.name === 'scheduler')?.pid,
  identity: async () => (await pidFiles(paths.pids)).find((p) => p.name === 'identity')?.pid,
  dnsmasq: async () => Number(await readFile(join(paths.clusterNet, 'dnsmasq.pid'), 'utf8').catch(() => '')) || undefined,
  qemu: async () => (await clusterProcesses(name, paths.stateDir)).find((p) => p.cmdline.includes('qemu-system'))?.pid,
};
if (!(victim in victims)) throw new Error(`--kill takes ${Object.keys(victims).join(', ')}, not ${victim}`);
const moments = values.at!.split(',').map(Number);
if (!moments.every((s) => Number.isFinite(s) && s >= 0)) throw new Error(`--at takes seconds into BAT, by commas (e.g. 4,8.5,14), not ${values.at}`);
/** BAT's own cap per test: a test still waiting after it is one that would have waited for ever. */
const TEST_TIMEOUT_S = 120;
const sh = (script: string, ...args: string[]) =>
  run(join(REPO_ROOT, script), args, { env: { ...process.env, CIAO_CLUSTER: name }, allowFailure: true, timeout: 900_000 });
const seconds = (t0: number) => (performance.now() - t0) / 1000;

const setup = await sh('singlevm/setup.sh', '--name', name);
if (setup.exitCode !== 0) throw new Error(`setup.sh --name ${name} failed:\n${setup.stdout}\n${setup.stderr}`);
const rows: string[] = [];
let broken = false;
try {
  for (const at of moments) {
    const t0 = performance.now();
    const bat = sh('bat/run.sh', '--name', name, '--timeout', String(TEST_TIMEOUT_S), '-v');
    // The moment is the experiment's input, not a synchronisation.
    await delay(at * 1000);
    await killFound(victim, victims[victim]);
    const killedAt = performance.now();
    const resume = await sh('singlevm/setup.sh', '--name', name);
    const back = seconds(killedAt);
    if (resume.exitCode !== 0) {
      broken = true;
      console.log(`at ${at} s: setup.sh did not resume the cluster:\n${resume.stdout}\n${resume.stderr}`);
      await bat;
      break;
    }
    const r = await bat;
    const took = seconds(t0);
    const summary = /BAT: \d+ tests in \d+ suites, (\d+) passed, (\d+) failed/.exec(r.stderr);
    const failed = r.stderr.split('\n').filter((l) => l.includes('FAILED')).map((l) => l.trim());
    const why = failuresOf(r.stdout);
    const row = `${victim} killed at ${at} s: resumed in ${back.toFixed(1)} s; BAT ${summary ? `${summary[1]} passed, ${summary[2]} failed` : 'said no summary'} in ${took.toFixed(0)} s${took > TEST_TIMEOUT_S ? ' (a test waited its whole cap)' : ''}`;
    rows.push(row);
    console.log(row);
    for (const f of failed) console.log(`    ${f}`);
    for (const w of why) console.log(`      ${w}`);
  }
} finally {
  if (!values.keep) await sh('singlevm/cleanup.sh', '--name', name);
}
console.log(`\n${rows.join('\n')}`);
if (broken) process.exitCode = 1;

/** What each failed test said (bat/run.sh -v: its failures under its line), first lines only. */
function failuresOf(verbose: string): string[] {
  const lines = verbose.split('\n');
  const said: string[] = [];
  lines.forEach((line, i) => {
    if (!/\s FAILED$/.test(line)) return;
    const name = line.trim().replace(/\s+[\d.]+ s\s+FAILED$/, '');
    const took = /([\d.]+) s\s+FAILED$/.exec(line)?.[1];
    const first = lines.slice(i + 1).find((l) => l.startsWith('      ') && l.trim() && !/^\s+(at |---|\.\.\.)/.test(l));
    said.push(`${name} (${took} s): ${first?.trim().slice(0, 300) ?? '(said nothing)'}`);
  });
  return said;
}
