// singlevm/flow.ts as a graph: steps whose needs are met run at the same time, a step the table
// leaves out is a barrier, the first failure stops what has not started, and the step runner names
// the critical path. Steps here wait on promises the test resolves, so the order is the test's.
import t from 'tap';
import { runFlow, waitsFor, type Needs, type Step } from '../../singlevm/flow.ts';
import { StepRunner } from '../../singlevm/step-runner.ts';

type Ctx = { log: string[] };
/** A step that logs its start, then ends when the test says (or fails). */
function gated(name: string) {
  let open!: () => void;
  let fail!: (err: Error) => void;
  const gate = new Promise<void>((resolve, reject) => ((open = resolve), (fail = reject)));
  const step: Step<Ctx> = {
    name,
    async execute(ctx) {
      ctx.log.push(`start ${name}`);
      await gate;
      ctx.log.push(`end ${name}`);
    },
  };
  return { step, open, fail };
}
/** Resolves once `ctx.log` holds `line`, checked on each turn of the event loop. */
const logged = async (ctx: Ctx, line: string) => {
  while (!ctx.log.includes(line)) await new Promise((r) => setImmediate(r));
};
const quietRunner = (t: { teardown: (fn: () => void) => void }) => {
  const write = process.stdout.write;
  process.stdout.write = (() => true) as typeof process.stdout.write;
  t.teardown(() => void (process.stdout.write = write));
  return new StepRunner('test');
};

t.test('steps whose needs are met run at the same time; a step waits for all it needs', async (t) => {
  const [a, b, c, d] = ['a', 'b', 'c', 'd'].map(gated);
  const needs: Needs<Ctx> = new Map([[a.step, []], [b.step, [a.step]], [c.step, [a.step]], [d.step, [b.step, c.step]]]);
  const ctx: Ctx = { log: [] };
  const steps = quietRunner(t);
  const done = runFlow(steps, [a.step, b.step, c.step, d.step], ctx, [], needs);
  a.open();
  await logged(ctx, 'start c');
  t.same(ctx.log, ['start a', 'end a', 'start b', 'start c'], 'b and c both started, neither ended');
  b.open();
  await logged(ctx, 'end b');
  t.notOk(ctx.log.includes('start d'), 'd waits for c too');
  c.open();
  await logged(ctx, 'start d');
  d.open();
  await done;
  t.same(steps.criticalPath().map((s) => s.name), ['a', 'c', 'd'], 'through c, which ended after b');
  t.match(steps.criticalPathLine(), /^critical path: a [\d.]+ → c [\d.]+ → d [\d.]+ = [\d.]+ s of [\d.]+ s$/);
});

t.test('a step the table leaves out waits for every step before it, and every step after it waits for it', async (t) => {
  const [a, b, barrier, c] = ['a', 'b', 'barrier', 'c'].map(gated);
  const flow = [a.step, b.step, barrier.step, c.step];
  const needs: Needs<Ctx> = new Map([[a.step, []], [b.step, []], [c.step, [a.step]]]);
  t.same(waitsFor(flow, needs), [[], [], [0, 1], [0, 2]]);
  t.same(waitsFor(flow), [[], [0], [0, 1], [0, 1, 2]], 'without a table: a plain list');
  t.throws(() => waitsFor([a.step, b.step], new Map([[a.step, [b.step]]])), /needs a step that is not before it/);
});

t.test('the first failure stops the steps that have not started; the running ones end; it is what runFlow throws', async (t) => {
  const [a, b, c] = ['a', 'b', 'c'].map(gated);
  const needs: Needs<Ctx> = new Map([[a.step, []], [b.step, []], [c.step, [a.step]]]);
  const ctx: Ctx = { log: [] };
  const steps = quietRunner(t);
  const done = runFlow(steps, [a.step, b.step, c.step], ctx, [], needs);
  await logged(ctx, 'start b');
  a.fail(new Error('a broke'));
  await new Promise((r) => setImmediate(r));
  b.open();
  await t.rejects(done, { message: 'a broke' });
  t.same(ctx.log, ['start a', 'start b', 'end b'], 'c never started; b ended');
  t.same(steps.timings.map((s) => [s.name, s.ok]), [['a', false], ['b', true]]);
});
