// A peer's side of the cluster protocol: a mutual-TLS connection to the scheduler that says HELLO,
// hands every validated frame to the owner, and reconnects (with backoff) when it drops.
import { EventEmitter } from 'node:events';
import tls from 'node:tls';
import { Connection } from './frame.ts';
import type { Frame, Hello, Role } from './payloads.ts';
import type { Logger } from '../shared/log.ts';
import { rolesOf } from '../shared/pki.ts';

/** The longest a peer waits before it tries the scheduler again (ms). */
export const RECONNECT_MAX_MS = 5000;

/** Per key pair: one TLS context, and the last session ticket, so thousands of simulated nodes
 *  neither parse the key again nor do a full handshake for every connection. */
const contexts = new WeakMap<Buffer, tls.SecureContext>();
const sessions = new WeakMap<Buffer, Buffer>();
function secureContextFor(material: { ca: Buffer; cert: Buffer; key: Buffer }): tls.SecureContext {
  let ctx = contexts.get(material.cert);
  if (!ctx) contexts.set(material.cert, (ctx = tls.createSecureContext(material)));
  return ctx;
}

export interface PeerOptions {
  id: string;
  roles: Role[];
  hostname?: string;
  /** A real node's tunnel endpoint, announced in its HELLO. */
  tunnelIp?: string;
  /** A simulation backend's node (shown as such to the admin). */
  simulated?: boolean;
  host: string;
  port: number;
  tls: { ca: Buffer; cert: Buffer; key: Buffer };
  logger: Logger;
  /** First reconnect delay; doubles up to RECONNECT_MAX_MS. */
  retryMs?: number;
}

export interface PeerEvents {
  /** The scheduler accepted our HELLO (again, after a reconnect): its HELLO. */
  connected: [Hello];
  disconnected: [];
  frame: [Frame];
}

export class ProtocolPeer extends EventEmitter<PeerEvents> {
  private conn?: Connection;
  private stopped = false;
  private ready = false;
  private retry: number;
  private timer?: NodeJS.Timeout;

  constructor(private readonly opts: PeerOptions) {
    super();
    this.retry = opts.retryMs ?? 100;
  }

  get isConnected(): boolean {
    return this.ready;
  }

  start(): void {
    this.stopped = false;
    this.connect();
  }

  /** Sends a frame (or its bytes: encodeFrame); returns false when not connected (the caller
   *  decides whether that matters). */
  send(frame: Frame | Buffer): boolean {
    if (!this.ready || !this.conn) return false;
    this.conn.send(frame);
    return true;
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.conn?.socket.destroy();
  }

  private connect() {
    const { host, port, logger } = this.opts;
    const material = this.opts.tls;
    const socket = tls.connect({ host, port, secureContext: secureContextFor(material), session: sessions.get(material.cert), servername: 'localhost' });
    let serverChecked = false;
    // A ticket is kept only from a server whose certificate was checked: a session resumed from it
    // (which carries no certificate to look at) is with that same server.
    socket.on('session', (ticket: Buffer) => serverChecked && sessions.set(material.cert, ticket));
    socket.setNoDelay(true);
    const conn = new Connection(socket);
    this.conn = conn;
    socket.once('secureConnect', () => {
      // The cluster CA signs every peer's certificate: only the scheduler's says it is the scheduler.
      const serverRoles = rolesOf(socket.getPeerCertificate().subject?.OU);
      if (!socket.isSessionReused() && !serverRoles.includes('scheduler')) {
        logger.error('the server at the scheduler address is not the scheduler: refused', { roles: serverRoles });
        socket.destroy();
        return;
      }
      serverChecked = true;
      conn.send({ type: 'HELLO', op: 'HELLO', payload: { id: this.opts.id, roles: this.opts.roles, hostname: this.opts.hostname, tunnelIp: this.opts.tunnelIp, simulated: this.opts.simulated } });
    });
    conn.on('frame', (frame) => {
      if (frame.type === 'HELLO') {
        this.ready = true;
        this.retry = this.opts.retryMs ?? 100;
        this.emit('connected', frame.payload);
        return;
      }
      if (frame.type === 'ERROR' && (frame.op === 'BAD_ROLE' || frame.op === 'BAD_IDENTITY')) logger.error('scheduler refused us', { reason: frame.payload.message });
      this.emit('frame', frame);
    });
    conn.on('invalid', (err) => logger.warn('invalid frame from scheduler', { error: err.message }));
    socket.on('error', (err) => logger.debug('scheduler connection error', { error: err.message }));
    conn.on('close', () => {
      const wasReady = this.ready;
      this.ready = false;
      if (this.conn === conn) this.conn = undefined;
      if (wasReady) this.emit('disconnected');
      if (this.stopped) return;
      this.timer = setTimeout(() => this.connect(), this.retry);
      this.retry = Math.min(this.retry * 2, RECONNECT_MAX_MS);
    });
  }
}
