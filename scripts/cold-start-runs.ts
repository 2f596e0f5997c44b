// The cold-start harness's runs (scripts/cold-start.sh) read back: each run's output, stamped with
// the seconds since the README's command started, gives the three scripts' ends (the harness's
// `@@cold-start SCRIPT done` marks), the install phases (ensure-deps.sh's and install-system-deps.sh's
// one line each, when they ended and how long they took), setup's steps and its critical path, and
// whether verify passed. Pure: the harness's CLI (scripts/cold-start-report.ts) reads the files.
import { pct } from './bench-load.ts';

export const SCRIPTS = ['cleanup.sh', 'setup.sh', 'verify.sh'] as const;
export type Script = typeof SCRIPTS[number];

/** What the harness measured from outside (the run's meta.json). */
export interface RunMeta {
  run: number;
  commit: string;
  exit_code: number;
  started: string;
  /** The README's command, wall clock. */
  seconds: number;
  /** CPU time of everything in the container meanwhile (its cgroup). */
  cpu_seconds: number;
  load_start: number;
  load_end: number;
}

/** One install phase: its line's name, its own time, and when it started and ended (seconds since
 *  the command started). */
export interface Phase { name: string; seconds: number; start: number; end: number; note?: string }

export interface ColdRun extends RunMeta {
  passed: boolean;
  /** Each script's wall clock, from the previous script's end (the first: from 0). */
  scripts: Partial<Record<Script, number>>;
  phases: Phase[];
  setup_steps: { name: string; seconds: number }[];
  setup_critical_path?: string;
  /** The last lines before the command stopped, when it did not pass. */
  failure?: string;
}

const PHASE = /^ {2}(\S.*?) +(\d+\.\d) s(?: {2}\((.*)\))?$/;
const STEP = /^✓ (.+) \((\d+\.\d+) s\)$/;
const MARK = /^@@cold-start (\S+) done$/;

/** One run from its stamped output (`SECONDS LINE` per line) and the harness's meta. */
export function parseRun(log: string, meta: RunMeta): ColdRun {
  const lines = log.split('\n').filter((l) => l.trim()).map((l) => {
    const i = l.indexOf(' ');
    return { at: Number(l.slice(0, i)), text: l.slice(i + 1) };
  });
  const ends: Partial<Record<Script, number>> = {};
  const phases: Phase[] = [];
  const steps: { name: string; seconds: number }[] = [];
  let critical: string | undefined;
  for (const { at, text } of lines) {
    const mark = MARK.exec(text);
    if (mark && (SCRIPTS as readonly string[]).includes(mark[1])) ends[mark[1] as Script] = at;
    const phase = PHASE.exec(text);
    if (phase) {
      const seconds = Number(phase[2]);
      phases.push({ name: phase[1], seconds, start: round(at - seconds), end: at, ...(phase[3] ? { note: phase[3] } : {}) });
    }
    const step = STEP.exec(text);
    if (step && ends['cleanup.sh'] !== undefined && ends['setup.sh'] === undefined) steps.push({ name: step[1], seconds: Number(step[2]) });
    if (text.startsWith('critical path: ') && ends['setup.sh'] === undefined) critical = text.slice('critical path: '.length);
  }
  const scripts: Partial<Record<Script, number>> = {};
  let from = 0;
  for (const s of SCRIPTS) {
    if (ends[s] === undefined) break;
    scripts[s] = round(ends[s]! - from);
    from = ends[s]!;
  }
  const passed = meta.exit_code === 0 && ends['verify.sh'] !== undefined && lines.some((l) => /\bverify passed\b/.test(l.text));
  return {
    ...meta, passed, scripts, phases, setup_steps: steps, ...(critical ? { setup_critical_path: critical } : {}),
    ...(passed ? {} : { failure: lines.slice(-15).map((l) => l.text).join('\n') }),
  };
}

const round = (x: number) => Math.round(x * 1000) / 1000;

export interface Stat { p50: number; p95: number; min: number; max: number }
const stat = (xs: number[]): Stat | undefined => xs.length ? { p50: pct(xs, 50), p95: pct(xs, 95), min: Math.min(...xs), max: Math.max(...xs) } : undefined;

/** Over the runs that passed: the total, its CPU time, each script and each install phase (by name). */
export function summarize(runs: ColdRun[]) {
  const ok = runs.filter((r) => r.passed);
  const names = [...new Set(ok.flatMap((r) => r.phases.map((p) => p.name)))];
  return {
    runs: runs.length,
    passed: ok.length,
    total: stat(ok.map((r) => r.seconds)),
    cpu_seconds: stat(ok.map((r) => r.cpu_seconds)),
    scripts: Object.fromEntries(SCRIPTS.map((s) => [s, stat(ok.flatMap((r) => r.scripts[s] ?? []))])),
    phases: Object.fromEntries(names.map((n) => [n, stat(ok.flatMap((r) => r.phases.filter((p) => p.name === n).map((p) => p.seconds)))])),
  };
}

/** What the harness prints: one line per run (total, CPU, load, each script, each install phase
 *  as start–end), then the p50s. */
export function reportText(runs: ColdRun[]): string {
  const out: string[] = [];
  for (const r of runs) {
    const scripts = SCRIPTS.map((s) => `${s} ${r.scripts[s]?.toFixed(1) ?? '–'} s`).join(', ');
    out.push(`run ${r.run}: ${r.passed ? 'verify passed' : `FAILED (exit ${r.exit_code})`} after ${r.seconds.toFixed(1)} s, ` +
      `${r.cpu_seconds.toFixed(1)} CPU-s, load ${r.load_start} → ${r.load_end}: ${scripts}`);
    for (const p of r.phases) out.push(`    ${p.name.padEnd(44)} ${p.start.toFixed(1).padStart(5)} → ${p.end.toFixed(1).padStart(5)} s (${p.seconds.toFixed(1)} s)`);
    if (r.setup_critical_path) out.push(`    setup's critical path: ${r.setup_critical_path}`);
    if (r.failure) out.push(...r.failure.split('\n').map((l) => `    | ${l}`));
  }
  const s = summarize(runs);
  const f = (x: Stat | undefined) => x ? `p50 ${x.p50.toFixed(1)} s, p95 ${x.p95.toFixed(1)} s (${x.min.toFixed(1)}–${x.max.toFixed(1)})` : '–';
  out.push(`fresh machine → verify passed: ${s.passed}/${s.runs} runs passed; total ${f(s.total)}; CPU ${s.cpu_seconds ? `p50 ${s.cpu_seconds.p50.toFixed(1)} CPU-s` : '–'}`);
  for (const sc of SCRIPTS) out.push(`  ${sc.padEnd(44)} ${f(s.scripts[sc])}`);
  for (const [n, x] of Object.entries(s.phases)) out.push(`  ${n.padEnd(44)} ${f(x)}`);
  return out.join('\n');
}

/** The JSON the harness writes (`npm run bench:singlevm -- --cold-start FILE` reads it). */
export const coldStartJson = (o: { date: string; runs: ColdRun[] }) => ({ kind: 'ciao-cold-start', date: o.date, summary: summarize(o.runs), runs: o.runs });
