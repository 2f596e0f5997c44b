// GET /servers/{id}/os-instance-actions: what was asked of a server through this API, by whom and
// under which request id (kept on the instance; events are not recorded).
import { notFound } from '../../../shared/errors.ts';
import { reply } from '../../../shared/http-router.ts';
import type { Instance, InstanceActionRecord } from '../../api-types.ts';
import { z } from 'zod';
import type { ComputeApi } from './context.ts';

const view = (i: Instance, a: InstanceActionRecord) => ({ ...a, instance_uuid: i.id, project_id: i.tenant_id, message: null });

export function instanceActionRoutes(api: ComputeApi): void {
  api.on('GET', '/servers/:id/os-instance-actions', async (req) => {
    const inst = api.s.instances.get((await api.scoped(req)).tenant, req.params.id);
    // The newest first, as Nova lists them.
    return reply(200, { instanceActions: [...(inst.actions ?? [])].reverse().map((a) => view(inst, a)) });
  });
  api.on('GET', '/servers/:id/os-instance-actions/:request', async (req) => {
    const inst = api.s.instances.get((await api.scoped(req)).tenant, req.params.id);
    const action = inst.actions?.find((a) => a.request_id === req.params.request);
    if (!action) throw notFound('instance action', req.params.request);
    return reply(200, { instanceAction: view(inst, action) });
  }, { params: { request: z.string().regex(/^req-[0-9a-f-]{36}$/) } });
}
