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

t.test('with less room, the split that runs the most tests at once within it, more suites on a tie', async (t) => {
  const room = 6 * VCPUS_PER_TEST + 1;
  t.match(concurrency({ suites: 2, tests: 5 }, room, 10), { suites: 2, tests: 3, capped: new RegExp(`${room} vcpus free`) });
  t.match(concurrency({ suites: 4, tests: 3 }, 31, 10), { suites: 3, tests: 2 }, '31 vcpus: 7 tests at once, as 3 × 2 (2 × 3 ties)');
  t.match(concurrency({ suites: 4, tests: 3 }, 32, 10), { suites: 4, tests: 2 }, '32 vcpus: 8 tests at once');
  t.match(concurrency({ suites: 4, tests: 3 }, 15, 10), { suites: 3, tests: 1 }, '15 vcpus: three tests at once');
  t.match(concurrency({ suites: 4, tests: 3 }, 2, 10), { suites: 1, tests: 1 }, 'less than a test\'s worth: one at a time');
  t.same(concurrency({ suites: 4, tests: 3 }, 31, 2), { suites: 4, tests: 3 }, 'two suites: at most 6 tests at once, which fit');
});
