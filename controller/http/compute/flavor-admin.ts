// An admin's flavor writes: create (a new workload, so the flavor is bootable at once), the 2.55
// description, delete. A flavor made here is a VM (qemu) workload sized as asked, with the image,
// firmware and cloud-config of the cluster's first public VM workload — a server boots its own
// imageRef when it names one, as with every flavor (docs/api.md).
import { randomUUID } from 'node:crypto';
import { ApiError } from '../../../shared/errors.ts';
import { reply, type Request } from '../../../shared/http-router.ts';
import type { Workload } from '../../api-types.ts';
import type { Caller } from '../../auth.ts';
import { now } from '../../context.ts';
import { atLeast } from '../compute-scope.ts';
import type { ComputeApi } from './context.ts';
import { FlavorUpdate, NewFlavor, NewFlavorV255, type NewFlavorInput } from './flavor-bodies.ts';
import { byRef, findFlavor } from './flavors.ts';
import { flavorView } from './views.ts';

const requireAdmin = (c: Caller, what: string) => {
  if (!c.admin) throw new ApiError('forbidden', `only an admin can ${what}`);
};

/** The flavor an admin's write names; a member is refused before the flavor is looked up, as in
 *  Nova (policy first), so a private flavor's existence is not told by a 404 or a 403. */
export async function adminFlavor(api: ComputeApi, req: Request, what: string): Promise<Workload> {
  requireAdmin((await api.scoped(req)).caller, what);
  return (await findFlavor(api, req)).flavor;
}

/** The workload a new flavor copies what a flavor does not say from: the oldest public VM workload. */
const templateOf = (api: ComputeApi): Workload | undefined =>
  api.s.store.workloads.all().filter((w) => w.visibility === 'public' && w.vm_type === 'qemu')
    .sort((a, b) => (a.created_at < b.created_at ? -1 : a.created_at > b.created_at ? 1 : 0))[0];

function newFlavor(api: ComputeApi, f: NewFlavorInput): Workload {
  const all = api.s.store.workloads.all();
  const id = f.id ?? randomUUID();
  if (all.some((w) => w.id === id)) throw new ApiError('conflict', `Flavor with ID ${id} already exists.`);
  if (all.some((w) => w.visibility !== 'internal' && w.description === f.name)) throw new ApiError('conflict', `Flavor with name ${f.name} already exists.`);
  const template = templateOf(api);
  const isPublic = f['os-flavor-access:is_public'] ?? true;
  return {
    id, tenant_id: null, description: f.name, vm_type: 'qemu', image_name: template?.image_name ?? '', fw_type: template?.fw_type ?? 'legacy',
    visibility: isPublic ? 'public' : 'tenant', defaults: { vcpus: f.vcpus, mem_mb: f.ram, disk_mb: f.disk * 1024 },
    requirements: {}, config: template?.config ?? '', created_at: now(),
    flavor: {
      swap_mb: f.swap ?? 0, ephemeral_gb: f['OS-FLV-EXT-DATA:ephemeral'] ?? 0, rxtx_factor: f.rxtx_factor ?? 1,
      ...(f.description !== undefined ? { description: f.description } : {}),
    },
    extra_specs: {}, ...(isPublic ? {} : { access: [] }),
  };
}

export function flavorAdminRoutes(api: ComputeApi): void {
  api.on('POST', '/flavors', async (req: Request) => {
    const { caller } = await api.scoped(req);
    requireAdmin(caller, 'create a flavor');
    const { flavor } = await req.body(atLeast(req, '2.55') ? NewFlavorV255 : NewFlavor);
    const w = newFlavor(api, flavor);
    api.s.store.workloads.put(w);
    return reply(200, { flavor: flavorView(api, w, true, req) });
  });

  api.on('PUT', '/flavors/:id', async (req) => {
    // The description came with 2.55; before it Nova has no flavor update (404, as for a method of a later version).
    if (!atLeast(req, '2.55')) throw new ApiError('not_found', 'a flavor can be updated from microversion 2.55');
    const w = await adminFlavor(api, req, 'update a flavor');
    const { flavor } = await req.body(FlavorUpdate);
    const updated: Workload = { ...w, flavor: { swap_mb: 0, ephemeral_gb: 0, rxtx_factor: 1, ...w.flavor, description: flavor.description } };
    api.s.store.workloads.put(updated);
    return reply(200, { flavor: flavorView(api, updated, true, req) });
  }, byRef);

  api.on('DELETE', '/flavors/:id', async (req) => {
    const w = await adminFlavor(api, req, 'delete a flavor');
    // Nova's servers keep a copy of their flavor; an instance here needs its workload to start again.
    const user = api.s.store.instances.all().find((i) => i.workload_id === w.id);
    if (user) throw new ApiError('in_use', `flavor ${w.id} is used by server ${user.id}: delete its servers first`);
    api.s.store.workloads.delete(w.id);
    return reply(202);
  }, byRef);
}
