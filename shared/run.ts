// The one runner for shell-outs: argv arrays only (never a shell line), the command is logged,
// and a failure carries the command and its stderr.
import { execa, type Options } from 'execa';

export class CommandError extends Error {
  constructor(readonly argv: string[], readonly exitCode: number | undefined, readonly stderr: string) {
    super(`${argv.join(' ')} failed (exit ${exitCode ?? '?'}): ${stderr.trim().split('\n').slice(-3).join(' | ')}`);
    this.name = 'CommandError';
  }
}

export interface RunOptions extends Pick<Options, 'cwd' | 'env' | 'timeout'> {
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

export async function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const r = await execa(cmd, args, { reject: false, cwd: opts.cwd, env: opts.env, timeout: opts.timeout, ...(opts.inputFile ? { inputFile: opts.inputFile } : { input: opts.input }) });
  const result = { stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? ''), exitCode: r.exitCode ?? -1 };
  if (result.exitCode !== 0 && !opts.allowFailure) {
    throw new CommandError([cmd, ...args], r.exitCode, result.stderr || String(r.message ?? ''));
  }
  return result;
}
