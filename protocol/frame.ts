// Framing of the cluster protocol: 4-byte big-endian length + UTF-8 JSON, validated against OPS.
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { OPS, type Frame, type FrameType } from './payloads.ts';

export const MAX_FRAME_BYTES = 16 * 1024 * 1024;
const EMPTY = Buffer.alloc(0);

export function encodeFrame(frame: Frame): Buffer {
  // One buffer, written in place: the scheduler encodes every frame it forwards (docs/scale.md).
  const json = JSON.stringify(frame);
  const out = Buffer.allocUnsafe(4 + Buffer.byteLength(json, 'utf8'));
  out.writeUInt32BE(out.length - 4, 0);
  out.write(json, 4, 'utf8');
  return out;
}

/** How long (ms) a connection hands out received frames in one turn of the event loop before it
 *  lets the loop run other work (docs/protocol.md, "Flow to the controller"). */
export const FRAME_SLICE_MS = 5;

export class FrameError extends Error {
  override name = 'FrameError';
}

/** Validates a decoded JSON value as a frame: known type and op, payload matching its schema. */
export function parseFrame(value: unknown): Frame {
  if (typeof value !== 'object' || value === null) throw new FrameError('frame is not an object');
  const { type, op, from, to, payload } = value as Record<string, unknown>;
  const ops = OPS[type as FrameType] as Record<string, { safeParse(v: unknown): { success: boolean; data?: unknown; error?: { message: string } } }> | undefined;
  if (!ops) throw new FrameError(`unknown frame type ${String(type)}`);
  const schema = ops[op as string];
  if (!schema) throw new FrameError(`unknown op ${String(op)} for ${String(type)}`);
  const parsed = schema.safeParse(payload);
  if (!parsed.success) throw new FrameError(`bad ${String(type)} ${String(op)} payload: ${parsed.error?.message}`);
  return {
    type, op, payload: parsed.data,
    ...(typeof from === 'string' ? { from } : {}),
    ...(typeof to === 'string' ? { to } : {}),
  } as Frame;
}

/** Splits a byte stream into frames. */
export class FrameDecoder {
  private buf: Buffer = EMPTY;

  /** Returns the complete frames' JSON values; throws FrameError on an oversized frame or bad JSON. */
  push(chunk: Buffer): unknown[] {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const out: unknown[] = [];
    while (this.buf.length >= 4) {
      const len = this.buf.readUInt32BE(0);
      if (len > MAX_FRAME_BYTES) throw new FrameError(`frame of ${len} bytes exceeds ${MAX_FRAME_BYTES}`);
      if (this.buf.length < 4 + len) break;
      const body = this.buf.subarray(4, 4 + len);
      // Keep no view into a consumed chunk: with thousands of idle connections, each one would
      // pin its last read buffer in memory.
      this.buf = this.buf.length === 4 + len ? EMPTY : this.buf.subarray(4 + len);
      try {
        out.push(JSON.parse(body.toString('utf8')));
      } catch {
        throw new FrameError('frame is not valid JSON');
      }
    }
    return out;
  }
}

export interface ConnectionEvents {
  frame: [Frame];
  invalid: [FrameError];
  close: [];
}

/** A protocol connection over a socket: emits validated frames, sends frames. Received frames are
 *  handed out for at most FRAME_SLICE_MS per turn: the rest wait, in order, with the socket paused,
 *  for the next turn, so that a burst read in one go (a controller's link carries thousands of
 *  frames a second at 100 000 instances) does not hold the event loop while requests wait. */
export class Connection extends EventEmitter<ConnectionEvents> {
  private readonly decoder = new FrameDecoder();
  private closed = false;
  /** Decoded frames not handed out yet (they came in a turn whose slice was spent). */
  private readonly received: unknown[] = [];
  private head = 0;
  private continuing = false;
  /** The socket closed: 'close' is told once every frame received before it has been handed out. */
  private ended = false;
  private handing = false;
  private told = false;

  constructor(readonly socket: Socket, private readonly sliceMs = FRAME_SLICE_MS) {
    super();
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('close', () => this.markClosed());
    socket.on('error', () => this.markClosed());
  }

  get isOpen(): boolean {
    return !this.closed;
  }

  /** The socket holds more than it wants to (its high-water mark): the peer reads slower than we send. */
  get backedUp(): boolean {
    return this.socket.writableNeedDrain;
  }

  /** Sends a frame, or one encoded before (encodeFrame: a sender that holds frames a while holds
   *  their bytes, off the heap its garbage collector copies). */
  send(frame: Frame | Buffer): void {
    if (this.closed) return;
    // Frames sent in one synchronous run (a scheduler forwarding a burst to the controller) go out
    // as one write: one TLS record and one syscall instead of one per frame (docs/scale.md).
    if (!this.socket.writableCorked) {
      this.socket.cork();
      process.nextTick(() => this.flush());
    }
    this.socket.write(Buffer.isBuffer(frame) ? frame : encodeFrame(frame));
  }

  /** What was sent in this run, written now. */
  private flush() {
    while (this.socket.writableCorked) this.socket.uncork();
  }

  close(): void {
    this.flush();
    this.socket.end();
    this.socket.destroySoon?.();
  }

  private onData(chunk: Buffer) {
    let values: unknown[];
    try {
      values = this.decoder.push(chunk);
    } catch (err) {
      this.emit('invalid', err as FrameError);
      this.flush();
      this.socket.destroy();
      return;
    }
    for (const value of values) this.received.push(value);
    if (!this.continuing && !this.handing) this.handOut();
  }

  /** Hands out received frames until the slice is spent; the rest go on in the next turn. */
  private handOut() {
    this.continuing = false;
    this.handing = true;
    try {
      this.handOutSlice();
    } finally {
      this.handing = false;
    }
    if (this.continuing) return;
    this.received.length = 0;
    this.head = 0;
    if (this.ended) return this.tellClosed();
    if (this.socket.isPaused()) this.socket.resume();
  }

  private handOutSlice() {
    const until = performance.now() + this.sliceMs;
    while (this.head < this.received.length) {
      const value = this.received[this.head];
      this.received[this.head++] = undefined;
      try {
        this.emit('frame', parseFrame(value));
      } catch (err) {
        if (!(err instanceof FrameError)) throw err;
        this.emit('invalid', err);
      }
      if (this.head < this.received.length && performance.now() >= until) {
        // Nothing more is read meanwhile: what waits here stays bounded by one read's worth.
        if (!this.ended) this.socket.pause();
        this.continuing = true;
        setImmediate(() => this.handOut());
        return;
      }
    }
  }

  private markClosed() {
    if (this.ended) return;
    this.ended = true;
    // Nothing can be sent any more; what was received before the close is still handed out first.
    this.closed = true;
    if (!this.continuing && !this.handing) this.tellClosed();
  }

  private tellClosed() {
    if (this.told) return;
    this.told = true;
    this.emit('close');
  }
}
