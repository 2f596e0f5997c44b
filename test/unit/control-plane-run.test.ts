// singlevm/actions/control-plane.ts: each daemon's memory settings, derived from the control plane's.
import t from 'tap';
import { CONTROL_PLANE_RUN, IDENTITY_RUN, SCHEDULER_RUN } from '../../singlevm/actions/control-plane.ts';

t.test('the scheduler: a 64 KB mmap threshold (each TLS input buffer a mapping of its own), the same V8 flags', async (t) => {
  t.same(SCHEDULER_RUN.env, { MALLOC_MMAP_THRESHOLD_: '65536' });
  t.same(SCHEDULER_RUN.nodeArgs, CONTROL_PLANE_RUN.nodeArgs);
});

t.test('identity: a 1 MB semi-space, the control plane\'s malloc setting', async (t) => {
  t.same(IDENTITY_RUN.nodeArgs, ['--max-semi-space-size=1']);
  t.same(IDENTITY_RUN.env, CONTROL_PLANE_RUN.env);
});

t.test('the controller\'s settings are not changed by the others\'', async (t) => {
  t.same(CONTROL_PLANE_RUN, { nodeArgs: ['--max-semi-space-size=2'], env: { MALLOC_MMAP_THRESHOLD_: String(128 * 1024) } });
});
