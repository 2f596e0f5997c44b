// singlevm/actions/control-plane.ts: the scheduler runs on jemalloc where the machine has it, and on
// glibc's malloc, as before, where it does not; identity with a smaller young generation.
import t from 'tap';
import { existsSync } from 'node:fs';
import { run } from '../../shared/run.ts';
import { CONTROL_PLANE_RUN, IDENTITY_RUN, JEMALLOC, jemallocRun } from '../../singlevm/actions/control-plane.ts';

t.test('without the library: the settings are the control plane\'s, untouched', async (t) => {
  t.same(jemallocRun(CONTROL_PLANE_RUN, false), CONTROL_PLANE_RUN);
});

t.test('with it: preloaded, pages given back at once, the other settings kept', async (t) => {
  const r = jemallocRun(CONTROL_PLANE_RUN, true);
  t.same(r.nodeArgs, CONTROL_PLANE_RUN.nodeArgs);
  t.equal(r.env?.MALLOC_MMAP_THRESHOLD_, CONTROL_PLANE_RUN.env?.MALLOC_MMAP_THRESHOLD_);
  t.equal(r.env?.LD_PRELOAD, JEMALLOC);
  t.match(r.env?.MALLOC_CONF, /(^|,)dirty_decay_ms:0(,|$)/);
  t.same(CONTROL_PLANE_RUN.env, { MALLOC_MMAP_THRESHOLD_: String(128 * 1024) }, 'the shared settings are not changed');
});

t.test('node starts with it and maps it (jemalloc does not know the option names wrong: it would say so on stderr)', { skip: !existsSync(JEMALLOC) && 'libjemalloc2 is not installed' }, async (t) => {
  const r = jemallocRun(CONTROL_PLANE_RUN, true);
  const out = await run(process.execPath, [...(r.nodeArgs ?? []), '-e', "process.stdout.write(require('node:fs').readFileSync('/proc/self/maps', 'utf8'))"], { env: { ...process.env, ...r.env } });
  t.match(out.stdout, /libjemalloc\.so\.2/);
  t.equal(out.stderr, '', 'no complaint about MALLOC_CONF');
});

t.test('identity: a 1 MB semi-space, the control plane\'s malloc setting', async (t) => {
  t.same(IDENTITY_RUN.nodeArgs, ['--max-semi-space-size=1']);
  t.same(IDENTITY_RUN.env, CONTROL_PLANE_RUN.env);
});
