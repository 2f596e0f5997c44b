// PUT /flavors/{id} (microversion 2.55): an admin sets a flavor's description, kept on the workload.
// Nothing else of a flavor changes this way, as in Nova.
import { z } from 'zod';
import { ApiError, notFound } from '../../../shared/errors.ts';
import { reply } from '../../../shared/http-router.ts';
import { atLeast } from '../compute-scope.ts';
import { FlavorRef } from '../request-schemas.ts';
import type { ComputeApi } from './context.ts';
import { flavorView } from './views.ts';

const FlavorChange = z.strictObject({ flavor: z.strictObject({ description: z.string().max(65_535).regex(/^[^\p{C}]*$/u, 'must be printable characters').nullable() }) });

export function flavorDescriptionRoutes(api: ComputeApi): void {
  api.on('PUT', '/flavors/:id', async (req) => {
    if (!atLeast(req, '2.55')) throw notFound('resource', req.path);
    const { caller } = await api.scoped(req);
    if (!caller.admin) throw new ApiError('forbidden', 'only an admin changes a flavor\'s description');
    const { flavor: change } = await req.body(FlavorChange);
    const w = api.s.store.workloads.get(req.params.id);
    if (!w) throw notFound('flavor', req.params.id);
    const updated = { ...w, flavor_description: change.description };
    api.s.store.workloads.put(updated);
    return reply(200, { flavor: flavorView(api, updated, true, req) });
  }, { params: { id: FlavorRef } });
}
