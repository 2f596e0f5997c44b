// The one runner for shell-outs: argv arrays only (never a shell line), the command is logged,
// and a failure carries the command and its stderr.
import { execa, type Options } from 'execa';
import { SpawnHelper } from './spawn-helper.ts';

export class CommandError extends Error {
  constructor(readonly argv: string[], readonly exitCode: number | undefined, readonly stderr: string) {
    super(`${argv.join(' ')} failed (exit ${exitCode ?? '?'}): ${stderr.trim().split('\n').slice(-3).join(' | ')}`);
    this.name = 'CommandError';
  }
}

export interface RunOptions extends Pick<Options, 'cwd' | 'timeout'> {
  env?: Record<string, string | undefined>;
  input?: string;
  /** A file to read stdin from (binary-safe, unlike input). */
  inputFile?: string;
  /** Non-zero exit is returned instead of thrown. */
  allowFailure?: boolean;
}

export interface RunResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

let helper: SpawnHelper | undefined;

/** From now on this process's commands run from a small process of its own, which is cheaper for
 *  a large process that runs many (docs/spawn-helper.md). CIAO_SPAWN_HELPER=0: they do not. */
export function useSpawnHelper(): void {
  if (process.env.CIAO_SPAWN_HELPER === '0') return;
  helper ??= new SpawnHelper();
}

export async function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const r = helper ? await runThroughHelper(helper, cmd, args, opts) : await runHere(cmd, args, opts);
  if (r.exitCode !== 0 && !opts.allowFailure) throw new CommandError([cmd, ...args], r.code, r.stderr || r.failure);
  return { stdout: r.stdout, stderr: r.stderr, exitCode: r.exitCode };
}

/** A command's result, with its exit code as execa gives it (undefined: killed, or never ran) and
 *  why it failed beyond its stderr. */
interface Outcome extends RunResult {
  code: number | undefined;
  failure: string;
}

async function runHere(cmd: string, args: readonly string[], opts: RunOptions): Promise<Outcome> {
  const r = await execa(cmd, args, { reject: false, cwd: opts.cwd, env: opts.env, timeout: opts.timeout, ...(opts.inputFile ? { inputFile: opts.inputFile } : { input: opts.input }) });
  return { stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? ''), exitCode: r.exitCode ?? -1, code: r.exitCode, failure: String(r.message ?? '') };
}

async function runThroughHelper(h: SpawnHelper, cmd: string, args: readonly string[], opts: RunOptions): Promise<Outcome> {
  const a = await h.run({
    file: cmd, args, cwd: opts.cwd === undefined ? undefined : String(opts.cwd), env: opts.env, timeoutMs: opts.timeout,
    ...(opts.inputFile ? { inputFile: opts.inputFile } : { input: opts.input }),
  });
  if ('error' in a) return { stdout: '', stderr: '', exitCode: -1, code: undefined, failure: a.error };
  const failure = a.timedOut ? `timed out after ${opts.timeout} ms: killed` : a.signal ? `killed by ${a.signal}` : `exit ${a.exitCode}`;
  return { stdout: a.stdout, stderr: a.stderr, exitCode: a.exitCode ?? -1, code: a.exitCode ?? undefined, failure };
}
