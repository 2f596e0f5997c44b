// The hub of the cluster protocol: accepts the controller, launchers (compute/network agents) and
// CNCI agents over mutual TLS, places STARTs, forwards commands to nodes and reports to the controller.
import tls from 'node:tls';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import net, { type AddressInfo } from 'node:net';
import { chmod, rm } from 'node:fs/promises';
import { Connection } from '../protocol/frame.ts';
import type { Frame, FrameOf, Hello, Placed, Role, StartFailure } from '../protocol/payloads.ts';
import { rolesOf } from '../shared/pki.ts';
import type { Logger } from '../shared/log.ts';
import { Placement } from './placement.ts';
import { Gathering } from './gathering.ts';
import { NodesAway } from './nodes-away.ts';

export interface SchedulerOptions {
  tls: { ca: Buffer; cert: Buffer; key: Buffer };
  logger: Logger;
  /** Frames kept for the controller while it is away (STATS are never queued: the next ones supersede them). */
  controllerQueueLimit?: number;
  /** How long a scheduler just started holds what it cannot place (ms; gathering.ts's defaults);
   *  0 answers at once, as a scheduler up for long does. */
  gathering?: { maxMs: number; quietMs: number };
  /** How long a node whose link dropped is waited for (ms; nodes-away.ts's default); 0 not at all. */
  awayMs?: number;
}

interface Peer {
  hello: Hello;
  conn: Connection;
}

type Command = Extract<Frame, { type: 'COMMAND' }>;

const AGENT_ROLES: ReadonlySet<Role> = new Set(['compute', 'network']);

/** A node's STATS, among its held frames (the others are keyed by their instance's id). */
const STATS_KEY = Symbol('STATS');
type HeldKey = string | typeof STATS_KEY;

/** What a newer frame from the same node replaces this one by, if any: its STATS, or an instance's
 *  state (one that reports a death, `exit`, is never replaced). */
function replacedBy(frame: Frame): HeldKey | undefined {
  if (frame.op === 'STATS') return STATS_KEY;
  if (frame.op === 'INSTANCE_STATE' && !frame.payload.exit) return frame.payload.instanceId;
  return undefined;
}

/** A certificate's name (CN) speaks for the peer of that id, or, ending in `*`, for every id that
 *  begins with what precedes it (a fleet of simulated nodes shares one; CNCIs share `*`). */
export const speaksFor = (certName: string, id: string): boolean =>
  certName === id || (certName.endsWith('*') && id.startsWith(certName.slice(0, -1)));

export class Scheduler {
  private readonly server: tls.Server;
  private socketServer?: net.Server;
  private controller?: Peer;
  private readonly agents = new Map<string, Peer>();
  private readonly cncis = new Map<string, Peer>();
  /** Connected real nodes' tunnel endpoints (docs/protocol.md, "Tunnel endpoints"). */
  private readonly tunnels = new Map<string, string>();
  private readonly lastStats = new Map<string, FrameOf<'STATUS', 'STATS'>>();
  /** Each connected CNCI's last CNCI_READY: a controller that connects is told it again, as it is
   *  told each node's last STATS (a restarted one may not have saved it). */
  private readonly lastReady = new Map<string, Frame>();
  /** Per node, the frames held while the controller's link is backed up, in the node's order, by
   *  what a newer frame replaces (docs/protocol.md, "Flow to the controller"); the node that has
   *  waited longest first. */
  private readonly held = new Map<string, Map<HeldKey, Frame>>();
  private drainAwaited?: Connection;
  private readonly pendingForController: Frame[] = [];
  /** This process's, in its HELLO: a controller that connects again tells a new scheduler (which
   *  has nothing of what it sent the last one) from the same one. */
  private readonly boot = randomUUID();
  readonly placement = new Placement();
  /** What this scheduler decided about STARTs (PLACED, or its own START_FAILURE), in the order of
   *  their `seq`, until the controller says they are saved: a controller killed before it saved
   *  one is told it again when it comes back (docs/protocol.md, "Placements are saved"). */
  private readonly unsaved = new Map<number, { placed: Placed } | { refused: StartFailure }>();
  private lastSeq = 0;
  /** Just started, it holds what it cannot place until its nodes are back (docs/protocol.md,
   *  "Placement"). */
  private readonly gathering: Gathering<FrameOf<'COMMAND', 'START'>>;
  /** Nodes whose link dropped a moment ago, and what waits for them (docs/protocol.md, "Placement"). */
  private readonly away: NodesAway<FrameOf<'COMMAND', 'START'>, Command>;
  /** The nodes whose link dropped that the controller was told are waited for (NODE_DISCONNECTED's
   *  awayMs): told NODE_GONE unless they come back. */
  private readonly nodesAway = new Set<string>();

  constructor(private readonly opts: SchedulerOptions) {
    this.gathering = new Gathering((frames) => this.placeHeld(frames), opts.gathering, undefined, (ids) => this.notBack(ids));
    this.away = new NodesAway({
      retry: (frames) => {
        for (const frame of frames) this.place(frame);
      },
      expired: (nodeId, commands) => {
        this.placement.returned(nodeId);
        this.opts.logger.info('a node away is no longer waited for', { nodeId, commands: commands.length });
        // Its instances are missing now; before the answers to what was held for it.
        if (this.nodesAway.delete(nodeId) && !this.agents.has(nodeId)) this.toController({ type: 'EVENT', op: 'NODE_GONE', payload: { nodeId } });
        for (const frame of commands) this.unreachable(frame);
      },
    }, opts.awayMs);
    this.server = tls.createServer({ ...opts.tls, requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.3' });
    this.server.on('secureConnection', (socket) => this.accept(socket));
    this.server.on('tlsClientError', (err) => opts.logger.warn('TLS handshake refused', { error: err.message }));
  }

  async listen(port: number, host = '127.0.0.1'): Promise<number> {
    // A deep accept queue: thousands of (simulated) nodes connect at once when a cluster starts.
    this.server.listen({ port, host, backlog: 8192 });
    await once(this.server, 'listening');
    return (this.server.address() as AddressInfo).port;
  }

  /** Also listens on a Unix socket (0600): the scheduler gate forwards a joined machine's
   *  connections to it (docs/protocol.md, "Transport"); TLS is done on them as on the port's. */
  async listenSocket(path: string): Promise<void> {
    await rm(path, { force: true });
    this.socketServer = net.createServer((socket) => this.server.emit('connection', socket));
    this.socketServer.listen(path);
    await once(this.socketServer, 'listening');
    await chmod(path, 0o600);
  }

  async close(): Promise<void> {
    this.gathering.close();
    this.away.close();
    this.socketServer?.close();
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const peer of [this.controller, ...this.agents.values(), ...this.cncis.values()]) peer?.conn.socket.destroy();
    await closed;
  }

  /** STARTs waiting for nodes to come back: those of a scheduler just started, or one away. */
  get heldStarts(): number {
    return this.gathering.size + this.away.heldStarts;
  }

  get nodeCount(): number {
    return this.agents.size;
  }

  private accept(socket: tls.TLSSocket) {
    socket.setNoDelay(true);
    const conn = new Connection(socket);
    // Read once: each call builds the whole certificate as an object (thousands of nodes join at once).
    const subject = socket.getPeerCertificate().subject;
    const certRoles = rolesOf(subject?.OU);
    let peer: Peer | undefined;
    conn.on('invalid', (err) => {
      this.opts.logger.warn('invalid frame', { peer: peer?.hello.id, error: err.message });
      conn.send({ type: 'ERROR', op: 'INVALID_FRAME', payload: { message: err.message } });
    });
    const certName = String(subject?.CN ?? '');
    conn.on('frame', (frame) => {
      if (!peer) {
        peer = this.greet(conn, frame, certRoles, certName);
        return;
      }
      this.route(peer, frame);
    });
    conn.on('close', () => peer && this.forget(peer));
  }

  /** Checks a newcomer's HELLO against its certificate (its roles, and its id against the
   *  certificate's name) and registers it; an id that is already connected is refused. */
  private greet(conn: Connection, frame: Frame, certRoles: string[], certName: string): Peer | undefined {
    const refuse = (message: string, op: 'BAD_ROLE' | 'BAD_IDENTITY' = 'BAD_ROLE') => {
      this.opts.logger.warn('peer refused', { message });
      conn.send({ type: 'ERROR', op, payload: { message } });
      conn.close();
      return undefined;
    };
    if (frame.type !== 'HELLO') return refuse('the first frame must be HELLO');
    const hello = frame.payload;
    const bad = hello.roles.filter((r) => !certRoles.includes(r) || r === 'scheduler');
    if (bad.length) return refuse(`certificate of ${hello.id} does not grant role ${bad.join(', ')} (it grants: ${certRoles.join(', ') || 'none'})`);
    const roles = new Set(hello.roles);
    const isController = roles.has('controller');
    const isAgent = hello.roles.some((r) => AGENT_ROLES.has(r));
    const isCnci = roles.has('cnci');
    if (Number(isController) + Number(isAgent) + Number(isCnci) !== 1) return refuse('a peer is either the controller, an agent or a CNCI');
    if (!speaksFor(certName, hello.id)) return refuse(`the certificate of ${certName} does not speak for ${hello.id}`, 'BAD_IDENTITY');
    const live = isController ? this.controller : isAgent ? this.agents.get(hello.id) : this.cncis.get(hello.id);
    // A restarted peer's old connection is closed by its kernel as it dies: a live one is another peer.
    if (live?.conn.isOpen) return refuse(`${hello.id} is already connected`, 'BAD_IDENTITY');
    // A node that claimed another's endpoint would draw that node's tunnel traffic.
    const holder = hello.tunnelIp && [...this.tunnels].find(([id, ip]) => ip === hello.tunnelIp && id !== hello.id)?.[0];
    if (holder) return refuse(`tunnel endpoint ${hello.tunnelIp} is ${holder}'s`, 'BAD_IDENTITY');

    const peer: Peer = { hello, conn };
    conn.send({ type: 'HELLO', op: 'HELLO', payload: { id: 'scheduler', roles: ['scheduler'], boot: this.boot, ...(isController && this.unsavedAnswers()) } });
    if (isController) {
      this.controller = peer;
      this.greetController();
    } else if (isAgent) {
      this.agents.set(hello.id, peer);
      this.nodesAway.delete(hello.id);
      this.gathering.arrived();
      this.placement.add(hello.id, hello.hostname ?? hello.id, hello.roles, hello.simulated);
      this.toController({ type: 'EVENT', op: 'NODE_CONNECTED', payload: this.nodeConnection(hello) });
      if (hello.tunnelIp) {
        this.tunnels.set(hello.id, hello.tunnelIp);
        this.sendTunnelPeers();
      }
      // What was sent to it while it was away, in order, before anything sent from now on.
      for (const frame of this.away.reconnected(hello.id)) conn.send({ ...frame, from: 'controller' });
    } else {
      this.cncis.set(hello.id, peer);
      // A CNCI sends no STATS: it is back once connected.
      for (const frame of this.away.reconnected(hello.id)) conn.send({ ...frame, from: 'controller' });
      this.away.back(hello.id);
    }
    this.opts.logger.info('peer connected', { id: hello.id, roles: hello.roles });
    return peer;
  }

  /** A (re)connected controller learns the cluster as it is, then gets what was kept for it. */
  private greetController() {
    const link = this.controller!.conn;
    for (const peer of this.agents.values()) {
      const id = peer.hello.id;
      link.send({ type: 'EVENT', op: 'NODE_CONNECTED', payload: this.nodeConnection(peer.hello) });
      // Once a node holds frames, its STATS are held too: one not held is older than all of them.
      const stats = this.lastStats.get(id);
      if (stats && !this.held.get(id)?.has(STATS_KEY)) link.send(stats);
      this.release(link, id);
    }
    for (const ready of this.lastReady.values()) link.send(ready);
    for (const frame of this.pendingForController.splice(0)) link.send(frame);
  }

  private forget(peer: Peer) {
    const id = peer.hello.id;
    this.opts.logger.info('peer disconnected', { id });
    if (this.controller === peer) this.controller = undefined;
    else if (this.agents.get(id) === peer) {
      this.agents.delete(id);
      this.lastStats.delete(id);
      this.placement.remove(id, true);
      const awayMs = this.away.left(id);
      if (awayMs > 0) this.nodesAway.add(id);
      else this.nodesAway.delete(id);
      // What the node said before it left goes before the news that it left.
      this.releaseLeaving(id);
      this.toController({ type: 'EVENT', op: 'NODE_DISCONNECTED', payload: { ...this.nodeConnection(peer.hello), ...(awayMs > 0 && { awayMs }) } });
      if (this.tunnels.delete(id)) this.sendTunnelPeers();
    } else if (this.cncis.get(id) === peer) {
      this.cncis.delete(id);
      this.lastReady.delete(id);
      this.releaseLeaving(id);
    }
  }

  /** A peer that leaves keeps nothing held: what it sent goes to the controller if one is there. */
  private releaseLeaving(id: string) {
    const link = this.controller?.conn;
    if (link?.isOpen) this.release(link, id);
    else this.held.delete(id);
  }

  /** Every real node gets the whole set of endpoints: a set, not a change, so nothing goes stale. */
  private sendTunnelPeers() {
    const peers = [...this.tunnels].map(([nodeId, ip]) => ({ nodeId, ip }));
    for (const id of this.tunnels.keys()) this.agents.get(id)?.conn.send({ type: 'COMMAND', op: 'TUNNEL_PEERS', payload: { peers } });
  }

  private nodeConnection(hello: Hello) {
    return { nodeId: hello.id, hostname: hello.hostname, roles: hello.roles, tunnelIp: hello.tunnelIp, simulated: hello.simulated };
  }

  private route(peer: Peer, frame: Frame) {
    if (peer === this.controller) return this.fromController(frame);
    const stamped = { ...frame, from: peer.hello.id } as Frame;
    let firstStats = false;
    if (frame.type === 'STATUS' && frame.op === 'STATS') {
      if (frame.payload.nodeId !== peer.hello.id || this.agents.get(peer.hello.id) !== peer) return; // a node's, about itself
      this.placement.update(frame.payload);
      // A node takes instances from its first STATS on.
      firstStats = !this.lastStats.has(peer.hello.id);
      if (firstStats) this.gathering.arrived(peer.hello.id);
      this.lastStats.set(peer.hello.id, stamped as FrameOf<'STATUS', 'STATS'>);
    }
    if (frame.op === 'CNCI_READY' && this.cncis.get(peer.hello.id) === peer) this.lastReady.set(peer.hello.id, stamped);
    // An instance that is gone, or failed to start, no longer binds its server group's placements
    // (said by the node it was placed on: a stray deleted elsewhere does not count).
    if (frame.op === 'INSTANCE_DELETED' || frame.op === 'START_FAILURE') this.placement.forget(frame.payload.instanceId, peer.hello.id);
    if (frame.type === 'COMMAND' || frame.type === 'HELLO') {
      peer.conn.send({ type: 'ERROR', op: 'INVALID_FRAME', payload: { message: `${frame.type} ${frame.op} may only come from the controller` } });
      return;
    }
    this.toController(stamped);
    // Back from away: what waited for it is placed, after the controller has its STATS.
    if (firstStats && this.away.isAway(peer.hello.id)) {
      this.placement.returned(peer.hello.id);
      this.away.back(peer.hello.id);
    }
  }

  private fromController(frame: Frame) {
    if (frame.type !== 'COMMAND') return;
    if (frame.op === 'CORDONED') return this.placement.setCordoned(frame.payload.nodes);
    if (frame.op === 'PLACEMENTS_SAVED') return this.saved(frame.payload.upTo);
    if (frame.op === 'NODES_EXPECTED') return this.gathering.expect(frame.payload.nodes.filter((id) => !this.lastStats.has(id)));
    if (frame.op === 'DELETE') this.placement.forget(frame.payload.instanceId);
    if (frame.op === 'START' && !frame.to) {
      // One held that comes again (from a restarted controller) takes the held one's place.
      if (this.gathering.holds(frame.payload.instanceId)) return this.gathering.hold(frame.payload.instanceId, frame);
      if (this.away.holdsStart(frame.payload.instanceId)) return this.away.holdStart(frame.payload.instanceId, frame);
      return this.place(frame);
    }
    const target = frame.to ? (this.agents.get(frame.to) ?? this.cncis.get(frame.to)) : undefined;
    if (target) return target.conn.send({ ...frame, from: 'controller' });
    // A peer away, or one this scheduler, just started, has not heard from yet (it may be on its
    // way back): what is sent to it waits for it, as for a node away.
    if (frame.to && (this.away.isAway(frame.to) || (this.gathering.open && this.away.left(frame.to) > 0))) return this.away.holdCommand(frame.to, frame);
    this.unreachable(frame);
  }

  /** Nodes the controller expected that never came back to this scheduler (its gathering's time
   *  is up): the controller learns they are gone as if their links had dropped here (their
   *  scheduler went without a word). */
  private notBack(ids: string[]) {
    for (const nodeId of ids) {
      if (this.agents.has(nodeId)) continue;
      this.opts.logger.warn('a node the controller expected did not come back', { nodeId });
      this.toController({ type: 'EVENT', op: 'NODE_DISCONNECTED', payload: { nodeId, roles: [] } });
    }
  }

  /** Tells the controller that a command's peer is not connected. */
  private unreachable(frame: Command) {
    const instanceId = 'instanceId' in frame.payload ? frame.payload.instanceId : undefined;
    this.toController({ type: 'ERROR', op: 'UNREACHABLE', payload: { op: frame.op, to: frame.to ?? '', instanceId } });
  }

  /** Places a START and tells the controller where, or why not; while this scheduler's nodes may
   *  still be coming back, one it cannot place waits for them (`gathering`) unless `final`. */
  private place(frame: FrameOf<'COMMAND', 'START'>, final = false) {
    const instanceId = frame.payload.instanceId;
    const result = this.placement.place(frame.payload);
    if (!result.ok && !final && this.gathering.open) {
      if (this.gathering.size === 0) this.opts.logger.info('a START waits for the nodes to come back', { instanceId, reason: result.reason });
      return this.gathering.hold(instanceId, frame);
    }
    if (!result.ok && result.awaits) {
      if (this.away.heldStarts === 0) this.opts.logger.info('a START waits for a node away to come back', { instanceId, nodeId: result.awaits, reason: result.reason });
      return this.away.holdStart(instanceId, frame);
    }
    const seq = ++this.lastSeq;
    if (!result.ok) {
      const refused = { instanceId, reason: result.reason, message: result.message, seq };
      this.unsaved.set(seq, { refused });
      this.toController({ type: 'ERROR', op: 'START_FAILURE', payload: refused });
      return;
    }
    const placed = { instanceId, nodeId: result.nodeId, seq };
    this.unsaved.set(seq, { placed });
    // The controller learns the node before the node can speak of the instance (same link, in order).
    this.toController({ type: 'STATUS', op: 'PLACED', payload: placed });
    this.agents.get(result.nodeId)!.conn.send({ ...frame, from: 'controller', to: result.nodeId });
  }

  /** The nodes have stopped coming back: what waited for them is placed, or refused for good. */
  private placeHeld(frames: FrameOf<'COMMAND', 'START'>[]) {
    this.opts.logger.info('the nodes are back: placing the STARTs that waited', { starts: frames.length, nodes: this.agents.size });
    for (const frame of frames) this.place(frame, true);
  }

  /** The controller saved what this scheduler decided up to `upTo`: it is not told again. */
  private saved(upTo: number) {
    for (const seq of this.unsaved.keys()) {
      if (seq > upTo) return;
      this.unsaved.delete(seq);
    }
  }

  /** What a controller that connects is told again, in its HELLO: what it may not have saved. */
  private unsavedAnswers(): Pick<Hello, 'placed' | 'refused'> {
    const placed: Placed[] = [];
    const refused: StartFailure[] = [];
    for (const answer of this.unsaved.values()) {
      if ('placed' in answer) placed.push(answer.placed);
      else refused.push(answer.refused);
    }
    return { placed, refused };
  }

  /** Holds a node's frame in place of the one it replaces (if held) until the controller's link drains. */
  private hold(link: Connection, nodeId: string, key: HeldKey, frame: Frame) {
    let frames = this.held.get(nodeId);
    if (!frames) this.held.set(nodeId, (frames = new Map()));
    // The newer frame takes the end: the node's order, less what was replaced.
    frames.delete(key);
    frames.set(key, frame);
    this.awaitDrain(link);
  }

  private awaitDrain(link: Connection) {
    if (this.drainAwaited === link) return;
    this.drainAwaited = link;
    link.socket.once('drain', () => {
      this.drainAwaited = undefined;
      if (this.controller?.conn !== link || !link.isOpen) return;
      // The node that has waited longest first, until the link is backed up again.
      for (const nodeId of this.held.keys()) {
        if (link.backedUp) return this.awaitDrain(link);
        this.release(link, nodeId);
      }
    });
  }

  /** Sends a node's held frames, in its order. */
  private release(link: Connection, nodeId: string) {
    const frames = this.held.get(nodeId);
    if (!frames) return;
    this.held.delete(nodeId);
    for (const frame of frames.values()) link.send(frame);
  }

  private toController(frame: Frame) {
    const link = this.controller?.conn;
    if (link?.isOpen) {
      const from = frame.from;
      if (from !== undefined) {
        const key = replacedBy(frame);
        if (key !== undefined && (link.backedUp || this.held.has(from))) return this.hold(link, from, key, frame);
        // The node's held frames go first: nothing it sends may overtake them.
        this.release(link, from);
      }
      link.send(frame);
      return;
    }
    if (frame.type === 'STATUS' && frame.op === 'STATS') return;
    const limit = this.opts.controllerQueueLimit ?? 100_000;
    if (this.pendingForController.length >= limit) this.pendingForController.shift();
    this.pendingForController.push(frame);
  }
}
