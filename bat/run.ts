// The BAT runner: runs the suites in bat/suites against the cluster in the CIAO_* variables, prints
// TAP (or a table with -v), writes JUnit with --junit, and ends by listing what any test leaked
// (instances, workloads, tenants, volumes, images, pools); a leak or a failure exits non-zero.
import { spawn } from 'node:child_process';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Parser, type Result } from 'tap-parser';
import { clusterName, scriptArgs, usageError } from '../singlevm/script-args.ts';
import { clusterPaths, DEFAULT_CLUSTER, readClusterRecord } from '../singlevm/cluster-files.ts';
import { readDemoSh } from '../singlevm/demo-sh.ts';
import { waitFor } from '../shared/wait-for.ts';
import { bundles } from '../singlevm/bundle-cache.ts';
import { clusterInventory } from './inventory.ts';
import { ALONE, DEFAULT_JOBS, DEFAULT_TEST_JOBS, lanes, runInSlots, testSlots } from './lanes.ts';
import type { NodeInfo } from '../controller/api-types.ts';

const USAGE = `usage: bat/run.sh [--name NAME] [-v] [--suite NAME[,NAME…]] [--run REGEX] [--junit FILE] [--timeout SECONDS] [--jobs N] [--test-jobs M] [--list]

Runs the acceptance suites against cluster NAME (its demo.sh), else the cluster described by the
CIAO_* variables (. ~/local/demo.sh).
  --name NAME     the cluster
  -v              a table of every test with its time, instead of TAP
  --suite         only these suites (actions, base, cluster, egress, image, keypairs-groups, network, openstack-cli, quotas, storage, tenant,
                  workload); egress runs on a cluster set up with --egress (docs/egress.md), and is left out elsewhere;
                  cluster needs 2 real nodes or more (setup.sh --nodes 3), and is left out elsewhere
  --run REGEX     only the tests whose name matches
  --junit FILE    also write JUnit XML
  --timeout S     per test (default 300)
  --jobs N        suites side by side (default ${DEFAULT_JOBS}); 1: the serial run, one suite and one test at a time
  --test-jobs M   tests side by side inside a suite whose tests share nothing (default ${DEFAULT_TEST_JOBS}, 1 with --jobs 1);
                  the cluster suite runs alone, after the others (docs/bat.md)
  --list          list the suites and exit
Set CIAO_SIMULATED=1 for a simulated cluster: tests that need real workloads are skipped.`;

const values = scriptArgs('bat', USAGE, {
  name: { type: 'string' },
  verbose: { type: 'boolean', short: 'v', default: false },
  suite: { type: 'string' },
  run: { type: 'string' },
  junit: { type: 'string' },
  timeout: { type: 'string', default: '300' },
  jobs: { type: 'string', default: String(DEFAULT_JOBS) },
  'test-jobs': { type: 'string' },
  list: { type: 'boolean', default: false },
});

const SUITES_DIR = join(import.meta.dirname, 'suites');
const available = (await readdir(SUITES_DIR)).filter((f) => f.endsWith('.test.ts')).map((f) => f.replace(/\.test\.ts$/, '')).sort();
if (values.list) {
  console.log(available.join('\n'));
  process.exit(0);
}
let wanted = values.suite ? values.suite.split(',').map((s) => s.trim()) : available;
const unknown = wanted.filter((s) => !available.includes(s));
if (unknown.length) {
  console.error(`bat: no suite ${unknown.join(', ')} (there are: ${available.join(', ')})\n\n${USAGE}`);
  process.exit(2);
}
if (values.run) {
  try {
    new RegExp(values.run);
  } catch {
    usageError('bat', USAGE, `--run ${values.run} is not a regular expression`);
  }
}
const count = (flag: string, value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) usageError('bat', USAGE, `--${flag} ${value} is not a whole number of 1 or more`);
  return n;
};
const jobs = count('jobs', values.jobs);
const testJobs = count('test-jobs', values['test-jobs'] ?? String(jobs === 1 ? 1 : DEFAULT_TEST_JOBS));
if (values.name) {
  // A named cluster is tested through its own demo.sh; the suites inherit these variables.
  const demoSh = clusterPaths(clusterName('bat', USAGE, values.name)).demoSh;
  Object.assign(process.env, await readDemoSh(demoSh).catch(() => usageError('bat', USAGE, `cluster ${values.name} has no ${demoSh}: set it up first`)));
}
if (!process.env.CIAO_CONTROLLER) usageError('bat', USAGE, 'no cluster: source its variables (. ~/local/demo.sh) or name it (--name)');
// The egress suite tests what only a cluster set up with --egress has: left out of a whole run on
// any other (asked for by name, its tests skip and say why).
if (!values.suite && !(await readClusterRecord(process.env.CIAO_CLUSTER ?? DEFAULT_CLUSTER))?.settings?.egress) {
  wanted = wanted.filter((s) => s !== 'egress');
  console.error('bat: suite egress left out: the cluster was set up without --egress');
}
const { admin, user, userTenantPath, publicWorkload } = await import('./lib.ts');

/** Each suite's file: its esbuild bundle, kept by its sources' hash as the daemons' and scripts'
 *  are (singlevm/bundle-cache.ts), so a suite's process starts without a TypeScript loader (0.6
 *  CPU-s less each on this machine, where BAT is CPU-bound: docs/bat.md); its source through tsx
 *  with CIAO_BAT_FROM_SOURCE=1, or when bundling fails (said once). */
async function suiteFilesFor(suites: string[]): Promise<Record<string, string>> {
  const sources = Object.fromEntries(suites.map((s) => [s, join(SUITES_DIR, `${s}.test.ts`)]));
  if (process.env.CIAO_BAT_FROM_SOURCE === '1') return sources;
  // Every suite in one set, whichever run now: one key for the tree, whatever --suite says.
  const entries = Object.fromEntries(available.map((s) => [s, `bat/suites/${s}.test.ts`]));
  return bundles({ set: 'bat', entries, splitting: true }).then(
    (b) => Object.fromEntries(suites.map((s) => [s, b.files[s]])),
    (err: Error) => {
      console.error(`bat: could not bundle the suites (${err.message.split('\n')[0]}): running them from source`);
      return sources;
    });
}

interface TestResult {
  suite: string; name: string; ok: boolean; skip: string | null; seconds: number; failures: string[];
  /** Checks inside the test that were skipped, with why (e.g. what this node cannot do). */
  skippedChecks: string[];
}
interface SuiteRun { suite: string; tap: string; results: TestResult[]; exitCode: number; stderr: string; seconds: number }

/** Runs one suite file as its own process (its TAP on stdout) and parses its top-level tests. */
function runSuite(suite: string, testJobs: number): Promise<SuiteRun> {
  const started = performance.now();
  return new Promise((done) => {
    const env = { ...process.env, TAP_TIMEOUT: values.timeout, CIAO_BAT_TEST_JOBS: String(testJobs), ...(values.run ? { TAP_GREP: values.run } : {}) };
    const file = suiteFiles[suite];
    // CIAO_BAT_SUITE_NODE_ARGS adds node flags to every suite's process (e.g. --cpu-prof for profiling).
    const nodeArgs = (process.env.CIAO_BAT_SUITE_NODE_ARGS ?? '').split(' ').filter(Boolean);
    const child = spawn(process.execPath, [...nodeArgs, ...(file.endsWith('.ts') ? ['--import', 'tsx'] : []), file], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const results: TestResult[] = [];
    const parser = new Parser();
    // The failing assertions inside each top-level test, for the table and JUnit.
    parser.on('child', (childParser: Parser) => {
      const found = { failures: [] as string[], skippedChecks: [] as string[] };
      childParser.on('assert', (r: Result) => {
        if (r.skip) found.skippedChecks.push(`${r.name}: ${r.skip}`);
        else if (!r.ok && !r.todo) found.failures.push(`${r.name}${r.diag ? `\n${JSON.stringify(r.diag, null, 2)}` : ''}`);
      });
      childParser.on('complete', () => { pending.push(found); });
    });
    const pending: { failures: string[]; skippedChecks: string[] }[] = [];
    parser.on('assert', (r: Result) => {
      // Tests left out by --run are not results; a skipped test has no subtest body to pair with.
      if (r.skip && /filter/.test(String(r.skip))) return;
      if (r.skip) return void results.push({ suite, name: r.name, ok: true, skip: String(r.skip), seconds: 0, failures: [], skippedChecks: [] });
      results.push({
        suite, name: r.name, ok: r.ok, skip: null, seconds: (r.time ?? 0) / 1000, failures: [], skippedChecks: [], ...pending.shift(),
      });
    });
    let tap = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { tap += d; parser.write(d); });
    child.stderr.on('data', (d: Buffer) => { stderr += d; });
    child.on('close', (code) => {
      parser.end();
      const run = { suite, tap, results, exitCode: code ?? 1, stderr, seconds: (performance.now() - started) / 1000 };
      const failed = results.filter((r) => !r.ok).length;
      const how = run.exitCode === 0 && !failed ? 'ok' : failed ? `${failed} failed` : `exited with ${run.exitCode}`;
      // When it began, from the first suite's start: the run's timeline, for what waited on what.
      const from = ((started - (t0 ?? started)) / 1000).toFixed(1);
      console.error(`bat: ${suite} ${how} (${results.length} tests, ${testJobs} at once, ${run.seconds.toFixed(1)} s, from +${from} s)`);
      done(run);
    });
  });
}

const inventory = () => clusterInventory(admin);
/** When the first suite started. */
let t0: number | undefined;
// The demo user's tenant is made on its first request: make it now, so it is not taken for a leak.
// On a cluster with simulated nodes beside real ones the suites use real-node copies of the default
// workloads (lib.ts, publicWorkload): made now too, they are the cluster's, kept for the next run.
const before = await user.call('GET', await userTenantPath()).then(() => Promise.all([publicWorkload('qemu'), publicWorkload('docker')])).then(inventory).catch((err) => {
  console.error(`bat: cannot reach the cluster: ${(err as Error).message}`);
  process.exit(2);
});
// The cluster suite tests nodes of a real cluster of two or more (docs/nodes.md): left out of a
// whole run on any other (asked for by name, its tests skip and say why).
if (!values.suite && wanted.includes('cluster')) {
  const { nodes } = await admin.call<{ nodes: { kind: string; status: string }[] }>('GET', '/nodes');
  const real = process.env.CIAO_SIMULATED === '1' ? 0 : nodes.filter((n) => n.kind === 'real' && n.status !== 'MISSING').length;
  if (real < 2) {
    wanted = wanted.filter((s) => s !== 'cluster');
    console.error(`bat: suite cluster left out: it needs 2 real nodes or more, this cluster has ${real} (setup.sh --nodes 3)`);
  }
}
const { sideBySide, alone } = lanes(wanted);
// No more tests at once than the cluster has room for (docs/bat.md, "How many at once").
const { slots, capped } = testSlots({ suites: jobs, tests: testJobs }, await clusterRoom() + await demoCnci());
if (capped) console.error(`bat: ${slots} tests at once at most: ${capped}`);
// The suites whose tests run side by side say so (sideBySide(t), bat/lib.ts).
const parallel = new Set<string>();
for (const suite of wanted) if ((await readFile(join(SUITES_DIR, `${suite}.test.ts`), 'utf8')).includes('\nsideBySide(t);')) parallel.add(suite);
const suiteFiles = await suiteFilesFor(wanted);
t0 = performance.now();
const runs = await runInSlots(sideBySide, { jobs, tests: testJobs, slots, sideBySide: (s) => parallel.has(s) }, runSuite);
for (const suite of alone) {
  console.error(`bat: ${suite} runs alone: ${ALONE[suite]}`);
  runs.push(await runSuite(suite, parallel.has(suite) ? Math.min(testJobs, slots) : 1));
}
runs.sort((a, b) => wanted.indexOf(a.suite) - wanted.indexOf(b.suite));
const seconds = (performance.now() - t0) / 1000;
const results = runs.flatMap((r) => r.results);
const crashed = runs.filter((r) => r.exitCode !== 0 && r.results.every((x) => x.ok));
// A cluster being resumed (a daemon restarted under the run) answers again within seconds.
const after = await waitFor('the cluster to answer for the leak check', () => inventory().catch(() => undefined), { timeoutMs: 60_000, intervalMs: 500 }).catch((err) => {
  console.error(`bat: the leak check could not run: ${(err as Error).message}`);
  return undefined;
});
const leaked = after ? [...after].filter((x) => !before.has(x)) : ['(unknown: the leak check could not run)'];

if (values.verbose) {
  const width = Math.max(...results.map((r) => r.name.length), 10);
  for (const run of runs) {
    console.log(`\n${run.suite}`);
    for (const r of run.results) {
      const status = r.skip ? `skip (${r.skip})` : r.ok ? 'ok' : 'FAILED';
      console.log(`  ${r.name.padEnd(width)}  ${r.seconds.toFixed(2).padStart(7)} s  ${status}`);
      for (const f of r.failures) console.log(`      ${f.split('\n').join('\n      ')}`);
      for (const c of r.skippedChecks) console.log(`      skipped check: ${c}`);
    }
  }
} else {
  // One TAP stream: each suite is a subtest holding its own TAP.
  console.log('TAP version 14');
  for (const [n, run] of runs.entries()) {
    console.log(`# Subtest: ${run.suite}`);
    console.log(run.tap.replace(/^TAP version \d+\n/, '').trimEnd().split('\n').map((l) => `    ${l}`).join('\n'));
    const ok = run.exitCode === 0 && run.results.every((r) => r.ok);
    console.log(`${ok ? 'ok' : 'not ok'} ${n + 1} - ${run.suite}`);
  }
  console.log(`1..${runs.length}`);
}
for (const run of crashed) console.error(`\nsuite ${run.suite} exited with ${run.exitCode}:\n${run.stderr.slice(-2000)}`);

if (values.junit) await writeFile(resolve(values.junit), junit(runs, seconds));

const failed = results.filter((r) => !r.ok);
const skipped = results.filter((r) => r.skip);
console.error(`\nBAT: ${results.length} tests in ${runs.length} suites, ${results.length - failed.length - skipped.length} passed, ${failed.length} failed, ${skipped.length} skipped (${seconds.toFixed(1)} s)`);
const bySuite = [...runs].sort((a, b) => b.seconds - a.seconds);
const sum = runs.reduce((s, r) => s + r.seconds, 0);
console.error(`  wall clock ${seconds.toFixed(1)} s for ${sum.toFixed(1)} s of suites (up to ${jobs} suites and ${slots} tests at once): ${bySuite.map((r) => `${r.suite} ${r.seconds.toFixed(1)} s`).join(', ')}`);
for (const f of failed) console.error(`  FAILED ${f.suite}: ${f.name}`);
for (const r of results) for (const c of r.skippedChecks) console.error(`  skipped check in ${r.suite}: ${r.name}: ${c}`);
if (leaked.length) console.error(`  LEAKED by the tests (still on the cluster):\n    ${leaked.join('\n    ')}`);
process.exit(failed.length || crashed.length || leaked.length ? 1 : 0);

/** The demo user's tenant's CNCI, if it has one (1), else 0. The demo user's tenant outlives a run,
 *  and so does its CNCI: the first run on a fresh cluster makes it, every later one finds it and
 *  counted it out of the room (7 tests at once where the first run had 8, on one node of 32
 *  vcpus). The tests of the demo user's suites count a CNCI in their own VCPUS_PER_TEST already:
 *  it is given back, and every run gets the room the first one had. */
async function demoCnci(): Promise<number> {
  const tenant = await user.call<{ cnci: unknown }>('GET', await userTenantPath());
  return tenant.cnci ? 1 : 0;
}

/** The real compute nodes' vcpus less one per instance they hold (an instance holds one at least);
 *  on a simulated cluster, its nodes'. */
async function clusterRoom(): Promise<number> {
  const { nodes } = await admin.call<{ nodes: NodeInfo[] }>('GET', '/nodes');
  const usable = nodes.filter((n) => n.status !== 'MISSING' && n.roles.includes('compute') && (process.env.CIAO_SIMULATED === '1' || n.kind === 'real'));
  return usable.reduce((s, n) => s + n.vcpus - n.instance_count, 0);
}

function junit(all: SuiteRun[], total: number): string {
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
  const suites = all.map((run) => {
    const cases = run.results.map((r) => {
      const body = (r.skip ? `<skipped message="${esc(r.skip)}"/>`
        : r.ok ? '' : `<failure message="${esc(r.failures[0]?.split('\n')[0] ?? 'failed')}">${esc(r.failures.join('\n\n'))}</failure>`)
        + (r.skippedChecks.length ? `<system-out>${esc(r.skippedChecks.map((c) => `skipped check: ${c}`).join('\n'))}</system-out>` : '');
      return `    <testcase classname="bat.${run.suite}" name="${esc(r.name)}" time="${r.seconds.toFixed(3)}">${body}</testcase>`;
    });
    const failures = run.results.filter((r) => !r.ok).length;
    const skips = run.results.filter((r) => r.skip).length;
    // The suite's own wall clock: its tests may have run side by side.
    const time = run.seconds;
    return `  <testsuite name="bat.${run.suite}" tests="${run.results.length}" failures="${failures}" skipped="${skips}" time="${time.toFixed(3)}">\n${cases.join('\n')}\n  </testsuite>`;
  });
  return `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="BAT" time="${total.toFixed(3)}">\n${suites.join('\n')}\n</testsuites>\n`;
}
