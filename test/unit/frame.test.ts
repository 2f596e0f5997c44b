import t from 'tap';
import net from 'node:net';
import { once } from 'node:events';
import { Connection, encodeFrame, FRAME_SLICE_MS, FrameDecoder, parseFrame } from '../../protocol/frame.ts';
import type { Frame } from '../../protocol/payloads.ts';

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

/** A Connection on one end of a loopback TCP pair, and the raw socket at the other end. */
async function connectedPair(sliceMs: number) {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const accepted = once(server, 'connection') as Promise<[net.Socket]>;
  const raw = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  await once(raw, 'connect');
  const [socket] = await accepted;
  server.close();
  return { conn: new Connection(socket, sliceMs), raw };
}

const stop = (i: number): Frame => ({ type: 'COMMAND', op: 'STOP', to: 'n1', payload: { instanceId: `i${i}` } });

t.test('frames received in one read are handed out a slice per turn, in order, the socket paused meanwhile', async (t) => {
  const { conn, raw } = await connectedPair(0);
  const got: string[] = [];
  let handedInFirstTurn = -1;
  let pausedBetween = false;
  const all = new Promise<void>((resolve) => conn.on('frame', (f) => {
    got.push((f.payload as { instanceId: string }).instanceId);
    if (got.length === 1) process.nextTick(() => { handedInFirstTurn = got.length; pausedBetween = conn.socket.isPaused(); });
    if (got.length === 50) resolve();
  }));
  raw.write(Buffer.concat(Array.from({ length: 50 }, (_, i) => encodeFrame(stop(i)))));
  await all;
  // A slice of 0 ms hands out one frame, then lets the loop run.
  t.equal(handedInFirstTurn, 1);
  t.ok(pausedBetween, 'nothing more is read while frames wait');
  t.same(got, Array.from({ length: 50 }, (_, i) => `i${i}`));
  await new Promise((resolve) => setImmediate(resolve));
  t.notOk(conn.socket.isPaused(), 'reading goes on once they are handed out');
  raw.destroy();
});

t.test('a close is told after every frame received before it', async (t) => {
  const { conn, raw } = await connectedPair(0);
  const seen: string[] = [];
  conn.on('frame', (f) => seen.push((f.payload as { instanceId: string }).instanceId));
  const closed = new Promise<void>((resolve) => conn.on('close', () => { seen.push('close'); resolve(); }));
  raw.end(Buffer.concat(Array.from({ length: 20 }, (_, i) => encodeFrame(stop(i)))));
  await closed;
  t.same(seen, [...Array.from({ length: 20 }, (_, i) => `i${i}`), 'close']);
  t.notOk(conn.isOpen);
});

t.test('with the default slice a small burst is handed out at once', async (t) => {
  const { conn, raw } = await connectedPair(FRAME_SLICE_MS);
  const got: number[] = [];
  const all = new Promise<void>((resolve) => conn.on('frame', () => {
    got.push(1);
    if (got.length === 1) process.nextTick(() => resolve());
  }));
  raw.write(Buffer.concat(Array.from({ length: 5 }, (_, i) => encodeFrame(stop(i)))));
  await all;
  t.equal(got.length, 5);
  raw.destroy();
});
