import t from 'tap';
import { NodesAway } from '../../scheduler/nodes-away.ts';
import { steppedClock } from '../helpers/stepped-clock.ts';

function away(maxMs = 10_000) {
  const { clock, advance, pending } = steppedClock();
  const retried: string[][] = [];
  const expired: [string, string[]][] = [];
  const a = new NodesAway<string, string>({ retry: (s) => retried.push(s), expired: (id, c) => expired.push([id, c]) }, maxMs, clock);
  return { a, advance, pending, retried, expired };
}

t.test('a node back within its time: its commands go to it in order on reconnecting, the STARTs are tried again at its first STATS', async (t) => {
  const { a, advance, retried, expired } = away();
  a.left('n1');
  t.ok(a.isAway('n1'));
  a.holdCommand('n1', 'delete x');
  a.holdCommand('n1', 'unshelve y');
  a.holdStart('i1', 'start i1');
  a.holdStart('i2', 'start i2');
  a.holdStart('i1', 'start i1 again');
  t.equal(a.heldStarts, 2);
  advance(3000);
  t.same(a.reconnected('n1'), ['delete x', 'unshelve y'], 'its commands, in the order they came');
  t.same(a.reconnected('n1'), [], 'handed over once');
  t.ok(a.isAway('n1'), 'away for STARTs until its first STATS');
  t.same(retried, []);
  a.back('n1');
  t.notOk(a.isAway('n1'));
  t.same(retried, [['start i1 again', 'start i2']], 'the STARTs, in the order they came; one that came again in its place');
  advance(20_000);
  t.same(expired, [], 'nothing expires for a node back');
});

t.test('a node not back within its time: its commands are undeliverable, the STARTs tried again', async (t) => {
  const { a, advance, retried, expired, pending } = away();
  a.left('n1');
  advance(4000);
  a.left('n2');
  a.holdCommand('n1', 'stop x');
  a.holdStart('i1', 'start i1');
  advance(5999);
  t.same(expired, [], 'n1 left 9.999 s ago');
  advance(1);
  t.same(expired, [['n1', ['stop x']]], 'n1 after 10 s');
  t.same(retried, [['start i1']], 'the STARTs are tried again: nothing waits for n1 now');
  t.notOk(a.isAway('n1'));
  t.ok(a.isAway('n2'));
  advance(4000);
  t.same(expired.map(([id]) => id), ['n1', 'n2'], 'n2 10 s after it left');
  t.equal(pending(), 0, 'no timer left');
});

t.test('a node that drops again before it is back keeps its first time', async (t) => {
  const { a, advance, expired } = away();
  a.left('n1');
  advance(6000);
  a.reconnected('n1');
  a.left('n1');
  advance(4000);
  t.same(expired.map(([id]) => id), ['n1'], 'waited 10 s in all, not 16');
});

t.test('no time to wait (0), or closed: nothing is awaited', async (t) => {
  const none = away(0);
  none.a.left('n1');
  t.notOk(none.a.isAway('n1'));
  const closed = away();
  closed.a.close();
  closed.a.left('n1');
  t.notOk(closed.a.isAway('n1'));
  t.equal(closed.pending(), 0, 'and no timer');
});

t.test('left() says for how long the node is waited for: its 10 s, what is left of its first 10 s when it drops again, 0 when none is waited for', async (t) => {
  const { a, advance } = away();
  t.equal(a.left('n1'), 10_000);
  advance(3000);
  t.equal(a.left('n1'), 7000, 'dropped again while away: what is left');
  t.equal(away(0).a.left('n1'), 0, 'waiting turned off');
  const closed = away();
  closed.a.close();
  t.equal(closed.a.left('n1'), 0, 'closed with its scheduler');
});
