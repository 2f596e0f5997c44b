import t from 'tap';
import { encodeFrame, FrameDecoder, parseFrame } from '../../protocol/frame.ts';

t.test('frames survive being split and joined on the wire', async (t) => {
  const a = encodeFrame({ type: 'COMMAND', op: 'STOP', to: 'n1', payload: { instanceId: 'i1' } });
  const b = encodeFrame({ type: 'HELLO', op: 'HELLO', payload: { id: 'n1', roles: ['compute'] } });
  const wire = Buffer.concat([a, b]);
  const d = new FrameDecoder();
  const got = [...d.push(wire.subarray(0, 3)), ...d.push(wire.subarray(3, a.length + 5)), ...d.push(wire.subarray(a.length + 5))];
  t.same(got.map((v) => parseFrame(v)), [
    { type: 'COMMAND', op: 'STOP', to: 'n1', payload: { instanceId: 'i1' } },
    { type: 'HELLO', op: 'HELLO', payload: { id: 'n1', roles: ['compute'] } },
  ]);
});

t.test('unknown ops and bad payloads are refused with the reason', async (t) => {
  t.throws(() => parseFrame({ type: 'COMMAND', op: 'EXPLODE', payload: {} }), { name: 'FrameError', message: /unknown op EXPLODE/ });
  t.throws(() => parseFrame({ type: 'NOISE', op: 'X', payload: {} }), /unknown frame type/);
  t.throws(() => parseFrame({ type: 'COMMAND', op: 'STOP', payload: { instanceId: 7 } }), /bad COMMAND STOP payload/);
  t.throws(() => parseFrame({ type: 'HELLO', op: 'HELLO', payload: { id: 'x', roles: ['king'] } }), /bad HELLO/);
  t.throws(() => parseFrame('hello'), /not an object/);
});

t.test('oversized or non-JSON frames are errors, not crashes', async (t) => {
  const big = Buffer.alloc(4);
  big.writeUInt32BE(64 * 1024 * 1024);
  t.throws(() => new FrameDecoder().push(big), /exceeds/);
  const junk = Buffer.concat([Buffer.from([0, 0, 0, 3]), Buffer.from('{{{')]);
  t.throws(() => new FrameDecoder().push(junk), /not valid JSON/);
});
