// What the controller's APIs accept, declared once and checked by the router before any service
// code runs (docs/security.md). Ids the cluster makes are UUIDs, and so must be any id a client
// chooses; ids a client only refers to are looked up, and an unknown one is a 404 or 422.
import { z } from 'zod';
import { Segment, type ParamSchema } from '../../shared/http-router.ts';
import { Uuid } from '../../shared/safe-path.ts';
import { QUOTA_NAMES } from '../api-types.ts';
import { StartFailureReason } from '../../protocol/payloads.ts';

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
});

export const NewTenant = z.strictObject({ id: Uuid.optional(), name: Name, config: TenantConfigInput.nullish() });
export const TenantChange = z.strictObject({ name: Name.optional(), config: TenantConfigInput.nullish() });
export const NodeFault = z.strictObject({ start_failure: StartFailureReason.nullish() });
export const NewInstances = z.strictObject({ workload_id: Ref, count: Count.default(1), name: Name.optional() });
export const InstanceAction = z.strictObject({
  action: z.enum(['stop', 'restart', 'pause', 'unpause', 'reboot']),
  /** reboot only: reset the guest without asking it first (docs/api.md). */
  hard: z.boolean().optional(),
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

// --- Compute v2.1: clients send more than we keep (networks, key_name, metadata …): the rest is dropped.
export const NewServer = z.object({
  server: z.object({
    name: Name,
    flavorRef: FlavorRef,
    imageRef: z.string().max(255).optional(),
    min_count: Count.optional(),
    max_count: Count.optional(),
    key_name: z.string().min(1).max(255).optional(),
    metadata: z.record(z.string().min(1).max(255), z.string().max(255)).optional(),
  }).refine((s) => (s.min_count ?? 1) <= (s.max_count ?? s.min_count ?? 1), { message: 'min_count must not be more than max_count', path: ['min_count'] }),
  'os:scheduler_hints': z.object({ group: Uuid.optional() }).optional(),
  'OS-SCH-HNT:scheduler_hints': z.object({ group: Uuid.optional() }).optional(),
});
export const ServerAction = z.record(z.string().max(64), z.unknown());

// --- Image v2: controller/image-fields.ts and controller/image-patch.ts (Glance's rules) ---------------
