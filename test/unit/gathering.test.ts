import t from 'tap';
import { Gathering } from '../../scheduler/gathering.ts';
import { steppedClock } from '../helpers/stepped-clock.ts';

const limits = { maxMs: 15_000, quietMs: 1_000 };

t.test('what is held goes back once no node arrived for the quiet time, in the order it came; one that comes again keeps its place', async (t) => {
  const { clock, advance } = steppedClock();
  const released: string[][] = [];
  const g = new Gathering<string>((items) => released.push(items), limits, clock);
  t.ok(g.open, 'open at the start');
  g.hold('a', 'a1');
  g.hold('b', 'b1');
  g.hold('a', 'a2');
  t.equal(g.size, 2);
  t.ok(g.holds('a'));
  advance(600);
  g.arrived();
  advance(900);
  t.same(released, [], 'a node arrived 900 ms ago: still gathering');
  advance(100);
  t.same(released, [['a2', 'b1']], 'released 1 s after the last arrival, in the order they came');
  t.equal(g.size, 0);
  t.notOk(g.open, 'closed: what cannot be placed now is refused');
});

t.test('nodes that keep arriving hold nothing past the longest gathering', async (t) => {
  const { clock, advance } = steppedClock();
  const released: number[][] = [];
  const g = new Gathering<number>((items) => released.push(items), limits, clock);
  g.hold('x', 1);
  for (let ms = 0; ms < 14_500; ms += 500) {
    advance(500);
    g.arrived();
  }
  t.same(released, [], 'still arriving at 14.5 s');
  advance(400);
  t.same(released, [], 'the last arrival 400 ms ago');
  advance(100);
  t.same(released, [[1]], 'released at 15 s all the same');
  g.arrived();
  t.notOk(g.open, 'and never open again');
});

t.test('close drops what is held and its timer', async (t) => {
  const { clock, advance, pending } = steppedClock();
  const released: number[][] = [];
  const g = new Gathering<number>((items) => released.push(items), limits, clock);
  g.hold('x', 1);
  t.equal(pending(), 1);
  g.close();
  t.equal(pending(), 0);
  advance(20_000);
  t.same(released, []);
});

t.test('once the controller says which nodes to expect, what is held goes back as soon as the last of them arrived', async (t) => {
  const { clock, advance } = steppedClock();
  const released: string[][] = [];
  const g = new Gathering<string>((items) => released.push(items), limits, clock);
  g.hold('a', 'a1');
  g.expect(['n1', 'n2']);
  g.arrived('n1');
  advance(10_000);
  t.same(released, [], 'n2 not back after 10 s, quiet or not: still held');
  t.ok(g.open);
  g.arrived('n9');
  g.arrived('n2');
  t.same(released, [['a1']], 'released the moment n2 arrived');
  t.notOk(g.open);
});

t.test('a node expected that never comes holds nothing past the longest gathering; none expected holds nothing', async (t) => {
  const { clock, advance } = steppedClock();
  const released: string[][] = [];
  const g = new Gathering<string>((items) => released.push(items), limits, clock);
  g.expect(['dead']);
  g.hold('a', 'a1');
  advance(14_999);
  t.same(released, []);
  advance(1);
  t.same(released, [['a1']], 'released at 15 s');
  const fresh = new Gathering<string>(() => t.fail('nothing held'), limits, steppedClock().clock);
  fresh.expect([]);
  t.notOk(fresh.open, 'a controller that knows of no node (a new cluster): what cannot be placed is refused at once');
});

t.test('the nodes expected that have not come back when the time is up are told, once; none is not told', async (t) => {
  const { clock, advance } = steppedClock();
  const notBack: string[][] = [];
  const g = new Gathering<string>(() => {}, limits, clock, (ids) => notBack.push(ids));
  g.expect(['n0', 'n1', 'n2']);
  advance(2_000);
  g.arrived('n1');
  g.expect(['n0', 'n2']);
  advance(12_999);
  t.same(notBack, [], 'not before the 15 s');
  advance(1);
  t.same(notBack, [['n0', 'n2']], 'at 15 s: n0 and n2 never came');
  advance(60_000);
  t.equal(notBack.length, 1, 'told once');

  const quiet = steppedClock();
  const none: string[][] = [];
  const all = new Gathering<string>(() => {}, limits, quiet.clock, (ids) => none.push(ids));
  all.expect(['n0']);
  all.arrived('n0');
  quiet.advance(20_000);
  t.same(none, [], 'all came back: nothing told');
});
