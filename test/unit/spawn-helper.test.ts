// The spawn helper (shared/spawn-helper.ts and .mjs, docs/spawn-helper.md): run() gives a command
// through it what it gave through execa (output, exit codes, failures, input, environment, folder,
// timeouts); commands run side by side; a helper that dies fails what waited and is started again;
// a bad line ends it; an idle helper keeps nobody alive.
import t from 'tap';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CommandError, run, useSpawnHelper, type RunOptions } from '../../shared/run.ts';
import { SpawnHelper } from '../../shared/spawn-helper.ts';
import { tempDir } from '../../shared/temp-dir.ts';
import { waitFor } from '../../shared/wait-for.ts';

const { path: dir, remove } = tempDir('spawn-helper');
t.teardown(remove);
await writeFile(join(dir, 'bytes'), Buffer.from([0, 1, 2, 255, 10, 13, 10]));

/** What run() gives: its result, or the CommandError it throws. */
const outcome = (cmd: string, args: string[], opts?: RunOptions) =>
  run(cmd, args, opts).then(
    (r) => ({ ...r }),
    (err: unknown) => (err instanceof CommandError ? { argv: err.argv, exitCode: err.exitCode, stderr: err.stderr } : { threw: String(err) }),
  );

const cases: [string, string, string[], RunOptions?][] = [
  ['stdout and stderr, one final newline cut', 'sh', ['-c', 'printf "a\\nb\\n\\n"; printf "e\\n" >&2']],
  ['a CRLF cut as one newline', 'printf', ['x\r\n']],
  ['UTF-8 output', 'printf', ['h\u00e9llo \u2603']],
  ['a non-zero exit thrown with its stderr', 'sh', ['-c', 'echo bad >&2; exit 3']],
  ['a non-zero exit returned when allowed', 'sh', ['-c', 'echo out; exit 4'], { allowFailure: true }],
  ['input on stdin', 'cat', [], { input: 'line one\nline two' }],
  ['an empty input', 'wc', ['-c'], { input: '' }],
  ['input from a file, binary-safe', 'od', ['-An', '-tx1'], { inputFile: join(dir, 'bytes') }],
  ['the environment added to', 'sh', ['-c', 'echo "$CIAO_T_A:$CIAO_T_B:${PATH:+path}"'], { env: { CIAO_T_A: 'one', CIAO_T_B: 'two' } }],
  ['the folder', 'pwd', [], { cwd: dir }],
  ['large output', 'head', ['-c', '300000', '/dev/zero'], {}],
];
const failures: [string, string, string[], RunOptions?][] = [
  ['a command that does not exist', 'no-such-command-ciao', []],
  ['a folder that does not exist', 'pwd', [], { cwd: join(dir, 'missing') }],
];

const before = await Promise.all([...cases, ...failures].map(([, cmd, args, opts]) => outcome(cmd, args, opts)));
useSpawnHelper();
const after = await Promise.all([...cases, ...failures].map(([, cmd, args, opts]) => outcome(cmd, args, opts)));

t.test('run() through the helper gives what it gave through execa', async (t) => {
  cases.forEach(([name], i) => t.same(after[i], before[i], name));
  t.equal((after[0] as { stdout: string }).stdout, 'a\nb\n', 'one newline cut, not all');
  t.equal((after[10] as { stdout: string }).stdout.length, 300000, 'all of a large output');
  // execa left stdin a pipe it never closed, so a command that read it waited for ever.
  t.same(await run('wc', ['-c']), { stdout: '0', stderr: '', exitCode: 0 }, 'no input: stdin is empty, not a pipe left open');
});

t.test('a command that cannot start fails as a command that ran and failed', async (t) => {
  failures.forEach(([name], i) => {
    const a = after[cases.length + i] as { argv?: string[]; exitCode?: number; stderr?: string };
    const b = before[cases.length + i] as typeof a;
    t.same(a.argv, b.argv, `${name}: the command named`);
    t.equal(a.exitCode, undefined, `${name}: no exit code`);
    t.match(a.stderr, /ENOENT/, `${name}: the reason`);
  });
  const r = await run('no-such-command-ciao', [], { allowFailure: true });
  t.equal(r.exitCode, -1, 'allowed: exit -1, as execa gave it');
  // execa ran the command with an empty stdin instead, and said it exited 0.
  const err = await run('cat', [], { inputFile: join(dir, 'missing') }).catch((e: unknown) => e);
  t.ok(err instanceof CommandError && /ENOENT/.test(err.message), 'an input file that does not exist: the command fails, naming why');
});

t.test('a timeout ends the command', async (t) => {
  const start = Date.now();
  const err = await run('sleep', ['30'], { timeout: 200 }).catch((e: unknown) => e);
  t.ok(err instanceof CommandError, 'thrown');
  t.equal((err as CommandError).exitCode, undefined, 'killed: no exit code');
  t.match((err as CommandError).message, /timed out after 200 ms/);
  t.ok(Date.now() - start < 10_000, 'not waited out');
});

t.test('commands run side by side, each answered with its own output', async (t) => {
  // The first waits (20 s at most) for a file the second makes: one after the other, it would end
  // first, having waited in vain.
  const flag = join(dir, 'side-by-side');
  const [first, second] = await Promise.all([
    run('timeout', ['20', 'sh', '-c', `until [ -e ${flag} ]; do sleep 0.01; done; echo saw it`], { allowFailure: true }),
    run('sh', ['-c', `touch ${flag}; echo made it`]),
  ]);
  t.same([first.exitCode, first.stdout], [0, 'saw it'], 'the first saw what the second made while it ran');
  t.equal(second.stdout, 'made it');
  const outs = await Promise.all(Array.from({ length: 8 }, (_, i) => run('sh', ['-c', `echo ${i}`])));
  t.same(outs.map((o) => o.stdout), ['0', '1', '2', '3', '4', '5', '6', '7'], 'each answer to its own command');
});

t.test('a helper that dies fails the commands waiting, and the next command starts a new one', async (t) => {
  const h = new SpawnHelper();
  t.teardown(() => h.close());
  const pid = Number((await h.run({ file: 'sh', args: ['-c', 'echo $PPID'] }) as { stdout: string }).stdout);
  const waiting = h.run({ file: 'sleep', args: ['30'] });
  process.kill(pid, 'SIGKILL');
  t.match(await waiting, { error: /the spawn helper exited \(SIGKILL\) before the command ended/ });
  const again = await h.run({ file: 'sh', args: ['-c', 'echo $PPID'] });
  t.match(again, { exitCode: 0 }, 'the next command runs');
  t.not(Number((again as { stdout: string }).stdout), pid, 'in a new helper');
});

t.test('a line that is not a command ends the helper with exit 2 and the reason', async (t) => {
  for (const [first, line, why] of [
    ['{"env":{}}', 'not json', /not JSON/],
    ['{"env":{}}', '{"id":1,"file":"ls","args":"-l"}', /not a command/],
    ['{"id":1,"file":"ls","args":[]}', '', /the first line must be/],
  ] as const) {
    const helper = spawn(process.execPath, [join(import.meta.dirname, '../../shared/spawn-helper.mjs')], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    helper.stderr.on('data', (d: Buffer) => (stderr += d));
    helper.stdin.write(`${first}\n${line}\n`);
    const [code] = await once(helper, 'close');
    t.equal(code, 2, `${line || first}: exit 2`);
    t.match(stderr, why);
  }
});

t.test('an idle helper keeps nobody alive; a busy one keeps its parent until it answers', async (t) => {
  const script = `
    import { run, useSpawnHelper } from ${JSON.stringify(join(import.meta.dirname, '../../shared/run.ts'))};
    useSpawnHelper();
    const r = await run('sh', ['-c', 'sleep 0.3; echo done']);
    console.log(r.stdout);`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const [code, signal] = await once(child, 'close');
  clearTimeout(timer);
  t.same([code, signal], [0, null], 'the parent ended on its own, not killed');
  t.equal(out.trim(), 'done', 'after its command answered');
});

t.test('a parent killed with SIGKILL leaves no helper behind', async (t) => {
  const script = `
    import { run, useSpawnHelper } from ${JSON.stringify(join(import.meta.dirname, '../../shared/run.ts'))};
    useSpawnHelper();
    const r = await run('sh', ['-c', 'echo $PPID']);
    console.log(r.stdout);
    setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d));
  await waitFor('the helper to say its pid', async () => /^\d+\n/.test(out), { timeoutMs: 30_000, intervalMs: 20 });
  const helperPid = Number(out.trim());
  t.ok(alive(helperPid), 'the helper runs beside its parent');
  child.kill('SIGKILL');
  await once(child, 'close');
  await waitFor('the helper to end after its parent', async () => !alive(helperPid), { timeoutMs: 10_000, intervalMs: 20 });
  t.notOk(alive(helperPid), 'gone once its stdin closed');
});

/** Whether a process runs (a zombie no longer does: its parent has not reaped it). */
function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}
