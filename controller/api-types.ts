// The records the controller keeps and serves (docs/api.md). Stored as they are served, so the
// API, the datastore and the CLI share one declaration.

export interface TenantConfig {
  subnet_bits: number;
  privileged_containers: boolean;
  /** The tenant's workloads reach outside the cluster (docs/egress.md, "Per tenant"). */
  egress: boolean;
}

export interface Tenant {
  id: string;
  name: string;
  subnet: string;
  config: TenantConfig;
  cnci: { instance_id: string; state: 'pending' | 'ready' } | null;
  created_at: string;
}

export type Visibility = 'public' | 'tenant' | 'internal';

export interface Workload {
  id: string;
  tenant_id: string | null;
  description: string;
  vm_type: 'qemu' | 'docker';
  image_name: string;
  fw_type: 'legacy' | 'efi';
  visibility: Visibility;
  defaults: { vcpus: number; mem_mb: number; disk_mb: number };
  requirements: { node_id?: string; hostname?: string; network_node?: boolean; real_node?: boolean; simulated_node?: boolean; privileged?: boolean };
  /** The instance's volumes (qemu only; absent on workloads stored before volumes existed). */
  disks?: WorkloadDisk[];
  config: string;
  created_at: string;
  /** What the compute API keeps of a flavor an admin made there (POST /v2.1/flavors); absent on others. */
  flavor?: FlavorExtras;
  /** Extra specs as an admin set them; absent, a workload's are its own vm_type and fw_type. */
  extra_specs?: Record<string, string>;
  /** The projects a private flavor is shared with (os-flavor-access); only on flavors made private there. */
  access?: string[];
}

export interface FlavorExtras {
  swap_mb: number;
  ephemeral_gb: number;
  rxtx_factor: number;
  /** Nova's flavor description (microversion 2.55). */
  description?: string | null;
}

/** A volume a workload's instances get: an existing one, a new one from an image, or a blank one. */
export interface WorkloadDisk {
  source?: { service: 'image' | 'volume'; id: string };
  size_mb?: number;
  bootable: boolean;
  /** Deleted with its instance (never for an existing volume). */
  ephemeral: boolean;
}

export type InstanceState = 'pending' | 'active' | 'paused' | 'suspended' | 'rescued' | 'stopping' | 'exited' | 'hung' | 'missing' | 'deleting' | 'shelved' | 'shelved_offloaded';

/** An action whose end the instance's node tells (its state changes); a rescue names its image. */
export interface AskedAction {
  op: 'PAUSE' | 'UNPAUSE' | 'SUSPEND' | 'RESUME' | 'SHELVE' | 'SHELVE_OFFLOAD' | 'UNSHELVE' | 'RESCUE' | 'UNRESCUE';
  image?: string;
}

export interface Instance {
  id: string;
  tenant_id: string;
  workload_id: string;
  name: string;
  state: InstanceState;
  node_id: string | null;
  ip: string;
  mac: string;
  subnet: string;
  ssh_ip: string | null;
  ssh_port: number | null;
  vcpus: number;
  mem_mb: number;
  disk_mb: number;
  image: string;
  vm_type: 'qemu' | 'docker';
  /** Ids of the attached volumes, the root one first (absent on records stored before volumes existed). */
  volumes?: string[];
  external_ip: string | null;
  /** True for a tenant's CNCI: hidden from the tenant, kept when its instances go. */
  cnci: boolean;
  /** START was sent (instances wait for their tenant's CNCI before it is). */
  dispatched: boolean;
  reason: string | null;
  /** When its node last changed its state (the node's clock, ms: INSTANCE_STATE's `at`). */
  state_at?: number;
  /** The user who created it (absent on records stored before it was kept). */
  user_id?: string;
  /** What the compute API keeps as given (absent on older records): metadata, the access
   *  addresses a client declares, the keypair's name and the create request's reservation. */
  metadata?: Record<string, string>;
  access_ipv4?: string;
  access_ipv6?: string;
  key_name?: string | null;
  reservation_id?: string;
  /** From microversion 2.19: a free text a client gives at create or with PUT. */
  description?: string | null;
  /** From microversion 2.26: the server's tags (Nova's /servers/{id}/tags), at most MAX_SERVER_TAGS. */
  tags?: string[];
  /** The create request's user_data (base64), kept as given: admins read it back from 2.3. */
  user_data?: string;
  /** Files the guest is given (Nova's personality, base64): on its config drive, or in its container. */
  files?: { path: string; contents: string }[];
  /** Nova's OS-DCF:diskConfig as a client set it (MANUAL when none did): the instance disk is blank
   *  and unpartitioned at boot (the guest runs from its initramfs), so AUTO has nothing to grow. */
  disk_config?: 'AUTO' | 'MANUAL';
  /** Its place among the servers one create request made (0 for the first). */
  launch_index?: number;
  /** Who locked it (the compute API's lock): while set, only an admin stops, starts, deletes it or
   *  changes its metadata; a lock an admin set, only an admin lifts. */
  locked_by?: 'owner' | 'admin' | null;
  /** A reboot under way: the guest is stopped, then started again when its node says it stopped. */
  rebooting?: 'SOFT' | 'HARD' | null;
  /** An action asked of its node that has not answered yet (docs/protocol.md, "Actions"): sent
   *  again when its node's STATS show it neither done nor under way for 10 s. */
  asked?: AskedAction | null;
  /** A rebuild under way: its node makes its disk again from `image` and boots it (docs/protocol.md "Actions"). */
  rebuilding?: boolean | null;
  /** A resize not yet finished: the flavors it goes from and to, and how far it is
   *  (docs/protocol.md "Resize"). Absent or null when none is. */
  resize?: ResizeRecord | null;
  /** Shelved (docs/protocol.md "Shelve"): the id of its `<name>-shelved` image record, from the
   *  shelve until the unshelve or delete that removes it. */
  shelved_image?: string | null;
  /** What was asked of it through the compute API, oldest first (Nova's instance actions; the
   *  last MAX_INSTANCE_ACTIONS are kept). */
  actions?: InstanceActionRecord[];
  /** The public key of its Compute keypair (key_name) as it was at create (config drive). */
  public_key?: string;
  /** The server group the instance is a member of. */
  server_group?: string;
  created_at: string;
  updated_at: string;
}

/** A flavor as an instance holds it: the workload, and its sizes. */
export interface FlavorSize {
  workload_id: string;
  vcpus: number;
  mem_mb: number;
  disk_mb: number;
}

/** `resizing` (RESIZE): the node applies `to`; `verify` (VERIFY_RESIZE): the user confirms or
 *  reverts; `confirming`: the node is told to forget `from`; `reverting` (REVERT_RESIZE): the node
 *  applies `from` again. */
export interface ResizeRecord {
  from: FlavorSize;
  to: FlavorSize;
  phase: 'resizing' | 'verify' | 'confirming' | 'reverting';
}

export const MAX_INSTANCE_ACTIONS = 50;
/** The deleted servers whose actions a tenant keeps (the newest). */
export const MAX_DELETED_SERVERS = 500;

/** What stays of a deleted server: its instance actions (Nova shows them from microversion 2.21). */
export interface DeletedServer {
  id: string;
  tenant_id: string;
  actions: InstanceActionRecord[];
  deleted_at: string;
}

export interface InstanceActionRecord {
  action: string;
  request_id: string;
  user_id: string;
  start_time: string;
}

export interface ClusterEvent {
  id: string;
  /** null: a cluster event only admins see. */
  tenant_id: string | null;
  time: string;
  type: 'info' | 'error';
  message: string;
}

export interface Pool {
  id: string;
  name: string;
  subnets: string[];
  ips: string[];
}

export interface ExternalIp {
  /** The external address is the record's id. */
  id: string;
  ip: string;
  pool: string;
  tenant_id: string;
  instance_id: string;
  private_ip: string;
  state: 'mapping' | 'mapped' | 'unmapping';
  created_at: string;
}

export const QUOTA_NAMES = ['instances', 'vcpus', 'mem_mb', 'disk_mb', 'external_ips', 'images', 'image_mb', 'volumes', 'volume_mb'] as const;
export type QuotaName = (typeof QUOTA_NAMES)[number];

/** Limits only the Compute API serves and sets (os-quota-sets); unlimited (-1) unless set. */
export const COMPUTE_QUOTA_NAMES = ['key_pairs', 'server_groups', 'server_group_members'] as const;
export type ComputeQuotaName = (typeof COMPUTE_QUOTA_NAMES)[number];

export interface Quotas {
  /** The tenant id. */
  id: string;
  limits: Partial<Record<QuotaName | ComputeQuotaName, number>>;
}

/** A Compute keypair: it belongs to a user (not a project), and its name is unique per user. */
export interface Keypair {
  id: string;
  /** The user's id (the datastore indexes records by owner). */
  owner: string;
  name: string;
  /** 'x509' from microversion 2.2: public_key is then a PEM certificate. */
  type: 'ssh' | 'x509';
  public_key: string;
  fingerprint: string;
  /** Nova's integer id, shown by GET /os-keypairs/{name}. */
  serial: number;
  created_at: string;
}

export type ServerGroupPolicy = 'affinity' | 'anti-affinity' | 'soft-affinity' | 'soft-anti-affinity';

/** A Compute server group: its members (instances with server_group = its id) are placed by its policy. */
export interface ServerGroup {
  id: string;
  tenant_id: string;
  user_id: string;
  name: string;
  policy: ServerGroupPolicy;
  created_at: string;
}

export type ImageVisibility = 'public' | 'private' | 'internal' | 'shared' | 'community';
export type MemberStatus = 'pending' | 'accepted' | 'rejected';

/** A project an image is shared with (visibility `shared`), and its answer to the owner's offer. */
export interface ImageMember {
  member_id: string;
  status: MemberStatus;
  created_at: string;
  updated_at: string;
}

export interface Image {
  id: string;
  name: string | null;
  /** `deactivated`: its data cannot be downloaded, except by an admin, until it is reactivated. */
  status: 'queued' | 'saving' | 'active' | 'deactivated';
  visibility: ImageVisibility;
  /** Owning tenant (project id); images of the admin project are owned by it too. */
  owner: string;
  size: number | null;
  checksum: string | null;
  disk_format: string | null;
  container_format: string | null;
  created_at: string;
  updated_at: string;
  // The fields below came with Glance fidelity (issue 13 §4): records written before lack them.
  /** A protected image cannot be deleted. */
  protected?: boolean;
  os_hidden?: boolean;
  min_disk?: number;
  min_ram?: number;
  tags?: string[];
  /** Custom properties, served as top-level keys of the image. */
  properties?: Record<string, string>;
  members?: ImageMember[];
}

/** `maintenance` is only ever set by an admin (Block Storage's os-reset_status): nothing attaches it. */
export type VolumeState = 'creating' | 'available' | 'attaching' | 'in-use' | 'detaching' | 'error' | 'maintenance';

export interface Volume {
  id: string;
  tenant_id: string;
  name: string;
  description: string;
  size_mb: number;
  state: VolumeState;
  bootable: boolean;
  /** What it was made from: nothing, an image, or another volume (a clone). */
  source: { type: 'blank' } | { type: 'image'; id: string } | { type: 'volume'; id: string };
  attachment: { instance_id: string; root: boolean; ephemeral: boolean } | null;
  reason: string | null;
  /** Key/value pairs the tenant keeps on the volume (Block Storage's metadata); absent on older records. */
  metadata?: Record<string, string>;
  /** What is known of the image it was made from (Block Storage's volume_image_metadata): copied
   *  from the image when made, then the tenant's to change; absent on older records. */
  image_metadata?: Record<string, string>;
  /** The identity user who made it through an API (absent for volumes made with an instance). */
  user_id?: string;
  /** Its volume type (Block Storage); absent: the built-in default type. */
  volume_type_id?: string;
  created_at: string;
  updated_at: string;
}

/** A Block Storage volume type an admin made: a name and key/value specs over the one kind of
 *  storage (qcow2 files); a private one is usable by the projects on its access list only. */
export interface VolumeType {
  id: string;
  name: string;
  description: string | null;
  is_public: boolean;
  extra_specs: Record<string, string>;
  /** The projects a private type is shared with. */
  projects: string[];
  created_at: string;
}

/** An admin's change to a Block Storage service (Cinder's os-services): absent, a service is enabled. */
export interface VolumeServiceState {
  /** binary@host, e.g. cinder-volume@controller@qcow2. */
  id: string;
  disabled: boolean;
  disabled_reason: string | null;
  updated_at: string;
}

/** A Block Storage user message: why a volume of the tenant's failed (Cinder's messages API, 3.3). */
export interface VolumeMessage {
  id: string;
  tenant_id: string;
  resource_uuid: string;
  /** Cinder's event id, e.g. VOLUME_VOLUME_001_003 (no valid backend). */
  event_id: string;
  user_message: string;
  request_id: string;
  created_at: string;
}

/** What the controller keeps of a node it has seen (the `nodes` collection): it stays listed,
 *  MISSING, while its launcher is down, and its cordon survives restarts (docs/nodes.md). */
export interface NodeRecord {
  id: string;
  hostname: string;
  roles: string[];
  kind: 'real' | 'simulated';
  tunnel_ip: string | null;
  cordoned: boolean;
}

export interface NodeInfo {
  id: string;
  hostname: string;
  roles: string[];
  /** What the node said it is in its HELLO. */
  kind: 'real' | 'simulated';
  /** A real node's tunnel endpoint (its leg on the cluster network). */
  tunnel_ip: string | null;
  /** MISSING: a node seen before whose launcher is not connected now (docs/nodes.md). */
  status: 'READY' | 'FULL' | 'MISSING';
  /** An admin's maintenance mark: the scheduler places nothing new there. */
  cordoned: boolean;
  mem_total_mb: number;
  mem_available_mb: number;
  disk_total_mb: number;
  disk_available_mb: number;
  vcpus: number;
  load: number;
  instance_count: number;
  connected_at: string;
  updated_at: string;
}

/** A Glance metadata definition property: a JSON-schema-like description of one key (metadefs). */
export interface MetadefProperty {
  title: string;
  type: 'array' | 'boolean' | 'integer' | 'number' | 'object' | 'string' | null;
  description?: string;
  [constraint: string]: unknown;
}

export interface MetadefObject {
  name: string;
  description?: string;
  required?: string[];
  properties?: Record<string, MetadefProperty>;
  created_at: string;
  updated_at: string;
}

export interface MetadefTag {
  name: string;
  created_at: string;
  updated_at: string;
}

export interface MetadefAssociation {
  /** The resource type, e.g. OS::Glance::Image. */
  name: string;
  prefix?: string;
  properties_target?: string;
  created_at: string;
  updated_at: string;
}

/** A metadata definitions namespace (Glance's metadefs catalogue), with everything it holds:
 *  one record, so a namespace and its parts are written (and deleted) together. Its id is its name. */
export interface MetadefNamespace {
  id: string;
  display_name?: string;
  description?: string;
  visibility: 'public' | 'private';
  protected: boolean;
  /** The owning project (the creator's, unless an admin named another). */
  owner: string;
  resource_type_associations: MetadefAssociation[];
  properties: Record<string, MetadefProperty>;
  objects: MetadefObject[];
  tags: MetadefTag[];
  created_at: string;
  updated_at: string;
}
