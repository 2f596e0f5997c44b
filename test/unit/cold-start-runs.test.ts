// scripts/cold-start-runs.ts: a cold-start run read back from its stamped output (the scripts'
// ends, the install phases, setup's steps and critical path, verify passed or not), the p50s over
// runs, the report's lines, and the cold-start row of `npm run bench:singlevm` built from its JSON.
import t from 'tap';
import { coldStartJson, parseRun, reportText, summarize, type RunMeta } from '../../scripts/cold-start-runs.ts';
import { coldStartMeasured, figureResult, FIGURES } from '../../scripts/bench-rows.ts';

const meta = (run: number, seconds: number, exit_code = 0): RunMeta => ({
  run, commit: 'abc1234', exit_code, started: '2026-12-03T13:30:01Z', seconds, cpu_seconds: 100 + run, load_start: 2.5, load_end: 3,
});
const LOG = `0.083 installing what is missing (the full output goes to /root/.cache/ciao/install-logs/x.log)
4.612   npm packages (runtime)                         4.5 s  (121 packages)
5.357 ✓ remove 0 container(s) (0.00 s)
5.391 @@cold-start cleanup.sh done
6.845   apt package lists                              1.4 s
18.841   Debian packages installed                     10.6 s
70.081   better-sqlite3 (native module)                64.6 s  (compiled)
70.369 ✓ preflight (0.05 s)
70.370   root, 18 tools present, 69 GB free, host snapshot taken
76.284 ✓ KVM or TCG (3.09 s)
76.545 critical path: preflight 0.05 → KVM or TCG 3.09 = 3.14 s of 6.23 s
76.562 @@cold-start setup.sh done
77.090 ✓ list workloads (0.04 s)
88.197   total                                                 11.15 s
88.198 verify passed
88.204 @@cold-start verify.sh done
`;

t.test('a run that passed: each script from the previous one\'s end, the install phases with when they ran, setup\'s own steps', async (t) => {
  const r = parseRun(LOG, meta(1, 88.21));
  t.equal(r.passed, true);
  t.same(r.scripts, { 'cleanup.sh': 5.391, 'setup.sh': 71.171, 'verify.sh': 11.642 });
  t.same(r.phases.map((p) => p.name), ['npm packages (runtime)', 'apt package lists', 'Debian packages installed', 'better-sqlite3 (native module)']);
  t.same(r.phases[3], { name: 'better-sqlite3 (native module)', seconds: 64.6, start: 5.481, end: 70.081, note: 'compiled' });
  t.same(r.setup_steps, [{ name: 'preflight', seconds: 0.05 }, { name: 'KVM or TCG', seconds: 3.09 }], "setup's steps, not cleanup's or verify's");
  t.equal(r.setup_critical_path, 'preflight 0.05 → KVM or TCG 3.09 = 3.14 s of 6.23 s');
  t.notOk(r.failure);
});

t.test('a run that stopped, or exited 0 without "verify passed", did not pass and keeps its last lines', async (t) => {
  const stopped = LOG.split('\n').slice(0, 9).join('\n');
  const r = parseRun(stopped, meta(2, 71, 1));
  t.equal(r.passed, false);
  t.same(Object.keys(r.scripts), ['cleanup.sh'], 'only the scripts that ended');
  t.match(r.failure, /better-sqlite3/);
  t.equal(parseRun(LOG.replace('verify passed', 'verify FAILED'), meta(3, 88)).passed, false);
});

t.test('the summary and the report count only the runs that passed; the JSON makes the bench\'s cold-start row', async (t) => {
  const runs = [parseRun(LOG, meta(1, 88.2)), parseRun(LOG, meta(2, 80.5)), parseRun('1.0 boom\n', meta(3, 1, 2))];
  const s = summarize(runs);
  t.equal(s.runs, 3);
  t.equal(s.passed, 2);
  t.same(s.total, { p50: 88.2, p95: 88.2, min: 80.5, max: 88.2 }, 'nearest rank: the upper of two');
  t.equal(s.phases['better-sqlite3 (native module)']!.p50, 64.6);
  const text = reportText(runs);
  t.match(text, /^run 1: verify passed after 88\.2 s, 101\.0 CPU-s, load 2\.5 → 3: cleanup\.sh 5\.4 s, setup\.sh 71\.2 s, verify\.sh 11\.6 s$/m);
  t.match(text, /^ {4}better-sqlite3 \(native module\) +5\.5 → +70\.1 s \(64\.6 s\)$/m);
  t.match(text, /^run 3: FAILED \(exit 2\)/m);
  t.match(text, /^fresh machine → verify passed: 2\/3 runs passed; total p50 88\.2 s/m);

  const json = JSON.parse(JSON.stringify(coldStartJson({ date: '2026-12-03T14:00:00Z', runs })));
  const m = coldStartMeasured(json, 'cold.json');
  t.same(m.samples, [{ value: 88.2, load_start: 2.5, load_end: 3 }, { value: 80.5, load_start: 2.5, load_end: 3 }]);
  t.same(m.problems, ['run 3 did not reach "verify passed" (exit 2 after 1.0 s)']);
  t.match(m.note, /^from cold\.json \(2026-12-03T14:00:00Z, abc1234\): p50 cleanup\.sh 5\.4 s, setup\.sh 71\.2 s, verify\.sh 11\.6 s, 102\.0 CPU-s$/);
  const row = figureResult(FIGURES.find((f) => f.id === 'cold-start')!, m);
  t.equal(row.verdict, 'failed', 'a run that did not pass fails the row');
  const passing = figureResult(FIGURES.find((f) => f.id === 'cold-start')!, coldStartMeasured({ ...json, runs: json.runs.slice(0, 2) }, 'cold.json'));
  t.equal(passing.verdict, 'met');
  t.equal(passing.p50, 88.2);
  t.throws(() => coldStartMeasured({ runs: [] }, 'other.json'), /other\.json is not what scripts\/cold-start\.sh writes/);
});
