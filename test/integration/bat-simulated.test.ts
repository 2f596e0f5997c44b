// The BAT suites that need no real workload, against a simulated cluster (the fast layer): the
// runner's TAP, its JUnit file, and its exit code; the real-workload tests are skipped, not passed.
import t from 'tap';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { run } from '../../shared/run.ts';
import { tempDir } from '../../shared/temp-dir.ts';
import { REPO_ROOT } from '../../singlevm/processes.ts';
import { clusterPaths } from '../../singlevm/cluster-files.ts';
import { readDemoSh } from '../../singlevm/demo-sh.ts';
import { reapCluster } from '../helpers/cluster-reaper.ts';

// Beyond the default 120 s: the openstack-cli suite runs python-openstackclient, seconds a command.
t.setTimeout(300_000);

const { path: home, remove: removeHome } = tempDir('ciao-bat');
const name = `bat-${randomBytes(3).toString('hex')}`;
const env = { ...process.env, CIAO_HOME: home, CIAO_CLUSTER: name };
const sh = async (script: string, args: string[], extra: NodeJS.ProcessEnv = {}) =>
  run(join(REPO_ROOT, script), args, { env: { ...env, ...extra }, allowFailure: true, timeout: 300_000 });

reapCluster(t, { name, home, cleanup: async () => {
  await sh('singlevm/cleanup.sh', ['--name', name]);
  removeHome();
} });

t.test('BAT passes against a simulated cluster, skipping what needs real workloads', async (t) => {
  const setup = await sh('singlevm/setup.sh', ['--simulate', '--name', name]);
  t.equal(setup.exitCode, 0, setup.stderr);
  const demo = await readDemoSh(clusterPaths(name, home).demoSh);
  t.equal(demo.CIAO_SIMULATED, '1', 'demo.sh says the cluster is simulated');
  const junit = join(home, 'bat.xml');
  const r = await sh('bat/run.sh', ['--junit', junit], demo);
  t.equal(r.exitCode, 0, `${r.stdout.slice(-3000)}\n${r.stderr}`);
  t.match(r.stdout, /^TAP version 14\n# Subtest: actions\n/);
  t.match(r.stderr, /suite cluster left out: it needs 2 real nodes or more, this cluster has 0/);
  t.match(r.stderr, /BAT: \d+ tests in 10 suites, \d+ passed, 0 failed, \d+ skipped/);
  t.match(r.stderr, /bat: suite egress left out: the cluster was set up without --egress/, 'the egress suite is for an --egress cluster');
  t.notMatch(r.stderr, /LEAKED/);
  t.match(r.stderr, /^bat: quotas ok \(4 tests, \d+ at once, \d+\.\d s, from \+\d+\.\d s\)$/m, 'a line as each suite ends, with when it began');
  t.match(r.stderr, /^  wall clock \d+\.\d s for \d+\.\d s of suites \(up to \d+ suites and \d+ tests at once\): .*quotas \d+\.\d s/m, 'the wall clock and each suite\'s time');
  const xml = await readFile(junit, 'utf8');
  t.match(xml, /<testsuite name="bat\.quotas" tests="4" failures="0"/);
  t.match(xml, /<testsuite name="bat\.openstack-cli" tests="6" failures="0"/, "the openstackclient flows run too, their guest checks skipped");
  t.match(xml, /<skipped message="needs real workloads/);
});

t.test('the runner filters by suite and name, and refuses an unknown suite', async (t) => {
  const demo = await readDemoSh(clusterPaths(name, home).demoSh);
  const r = await sh('bat/run.sh', ['--suite', 'tenant', '--run', 'privileged', '-v'], demo);
  t.equal(r.exitCode, 0, r.stderr);
  t.match(r.stdout, /privileged-containers permission .* ok/);
  t.match(r.stderr, /BAT: 1 tests in 1 suites, 1 passed/);
  const egress = await sh('bat/run.sh', ['--suite', 'egress', '-v'], demo);
  t.equal(egress.exitCode, 0, egress.stderr);
  t.match(egress.stderr, /BAT: 4 tests in 1 suites, 0 passed, 0 failed, 4 skipped/, 'asked for by name, the egress suite skips on a cluster without egress');
  t.match(egress.stdout, /skip \(needs real workloads/);
  const serial = await sh('bat/run.sh', ['--suite', 'tenant,quotas', '--jobs', '1', '-v'], demo);
  t.equal(serial.exitCode, 0, serial.stderr);
  t.match(serial.stderr, /BAT: 9 tests in 2 suites, 9 passed[\s\S]*\(up to 1 suites and 1 tests at once\)/, '--jobs 1: the serial run');
  t.match(serial.stdout, /^tenant\n[\s\S]*^quotas\n/m, 'the table in the order asked');
  const zero = await sh('bat/run.sh', ['--jobs', '0'], demo);
  t.equal(zero.exitCode, 2);
  t.match(zero.stderr, /--jobs 0 is not a whole number of 1 or more/);
  const bad = await sh('bat/run.sh', ['--suite', 'nope'], demo);
  t.equal(bad.exitCode, 2);
  t.match(bad.stderr, /no suite nope \(there are: actions, base, cluster, egress, image, keypairs-groups, network, openstack-cli, quotas, storage, tenant, workload\)/);
});
