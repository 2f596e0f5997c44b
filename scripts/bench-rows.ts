// Issue 15's table as `npm run bench:singlevm` reports it (scripts/bench-singlevm.ts): each row's
// figures in the issue's order with their targets, p50 and p95 over the runs, met or missed, and the
// machine's load while they were taken; the one table printed and the JSON written. Pure: no cluster.
import { pct } from './bench-load.ts';
import { PRESETS } from './bench-plan.ts';

export type Unit = 's' | 'ms' | 'MB';
/** A target on a figure's p50, its p95, or both (issue 15: "≤ 1.0 s p50, ≤ 1.5 s p95"). */
export interface Target { p50?: number; p95?: number }
export interface FigureSpec {
  id: string;
  /** The issue's row this figure belongs to (rows with several figures repeat it). */
  row: string;
  measure: string;
  unit: Unit;
  target?: Target;
  /** How to have it measured, when it was not: the flag of `npm run bench:singlevm` ('' for none). */
  flag: string;
}

/** One measurement, with the 1-minute load average (/proc/loadavg) as it started and as it ended. */
export interface Sample { value: number; load_start: number; load_end: number }

/** A figure as measured: its samples; `problems` when a run did not pass (BAT failures, a bench that
 *  stopped); `unmeasured` says why there is no sample when that is not "not asked for". */
export interface Measured { samples: Sample[]; problems?: string[]; note?: string; unmeasured?: string }

const sim = (preset: '10k' | '100k') => {
  const { nodes, instances, target } = PRESETS[preset][0];
  const thousands = (n: number) => String(n).replace(/\B(?=(\d{3})+$)/g, ' ');
  const row = `${thousands(nodes)} sim nodes + ${thousands(instances)} instances`;
  const flag = `--scale ${preset}`;
  return [
    { id: `sim${preset}-total`, row, measure: `${row}: nodes ready + all active`, unit: 's', target: { p50: target!.totalSeconds }, flag },
    { id: `sim${preset}-p99`, row, measure: `${row}: API p99`, unit: 'ms', target: { p50: target!.p99Ms }, flag },
    { id: `sim${preset}-rss`, row, measure: `${row}: control plane peak RSS`, unit: 'MB', target: { p50: target!.controlPlaneMB }, flag },
  ] satisfies FigureSpec[];
};

/** Issue 15's rows, in its order. A target without p95 is on the p50. */
export const FIGURES: FigureSpec[] = [
  { id: 'setup', row: 'setup, warm caches', measure: 'setup, warm caches', unit: 's', target: { p50: 2 }, flag: '--runs N' },
  { id: 'verify', row: 'verify', measure: 'verify', unit: 's', target: { p50: 4 }, flag: '--runs N' },
  { id: 'cleanup', row: 'cleanup', measure: 'cleanup', unit: 's', target: { p50: 1 }, flag: '--runs N' },
  { id: 'vm', row: 'VM create → SSH (TCG)', measure: 'VM create → SSH answers', unit: 's', target: { p50: 1.0, p95: 1.5 }, flag: '--runs N' },
  { id: 'container', row: 'container create → active with network', measure: 'container create → active with network', unit: 's', target: { p50: 0.2 }, flag: '--runs N' },
  { id: 'bat', row: 'full BAT against the real cluster', measure: 'full BAT against the real cluster (bat/run.sh)', unit: 's', target: { p50: 20 }, flag: '--bat' },
  ...sim('10k'),
  ...sim('100k'),
  { id: 'ccloudvm-create', row: 'ccloudvm create → ready, cached image (TCG)', measure: 'ccloudvm create → ready, cached image', unit: 's', target: { p50: 30 }, flag: '--ccloudvm' },
  { id: 'ccloudvm-connect', row: 'ccloudvm create → ready, cached image (TCG)', measure: 'ccloudvm connect -- true', unit: 's', target: { p50: 1 }, flag: '--ccloudvm' },
  { id: 'ccloudvm-setup', row: 'setup inside ccloudvm', measure: 'setup inside ccloudvm (the first in a fresh VM)', unit: 's', target: { p50: 30 }, flag: '--ccloudvm' },
  { id: 'cold-start', row: 'fresh machine → `verify passed`', measure: 'fresh machine → `verify passed`', unit: 's', target: { p50: 90 }, flag: '--cold-start FILE' },
];

/** Why the cold-start row has no figure without --cold-start (docs/cold-start.md). */
export const COLD_START_UNMEASURED = 'needs a fresh machine: scripts/cold-start.sh measures it in fresh containers; --cold-start FILE shows its JSON';

/** The cold-start row from the JSON scripts/cold-start.sh wrote (scripts/cold-start-runs.ts): a
 *  sample per run that passed (its wall clock, the load as it started and ended), a problem per run
 *  that did not; the note names the file, the commit and each script's p50. */
export function coldStartMeasured(json: unknown, file: string): Measured {
  const j = json as { kind?: string; date?: string; runs?: unknown; summary?: { scripts?: Record<string, { p50: number } | undefined>; cpu_seconds?: { p50: number } } };
  const runs = j?.runs as { run: number; commit: string; passed: boolean; exit_code: number; seconds: number; load_start: number; load_end: number }[] | undefined;
  if (j?.kind !== 'ciao-cold-start' || !Array.isArray(runs)) throw new Error(`${file} is not what scripts/cold-start.sh writes (kind "ciao-cold-start", runs)`);
  const samples = runs.filter((r) => r.passed).map((r) => ({ value: r.seconds, load_start: r.load_start, load_end: r.load_end }));
  const problems = runs.filter((r) => !r.passed).map((r) => `run ${r.run} did not reach "verify passed" (exit ${r.exit_code} after ${r.seconds.toFixed(1)} s)`);
  const scripts = Object.entries(j.summary?.scripts ?? {}).filter(([, v]) => v).map(([k, v]) => `${k} ${v!.p50.toFixed(1)} s`).join(', ');
  const commits = [...new Set(runs.map((r) => r.commit))].join(', ');
  const cpu = j.summary?.cpu_seconds ? `, ${j.summary.cpu_seconds.p50.toFixed(1)} CPU-s` : '';
  return { samples, ...(problems.length ? { problems } : {}), note: `from ${file} (${j.date ?? 'no date'}, ${commits}): p50 ${scripts || '–'}${cpu}` };
}

export type Verdict = 'met' | 'missed' | 'failed' | 'not run' | 'not measured';
export interface FigureResult extends FigureSpec {
  samples: Sample[];
  p50?: number;
  p95?: number;
  verdict: Verdict;
  /** The load average (1 min) as the first sample started and as the last ended. */
  load?: { start: number; end: number };
  note?: string;
  problems?: string[];
}

/** A figure's p50, p95 and verdict from its samples. Failed runs make it "failed" whatever its time. */
export function figureResult(spec: FigureSpec, m: Measured | undefined): FigureResult {
  const samples = m?.samples ?? [];
  const base = { ...spec, samples, ...(m?.note ? { note: m.note } : {}), ...(m?.problems?.length ? { problems: m.problems } : {}) };
  if (!samples.length) {
    if (m?.problems?.length) return { ...base, verdict: 'failed' };
    if (m?.unmeasured) return { ...base, verdict: 'not measured', note: m.unmeasured };
    return { ...base, verdict: 'not run', ...(spec.flag ? { note: `measured with ${spec.flag}${spec.flag.startsWith('--runs') ? '' : ' (or --all)'}` } : {}) };
  }
  const values = samples.map((s) => s.value);
  const p50 = pct(values, 50);
  const p95 = pct(values, 95);
  const met = (spec.target?.p50 === undefined || p50 <= spec.target.p50) && (spec.target?.p95 === undefined || p95 <= spec.target.p95);
  const verdict: Verdict = m?.problems?.length ? 'failed' : met ? 'met' : 'missed';
  return { ...base, p50, p95, verdict, load: { start: samples[0].load_start, end: samples.at(-1)!.load_end } };
}

/** Every figure of the issue's table, measured or not, in its order. */
export const results = (measured: Record<string, Measured>): FigureResult[] => FIGURES.map((f) => figureResult(f, measured[f.id]));

const digits: Record<Unit, number> = { s: 2, ms: 1, MB: 0 };
export const formatValue = (v: number, unit: Unit) => `${v.toFixed(unit === 's' && v < 1 ? 3 : digits[unit])} ${unit}`;
const formatTarget = (t: Target | undefined, unit: Unit) => [
  t?.p50 !== undefined ? `p50 ≤ ${t.p50} ${unit}` : '', t?.p95 !== undefined ? `p95 ≤ ${t.p95} ${unit}` : '',
].filter(Boolean).join(', ');

/** The one table: measure, target, p50, p95, runs, verdict, load (1 min, start → end); under a
 *  figure its note (why it was not measured, what else the run said) and what failed. A figure
 *  not asked for says which flag measures it. */
export function tableText(all: FigureResult[]): string {
  const head = ['measure', 'target', 'p50', 'p95', 'runs', 'verdict', 'load start → end'];
  const lines = all.map((f) => [
    f.measure, formatTarget(f.target, f.unit),
    f.p50 === undefined ? '–' : formatValue(f.p50, f.unit), f.p95 === undefined ? '–' : formatValue(f.p95, f.unit),
    String(f.samples.length), f.verdict === 'not run' && f.flag ? `not run (${f.flag})` : f.verdict, f.load ? `${f.load.start.toFixed(2)} → ${f.load.end.toFixed(2)}` : '',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const row = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd();
  const out = [row(head), row(widths.map((w) => '-'.repeat(w)))];
  all.forEach((f, i) => {
    out.push(row(lines[i]));
    const notes = [...(f.note && f.verdict !== 'not run' ? [f.note] : []), ...(f.problems ?? [])];
    for (const note of notes) out.push(`    ${note}`);
  });
  return out.join('\n');
}

/** What the JSON file holds: when, on what, asked how, every figure with its samples, and the raw
 *  per-run details (each script's steps, BAT's summary lines, the sim bench's JSON). */
export function benchJson(o: { date: string; cores: number; loadavg: { start: string; end: string }; args: string[]; figures: FigureResult[]; raw: Record<string, unknown> }) {
  return {
    date: o.date, machine: { cores: o.cores, loadavg_start: o.loadavg.start, loadavg_end: o.loadavg.end }, args: o.args,
    figures: o.figures.map((f) => ({
      id: f.id, row: f.row, measure: f.measure, unit: f.unit, target: f.target ?? null, runs: f.samples.length,
      p50: f.p50 ?? null, p95: f.p95 ?? null, verdict: f.verdict, load: f.load ?? null, note: f.note ?? null, problems: f.problems ?? [], samples: f.samples,
    })),
    raw: o.raw,
  };
}

/** A row's note from its runs' step timings (`--timings` files): the steps of 1 s or more, or the
 *  first run's critical path, each step with its p50 over the runs. */
export function stepsNote(runs: { steps: { name: string; seconds: number }[]; critical_path?: string[] }[], pick: 'critical path' | 'steps'): string | undefined {
  if (!runs.length) return undefined;
  const names = pick === 'critical path' ? runs[0].critical_path ?? [] : [...new Set(runs.flatMap((r) => r.steps.filter((s) => s.seconds >= 1).map((s) => s.name)))];
  const p50 = (name: string) => pct(runs.flatMap((r) => r.steps.filter((s) => s.name === name).map((s) => s.seconds)), 50);
  const each = runs.length > 1 ? ' (p50 of each)' : '';
  return `${pick}${each}: ${names.map((n) => `${n} ${p50(n).toFixed(2)} s`).join(pick === 'critical path' ? ' → ' : ', ')}`;
}

// --- what the tools print ------------------------------------------------------------------------

export interface BatSummary { tests: number; suites: number; passed: number; failed: number; skipped: number; seconds: number; bySuite: Record<string, number> }

/** bat/run.sh's summary on stderr: `BAT: 57 tests in 10 suites, 57 passed, 0 failed, 0 skipped (53.5 s)`
 *  and `  wall clock 53.5 s for 120.1 s of suites (…): base 40.1 s, image 12.0 s`. */
export function parseBatSummary(stderr: string): BatSummary | undefined {
  const m = /^BAT: (\d+) tests in (\d+) suites, (\d+) passed, (\d+) failed, (\d+) skipped \(([\d.]+) s\)$/m.exec(stderr);
  if (!m) return undefined;
  const [tests, suites, passed, failed, skipped, seconds] = m.slice(1).map(Number);
  const wall = /^ {2}wall clock [\d.]+ s for [\d.]+ s of suites \([^)]*\): (.*)$/m.exec(stderr);
  const bySuite = Object.fromEntries((wall?.[1].split(', ') ?? []).map((s) => /^(\S+) ([\d.]+) s$/.exec(s)).filter((x) => x).map((x) => [x![1], Number(x![2])]));
  return { tests, suites, passed, failed, skipped, seconds, bySuite };
}

/** What one run of `npm run bench -- --preset P` wrote (scripts/bench-sim.ts), as far as the table reads it. */
export interface SimRun { total_seconds: number; nodes_ready_seconds: number; all_active_seconds: number; api: { p99_ms: number }; control_plane_rss_mb: number; shed_503: number }

/** The three figures of a sim row from one run of the sim bench's JSON (one row: an object). */
export function simFigures(json: unknown): { total: number; p99: number; rss: number; run: SimRun } {
  const runs = (json as { runs?: SimRun[] })?.runs;
  const r = runs?.[0];
  if (!r || typeof r.total_seconds !== 'number' || typeof r.api?.p99_ms !== 'number' || typeof r.control_plane_rss_mb !== 'number') {
    throw new Error('the sim bench wrote no run with total_seconds, api.p99_ms and control_plane_rss_mb');
  }
  return { total: r.total_seconds, p99: r.api.p99_ms, rss: r.control_plane_rss_mb, run: r };
}
