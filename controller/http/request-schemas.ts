// What the controller's APIs accept, declared once and checked by the router before any service
// code runs (docs/security.md). Ids the cluster makes are UUIDs, and so must be any id a client
// chooses; ids a client only refers to are looked up, and an unknown one is a 404 or 422.
import { z } from 'zod';
import { Segment, type ParamSchema } from '../../shared/http-router.ts';
import { Uuid } from '../../shared/safe-path.ts';
import { QUOTA_NAMES } from '../api-types.ts';
import { StartFailureReason } from '../../protocol/payloads.ts';
import { Personality } from './compute/personality.ts';

/** Nova's OS-DCF:diskConfig. */
const DiskConfig = z.enum(['AUTO', 'MANUAL']);

/** Path parameters by name, for every controller route that does not give its own. */
export const PARAMS: Record<string, ParamSchema> = {
  tenant: Uuid, id: Uuid, project: Uuid,
  name: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/),
  ip: z.string().regex(/^\d{1,3}(\.\d{1,3}){3}$/),
};
/** A workload's or a flavor's id, or its name (OpenStack clients look a flavor up by either). */
export const FlavorRef = Segment;

const Name = z.string().min(1).max(255);
/** An id the client refers to: looked up, never used to build anything. */
const Ref = z.string().min(1).max(255);
const Count = z.int().min(1).max(100);
/** Larger external-IP subnets would be listed address by address: /16 (65 534 addresses) at most. */
export const MAX_POOL_ADDRESSES = 65_536;
const PoolSubnet = z.string().regex(/^\d{1,3}(\.\d{1,3}){3}\/(1[6-9]|2\d|3[0-2])$/, 'must be an IPv4 CIDR of /16 to /32');
const Ip = z.string().regex(/^\d{1,3}(\.\d{1,3}){3}$/, 'must be an IPv4 address');

export const TenantConfigInput = z.strictObject({
  subnet_bits: z.int().min(12).max(30).optional(),
  privileged_containers: z.boolean().optional(),
  egress: z.boolean().optional(),
});

export const NewTenant = z.strictObject({ id: Uuid.optional(), name: Name, config: TenantConfigInput.nullish() });
export const TenantChange = z.strictObject({ name: Name.optional(), config: TenantConfigInput.nullish() });
export const NodeFault = z.strictObject({ start_failure: StartFailureReason.nullish() });
export const NewInstances = z.strictObject({ workload_id: Ref, count: Count.default(1), name: Name.optional() });
export const InstanceAction = z.strictObject({
  action: z.enum(['stop', 'restart', 'pause', 'unpause', 'reboot', 'suspend', 'resume', 'rebuild', 'resize', 'confirm-resize', 'revert-resize', 'shelve', 'offload', 'unshelve', 'rescue', 'unrescue']),
  /** reboot only: reset the guest without asking it first (docs/api.md). */
  hard: z.boolean().optional(),
  /** rebuild only, and needed there: the image (id or name) the disk is made again from. */
  image: z.string().min(1).max(255).optional(),
  /** resize only, and needed there: the workload whose sizes the instance takes. */
  workload: z.string().min(1).max(255).optional(),
});
export const NewPool = z.strictObject({ name: PARAMS.name, subnet: PoolSubnet.nullish(), ips: z.array(Ip).max(MAX_POOL_ADDRESSES).nullish() });
export const PoolAddresses = z.strictObject({ subnet: PoolSubnet.nullish(), ips: z.array(Ip).max(MAX_POOL_ADDRESSES).nullish() });
export const NewMapping = z.strictObject({ instance_id: Ref, pool: PARAMS.name.nullish() });
export const CnciFaultInput = z.strictObject({ nat_failure: z.boolean() });
export const NewVolume = z.strictObject({
  size_mb: z.int().min(1).max(1024 * 1024).optional(), image_id: Ref.nullish(), name: Name.nullish(), description: z.string().max(1024).nullish(),
  bootable: z.boolean().optional(),
});
export const VolumeAttach = z.strictObject({ instance_id: Ref });
export const QuotaLimits = z.partialRecord(z.enum(QUOTA_NAMES), z.int().min(-1).max(Number.MAX_SAFE_INTEGER));

// --- Compute v2.1 (Nova's 2.1 schemas: an unknown field in a server is a 400, as in Nova) ----
/** A server's name: printable, no leading or trailing blanks, no 4-byte UTF-8 characters (Nova's rule). */
export const ServerName = z.string().min(1).max(255)
  .regex(/^\S(.*\S)?$/su, 'must not be blank or start or end with blanks')
  .refine((n) => !/[\p{Cc}\u{10000}-\u{10FFFF}]/u.test(n), 'must not hold control characters or characters outside the Basic Multilingual Plane');
/** Metadata: at most 128 items (Nova's metadata_items quota), keys 1–255 characters, values up to 255. */
export const MAX_METADATA_ITEMS = 128;
export const MetadataKey = z.string().min(1).max(255).refine((k) => k !== '__proto__', 'is reserved');
/** zod drops a "__proto__" key silently: it is refused instead, so nothing asked for is lost. */
export const Metadata = z.unknown()
  .refine((m) => !(m && typeof m === 'object' && Object.hasOwn(m, '__proto__')), 'the key "__proto__" is reserved')
  .pipe(z.record(MetadataKey, z.string().max(255)));
/** An IPv6 address, kept in its canonical form (RFC 5952), as Nova keeps it. */
const Ipv6 = z.ipv6().transform((a) => new URL(`http://[${a}]`).hostname.slice(1, -1));

const SchedulerHints = z.object({ group: Uuid.optional() }).catchall(z.unknown());
/** Nova's server tag: 1–60 characters, no comma or slash (a list filter joins tags with commas). */
export const MAX_SERVER_TAGS = 50;
export const ServerTag = z.string().min(1).max(60).regex(/^[^,/]*$/, 'must not contain a comma or a slash');
export const ServerTags = z.array(ServerTag).max(MAX_SERVER_TAGS);
/** Nova's server description (2.19): up to 255 printable characters, or null. */
const ServerDescription = z.string().max(255).regex(/^[^\p{C}]*$/u, 'must be printable characters').nullable();

export const NewServer = z.object({
  server: z.strictObject({
    name: ServerName,
    flavorRef: z.union([FlavorRef, z.int().transform(String)]),
    imageRef: z.string().max(255).optional(),
    min_count: Count.optional(),
    max_count: Count.optional(),
    return_reservation_id: z.boolean().optional(),
    adminPass: z.string().max(255).optional(),
    metadata: Metadata.optional(),
    accessIPv4: z.ipv4().optional(),
    accessIPv6: Ipv6.optional(),
    key_name: z.string().min(1).max(255).optional(),
    user_data: z.string().max(65_535).optional(),
    availability_zone: z.string().max(255).optional(),
    config_drive: z.union([z.boolean(), z.string().max(10)]).optional(),
    'OS-DCF:diskConfig': DiskConfig.optional(),
    // Up to 2.56 (checked where the body is read); sizes against the injected-file quotas (403).
    personality: Personality.optional(),
    security_groups: z.array(z.strictObject({ name: z.string().min(1).max(255) })).max(10).optional(),
    // Neither can be chosen here (one network per tenant; boot from volume is a workload's disks):
    // a request that names any is refused where it is read, not silently ignored.
    networks: z.union([z.enum(['auto', 'none']), z.array(z.record(z.string().max(64), z.unknown())).max(10)]).optional(),
    block_device_mapping_v2: z.array(z.record(z.string().max(64), z.unknown())).max(10).optional(),
    // Each from a microversion (checked where the body is read): description 2.19, tags 2.52,
    // trusted_image_certificates 2.63 (refused: images are not signature-checked here).
    description: ServerDescription.optional(),
    tags: ServerTags.optional(),
    trusted_image_certificates: z.array(z.string().min(1).max(255)).max(50).nullable().optional(),
  // More than the metadata_items limit is Nova's 403 (over limit), checked with the other limits at create.
  }).refine((s) => (s.min_count ?? 1) <= (s.max_count ?? s.min_count ?? 1), { message: 'min_count must not be more than max_count', path: ['min_count'] }),
  // A group is the one hint read (controller/server-groups.ts); others are accepted and ignored, as Nova's filters would.
  'os:scheduler_hints': SchedulerHints.optional(),
  'OS-SCH-HNT:scheduler_hints': SchedulerHints.optional(),
});
export const ServerChange = z.strictObject({
  server: z.strictObject({
    name: ServerName.optional(), accessIPv4: z.ipv4().optional(), accessIPv6: Ipv6.optional(), description: ServerDescription.optional(),
    'OS-DCF:diskConfig': DiskConfig.optional(),
  }),
});
export const MetadataBody = z.strictObject({ metadata: Metadata });
export const MetadataItemBody = z.strictObject({ meta: Metadata });
export const ServerAction = z.record(z.string().max(64), z.unknown());
/** Nova's rebuild at 2.1: preserve_ephemeral is accepted and not used (there is no ephemeral disk). */
export const Rebuild = z.strictObject({
  imageRef: z.string().min(1).max(255),
  name: ServerName.optional(),
  metadata: Metadata.optional(),
  adminPass: z.string().max(255).optional(),
  accessIPv4: z.ipv4().optional(),
  accessIPv6: Ipv6.optional(),
  preserve_ephemeral: z.boolean().optional(),
  'OS-DCF:diskConfig': DiskConfig.optional(),
  personality: Personality.optional(),
});
export const Reboot = z.strictObject({ type: z.enum(['SOFT', 'HARD']) });
/** Nova's resize at 2.1: a flavor id (a string or an integer); the disk config is accepted and not used. */
export const Resize = z.strictObject({
  flavorRef: z.union([z.string().min(1).max(255), z.int().min(0).transform(String)]),
  'OS-DCF:diskConfig': z.enum(['AUTO', 'MANUAL']).optional(),
});
/** Nova's rescue: both optional, the body itself may be null. */
export const Rescue = z.strictObject({ adminPass: z.string().max(255).optional(), rescue_image_ref: z.string().min(1).max(255).optional() }).nullable();

/** Paging, as Nova reads it: a limit of 0 or more (capped at 1000), and the id listed last. */
const Limit = z.string().regex(/^\d{1,9}$/, 'must be a whole number of 0 or more').transform((l) => Math.min(Number(l), 1000));
const Paging = { limit: Limit.optional(), marker: z.string().min(1).max(255).optional() };
/** An ISO 8601 time (a date, or a date and a time). */
const Since = z.string().max(64).regex(/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/, 'must be an ISO 8601 time')
  .refine((t) => !Number.isNaN(Date.parse(t)), 'must be an ISO 8601 time');
/** Unknown parameters are ignored, as Nova ignores them at 2.1. */
export const ServerListQuery = z.object({
  ...Paging,
  name: z.string().max(255).optional(),
  status: z.string().max(32).optional(),
  image: z.string().max(255).optional(),
  flavor: z.string().max(255).optional(),
  ip: z.string().max(255).optional(),
  'changes-since': Since.optional(),
  all_tenants: z.string().max(16).optional(),
  tenant_id: z.string().max(255).optional(),
  reservation_id: z.string().max(64).optional(),
  // From 2.26: comma-separated tags a server has all of (tags), any of, not all of, none of.
  tags: z.string().max(4096).optional(),
  'tags-any': z.string().max(4096).optional(),
  'not-tags': z.string().max(4096).optional(),
  'not-tags-any': z.string().max(4096).optional(),
});
/** A server's instance actions from 2.58: paged by request id, filtered by their last change. */
export const InstanceActionQuery = z.object({ ...Paging, 'changes-since': Since.optional() });
export const FlavorListQuery = z.object({
  ...Paging,
  minDisk: z.string().regex(/^\d{1,9}$/, 'must be a whole number').transform(Number).optional(),
  minRam: z.string().regex(/^\d{1,9}$/, 'must be a whole number').transform(Number).optional(),
  is_public: z.string().max(16).optional(),
  sort_key: z.enum(['id', 'flavorid', 'name', 'memory_mb', 'vcpus', 'root_gb', 'created_at']).optional(),
  sort_dir: z.enum(['asc', 'desc']).optional(),
});

// --- Image v2: controller/image-fields.ts and controller/image-patch.ts (Glance's rules) ---------------
