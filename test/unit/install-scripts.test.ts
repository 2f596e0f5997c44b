import t from 'tap';
import { access, chmod, copyFile, link, mkdir, readFile, readdir, realpath, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../../shared/run.ts';
import { withTempDir } from '../../shared/temp-dir.ts';

// scripts/ensure-deps.sh in a copy of the project whose npm and install-system-deps.sh are fakes
// that write down what they were asked: which install steps run, in what order, and what is
// printed. The fake better-sqlite3 loads only once its "compiled" module is there.
const REPO = join(import.meta.dirname, '..', '..');
const exists = (f: string) => access(f).then(() => true, () => false);

const FAKE_NPM = `#!/usr/bin/env bash
echo "npm $*" >>"$FAKE_CALLS"
case "$1 $2" in
  "ci "*)
    [ -n "\${FAKE_FIFO:-}" ] && read -r _ <"$FAKE_FIFO"
    if [ "\${FAKE_FAIL:-}" = ci ]; then echo "npm error network fetch failed"; echo "npm error fake failure, last line"; exit 1; fi
    rm -rf node_modules && mkdir -p node_modules/better-sqlite3
    echo '{"version": "12.11.1"}' >node_modules/better-sqlite3/package.json
    echo 'if (!require("fs").existsSync(__dirname + "/build/Release/better_sqlite3.node")) throw new Error("not built"); module.exports = class {};' >node_modules/better-sqlite3/index.js
    if [ -n "\${FAKE_AMALGAMATION:-}" ]; then
      mkdir -p node_modules/better-sqlite3/deps/sqlite3
      printf "{\\n  'defines': [\\n    'HAVE_USLEEP=1',\\n    'SQLITE_DEFAULT_CACHE_SIZE=-16000',\\n    'SQLITE_ENABLE_FTS5',\\n    'SQLITE_ENABLE_RTREE',\\n    'SQLITE_ENABLE_STAT4',\\n    'SQLITE_THREADSAFE=2',\\n  ],\\n}\\n" >node_modules/better-sqlite3/deps/defines.gypi
      echo "/* the amalgamation */" >node_modules/better-sqlite3/deps/sqlite3/sqlite3.c
      echo "/* its header */" >node_modules/better-sqlite3/deps/sqlite3/sqlite3.h
    fi
    echo "added 3 packages in 1s" ;;
  "rebuild better-sqlite3") echo "\${npm_config_sqlite3:-}" >"$FAKE_CALLS.sqlite3"
    [ -n "\${FAKE_COMPILE_FIFO:-}" ] && read -r _ <"$FAKE_COMPILE_FIFO"
    mkdir -p node_modules/better-sqlite3/build/Release && echo compiled >node_modules/better-sqlite3/build/Release/better_sqlite3.node ;;
esac
`;
const FAKE_SYSTEM = `#!/usr/bin/env bash
echo "system $*" >>"$FAKE_CALLS"
[ -n "\${FAKE_FIFO:-}" ] && echo go >"$FAKE_FIFO"
exit 0
`;

async function project(dir: string) {
  const root = join(dir, 'project');
  await mkdir(join(root, 'scripts', 'lib'), { recursive: true });
  await mkdir(join(dir, 'bin'));
  for (const f of ['scripts/ensure-deps.sh', 'scripts/lib/phases.sh']) await copyFile(join(REPO, f), join(root, f));
  await writeFile(join(root, 'scripts', 'install-system-deps.sh'), FAKE_SYSTEM, { mode: 0o755 });
  await writeFile(join(dir, 'bin', 'npm'), FAKE_NPM);
  await chmod(join(dir, 'bin', 'npm'), 0o755);
  await writeFile(join(root, 'package.json'), '{}\n');
  await writeFile(join(root, 'package-lock.json'), '{}\n');
  const calls = join(dir, 'calls');
  const env = { ...process.env, PATH: `${join(dir, 'bin')}:${process.env.PATH}`, FAKE_CALLS: calls, XDG_CACHE_HOME: join(dir, 'cache'), CIAO_DEPS_LOG: '' };
  return {
    root,
    /** With its output in a file: a compile left going keeps stderr open after the script returns. */
    ensureTo: (log: string, args: string[], extra: NodeJS.ProcessEnv = {}) =>
      run('bash', ['-c', '"$0" "$@" >"$LOG" 2>&1', join(root, 'scripts', 'ensure-deps.sh'), ...args], { env: { ...env, ...extra, LOG: log }, allowFailure: true, timeout: 30_000 }),
    ensure: (args: string[] = [], extra: NodeJS.ProcessEnv = {}) =>
      run(join(root, 'scripts', 'ensure-deps.sh'), args, { env: { ...env, ...extra }, allowFailure: true, timeout: 30_000 }),
    /** The fakes' calls since the last look. */
    calls: async () => {
      const text = await readFile(calls, 'utf8').catch(() => '');
      await writeFile(calls, '');
      return text.split('\n').filter(Boolean);
    },
    /** package-lock.json changed after the last install. */
    newLock: () => utimes(join(root, 'package-lock.json'), new Date(), new Date(Date.now() + 60_000)),
  };
}

const NPM_CI = 'npm ci --ignore-scripts --no-audit --no-fund';
const ESBUILD = 'npm rebuild esbuild --foreground-scripts';
const COMPILE = 'npm rebuild better-sqlite3 --foreground-scripts';

t.test('a fresh clone: the packages without their install scripts, esbuild checked, better-sqlite3 compiled once; then nothing', async (t) => {
  await withTempDir('ensure-deps-test', async (dir) => {
    const p = await project(dir);
    const first = await p.ensure();
    t.equal(first.exitCode, 0, first.stderr);
    t.same(await p.calls(), [NPM_CI, ESBUILD, COMPILE]);
    t.match(first.stderr, /full output goes to (\S+\.log)/);
    t.match(first.stderr, /npm packages\s+\d+\.\d s\s+\(3 packages\)/, 'one line for npm, with what it added');
    t.match(first.stderr, /better-sqlite3 \(native module\)\s+\d+\.\d s\s+\(compiled\)/);
    t.notMatch(first.stderr, /added 3 packages in/, "npm's own output is in the log, not on the terminal");
    const log = await readFile(/full output goes to (\S+\.log)/.exec(first.stderr)![1], 'utf8');
    t.match(log, /^\[npm\] added 3 packages in 1s$/m, "the log keeps npm's output, tagged with its phase");
    const second = await p.ensure();
    t.equal(second.exitCode, 0);
    t.same(await p.calls(), [], 'installed: nothing runs');
    t.equal(second.stderr, '', 'and nothing is printed');
  });
});

t.test('a new lock installs the packages again but copies the compiled module instead of compiling it twice', async (t) => {
  await withTempDir('ensure-deps-test', async (dir) => {
    const p = await project(dir);
    t.equal((await p.ensure()).exitCode, 0);
    await p.calls();
    await p.newLock();
    const again = await p.ensure();
    t.equal(again.exitCode, 0, again.stderr);
    t.same(await p.calls(), [NPM_CI, ESBUILD], 'no second compile');
    t.match(again.stderr, /better-sqlite3 \(native module\)\s+\d+\.\d s\s+\(kept from an earlier build\)/);
    t.same(await readdir(join(dir, 'cache', 'ciao', 'native')), ['better-sqlite3-12.11.1-abi' + process.versions.modules + `-${process.platform}-${process.arch}`],
      'kept by version and Node ABI');
  });
});

t.test('--native-background returns while better-sqlite3 compiles, and again while it does; ensure-deps.sh --prod then waits for that compile instead of starting another', async (t) => {
  await withTempDir('ensure-deps-test', async (dir) => {
    const p = await project(dir);
    const fifo = join(dir, 'compile-fifo');
    await run('mkfifo', [fifo]);
    const pending = join(p.root, 'node_modules', '.ciao-native-pending');
    const stamp = join(p.root, 'node_modules', '.ciao-deps-stamp');
    // The fake compile blocks on the fifo: this returns only if it does not wait for the compile.
    const first = await p.ensureTo(join(dir, 'first.log'), ['--prod', '--native-background'], { FAKE_COMPILE_FIFO: fifo });
    t.equal(first.exitCode, 0, await readFile(join(dir, 'first.log'), 'utf8'));
    t.ok(await exists(pending), 'the compile is marked as going on');
    t.notOk(await exists(stamp), 'the module is not stamped as built yet');
    const second = await p.ensureTo(join(dir, 'second.log'), ['--prod', '--native-background'], { FAKE_COMPILE_FIFO: fifo });
    t.equal(second.exitCode, 0, 'a second call (setup.sh after cleanup.sh) returns: the compile going is left to go on');
    const waiter = p.ensure(['--prod']);
    await writeFile(fifo, 'go\n');
    const waited = await waiter;
    t.equal(waited.exitCode, 0, waited.stderr);
    t.same(await p.calls(), [`${NPM_CI} --omit=dev`, ESBUILD, COMPILE], 'compiled once');
    t.notOk(await exists(pending), 'the mark is gone once the module is built');
    t.ok(await exists(stamp));
    const again = await p.ensure(['--prod', '--native-background']);
    t.equal(again.exitCode, 0);
    t.same(await p.calls(), [], 'built: nothing runs');
    t.equal(again.stderr, '');
  });
});

t.test('--native-background without the compilers leaves the compile to a call that installs them', async (t) => {
  await withTempDir('ensure-deps-test', async (dir) => {
    const p = await project(dir);
    // Only the tools ensure-deps.sh itself runs: no g++, make or python3 on PATH.
    const bin = join(dir, 'nocc');
    await mkdir(bin);
    for (const tool of ['bash', 'node', 'cat', 'stat', 'readlink', 'rm', 'mkdir', 'touch', 'dirname', 'date', 'ls', 'tail', 'xargs', 'awk', 'sed', 'head', 'grep', 'flock', 'cp', 'mv']) {
      const found = await run('bash', ['-c', `command -v ${tool}`], { allowFailure: true });
      if (found.exitCode === 0) await link(await realpath(found.stdout.trim()), join(bin, tool)).catch(() => copyFile(found.stdout.trim(), join(bin, tool)));
    }
    const r = await p.ensure(['--prod', '--native-background'], { PATH: `${join(dir, 'bin')}:${bin}` });
    t.equal(r.exitCode, 0, r.stderr);
    t.same(await p.calls(), [`${NPM_CI} --omit=dev`, ESBUILD], 'the packages only: no compile, no apt');
  });
});

t.test("better-sqlite3 compiles its own SQLite with its own options, less the extensions nothing here uses", async (t) => {
  await withTempDir('ensure-deps-test', async (dir) => {
    const p = await project(dir);
    const r = await p.ensure(['--prod'], { FAKE_AMALGAMATION: '1' });
    t.equal(r.exitCode, 0, r.stderr);
    const folder = (await readFile(join(dir, 'calls.sqlite3'), 'utf8')).trim();
    t.equal(folder, join(await realpath(p.root), 'node_modules', '.ciao-sqlite3'), 'a custom amalgamation: npm_config_sqlite3');
    t.equal(await readFile(join(folder, 'sqlite3.c'), 'utf8'), [
      "/* better-sqlite3's SQLite less the extensions ciao does not use (scripts/ensure-deps.sh) */",
      '#define HAVE_USLEEP 1', '#define SQLITE_DEFAULT_CACHE_SIZE -16000', '#define SQLITE_ENABLE_STAT4 1', '#define SQLITE_THREADSAFE 2',
      `#include "${join(await realpath(p.root), 'node_modules', 'better-sqlite3', 'deps', 'sqlite3', 'sqlite3.c')}"`, '',
    ].join('\n'), "its options as defines.gypi has them (a bare one is 1), without FTS5 and R-tree; then the original included");
    t.equal(await readFile(join(folder, 'sqlite3.h'), 'utf8'), '/* its header */\n');
  });
});

t.test('without an amalgamation to include, better-sqlite3 compiles as it comes', async (t) => {
  await withTempDir('ensure-deps-test', async (dir) => {
    const p = await project(dir);
    t.equal((await p.ensure(['--prod'])).exitCode, 0);
    t.equal(await readFile(join(dir, 'calls.sqlite3'), 'utf8'), '\n', 'no npm_config_sqlite3');
  });
});

t.test('--js installs only the JavaScript packages; the native module comes with the first full check', async (t) => {
  await withTempDir('ensure-deps-test', async (dir) => {
    const p = await project(dir);
    t.equal((await p.ensure(['--js'])).exitCode, 0);
    t.same(await p.calls(), [NPM_CI, ESBUILD]);
    t.equal((await p.ensure(['--js'])).exitCode, 0);
    t.same(await p.calls(), [], '--js again: nothing');
    t.equal((await p.ensure()).exitCode, 0);
    t.same(await p.calls(), [COMPILE], 'the packages are not installed again');
  });
});

t.test('--prod installs the runtime packages only; a later call without it installs the rest, the compiled module copied back', async (t) => {
  await withTempDir('ensure-deps-test', async (dir) => {
    const p = await project(dir);
    const first = await p.ensure(['--prod']);
    t.equal(first.exitCode, 0, first.stderr);
    t.same(await p.calls(), [`${NPM_CI} --omit=dev`, ESBUILD, COMPILE]);
    t.match(first.stderr, /npm packages \(runtime\)/);
    t.equal((await p.ensure(['--prod'])).exitCode, 0);
    t.same(await p.calls(), [], 'installed: nothing runs');
    const all = await p.ensure();
    t.equal(all.exitCode, 0, all.stderr);
    t.same(await p.calls(), [NPM_CI, ESBUILD], 'all of them now; better-sqlite3 not compiled again');
    t.match(all.stderr, /\(kept from an earlier build\)/);
    t.equal((await p.ensure(['--prod'])).exitCode, 0);
    t.same(await p.calls(), [], 'all of them are more than --prod asks for');
  });
});

t.test("a failing phase says which, and shows its output's last lines and where the log is", async (t) => {
  await withTempDir('ensure-deps-test', async (dir) => {
    const p = await project(dir);
    const r = await p.ensure([], { FAKE_FAIL: 'ci' });
    t.not(r.exitCode, 0);
    t.match(r.stderr, /npm packages\s+failed after\s+\d+\.\d s \(exit 1\); its last lines \(all of them in \S+\.log\)/);
    t.match(r.stderr, /\| npm error fake failure, last line/);
    t.same(await p.calls(), [NPM_CI], 'nothing after the failed phase');
  });
});

t.test("--system installs Debian's packages at the same time as npm's", async (t) => {
  await withTempDir('ensure-deps-test', async (dir) => {
    const p = await project(dir);
    // The fake npm ci waits for the fake apt to write into this pipe: one after the other, neither
    // would end (the run's timeout fails the test).
    const fifo = join(dir, 'fifo');
    await run('mkfifo', [fifo]);
    const r = await p.ensure(['--system', '--cluster'], { FAKE_FIFO: fifo });
    t.equal(r.exitCode, 0, r.stderr);
    t.same((await p.calls()).sort(), [COMPILE, ESBUILD, NPM_CI, 'system --cluster'].sort());
    const again = await p.ensure(['--system', '--cluster']);
    t.equal(again.exitCode, 0);
    t.same(await p.calls(), ['system --cluster'], "installed npm packages: only the system check (which installs what's missing)");
  });
});

t.test('the stamp knows Node by its size and time, not its path; another Node is checked and stamped', async (t) => {
  await withTempDir('ensure-deps-test', async (dir) => {
    const p = await project(dir);
    t.equal((await p.ensure()).exitCode, 0);
    await p.calls();
    const stamp = join(p.root, 'node_modules', '.ciao-deps-stamp');
    const before = await readFile(stamp, 'utf8');
    // The same binary at another path (ccloudvm's VM: the host's Node copied with its time to
    // /usr/local/bin) finds the stamp good as it is: no Node started, nothing written.
    await mkdir(join(dir, 'copy'));
    await link(await realpath(process.execPath), join(dir, 'copy', 'node'));
    const same = await p.ensure([], { PATH: `${join(dir, 'copy')}:${join(dir, 'bin')}:${process.env.PATH}` });
    t.equal(same.exitCode, 0, same.stderr);
    t.equal(await readFile(stamp, 'utf8'), before, 'the stamp is left as it was');
    // Another Node (here a wrapper: another size, another time) loads the module once and is stamped.
    await mkdir(join(dir, 'other'));
    await writeFile(join(dir, 'other', 'node'), `#!/bin/sh\nexec ${process.execPath} "$@"\n`, { mode: 0o755 });
    const other = await p.ensure([], { PATH: `${join(dir, 'other')}:${join(dir, 'bin')}:${process.env.PATH}` });
    t.equal(other.exitCode, 0, other.stderr);
    t.not(await readFile(stamp, 'utf8'), before, 'stamped for the other Node');
    t.same(await p.calls(), [], 'the module loaded: nothing compiled');
  });
});

t.test('install-system-deps.sh: profiles add up, --native-build is the compilers, anything else is refused', async (t) => {
  const print = async (...args: string[]) => (await run(join(REPO, 'scripts', 'install-system-deps.sh'), [...args, '--print'])).stdout.trim().split('\n');
  t.same(await print('--native-build'), ['g++', 'make', 'python3']);
  const cluster = await print('--cluster');
  const both = await print('--cluster', '--native-build');
  t.same(both, [...new Set([...cluster, 'g++', 'make', 'python3'])].sort());
  t.ok(cluster.includes('qemu-system-x86') && cluster.includes('docker.io'));
  t.same(await print(), await print('--test'), 'the default is --test');
  const bad = await run(join(REPO, 'scripts', 'install-system-deps.sh'), ['--clutser'], { allowFailure: true });
  t.equal(bad.exitCode, 2);
  t.match(bad.stderr, /unknown argument --clutser/);
});
