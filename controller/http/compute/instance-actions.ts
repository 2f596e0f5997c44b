// GET /servers/{id}/os-instance-actions: what was asked of a server through this API, by whom and
// under which request id (kept on the instance; events are not recorded, so a show lists none).
// From 2.21 a deleted server's actions are still shown; from 2.58 an action has updated_at and a
// list pages (limit, marker: a request id) and filters (changes-since).
import { notFound } from '../../../shared/errors.ts';
import { reply, type Request } from '../../../shared/http-router.ts';
import type { InstanceActionRecord } from '../../api-types.ts';
import { z } from 'zod';
import { atLeast } from '../compute-scope.ts';
import { InstanceActionQuery } from '../request-schemas.ts';
import type { ComputeApi } from './context.ts';
import { nextPage, page } from './paging.ts';

export function instanceActionRoutes(api: ComputeApi): void {
  /** The server's actions, the newest first, as Nova lists them; a deleted one's from 2.21. */
  const actionsOf = async (req: Request) => {
    const { tenant } = await api.scoped(req);
    const gone = api.s.store.deletedServers.get(req.params.id);
    const server = gone?.tenant_id === tenant.id && atLeast(req, '2.21') ? gone : api.s.instances.get(tenant, req.params.id);
    const view = (a: InstanceActionRecord) => ({
      ...a, instance_uuid: server.id, project_id: server.tenant_id, message: null,
      // Nothing changes an action once it is noted: its last update is its start.
      ...(atLeast(req, '2.58') ? { updated_at: a.start_time } : {}),
    });
    return [...(server.actions ?? [])].reverse().map((a) => ({ id: a.request_id, view: view(a) }));
  };

  api.on('GET', '/servers/:id/os-instance-actions', async (req) => {
    const all = await actionsOf(req);
    if (!atLeast(req, '2.58')) return reply(200, { instanceActions: all.map((a) => a.view) });
    const q = req.queryOf(InstanceActionQuery);
    const since = q['changes-since'] === undefined ? undefined : Date.parse(q['changes-since']);
    const recent = all.filter((a) => since === undefined || Date.parse(a.view.updated_at ?? '') >= since);
    const { items, links } = page(recent, q, nextPage(api.url, `/servers/${req.params.id}/os-instance-actions`, req.query));
    return reply(200, { instanceActions: items.map((a) => a.view), ...(links.length ? { links } : {}) });
  });
  api.on('GET', '/servers/:id/os-instance-actions/:request', async (req) => {
    const { caller } = await api.scoped(req);
    const action = (await actionsOf(req)).find((a) => a.id === req.params.request);
    if (!action) throw notFound('instance action', req.params.request);
    // Admins always see the events, everyone from 2.51: none are recorded here.
    return reply(200, { instanceAction: { ...action.view, ...(caller.admin || atLeast(req, '2.51') ? { events: [] } : {}) } });
  }, { params: { request: z.string().regex(/^req-[0-9a-f-]{36}$/) } });
}
