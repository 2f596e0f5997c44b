// Block Storage v3, for admins: the one backend's pool (scheduler-stats/get_pools) with the free and
// total space of the filesystem that holds the volume files, its capabilities (capabilities/{host}),
// the same ones volume types' extra specs are matched against, and Cinder's services (os-services):
// disabling cinder-volume (kept in the datastore) stops new volumes being placed.
import { statfs } from 'node:fs/promises';
import { dirname } from 'node:path';
import { z } from 'zod';
import { ApiError, badRequest, notFound } from '../../shared/errors.ts';
import { reply, Segment, type Request } from '../../shared/http-router.ts';
import type { Services } from '../services.ts';
import { BACKEND, BACKEND_CAPABILITIES, POOL, VOLUME_SERVICES } from '../volume-backend.ts';
import type { VolumeApi, VolumeScope } from './volume-api.ts';

const PoolsQuery = z.object({ detail: z.string().max(8).optional() });
const ServicesQuery = z.object({ host: z.string().max(255).optional(), binary: z.string().max(255).optional() });
const ServiceChange = z.object({ host: z.string().min(1).max(255), binary: z.string().min(1).max(255), disabled_reason: z.string().trim().min(1).max(255).optional() });
const HostBody = z.object({ host: z.string().min(1).max(255) });
/** Cinder's host filter names a host without its @backend too. */
const onHost = (host: string, asked: string) => host === asked || host.split('@')[0] === asked;
const GIB = 2 ** 30;

export function volumeBackendRoutes(api: VolumeApi, s: Services, prefix: string, scope: (req: Request) => Promise<VolumeScope>): void {
  const admin = async (req: Request) => {
    const { caller } = await scope(req);
    if (!caller.admin) throw new ApiError('forbidden', 'the backend\'s pools and capabilities are for admins');
  };
  const text = (key: string) => String(BACKEND_CAPABILITIES[key]);

  api.on('GET', `${prefix}/scheduler-stats/get_pools`, async (req) => {
    await admin(req);
    if (!['true', '1'].includes((req.queryOf(PoolsQuery).detail ?? '').toLowerCase())) return reply(200, { pools: [{ name: POOL }] });
    // The volume store's directory may not exist before the first volume: its parent's filesystem is the same.
    const fs = await statfs(s.ctx.volumeDir).catch(() => statfs(dirname(s.ctx.volumeDir)));
    return reply(200, { pools: [{ name: POOL, capabilities: {
      volume_backend_name: text('volume_backend_name'), vendor_name: text('vendor_name'), storage_protocol: text('storage_protocol'),
      driver_version: text('driver_version'), QoS_support: false, reserved_percentage: 0,
      total_capacity_gb: Math.floor((fs.blocks * fs.bsize) / GIB), free_capacity_gb: Math.floor((fs.bavail * fs.bsize) / GIB),
      thin_provisioning_support: true, timestamp: new Date().toISOString(),
    } }] });
  });
  api.on('GET', `${prefix}/capabilities/:host`, async (req) => {
    await admin(req);
    // host@backend, as Cinder takes it (a pool's name without its #pool also names it).
    if (req.params.host !== BACKEND && req.params.host !== POOL) throw notFound('backend', req.params.host);
    return reply(200, {
      namespace: 'OS::Storage::Capabilities::controller', volume_backend_name: text('volume_backend_name'), pool_name: null,
      vendor_name: text('vendor_name'), driver_version: text('driver_version'), storage_protocol: text('storage_protocol'),
      visibility: null, display_name: null, description: 'qcow2 files in the cluster\'s volume store', replication_targets: [],
      properties: { thin_provisioning: { type: 'boolean', title: 'Thin Provisioning', description: 'Sets thin provisioning.' } },
    });
  }, { params: { host: Segment } });

  const services = () => VOLUME_SERVICES.map((svc) => {
    const state = s.store.volumeServices.get(`${svc.binary}@${svc.host}`);
    return {
      ...svc, zone: 'nova', status: state?.disabled ? 'disabled' : 'enabled', disabled_reason: state?.disabled_reason ?? null,
      // The controller answering is the one running them: they are up.
      state: 'up', frozen: false, updated_at: state?.updated_at ?? new Date().toISOString(),
    };
  });
  // os-hosts: the services above by host, and what the volume backend holds, in total and per project.
  api.on('GET', `${prefix}/os-hosts`, async (req) => {
    await admin(req);
    return reply(200, { hosts: services().map((x) => ({
      host_name: x.host, service: x.binary, zone: x.zone, 'service-status': 'available', 'service-state': x.status, 'last-update': x.updated_at,
    })) });
  });
  api.on('GET', `${prefix}/os-hosts/:host`, async (req) => {
    await admin(req);
    const backend = services().find((x) => x.binary === 'cinder-volume' && x.host === req.params.host && x.status === 'enabled');
    if (!backend) throw notFound('enabled cinder-volume host', req.params.host);
    const volumes = s.store.volumes.all();
    const resource = (project: string, of: typeof volumes) => ({ resource: {
      host: backend.host, project, volume_count: String(of.length), total_volume_gb: String(of.reduce((sum, v) => sum + Math.ceil(v.size_mb / 1024), 0)),
      snapshot_count: '0', total_snapshot_gb: '0',
    } });
    const projects = [...new Set(volumes.map((v) => v.tenant_id))].sort();
    return reply(200, { host: [resource('(total)', volumes), ...projects.map((p) => resource(p, volumes.filter((v) => v.tenant_id === p)))] });
  }, { params: { host: Segment } });

  api.on('GET', `${prefix}/os-services`, async (req) => {
    await admin(req);
    const q = req.queryOf(ServicesQuery);
    return reply(200, { services: services().filter((x) => (!q.host || onHost(x.host, q.host)) && (!q.binary || x.binary === q.binary)) });
  });
  api.on('PUT', `${prefix}/os-services/:change`, async (req) => {
    await admin(req);
    const change = req.params.change;
    if (change === 'freeze' || change === 'thaw') {
      const { host } = await req.body(HostBody);
      if (host !== BACKEND) throw badRequest(`${host} is not a volume backend: the one backend is ${BACKEND}`);
      throw badRequest(`${BACKEND} has no replication to fail over, so it is not frozen or thawed`);
    }
    const b = await req.body(ServiceChange);
    const svc = VOLUME_SERVICES.find((x) => x.host === b.host && x.binary === b.binary);
    if (!svc) throw notFound('service', `${b.binary} on ${b.host}`);
    if (change === 'disable-log-reason' && !b.disabled_reason) throw badRequest('disabled_reason is required (a non-blank text)');
    const disabled = change !== 'enable';
    const reason = change === 'disable-log-reason' ? b.disabled_reason ?? null : null;
    s.store.volumeServices.put({ id: `${svc.binary}@${svc.host}`, disabled, disabled_reason: reason, updated_at: new Date().toISOString() });
    return reply(200, {
      host: svc.host, binary: svc.binary, service: svc.binary, disabled, status: disabled ? 'disabled' : 'enabled',
      ...(change === 'disable' ? {} : { disabled_reason: reason }),
    });
  }, { params: { change: z.enum(['enable', 'disable', 'disable-log-reason', 'freeze', 'thaw']) } });
}
