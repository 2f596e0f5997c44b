// Framing of the cluster protocol: 4-byte big-endian length + UTF-8 JSON, validated against OPS.
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { OPS, type Frame, type FrameType } from './payloads.ts';

export const MAX_FRAME_BYTES = 16 * 1024 * 1024;
const EMPTY = Buffer.alloc(0);

export function encodeFrame(frame: Frame): Buffer {
  const body = Buffer.from(JSON.stringify(frame), 'utf8');
  const head = Buffer.alloc(4);
  head.writeUInt32BE(body.length);
  return Buffer.concat([head, body]);
}

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

/** A protocol connection over a socket: emits validated frames, sends frames. */
export class Connection extends EventEmitter<ConnectionEvents> {
  private readonly decoder = new FrameDecoder();
  private closed = false;

  constructor(readonly socket: Socket) {
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

  send(frame: Frame): void {
    if (this.closed) return;
    // Frames sent in one synchronous run (a scheduler forwarding a burst to the controller) go out
    // as one write: one TLS record and one syscall instead of one per frame (docs/scale.md).
    if (!this.socket.writableCorked) {
      this.socket.cork();
      process.nextTick(() => this.flush());
    }
    this.socket.write(encodeFrame(frame));
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
    for (const value of values) {
      try {
        this.emit('frame', parseFrame(value));
      } catch (err) {
        if (!(err instanceof FrameError)) throw err;
        this.emit('invalid', err);
      }
    }
  }

  private markClosed() {
    if (this.closed) return;
    this.closed = true;
    this.emit('close');
  }
}
