// Compute v2.1 limits, os-quota-sets and os-availability-zone (docs/api.md), over the ciao quotas
// (controller/quotas.ts): Nova's names map onto the cluster's limits and their usage; what the
// cluster has no such thing as is unlimited (-1), and the injected files' are Nova's defaults (fixed).
import { z } from 'zod';
import { ApiError, badRequest } from '../../shared/errors.ts';
import { reply, type Request, type Router } from '../../shared/http-router.ts';
import type { ComputeQuotaName, QuotaName, Quotas } from '../api-types.ts';
import { limitOf } from '../quotas.ts';
import { Uuid } from '../../shared/safe-path.ts';
import type { Services } from '../services.ts';
import { atLeast, computeCaller, computeRoute } from './compute-scope.ts';
import { INJECTED_FILE_CONTENT_BYTES, INJECTED_FILE_PATH_BYTES, INJECTED_FILES } from './compute/personality.ts';

/** Most metadata items a server may have (Nova's default metadata_items); more is refused (403). */
export const SERVER_META_LIMIT = 128;

/** Nova's quota names that are cluster limits, settable with PUT. */
const MAPPED: Record<string, QuotaName | ComputeQuotaName> = {
  instances: 'instances', cores: 'vcpus', ram: 'mem_mb', floating_ips: 'external_ips',
  key_pairs: 'key_pairs', server_groups: 'server_groups', server_group_members: 'server_group_members',
};
/** Nova's names the cluster has no settable limit for: their fixed value. */
const FIXED: Record<string, number> = {
  metadata_items: SERVER_META_LIMIT, fixed_ips: -1, security_groups: -1, security_group_rules: -1,
  injected_files: INJECTED_FILES, injected_file_content_bytes: INJECTED_FILE_CONTENT_BYTES, injected_file_path_bytes: INJECTED_FILE_PATH_BYTES,
};
/** Names microversions dropped: network ones at 2.36, injected files at 2.57. */
const SINCE_236 = ['fixed_ips', 'floating_ips', 'security_groups', 'security_group_rules'];
const SINCE_257 = ['injected_files', 'injected_file_content_bytes', 'injected_file_path_bytes'];

const QuotaUpdate = z.strictObject({
  quota_set: z.record(z.string().max(64), z.union([z.int().min(-1).max(Number.MAX_SAFE_INTEGER), z.boolean()])),
});

export function limitsRoutes(router: Router, s: Services): void {
  const on = computeRoute(router);
  const names = (req: Request) => [...Object.keys(MAPPED), ...Object.keys(FIXED)]
    .filter((n) => !(atLeast(req, '2.36') && SINCE_236.includes(n)) && !(atLeast(req, '2.57') && SINCE_257.includes(n)));
  const usage = (tenantId: string, userId: string): Record<string, number> => {
    const u = s.store.tenants.get(tenantId) ? s.instances.usage(tenantId) : undefined;
    return {
      instances: u?.instances ?? 0, cores: u?.vcpus ?? 0, ram: u?.mem_mb ?? 0, floating_ips: u?.external_ips ?? 0,
      key_pairs: s.store.keypairs.byTenant(userId).length, server_groups: s.store.serverGroups.byTenant(tenantId).length,
    };
  };
  const limit = (q: Quotas | undefined, name: string) => (Object.hasOwn(MAPPED, name) ? limitOf(q, MAPPED[name]) : FIXED[name]);
  const quotaSet = (req: Request, q: Quotas | undefined) => Object.fromEntries(names(req).map((n) => [n, limit(q, n)]));
  /** Any project's quotas for an admin, the caller's own for a member. */
  const target = async (req: Request) => {
    const c = await computeCaller(s, req);
    if (req.params.tenant !== c.tenant.id && !c.caller.admin) throw new ApiError('forbidden', `your token is scoped to project ${c.tenant.id}: only an admin sees the quotas of project ${req.params.tenant}`);
    return c;
  };
  const admin = async (req: Request) => {
    const c = await computeCaller(s, req);
    if (!c.caller.admin) throw new ApiError('forbidden', `${req.raw.method} ${req.path} is for admins`);
    return c;
  };
  const byTenant = { params: { tenant: Uuid } };

  on('GET', '/limits', async (req) => {
    const { caller, tenant } = await computeCaller(s, req);
    const q = s.store.quotas.get(tenant.id);
    const used = usage(tenant.id, caller.userId);
    const absolute: Record<string, number> = {
      maxTotalInstances: limit(q, 'instances'), totalInstancesUsed: used.instances,
      maxTotalCores: limit(q, 'cores'), totalCoresUsed: used.cores,
      maxTotalRAMSize: limit(q, 'ram'), totalRAMUsed: used.ram,
      maxTotalKeypairs: limit(q, 'key_pairs'), maxServerMeta: SERVER_META_LIMIT,
      // The image-metadata proxy went at 2.39, and its limit with it.
      ...(atLeast(req, '2.39') ? {} : { maxImageMeta: -1 }),
      maxServerGroups: limit(q, 'server_groups'), maxServerGroupMembers: limit(q, 'server_group_members'), totalServerGroupsUsed: used.server_groups,
      ...(atLeast(req, '2.36') ? {} : {
        maxTotalFloatingIps: limit(q, 'floating_ips'), totalFloatingIpsUsed: used.floating_ips,
        maxSecurityGroups: -1, totalSecurityGroupsUsed: 0, maxSecurityGroupRules: -1,
      }),
      ...(atLeast(req, '2.57') ? {} : { maxPersonality: INJECTED_FILES, maxPersonalitySize: INJECTED_FILE_CONTENT_BYTES }),
    };
    return reply(200, { limits: { absolute, rate: [] } });
  });

  on('GET', '/os-quota-sets/:tenant', async (req) => {
    await target(req);
    return reply(200, { quota_set: { id: req.params.tenant, ...quotaSet(req, s.store.quotas.get(req.params.tenant)) } });
  }, byTenant);
  on('GET', '/os-quota-sets/:tenant/defaults', async (req) => {
    await computeCaller(s, req);
    return reply(200, { quota_set: { id: req.params.tenant, ...quotaSet(req, undefined) } });
  }, byTenant);
  on('GET', '/os-quota-sets/:tenant/detail', async (req) => {
    const { caller } = await target(req);
    const q = s.store.quotas.get(req.params.tenant);
    const used = usage(req.params.tenant, caller.userId);
    const detail = Object.fromEntries(names(req).map((n) => [n, { limit: limit(q, n), in_use: used[n] ?? 0, reserved: 0 }]));
    return reply(200, { quota_set: { id: req.params.tenant, ...detail } });
  }, byTenant);
  on('PUT', '/os-quota-sets/:tenant', async (req) => {
    await admin(req);
    if (req.query.has('user_id')) throw badRequest('per-user quotas are not kept: set the project\'s (no user_id)');
    const { quota_set: body } = await req.body(QuotaUpdate);
    const limits = { ...s.store.quotas.get(req.params.tenant)?.limits };
    for (const [name, value] of Object.entries(body)) {
      if (name === 'force' && typeof value === 'boolean') continue;
      if (!Object.hasOwn(MAPPED, name)) throw badRequest(`quota ${name} cannot be set: settable quotas are ${Object.keys(MAPPED).join(', ')}`);
      if (typeof value !== 'number') throw badRequest(`quota ${name} must be a whole number, -1 for unlimited`);
      limits[MAPPED[name]] = value;
    }
    s.store.quotas.put({ id: req.params.tenant, limits });
    return reply(200, { quota_set: quotaSet(req, s.store.quotas.get(req.params.tenant)) });
  }, byTenant);
  on('DELETE', '/os-quota-sets/:tenant', async (req) => {
    await admin(req);
    const limits = { ...s.store.quotas.get(req.params.tenant)?.limits };
    for (const name of Object.values(MAPPED)) delete limits[name];
    s.store.quotas.put({ id: req.params.tenant, limits });
    return reply(202);
  }, byTenant);

  // One zone, nova, available while a compute node is up; its hosts (admin) are the nodes.
  const zone = (hosts: unknown) => {
    const up = s.nodes.all().some((n) => n.status !== 'MISSING' && n.roles.includes('compute'));
    return { availabilityZoneInfo: [{ zoneName: 'nova', zoneState: { available: up }, hosts }] };
  };
  on('GET', '/os-availability-zone', async (req) => (await computeCaller(s, req), reply(200, zone(null))));
  on('GET', '/os-availability-zone/detail', async (req) => {
    await admin(req);
    const hosts = Object.fromEntries(s.nodes.all().filter((n) => n.roles.includes('compute')).map((n) => [n.hostname, {
      'nova-compute': { available: n.status !== 'MISSING', active: n.status !== 'MISSING', updated_at: n.updated_at },
    }]));
    return reply(200, zone(hosts));
  });
}
