import t from 'tap';
import { mapLimit } from '../../shared/map-limit.ts';

t.test('keeps the order and never runs more than the limit at once', async (t) => {
  let running = 0;
  let most = 0;
  const gates: (() => void)[] = [];
  const done = mapLimit([1, 2, 3, 4, 5, 6, 7], 3, async (n) => {
    running++;
    most = Math.max(most, running);
    await new Promise<void>((resolve) => gates.push(resolve));
    running--;
    return n * 10;
  });
  // Release one waiting call at a time, in reverse of arrival where possible, until all are done.
  for (let released = 0; released < 7; released++) {
    await new Promise((resolve) => setImmediate(resolve));
    gates.pop()!();
  }
  t.same(await done, [10, 20, 30, 40, 50, 60, 70]);
  t.equal(most, 3);
});

t.test('nothing to do, and a failure rejects', async (t) => {
  t.same(await mapLimit([], 4, async () => 1), []);
  await t.rejects(mapLimit([1, 2], 2, async (n) => { if (n === 2) throw new Error('two'); return n; }), /two/);
});
