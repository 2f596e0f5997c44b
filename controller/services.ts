// The controller assembled: datastore, services, and the handling of what the scheduler sends.
import type { Frame, Hello } from '../protocol/payloads.ts';

/** A node's report that an action on one of its instances failed (docs/protocol.md "Actions"). */
const ACTIONS = ['STOP', 'RESTART', 'DELETE', 'PAUSE', 'UNPAUSE', 'REBOOT', 'SUSPEND', 'RESUME', 'REBUILD', 'RESIZE', 'SHELVE', 'SHELVE_OFFLOAD', 'UNSHELVE', 'RESCUE', 'UNRESCUE'] as const;
type LifecycleFailureFrame = Extract<Frame, { op: `${typeof ACTIONS[number]}_FAILURE` }>;
const LIFECYCLE_FAILURES = new Set<string>(ACTIONS.map((op) => `${op}_FAILURE`));
const isLifecycleFailure = (frame: Frame): frame is LifecycleFailureFrame => LIFECYCLE_FAILURES.has(frame.op);
/** What a controller that restarts is told again (docs/durability.md, "Reports"): each node's
 *  STATS (the states of its instances), the nodes connected, each CNCI's last CNCI_READY, where the
 *  scheduler placed what until it is saved, and a deletion's end (asked again of the node for each
 *  instance still deleting). */
const SAID_AGAIN: ReadonlySet<string> = new Set(['STATS', 'INSTANCE_STATE', 'PLACED', 'NODE_CONNECTED', 'NODE_DISCONNECTED', 'CNCI_READY', 'INSTANCE_DELETED']);
import type { ControllerContext } from './context.ts';
import type { AdmissionLimits } from './create-admission.ts';
import { EventLog } from './events.ts';
import { ExternalIps } from './external-ips.ts';
import { Images } from './images.ts';
import { Instances } from './instances.ts';
import { Shelving } from './instance-shelve.ts';
import { Metadefs } from './metadefs.ts';
import { NodeRegistry } from './nodes.ts';
import { NodeMaintenance } from './node-maintenance.ts';
import { Tenants } from './tenants.ts';
import { TenantEgress } from './tenant-egress.ts';
import { Volumes } from './volumes.ts';
import { ConsoleRequests } from './console-requests.ts';
import { PlacementsSaved } from './placements-saved.ts';
import type { TokenCache } from './auth.ts';
import type { Datastore } from './datastore/datastore.ts';
import type { Logger } from '../shared/log.ts';

export class Services {
  readonly events: EventLog;
  readonly nodes: NodeRegistry;
  readonly maintenance: NodeMaintenance;
  readonly tenants: Tenants;
  readonly instances: Instances;
  readonly shelving: Shelving;
  readonly externalIps: ExternalIps;
  readonly tenantEgress: TenantEgress;
  readonly images: Images;
  readonly volumes: Volumes;
  readonly metadefs: Metadefs;
  readonly consoles: ConsoleRequests;
  readonly ctx: ControllerContext;
  private readonly placementsSaved: PlacementsSaved;

  constructor(
    readonly store: Datastore,
    readonly auth: TokenCache,
    readonly send: (frame: Frame) => boolean,
    dirs: { imageDir: string; volumeDir: string; egress?: boolean; admission?: Partial<AdmissionLimits> },
    logger: Logger,
  ) {
    this.events = new EventLog(store.events);
    this.ctx = { store, events: this.events, logger, send, ...dirs };
    this.nodes = new NodeRegistry(store.nodes);
    this.tenants = new Tenants(this.ctx);
    this.volumes = new Volumes(this.ctx, (id) => this.images.path(id));
    this.instances = new Instances(this.ctx, this.volumes);
    this.shelving = new Shelving(this.ctx, this.instances);
    this.maintenance = new NodeMaintenance(this.ctx, this.nodes, this.instances);
    this.externalIps = new ExternalIps(this.ctx, this.instances);
    this.tenantEgress = new TenantEgress(this.ctx, this.instances);
    this.images = new Images(this.ctx, this.instances);
    this.metadefs = new Metadefs(store.metadefNamespaces);
    this.consoles = new ConsoleRequests(this.ctx);
    this.placementsSaved = new PlacementsSaved(store, send);
    void this.volumes.resume();
  }

  /** A frame from the scheduler (docs/protocol.md, "Ops"; op names are unique across frame types).
   *  What a node or a CNCI says (`from`, stamped by the scheduler) is believed only of what is its
   *  own: the instances placed on that node, the tenant that CNCI serves (docs/security.md). */
  onFrame(frame: Frame): void {
    // What the nodes or the scheduler tell a controller again after a restart is written behind:
    // no answer or frame waits for it to be saved (docs/durability.md). The rest is decided on.
    if (SAID_AGAIN.has(frame.op)) this.store.reported(() => this.handle(frame));
    else this.handle(frame);
  }

  /** Connected to a scheduler: first what it tells again in its HELLO, its answers about STARTs
   *  that the last controller may not have saved (docs/protocol.md, "Placements are saved"); then
   *  the STARTs it never had are sent again. Taken as reports: the scheduler keeps them until told
   *  they are saved. */
  schedulerConnected(hello: Hello, sameScheduler: boolean): void {
    this.placementsSaved.connected();
    this.store.reported(() => {
      for (const placed of hello.placed ?? []) this.instances.placedAgain(placed);
      for (const refused of hello.refused ?? []) this.instances.refusedAgain(refused);
    });
    let last: number | undefined;
    for (const answer of [...(hello.placed ?? []), ...(hello.refused ?? [])]) last = Math.max(last ?? 0, answer.seq ?? 0);
    this.placementsSaved.take(last);
    if (!sameScheduler) this.instances.dispatchUnplaced();
  }

  private handle(frame: Frame): void {
    const verdict = this.mayTell(frame);
    if (verdict === 'gone') {
      // A late report (a node ends a start or a delete after the instance, or its tenant, was
      // deleted): nothing is left for it to change, and nothing is wrong.
      this.ctx.logger.info('ignored a frame about what no longer exists', { op: frame.op, from: frame.from, payload: frame.payload });
      return;
    }
    if (verdict === 'refused') {
      this.ctx.logger.warn('refused a frame about what is not its sender\'s', { op: frame.op, from: frame.from, payload: frame.payload });
      return;
    }
    if (isLifecycleFailure(frame)) return this.instances.lifecycleFailed(frame.op, frame.payload.instanceId, frame.payload.message);
    switch (frame.op) {
      case 'STATS':
        this.nodes.update(frame.payload);
        return this.instances.reconcile(frame.payload);
      case 'PLACED':
        this.instances.placed(frame.payload);
        return this.placementsSaved.take(frame.payload.seq);
      case 'CNCI_READY': return this.instances.cnciReady(frame.payload);
      case 'NODE_CONNECTED':
        this.nodes.connected(frame.payload);
        this.instances.nodeConnected(frame.payload.nodeId);
        this.events.add(null, 'info', `Node ${frame.payload.nodeId} connected`);
        return;
      case 'NODE_DISCONNECTED':
        this.nodes.disconnected(frame.payload.nodeId);
        // A node the scheduler waits for keeps its instances as they are until NODE_GONE: what is
        // asked of them meanwhile waits for it (docs/protocol.md, "Placement" 7).
        if (!frame.payload.awayMs) this.instances.nodeLost(frame.payload.nodeId);
        this.events.add(null, 'error', `Node ${frame.payload.nodeId} disconnected`);
        return;
      case 'NODE_GONE':
        if (this.nodes.isOnline(frame.payload.nodeId)) return;
        this.instances.nodeLost(frame.payload.nodeId);
        this.events.add(null, 'error', `Node ${frame.payload.nodeId} did not come back: its instances are missing`);
        return;
      case 'INSTANCE_STATE': return this.instances.stateChanged(frame.payload);
      case 'INSTANCE_DELETED': return this.instances.deleted(frame.payload.instanceId);
      case 'PUBLIC_IP_ASSIGNED': return this.externalIps.assigned(frame.payload);
      case 'PUBLIC_IP_RELEASED': return this.externalIps.released(frame.payload);
      case 'PUBLIC_IP_FAILURE': return this.externalIps.failed(frame.payload);
      case 'START_FAILURE':
        this.instances.startFailed(frame.payload);
        // The scheduler's own (no `from`) is kept until saved; a node's `seq` means nothing.
        if (frame.from === undefined) this.placementsSaved.take(frame.payload.seq);
        return;
      case 'VOLUME_ATTACHED': return this.volumes.attached(frame.payload);
      case 'VOLUME_DETACHED': return this.volumes.detached(frame.payload);
      case 'ATTACH_VOLUME_FAILURE':
      case 'DETACH_VOLUME_FAILURE': return this.volumes.failed(frame.op, frame.payload);
      case 'CONSOLE_OUTPUT': return this.consoles.answered(frame.payload, frame.from);
      case 'CONSOLE_FAILURE': return this.consoles.failed(frame.payload, frame.from);
      case 'UNREACHABLE':
        // Asking for a console changes nothing: its node being gone is the request's answer alone.
        if (frame.payload.op === 'CONSOLE') return this.consoles.unreachable(frame.payload.instanceId, frame.payload.to);
        return this.instances.unreachable(frame.payload.op, frame.payload.instanceId, frame.payload.to);
      default:
        this.ctx.logger.warn('unexpected frame from scheduler', { type: frame.type, op: frame.op });
    }
  }

  /** Whether the frame's sender may speak of what it names: 'gone' when that (an instance, a
   *  tenant) no longer exists. The scheduler's own frames carry no `from`. */
  private mayTell(frame: Frame): 'ok' | 'gone' | 'refused' {
    const from = frame.from;
    if (from === undefined) return 'ok';
    const { store } = this;
    const verdict = (owner: string | undefined, exists: boolean) => (!exists ? 'gone' : owner === from ? 'ok' : 'refused');
    /** The instance was placed on the sending node. */
    const onSender = (instanceId: string) => {
      const inst = store.instances.get(instanceId);
      return verdict(inst?.node_id ?? undefined, inst !== undefined);
    };
    /** The sender is the CNCI of that tenant. */
    const tenantsCnci = (tenantId: string) => {
      const tenant = store.tenants.get(tenantId);
      return verdict(tenant?.cnci?.instance_id, tenant !== undefined);
    };
    if (isLifecycleFailure(frame)) return onSender(frame.payload.instanceId);
    switch (frame.op) {
      case 'STATS': return frame.payload.nodeId === from ? 'ok' : 'refused';
      case 'INSTANCE_STATE': return frame.payload.nodeId === from ? onSender(frame.payload.instanceId) : 'refused';
      case 'INSTANCE_DELETED':
      case 'START_FAILURE':
      case 'VOLUME_ATTACHED':
      case 'VOLUME_DETACHED':
      case 'ATTACH_VOLUME_FAILURE':
      case 'DETACH_VOLUME_FAILURE':
      case 'CONSOLE_OUTPUT':
      case 'CONSOLE_FAILURE': return onSender(frame.payload.instanceId);
      case 'CNCI_READY': return frame.payload.instanceId === from ? tenantsCnci(frame.payload.tenantId) : 'refused';
      case 'PUBLIC_IP_ASSIGNED':
      case 'PUBLIC_IP_RELEASED':
      case 'PUBLIC_IP_FAILURE': return tenantsCnci(frame.payload.tenantId);
      default: return 'refused'; // the rest (PLACED, NODE_*, UNREACHABLE) is the scheduler's alone to say
    }
  }
}
