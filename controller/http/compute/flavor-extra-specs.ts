// A flavor's extra specs (os-extra_specs): read by anyone who sees the flavor, written by an admin
// and kept on the workload. A workload nobody set any on shows its own: vm_type and fw_type.
import { ApiError, badRequest, notFound } from '../../../shared/errors.ts';
import { reply } from '../../../shared/http-router.ts';
import type { Workload } from '../../api-types.ts';
import type { ComputeApi } from './context.ts';
import { adminFlavor } from './flavor-admin.ts';
import { ExtraSpecs, MAX_EXTRA_SPECS, OneExtraSpec } from './flavor-bodies.ts';
import { byRef, findFlavor } from './flavors.ts';
import { extraSpecs } from './views.ts';

export function flavorExtraSpecRoutes(api: ComputeApi): void {
  const base = '/flavors/:id/os-extra_specs';
  const save = (w: Workload, specs: Record<string, string>) => {
    if (Object.keys(specs).length > MAX_EXTRA_SPECS) throw new ApiError('forbidden', `a flavor has at most ${MAX_EXTRA_SPECS} extra specs`);
    api.s.store.workloads.put({ ...w, extra_specs: specs });
  };

  api.on('GET', base, async (req) => reply(200, { extra_specs: extraSpecs((await findFlavor(api, req)).flavor) }), byRef);
  api.on('GET', `${base}/:key`, async (req) => {
    const specs = extraSpecs((await findFlavor(api, req)).flavor);
    if (!Object.hasOwn(specs, req.params.key)) throw notFound('flavor extra spec', req.params.key);
    return reply(200, { [req.params.key]: specs[req.params.key] });
  }, byRef);
  api.on('POST', base, async (req) => {
    const w = await adminFlavor(api, req, 'set extra specs');
    const { extra_specs } = await req.body(ExtraSpecs);
    save(w, { ...extraSpecs(w), ...extra_specs });
    return reply(200, { extra_specs });
  }, byRef);
  api.on('PUT', `${base}/:key`, async (req) => {
    const w = await adminFlavor(api, req, 'set extra specs');
    const body = await req.body(OneExtraSpec);
    if (!Object.hasOwn(body, req.params.key)) throw badRequest('Request body and URI mismatch: the one extra spec must have the URL\'s key');
    save(w, { ...extraSpecs(w), ...body });
    return reply(200, body);
  }, byRef);
  api.on('DELETE', `${base}/:key`, async (req) => {
    const w = await adminFlavor(api, req, 'delete extra specs');
    const specs = { ...extraSpecs(w) };
    if (!Object.hasOwn(specs, req.params.key)) throw notFound('flavor extra spec', req.params.key);
    delete specs[req.params.key];
    save(w, specs);
    return reply(200);
  }, byRef);
}
