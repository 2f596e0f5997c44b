// The controller's frames leave only once what was decided before them is saved (docs/durability.md).
import t from 'tap';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { sendAfterCommit } from '../../controller/after-commit.ts';
import { createMemoryStore } from '../../controller/datastore/memory-store.ts';
import type { Frame } from '../../protocol/payloads.ts';

/** A store whose commits the test ends, and the ops of the frames that went out. */
function harness(connected = true) {
  const store = createMemoryStore();
  let saving: { promise: Promise<void>; resolve: () => void } | undefined;
  store.committed = () => saving?.promise;
  const sent: string[] = [];
  const send = sendAfterCommit(store, () => connected, (bytes) => {
    sent.push((JSON.parse(bytes.subarray(4).toString('utf8')) as Frame).op);
    return true;
  });
  const decide = () => {
    let resolve!: () => void;
    const promise = new Promise<void>((r) => (resolve = r));
    saving = { promise, resolve };
    return () => {
      saving = undefined;
      resolve();
    };
  };
  const frame = (op: string) => ({ type: 'COMMAND', op, to: 'node-0', payload: { instanceId: 'i' } }) as unknown as Frame;
  return { send, sent, decide, frame };
}

t.test('a frame sent before the change it tells of, in the same turn, waits for that change to be saved', async (t) => {
  const h = harness();
  t.equal(h.send(h.frame('DELETE')), true, 'the link is up');
  const save = h.decide(); // the change, made after the frame was sent
  await nextTurn();
  await nextTurn();
  t.same(h.sent, [], 'not sent while the change is not saved');
  save();
  await nextTurn();
  t.same(h.sent, ['DELETE'], 'sent once it is');
});

t.test('frames leave in the order sent: one with nothing to wait for does not pass one that waits', async (t) => {
  const h = harness();
  h.send(h.frame('STOP'));
  const save = h.decide();
  await nextTurn();
  h.send(h.frame('RESTART')); // a later turn, the same change still unsaved
  await nextTurn();
  t.same(h.sent, []);
  save();
  await nextTurn();
  t.same(h.sent, ['STOP', 'RESTART']);
  h.send(h.frame('DELETE'));
  await nextTurn();
  t.same(h.sent, ['STOP', 'RESTART', 'DELETE'], 'nothing to wait for: at the end of its turn');
});

t.test('with no link, send says so and nothing is kept', async (t) => {
  const h = harness(false);
  t.equal(h.send(h.frame('DELETE')), false);
  await nextTurn();
  t.same(h.sent, []);
});
