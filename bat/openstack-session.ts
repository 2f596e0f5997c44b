// One long-lived openstack-driver.py for one cloud user: each `openstack` command is a request line
// to it, answered when the command ends, so commands pay neither Python's start nor a login each
// (docs/bat.md, "openstack-cli: one client process"). A failed command throws as a failed `openstack`
// process would: a CommandError naming the command, its exit status and its stderr.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { z } from 'zod';
import { CommandError, type RunResult } from '../shared/run.ts';

export const DRIVER = join(import.meta.dirname, 'openstack-driver.py');

/** The driver's answer to one request (its protocol: bat/openstack-driver.py). */
const Answer = z.object({ id: z.number().int(), exitCode: z.number().int(), stdout: z.string(), stderr: z.string(), timedOut: z.boolean() });

export interface OpenstackSessionOptions {
  /** The interpreter that runs `openstack` (its #! line, split), so the driver imports the same client. */
  python: string[];
  /** Every command's environment: the driver's, inherited by each command. */
  env: NodeJS.ProcessEnv;
  /** How often `--wait` polls (openstackclient's own: 5 s). */
  waitPollSeconds?: number;
  /** Where the driver keeps each command's output while it runs (a folder of its own in it), so a
   *  driver killed leaves nothing outside the caller's own folder. Default: the system's temp dir. */
  workdir?: string;
}

function parseJson(line: string): unknown {
  try {
    return JSON.parse(line);
  } catch {
    return undefined;
  }
}

interface Pending { argv: string[]; timeoutMs: number; resolve: (r: RunResult) => void; reject: (e: Error) => void }

/** Keep this many characters of the driver's own stderr, for the error when it dies. */
const STDERR_TAIL = 4000;

export class OpenstackSession {
  private child?: ChildProcess;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private stderrTail = '';

  constructor(private readonly opts: OpenstackSessionOptions) {}

  /** The driver's process id, while it runs. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** `openstack ARGS`: its stdout (without its last newline, as execa gives it), once it exits 0. */
  run(args: readonly string[], timeoutMs: number): Promise<RunResult> {
    const argv = ['openstack', ...args];
    const child = this.started();
    const id = this.nextId++;
    const answer = new Promise<RunResult>((resolve, reject) => this.pending.set(id, { argv, timeoutMs, resolve, reject }));
    this.hold();
    child.stdin!.write(`${JSON.stringify({ id, argv: args, timeoutMs })}\n`);
    return answer;
  }

  /** Ends the driver (the commands still running are killed) and waits for it to exit. */
  async close(): Promise<void> {
    const child = this.child;
    if (!child) return;
    const closed = once(child, 'close');
    this.setRef(child, true); // this process waits for it to go
    child.stdin!.end();
    await closed;
  }

  private started(): ChildProcess {
    if (this.child) return this.child;
    const [python, ...pythonArgs] = this.opts.python;
    const { waitPollSeconds, workdir } = this.opts;
    const extra = [...(waitPollSeconds === undefined ? [] : ['--wait-poll-seconds', String(waitPollSeconds)]), ...(workdir ? ['--workdir', workdir] : [])];
    const child = spawn(python, [...pythonArgs, DRIVER, ...extra], { env: this.opts.env, stdio: ['pipe', 'pipe', 'pipe'] });
    this.child = child;
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => { this.stderrTail = (this.stderrTail + chunk).slice(-STDERR_TAIL); });
    createInterface({ input: child.stdout! }).on('line', (line) => this.answered(line));
    child.stdin!.on('error', () => undefined); // a driver that died: its exit says why
    child.on('error', (err) => this.failAll(`the openstack driver could not start: ${err.message}`));
    // 'close', not 'exit': the answers it wrote before it ended are read first.
    child.on('close', (code, signal) => {
      if (this.child === child) this.child = undefined; // the next command starts a new driver
      this.failAll(`${this.stderrTail.trim()}\nthe openstack driver (${DRIVER}) exited (${signal ?? `code ${code}`}) before the command ended`);
    });
    return child;
  }

  private answered(line: string): void {
    const parsed = Answer.safeParse(parseJson(line));
    if (!parsed.success) {
      this.failAll(`the openstack driver answered what is not an answer: ${line.slice(0, 200)}`);
      return void this.child?.kill('SIGKILL');
    }
    const { id, exitCode, stdout, stderr, timedOut } = parsed.data;
    const waiting = this.pending.get(id);
    if (!waiting) return;
    this.pending.delete(id);
    this.release();
    if (exitCode === 0) waiting.resolve({ stdout: stdout.replace(/\r?\n$/, ''), stderr, exitCode });
    else waiting.reject(new CommandError(waiting.argv, exitCode, timedOut ? `${stderr}\ntimed out after ${waiting.timeoutMs / 1000} s: killed` : stderr));
  }

  private failAll(why: string): void {
    for (const [id, { argv, reject }] of this.pending) {
      this.pending.delete(id);
      reject(new CommandError(argv, undefined, why));
    }
    this.release();
  }

  // An idle driver keeps no test process alive: it is unref'd between commands, and exits when
  // this process does (its stdin closes).
  private hold(): void {
    if (this.pending.size === 1 && this.child) this.setRef(this.child, true);
  }

  private release(): void {
    if (this.pending.size === 0 && this.child) this.setRef(this.child, false);
  }

  private setRef(child: ChildProcess, ref: boolean): void {
    for (const handle of [child, child.stdin, child.stdout, child.stderr] as ({ ref?: () => void; unref?: () => void } | null)[]) {
      if (ref) handle?.ref?.();
      else handle?.unref?.();
    }
  }
}
