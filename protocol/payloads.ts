// Payload types of the cluster protocol (docs/protocol.md), declared once with their validators.
// Every daemon imports them from here; a frame is validated on receipt, then trusted.
import { z } from 'zod';

export const Role = z.enum(['scheduler', 'controller', 'compute', 'network', 'cnci']);
export type Role = z.infer<typeof Role>;

export const InstanceState = z.enum(['pending', 'active', 'paused', 'suspended', 'rescued', 'stopping', 'exited', 'hung', 'missing', 'deleting', 'shelved', 'shelved_offloaded']);
export type InstanceState = z.infer<typeof InstanceState>;

export const StartFailureReason = z.enum([
  'no_cn', 'no_net_cn', 'full_cloud', 'image_failure', 'launch_failure', 'network_failure', 'already_running', 'invalid_data',
  'group_policy',
]);
export type StartFailureReason = z.infer<typeof StartFailureReason>;

/** `seq`: the scheduler's number for what it decided about a START, kept until the controller says
 *  it is saved (docs/protocol.md, "Placements are saved"). */
const AnswerSeq = z.number().int().min(1);
export const Placed = z.object({ instanceId: z.string(), nodeId: z.string(), seq: AnswerSeq.optional() });
export type Placed = z.infer<typeof Placed>;

export const StartFailure = z.object({ instanceId: z.string(), reason: StartFailureReason, message: z.string(), seq: AnswerSeq.optional() });
export type StartFailure = z.infer<typeof StartFailure>;
/** The controller saved every PLACED and scheduler's START_FAILURE up to `seq` `upTo`. */
export const PlacementsSaved = z.object({ upTo: AnswerSeq });

/** An IPv4 address in dotted quads. */
const Ipv4 = z.string().regex(/^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/, 'an IPv4 address');
/** `tunnelIp`: a real node's tunnel endpoint, its leg on the cluster network (docs/protocol.md, "Tunnel endpoints"). */
export const Hello = z.object({
  id: z.string().min(1), roles: z.array(Role).min(1), hostname: z.string().optional(), tunnelIp: Ipv4.optional(), simulated: z.boolean().optional(),
  /** The scheduler's answer: one value for each scheduler process, so that a peer that connects
   *  again knows whether what it sent the last one is still there (docs/protocol.md, "Handshake"). */
  boot: z.string().max(64).optional(),
  /** The scheduler's answer to the controller: what it decided about STARTs and was not told is
   *  saved, each told again (docs/protocol.md, "Placements are saved"). */
  placed: z.array(Placed).optional(),
  refused: z.array(StartFailure).optional(),
});
export type Hello = z.infer<typeof Hello>;

export const Resources = z.object({
  vcpus: z.number().int().min(0),
  memMB: z.number().int().min(0),
  diskMB: z.number().int().min(0),
});
export type Resources = z.infer<typeof Resources>;

export const Requirements = z.object({
  nodeId: z.string().optional(),
  hostname: z.string().optional(),
  networkNode: z.boolean().optional(),
  /** Only on a real node (not one of a simulation backend's): a data-path check among simulated nodes. */
  realNode: z.boolean().optional(),
  /** Only on a simulated node: a scale run's load on a cluster with real nodes beside simulated ones. */
  simulatedNode: z.boolean().optional(),
  privileged: z.boolean().optional(),
  /** The instance's server group: its policy, and the nodes its other members are on as the controller knows them. */
  group: z.object({
    id: z.string(),
    policy: z.enum(['affinity', 'anti-affinity', 'soft-affinity', 'soft-anti-affinity']),
    nodes: z.array(z.string()),
  }).optional(),
});
export type Requirements = z.infer<typeof Requirements>;

/** The tenant network an instance joins: addresses are allocated by the controller. */
export const InstanceNetwork = z.object({
  ip: z.string(),
  mac: z.string(),
  subnet: z.string(),
  gateway: z.string(),
  /** Address of the tenant's CNCI on the cluster network (tunnel endpoint); absent for the CNCI itself. */
  cnciIp: z.string().optional(),
});
export type InstanceNetwork = z.infer<typeof InstanceNetwork>;

/** A volume of the cluster's volume store, opened in place by the node (docs/api.md, "Volumes"). */
export const VolumeRef = z.object({ id: z.string(), path: z.string(), root: z.boolean() });
export type VolumeRef = z.infer<typeof VolumeRef>;

/** A file the guest finds at `path` (absolute), `contents` base64 (Nova's personality: docs/api.md). */
export const InjectedFile = z.object({
  path: z.string().regex(/^\/[^\u0000-\u001f"\\]{1,255}$/).refine((p) => !p.split('/').some((s) => s === '.' || s === '..'), 'no "." or ".." segment'),
  contents: z.string().max(16_384),
});
export type InjectedFile = z.infer<typeof InjectedFile>;

export const StartPayload = z.object({
  instanceId: z.string(),
  tenantId: z.string(),
  workloadId: z.string(),
  vmType: z.enum(['qemu', 'docker']),
  image: z.string(),
  fwType: z.enum(['legacy', 'efi']).optional(),
  resources: Resources,
  requirements: Requirements,
  network: InstanceNetwork,
  /** cloud-init user data and metadata for the config drive. */
  userData: z.string().optional(),
  hostname: z.string().optional(),
  /** Start this instance as the tenant's CNCI. */
  cnci: z.boolean().optional(),
  /** Launched again after a stop: keep the instance's disk. */
  restart: z.boolean().optional(),
  /** Volumes to attach at boot; a `root` one is the disk the guest boots from. */
  volumes: z.array(VolumeRef).optional(),
  /** OpenSSH public keys for the config drive (meta_data.json public_keys), by keypair name. */
  publicKeys: z.record(z.string(), z.string()).optional(),
  /** Files to inject (Nova's personality): on a VM's config drive, in a container before it starts. */
  files: z.array(InjectedFile).max(5).optional(),
});
export type StartPayload = z.infer<typeof StartPayload>;

export const InstanceRef = z.object({ instanceId: z.string() });
export type InstanceRef = z.infer<typeof InstanceRef>;

/** Reset the guest (`hard`), or ask it first where the runtime can (docs/protocol.md "Actions"). */
export const RebootPayload = z.object({ instanceId: z.string(), hard: z.boolean() });
export type RebootPayload = z.infer<typeof RebootPayload>;

/** Make the instance's root disk again from `image` (its id or name, as START names it). */
/** `files`: those of the rebuild (Nova injects only what the rebuild names). */
export const RebuildPayload = z.object({ instanceId: z.string(), image: z.string().min(1).max(255), files: z.array(InjectedFile).max(5).optional() });
export type RebuildPayload = z.infer<typeof RebuildPayload>;
/** Boot the VM from `image` with its own disk attached (docs/protocol.md "Actions"). */
export const RescuePayload = z.object({ instanceId: z.string(), image: z.string().min(1).max(255) });
export type RescuePayload = z.infer<typeof RescuePayload>;

/** Give the instance a new flavor's resources; the node keeps `hold` counted besides until a RESIZE
 *  with `hold: null` (docs/protocol.md "Resize"). */
export const ResizePayload = z.object({ instanceId: z.string(), resources: Resources, workloadId: z.string(), hold: Resources.nullable() });
export type ResizePayload = z.infer<typeof ResizePayload>;
/** Console output (docs/protocol.md "Console output"): the first op where the controller asks a node
 *  for data. `lines`: the last so many lines; null, all that fits in CONSOLE_MAX_BYTES. */
export const CONSOLE_MAX_BYTES = 64 * 1024;
/** The most lines CONSOLE_MAX_BYTES can hold (each at least its newline): asking more is asking for all. */
export const CONSOLE_MAX_LINES = CONSOLE_MAX_BYTES;
export const ConsoleRequest = z.object({ instanceId: z.string(), requestId: z.string().uuid(), lines: z.number().int().min(0).max(CONSOLE_MAX_LINES).nullable() });
export type ConsoleRequest = z.infer<typeof ConsoleRequest>;
export const ConsoleOutput = z.object({
  instanceId: z.string(), requestId: z.string().uuid(),
  text: z.string().max(CONSOLE_MAX_BYTES),
  /** The console holds more than `text` that was asked for, left out to keep within CONSOLE_MAX_BYTES. */
  truncated: z.boolean(),
});
export type ConsoleOutput = z.infer<typeof ConsoleOutput>;
export const ConsoleFailure = z.object({
  instanceId: z.string(), requestId: z.string().uuid(),
  reason: z.enum(['no_instance', 'not_supported', 'backend_failure']),
  message: z.string(),
});
export type ConsoleFailure = z.infer<typeof ConsoleFailure>;

export const AttachVolume = z.object({ instanceId: z.string(), volume: VolumeRef });
export type AttachVolume = z.infer<typeof AttachVolume>;

export const DetachVolume = z.object({ instanceId: z.string(), volumeId: z.string() });
export type DetachVolume = z.infer<typeof DetachVolume>;

export const VolumeDone = z.object({ instanceId: z.string(), volumeId: z.string(), nodeId: z.string() });
export type VolumeDone = z.infer<typeof VolumeDone>;

export const VolumeFailure = z.object({
  instanceId: z.string(),
  volumeId: z.string(),
  reason: z.enum(['no_instance', 'not_supported', 'backend_failure']),
  message: z.string(),
});
export type VolumeFailure = z.infer<typeof VolumeFailure>;

export const NodeFault = z.object({ startFailure: StartFailureReason.nullable() });
export type NodeFault = z.infer<typeof NodeFault>;

/** The whole set of connected real nodes' tunnel endpoints (scheduler → node). */
export const TunnelPeers = z.object({ peers: z.array(z.object({ nodeId: z.string().min(1), ip: Ipv4 })) });
export type TunnelPeers = z.infer<typeof TunnelPeers>;

/** The whole set of cordoned nodes, controller → scheduler (docs/protocol.md, "Maintenance"). */
export const Cordoned = z.object({ nodes: z.array(z.string().min(1).max(255)).max(100_000) });
export type Cordoned = z.infer<typeof Cordoned>;
/** The nodes the controller knows of (docs/protocol.md, "Placement"): the same shape. */
export const NodesExpected = Cordoned;

export const CnciFault = z.object({ natFailure: z.boolean() });
export type CnciFault = z.infer<typeof CnciFault>;

/** The tenant's way out, on or off (docs/egress.md, "Per tenant"). */
export const CnciEgress = z.object({ tenantId: z.string(), egress: z.boolean() });
export type CnciEgress = z.infer<typeof CnciEgress>;

export const PublicIpPayload = z.object({
  tenantId: z.string(),
  instanceId: z.string(),
  publicIp: z.string(),
  privateIp: z.string(),
});
export type PublicIpPayload = z.infer<typeof PublicIpPayload>;

/** Why an instance stopped when nobody asked it to (docs/protocol.md "An instance that dies"). */
export const InstanceExit = z.object({
  reason: z.string().max(500),
  /** The last lines of the guest's console or the container's output. */
  console: z.array(z.string().max(200)).max(10),
});
export type InstanceExit = z.infer<typeof InstanceExit>;

export const InstanceStats = z.object({
  instanceId: z.string(),
  state: InstanceState,
  sshIp: z.string().optional(),
  sshPort: z.number().int().optional(),
  memUsageMB: z.number().min(0).optional(),
  diskUsageMB: z.number().min(0).optional(),
  cpuUsage: z.number().min(0).optional(),
  /** An instance `exited` on its own: why, and its console's last line (the death's INSTANCE_STATE
   *  may have gone with a scheduler or controller that went: docs/protocol.md "An instance that dies"). */
  exit: InstanceExit.optional(),
  /** A reboot is under way (docs/protocol.md, "Actions"): one the controller asked for that its
   *  node's STATS never show under way, nor its answer came, went with a scheduler. */
  rebooting: z.literal(true).optional(),
  /** An action under way on it (docs/protocol.md, "Actions"): an instance the controller asked an
   *  action of that its node reports unchanged, with none under way, for 10 s gets it again. */
  busy: z.enum(['suspend', 'resume', 'rebuild', 'resize', 'shelve', 'offload', 'unshelve', 'rescue', 'unrescue']).optional(),
});
export type InstanceStats = z.infer<typeof InstanceStats>;

export const NodeStats = z.object({
  nodeId: z.string(),
  hostname: z.string(),
  status: z.enum(['READY', 'FULL']),
  memTotalMB: z.number().int().min(0),
  memAvailableMB: z.number().int(),
  diskTotalMB: z.number().int().min(0),
  diskAvailableMB: z.number().int(),
  vcpus: z.number().int().min(0),
  vcpusAvailable: z.number().int(),
  load: z.number().min(0),
  instances: z.array(InstanceStats),
  /** When the node took this report (its clock, ms): a report older than the last state event the
   *  controller applied for an instance is not that instance's truth any more. */
  at: z.number().optional(),
});
export type NodeStats = z.infer<typeof NodeStats>;

export const InstanceStateEvent = z.object({
  instanceId: z.string(),
  nodeId: z.string(),
  state: InstanceState,
  sshIp: z.string().optional(),
  sshPort: z.number().int().optional(),
  exit: InstanceExit.optional(),
  /** When the node changed the state (its clock, ms); see NodeStats.at. */
  at: z.number().optional(),
});
export type InstanceStateEvent = z.infer<typeof InstanceStateEvent>;

export const InstanceDeleted = z.object({ instanceId: z.string(), nodeId: z.string() });
export type InstanceDeleted = z.infer<typeof InstanceDeleted>;

/** `awayMs` (NODE_DISCONNECTED only): for how long the scheduler waits for the node (docs/protocol.md,
 *  "Placement" 7): its instances are not missing until NODE_GONE. */
export const NodeConnection = z.object({ nodeId: z.string(), hostname: z.string().optional(), roles: z.array(Role), tunnelIp: z.string().optional(), simulated: z.boolean().optional(), awayMs: z.number().int().positive().optional() });
export type NodeConnection = z.infer<typeof NodeConnection>;

/** `address`: the CNCI's leg on the cluster network, its tenant's tunnel endpoint (a real CNCI's). */
export const CnciReady = z.object({ instanceId: z.string(), tenantId: z.string(), address: z.string().optional() });
export type CnciReady = z.infer<typeof CnciReady>;

/** Where the scheduler placed a START: the only node the controller then believes about that instance. */

export const LifecycleFailureReason = z.enum(['no_instance', 'already_stopped', 'already_running', 'wrong_state', 'not_supported', 'full_cloud', 'backend_failure']);
export type LifecycleFailureReason = z.infer<typeof LifecycleFailureReason>;
export const LifecycleFailure = z.object({ instanceId: z.string(), reason: LifecycleFailureReason, message: z.string() });
export type LifecycleFailure = z.infer<typeof LifecycleFailure>;

export const PublicIpFailure = PublicIpPayload.extend({
  op: z.enum(['assign', 'release']),
  reason: z.enum(['nat_failure', 'unknown_ip']),
  message: z.string(),
});
export type PublicIpFailure = z.infer<typeof PublicIpFailure>;

export const Unreachable = z.object({ op: z.string(), to: z.string(), instanceId: z.string().optional() });
export type Unreachable = z.infer<typeof Unreachable>;

export const Refusal = z.object({ message: z.string() });

/** Every frame type/op and the schema of its payload. */
export const OPS = {
  HELLO: { HELLO: Hello },
  COMMAND: {
    START: StartPayload,
    STOP: InstanceRef,
    RESTART: InstanceRef,
    DELETE: InstanceRef,
    PAUSE: InstanceRef,
    UNPAUSE: InstanceRef,
    REBOOT: RebootPayload,
    SUSPEND: InstanceRef,
    RESUME: InstanceRef,
    REBUILD: RebuildPayload,
    RESIZE: ResizePayload,
    SHELVE: InstanceRef,
    SHELVE_OFFLOAD: InstanceRef,
    UNSHELVE: InstanceRef,
    RESCUE: RescuePayload,
    UNRESCUE: InstanceRef,
    NODE_FAULT: NodeFault,
    ASSIGN_PUBLIC_IP: PublicIpPayload,
    RELEASE_PUBLIC_IP: PublicIpPayload,
    CNCI_FAULT: CnciFault,
    CNCI_EGRESS: CnciEgress,
    TUNNEL_PEERS: TunnelPeers,
    CORDONED: Cordoned,
    PLACEMENTS_SAVED: PlacementsSaved,
    NODES_EXPECTED: NodesExpected,
    ATTACH_VOLUME: AttachVolume,
    DETACH_VOLUME: DetachVolume,
    CONSOLE: ConsoleRequest,
  },
  STATUS: { STATS: NodeStats, CNCI_READY: CnciReady, PLACED: Placed, CONSOLE_OUTPUT: ConsoleOutput },
  EVENT: {
    INSTANCE_STATE: InstanceStateEvent,
    INSTANCE_DELETED: InstanceDeleted,
    PUBLIC_IP_ASSIGNED: PublicIpPayload,
    PUBLIC_IP_RELEASED: PublicIpPayload,
    NODE_CONNECTED: NodeConnection,
    NODE_DISCONNECTED: NodeConnection,
    NODE_GONE: z.object({ nodeId: z.string() }),
    VOLUME_ATTACHED: VolumeDone,
    VOLUME_DETACHED: VolumeDone,
  },
  ERROR: {
    START_FAILURE: StartFailure,
    STOP_FAILURE: LifecycleFailure,
    RESTART_FAILURE: LifecycleFailure,
    DELETE_FAILURE: LifecycleFailure,
    PAUSE_FAILURE: LifecycleFailure,
    UNPAUSE_FAILURE: LifecycleFailure,
    REBOOT_FAILURE: LifecycleFailure,
    SUSPEND_FAILURE: LifecycleFailure,
    RESUME_FAILURE: LifecycleFailure,
    REBUILD_FAILURE: LifecycleFailure,
    RESIZE_FAILURE: LifecycleFailure,
    SHELVE_FAILURE: LifecycleFailure,
    SHELVE_OFFLOAD_FAILURE: LifecycleFailure,
    UNSHELVE_FAILURE: LifecycleFailure,
    RESCUE_FAILURE: LifecycleFailure,
    UNRESCUE_FAILURE: LifecycleFailure,
    PUBLIC_IP_FAILURE: PublicIpFailure,
    ATTACH_VOLUME_FAILURE: VolumeFailure,
    DETACH_VOLUME_FAILURE: VolumeFailure,
    CONSOLE_FAILURE: ConsoleFailure,
    UNREACHABLE: Unreachable,
    BAD_ROLE: Refusal,
    BAD_IDENTITY: Refusal,
    INVALID_FRAME: Refusal,
  },
} as const;

type Ops = typeof OPS;
export type FrameType = keyof Ops;
export type OpOf<T extends FrameType> = keyof Ops[T] & string;
export type PayloadOf<T extends FrameType, O extends OpOf<T>> = Ops[T][O] extends z.ZodType<infer P> ? P : never;

/** A frame as it travels. `from` is stamped by the scheduler on what it forwards. */
export type Frame = {
  [T in FrameType]: { [O in OpOf<T>]: { type: T; op: O; from?: string; to?: string; payload: PayloadOf<T, O> } }[OpOf<T>];
}[FrameType];

export type FrameOf<T extends FrameType, O extends OpOf<T>> = Extract<Frame, { type: T; op: O }>;
