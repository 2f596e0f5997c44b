// The spawn helper (docs/spawn-helper.md): runs the commands its parent sends, one JSON line each,
// and answers with what each printed. A fork from this small process is cheap where a fork from a
// large one is not. Plain JavaScript with no dependencies, loaded from its source folder both under
// tsx and from the daemons' bundles.
import { spawn } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import { createInterface } from 'node:readline';

const KILL_AFTER_MS = 5000;

/** The environment of a command that names none: the helper's first line. */
let baseEnv;

const fail = (why) => {
  process.stderr.write(`spawn-helper: ${why}\n`);
  process.exit(2);
};

const answer = (a) => process.stdout.write(`${JSON.stringify(a)}\n`);
// The parent is gone: nobody reads the answers any more; the commands still running end as they would.
process.stdout.on('error', () => {});

const stripFinalNewline = (s) => (s.endsWith('\r\n') ? s.slice(0, -2) : s.endsWith('\n') ? s.slice(0, -1) : s);

const isStrings = (v) => Array.isArray(v) && v.every((x) => typeof x === 'string');
const isEnv = (v) => typeof v === 'object' && v !== null && !Array.isArray(v) && Object.values(v).every((x) => typeof x === 'string');
const optional = (v, ok) => v === undefined || ok(v);

function runCommand(req) {
  let stdin = 'ignore';
  if (req.inputFile !== undefined) {
    try {
      stdin = openSync(req.inputFile, 'r');
    } catch (err) {
      answer({ id: req.id, error: err.message });
      return;
    }
  } else if (req.input !== undefined) {
    stdin = 'pipe';
  }
  let child;
  try {
    child = spawn(req.file, req.args, { cwd: req.cwd, env: req.env ?? baseEnv, stdio: [stdin, 'pipe', 'pipe'] });
  } catch (err) {
    answer({ id: req.id, error: err.message });
    return;
  } finally {
    if (typeof stdin === 'number') closeSync(stdin);
  }
  const out = [];
  const err = [];
  let timedOut = false;
  let failed;
  let killer;
  child.stdout.on('data', (d) => out.push(d));
  child.stderr.on('data', (d) => err.push(d));
  child.on('error', (e) => (failed = e));
  if (stdin === 'pipe') {
    child.stdin.on('error', () => {}); // a command that exits without reading its input
    child.stdin.end(req.input);
  }
  const timer =
    req.timeoutMs === undefined
      ? undefined
      : setTimeout(() => {
          timedOut = true;
          child.kill('SIGTERM');
          killer = setTimeout(() => child.kill('SIGKILL'), KILL_AFTER_MS);
        }, req.timeoutMs);
  child.on('close', (exitCode, signal) => {
    clearTimeout(timer);
    clearTimeout(killer);
    if (failed && child.pid === undefined) {
      // It never started (no such command, no such folder).
      answer({ id: req.id, error: failed.message });
      return;
    }
    answer({
      id: req.id,
      exitCode,
      signal,
      stdout: stripFinalNewline(Buffer.concat(out).toString('utf8')),
      stderr: stripFinalNewline(Buffer.concat(err).toString('utf8')),
      timedOut,
    });
  });
}

createInterface({ input: process.stdin, crlfDelay: Infinity }).on('line', (line) => {
  let req;
  try {
    req = JSON.parse(line);
  } catch {
    fail(`not JSON: ${line.slice(0, 200)}`);
  }
  if (baseEnv === undefined) {
    if (!isEnv(req?.env)) fail('the first line must be {"env": {…}}');
    baseEnv = req.env;
    return;
  }
  const ok =
    typeof req === 'object' && req !== null && Number.isSafeInteger(req.id) && typeof req.file === 'string' && isStrings(req.args) &&
    optional(req.cwd, (v) => typeof v === 'string') && optional(req.env, isEnv) && optional(req.input, (v) => typeof v === 'string') &&
    optional(req.inputFile, (v) => typeof v === 'string') && optional(req.timeoutMs, (v) => Number.isSafeInteger(v) && v > 0);
  if (!ok) fail(`not a command: ${line.slice(0, 200)}`);
  runCommand(req);
});
