// Flavors: the workloads a project can boot (its own, the public ones, and the private flavors it was
// given), listed and shown. An admin makes and deletes them in flavor-admin.ts; extra specs are in
// flavor-extra-specs.ts, a private flavor's projects in flavor-access.ts.
import { badRequest, notFound } from '../../../shared/errors.ts';
import { reply, type Request } from '../../../shared/http-router.ts';
import type { Tenant, Workload } from '../../api-types.ts';
import type { Caller } from '../../auth.ts';
import { FlavorListQuery, FlavorRef } from '../request-schemas.ts';
import type { ComputeApi } from './context.ts';
import { nextPage, page } from './paging.ts';
import { flavorDiskGb, flavorView } from './views.ts';

/** The flavors a project may boot: its own workloads, the public ones, private flavors shared with it. */
export const flavorsOf = (api: ComputeApi, t: Tenant) =>
  api.s.store.workloads.all().filter((w) => w.tenant_id === t.id || w.visibility === 'public' || (w.access?.includes(t.id) ?? false));

/** What a caller may look at: an admin every flavor (not the cluster's internal workloads), a member what it may boot. */
const viewableBy = (api: ComputeApi, c: Caller, t: Tenant) =>
  (c.admin ? api.s.store.workloads.all().filter((w) => w.visibility !== 'internal') : flavorsOf(api, t));

/** The flavor a request's :id names (its id, else its name: clients look flavors up by either), if the caller may see it. */
export async function findFlavor(api: ComputeApi, req: Request): Promise<{ flavor: Workload; caller: Caller; tenant: Tenant }> {
  const { caller, tenant } = await api.scoped(req);
  const seen = viewableBy(api, caller, tenant);
  const flavor = seen.find((f) => f.id === req.params.id) ?? seen.find((f) => f.description === req.params.id);
  if (!flavor) throw notFound('flavor', req.params.id);
  return { flavor, caller, tenant };
}

/** Flavor routes' parameters: an id or name, and an extra spec's key. */
export const byRef = { params: { id: FlavorRef, key: FlavorRef } };

/** is_public as Nova reads it: absent (the default, public), true, false, or `none` (all: admins only). */
function isPublicFilter(value: string | undefined): boolean | null | undefined {
  if (value === undefined) return undefined;
  const v = value.toLowerCase();
  if (v === 'none') return null;
  if (['1', 't', 'true', 'on', 'y', 'yes'].includes(v)) return true;
  if (['0', 'f', 'false', 'off', 'n', 'no'].includes(v)) return false;
  throw badRequest(`Invalid is_public filter [${value.slice(0, 40)}]`);
}

const SORT: Record<string, (w: Workload) => string | number> = {
  id: (w) => w.id, flavorid: (w) => w.id, name: (w) => w.description, memory_mb: (w) => w.defaults.mem_mb,
  vcpus: (w) => w.defaults.vcpus, root_gb: flavorDiskGb, created_at: (w) => w.created_at,
};

export function flavorRoutes(api: ComputeApi): void {
  /** Nova's default lists the public flavors and the project's own; is_public=false only the private
   *  ones (an admin: every private one), is_public=none every one (admin). */
  const listed = (c: Caller, t: Tenant, isPublic: boolean | null | undefined) => {
    if (isPublic === null && c.admin) return viewableBy(api, c, t);
    if (isPublic === false) return viewableBy(api, c, t).filter((w) => w.visibility !== 'public');
    return flavorsOf(api, t);
  };
  const list = (detail: boolean) => async (req: Request) => {
    const { caller, tenant } = await api.scoped(req);
    const q = req.queryOf(FlavorListQuery);
    const key = SORT[q.sort_key ?? 'flavorid'];
    const dir = q.sort_dir === 'desc' ? -1 : 1;
    const flavors = listed(caller, tenant, isPublicFilter(q.is_public))
      .filter((w) => (q.minRam === undefined || w.defaults.mem_mb >= q.minRam) && (q.minDisk === undefined || flavorDiskGb(w) >= q.minDisk))
      .sort((a, b) => (key(a) < key(b) ? -dir : key(a) > key(b) ? dir : 0));
    const { items, links } = page(flavors, q, nextPage(api.url, `/flavors${detail ? '/detail' : ''}`, req.query));
    return reply(200, { flavors: items.map((w) => flavorView(api, w, detail, req)), ...(links.length ? { flavors_links: links } : {}) });
  };
  api.on('GET', '/flavors', list(false));
  api.on('GET', '/flavors/detail', list(true));
  api.on('GET', '/flavors/:id', async (req) => reply(200, { flavor: flavorView(api, (await findFlavor(api, req)).flavor, true, req) }), byRef);
}
