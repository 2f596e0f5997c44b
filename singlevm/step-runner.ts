// Runs a long flow as named, timed steps, some of them at the same time: a status line of the
// running steps on a terminal, plain lines in CI, a summary table at the end with the critical path
// (the chain of steps, each waiting on the one before, that the whole run took), and the timings as
// JSON for benchmarks.
import { writeFile } from 'node:fs/promises';

export interface StepTiming {
  name: string;
  seconds: number;
  ok: boolean;
  error?: string;
  /** When it started and ended, in seconds since the runner was made. */
  start?: number;
  end?: number;
  /** The step it waited for last (its critical predecessor), when it waited for one. */
  after?: string;
}

export class StepRunner {
  readonly timings: StepTiming[] = [];
  private readonly tty = process.stdout.isTTY && !process.env.CI;
  private readonly t0 = performance.now();
  /** The running steps and their last progress note (the terminal's status line). */
  private readonly running = new Map<string, string>();

  /** plainProgressEveryMs: off a terminal, a step's progress notes are also printed as plain lines,
   *  at most one per this many ms (for steps that take minutes); otherwise only a terminal shows them. */
  constructor(private readonly title: string, private readonly opts: { plainProgressEveryMs?: number } = {}) {}

  /** Runs one step; `after` names the step it waited for last (for the critical path). */
  async step<T>(name: string, fn: (progress: (note: string) => void) => Promise<T>, opts: { after?: string } = {}): Promise<T> {
    const t0 = performance.now();
    let lastPlain = t0;
    const progress = (note: string) => {
      if (this.tty) {
        this.running.set(name, note);
        return this.redraw();
      }
      const every = this.opts.plainProgressEveryMs;
      if (every === undefined || performance.now() - lastPlain < every) return;
      lastPlain = performance.now();
      process.stdout.write(`  … ${name}: ${note}\n`);
    };
    this.running.set(name, '');
    this.redraw();
    try {
      const result = await fn(progress);
      this.done(name, t0, opts.after, true);
      return result;
    } catch (err) {
      this.done(name, t0, opts.after, false, (err as Error).message);
      throw err;
    }
  }

  /** A line of output under the status lines (the terminal's status line is drawn again below it). */
  print(line: string) {
    process.stdout.write(this.tty ? `\r\x1b[K${line}\n` : `${line}\n`);
    this.redraw();
  }

  private redraw() {
    if (!this.tty) return;
    const parts = [...this.running].map(([name, note]) => (note ? `${name}: ${note}` : name));
    process.stdout.write(`\r\x1b[K${parts.length ? `  … ${parts.join(' · ')}`.slice(0, (process.stdout.columns || 120) - 1) : ''}`);
  }

  private done(name: string, t0: number, after: string | undefined, ok: boolean, error?: string) {
    const now = performance.now();
    const seconds = (now - t0) / 1000;
    this.running.delete(name);
    this.timings.push({ name, seconds, ok, error, start: (t0 - this.t0) / 1000, end: (now - this.t0) / 1000, ...(after ? { after } : {}) });
    this.print(`${ok ? '✓' : '✗'} ${name} (${seconds.toFixed(2)} s)${error ? `: ${error}` : ''}`);
  }

  /** Of the steps named, the one that ended last. */
  lastEnded(names: string[]): string | undefined {
    let last: StepTiming | undefined;
    for (const t of this.timings) if (names.includes(t.name) && (!last || (t.end ?? 0) >= (last.end ?? 0))) last = t;
    return last?.name;
  }

  /** From the first step's start to the last step's end: the flow's wall clock (steps ran at the same time). */
  get totalSeconds(): number {
    if (!this.timings.length) return 0;
    return Math.max(...this.timings.map((t) => t.end ?? 0)) - Math.min(...this.timings.map((t) => t.start ?? 0));
  }

  /** The steps the run waited on, first to last: from the step that ended last, back through each
   *  step's critical predecessor. */
  criticalPath(): StepTiming[] {
    const byName = new Map(this.timings.map((t) => [t.name, t]));
    let t = this.timings.reduce<StepTiming | undefined>((a, b) => (!a || (b.end ?? 0) >= (a.end ?? 0) ? b : a), undefined);
    const path: StepTiming[] = [];
    while (t && !path.includes(t)) {
      path.unshift(t);
      t = t.after ? byName.get(t.after) : undefined;
    }
    return path;
  }

  /** The critical path as one line: `a 0.10 → b 0.52 → c 0.31 = 0.93 s of 1.02 s`. */
  criticalPathLine(): string {
    const path = this.criticalPath();
    const sum = path.reduce((s, t) => s + t.seconds, 0);
    return `critical path: ${path.map((t) => `${t.name} ${t.seconds.toFixed(2)}`).join(' → ')} = ${sum.toFixed(2)} s of ${this.totalSeconds.toFixed(2)} s`;
  }

  summary(): string {
    const width = Math.max(...this.timings.map((t) => t.name.length), 5);
    const onPath = new Set(this.criticalPath().map((t) => t.name));
    const rows = this.timings.map((t) => `  ${t.name.padEnd(width)}  ${t.seconds.toFixed(2).padStart(7)} s  ${t.ok ? 'ok' : 'FAILED'}${onPath.has(t.name) ? '  (critical path)' : ''}`);
    return [`${this.title}:`, ...rows, `  ${'total'.padEnd(width)}  ${this.totalSeconds.toFixed(2).padStart(7)} s`, `  ${this.criticalPathLine()}`].join('\n');
  }

  async writeJson(path: string): Promise<void> {
    const critical = this.criticalPath().map((t) => t.name);
    await writeFile(path, JSON.stringify({ title: this.title, total_seconds: this.totalSeconds, critical_path: critical, steps: this.timings }, null, 2) + '\n');
  }
}
