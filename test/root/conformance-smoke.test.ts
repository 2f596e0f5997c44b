// Tempest's smoke-tagged identity, compute, image and volume tests against a simulated cluster of
// its own (issue 13 §1: `npm test` runs a smoke subset). bat/tempest.sh judges every outcome
// against bat/conformance/expected-failures.txt: a failure the list does not name fails this test,
// and so does a listed test that now passes — so the list stays true as the APIs grow.
// Root only because the root layer runs one file at a time: Tempest wants the machine's two cores.
import t from 'tap';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { run } from '../../shared/run.ts';
import { tempDir } from '../../shared/temp-dir.ts';
import { REPO_ROOT } from '../../singlevm/processes.ts';
import { clusterLeftovers } from '../../singlevm/host-state.ts';

const { path: home, remove: removeHome } = tempDir('ciao-smoke');
const name = `smoke${randomBytes(3).toString('hex')}`;
const out = join(home, 'results');
const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('CIAO_') || k === 'CIAO_TIMEOUT_SCALE'));
env.CIAO_HOME = home;
const sh = (script: string, args: string[]) => run(join(REPO_ROOT, script), args, { env, allowFailure: true, timeout: 900_000 });
t.teardown(async () => {
  await sh('singlevm/cleanup.sh', ['--name', name]);
  removeHome();
});

interface Summary {
  selection: string;
  results: { name: string; outcome: 'pass' | 'fail' | 'skip' }[];
  verdict: { as_expected: number; unexpected: unknown[] };
}

t.test('the smoke subset: every outcome as the expected list says', async (t) => {
  const r = await sh('bat/tempest.sh', ['--smoke', '--name', name, '--out', out, '--cleanup']);
  t.equal(r.exitCode, 0, `bat/tempest.sh --smoke: ${r.stdout}\n${r.stderr}`);
  const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) as Summary;
  t.match(summary.selection, /\\bsmoke\\b/, 'Tempest was given the smoke selection');
  t.ok(summary.results.length < 100, `a subset ran (${summary.results.length} rows; a whole run has over 300)`);
  t.ok(summary.results.some((x) => x.outcome === 'pass'), 'some smoke tests pass: Tempest really ran against the cluster');
  t.same(summary.verdict.unexpected, [], 'no outcome the list does not name');
  t.same(await clusterLeftovers(name), [], '--cleanup removed the cluster');
});
