// Block Storage v3: a volume's actions (POST /volumes/{id}/action) and its metadata, over the
// cluster's volumes (controller/volumes.ts): an extend grows the file, an attach hot-plugs the disk.
import { z } from 'zod';
import { ApiError, badRequest, notFound } from '../../shared/errors.ts';
import { reply, Segment, type Request } from '../../shared/http-router.ts';
import type { Volume } from '../api-types.ts';
import { checkQuota } from '../quotas.ts';
import type { Services } from '../services.ts';
import { RESETTABLE_STATES } from '../volumes.ts';
import { GIB_MB, GiB, Metadata, type VolumeApi, type VolumeScope } from './volume-api.ts';
import { findVolumeType, typeOfVolume } from './volume-type-routes.ts';

/** One action per request, named by the body's only key. */
const Action = z.union([
  z.strictObject({ 'os-extend': z.object({ new_size: GiB }) }),
  z.strictObject({ 'os-reset_status': z.object({ status: z.enum(RESETTABLE_STATES), attach_status: z.string().max(32).nullish(), migration_status: z.string().max(32).nullish() }) }),
  z.strictObject({ 'os-force_delete': z.object({}).nullish() }),
  z.strictObject({ 'os-set_bootable': z.object({ bootable: z.union([z.boolean(), z.enum(['true', 'false', 'True', 'False'])]) }) }),
  z.strictObject({ 'os-attach': z.object({ instance_uuid: z.string().max(255).nullish(), host_name: z.string().max(255).nullish(), mountpoint: z.string().max(255).nullish(), mode: z.enum(['rw', 'ro']).nullish() }) }),
  z.strictObject({ 'os-detach': z.object({ attachment_id: z.string().max(255).nullish() }).nullish() }),
  z.strictObject({ 'os-set_image_metadata': z.object({ metadata: Metadata }) }),
  z.strictObject({ 'os-unset_image_metadata': z.object({ key: z.string().min(1).max(255) }) }),
  z.strictObject({ 'os-show_image_metadata': z.object({}).nullish() }),
  z.strictObject({ 'os-reserve': z.object({}).nullish() }),
  z.strictObject({ 'os-unreserve': z.object({}).nullish() }),
  z.strictObject({ 'os-force_detach': z.object({ attachment_id: z.string().max(255).nullish(), connector: z.unknown().optional() }).nullish() }),
  z.strictObject({ 'os-retype': z.object({ new_type: z.string().min(1).max(255), migration_policy: z.enum(['never', 'on-demand']).nullish() }) }),
]);
const ACTIONS = ['os-extend', 'os-reset_status', 'os-force_delete', 'os-set_bootable', 'os-attach', 'os-detach', 'os-reserve', 'os-unreserve',
  'os-set_image_metadata', 'os-unset_image_metadata', 'os-show_image_metadata', 'os-retype', 'os-force_detach'];

const MetadataBody = z.object({ metadata: Metadata });
const MetaItem = z.object({ meta: Metadata });
const key = { params: { key: Segment } };

type Owned = (req: Request) => Promise<VolumeScope & { volume: Volume }>;

export function volumeActionRoutes(api: VolumeApi, s: Services, prefix: string, owned: Owned): void {
  api.on('POST', `${prefix}/volumes/:id/action`, async (req) => {
    const { caller, tenant, volume } = await owned(req);
    const raw = await req.jsonValue();
    const name = raw && typeof raw === 'object' && !Array.isArray(raw) ? Object.keys(raw)[0] : undefined;
    if (!name || !ACTIONS.includes(name)) throw badRequest(`supported volume actions are ${ACTIONS.join(', ')}, not ${name ?? 'none'}`);
    const action = await req.body(Action);
    if ('os-extend' in action) {
      const sizeMB = action['os-extend'].new_size * GIB_MB;
      if (sizeMB <= volume.size_mb) throw badRequest(`new_size must be larger than the volume's ${Math.ceil(volume.size_mb / GIB_MB)} GiB`);
      checkQuota(s.store.quotas.get(tenant.id), s.instances.usage(tenant.id), { volume_mb: sizeMB - volume.size_mb });
      await s.volumes.extend(tenant, volume.id, sizeMB);
    } else if ('os-reset_status' in action || 'os-force_delete' in action || 'os-force_detach' in action) {
      if (!caller.admin) throw new ApiError('forbidden', `${name} is for admins`);
      if ('os-reset_status' in action) s.volumes.resetState(volume, action['os-reset_status'].status);
      else if ('os-force_detach' in action) {
        const asked = action['os-force_detach']?.attachment_id;
        if (asked && asked !== volume.id) throw notFound('attachment', asked);
        s.volumes.forceDetach(volume);
      } else await s.volumes.forceDelete(volume);
    } else if ('os-set_bootable' in action) {
      s.volumes.update(tenant, volume.id, { bootable: String(action['os-set_bootable'].bootable).toLowerCase() === 'true' });
      return reply(200);
    } else if ('os-attach' in action) {
      // What Nova asks of Cinder once it attached a disk; here the attach itself is done (hot-plug).
      const to = action['os-attach'].instance_uuid;
      if (!to) throw badRequest('instance_uuid is required: volumes attach to instances (attaching to a host is not supported)');
      const inst = s.store.instances.get(to);
      if (!inst || inst.tenant_id !== tenant.id) throw notFound('instance', to);
      s.volumes.attach(tenant, volume.id, inst);
    } else if ('os-set_image_metadata' in action || 'os-unset_image_metadata' in action || 'os-show_image_metadata' in action) {
      const shown = imageMetadata(tenant, volume, action);
      return reply(200, shown && { metadata: shown });
    } else if ('os-retype' in action) {
      // Every type is the same storage, so a retype never migrates: the volume only changes its name of type.
      if (volume.state !== 'available' && volume.state !== 'in-use') throw new ApiError('invalid_state', `volume ${volume.id} is ${volume.state}: only an available or in-use volume can be retyped`);
      const type = findVolumeType(s, caller, tenant, action['os-retype'].new_type);
      if (type.id === typeOfVolume(s, volume).id) throw badRequest(`volume ${volume.id} is of type ${type.name} already`);
      s.volumes.update(tenant, volume.id, { volume_type_id: type.id });
    } else if ('os-reserve' in action || 'os-unreserve' in action) {
      s.volumes.reserve(tenant, volume.id, 'os-reserve' in action);
    } else if (volume.state !== 'available' || volume.attachment) {
      // A detach of a volume that is not attached does nothing, as in Cinder.
      s.volumes.detach(tenant, volume.id);
    }
    return reply(202);
  });

  /** The image facts a volume keeps: shown, merged into, or one key taken out (nothing to show then). */
  const imageMetadata = (tenant: VolumeScope['tenant'], v: Volume, action: z.output<typeof Action>) => {
    const now = v.image_metadata ?? {};
    if ('os-set_image_metadata' in action) return s.volumes.update(tenant, v.id, { image_metadata: { ...now, ...action['os-set_image_metadata'].metadata } }).image_metadata;
    if (!('os-unset_image_metadata' in action)) return now;
    const { [action['os-unset_image_metadata'].key]: gone, ...rest } = now;
    if (gone === undefined) throw notFound('image metadata key', action['os-unset_image_metadata'].key);
    s.volumes.update(tenant, v.id, { image_metadata: rest });
    return undefined;
  };
  const metadata = (v: Volume) => v.metadata ?? {};
  api.on('GET', `${prefix}/volumes/:id/metadata`, async (req) => reply(200, { metadata: metadata((await owned(req)).volume) }));
  api.on('POST', `${prefix}/volumes/:id/metadata`, async (req) => {
    const { tenant, volume } = await owned(req);
    const { metadata: add } = await req.body(MetadataBody);
    const next = { ...metadata(volume), ...add };
    if (Object.keys(next).length > 128) throw badRequest('a volume keeps at most 128 metadata keys');
    return reply(200, { metadata: metadata(s.volumes.update(tenant, volume.id, { metadata: next })) });
  });
  api.on('PUT', `${prefix}/volumes/:id/metadata`, async (req) => {
    const { tenant, volume } = await owned(req);
    const { metadata: all } = await req.body(MetadataBody);
    return reply(200, { metadata: metadata(s.volumes.update(tenant, volume.id, { metadata: all })) });
  });
  api.on('GET', `${prefix}/volumes/:id/metadata/:key`, async (req) => {
    const { volume } = await owned(req);
    const value = metadata(volume)[req.params.key];
    if (value === undefined) throw notFound('metadata key', req.params.key);
    return reply(200, { meta: { [req.params.key]: value } });
  }, key);
  api.on('PUT', `${prefix}/volumes/:id/metadata/:key`, async (req) => {
    const { tenant, volume } = await owned(req);
    const { meta } = await req.body(MetaItem);
    const keys = Object.keys(meta);
    if (keys.length !== 1 || keys[0] !== req.params.key) throw badRequest(`the body's meta must hold exactly the key of the path, ${req.params.key}`);
    const next = { ...metadata(volume), ...meta };
    if (Object.keys(next).length > 128) throw badRequest('a volume keeps at most 128 metadata keys');
    s.volumes.update(tenant, volume.id, { metadata: next });
    return reply(200, { meta });
  }, key);
  api.on('DELETE', `${prefix}/volumes/:id/metadata/:key`, async (req) => {
    const { tenant, volume } = await owned(req);
    const { [req.params.key]: gone, ...rest } = metadata(volume);
    if (gone === undefined) throw notFound('metadata key', req.params.key);
    s.volumes.update(tenant, volume.id, { metadata: rest });
    return reply(200);
  }, key);
}
