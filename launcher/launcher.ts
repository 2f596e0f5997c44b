// One node of the cluster: joins the scheduler as a compute and/or network agent, runs the
// instances it is given through its backends, keeps their resources accounted and reports
// READY/FULL + STATS on change and every few seconds. An instance that dies is reported as
// `exited` with its reason (docs/protocol.md "An instance that dies").
import { readFile, rename, writeFile } from 'node:fs/promises';
import { ProtocolPeer } from '../protocol/client.ts';
import { parseFrame } from '../protocol/frame.ts';
import type { AttachVolume, ConsoleFailure, ConsoleRequest, DetachVolume, Frame, InstanceExit, InstanceState, InstanceStats, LifecycleFailureReason, NodeStats, RebuildPayload, ResizePayload, Resources, Role, StartFailureReason, StartPayload, VolumeFailure } from '../protocol/payloads.ts';
import type { Logger } from '../shared/log.ts';
import { LaunchError, type AdoptedInstance, type Backend } from './backend.ts';
import { claimed, growth, sameResources } from './resize-claim.ts';
import { NodeRecord } from './node-record.ts';

type ShelvedLevel = 'shelved' | 'shelved_offloaded';
const isShelvedLevel = (v: unknown): v is ShelvedLevel => v === 'shelved' || v === 'shelved_offloaded';

/** The actions the node records while under way: each takes from a fraction of a second to a few
 *  (a QEMU started or stopped, memory saved, a disk made), and one cut short is half done. */
const RECORDED_ACTIONS = ['START', 'REBOOT', 'SUSPEND', 'RESUME', 'REBUILD', 'RESIZE', 'SHELVE', 'SHELVE_OFFLOAD', 'UNSHELVE', 'RESCUE', 'UNRESCUE'] as const;
type RecordedAction = (typeof RECORDED_ACTIONS)[number];
const isRecordedAction = (v: unknown): v is RecordedAction => (RECORDED_ACTIONS as readonly unknown[]).includes(v);
type Command = Extract<Frame, { type: 'COMMAND' }>;
/** A command under way, as recorded: what the next launcher needs to make it again. A launcher
 *  before stop 37 recorded the op alone. */
type RecordedCommand = { op: RecordedAction; payload: { instanceId: string } } | RecordedAction;
const isRecordedCommand = (v: unknown): v is RecordedCommand => isRecordedAction(v) ||
  (typeof v === 'object' && v !== null && isRecordedAction((v as { op?: unknown }).op) && typeof (v as { payload?: { instanceId?: unknown } }).payload?.instanceId === 'string');

/** The command recorded for `id`, validated as the scheduler's frames are (protocol/frame.ts); undefined if it fails. */
function recordedCommand(op: RecordedAction, payload: unknown, id: string): Command | undefined {
  try {
    const frame = parseFrame({ type: 'COMMAND', op, payload });
    return frame.type === 'COMMAND' && 'instanceId' in frame.payload && frame.payload.instanceId === id ? frame : undefined;
  } catch {
    return undefined;
  }
}

/** The failure told for an action cut short that is not made again. */
function cutShortFailure(nodeId: string, op: RecordedAction, id: string, state: InstanceState): Frame {
  const verb = op === 'SHELVE_OFFLOAD' ? 'offload' : op.toLowerCase();
  const message = `the launcher of node ${nodeId} was restarted during the ${verb}: it may be half done, and the instance is ${state}`;
  return { type: 'ERROR', op: `${op}_FAILURE` as Extract<Frame, { type: 'ERROR' }>['op'], payload: { instanceId: id, reason: 'backend_failure', message } } as Frame;
}

export interface NodeCapacity {
  vcpus: number;
  memMB: number;
  diskMB: number;
}

export interface LauncherOptions {
  nodeId: string;
  hostname: string;
  roles: Role[];
  scheduler: { host: string; port: number; tls: { ca: Buffer; cert: Buffer; key: Buffer } };
  capacity: NodeCapacity;
  /** Backend per vm_type (the simulation backend serves both); a real network node adds one for CNCIs. */
  backends: { qemu: Backend; docker: Backend; cnci?: Backend };
  statsIntervalMs: number;
  logger: Logger;
  /** Current load average (real nodes read /proc/loadavg). */
  load?: () => number;
  /** Fault injection from the start: every start fails with this reason (NODE_FAULT changes it). */
  startFailure?: StartFailureReason | null;
  /** Where the node keeps the ids of the instances stopped on request (a real node's state dir).
   *  Any other instance its backends hold but that does not run — after a stop.sh or a reboot — is
   *  started again when the launcher starts (docs/lifecycle.md). */
  stoppedFile?: string;
  /** Where the node records its shelved instances (launcher/node-record.ts). */
  shelvedFile?: string;
  /** Where the node records the actions under way (launcher/node-record.ts): a launcher killed in
   *  the middle of one tells its failure when it is back (docs/protocol.md, "Actions"). */
  actionsFile?: string;
  /** A real node's tunnel endpoint (its leg on the cluster network), announced in HELLO. */
  tunnelIp?: string;
  /** A node of the simulation backend: it says so in its HELLO. */
  simulated?: boolean;
  /** Applies the scheduler's set of real nodes' endpoints (TUNNEL_PEERS) to the node's flood lists. */
  onTunnelPeers?: (ips: string[]) => Promise<void>;
}

const STATS_COALESCE_MS = 200;

/** An action under way on an instance (told in STATS as `busy`). */
type Busy = NonNullable<InstanceStats['busy']>;

interface Instance {
  spec: StartPayload;
  state: InstanceState;
  sshIp?: string;
  sshPort?: number;
  /** It ended while its start was under way: reported once the start is done. */
  diedStarting?: InstanceExit;
  /** Why it is `exited`, when it died (told in every STATS until it runs again, or goes). */
  died?: InstanceExit;
  /** A reboot is under way: an end seen meanwhile is the reboot's own. */
  rebooting?: boolean;
  /** A suspend, resume, rebuild, resize or shelve step is under way: another action waits for its end. */
  saving?: Busy;
  /** The old flavor's resources, counted besides until the resize is confirmed or reverted. */
  hold?: Resources;
  /** The resources a resize under way gives it (a RESIZE sent again for them is that one). */
  resizingTo?: Resources;
}

/** A state the instance's runtime holds (it counts against the node's memory and vcpus). */
const runs = (state: InstanceState) => state === 'active' || state === 'paused' || state === 'rescued';
/** A state whose memory and vcpus the node holds for it: all but stopped and offloaded ones (a
 *  shelved one keeps its claim until the offload, docs/protocol.md "Shelve"). */
const claims = (state: InstanceState) => state !== 'exited' && state !== 'shelved_offloaded';

const adoptedState = (a: AdoptedInstance): InstanceState => (a.suspended ? 'suspended' : a.rescued ? 'rescued' : a.paused ? 'paused' : a.running ? 'active' : 'exited');

export class Launcher {
  private readonly peer: ProtocolPeer;
  private readonly instances = new Map<string, Instance>();
  /** Deletions under way: a DELETE asked again meanwhile (the controller asks again when the node
   *  reconnects) is answered when the first one ends, not before. */
  private readonly deleting = new Map<string, Promise<void>>();
  /** Volume attaches and detaches under way, by "instance volume". */
  private readonly volumeOps = new Set<string>();
  private startFailure: StartFailureReason | null;
  private statsTimer?: NodeJS.Timeout;
  private statsQueued = false;
  private readonly unwatch: (() => void)[] = [];
  private stoppedIds?: Promise<Set<string>>;
  private stoppedWrites: Promise<void> = Promise.resolve();
  private readonly shelved: NodeRecord<ShelvedLevel>;
  private readonly underWay: NodeRecord<RecordedCommand>;
  /** Failures told while no scheduler was connected (an action the last launcher was killed in
   *  the middle of, one that failed meanwhile): told once one is. */
  private untold: Frame[] = [];
  /** The commands the last launcher was killed in the middle of, made again once this one runs. */
  private again: { id: string; command: Command }[] = [];
  /** The instances whose command is made again, and the verb it is told failed with. */
  private readonly madeAgain = new Map<string, string>();
  /** Starts under way of instances found stopped that should run (bringBack): a command for one
   *  waits for its start to end, as it would have found it running. */
  private readonly startingAgain = new Map<string, Promise<void>>();
  /** Where the last command's record is written: the next one begins after it. */
  private inOrder: Promise<unknown> = Promise.resolve();
  /** TUNNEL_PEERS sets are applied one after the other, in the order they came. */
  private tunnelUpdates: Promise<void> = Promise.resolve();

  constructor(private readonly opts: LauncherOptions) {
    this.startFailure = opts.startFailure ?? null;
    this.shelved = new NodeRecord(opts.shelvedFile, isShelvedLevel, 'shelved instances', opts.logger);
    this.underWay = new NodeRecord(opts.actionsFile, isRecordedCommand, 'actions under way', opts.logger);
    this.peer = new ProtocolPeer({
      id: opts.nodeId, roles: opts.roles, hostname: opts.hostname, tunnelIp: opts.tunnelIp, simulated: opts.simulated, logger: opts.logger,
      host: opts.scheduler.host, port: opts.scheduler.port, tls: opts.scheduler.tls,
    });
    this.peer.on('connected', () => {
      this.sendStats();
      for (const frame of this.untold.splice(0)) this.peer.send(frame);
    });
    this.peer.on('frame', (frame) => void this.handle(frame));
  }

  get id(): string {
    return this.opts.nodeId;
  }

  get connected(): boolean {
    return this.peer.isConnected;
  }

  /** Resolves when the scheduler has accepted this node (at once if it has). */
  joined(): Promise<void> {
    return this.connected ? Promise.resolve() : new Promise((resolve) => this.peer.once('connected', () => resolve()));
  }

  /** Re-adopts what the backends still hold, then joins the cluster. */
  async start(): Promise<void> {
    const backends = [...new Set(Object.values(this.opts.backends).filter((b): b is Backend => !!b))];
    for (const backend of backends) if (backend.watchExits) this.unwatch.push(backend.watchExits((id, exit) => this.died(id, exit)));
    // The backends side by side (VMs, containers and CNCIs are found again independently).
    for (const adopted of (await Promise.all(backends.map((b) => b.list()))).flat()) {
      this.instances.set(adopted.spec.instanceId, {
        spec: adopted.spec, state: adoptedState(adopted), sshIp: adopted.sshIp, sshPort: adopted.sshPort,
      });
    }
    await this.adoptShelved();
    await this.actionsCutShort();
    if (this.instances.size) this.opts.logger.info('re-adopted instances', { count: this.instances.size });
    await this.bringBack();
    this.peer.start();
    // Recorded as any command: a launcher killed in the middle of this one leaves it to the next.
    for (const { id, command } of this.again.splice(0)) void this.handle(command).finally(() => this.madeAgain.delete(id));
    // Jitter the first periodic report so a thousand nodes in one process do not report in lockstep.
    const first = Math.floor(Math.random() * this.opts.statsIntervalMs);
    this.statsTimer = setTimeout(() => {
      this.sendStats();
      this.statsTimer = setInterval(() => this.sendStats(), this.opts.statsIntervalMs);
    }, first);
  }

  /** Instances the node shelved are that again, not merely stopped; an offloaded one leaves its
   *  tenant network again (its backend counted it while listing). One found running is shelved no
   *  more: an unshelve was cut short after its start (made again, it is told done). */
  private async adoptShelved() {
    for (const [id, level] of await this.shelved.all()) {
      const inst = this.instances.get(id);
      if (inst?.state === 'exited') {
        inst.state = level;
        if (level === 'shelved_offloaded') await this.backend(inst.spec).offload?.(id).catch(() => undefined);
        continue;
      }
      await this.shelved.set(id, undefined);
      if (inst) await this.markStopped(id, false);
    }
  }

  /** Actions the last launcher was killed in the middle of: each is made again, as if it came
   *  again (docs/protocol.md "Actions"), from the command recorded with it.
   *  - A start from the start: what it made is deleted (a QEMU may run without its NIC, a disk may
   *    be half written), and nothing of it was the tenant's yet (its volumes are not the backend's
   *    to delete).
   *  - A reboot stops whatever runs and starts the instance from its own disk, so whatever the last
   *    one left (no runtime, a QEMU restored but never let run, found `paused`) boots again.
   *  - A resize is left to the controller, which sends an unfinished one again when the node is back.
   *  - Any other goes through its own checks: one whose end state the instance is in is told done
   *    (takenAgain), one in a state it starts from is done, and one in neither is told failed,
   *    saying it was cut short. */
  private async actionsCutShort() {
    for (const [id, recorded] of await this.underWay.all()) {
      await this.underWay.set(id, undefined);
      const inst = this.instances.get(id);
      if (!inst) continue;
      const { op, payload } = typeof recorded === 'string' ? { op: recorded, payload: undefined } : recorded;
      const verb = op === 'SHELVE_OFFLOAD' ? 'offload' : op.toLowerCase();
      const found = { instanceId: id, found: inst.state };
      if (op === 'RESIZE') {
        // Told failed here, the controller dropped the resize while the node did the one it sent
        // again: the node ran the new flavor, and the resize never waited for its confirm.
        this.opts.logger.warn('a resize was cut short by the launcher\'s restart: the one the controller sends again is done', found);
        continue;
      }
      if (op === 'START') {
        this.opts.logger.warn('a start was cut short by the launcher\'s restart: it is made again', found);
        this.instances.delete(id);
        await this.backend(inst.spec).delete(id).catch((err) => this.opts.logger.warn('what a start cut short made could not be deleted', { instanceId: id, error: (err as Error).message }));
        this.again.push({ id, command: { type: 'COMMAND', op: 'START', payload: inst.spec } });
        continue;
      }
      if (op === 'REBOOT') {
        // Active, as a reboot under way is to the controller: the reboot made again takes it from there.
        inst.state = 'active';
        this.again.push({ id, command: { type: 'COMMAND', op: 'REBOOT', payload: { instanceId: id, hard: true } } });
      } else if (payload || (op !== 'RESCUE' && op !== 'REBUILD')) {
        // Recorded with its payload, or one that has none but the instance's id; checked as a
        // frame from the scheduler is, since it is made again as one. A record that fails the check
        // is told as one without its payload.
        const command = recordedCommand(op, payload ?? { instanceId: id }, id);
        if (!command) {
          this.opts.logger.warn('a recorded command does not hold as a command: it is not made again', { ...found, op });
          this.untold.push(cutShortFailure(this.opts.nodeId, op, id, inst.state));
          continue;
        }
        this.again.push({ id, command });
      } else {
        // Recorded by an older launcher without the image it needs: told, as it was then.
        this.opts.logger.warn('an action was cut short by the launcher\'s restart', { ...found, op });
        this.untold.push(cutShortFailure(this.opts.nodeId, op, id, inst.state));
        continue;
      }
      this.opts.logger.warn('an action was cut short by the launcher\'s restart: it is made again', { ...found, op });
      this.madeAgain.set(id, verb);
    }
  }

  /** The instances stopped on request, as the node recorded them (read once, then kept here). */
  private stopped(): Promise<Set<string>> {
    this.stoppedIds ??= (async () => {
      const text = this.opts.stoppedFile ? await readFile(this.opts.stoppedFile, 'utf8').catch(() => '[]') : '[]';
      let ids: unknown = [];
      try {
        ids = JSON.parse(text);
      } catch {
        this.opts.logger.warn('the record of stopped instances is unreadable: none counts as stopped', { file: this.opts.stoppedFile });
      }
      return new Set(Array.isArray(ids) ? ids.filter((id): id is string => typeof id === 'string') : []);
    })();
    return this.stoppedIds;
  }

  /** Records a stop on request, or its end. Writes go one at a time, each whole (a temporary file
   *  renamed), so concurrent deletes never read half a file; failing to record is logged, never
   *  fatal to the operation that asked. */
  private async markStopped(id: string, stopped: boolean) {
    const file = this.opts.stoppedFile;
    if (!file) return;
    const ids = await this.stopped();
    if (ids.has(id) === stopped) return;
    if (stopped) ids.add(id);
    else ids.delete(id);
    const text = JSON.stringify([...ids]);
    this.stoppedWrites = this.stoppedWrites
      .then(async () => {
        await writeFile(`${file}.tmp`, text);
        await rename(`${file}.tmp`, file);
      })
      .catch((err) => this.opts.logger.warn('could not record the stopped instances', { file, error: (err as Error).message }));
    await this.stoppedWrites;
  }

  /** Starts again, in the background, what should run but does not (its QEMU or container ended
   *  with a stop of the whole cluster or a reboot): its STATS tell the controller as it goes. */
  private async bringBack() {
    if (!this.opts.stoppedFile) return;
    const stopped = await this.stopped();
    for (const inst of this.instances.values()) {
      if (inst.state !== 'exited' || stopped.has(inst.spec.instanceId)) continue;
      const id = inst.spec.instanceId;
      this.opts.logger.info('starting again an instance that should run', { instanceId: id });
      this.startingAgain.set(id, this.restartInstance(id).finally(() => this.startingAgain.delete(id)));
    }
  }

  /** Leaves the scheduler; resolves once the node's records asked so far are written, so that
   *  the next launcher reads them whole. */
  async stop(): Promise<void> {
    for (const unwatch of this.unwatch.splice(0)) unwatch();
    clearTimeout(this.statsTimer);
    clearInterval(this.statsTimer);
    this.peer.stop();
    await Promise.all([this.underWay.written(), this.shelved.written(), this.stoppedWrites]);
  }

  stats(): NodeStats {
    const { capacity } = this.opts;
    const used: Resources = { vcpus: 0, memMB: 0, diskMB: 0 };
    for (const inst of this.instances.values()) {
      const r = claimed(inst.spec.resources, inst.hold);
      used.diskMB += r.diskMB;
      if (!claims(inst.state)) continue;
      used.vcpus += r.vcpus;
      used.memMB += r.memMB;
    }
    const memAvailableMB = capacity.memMB - used.memMB;
    const vcpusAvailable = capacity.vcpus - used.vcpus;
    const diskAvailableMB = capacity.diskMB - used.diskMB;
    return {
      nodeId: this.opts.nodeId,
      hostname: this.opts.hostname,
      status: memAvailableMB > 0 && vcpusAvailable > 0 && diskAvailableMB > 0 ? 'READY' : 'FULL',
      memTotalMB: capacity.memMB, memAvailableMB,
      diskTotalMB: capacity.diskMB, diskAvailableMB,
      vcpus: capacity.vcpus, vcpusAvailable,
      load: this.opts.load?.() ?? 0,
      at: Date.now(),
      instances: [...this.instances.values()].map((i) => ({
        instanceId: i.spec.instanceId, state: i.state, sshIp: i.sshIp, sshPort: i.sshPort,
        memUsageMB: runs(i.state) ? i.spec.resources.memMB : 0, diskUsageMB: i.spec.resources.diskMB,
        ...(i.died && { exit: i.died }),
        ...(i.rebooting && { rebooting: true as const }),
        ...(i.saving && { busy: i.saving }),
      })),
    };
  }

  /** Coalesces the reports of a burst of changes into one STATS. Each change is also an
   *  INSTANCE_STATE event, and the scheduler reserves what it places, so a short delay costs no
   *  accuracy and spares the control plane a report per change during a burst. */
  private statsChanged() {
    if (this.statsQueued) return;
    this.statsQueued = true;
    setTimeout(() => {
      this.statsQueued = false;
      this.sendStats();
    }, STATS_COALESCE_MS).unref();
  }

  private sendStats() {
    this.peer.send({ type: 'STATUS', op: 'STATS', payload: this.stats() });
  }

  /** The commands, each begun in the order they came: a DELETE that follows a START must not find
   *  the instance not there yet because the START's record was being written. */
  private handle(frame: Frame): Promise<void> {
    if (frame.type !== 'COMMAND') return Promise.resolve();
    // Recorded while under way with what came with it: a launcher killed meanwhile leaves it to the
    // next one (actionsCutShort). A START's spec (its user data, its files) its backend keeps.
    const recorded = isRecordedAction(frame.op) && 'instanceId' in frame.payload
      ? { id: frame.payload.instanceId, command: { op: frame.op, payload: frame.op === 'START' ? { instanceId: frame.payload.instanceId } : frame.payload } }
      : undefined;
    const begun = this.inOrder.then(() => recorded && this.underWay.set(recorded.id, recorded.command));
    this.inOrder = begun.catch(() => undefined);
    const starting = 'instanceId' in frame.payload ? this.startingAgain.get(frame.payload.instanceId) : undefined;
    return begun.then(async () => {
      try {
        // A resize sent again when the node came back, while its instance, found stopped by the
        // resize cut short, is started again: not refused as `pending` (docs/protocol.md "Actions").
        await starting;
        await this.act(frame);
      } finally {
        if (recorded) await this.underWay.set(recorded.id, undefined);
      }
    });
  }

  private async act(frame: Extract<Frame, { type: 'COMMAND' }>) {
    switch (frame.op) {
      case 'START': return this.startInstance(frame.payload);
      case 'STOP': return this.stopInstance(frame.payload.instanceId);
      case 'RESTART': return this.restartInstance(frame.payload.instanceId);
      case 'DELETE': return this.deleteInstance(frame.payload.instanceId);
      case 'PAUSE': return this.pauseInstance(frame.payload.instanceId, true);
      case 'UNPAUSE': return this.pauseInstance(frame.payload.instanceId, false);
      case 'REBOOT': return this.rebootInstance(frame.payload.instanceId, frame.payload.hard);
      case 'SUSPEND': return this.suspendInstance(frame.payload.instanceId);
      case 'RESUME': return this.resumeInstance(frame.payload.instanceId);
      case 'REBUILD': return this.rebuildInstance(frame.payload);
      case 'RESIZE': return this.resizeInstance(frame.payload);
      case 'SHELVE': return this.shelveInstance(frame.payload.instanceId);
      case 'SHELVE_OFFLOAD': return this.offloadInstance(frame.payload.instanceId);
      case 'UNSHELVE': return this.unshelveInstance(frame.payload.instanceId);
      case 'RESCUE': return this.rescueInstance(frame.payload.instanceId, frame.payload.image);
      case 'UNRESCUE': return this.rescueInstance(frame.payload.instanceId, null);
      case 'ATTACH_VOLUME': return this.changeVolumes('attach', frame.payload);
      case 'DETACH_VOLUME': return this.changeVolumes('detach', frame.payload);
      case 'CONSOLE': return this.sendConsole(frame.payload);
      case 'TUNNEL_PEERS': return this.applyTunnelPeers(frame.payload.peers.map((p) => p.ip));
      case 'NODE_FAULT':
        this.startFailure = frame.payload.startFailure;
        this.opts.logger.info('start fault set', { startFailure: this.startFailure });
        return;
      default:
        this.opts.logger.warn('command not for a launcher', { op: frame.op });
    }
  }

  private applyTunnelPeers(ips: string[]): Promise<void> {
    const apply = this.opts.onTunnelPeers;
    if (!apply) return Promise.resolve();
    this.tunnelUpdates = this.tunnelUpdates.then(() => apply(ips)).then(
      () => this.opts.logger.info('tunnel peers', { peers: ips }),
      (err) => this.opts.logger.warn('tunnel peers not applied', { peers: ips, error: (err as Error).message }));
    return this.tunnelUpdates;
  }

  private backend(spec: StartPayload): Backend {
    const { backends } = this.opts;
    return spec.cnci && backends.cnci ? backends.cnci : backends[spec.vmType];
  }

  private setState(inst: Instance, state: InstanceState, exit?: InstanceExit) {
    inst.state = state;
    inst.died = state === 'exited' && exit ? { reason: exit.reason, console: exit.console.slice(-1) } : undefined;
    this.peer.send({
      type: 'EVENT', op: 'INSTANCE_STATE',
      payload: { instanceId: inst.spec.instanceId, nodeId: this.opts.nodeId, state, sshIp: inst.sshIp, sshPort: inst.sshPort, exit, at: Date.now() },
    });
    this.statsChanged();
  }

  /** A backend saw an instance end. Unless a stop or delete of ours is under way, it died. */
  private died(id: string, exit: InstanceExit) {
    const inst = this.instances.get(id);
    // The end of a resize's own stop is not a death.
    if (inst?.saving === 'resize') return;
    if (inst?.state === 'pending') inst.diedStarting = exit;
    if (!inst || !runs(inst.state) || inst.rebooting || inst.saving === 'shelve') return;
    this.opts.logger.warn('instance exited unexpectedly', { instanceId: id, reason: exit.reason, console: exit.console.at(-1) });
    inst.sshIp = undefined;
    this.setState(inst, 'exited', exit);
  }

  /** Marks a started instance active, or reports it dead when it died while starting. */
  private started(inst: Instance) {
    const exit = inst.diedStarting;
    inst.diedStarting = undefined;
    this.setState(inst, 'active');
    if (exit) this.died(inst.spec.instanceId, exit);
  }

  /** A START of an instance this node has was sent again: a scheduler and a controller that went
   *  at once lost where it was placed (docs/protocol.md, "Placements are saved"). It is not started
   *  twice; its state is told again, unless its start is still under way and will tell it. */
  private startedAlready(inst: Instance) {
    this.opts.logger.info('START of an instance already here: its state is told again', { instanceId: inst.spec.instanceId, state: inst.state });
    if (inst.state !== 'pending') this.setState(inst, inst.state, inst.died);
  }

  private startFailed(instanceId: string, reason: StartFailureReason, message: string) {
    this.opts.logger.warn('start failed', { instanceId, reason, message });
    this.peer.send({ type: 'ERROR', op: 'START_FAILURE', payload: { instanceId, reason, message } });
  }

  private async startInstance(spec: StartPayload) {
    const here = this.instances.get(spec.instanceId);
    if (here) return this.startedAlready(here);
    const free = this.stats();
    const r = spec.resources;
    if (free.memAvailableMB < r.memMB || free.vcpusAvailable < r.vcpus || free.diskAvailableMB < r.diskMB) {
      return this.startFailed(spec.instanceId, 'full_cloud', `node ${this.opts.nodeId} has ${free.memAvailableMB} MB, ${free.vcpusAvailable} vcpus, ${free.diskAvailableMB} MB disk free`);
    }
    if (this.startFailure) return this.startFailed(spec.instanceId, this.startFailure, `fault injected on node ${this.opts.nodeId}`);
    const inst: Instance = { spec, state: 'pending' };
    this.instances.set(spec.instanceId, inst);
    this.setState(inst, 'pending');
    const t0 = performance.now();
    try {
      Object.assign(inst, await this.backend(spec).start(spec));
      this.opts.logger.info('instance started', { instanceId: spec.instanceId, backend: this.backend(spec).kind, ms: Math.round(performance.now() - t0) });
    } catch (err) {
      this.instances.delete(spec.instanceId);
      await this.backend(spec).delete(spec.instanceId).catch(() => undefined);
      this.statsChanged();
      const reason = err instanceof LaunchError ? err.reason : 'launch_failure';
      return this.startFailed(spec.instanceId, reason, (err as Error).message);
    }
    // A DELETE may have arrived while it booted: then finish the delete now that the start is done.
    if (this.instances.get(spec.instanceId) === inst) this.started(inst);
    else await this.backend(spec).delete(spec.instanceId).catch(() => undefined);
  }

  /** Tells an action's failure; one that found no scheduler connected is told once one is. */
  private lifecycleFailed(op: `${'STOP' | 'RESTART' | 'DELETE' | 'PAUSE' | 'UNPAUSE' | 'REBOOT' | 'SUSPEND' | 'RESUME' | 'REBUILD' | 'RESIZE' | 'SHELVE' | 'SHELVE_OFFLOAD' | 'UNSHELVE' | 'RESCUE' | 'UNRESCUE'}_FAILURE`, instanceId: string, reason: LifecycleFailureReason, message: string) {
    const verb = this.madeAgain.get(instanceId);
    const told = verb ? `the launcher of node ${this.opts.nodeId} was restarted during the ${verb}, which it made again: ${message}` : message;
    const frame: Frame = { type: 'ERROR', op, payload: { instanceId, reason, message: told } };
    if (!this.peer.send(frame)) this.untold.push(frame);
  }

  private async stopInstance(id: string) {
    const inst = this.instances.get(id);
    if (!inst) return this.lifecycleFailed('STOP_FAILURE', id, 'no_instance', `instance ${id} is not on node ${this.opts.nodeId}`);
    if (inst.state !== 'active') return this.lifecycleFailed('STOP_FAILURE', id, 'already_stopped', `instance ${id} is ${inst.state}`);
    if (inst.rebooting) return this.lifecycleFailed('STOP_FAILURE', id, 'wrong_state', `instance ${id} is rebooting`);
    this.setState(inst, 'stopping');
    try {
      await this.backend(inst.spec).stop(id);
      inst.sshIp = undefined;
      await this.markStopped(id, true);
      this.setState(inst, 'exited');
    } catch (err) {
      this.setState(inst, 'hung');
      this.lifecycleFailed('STOP_FAILURE', id, 'backend_failure', (err as Error).message);
    }
  }

  private async restartInstance(id: string) {
    const inst = this.instances.get(id);
    if (!inst) return this.lifecycleFailed('RESTART_FAILURE', id, 'no_instance', `instance ${id} is not on node ${this.opts.nodeId}`);
    if (inst.state !== 'exited') return this.lifecycleFailed('RESTART_FAILURE', id, 'already_running', `instance ${id} is ${inst.state}`);
    this.setState(inst, 'pending');
    try {
      Object.assign(inst, await this.backend(inst.spec).start({ ...inst.spec, restart: true }));
      await this.markStopped(id, false);
      this.started(inst);
    } catch (err) {
      this.setState(inst, 'exited');
      this.lifecycleFailed('RESTART_FAILURE', id, 'backend_failure', (err as Error).message);
    }
  }

  /** Freezes an active instance (`paused`), or thaws a paused one (`active`). */
  private async pauseInstance(id: string, pause: boolean) {
    const op = pause ? 'PAUSE_FAILURE' : 'UNPAUSE_FAILURE';
    if (this.takenAgain(id, undefined, pause ? 'paused' : 'active')) return;
    const inst = this.instances.get(id);
    if (!inst) return this.lifecycleFailed(op, id, 'no_instance', `instance ${id} is not on node ${this.opts.nodeId}`);
    const [from, to] = pause ? ['active', 'paused'] as const : ['paused', 'active'] as const;
    if (inst.state !== from || inst.rebooting) return this.lifecycleFailed(op, id, 'wrong_state', `instance ${id} is ${inst.rebooting ? 'rebooting' : inst.state}, not ${from}`);
    const backend = this.backend(inst.spec);
    const change = pause ? backend.pause : backend.unpause;
    if (!change || inst.spec.cnci) return this.lifecycleFailed(op, id, 'not_supported', `the ${backend.kind} backend cannot ${pause ? 'pause' : 'unpause'} instance ${id}`);
    try {
      await change.call(backend, id);
    } catch (err) {
      return this.lifecycleFailed(op, id, 'backend_failure', (err as Error).message);
    }
    this.setState(inst, to);
  }

  /** Boots an active instance's guest again, as Nova's libvirt driver does: the runtime is stopped
   *  and started again from the instance's own disk (a new QEMU, a new container process), soft or
   *  hard alike — the guest has no agent to ask first (docs/protocol.md "Actions"). It stays
   *  `active` throughout, as seen from outside; an end seen meanwhile is the reboot's own. */
  private async rebootInstance(id: string, hard: boolean) {
    const inst = this.instances.get(id);
    if (!inst) return this.lifecycleFailed('REBOOT_FAILURE', id, 'no_instance', `instance ${id} is not on node ${this.opts.nodeId}`);
    if (inst.state !== 'active' || inst.rebooting) return this.lifecycleFailed('REBOOT_FAILURE', id, 'wrong_state', `instance ${id} is ${inst.rebooting ? 'rebooting already' : inst.state}, not active`);
    if (inst.spec.cnci) return this.lifecycleFailed('REBOOT_FAILURE', id, 'not_supported', `instance ${id} is a CNCI`);
    const backend = this.backend(inst.spec);
    inst.rebooting = true;
    try {
      await backend.stop(id);
      // A delete that came meanwhile has removed what the start would use: the start must not run.
      if (this.instances.get(id) !== inst) return;
      Object.assign(inst, await backend.start({ ...inst.spec, restart: true }));
      this.opts.logger.info('instance rebooted', { instanceId: id, hard });
    } catch (err) {
      inst.rebooting = false;
      this.lifecycleFailed('REBOOT_FAILURE', id, 'backend_failure', (err as Error).message);
      // Broken half-way, it does not run: say so, as for a death.
      this.died(id, { reason: `the reboot failed: ${(err as Error).message}`, console: [] });
      return;
    }
    inst.rebooting = false;
    // Deleted while it started again: what the start made goes too.
    if (this.instances.get(id) !== inst) return void (await backend.delete(id).catch(() => undefined));
    this.setState(inst, 'active');
  }

  /** Saves an active instance's memory to disk and ends its runtime (`suspended`): the instance
   *  keeps its resources counted, so its resume fits (docs/protocol.md "Actions"). */
  private async suspendInstance(id: string) {
    if (this.takenAgain(id, 'suspend', 'suspended')) return;
    const inst = this.actionable('SUSPEND_FAILURE', id, 'active');
    if (!inst) return;
    const backend = this.backend(inst.spec);
    if (!backend.suspend) return this.lifecycleFailed('SUSPEND_FAILURE', id, 'not_supported', `the ${backend.kind} backend cannot suspend instance ${id}: ${backend.kind === 'docker' ? 'a container\'s memory cannot be saved (Docker checkpoints need CRIU)' : 'it has no way to save its memory'}`);
    inst.saving = 'suspend';
    try {
      await backend.suspend(id);
    } catch (err) {
      return this.lifecycleFailed('SUSPEND_FAILURE', id, 'backend_failure', (err as Error).message);
    } finally {
      inst.saving = undefined;
    }
    inst.sshIp = undefined;
    this.setState(inst, 'suspended');
  }

  /** Starts a suspended instance again from its saved memory: the same boot goes on. */
  private async resumeInstance(id: string) {
    if (this.takenAgain(id, 'resume', 'active')) return;
    const inst = this.actionable('RESUME_FAILURE', id, 'suspended');
    if (!inst) return;
    const backend = this.backend(inst.spec);
    if (!backend.resume) return this.lifecycleFailed('RESUME_FAILURE', id, 'not_supported', `the ${backend.kind} backend cannot resume instance ${id}`);
    inst.saving = 'resume';
    try {
      Object.assign(inst, await backend.resume(inst.spec));
    } catch (err) {
      return this.lifecycleFailed('RESUME_FAILURE', id, 'backend_failure', (err as Error).message);
    } finally {
      inst.saving = undefined;
    }
    // Deleted while it resumed: what the resume started goes too.
    if (this.instances.get(id) !== inst) return void (await backend.delete(id).catch(() => undefined));
    this.started(inst);
  }

  /** Makes an active or stopped instance's root disk again from a new image, as Nova's rebuild:
   *  the runtime stops, the disk is made anew, and an active one boots on it (a new boot; same id,
   *  MAC, address and volumes); a stopped one stays stopped. `pending` meanwhile. The files
   *  injected are the rebuild's own (Nova's personality), not the first start's. */
  private async rebuildInstance({ instanceId: id, image, files }: RebuildPayload) {
    const inst = this.actionable('REBUILD_FAILURE', id, 'active', 'exited');
    if (!inst) return;
    const backend = this.backend(inst.spec);
    if (!backend.rebuild) return this.lifecycleFailed('REBUILD_FAILURE', id, 'not_supported', `the ${backend.kind} backend cannot rebuild instance ${id}`);
    const running = inst.state === 'active';
    const spec = { ...inst.spec, image, files };
    inst.saving = 'rebuild';
    this.setState(inst, 'pending');
    try {
      if (running) await backend.stop(id);
      // A delete that came meanwhile has removed the instance: nothing is made again.
      if (this.instances.get(id) !== inst) return;
      await backend.rebuild(spec);
      inst.spec = spec;
      if (running) Object.assign(inst, await backend.start({ ...spec, restart: true }));
    } catch (err) {
      inst.sshIp = undefined;
      this.lifecycleFailed('REBUILD_FAILURE', id, 'backend_failure', (err as Error).message);
      // Broken half-way, it does not run.
      this.setState(inst, 'exited', running ? { reason: `the rebuild failed: ${(err as Error).message}`, console: [] } : undefined);
      return;
    } finally {
      inst.saving = undefined;
    }
    this.opts.logger.info('instance rebuilt', { instanceId: id, image });
    return this.remade(inst, backend, running);
  }

  /** A rebuild or resize is done: what a delete meanwhile left is removed, else the instance is
   *  reported running again, or stopped as it was. */
  private async remade(inst: Instance, backend: Backend, running: boolean) {
    if (this.instances.get(inst.spec.instanceId) !== inst) return void (await backend.delete(inst.spec.instanceId).catch(() => undefined));
    if (running) return this.started(inst);
    inst.sshIp = undefined;
    this.setState(inst, 'exited');
  }

  /** Gives an active or stopped instance a new flavor's resources (docs/protocol.md "Resize"): the
   *  runtime stops, the backend applies them (the disk grows), and an active one starts again with
   *  them; a stopped one stays stopped. `pending` meanwhile. A RESIZE to what it already has only
   *  sets the hold (a confirm, or one sent again) and answers with its state. */
  private async resizeInstance({ instanceId: id, resources, workloadId, hold }: ResizePayload) {
    const current = this.instances.get(id);
    // Sent again while this very resize runs: its end answers both.
    if (current?.saving === 'resize' && current.resizingTo && sameResources(current.resizingTo, resources)) return;
    const inst = this.actionable('RESIZE_FAILURE', id, 'active', 'exited');
    if (!inst) return;
    if (sameResources(inst.spec.resources, resources)) {
      inst.spec = { ...inst.spec, workloadId };
      inst.hold = hold ?? undefined;
      return this.setState(inst, inst.state);
    }
    const backend = this.backend(inst.spec);
    if (!backend.resize) return this.lifecycleFailed('RESIZE_FAILURE', id, 'not_supported', `the ${backend.kind} backend cannot resize instance ${id}`);
    const running = inst.state === 'active';
    const count = (r: Resources, h?: Resources | null) => { const c = claimed(r, h); return running ? c : { ...c, vcpus: 0, memMB: 0 }; };
    const more = growth(count(inst.spec.resources, inst.hold), count(resources, hold));
    const free = this.stats();
    if (more.memMB > free.memAvailableMB || more.vcpus > free.vcpusAvailable || more.diskMB > free.diskAvailableMB) {
      return this.lifecycleFailed('RESIZE_FAILURE', id, 'full_cloud', `node ${this.opts.nodeId} has ${free.memAvailableMB} MB, ${free.vcpusAvailable} vcpus, ${free.diskAvailableMB} MB disk free: the resize needs ${more.memMB} MB, ${more.vcpus} vcpus, ${more.diskMB} MB more`);
    }
    const old = { spec: inst.spec, hold: inst.hold };
    const spec = { ...inst.spec, resources, workloadId };
    inst.saving = 'resize';
    inst.resizingTo = resources;
    // Counted at the larger of the two from now on.
    inst.spec = spec;
    inst.hold = hold ?? undefined;
    this.setState(inst, 'pending');
    try {
      if (running) await backend.stop(id);
      // A delete that came meanwhile has removed the instance: nothing is started again.
      if (this.instances.get(id) !== inst) return;
      await backend.resize(spec);
      if (running) Object.assign(inst, await backend.start({ ...spec, restart: true }));
    } catch (err) {
      Object.assign(inst, old);
      inst.saving = undefined;
      this.lifecycleFailed('RESIZE_FAILURE', id, 'backend_failure', (err as Error).message);
      return this.startedAgain(inst, running, `the resize failed: ${(err as Error).message}`);
    } finally {
      inst.resizingTo = undefined;
    }
    inst.saving = undefined;
    this.opts.logger.info('instance resized', { instanceId: id, resources });
    return this.remade(inst, backend, running);
  }

  /** After a resize that broke: a running one is started again as it was, or said to be stopped. */
  private async startedAgain(inst: Instance, running: boolean, why: string) {
    const backend = this.backend(inst.spec);
    if (running && this.instances.get(inst.spec.instanceId) === inst) {
      try {
        await backend.stop(inst.spec.instanceId);
        Object.assign(inst, await backend.start({ ...inst.spec, restart: true }));
        return this.started(inst);
      } catch (err) {
        inst.sshIp = undefined;
        return this.setState(inst, 'exited', { reason: `${why}; starting it again failed too: ${(err as Error).message}`, console: [] });
      }
    }
    inst.sshIp = undefined;
    this.setState(inst, 'exited');
  }

  /** Stops an active, paused or stopped instance and keeps it with its disk (`shelved`): its
   *  memory and vcpus stay claimed until the offload (docs/protocol.md "Shelve"). */
  private async shelveInstance(id: string) {
    if (this.takenAgain(id, 'shelve', 'shelved', 'shelved_offloaded')) return;
    const inst = this.actionable('SHELVE_FAILURE', id, 'active', 'paused', 'exited');
    if (!inst) return;
    const backend = this.backend(inst.spec);
    const done = await this.shelveStep('SHELVE_FAILURE', inst, 'shelve', async () => {
      // A frozen runtime is thawed first: Docker stops no paused container.
      if (inst.state === 'paused') await backend.unpause?.(id);
      await backend.stop(id);
      inst.sshIp = undefined;
      await this.markStopped(id, true);
      await this.shelved.set(id, 'shelved');
    });
    if (done && this.instances.get(id) === inst) this.setState(inst, 'shelved');
  }

  /** A shelved instance gives back what it holds on the node but its disk (`shelved_offloaded`). */
  private async offloadInstance(id: string) {
    if (this.takenAgain(id, 'offload', 'shelved_offloaded')) return;
    const inst = this.actionable('SHELVE_OFFLOAD_FAILURE', id, 'shelved');
    if (!inst) return;
    const done = await this.shelveStep('SHELVE_OFFLOAD_FAILURE', inst, 'offload', async () => {
      await this.backend(inst.spec).offload?.(id);
      await this.shelved.set(id, 'shelved_offloaded');
    });
    if (done && this.instances.get(id) === inst) this.setState(inst, 'shelved_offloaded');
  }

  /** Runs a shelve or offload with the instance marked busy; a failure is sent as `op`. Whether it was done. */
  private async shelveStep(op: 'SHELVE_FAILURE' | 'SHELVE_OFFLOAD_FAILURE', inst: Instance, saving: 'shelve' | 'offload', work: () => Promise<void>): Promise<boolean> {
    inst.saving = saving;
    try {
      await work();
      return true;
    } catch (err) {
      this.lifecycleFailed(op, inst.spec.instanceId, 'backend_failure', (err as Error).message);
      return false;
    } finally {
      inst.saving = undefined;
    }
  }

  /** Starts a shelved instance again from its own disk, as a restart; an offloaded one only when
   *  the node still has room for it (`full_cloud` otherwise, and it stays offloaded). */
  private async unshelveInstance(id: string) {
    if (this.takenAgain(id, 'unshelve', 'active')) return;
    const inst = this.actionable('UNSHELVE_FAILURE', id, 'shelved', 'shelved_offloaded');
    if (!inst) return;
    const from = inst.state;
    const free = this.stats();
    const r = inst.spec.resources;
    if (from === 'shelved_offloaded' && (free.memAvailableMB < r.memMB || free.vcpusAvailable < r.vcpus)) {
      return this.lifecycleFailed('UNSHELVE_FAILURE', id, 'full_cloud', `node ${this.opts.nodeId} has ${free.memAvailableMB} MB and ${free.vcpusAvailable} vcpus free; instance ${id} needs ${r.memMB} MB and ${r.vcpus} vcpus`);
    }
    const backend = this.backend(inst.spec);
    inst.saving = 'unshelve';
    this.setState(inst, 'pending');
    try {
      Object.assign(inst, await backend.start({ ...inst.spec, restart: true }));
      await this.shelved.set(id, undefined);
      await this.markStopped(id, false);
    } catch (err) {
      if (from === 'shelved_offloaded') await backend.offload?.(id).catch(() => undefined);
      this.setState(inst, from);
      return this.lifecycleFailed('UNSHELVE_FAILURE', id, 'backend_failure', (err as Error).message);
    } finally {
      inst.saving = undefined;
    }
    // Deleted while it started: what the start made goes too.
    if (this.instances.get(id) !== inst) return void (await backend.delete(id).catch(() => undefined));
    this.started(inst);
  }

  /** Boots an active or stopped VM from a rescue image with its own disk attached (`rescued`), or
   *  (`image` null) a rescued one from its own image again (`active`), as Nova's rescue: the
   *  runtime stops and another boots (docs/protocol.md "Actions"). A rescue that fails brings an
   *  active instance back as it was. */
  private async rescueInstance(id: string, image: string | null) {
    const rescue = image !== null;
    const op = rescue ? 'RESCUE_FAILURE' : 'UNRESCUE_FAILURE';
    if (this.takenAgain(id, rescue ? 'rescue' : 'unrescue', rescue ? 'rescued' : 'active')) return;
    const inst = rescue ? this.actionable(op, id, 'active', 'exited') : this.actionable(op, id, 'rescued');
    if (!inst) return;
    const backend = this.backend(inst.spec);
    if (!backend.rescue || !backend.unrescue || inst.spec.vmType !== 'qemu') {
      return this.lifecycleFailed(op, id, 'not_supported', `the ${backend.kind} backend cannot rescue instance ${id}: only a VM boots another system beside its own disk`);
    }
    const was = inst.state;
    inst.saving = rescue ? 'rescue' : 'unrescue';
    try {
      if (was !== 'exited') await backend.stop(id);
      // A delete that came meanwhile has removed the instance: nothing is started again.
      if (this.instances.get(id) !== inst) return;
      Object.assign(inst, rescue ? await backend.rescue(inst.spec, image) : await backend.unrescue(inst.spec));
    } catch (err) {
      const message = (err as Error).message;
      inst.sshIp = undefined;
      this.lifecycleFailed(op, id, 'backend_failure', message);
      if (rescue && was === 'active') {
        const back = await backend.start({ ...inst.spec, restart: true }).catch(() => undefined);
        if (back) return void (Object.assign(inst, back), this.setState(inst, 'active'));
      }
      this.setState(inst, 'exited', was === 'exited' ? undefined : { reason: `the ${rescue ? 'rescue' : 'unrescue'} failed: ${message}`, console: [] });
      return;
    } finally {
      inst.saving = undefined;
    }
    this.opts.logger.info(rescue ? 'instance rescued' : 'instance unrescued', { instanceId: id, image });
    if (this.instances.get(id) !== inst) return void (await backend.delete(id).catch(() => undefined));
    if (was === 'exited') await this.markStopped(id, false);
    this.setState(inst, rescue ? 'rescued' : 'active');
  }

  /** The instance, when it is on this node, in the state an action needs, and not a CNCI; otherwise the failure is sent. */
  /** A command that may come again (docs/protocol.md, "Actions": the first, or its answer, may
   *  have gone with a scheduler): whether it needs nothing more. The same action under way answers
   *  when it ends; an instance in the action's end state already is told in it, as if just done. */
  private takenAgain(id: string, action: Busy | undefined, ...done: InstanceState[]): boolean {
    const inst = this.instances.get(id);
    if (!inst || inst.rebooting) return false;
    if (action && inst.saving === action) return true;
    if (inst.saving || !done.includes(inst.state)) return false;
    this.setState(inst, inst.state);
    return true;
  }

  private actionable(op: 'SUSPEND_FAILURE' | 'RESUME_FAILURE' | 'REBUILD_FAILURE' | 'RESIZE_FAILURE' | 'SHELVE_FAILURE' | 'SHELVE_OFFLOAD_FAILURE' | 'UNSHELVE_FAILURE' | 'RESCUE_FAILURE' | 'UNRESCUE_FAILURE', id: string, ...from: InstanceState[]): Instance | undefined {
    const inst = this.instances.get(id);
    if (!inst) return void this.lifecycleFailed(op, id, 'no_instance', `instance ${id} is not on node ${this.opts.nodeId}`);
    const busy = inst.rebooting ? 'rebooting' : inst.saving ? `${inst.saving.replace(/e$/, '')}ing` : undefined;
    if (!from.includes(inst.state) || busy) return void this.lifecycleFailed(op, id, 'wrong_state', `instance ${id} is ${busy ?? inst.state}, not ${from.join(' or ')}`);
    if (inst.spec.cnci) return void this.lifecycleFailed(op, id, 'not_supported', `instance ${id} is a CNCI`);
    return inst;
  }

  /** Attaches or detaches a volume: hot-plugged when the VM runs, kept in its spec for the next start either way. */
  private async changeVolumes(what: 'attach' | 'detach', p: AttachVolume | DetachVolume) {
    const volumeId = 'volume' in p ? p.volume.id : p.volumeId;
    const failed = (reason: VolumeFailure['reason'], message: string) =>
      this.peer.send({ type: 'ERROR', op: what === 'attach' ? 'ATTACH_VOLUME_FAILURE' : 'DETACH_VOLUME_FAILURE', payload: { instanceId: p.instanceId, volumeId, reason, message } });
    const inst = this.instances.get(p.instanceId);
    if (!inst) return failed('no_instance', `instance ${p.instanceId} is not on node ${this.opts.nodeId}`);
    const backend = this.backend(inst.spec);
    if (!backend[what] || inst.spec.vmType !== 'qemu') return failed('not_supported', `instance ${p.instanceId} is not a VM: only VMs have volumes`);
    if ((inst.state !== 'active' && inst.state !== 'exited') || inst.rebooting) return failed('backend_failure', `instance ${p.instanceId} is ${inst.rebooting ? 'rebooting' : inst.state}`);
    // A command the controller sent again after a restart: the one in flight will answer, and a
    // done one is answered again.
    const key = `${p.instanceId} ${volumeId}`;
    if (this.volumeOps.has(key)) return;
    const done = () => this.peer.send({ type: 'EVENT', op: what === 'attach' ? 'VOLUME_ATTACHED' : 'VOLUME_DETACHED', payload: { instanceId: p.instanceId, volumeId, nodeId: this.opts.nodeId } });
    const others = (inst.spec.volumes ?? []).filter((v) => v.id !== volumeId);
    if ((others.length < (inst.spec.volumes ?? []).length) === (what === 'attach')) return done();
    const spec = { ...inst.spec, volumes: 'volume' in p ? [...others, p.volume] : others };
    this.volumeOps.add(key);
    try {
      if ('volume' in p) await backend.attach!(spec, p.volume, inst.state === 'active');
      else await backend.detach!(spec, volumeId, inst.state === 'active');
    } catch (err) {
      return failed('backend_failure', (err as Error).message);
    } finally {
      this.volumeOps.delete(key);
    }
    inst.spec = spec;
    this.opts.logger.info(`volume ${what === 'attach' ? 'attached' : 'detached'}`, { instanceId: p.instanceId, volumeId });
    done();
  }

  /** Answers with the tail of an instance's console. Only an instance of this node's own is
   *  looked up: its id is checked against them before any backend makes a path of it. */
  private async sendConsole({ instanceId, requestId, lines }: ConsoleRequest) {
    const failed = (reason: ConsoleFailure['reason'], message: string) =>
      this.peer.send({ type: 'ERROR', op: 'CONSOLE_FAILURE', payload: { instanceId, requestId, reason, message } });
    const inst = this.instances.get(instanceId);
    if (!inst) return failed('no_instance', `instance ${instanceId} is not on node ${this.opts.nodeId}`);
    const backend = this.backend(inst.spec);
    if (!backend.console || inst.spec.cnci) return failed('not_supported', `instance ${instanceId} has no console the ${backend.kind} backend can read`);
    try {
      const { text, truncated } = await backend.console(instanceId, lines);
      this.peer.send({ type: 'STATUS', op: 'CONSOLE_OUTPUT', payload: { instanceId, requestId, text, truncated } });
    } catch (err) {
      failed('backend_failure', (err as Error).message);
    }
  }

  private async deleteInstance(id: string) {
    const under = this.deleting.get(id);
    if (under) return under;
    const deleted = this.deleteOnce(id).finally(() => this.deleting.delete(id));
    this.deleting.set(id, deleted);
    return deleted;
  }

  private async deleteOnce(id: string) {
    const inst = this.instances.get(id);
    if (!inst) {
      // Already gone (e.g. a failed start): say so, so the controller can finish the delete.
      this.peer.send({ type: 'EVENT', op: 'INSTANCE_DELETED', payload: { instanceId: id, nodeId: this.opts.nodeId } });
      return;
    }
    this.instances.delete(id);
    try {
      await this.backend(inst.spec).delete(id);
    } catch (err) {
      this.instances.set(id, inst);
      this.setState(inst, 'hung');
      return this.lifecycleFailed('DELETE_FAILURE', id, 'backend_failure', (err as Error).message);
    }
    await this.markStopped(id, false);
    await this.shelved.set(id, undefined);
    this.peer.send({ type: 'EVENT', op: 'INSTANCE_DELETED', payload: { instanceId: id, nodeId: this.opts.nodeId } });
    this.statsChanged();
  }
}
