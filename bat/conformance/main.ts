// `bat/tempest.sh` (npm run conformance): OpenStack Tempest against a simulated cluster — the table
// per area, and every outcome judged against bat/conformance/expected-failures.txt
// (docs/conformance.md). The steps are in flow.ts; this is the command line around them.
import { join, resolve } from 'node:path';
import { runFlow } from '../../singlevm/flow.ts';
import { StepRunner } from '../../singlevm/step-runner.ts';
import { clusterName, scriptArgs, usageError } from '../../singlevm/script-args.ts';
import { REPO_ROOT } from '../../singlevm/processes.ts';
import { AREAS, inArea, pickAreas, selectionRegex } from './areas.ts';
import { removeCluster } from './cluster.ts';
import { ExpectedListError, judge, readExpected } from './expected.ts';
import { CONFORMANCE_FLOW, type ConformanceContext } from './flow.ts';
import { outputFiles, runReport, writeEntries, writeSummary } from './report.ts';
import { areaTable, subjectOf } from './results.ts';

const DEFAULT_NAME = 'conformance';
const DEFAULT_EXPECTED = join(REPO_ROOT, 'bat', 'conformance', 'expected-failures.txt');
const DEFAULT_OUT = join(REPO_ROOT, 'test-results', 'conformance');

const USAGE = `usage: bat/tempest.sh [--name NAME] [--area KEY[,KEY…]] [--smoke] [--regex REGEX] [--credentials preprovisioned|dynamic]
                      [--concurrency N] [--out DIR] [--expected FILE] [--timeout MINUTES] [--fresh] [--cleanup]

Runs OpenStack Tempest (Debian's, installed when missing) against cluster NAME — a simulated one,
brought up when it does not exist — and judges every outcome against the expected list.
  --name NAME       the cluster (default ${DEFAULT_NAME}); an existing one is reused as it is
  --area KEYS       only these areas (default all):
${AREAS.map((a) => `                      ${a.key.padEnd(22)} ${a.title}`).join('\n')}
  --smoke           only the tests Tempest tags smoke, within the areas
  --regex REGEX     only the tests whose id also matches (Python regex)
  --credentials M   preprovisioned (default: accounts the runner makes) or dynamic (Tempest makes
                    a project and user per class with the admin, and deletes them after it)
  --concurrency N   Tempest workers (default 1)
  --out DIR         tempest.subunit, tempest.xml (JUnit), summary.json (default test-results/conformance)
  --expected FILE   the expected failures and skips (default bat/conformance/expected-failures.txt)
  --timeout M       the Tempest run is killed after M minutes (default 60)
  --fresh           remove the cluster first, for a measurement on a clean one
  --cleanup         remove the cluster at the end
Exit: 0 every outcome as expected, 1 an unexpected outcome or a step that failed, 2 a usage error.`;

const values = scriptArgs('conformance', USAGE, {
  name: { type: 'string' },
  area: { type: 'string' },
  smoke: { type: 'boolean', default: false },
  regex: { type: 'string' },
  credentials: { type: 'string', default: 'preprovisioned' },
  concurrency: { type: 'string', default: '1' },
  out: { type: 'string', default: DEFAULT_OUT },
  expected: { type: 'string', default: DEFAULT_EXPECTED },
  timeout: { type: 'string', default: '60' },
  fresh: { type: 'boolean', default: false },
  cleanup: { type: 'boolean', default: false },
});
const fail = (message: string) => usageError('conformance', USAGE, message);
// Not CIAO_CLUSTER: Tempest leaves what its failing tests made, so it gets a cluster of its own
// unless one is named.
const name = clusterName('conformance', USAGE, values.name ?? DEFAULT_NAME);
const { areas, unknown } = pickAreas(values.area);
if (unknown.length) fail(`no area ${unknown.join(', ')} (there are: ${AREAS.map((a) => a.key).join(', ')})`);
if (values.credentials !== 'preprovisioned' && values.credentials !== 'dynamic') fail(`--credentials is preprovisioned or dynamic, not ${values.credentials}`);
const concurrency = Number(values.concurrency);
if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 16) fail(`--concurrency takes 1 to 16, not ${values.concurrency}`);
const timeoutMinutes = Number(values.timeout);
if (!(timeoutMinutes > 0)) fail(`--timeout takes minutes (a positive number), not ${values.timeout}`);
if (values.regex !== undefined) {
  try {
    new RegExp(values.regex);
  } catch {
    fail(`--regex ${values.regex} is not a regular expression`);
  }
}
const base = selectionRegex(areas, values.smoke);
const regex = values.regex === undefined ? base : `^(?=.*(?:${values.regex}))${base.slice(1)}`;

// A malformed list is found now, not after the run.
const expected = await readExpected(resolve(values.expected)).catch((err) => {
  if (!(err instanceof ExpectedListError)) throw err;
  console.error(`conformance: ${err.message}`);
  process.exit(1);
});

const ctx: ConformanceContext = {
  name, fresh: values.fresh, credentials: values.credentials as ConformanceContext['credentials'], concurrency, areas, regex,
  outDir: resolve(values.out), timeoutMs: timeoutMinutes * 60_000,
};
const started = new Date();
const steps = new StepRunner(`conformance of cluster ${name}`, { plainProgressEveryMs: 30_000 });
let exitCode = 1;
try {
  await runFlow(steps, CONFORMANCE_FLOW, ctx);
  const results = ctx.results!;
  // Whole areas ran: a listed test of theirs that did not run means the list is stale.
  const wholeAreas = !values.smoke && values.regex === undefined;
  const verdict = judge(results, expected, wholeAreas ? (n) => areas.some((a) => inArea(subjectOf(n), a)) : undefined);
  const files = outputFiles(ctx.outDir);
  const summary = {
    cluster: name, tempest: ctx.tempest!, credentials: ctx.credentials, started: started.toISOString(),
    seconds: (Date.now() - started.getTime()) / 1000, selection: regex, table: areaTable(results, areas), results, verdict,
  };
  await writeSummary(files.summary, summary);
  console.log(`\n${runReport(summary)}`);
  if (await writeEntries(files.entries, verdict)) console.log(`\nthe unexpected failures and skips as list entries, grouped by cause: ${files.entries}`);
  console.log(`\nsubunit ${files.subunit}\nJUnit   ${files.junit}\nsummary ${files.summary}\nTempest's log (every request) ${ctx.workspace!.logs}/tempest.log`);
  exitCode = verdict.surprises.length ? 1 : 0;
  console.log(exitCode ? '\nconformance: UNEXPECTED outcomes (above)' : '\nconformance: every outcome as expected');
} catch (err) {
  console.error(`\n${steps.summary()}\n\nconformance FAILED: ${(err as Error).message}`);
} finally {
  if (values.cleanup) await removeCluster(name).then(() => console.log(`cluster ${name} removed (--cleanup)`),
    (err) => { console.error(`--cleanup: ${(err as Error).message}`); exitCode = 1; });
}
process.exit(exitCode);
