// Flavors: the workloads a project can boot (its own and the public ones), read-only.
import { notFound } from '../../../shared/errors.ts';
import { reply, type Request } from '../../../shared/http-router.ts';
import type { Tenant, Workload } from '../../api-types.ts';
import { FlavorListQuery, FlavorRef } from '../request-schemas.ts';
import type { ComputeApi } from './context.ts';
import { nextPage, page } from './paging.ts';
import { extraSpecs, flavorDiskGb, flavorView } from './views.ts';

/** The flavors a tenant sees. */
export const flavorsOf = (api: ComputeApi, t: Tenant) =>
  api.s.store.workloads.all().filter((w) => w.tenant_id === t.id || w.visibility === 'public');

const SORT: Record<string, (w: Workload) => string | number> = {
  id: (w) => w.id, flavorid: (w) => w.id, name: (w) => w.description, memory_mb: (w) => w.defaults.mem_mb,
  vcpus: (w) => w.defaults.vcpus, root_gb: flavorDiskGb, created_at: (w) => w.created_at,
};

export function flavorRoutes(api: ComputeApi): void {
  const list = (detail: boolean) => async (req: Request) => {
    const { tenant } = await api.scoped(req);
    const q = req.queryOf(FlavorListQuery);
    const key = SORT[q.sort_key ?? 'flavorid'];
    const dir = q.sort_dir === 'desc' ? -1 : 1;
    const isPublic = q.is_public?.toLowerCase();
    const flavors = flavorsOf(api, tenant)
      .filter((w) => (q.minRam === undefined || w.defaults.mem_mb >= q.minRam) && (q.minDisk === undefined || flavorDiskGb(w) >= q.minDisk))
      // Nova's default lists the public flavors and the project's own; is_public=false only the private ones.
      .filter((w) => (isPublic === 'false' || isPublic === '0' ? w.visibility !== 'public' : true))
      .sort((a, b) => (key(a) < key(b) ? -dir : key(a) > key(b) ? dir : 0));
    const { items, links } = page(flavors, q, nextPage(api.url, `/flavors${detail ? '/detail' : ''}`, req.query));
    return reply(200, { flavors: items.map((w) => flavorView(api, w, detail, req)), ...(links.length ? { flavors_links: links } : {}) });
  };
  api.on('GET', '/flavors', list(false));
  api.on('GET', '/flavors/detail', list(true));
  const find = async (req: Request) => {
    const { tenant } = await api.scoped(req);
    const w = flavorsOf(api, tenant).find((f) => f.id === req.params.id || f.description === req.params.id);
    if (!w) throw notFound('flavor', req.params.id);
    return w;
  };
  const byRef = { params: { id: FlavorRef, key: FlavorRef } };
  api.on('GET', '/flavors/:id', async (req) => reply(200, { flavor: flavorView(api, await find(req), true, req) }), byRef);
  // Read-only: what the workload says of itself (clients read them when a view has none, as at 2.1).
  api.on('GET', '/flavors/:id/os-extra_specs', async (req) => reply(200, { extra_specs: extraSpecs(await find(req)) }), byRef);
  api.on('GET', '/flavors/:id/os-extra_specs/:key', async (req) => {
    const specs = extraSpecs(await find(req));
    if (!Object.hasOwn(specs, req.params.key)) throw notFound('flavor extra spec', req.params.key);
    return reply(200, { [req.params.key]: specs[req.params.key] });
  }, byRef);
}
