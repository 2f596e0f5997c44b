// Block Storage v3: quota sets and limits over the ciao quotas (`volumes`, `volume_mb`: a gigabyte
// limit is kept as MB), the one availability zone, and the extensions.
import { z } from 'zod';
import { ApiError, badRequest, notFound } from '../../shared/errors.ts';
import { reply, Segment, type Request } from '../../shared/http-router.ts';
import { Uuid } from '../../shared/safe-path.ts';
import { limitOf, UNLIMITED } from '../quotas.ts';
import type { Services } from '../services.ts';
import { GIB_MB, gib, ZONE, type VolumeApi, type VolumeScope } from './volume-api.ts';

/** Quotas of what the cluster does not have (snapshots, backups, groups): nothing can be made, so
 *  their limit is 0 and only that value is accepted; volumes have no size limit of their own. */
const FIXED = { snapshots: 0, backups: 0, groups: 0, backup_gigabytes: 0, per_volume_gigabytes: UNLIMITED } as const;
const Limit = z.union([z.int(), z.string().regex(/^-?\d{1,12}$/).transform(Number)]).pipe(z.int().min(-1).max(Number.MAX_SAFE_INTEGER));
const QuotaUpdate = z.object({
  quota_set: z.strictObject({
    volumes: Limit.optional(), gigabytes: Limit.optional(),
    ...Object.fromEntries(Object.keys(FIXED).map((k) => [k, Limit.optional()])) as Record<keyof typeof FIXED, z.ZodOptional<typeof Limit>>,
  }),
});

const EXTENSIONS = [
  ['os-availability-zone', 'AvailabilityZones', 'Describe availability zones.'],
  ['os-quota-sets', 'Quotas', 'Quota management support.'],
  ['os-volume-actions', 'VolumeActions', 'Volume actions: extend, attach, detach, set bootable, reset status, force delete.'],
  ['os-vol-tenant-attr', 'VolumeTenantAttribute', 'Expose the internal project_id as an attribute of a volume.'],
  ['os-types-manage', 'TypesManage', 'Volume types: create, update, delete, extra specs and access lists (admins).'],
].map(([alias, name, description]) => ({ alias, name, description, updated: '2023-09-20T00:00:00+00:00', links: [], namespace: `https://docs.openstack.org/volume/ext/${alias}/api/v1` }));

type Scope = (req: Request) => Promise<VolumeScope>;

export function volumeQuotaRoutes(api: VolumeApi, s: Services, prefix: string, scope: Scope): void {
  const usage = (projectId: string) => {
    const mine = s.volumes.list(projectId);
    return { volumes: mine.length, gigabytes: mine.reduce((sum, v) => sum + gib(v.size_mb), 0) };
  };
  const limits = (projectId: string, defaults: boolean) => {
    const quotas = defaults ? undefined : s.store.quotas.get(projectId);
    const mb = limitOf(quotas, 'volume_mb');
    return { volumes: limitOf(quotas, 'volumes'), gigabytes: mb === UNLIMITED ? UNLIMITED : Math.floor(mb / GIB_MB), ...FIXED };
  };
  const quotaSet = (projectId: string, withUsage: boolean, defaults = false) => {
    const set = limits(projectId, defaults);
    if (!withUsage) return { id: projectId, ...set };
    const used: Record<string, number> = usage(projectId);
    return { id: projectId, ...Object.fromEntries(Object.entries(set).map(([k, limit]) => [k, { limit, in_use: used[k] ?? 0, reserved: 0 }])) };
  };
  /** The path's project: one's own, or any for an admin. */
  const target = async (req: Request, adminOnly: boolean) => {
    const { caller } = await scope(req);
    if (!caller.admin && (adminOnly || req.params.target !== caller.projectId)) throw new ApiError('forbidden', adminOnly ? 'changing quotas is for admins' : `you may see the quotas of your own project ${caller.projectId} only`);
    return req.params.target;
  };
  const byTarget = { params: { target: Uuid } };

  api.on('GET', `${prefix}/os-quota-sets/:target`, async (req) => {
    const id = await target(req, false);
    return reply(200, { quota_set: quotaSet(id, ['1', 'true', 'True'].includes(req.query.get('usage') ?? '')) });
  }, byTarget);
  api.on('GET', `${prefix}/os-quota-sets/:target/defaults`, async (req) => reply(200, { quota_set: quotaSet(await target(req, false), false, true) }), byTarget);
  api.on('PUT', `${prefix}/os-quota-sets/:target`, async (req) => {
    const id = await target(req, true);
    const { quota_set: change } = await req.body(QuotaUpdate);
    for (const [k, fixed] of Object.entries(FIXED)) {
      const asked = change[k as keyof typeof FIXED];
      if (asked !== undefined && asked !== fixed) throw badRequest(`${k} stays ${fixed}: the cluster has no snapshots, backups or groups, and no per-volume size limit`);
    }
    const next = { ...s.store.quotas.get(id)?.limits };
    if (change.volumes !== undefined) next.volumes = change.volumes;
    if (change.gigabytes !== undefined) next.volume_mb = change.gigabytes === UNLIMITED ? UNLIMITED : change.gigabytes * GIB_MB;
    s.store.quotas.put({ id, limits: next });
    const { id: _, ...set } = quotaSet(id, false);
    return reply(200, { quota_set: set });
  }, byTarget);
  api.on('DELETE', `${prefix}/os-quota-sets/:target`, async (req) => {
    const id = await target(req, true);
    const { volumes: _v, volume_mb: _mb, ...rest } = s.store.quotas.get(id)?.limits ?? {};
    s.store.quotas.put({ id, limits: rest });
    return reply(200);
  }, byTarget);

  // The one quota class: the defaults every project starts with (unlimited volumes and gigabytes),
  // fixed in the cluster, so it is shown and not changed.
  api.on('GET', `${prefix}/os-quota-class-sets/:class`, async (req) => {
    const { caller } = await scope(req);
    if (!caller.admin) throw new ApiError('forbidden', 'quota classes are for admins');
    if (req.params.class !== 'default') throw notFound('quota class', req.params.class);
    return reply(200, { quota_class_set: { id: 'default', ...limits('', true) } });
  }, { params: { class: Segment } });

  api.on('GET', `${prefix}/limits`, async (req) => {
    const { tenant } = await scope(req);
    const l = limits(tenant.id, false);
    const u = usage(tenant.id);
    return reply(200, { limits: { rate: [], absolute: {
      maxTotalVolumes: l.volumes, maxTotalVolumeGigabytes: l.gigabytes, totalVolumesUsed: u.volumes, totalGigabytesUsed: u.gigabytes,
      maxTotalSnapshots: l.snapshots, totalSnapshotsUsed: 0, maxTotalBackups: l.backups, totalBackupsUsed: 0,
      maxTotalBackupGigabytes: l.backup_gigabytes, totalBackupGigabytesUsed: 0,
    } } });
  });

  api.on('GET', `${prefix}/os-availability-zone`, async (req) => (await scope(req), reply(200, { availabilityZoneInfo: [{ zoneName: ZONE, zoneState: { available: true } }] })));
  api.on('GET', `${prefix}/extensions`, async (req) => (await scope(req), reply(200, { extensions: EXTENSIONS })));
}
