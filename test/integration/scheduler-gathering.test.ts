// A scheduler just started, while it gathers its nodes (docs/protocol.md, "Placement" 6 and 7): a
// command to a node that has not connected yet waits for it and reaches it when it does; with
// waiting for nodes turned off, such a command is answered UNREACHABLE at once, as always.
import t from 'tap';
import type { Frame } from '../../protocol/payloads.ts';
import { waitFor } from '../../shared/wait-for.ts';
import { testScheduler } from '../helpers/test-scheduler.ts';

const stop = (to: string): Frame => ({ type: 'COMMAND', op: 'STOP', to, payload: { instanceId: `inst-on-${to}` } });
/** A frame the scheduler answers at once: once its answer is there, it took every frame before it. */
const probe: Frame = { type: 'COMMAND', op: 'STOP', to: 'a-cnci-never-seen', payload: { instanceId: 'probe' } };

t.test('gathering: a command to a node not back yet is held, then handed to it when it connects', async (t) => {
  const { pki, joinAs } = await testScheduler('ciao-gather', undefined, { gathering: { maxMs: 60_000, quietMs: 60_000 } });
  const controller = await joinAs(pki.controller, 'controller', ['controller']);
  controller.conn.send({ type: 'COMMAND', op: 'NODES_EXPECTED', payload: { nodes: ['node-1'] } });
  controller.conn.send(stop('node-1'));
  const node = await joinAs(pki.agent, 'node-1', ['compute']);
  const got = await waitFor('node-1 to get the STOP held for it', () => node.frames.find((f) => f.op === 'STOP'));
  t.match(got, { op: 'STOP', from: 'controller', payload: { instanceId: 'inst-on-node-1' } });
  t.notOk(controller.frames.some((f) => f.op === 'UNREACHABLE'), 'and the controller was not told it is unreachable');
  node.socket.destroy();
  controller.socket.destroy();
});

t.test('waiting for nodes turned off (awayMs 0): a command to a node not connected is UNREACHABLE at once, even while gathering', async (t) => {
  const { pki, joinAs } = await testScheduler('ciao-gather', undefined, { gathering: { maxMs: 60_000, quietMs: 60_000 }, awayMs: 0 });
  const controller = await joinAs(pki.controller, 'controller', ['controller']);
  controller.conn.send(stop('node-1'));
  controller.conn.send(probe);
  const answers = await waitFor('both answers', () => {
    const unreachable = controller.frames.filter((f) => f.op === 'UNREACHABLE');
    return unreachable.length === 2 && unreachable;
  });
  t.same(answers.map((f) => f.op === 'UNREACHABLE' && f.payload.to), ['node-1', 'a-cnci-never-seen']);
  controller.socket.destroy();
});
