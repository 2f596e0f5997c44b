// How the BAT runner schedules its suites (bat/lanes.ts, docs/bat.md): the cluster suite alone and
// last, the longest first, and no more tests at once than the cluster's free vcpus hold.
import t from 'tap';
import { concurrency, lanes, VCPUS_PER_TEST } from '../../bat/lanes.ts';

t.test('the cluster suite runs alone; the others side by side, the longest first, unknown ones last by name', async (t) => {
  t.same(lanes(['base', 'cluster', 'tenant', 'zeta', 'actions', 'alpha']), {
    sideBySide: ['actions', 'base', 'tenant', 'alpha', 'zeta'],
    alone: ['cluster'],
  });
  t.same(lanes(['cluster']), { sideBySide: [], alone: ['cluster'] });
});

t.test('as asked when the cluster has room for every test at once', async (t) => {
  t.same(concurrency({ suites: 4, tests: 3 }, 12 * VCPUS_PER_TEST, 10), { suites: 4, tests: 3 });
  t.same(concurrency({ suites: 1, tests: 1 }, 0, 10), { suites: 1, tests: 1 }, 'one test at a time is always allowed');
  t.same(concurrency({ suites: 4, tests: 3 }, 3 * VCPUS_PER_TEST, 1), { suites: 4, tests: 3 }, 'one suite: only its tests count');
});

t.test('fewer tests per suite first, then fewer suites, when the cluster has less room', async (t) => {
  const room = 6 * VCPUS_PER_TEST + 1;
  const c = concurrency({ suites: 2, tests: 5 }, room, 10);
  t.match(c, { suites: 2, tests: 3, capped: new RegExp(`${room} vcpus free`) });
  t.ok(c.suites * c.tests <= 6);
  t.match(concurrency({ suites: 4, tests: 3 }, 15, 10), { suites: 3, tests: 1 }, '15 vcpus: three tests at once');
  t.match(concurrency({ suites: 4, tests: 3 }, 2, 10), { suites: 1, tests: 1 }, 'less than a test\'s worth: one at a time');
});
