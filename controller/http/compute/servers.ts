// Servers: the tenant's instances — list (filters, paging), show, create, rename, delete, and
// their addresses. Actions and metadata have modules of their own.
import { randomBytes } from 'node:crypto';
import { RE2JS } from 're2js';
import { ApiError, badRequest, notFound } from '../../../shared/errors.ts';
import { reply, Segment, type Request } from '../../../shared/http-router.ts';
import type { Instance, Tenant } from '../../api-types.ts';
import type { Caller } from '../../auth.ts';
import { NewServer, ServerChange, ServerListQuery } from '../request-schemas.ts';
import { atLeast } from '../compute-scope.ts';
import { serverExtras } from '../server-extras.ts';
import { injectedFiles } from './personality.ts';
import type { ComputeApi } from './context.ts';
import { flavorsOf } from './flavors.ts';
import { nextPage, page } from './paging.ts';
import { now } from '../../context.ts';
import { addresses, serverDetail, serverSummary, serverView, statusOf } from './views.ts';
import type { z } from 'zod';

type ListQuery = z.output<typeof ServerListQuery>;
type NewServerBody = z.output<typeof NewServer>['server'];

/** Nova's name and ip filters are regular expressions; RE2 matches in linear time, so a tenant's
 *  pattern cannot stall the controller. */
function searcher(pattern: string | undefined, what: string): (text: string) => boolean {
  if (pattern === undefined) return () => true;
  try {
    const re = RE2JS.compile(pattern);
    return (text) => re.matcher(text).find();
  } catch {
    throw badRequest(`the ${what} filter ${JSON.stringify(pattern.slice(0, 40))} is not a valid regular expression`);
  }
}

/** Every status Nova knows: from 2.38 filtering by another is a 400 (before, it matches nothing). */
const NOVA_STATUSES = new Set(['ACTIVE', 'BUILD', 'DELETED', 'ERROR', 'HARD_REBOOT', 'MIGRATING', 'PASSWORD', 'PAUSED', 'REBOOT', 'REBUILD',
  'RESCUE', 'RESIZE', 'REVERT_RESIZE', 'SHELVED', 'SHELVED_OFFLOADED', 'SHUTOFF', 'SOFT_DELETED', 'SUSPENDED', 'UNKNOWN', 'VERIFY_RESIZE']);

/** The tag filters of 2.26: all of `tags`, any of `tags-any`, not all of `not-tags`, none of `not-tags-any`. */
function tagFilter(q: ListQuery, req: Request): (i: Instance) => boolean {
  if (!atLeast(req, '2.26')) return () => true;
  const list = (v: string | undefined) => (v === undefined ? undefined : v.split(',').map((t) => t.trim()).filter(Boolean));
  const [all, any, notAll, none] = [list(q.tags), list(q['tags-any']), list(q['not-tags']), list(q['not-tags-any'])];
  return (i) => {
    const has = (t: string) => (i.tags ?? []).includes(t);
    return (!all || all.every(has)) && (!any || any.some(has)) && (!notAll || !notAll.every(has)) && (!none || !none.some(has));
  };
}

/** What a list shows: the caller's project, or every project for an admin asking all_tenants. */
function listed(api: ComputeApi, caller: Caller, tenant: Tenant, q: ListQuery, req: Request): Instance[] {
  if (q.status !== undefined && atLeast(req, '2.38') && !NOVA_STATUSES.has(q.status.toUpperCase())) throw badRequest(`Invalid status value: ${q.status.slice(0, 32)}`);
  const tagged = tagFilter(q, req);
  const everyone = caller.admin && q.all_tenants !== undefined && !['0', 'false'].includes(q.all_tenants.toLowerCase());
  const all = everyone ? api.s.store.instances.all().filter((i) => !i.cnci && (!q.tenant_id || i.tenant_id === q.tenant_id)) : api.s.instances.list(tenant.id);
  const [name, ip] = [searcher(q.name, 'name'), searcher(q.ip, 'ip')];
  const since = q['changes-since'] === undefined ? undefined : Date.parse(q['changes-since']);
  return all
    .filter((i) => name(i.name) && (q.ip === undefined || ip(i.ip))
      && (q.status === undefined || statusOf(i) === q.status.toUpperCase())
      && (q.image === undefined || i.image === q.image) && (q.flavor === undefined || i.workload_id === q.flavor)
      && (since === undefined || Date.parse(i.updated_at) >= since)
      && (q.reservation_id === undefined || i.reservation_id === q.reservation_id) && tagged(i))
    // Nova's order: the newest first.
    .sort((a, b) => b.created_at.localeCompare(a.created_at) || b.id.localeCompare(a.id));
}

/** A field a client may send only from a microversion on (Nova's schema refuses it before: 400). */
function since(req: Request, version: string, field: string, given: unknown) {
  if (given !== undefined && !atLeast(req, version)) throw badRequest(`Invalid input for field/attribute server: ${field} needs microversion ${version} or later`);
}

/** What a create may name that this cluster cannot give: refused, never silently ignored. */
function refuseUnsupported(sv: NewServerBody, req: Request) {
  since(req, '2.19', 'description', sv.description);
  since(req, '2.52', 'tags', sv.tags);
  since(req, '2.63', 'trusted_image_certificates', sv.trusted_image_certificates);
  if (sv.personality !== undefined && atLeast(req, '2.57')) throw badRequest('Invalid input for field/attribute server: personality is gone from microversion 2.57 (use user_data)');
  if (sv.trusted_image_certificates?.length) throw badRequest('trusted_image_certificates cannot be given: image signatures are not verified on this cluster');
  // From 2.37 a create says which networks: "auto" is the project's one network; before, only a list.
  if (atLeast(req, '2.37') ? sv.networks === undefined : typeof sv.networks === 'string') {
    throw badRequest(atLeast(req, '2.37') ? 'Invalid input for field/attribute server: \'networks\' is a required property ("auto": the project\'s network)' : 'networks "auto" and "none" need microversion 2.37 or later');
  }
  if (sv.networks === 'none') throw badRequest('networks "none" cannot be: each project has one network, which every server joins (use "auto")');
  if (Array.isArray(sv.networks) && sv.networks.length) throw badRequest('networks cannot be chosen: each project has one network, which every server joins');
  if (sv.block_device_mapping_v2?.length) throw badRequest('block_device_mapping_v2 is not supported: boot from a volume through a workload\'s disks (docs/api.md)');
  const groups = (sv.security_groups ?? []).filter((g) => g.name !== 'default');
  if (groups.length) throw badRequest(`security group ${groups[0].name} does not exist: only "default" does`);
}

export function serverRoutes(api: ComputeApi): void {
  const { s } = api;
  const list = (detail: boolean) => async (req: Request) => {
    const { caller, tenant } = await api.scoped(req);
    const q = req.queryOf(ServerListQuery);
    const { items, links } = page(listed(api, caller, tenant, q, req), q, nextPage(api.url, `/servers${detail ? '/detail' : ''}`, req.query));
    const view = (i: Instance) => (detail ? serverDetail(api, i, caller.admin, req) : serverSummary(api, i));
    return reply(200, { servers: items.map(view), ...(links.length ? { servers_links: links } : {}) });
  };
  api.on('GET', '/servers', list(false));
  api.on('GET', '/servers/detail', list(true));

  api.on('POST', '/servers', async (req) => {
    const { caller, tenant } = await api.scoped(req);
    const body = await req.body(NewServer);
    const sv = body.server;
    refuseUnsupported(sv, req);
    const flavor = flavorsOf(api, tenant).find((f) => f.id === sv.flavorRef);
    if (!flavor) throw badRequest(`flavor ${sv.flavorRef} does not exist: flavors are the workloads (openstack flavor list)`);
    const reservation = `r-${randomBytes(6).toString('hex')}`;
    // As many as max_count asks for, else as few as min_count (Nova's rule when the quota is short).
    const [min, max] = [sv.min_count ?? 1, sv.max_count ?? sv.min_count ?? 1];
    // The keypair (its key goes into the config drive), the server group, the metadata limit.
    const extras = serverExtras(s.store, tenant, caller.userId, sv, body['os:scheduler_hints'] ?? body['OS-SCH-HNT:scheduler_hints'], max);
    const request = {
      workloadId: flavor.id, name: sv.name, image: sv.imageRef || undefined, userId: caller.userId, extras,
      attributes: {
        metadata: sv.metadata ?? {}, access_ipv4: sv.accessIPv4, access_ipv6: sv.accessIPv6, key_name: extras.key_name ?? null, reservation_id: reservation,
        description: sv.description, tags: sv.tags && [...new Set(sv.tags)], user_data: sv.user_data,
        files: injectedFiles(sv.personality), disk_config: sv['OS-DCF:diskConfig'],
      },
    };
    const created = await s.instances.create(tenant, flavor, { ...request, count: max }).catch(async (err) => {
      if (err instanceof ApiError && err.code === 'over_quota' && min < max) return s.instances.create(tenant, flavor, { ...request, count: min });
      throw err;
    }).catch((err) => {
      if (!(err instanceof ApiError)) throw err;
      // Nova's answers: an unknown image is a bad request, a quota a refusal.
      if (err.code === 'unknown_image') throw badRequest(err.message);
      if (err.code === 'over_quota') throw new ApiError('forbidden', err.message);
      throw err;
    });
    for (const inst of created) s.instances.noteAction(tenant, inst.id, { action: 'create', request_id: req.id, user_id: caller.userId, start_time: inst.created_at });
    if (sv.return_reservation_id) return reply(202, { reservation_id: reservation });
    const [first] = created;
    return reply(202, {
      server: {
        id: first.id, links: api.links(`/servers/${first.id}`), 'OS-DCF:diskConfig': first.disk_config ?? 'MANUAL', security_groups: [{ name: 'default' }],
        // Shown once, as Nova does; the guest does not get it yet (docs/api.md).
        adminPass: sv.adminPass ?? randomBytes(9).toString('base64url'),
      },
    });
  });

  api.on('GET', '/servers/:id', async (req) => {
    const { caller, tenant } = await api.scoped(req);
    return reply(200, { server: serverDetail(api, s.instances.get(tenant, req.params.id), caller.admin, req) });
  });
  api.on('PUT', '/servers/:id', async (req) => {
    const { tenant } = await api.scoped(req);
    const { server: change } = await req.body(ServerChange);
    since(req, '2.19', 'description', change.description);
    const inst = s.instances.update(tenant, req.params.id, {
      name: change.name, access_ipv4: change.accessIPv4, access_ipv6: change.accessIPv6, description: change.description, disk_config: change['OS-DCF:diskConfig'],
    });
    return reply(200, { server: serverView(api, inst, req) });
  });
  api.on('DELETE', '/servers/:id', async (req) => {
    const { caller, tenant } = await api.scoped(req);
    s.instances.delete(tenant, req.params.id, caller.admin, { action: 'delete', request_id: req.id, user_id: caller.userId, start_time: now() });
    return reply(204);
  });

  api.on('GET', '/servers/:id/ips', async (req) => {
    const { tenant } = await api.scoped(req);
    return reply(200, { addresses: addresses(s.instances.get(tenant, req.params.id), false) });
  });
  api.on('GET', '/servers/:id/ips/:network', async (req) => {
    const { tenant } = await api.scoped(req);
    const all = addresses(s.instances.get(tenant, req.params.id), false);
    const mine = all[req.params.network];
    if (!mine) throw notFound('network', req.params.network);
    return reply(200, { [req.params.network]: mine });
  }, { params: { network: Segment } });
}
