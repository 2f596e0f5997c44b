// The heavy rows of `npm run bench:singlevm` (scripts/bench-singlevm.ts), each measured by running
// what a user runs and reading what it prints or writes: BAT (`bat/run.sh`), the sim bench
// (`npm run bench -- --preset 10k|100k`), and the nested VM (`singlevm/ccloudvm create`, `connect`,
// setup inside). Each sample carries the machine's load as it started and ended.
import { mkdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run, type RunResult } from '../shared/run.ts';
import { REPO_ROOT } from '../singlevm/processes.ts';
import type { StepTiming } from '../singlevm/step-runner.ts';
import { parseBatSummary, simFigures, stepsNote, type Measured, type Sample } from './bench-rows.ts';

/** The 1-minute load average now. */
export const loadNow = async () => Number((await readFile('/proc/loadavg', 'utf8')).split(' ')[0]);

/** The step timings a script wrote with --timings FILE (StepRunner.writeJson), the file then removed;
 *  undefined when it wrote none (it failed before its end). */
export async function readTimings(file: string): Promise<{ steps: StepTiming[]; critical_path: string[] } | undefined> {
  const text = await readFile(file, 'utf8').catch(() => undefined);
  await rm(file, { force: true });
  if (text === undefined) return undefined;
  const t = JSON.parse(text);
  return { steps: t.steps, critical_path: t.critical_path ?? [] };
}

/** `fn` timed from outside, with the load as it started and ended. */
export async function sampled<T>(fn: () => Promise<T>, value?: (r: T, seconds: number) => number): Promise<{ sample: Sample; result: T }> {
  const loadStart = await loadNow();
  const t0 = performance.now();
  const result = await fn();
  const seconds = (performance.now() - t0) / 1000;
  return { sample: { value: value ? value(result, seconds) : seconds, load_start: loadStart, load_end: await loadNow() }, result };
}

export interface HeavyContext {
  name: string;
  env: NodeJS.ProcessEnv;
  runs: number;
  /** setup.sh for this cluster (its usual arguments) and cleanup.sh, for the rows that need the real cluster. */
  setup: () => Promise<unknown>;
  cleanup: () => Promise<unknown>;
}
export interface HeavyResult { measured: Record<string, Measured>; raw: unknown }

const tail = (r: RunResult, lines = 8) => `${r.stdout}\n${r.stderr}`.trim().split('\n').slice(-lines).join(' | ');
const script = (ctx: HeavyContext, path: string, args: string[], timeoutMs: number) =>
  run(join(REPO_ROOT, path), args, { env: ctx.env, allowFailure: true, timeout: timeoutMs });

/** BAT against the real cluster: one setup, `runs` runs of `bat/run.sh --name NAME`, each timed from
 *  outside (the runner's own wall clock goes in the note); a run with a failure or a leak fails the row. */
export async function batRow(ctx: HeavyContext): Promise<HeavyResult> {
  const samples: Sample[] = [];
  const problems: string[] = [];
  const raw: unknown[] = [];
  await ctx.setup();
  try {
    for (let i = 0; i < ctx.runs; i++) {
      const { sample, result: r } = await sampled(() => script(ctx, 'bat/run.sh', ['--name', ctx.name], 3_600_000));
      const summary = parseBatSummary(r.stderr);
      const failedLines = r.stderr.split('\n').filter((l) => /^ {2}(FAILED|LEAKED)/.test(l));
      raw.push({ exit_code: r.exitCode, seconds: sample.value, summary, failed: failedLines });
      console.log(`  BAT ${i + 1}/${ctx.runs}: ${sample.value.toFixed(1)} s, ${summary ? `${summary.passed}/${summary.tests} passed, ${summary.failed} failed, ${summary.skipped} skipped` : 'no summary'} (load ${sample.load_start} → ${sample.load_end})`);
      if (!summary) {
        problems.push(`run ${i + 1}: bat/run.sh exited ${r.exitCode} without its summary: ${tail(r)}`);
        continue;
      }
      samples.push(sample);
      if (r.exitCode !== 0) problems.push(`run ${i + 1}: exit ${r.exitCode}, ${summary.failed} failed${failedLines.length ? `: ${failedLines.map((l) => l.trim()).join('; ')}` : ''}`);
    }
  } finally {
    await ctx.cleanup();
  }
  const sums = raw.flatMap((x) => ((x as { summary?: { seconds: number; tests: number; suites: number } }).summary ?? []));
  const note = sums.length ? `${sums[0].tests} tests in ${sums[0].suites} suites; the runner's own wall clock ${sums.map((s) => `${s.seconds.toFixed(1)} s`).join(', ')}` : undefined;
  return { measured: { bat: { samples, problems, note } }, raw };
}

/** The sim bench's rows, one fresh simulated cluster per run (`npm run bench -- --preset P`), its
 *  JSON read back: nodes + instances all active, API p99, control plane peak RSS. */
export async function scaleRows(ctx: HeavyContext, presets: ('10k' | '100k')[]): Promise<HeavyResult> {
  const measured: Record<string, Measured> = {};
  const raw: Record<string, unknown[]> = {};
  for (const preset of presets) {
    const total: Sample[] = [], p99: Sample[] = [], rss: Sample[] = [];
    const problems: string[] = [];
    raw[preset] = [];
    for (let i = 0; i < ctx.runs; i++) {
      const file = join(tmpdir(), `ciao-bench-${process.pid}-sim-${preset}-${i}.json`);
      const { sample, result: r } = await sampled(() => run('npm', ['run', '--silent', 'bench', '--', '--preset', preset, '--name', ctx.name, '--json', file],
        { cwd: REPO_ROOT, env: ctx.env, allowFailure: true, timeout: 3_600_000 }));
      if (r.exitCode !== 0) {
        problems.push(`run ${i + 1}: npm run bench -- --preset ${preset} exited ${r.exitCode} after ${sample.value.toFixed(1)} s: ${tail(r, 4)}`);
        console.log(`  sim ${preset} ${i + 1}/${ctx.runs}: failed (load ${sample.load_start} → ${sample.load_end})`);
        continue;
      }
      const json = JSON.parse(await readFile(file, 'utf8'));
      await rm(file, { force: true });
      const f = simFigures(json);
      raw[preset].push(json);
      total.push({ ...sample, value: f.total });
      p99.push({ ...sample, value: f.p99 });
      rss.push({ ...sample, value: f.rss });
      console.log(`  sim ${preset} ${i + 1}/${ctx.runs}: nodes ${f.run.nodes_ready_seconds.toFixed(2)} s + instances ${f.run.all_active_seconds.toFixed(2)} s, p99 ${f.p99.toFixed(1)} ms, control plane ${f.rss} MB (load ${sample.load_start} → ${sample.load_end})`);
    }
    const shed = (raw[preset] as { runs: { shed_503: number; nodes_ready_seconds: number; all_active_seconds: number }[] }[]).map((j) => j.runs[0]);
    const note = shed.length ? `nodes ready ${shed.map((s) => s.nodes_ready_seconds.toFixed(2)).join(', ')} s + all active ${shed.map((s) => s.all_active_seconds.toFixed(2)).join(', ')} s; ${shed.map((s) => s.shed_503).join(', ')} creates shed with 503` : undefined;
    measured[`sim${preset}-total`] = { samples: total, problems, note };
    measured[`sim${preset}-p99`] = { samples: p99, problems };
    measured[`sim${preset}-rss`] = { samples: rss, problems };
  }
  return { measured, raw };
}

/** How many times `connect -- true` is timed on each VM the ccloudvm row creates. */
export const CONNECTS_PER_VM = 5;

/** The nested VM: the base image built or found first (not timed), then per run a VM created
 *  (`ccloudvm create`), `connect -- true` timed CONNECTS_PER_VM times, setup inside (`connect --
 *  ./singlevm/setup.sh`, the first in the fresh VM), and the VM deleted. */
export async function ccloudvmRows(ctx: HeavyContext): Promise<HeavyResult> {
  const cc = (args: string[]) => script(ctx, 'singlevm/ccloudvm', args, 3_600_000);
  const create: Sample[] = [], connect: Sample[] = [], setup: Sample[] = [];
  const problems = { create: [] as string[], connect: [] as string[], setup: [] as string[] };
  const raw: unknown[] = [];
  const createSteps: { steps: StepTiming[] }[] = [], insideSteps: { steps: StepTiming[]; critical_path: string[] }[] = [];
  const image = await sampled(() => cc(['image']));
  if (image.result.exitCode !== 0) {
    const p = [`ccloudvm image failed: ${tail(image.result)}`];
    return { measured: { 'ccloudvm-create': { samples: [], problems: p }, 'ccloudvm-connect': { samples: [], problems: p }, 'ccloudvm-setup': { samples: [], problems: p } }, raw: { image: image.sample } };
  }
  // Setup inside writes its timings into the project tree, which the VM shares at the same path.
  await mkdir(join(REPO_ROOT, 'bench-results'), { recursive: true });
  const createTimings = join(tmpdir(), `ciao-bench-${process.pid}-ccloudvm-create.json`);
  const insideTimings = join(REPO_ROOT, 'bench-results', `.ccloudvm-setup-${process.pid}.json`);
  for (let i = 0; i < ctx.runs; i++) {
    try {
      const made = await sampled(() => cc(['create', '--name', ctx.name, '--timings', createTimings]));
      const steps = (await readTimings(createTimings))?.steps ?? [];
      if (made.result.exitCode !== 0) {
        problems.create.push(`run ${i + 1}: ccloudvm create exited ${made.result.exitCode}: ${tail(made.result)}`);
        problems.connect.push(`run ${i + 1}: no VM to connect to`);
        problems.setup.push(`run ${i + 1}: no VM to set up in`);
        raw.push({ create: made.sample, create_steps: steps });
        continue;
      }
      create.push(made.sample);
      createSteps.push({ steps });
      const connects: Sample[] = [];
      for (let k = 0; k < CONNECTS_PER_VM; k++) {
        const c = await sampled(() => cc(['connect', '--name', ctx.name, '--', 'true']));
        if (c.result.exitCode !== 0) problems.connect.push(`run ${i + 1}: connect -- true exited ${c.result.exitCode}: ${tail(c.result)}`);
        else connects.push(c.sample);
      }
      connect.push(...connects);
      const inside = await sampled(() => cc(['connect', '--name', ctx.name, '--', './singlevm/setup.sh', '--timings', insideTimings]));
      if (inside.result.exitCode !== 0) problems.setup.push(`run ${i + 1}: setup inside exited ${inside.result.exitCode}: ${tail(inside.result)}`);
      else setup.push(inside.sample);
      const insideTimed = await readTimings(insideTimings);
      if (insideTimed && inside.result.exitCode === 0) insideSteps.push(insideTimed);
      raw.push({ create: made.sample, create_steps: steps, connect: connects, setup_inside: inside.sample, setup_inside_timings: insideTimed });
      console.log(`  ccloudvm ${i + 1}/${ctx.runs}: create → ready ${made.sample.value.toFixed(1)} s (${steps.map((s) => `${s.name} ${s.seconds.toFixed(1)}`).join(', ')}), connect ${connects.map((c) => c.value.toFixed(2)).join(', ')} s, setup inside ${inside.sample.value.toFixed(1)} s (load ${made.sample.load_start} → ${inside.sample.load_end})`);
    } finally {
      await cc(['delete', '--name', ctx.name]);
      // Read above; not left in the OS temp dir or the tree.
      await Promise.all([createTimings, insideTimings].map((f) => rm(f, { force: true })));
    }
  }
  return {
    measured: {
      'ccloudvm-create': { samples: create, problems: problems.create, note: [`the base image ready first (not timed): ${image.sample.value.toFixed(1)} s`, stepsNote(createSteps, 'steps')].filter(Boolean).join('; ') },
      'ccloudvm-connect': { samples: connect, problems: problems.connect, note: `${CONNECTS_PER_VM} per VM, over its shared SSH connection` },
      'ccloudvm-setup': { samples: setup, problems: problems.setup, note: stepsNote(insideSteps, 'critical path') },
    },
    raw: { image: image.sample, runs: raw },
  };
}
