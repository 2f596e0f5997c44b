// `npm run bench:singlevm`'s table and JSON (scripts/bench-rows.ts): issue 15's rows in order,
// p50/p95 and met or missed against each target, the load beside each row, rows not asked for or
// not measurable said so; and the readers of what BAT prints, the sim bench writes and --timings files.
import t from 'tap';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../../shared/temp-dir.ts';
import { StepRunner } from '../../singlevm/step-runner.ts';
import { readTimings } from '../../scripts/bench-heavy-rows.ts';
import {
  benchJson, COLD_START_UNMEASURED, FIGURES, figureResult, parseBatSummary, results, simFigures, stepsNote, tableText, type Sample,
} from '../../scripts/bench-rows.ts';

const at = (value: number, load = 1): Sample => ({ value, load_start: load, load_end: load + 0.5 });
const spec = (id: string) => FIGURES.find((f) => f.id === id)!;

t.test('the figures follow issue 15\'s rows in its order, each with its target', async (t) => {
  t.same([...new Set(FIGURES.map((f) => f.row))], [
    'setup, warm caches', 'verify', 'cleanup', 'VM create → SSH (TCG)', 'container create → active with network',
    'full BAT against the real cluster', '5 000 sim nodes + 10 000 instances', '5 000 sim nodes + 100 000 instances',
    'ccloudvm create → ready, cached image (TCG)', 'setup inside ccloudvm', 'fresh machine → `verify passed`',
  ]);
  t.same(spec('vm').target, { p50: 1.0, p95: 1.5 });
  t.same(spec('sim10k-p99').target, { p50: 100 }, 'the sim rows\' targets are the sim bench\'s presets');
  t.same(spec('sim100k-rss').target, { p50: 1024 });
  t.same(spec('sim100k-total').target, { p50: 30 });
  t.equal(spec('ccloudvm-connect').flag, '--ccloudvm');
});

t.test('p50 and p95 over the samples decide met or missed, on each target given', async (t) => {
  const vm = figureResult(spec('vm'), { samples: [0.9, 0.8, 1.0, 0.7, 1.6].map((v) => at(v)) });
  t.equal(vm.p50, 0.9);
  t.equal(vm.p95, 1.6);
  t.equal(vm.verdict, 'missed', 'p50 met, p95 over 1.5 s: missed');
  t.equal(figureResult(spec('vm'), { samples: [0.9, 0.8, 1.0, 0.7, 1.4].map((v) => at(v)) }).verdict, 'met');
  t.equal(figureResult(spec('setup'), { samples: [at(2.5), at(1.5), at(1.9)] }).verdict, 'met', 'a target without p95 is on the p50 only');
  t.equal(figureResult(spec('setup'), { samples: [at(2.5), at(2.1), at(1.9)] }).verdict, 'missed');
  t.same(figureResult(spec('setup'), { samples: [at(1, 2), at(1, 3), at(1, 4)] }).load, { start: 2, end: 4.5 }, 'the load as the first run started and the last ended');
});

t.test('a failed run fails its figure, with or without a time', async (t) => {
  const bat = figureResult(spec('bat'), { samples: [at(15)], problems: ['run 1: exit 1, 2 failed'] });
  t.equal(bat.verdict, 'failed', 'a fast BAT with failures is not met');
  t.same(bat.problems, ['run 1: exit 1, 2 failed']);
  t.equal(figureResult(spec('sim100k-total'), { samples: [], problems: ['run 1: exited 1'] }).verdict, 'failed');
  t.equal(figureResult(spec('bat'), { samples: [at(15)], problems: [] }).verdict, 'met', 'no problems: the time decides');
});

t.test('rows not asked for name their flag; the cold-start row says why it is not measured', async (t) => {
  const all = results({ setup: { samples: [at(1.2)] }, 'cold-start': { samples: [], unmeasured: COLD_START_UNMEASURED } });
  t.equal(all.length, FIGURES.length, 'every row, measured or not');
  t.equal(all.find((f) => f.id === 'bat')!.verdict, 'not run');
  t.equal(all.find((f) => f.id === 'cold-start')!.verdict, 'not measured');
  const table = tableText(all);
  const lines = table.split('\n');
  t.match(lines[0], /^measure\s+target\s+p50\s+p95\s+runs\s+verdict\s+load start → end$/);
  t.match(table, /^setup, warm caches\s+p50 ≤ 2 s\s+1\.20 s\s+1\.20 s\s+1\s+met\s+1\.00 → 1\.50$/m);
  t.match(table, /^full BAT against the real cluster \(bat\/run\.sh\)\s+p50 ≤ 20 s\s+–\s+–\s+0\s+not run \(--bat\)$/m);
  t.match(table, /^5 000 sim nodes \+ 100 000 instances: API p99\s+p50 ≤ 100 ms\s+–\s+–\s+0\s+not run \(--scale 100k\)$/m);
  t.match(table, /^fresh machine → `verify passed`\s+p50 ≤ 90 s\s+–\s+–\s+0\s+not measured$/m);
  t.match(table, /^ {4}needs a fresh machine: scripts\/cold-start.sh measures it/m, 'the reason under the row');
  const order = FIGURES.map((f) => lines.findIndex((l) => l.startsWith(f.measure)));
  t.same(order, [...order].sort((a, b) => a - b), 'the table keeps the issue\'s order');
  t.notOk(order.includes(-1), 'every figure has its line');
});

t.test('figures are printed in their unit: seconds under 1 to the ms, ms to 0.1, MB whole', async (t) => {
  const table = tableText(results({
    container: { samples: [at(0.142), at(0.231), at(0.12)] },
    'sim10k-p99': { samples: [at(88.04)] },
    'sim10k-rss': { samples: [at(512)] },
  }));
  t.match(table, /^container create → active with network\s+p50 ≤ 0\.2 s\s+0\.142 s\s+0\.231 s\s+3\s+met/m);
  t.match(table, /: API p99\s+p50 ≤ 100 ms\s+88\.0 ms\s+88\.0 ms\s+1\s+met/m);
  t.match(table, /: control plane peak RSS\s+p50 ≤ 500 MB\s+512 MB\s+512 MB\s+1\s+missed/m);
});

t.test('the JSON holds every figure with its samples, verdict and load, and the raw runs', async (t) => {
  const figures = results({ verify: { samples: [at(3.1, 2), at(3.3, 2.2), at(2.9, 2.1)], note: 'wall clock' } });
  const json = benchJson({ date: '2026-12-03T07:00:00.000Z', cores: 2, loadavg: { start: '2.9 2.9 2.1 1/231 474', end: '3.0 2.9 2.1 1/231 475' }, args: ['--runs', '2'], figures, raw: { verifies: [] } });
  t.equal(json.figures.length, FIGURES.length);
  t.match(json.machine, { cores: 2, loadavg_start: '2.9 2.9 2.1 1/231 474' });
  t.match(json.figures.find((f) => f.id === 'verify'), {
    row: 'verify', unit: 's', target: { p50: 4 }, runs: 3, p50: 3.1, p95: 3.3, verdict: 'met', load: { start: 2, end: 2.6 }, note: 'wall clock',
    samples: [{ value: 3.1, load_start: 2, load_end: 2.5 }, { value: 3.3, load_start: 2.2, load_end: 2.7 }, { value: 2.9, load_start: 2.1, load_end: 2.6 }],
  });
  t.match(json.figures.find((f) => f.id === 'bat'), { runs: 0, p50: null, p95: null, verdict: 'not run', load: null });
  t.same(json.raw, { verifies: [] });
  t.same(JSON.parse(JSON.stringify(json)), json, 'nothing in it is lost on the way to a file');
});

t.test('BAT\'s summary: counts, the runner\'s wall clock and each suite\'s time', async (t) => {
  const stderr = [
    'suite base: ok (40.1 s)',
    '',
    'BAT: 57 tests in 10 suites, 55 passed, 1 failed, 1 skipped (53.5 s)',
    '  wall clock 53.5 s for 120.1 s of suites (up to 4 suites and 8 tests at once): base 40.1 s, image 12.0 s, keypairs-groups 9.5 s',
    '  FAILED storage: attach a volume',
  ].join('\n');
  t.same(parseBatSummary(stderr), { tests: 57, suites: 10, passed: 55, failed: 1, skipped: 1, seconds: 53.5, bySuite: { base: 40.1, image: 12, 'keypairs-groups': 9.5 } });
  t.equal(parseBatSummary('bat: cluster bench does not answer'), undefined, 'no summary: undefined, not zeros');
});

t.test('a sim bench JSON gives the row\'s three figures; one without them is an error', async (t) => {
  const run = { total_seconds: 14.2, nodes_ready_seconds: 10.1, all_active_seconds: 4.1, shed_503: 3, api: { p50_ms: 5, p99_ms: 93.5 }, control_plane_rss_mb: 480 };
  t.match(simFigures({ nodes: 5000, instances: 10000, target: {}, runs: [run] }), { total: 14.2, p99: 93.5, rss: 480 });
  t.throws(() => simFigures({ runs: [] }), /no run with total_seconds/);
  t.throws(() => simFigures([{ runs: [run] }]), /no run/, 'two rows (an array) are not one preset\'s');
});

t.test('the timings a script wrote with --timings are read back and the file removed; none written: undefined', async (t) => {
  const dir = tempDir('ciao-bench-rows-test');
  t.teardown(dir.remove);
  const runner = new StepRunner('ccloudvm create b');
  runner.timings.push(
    { name: 'boot to SSH', seconds: 14.4, ok: true, start: 0, end: 14.4 },
    { name: 'first boot provisioning', seconds: 6.0, ok: true, start: 14.4, end: 20.4, after: 'boot to SSH' },
  );
  const file = join(dir.path, 'timings.json');
  await runner.writeJson(file);
  const got = await readTimings(file);
  t.same(got?.steps.map((s) => [s.name, s.seconds]), [['boot to SSH', 14.4], ['first boot provisioning', 6.0]]);
  t.same(got?.critical_path, ['boot to SSH', 'first boot provisioning']);
  t.notOk(existsSync(file), 'the file is removed once read');
  t.equal(await readTimings(file), undefined, 'a script that failed before its end wrote none');
});

t.test('a row\'s note from its steps: those of 1 s or more, or the critical path, each its p50 over the runs', async (t) => {
  const runs = [
    { steps: [{ name: 'start QEMU', seconds: 0.2 }, { name: 'boot to SSH', seconds: 89 }, { name: 'provisioning', seconds: 32.7 }], critical_path: ['boot to SSH', 'provisioning'] },
    { steps: [{ name: 'start QEMU', seconds: 0.3 }, { name: 'boot to SSH', seconds: 70 }, { name: 'provisioning', seconds: 30 }], critical_path: ['start QEMU', 'boot to SSH'] },
    { steps: [{ name: 'start QEMU', seconds: 0.2 }, { name: 'boot to SSH', seconds: 75 }, { name: 'provisioning', seconds: 20 }] },
  ];
  t.equal(stepsNote(runs, 'steps'), 'steps (p50 of each): boot to SSH 75.00 s, provisioning 30.00 s', 'steps under 1 s left out');
  t.equal(stepsNote(runs, 'critical path'), 'critical path (p50 of each): boot to SSH 75.00 s → provisioning 30.00 s', 'the first run\'s critical path');
  t.equal(stepsNote(runs.slice(0, 1), 'steps'), 'steps: boot to SSH 89.00 s, provisioning 32.70 s');
  t.equal(stepsNote([], 'steps'), undefined);
});
