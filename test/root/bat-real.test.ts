// Needs root: the whole BAT against the real single-machine cluster (what CI publishes): TAP and
// JUnit in test-results/, every suite green, nothing skipped, nothing leaked.
import t from 'tap';
import { readdirSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { REPO_ROOT } from '../../singlevm/processes.ts';
import { throwawayCluster } from '../helpers/throwaway-cluster.ts';

const { name, sh, demoEnv } = await throwawayCluster(t, 'bat');
const results = join(REPO_ROOT, 'test-results');

t.test('the whole BAT passes against the real cluster', async (t) => {
  const setup = await sh('singlevm/setup.sh', ['--name', name]);
  t.equal(setup.exitCode, 0, `${setup.stdout}\n${setup.stderr}`);
  await mkdir(results, { recursive: true });
  const r = await sh('bat/run.sh', ['--junit', join(results, 'bat.xml')], await demoEnv());
  await writeFile(join(results, 'bat.tap'), r.stdout);
  t.equal(r.exitCode, 0, `${r.stdout.slice(-4000)}\n${r.stderr}`);
  // All but egress, which needs a cluster set up with --egress (test/root/tenant-egress.test.ts runs
  // it), and cluster, which needs 2 real nodes or more (test/root/cluster-suite.test.ts runs it).
  const suites = readdirSync(join(REPO_ROOT, 'bat', 'suites')).filter((f) => f.endsWith('.test.ts') && f !== 'egress.test.ts' && f !== 'cluster.test.ts').length;
  t.match(r.stderr, new RegExp(`BAT: \\d+ tests in ${suites} suites, \\d+ passed, 0 failed, 0 skipped`), `every one of the ${suites} suites ran`);
  t.match(r.stderr, /suite egress left out: the cluster was set up without --egress/);
  t.match(r.stderr, /suite cluster left out: it needs 2 real nodes or more, this cluster has 1/);
  const skippedChecks = r.stderr.split('\n').filter((l) => l.includes('skipped check'));
  // The one check this machine cannot make: its root lacks a capability a privileged container asks for.
  t.same(skippedChecks.filter((l) => !/cannot run privileged containers/.test(l)), [], 'no other check skipped');
  t.comment(r.stderr.trim());
  t.match(await readFile(join(results, 'bat.xml'), 'utf8'), /<testsuite name="bat\.network" tests="3" failures="0" skipped="0"/);
  t.match(await readFile(join(results, 'bat.xml'), 'utf8'), /<testsuite name="bat\.storage" tests="7" failures="0" skipped="0"/);
});
