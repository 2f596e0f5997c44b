import t from 'tap';
import { Strays, STRAY_ASK_AGAIN_MS } from '../../controller/strays.ts';
import type { ControllerContext } from '../../controller/context.ts';
import type { Frame } from '../../protocol/payloads.ts';

function strays(linked = { up: true }) {
  const sent: Frame[] = [];
  const events: string[] = [];
  const ctx = {
    send: (f: Frame) => linked.up && sent.push(f) > 0,
    events: { add: (_tenant: string | null, _type: string, message: string) => void events.push(message) },
    logger: { warn() {}, info() {} },
  } as unknown as ControllerContext;
  return { s: new Strays(ctx), sent, events };
}

const deletes = (sent: Frame[]) => sent.map((f) => `${f.op} ${f.to} ${'instanceId' in f.payload ? f.payload.instanceId : ''}`);

t.test('a stray is deleted on its node once two STATS in a row list it, and told once', async (t) => {
  const { s, sent, events } = strays();
  s.listed('n0', [{ instanceId: 'i1', where: 'is on n1' }]);
  t.same(sent, [], 'one STATS may be older than what the controller knows: nothing yet');
  s.listed('n0', [{ instanceId: 'i1', where: 'is on n1' }, { instanceId: 'i2', where: 'does not exist' }]);
  t.same(deletes(sent), ['DELETE n0 i1'], 'the second listing deletes it, on the node that runs it');
  t.same(events, ['Node n0 runs instance i1, which is on n1: deleted there']);
  s.listed('n0', [{ instanceId: 'i1', where: 'is on n1' }, { instanceId: 'i2', where: 'does not exist' }]);
  t.same(deletes(sent), ['DELETE n0 i1', 'DELETE n0 i2'], 'i1 not asked again at once');
  t.equal(events.length, 2);
});

t.test('a single stale listing is forgotten; one still listed after 30 s is asked again, not told again', async (t) => {
  const { s, sent, events } = strays();
  s.listed('n0', [{ instanceId: 'i1', where: 'does not exist' }]);
  s.listed('n0', []);
  s.listed('n0', [{ instanceId: 'i1', where: 'does not exist' }]);
  t.same(sent, [], 'listed once, then not, then once: never two in a row');
  s.listed('n0', [{ instanceId: 'i1', where: 'does not exist' }]);
  t.equal(sent.length, 1);
  const realNow = Date.now;
  t.teardown(() => void (Date.now = realNow));
  const later = realNow() + STRAY_ASK_AGAIN_MS + 1;
  Date.now = () => later;
  s.listed('n0', [{ instanceId: 'i1', where: 'does not exist' }]);
  t.same(deletes(sent), ['DELETE n0 i1', 'DELETE n0 i1'], 'asked again');
  t.equal(events.length, 1, 'told once');
});

t.test('with no link to the scheduler, the next listing after it is back asks', async (t) => {
  const link = { up: false };
  const { s, sent, events } = strays(link);
  s.listed('n0', [{ instanceId: 'i1', where: 'is on n1' }]);
  s.listed('n0', [{ instanceId: 'i1', where: 'is on n1' }]);
  t.same(sent, []);
  t.same(events, [], 'not told before it is asked');
  link.up = true;
  s.listed('n0', [{ instanceId: 'i1', where: 'is on n1' }]);
  t.same(deletes(sent), ['DELETE n0 i1']);
  t.equal(events.length, 1);
});
