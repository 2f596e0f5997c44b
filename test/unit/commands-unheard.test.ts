import t from 'tap';
import { CommandsUnheard, START_UNSEEN_MS } from '../../controller/commands-unheard.ts';

t.test('an instance missing from each STATS of its node for START_UNSEEN_MS is started again, then waits as long again', async (t) => {
  const u = new CommandsUnheard(START_UNSEEN_MS);
  t.same(u.missed('n0', ['a', 'b'], 0), [], 'the first STATS without them');
  t.same(u.missed('n0', ['a', 'b'], START_UNSEEN_MS - 1), [], 'not yet');
  t.same(u.missed('n0', ['a'], START_UNSEEN_MS), ['a'], 'a, missing throughout; b was listed');
  t.same(u.missed('n0', ['a', 'b'], START_UNSEEN_MS + 1), [], 'b starts waiting anew; a was just sent again');
  t.same(u.missed('n0', ['a', 'b'], 2 * START_UNSEEN_MS), ['a'], 'a again after as long again');
  t.same(u.missed('n0', ['a', 'b'], 2 * START_UNSEEN_MS + 1), ['b']);
});

t.test('a STATS that lists it, or lists nothing missing, ends the wait; nodes are apart', async (t) => {
  const u = new CommandsUnheard(START_UNSEEN_MS);
  u.missed('n0', ['a'], 0);
  u.missed('n1', ['a'], 0);
  u.missed('n0', [], 1);
  t.same(u.missed('n0', ['a'], START_UNSEEN_MS), [], 'n0 listed it in between: waits anew');
  t.same(u.missed('n1', ['a'], START_UNSEEN_MS), ['a'], 'n1 never did');
});
