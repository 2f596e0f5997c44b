// The OpenStack Block Storage v3 subset (docs/api.md) under /volume over the cluster's volumes
// (controller/volumes.ts): version documents, volumes (create, list, show, update, delete) here;
// their actions and metadata, and quotas, limits, zones and types, in the modules it registers.
import { z } from 'zod';
import { ApiError, badRequest, notFound } from '../../shared/errors.ts';
import { parseInput, reply, type Request, type Router } from '../../shared/http-router.ts';
import type { Volume } from '../api-types.ts';
import { checkQuota } from '../quotas.ts';
import type { Services } from '../services.ts';
import { volumeActionRoutes } from './volume-action-routes.ts';
import {
  GIB_MB, GiB, Metadata, VOLUME_VERSIONS, ZONE, atLeast, cinderRoute, gib, projectScope, requireVersion, volumeVersion, volumeView,
  type VolumeApi, type VolumeScope,
} from './volume-api.ts';
import { volumeBackendRoutes } from './volume-backend-routes.ts';
import { volumeQuotaRoutes } from './volume-quota-routes.ts';
import { findVolumeType, volumeTypeRoutes } from './volume-type-routes.ts';
import { NO_VALID_BACKEND, recordVolumeMessage, volumeMessageRoutes } from './volume-message-routes.ts';
import { backendDisabled, unmetSpec } from '../volume-backend.ts';

const Text = z.string().max(255).nullish();

const NewVolume = z.object({
  volume: z.object({
    size: GiB.optional(), name: Text, description: Text, display_name: Text, display_description: Text, metadata: Metadata.nullish(),
    imageRef: z.string().max(255).nullish(), volume_type: z.string().max(255).nullish(), availability_zone: z.string().max(255).nullish(),
    snapshot_id: z.string().max(255).nullish(), source_volid: z.string().max(255).nullish(), backup_id: z.string().max(255).nullish(),
    multiattach: z.boolean().nullish(),
  }),
});
const VolumeUpdate = z.object({
  volume: z.object({ name: Text, description: Text, display_name: Text, display_description: Text, metadata: Metadata.nullish() }),
});

const SORT_KEYS = ['id', 'name', 'status', 'size', 'created_at', 'updated_at'] as const;
/** A list's query: filters, sorting and paging as Cinder takes them. */
const ListQuery = z.object({
  name: z.string().max(255).optional(), status: z.string().max(64).optional(), bootable: z.string().max(8).optional(),
  availability_zone: z.string().max(255).optional(), metadata: z.string().max(4096).optional(), glance_metadata: z.string().max(4096).optional(),
  limit: z.string().regex(/^\d{1,6}$/).transform(Number).optional(), marker: z.string().max(255).optional(),
  sort_key: z.enum(SORT_KEYS).optional(), sort_dir: z.enum(['asc', 'desc']).optional(),
  sort: z.string().max(255).optional(), all_tenants: z.string().max(8).optional(), project_id: z.string().max(255).optional(),
});

/** The metadata filter: Tempest and python-cinderclient send a Python dict literal ({'k': 'v'}), others JSON. */
function metadataFilter(text: string): Record<string, string> {
  const json = text.includes('"') ? text : text.replace(/'/g, '"');
  try {
    return parseInput(Metadata, JSON.parse(json), 'the metadata filter');
  } catch {
    throw badRequest('the metadata filter must be a JSON object of strings, e.g. {"key": "value"}');
  }
}

/** The volumes a list's filters keep, in its order: sort=key:dir (the newer form) or sort_key and
 *  sort_dir; Cinder's default is newest first, and ties go by id so pages are stable. */
function filterAndSort(all: Volume[], q: z.output<typeof ListQuery>, version: string): Volume[] {
  const meta = q.metadata ? metadataFilter(q.metadata) : undefined;
  // Filtering by the image facts a volume keeps came with 3.4.
  const imageMeta = q.glance_metadata && atLeast(version, '3.4') ? metadataFilter(q.glance_metadata) : undefined;
  const kept = all.filter((v) => (q.name === undefined || v.name === q.name) && (q.status === undefined || v.state === q.status)
    && (q.bootable === undefined || String(v.bootable) === q.bootable.toLowerCase()) && (q.availability_zone === undefined || q.availability_zone === ZONE)
    && (!meta || Object.entries(meta).every(([k, val]) => v.metadata?.[k] === val))
    && (!imageMeta || Object.entries(imageMeta).every(([k, val]) => v.image_metadata?.[k] === val)));
  const [sortKey, sortDir] = q.sort ? q.sort.split(',')[0].split(':') : [q.sort_key, q.sort_dir];
  const key = SORT_KEYS.find((k) => k === (sortKey ?? 'created_at'));
  if (!key) throw badRequest(`volumes sort by ${SORT_KEYS.join(', ')}, not ${sortKey}`);
  if (sortDir !== undefined && sortDir !== 'asc' && sortDir !== 'desc') throw badRequest('the sort direction is asc or desc');
  const dir = (sortDir ?? 'desc') === 'asc' ? 1 : -1;
  const value = (v: Volume): string | number => (key === 'size' ? v.size_mb : key === 'status' ? v.state : v[key]);
  return kept.sort((a, b) => {
    const [x, y] = [value(a), value(b)];
    return dir * (x < y ? -1 : x > y ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
  });
}

/** Cinder's checks of the image a volume is made from (InvalidInput, 400): it must not be
 *  deactivated, and the volume must be at least the image's min_disk. */
function checkImage(s: Services, tenantId: string, ref: string, sizeGiB: number | undefined) {
  const image = s.store.images.all().find((i) => (i.id === ref || i.name === ref) && (i.visibility === 'public' || i.owner === tenantId));
  if (!image) return;
  if (image.status === 'deactivated') throw badRequest(`image ${image.id} is deactivated: volumes cannot be made from it`);
  if (sizeGiB !== undefined && (image.min_disk ?? 0) > sizeGiB) throw badRequest(`image ${image.id} needs a volume of at least ${image.min_disk} GiB (min_disk), not ${sizeGiB}`);
}

export function volumeRoutes(router: Router, s: Services, baseUrl: () => string): void {
  const v3 = (path: string) => `${baseUrl()}/volume/v3${path}`;
  // The URL is known once the controller listens: the document is made per request.
  const version = () => ({
    id: 'v3.0', status: 'CURRENT', version: VOLUME_VERSIONS.max, min_version: VOLUME_VERSIONS.min, updated: '2023-09-20T00:00:00Z',
    links: [{ rel: 'self', href: v3('/') }],
    'media-types': [{ base: 'application/json', type: 'application/vnd.openstack.volume+json;version=3' }],
  });
  // The version list is not versioned itself (Cinder answers it 300); v3's own document is.
  router.on('GET', '/volume', async () => reply(300, { versions: [version()] }));
  const api: VolumeApi = { on: (method, pattern, handler, opts) => router.on(method, pattern, cinderRoute(handler), opts) };
  api.on('GET', '/volume/v3', async () => reply(200, { versions: [version()] }));

  const scope = (req: Request) => projectScope(s, req, 'Block Storage');
  /** The path's volume: the caller's own, or any for an admin (Cinder's admin_or_owner). */
  const owned = async (req: Request): Promise<VolumeScope & { volume: Volume }> => {
    const { caller, tenant } = await scope(req);
    if (!caller.admin) return { caller, tenant, volume: s.volumes.get(tenant, req.params.id) };
    const volume = s.volumes.find(req.params.id);
    return { caller, tenant: s.tenants.get(volume.tenant_id), volume };
  };

  /** The volumes a list or summary covers: the caller's, or everyone's (one project's) for an admin asking all_tenants. */
  const listed = async (req: Request, q: z.output<typeof ListQuery>) => {
    const { caller, tenant } = await scope(req);
    const everyone = caller.admin && ['1', 'true', 'True'].includes(q.all_tenants ?? '');
    const vols = everyone ? s.store.volumes.all() : s.volumes.list(tenant.id);
    return everyone && q.project_id ? vols.filter((v) => v.tenant_id === q.project_id) : vols;
  };

  for (const prefix of ['/volume/v3', '/volume/v3/:project']) {
    const url = (req: Request) => (path: string) => `${baseUrl()}${prefix.replace(':project', req.params.project ?? '')}${path}`;
    const list = (detail: boolean) => async (req: Request) => {
      // "/volumes/" names a volume with an empty id, as Cinder reads it: none exists.
      if (req.raw.url?.split('?')[0].endsWith('/')) throw notFound('volume', '(empty id)');
      const q = req.queryOf(ListQuery);
      const { caller } = await scope(req);
      let vols = filterAndSort(await listed(req, q), q, volumeVersion(req));
      if (q.marker) {
        const at = vols.findIndex((v) => v.id === q.marker);
        if (at < 0) throw badRequest(`marker ${q.marker.slice(0, 64)} is not a volume of this list`);
        vols = vols.slice(at + 1);
      }
      const page = q.limit === undefined ? vols : vols.slice(0, q.limit);
      const next = q.limit !== undefined && page.length === q.limit && page.length > 0
        ? [{ rel: 'next', href: `${baseUrl()}${req.path}?${new URLSearchParams({ ...Object.fromEntries(req.query), marker: page[page.length - 1].id })}` }]
        : undefined;
      const views = page.map((v) => (detail ? volumeView(s, v, url(req), false, caller.admin) : { id: v.id, name: v.name, links: volumeView(s, v, url(req)).links }));
      return reply(200, { volumes: views, ...(next ? { volumes_links: next } : {}) });
    };
    api.on('GET', `${prefix}/volumes`, list(false));
    api.on('GET', `${prefix}/volumes/detail`, list(true));
    api.on('GET', `${prefix}/volumes/summary`, async (req) => {
      requireVersion(req, '3.12', 'the volumes summary');
      const vols = await listed(req, req.queryOf(ListQuery));
      return reply(200, { 'volume-summary': { total_count: vols.length, total_size: vols.reduce((sum, v) => sum + gib(v.size_mb), 0) } });
    });

    api.on('POST', `${prefix}/volumes`, async (req) => {
      const { caller, tenant } = await scope(req);
      const { volume: b } = await req.body(NewVolume);
      const type = b.volume_type ? findVolumeType(s, caller, tenant, b.volume_type) : undefined;
      if (b.snapshot_id) throw notFound('snapshot', b.snapshot_id);
      if (b.backup_id) throw notFound('backup', b.backup_id);
      if (b.availability_zone && b.availability_zone !== ZONE) throw badRequest(`availability zone ${b.availability_zone} does not exist: the one zone is ${ZONE}`);
      if (b.multiattach) throw badRequest('a volume attaches to one instance at a time here (multiattach is not supported)');
      if (b.size === undefined && !b.imageRef && !b.source_volid) throw badRequest('size (GiB) is required for a blank volume (or give imageRef or source_volid)');
      if (b.imageRef) checkImage(s, tenant.id, b.imageRef, b.size);
      const sizeMB = b.size === undefined ? undefined : b.size * GIB_MB;
      // A clone: another volume of the project (an admin's: any), copied.
      const cloned = b.source_volid ? (caller.admin ? s.store.volumes.get(b.source_volid) : s.volumes.list(tenant.id).find((v) => v.id === b.source_volid)) : undefined;
      if (b.source_volid && !cloned) throw notFound('volume', b.source_volid);
      const source = cloned ? s.volumes.cloneSource(s.tenants.get(cloned.tenant_id), cloned.id, sizeMB) : await s.volumes.source(tenant, sizeMB, b.imageRef ?? undefined);
      checkQuota(s.store.quotas.get(tenant.id), s.instances.usage(tenant.id), { volumes: 1, volume_mb: source.sizeMB });
      // The scheduler's turn: a disabled backend, or a type whose extra specs it cannot satisfy, leaves the volume in error.
      const unmet = type && unmetSpec(type.extra_specs);
      const unplaceable = backendDisabled(s.store) ?? (unmet ? `no backend satisfies the volume type's extra spec ${unmet}=${type.extra_specs[unmet]}` : undefined);
      const v = s.volumes.create(tenant, source, {
        name: b.name ?? b.display_name ?? undefined, description: b.description ?? b.display_description ?? undefined,
        metadata: b.metadata ?? {}, user_id: caller.userId, bootable: Boolean(b.imageRef) || Boolean(cloned?.bootable),
        ...(type ?? cloned?.volume_type_id ? { volume_type_id: type?.id ?? cloned?.volume_type_id } : {}),
      }, null, unplaceable);
      if (unplaceable) recordVolumeMessage(s, v, NO_VALID_BACKEND, req.id);
      return reply(202, { volume: volumeView(s, v, url(req), true) });
    });
    api.on('GET', `${prefix}/volumes/:id`, async (req) => {
      const { caller, volume } = await owned(req);
      return reply(200, { volume: volumeView(s, volume, url(req), false, caller.admin) });
    });
    api.on('PUT', `${prefix}/volumes/:id`, async (req) => {
      const { tenant, volume } = await owned(req);
      const { volume: b } = await req.body(VolumeUpdate);
      const name = b.name ?? b.display_name;
      const description = b.description ?? b.display_description;
      if (name === undefined && description === undefined && !b.metadata) throw badRequest('give the volume a new name, description or metadata');
      const v = s.volumes.update(tenant, volume.id, {
        ...(name !== undefined ? { name: name ?? '' } : {}), ...(description !== undefined ? { description: description ?? '' } : {}),
        ...(b.metadata ? { metadata: b.metadata } : {}),
      });
      return reply(200, { volume: volumeView(s, v, url(req), true) });
    });
    api.on('DELETE', `${prefix}/volumes/:id`, async (req) => {
      const { tenant, volume } = await owned(req);
      await s.volumes.delete(tenant, volume.id);
      return reply(202);
    });
    // PUT or DELETE of the list itself: a volume id left out (Cinder answers 404, as for an unknown id).
    for (const method of ['PUT', 'DELETE']) {
      api.on(method, `${prefix}/volumes`, async () => {
        throw new ApiError('not_found', 'give the volume\'s id: /volumes/{id}');
      });
    }
    volumeActionRoutes(api, s, prefix, owned);
    volumeQuotaRoutes(api, s, prefix, scope);
    volumeTypeRoutes(api, s, prefix, scope);
    volumeMessageRoutes(api, s, prefix, scope, url);
    volumeBackendRoutes(api, s, prefix, scope);
  }
}
