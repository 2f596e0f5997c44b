// Runs a long flow as named, timed steps: a status line per step on a terminal, plain lines in CI,
// a summary table at the end, and the timings as JSON for benchmarks.
import { writeFile } from 'node:fs/promises';

export interface StepTiming {
  name: string;
  seconds: number;
  ok: boolean;
  error?: string;
}

export class StepRunner {
  readonly timings: StepTiming[] = [];
  private readonly tty = process.stdout.isTTY && !process.env.CI;

  /** plainProgressEveryMs: off a terminal, a step's progress notes are also printed as plain lines,
   *  at most one per this many ms (for steps that take minutes); otherwise only a terminal shows them. */
  constructor(private readonly title: string, private readonly opts: { plainProgressEveryMs?: number } = {}) {}

  async step<T>(name: string, fn: (progress: (note: string) => void) => Promise<T>): Promise<T> {
    const t0 = performance.now();
    let lastPlain = t0;
    const progress = (note: string) => {
      if (this.tty) return void process.stdout.write(`\r\x1b[K  … ${name}: ${note}`);
      const every = this.opts.plainProgressEveryMs;
      if (every === undefined || performance.now() - lastPlain < every) return;
      lastPlain = performance.now();
      process.stdout.write(`  … ${name}: ${note}\n`);
    };
    if (this.tty) process.stdout.write(`  … ${name}`);
    try {
      const result = await fn(progress);
      this.done(name, t0, true);
      return result;
    } catch (err) {
      this.done(name, t0, false, (err as Error).message);
      throw err;
    }
  }

  private done(name: string, t0: number, ok: boolean, error?: string) {
    const seconds = (performance.now() - t0) / 1000;
    this.timings.push({ name, seconds, ok, error });
    const line = `${ok ? '✓' : '✗'} ${name} (${seconds.toFixed(2)} s)${error ? `: ${error}` : ''}`;
    process.stdout.write(this.tty ? `\r\x1b[K${line}\n` : `${line}\n`);
  }

  get totalSeconds(): number {
    return this.timings.reduce((s, t) => s + t.seconds, 0);
  }

  summary(): string {
    const width = Math.max(...this.timings.map((t) => t.name.length), 5);
    const rows = this.timings.map((t) => `  ${t.name.padEnd(width)}  ${t.seconds.toFixed(2).padStart(7)} s  ${t.ok ? 'ok' : 'FAILED'}`);
    return [`${this.title}:`, ...rows, `  ${'total'.padEnd(width)}  ${this.totalSeconds.toFixed(2).padStart(7)} s`].join('\n');
  }

  async writeJson(path: string): Promise<void> {
    await writeFile(path, JSON.stringify({ title: this.title, total_seconds: this.totalSeconds, steps: this.timings }, null, 2) + '\n');
  }
}
