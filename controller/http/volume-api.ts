// What every Block Storage v3 route shares (docs/api.md, "OpenStack Block Storage v3 subset"): the
// microversion negotiated (`OpenStack-API-Version: volume X.Y`), the caller's project, Cinder's
// error bodies and status codes, and the volume's view.
import type { ServerResponse } from 'node:http';
import { z } from 'zod';
import { ApiError } from '../../shared/errors.ts';
import { reply, type Handler, type Reply, type Request, type RouteOptions } from '../../shared/http-router.ts';
import type { Instance, Tenant, Volume } from '../api-types.ts';
import type { Caller } from '../auth.ts';
import type { Services } from '../services.ts';
import { POOL } from '../volume-backend.ts';
import { MAX_VOLUME_MB } from '../volumes.ts';
import { negotiate, versionInHeader } from './microversion.ts';
import { typeOfVolume } from './volume-type-routes.ts';

/** The range served. Each version up to the maximum is built where it touches what is served:
 *  3.3 user messages (and 3.5 their paging), 3.4 the glance_metadata filter of volume lists, 3.11
 *  group types, 3.12 the volumes summary; what 3.1-3.12 change elsewhere (image upload, services,
 *  manageable lists, backups, snapshots, consistency groups) is on APIs not served at any version. */
export const VOLUME_VERSIONS = { min: '3.0', max: '3.12' };

const versionParts = (v: string) => v.split('.').map(Number) as [number, number];
/** Whether the version a request was served at is `min` or later. */
export function atLeast(version: string, min: string): boolean {
  const [[a, b], [x, y]] = [versionParts(version), versionParts(min)];
  return a > x || (a === x && b >= y);
}
/** The version a request is served at (cinderRoute checked it already). */
export function volumeVersion(req: Pick<Request, 'header'>): string {
  const header = req.header('openstack-api-version');
  return negotiate(header === undefined ? undefined : versionInHeader(header, 'volume'), VOLUME_VERSIONS);
}
/** A route added by a microversion: below it, the route does not exist (Cinder answers 404). */
export function requireVersion(req: Pick<Request, 'header'>, min: string, what: string): void {
  if (!atLeast(volumeVersion(req), min)) throw new ApiError('not_found', `${what} needs microversion ${min} or later (OpenStack-API-Version: volume ${min})`);
}

/** The one availability zone, as compute's. */
export const ZONE = 'nova';

export const GIB_MB = 1024;
export const gib = (mb: number) => Math.ceil(mb / GIB_MB);

/** A size in GiB: Cinder takes a number or a numeric string ("1"). */
export const GiB = z.union([z.int(), z.string().regex(/^\d{1,7}$/).transform(Number)]).pipe(z.int().min(1).max(MAX_VOLUME_MB / GIB_MB));
export const Metadata = z.record(z.string().min(1).max(255), z.string().max(255)).refine((m) => Object.keys(m).length <= 128, 'at most 128 keys');

export interface VolumeScope { caller: Caller; tenant: Tenant }
/** Routes registered through cinderRoute (below). */
export type VolumeApi = { on: (method: string, pattern: string, handler: Handler, opts?: RouteOptions) => void };

/** Cinder's status codes where they differ from the ciao API's (a volume in the wrong state is
 *  InvalidVolume, 400; a quota passed is OverLimit, 413), and its error bodies. */
const CINDER_STATUS: Partial<Record<ApiError['code'], number>> = { in_use: 400, invalid_state: 400, over_quota: 413 };
const CINDER_ERROR: Record<number, string> = {
  400: 'badRequest', 401: 'unauthorized', 403: 'forbidden', 404: 'itemNotFound', 405: 'HTTPMethodNotAllowed',
  406: 'notAcceptable', 409: 'conflict', 413: 'overLimit', 422: 'unprocessableEntity', 503: 'serviceUnavailable',
};
export const cinderError = (err: ApiError): Reply => {
  const status = CINDER_STATUS[err.code] ?? err.status;
  return reply(status, { [CINDER_ERROR[status] ?? 'computeFault']: { code: status, message: err.message } });
};

const announce = (res: ServerResponse, version: string) => {
  res.setHeader('OpenStack-API-Version', `volume ${version}`);
  res.setHeader('Vary', 'OpenStack-API-Version');
};

/** A volume route: its version negotiated and announced, its errors in Cinder's form. */
export const cinderRoute = (handler: Handler): Handler => async (req, res) => {
  announce(res, VOLUME_VERSIONS.min);
  try {
    announce(res, volumeVersion(req));
    return await handler(req, res);
  } catch (err) {
    if (err instanceof ApiError) return cinderError(err);
    throw err;
  }
};

/** The caller and the tenant of its project-scoped token; a project id in the path must be it. */
export async function projectScope(s: Services, req: Request, api: string): Promise<{ caller: Caller; tenant: Tenant }> {
  const caller = await s.auth.authenticate(req.header('x-auth-token'), req);
  if (!caller.projectId) throw new ApiError('forbidden', `the ${api} API needs a project-scoped token`);
  if (req.params.project && req.params.project !== caller.projectId) throw new ApiError('wrong_tenant', `your token is scoped to project ${caller.projectId}, not ${req.params.project}`);
  return { caller, tenant: s.tenants.ensure(caller.projectId, caller.projectName ?? caller.projectId) };
}

/** The guest device name Nova would report: the root disk is vda, the other volumes follow in
 *  attach order. A hint only: the guest names a volume's disk by its serial (docs/api.md). */
export function deviceOf(s: Services, inst: Instance | undefined, v: Volume): string | null {
  if (!inst || !v.attachment) return null;
  if (v.attachment.root) return '/dev/vda';
  const others = (inst.volumes ?? []).filter((id) => !s.store.volumes.get(id)?.attachment?.root);
  const n = others.indexOf(v.id);
  return `/dev/vd${String.fromCharCode('b'.charCodeAt(0) + Math.min(n < 0 ? others.length : n, 24))}`;
}

const CINDER_STATE: Record<Volume['state'], string> = {
  creating: 'creating', available: 'available', attaching: 'attaching', 'in-use': 'in-use', detaching: 'detaching', error: 'error', maintenance: 'maintenance',
};

/** Cinder's volume view of a volume, and its attachment while an instance has it. The answer to a
 *  create or an update (`brief`) has neither the project nor the image it was made from; an admin
 *  also sees where it lives and its (never running) migration. */
export function volumeView(s: Services, v: Volume, url: (path: string) => string, brief = false, admin = false) {
  const inst = v.attachment ? s.store.instances.get(v.attachment.instance_id) : undefined;
  const attached = v.attachment && (v.state === 'in-use' || v.state === 'detaching');
  return {
    id: v.id, name: v.name, description: v.description, size: gib(v.size_mb), status: CINDER_STATE[v.state],
    bootable: String(v.bootable), encrypted: false, multiattach: false, metadata: v.metadata ?? {},
    availability_zone: ZONE, volume_type: typeOfVolume(s, v).name, user_id: v.user_id ?? '',
    replication_status: 'disabled', migration_status: null, snapshot_id: null, source_volid: v.source.type === 'volume' ? v.source.id : null, consistencygroup_id: null,
    ...(brief ? {} : { 'os-vol-tenant-attr:tenant_id': v.tenant_id }),
    ...(admin && !brief ? { 'os-vol-host-attr:host': POOL, 'os-vol-mig-status-attr:migstat': null, 'os-vol-mig-status-attr:name_id': null } : {}),
    ...(v.image_metadata && !brief ? { volume_image_metadata: v.image_metadata } : {}),
    attachments: attached && v.attachment ? [{
      id: v.id, attachment_id: v.id, volume_id: v.id, server_id: v.attachment.instance_id,
      host_name: inst?.node_id ?? null, device: deviceOf(s, inst, v), attached_at: v.updated_at,
    }] : [],
    links: [{ rel: 'self', href: url(`/volumes/${v.id}`) }, { rel: 'bookmark', href: url(`/volumes/${v.id}`) }],
    created_at: v.created_at, updated_at: v.updated_at,
  };
}
