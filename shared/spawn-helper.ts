// The spawn helper's client (docs/spawn-helper.md): a small process of its own runs the commands,
// so that a large process does not pay a fork for each. run() (shared/run.ts) uses it once the
// process has called useSpawnHelper().
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { join } from 'node:path';
import type { Socket } from 'node:net';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { z } from 'zod';

const HELPER = join(import.meta.dirname, 'spawn-helper.mjs');

/** What the helper answers for one command. */
const Answer = z.union([
  z.object({ id: z.number().int(), error: z.string() }),
  z.object({
    id: z.number().int(), exitCode: z.number().int().nullable(), signal: z.string().nullable(),
    stdout: z.string(), stderr: z.string(), timedOut: z.boolean(),
  }),
]);
export type HelperAnswer = z.infer<typeof Answer>;

export interface HelperRequest {
  file: string;
  args: readonly string[];
  cwd?: string;
  /** Added to the environment, as execa's env does. */
  env?: Record<string, string | undefined>;
  input?: string;
  inputFile?: string;
  timeoutMs?: number;
}

type Helper = ChildProcessByStdio<Writable, Readable, null>;

/** One helper process, started at the first command and again after it died. */
export class SpawnHelper {
  private helper: Helper | undefined;
  /** The commands sent and not answered yet, by id. */
  private readonly waiting = new Map<number, (a: HelperAnswer) => void>();
  private nextId = 1;

  run(req: HelperRequest): Promise<HelperAnswer> {
    const helper = this.helper ?? this.start();
    const id = this.nextId++;
    const line = JSON.stringify({
      id, file: req.file, args: req.args, cwd: req.cwd, input: req.input, inputFile: req.inputFile, timeoutMs: req.timeoutMs,
      env: req.env && definedOnly({ ...process.env, ...req.env }),
    });
    return new Promise((resolve) => {
      this.waiting.set(id, resolve);
      this.hold(helper);
      helper.stdin.write(`${line}\n`);
    });
  }

  /** Ends the helper (it lets the commands it runs end first). */
  close(): void {
    this.helper?.stdin.end();
    this.helper = undefined;
  }

  private start(): Helper {
    const env = { ...process.env };
    delete env.NODE_OPTIONS;
    const helper = spawn(process.execPath, ['--max-semi-space-size=1', HELPER], { env, stdio: ['pipe', 'pipe', 'inherit'] });
    this.helper = helper;
    let why = '';
    const died = (reason: string) => {
      if (this.helper === helper) this.helper = undefined;
      why ||= reason;
      for (const [id, resolve] of this.waiting) {
        this.waiting.delete(id);
        resolve({ id, error: `the spawn helper exited (${why}) before the command ended` });
      }
    };
    helper.on('error', (err) => died(err.message));
    // 'close', not 'exit': answers it wrote before it ended are read first.
    helper.on('close', (code, signal) => died(signal ?? `exit ${code}`));
    helper.stdin.on('error', (err) => died(err.message));
    createInterface({ input: helper.stdout, crlfDelay: Infinity }).on('line', (line) => {
      let parsed;
      try {
        parsed = Answer.safeParse(JSON.parse(line));
      } catch {
        parsed = undefined;
      }
      if (!parsed?.success) {
        why = `it answered ${JSON.stringify(line.slice(0, 200))}`;
        helper.kill('SIGKILL');
        return;
      }
      const resolve = this.waiting.get(parsed.data.id);
      this.waiting.delete(parsed.data.id);
      resolve?.(parsed.data);
      this.hold(helper);
    });
    helper.stdin.write(`${JSON.stringify({ env: definedOnly(process.env) })}\n`);
    return helper;
  }

  /** The helper keeps its parent alive only while a command is waiting. */
  private hold(helper: Helper): void {
    const busy = this.waiting.size > 0;
    for (const h of [helper, helper.stdout as Socket, helper.stdin as Socket]) {
      if (busy) h.ref();
      else h.unref();
    }
  }
}

/** An environment as the helper takes it: names with a value. */
const definedOnly = (env: Record<string, string | undefined>) =>
  Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined));
