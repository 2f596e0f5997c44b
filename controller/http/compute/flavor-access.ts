// A private flavor's projects (os-flavor-access): an admin lists them, adds and removes one; a
// project on the list sees the flavor and boots servers of it (flavors.ts's flavorsOf).
import { ApiError, notFound } from '../../../shared/errors.ts';
import { reply } from '../../../shared/http-router.ts';
import type { Workload } from '../../api-types.ts';
import type { ComputeApi } from './context.ts';
import { adminFlavor } from './flavor-admin.ts';
import { FlavorAccessAction } from './flavor-bodies.ts';
import { byRef } from './flavors.ts';

/** How many projects one private flavor may be shared with. */
const MAX_PROJECTS = 1000;

const accessView = (w: Workload) => ({ flavor_access: (w.access ?? []).map((tenant_id) => ({ flavor_id: w.id, tenant_id })) });

export function flavorAccessRoutes(api: ComputeApi): void {
  api.on('GET', '/flavors/:id/os-flavor-access', async (req) => {
    const w = await adminFlavor(api, req, 'manage flavor access');
    if (w.visibility === 'public') throw notFound('access list of flavor', `${w.id} (public flavors have none)`);
    return reply(200, accessView(w));
  }, byRef);

  api.on('POST', '/flavors/:id/action', async (req) => {
    const w = await adminFlavor(api, req, 'manage flavor access');
    const action = await req.body(FlavorAccessAction);
    const access = [...(w.access ?? [])];
    if ('addTenantAccess' in action) {
      const project = action.addTenantAccess.tenant;
      if (w.visibility === 'public') throw new ApiError('conflict', `flavor ${w.id} is public: every project has it`);
      if (access.includes(project)) throw new ApiError('conflict', `Flavor access already exists for flavor ${w.id} and project ${project} combination.`);
      if (access.length >= MAX_PROJECTS) throw new ApiError('forbidden', `a flavor is shared with at most ${MAX_PROJECTS} projects`);
      access.push(project);
    } else {
      const project = action.removeTenantAccess.tenant;
      if (!access.includes(project)) throw notFound(`access to flavor ${w.id} for project`, project);
      access.splice(access.indexOf(project), 1);
    }
    const updated = { ...w, access };
    api.s.store.workloads.put(updated);
    return reply(200, accessView(updated));
  }, byRef);
}
