// How the BAT runner schedules its suites (bat/lanes.ts, docs/bat.md): the cluster suite alone and
// last, the longest first, and no more tests at once than the cluster's free vcpus hold.
import t from 'tap';
import { lanes, runInSlots, testSlots, VCPUS_PER_TEST } from '../../bat/lanes.ts';

t.test('the cluster suite runs alone; the others side by side, the longest first, unknown ones last by name', async (t) => {
  t.same(lanes(['base', 'cluster', 'tenant', 'zeta', 'actions', 'alpha']), {
    sideBySide: ['actions', 'base', 'tenant', 'alpha', 'zeta'],
    alone: ['cluster'],
  });
  t.same(lanes(['cluster']), { sideBySide: [], alone: ['cluster'] });
});

t.test('as many tests at once as asked, unless the cluster\'s free vcpus hold fewer', async (t) => {
  t.same(testSlots({ suites: 4, tests: 3 }, 12 * VCPUS_PER_TEST), { slots: 12 });
  t.match(testSlots({ suites: 4, tests: 3 }, 31), { slots: 7, capped: /31 vcpus free, and a test holds up to 4/ });
  t.match(testSlots({ suites: 4, tests: 3 }, 2), { slots: 1 }, 'less than a test\'s worth: one at a time');
  t.same(testSlots({ suites: 1, tests: 1 }, 100), { slots: 1 }, '--jobs 1: one');
});

/** Runs runInSlots over suites that end when told, recording how many tests each started with. */
function harness(o: { jobs: number; tests: number; slots: number; inOrder?: string[] }, suites: string[]) {
  const ends = new Map<string, () => void>();
  const started: [string, number][] = [];
  const done = runInSlots(suites, { ...o, sideBySide: (s) => !o.inOrder?.includes(s) }, (suite, tests) => {
    started.push([suite, tests]);
    return new Promise<string>((resolve) => ends.set(suite, () => resolve(suite)));
  });
  const tick = () => new Promise((resolve) => setImmediate(resolve));
  return { done, started, end: async (suite: string) => { ends.get(suite)!(); await tick(); await tick(); } };
}

t.test('suites take free slots in order; one whose tests run in order takes one; an ended suite frees its slots', async (t) => {
  const h = harness({ jobs: 4, tests: 3, slots: 7, inOrder: ['cli'] }, ['actions', 'storage', 'cli', 'base', 'image']);
  await new Promise((resolve) => setImmediate(resolve));
  t.same(h.started, [['actions', 3], ['storage', 3], ['cli', 1]], '7 slots: 3 + 3 + 1');
  await h.end('cli');
  t.same(h.started.slice(3), [['base', 1]], 'the one slot freed goes to the next suite');
  await h.end('storage');
  t.same(h.started.slice(4), [['image', 3]]);
  await h.end('actions');
  await h.end('base');
  await h.end('image');
  t.same((await h.done).sort(), ['actions', 'base', 'cli', 'image', 'storage']);
});

t.test('no more suites at once than --jobs, however many slots are free', async (t) => {
  const h = harness({ jobs: 2, tests: 1, slots: 10 }, ['a', 'b', 'c']);
  await new Promise((resolve) => setImmediate(resolve));
  t.same(h.started, [['a', 1], ['b', 1]]);
  await h.end('b');
  t.same(h.started.slice(2), [['c', 1]]);
  await h.end('a');
  await h.end('c');
  t.equal((await h.done).length, 3);
});
