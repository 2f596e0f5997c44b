// Block Storage v3 user messages (microversion 3.3; 3.5 pages them): why a tenant's volume failed,
// in Cinder's words, kept in the datastore until the tenant deletes them or they are a month old.
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { badRequest, notFound } from '../../shared/errors.ts';
import { reply, type Request } from '../../shared/http-router.ts';
import type { Volume, VolumeMessage } from '../api-types.ts';
import type { Services } from '../services.ts';
import { atLeast, requireVersion, volumeVersion, type VolumeApi, type VolumeScope } from './volume-api.ts';

/** How long Cinder guarantees a message is kept (message_ttl, 30 days). */
const TTL_MS = 30 * 24 * 3600 * 1000;
/** Cinder's event for a volume no backend could take (NO_VALID_BACKEND during SCHEDULE_ALLOCATE_VOLUME). */
export const NO_VALID_BACKEND = { event_id: 'VOLUME_VOLUME_001_002', text: 'schedule allocate volume:Could not find any available weighted backend.' };

const ListQuery = z.object({
  limit: z.string().regex(/^\d{1,6}$/).transform(Number).optional(), marker: z.string().max(255).optional(),
  sort: z.string().regex(/^created_at(:(asc|desc))?$/, 'messages sort by created_at').optional(),
});

/** Records a message about one of the tenant's volumes. */
export function recordVolumeMessage(s: Services, v: Volume, event: { event_id: string; text: string }, requestId: string): VolumeMessage {
  const m: VolumeMessage = {
    id: randomUUID(), tenant_id: v.tenant_id, resource_uuid: v.id, event_id: event.event_id, user_message: event.text,
    request_id: requestId, created_at: new Date().toISOString(),
  };
  s.store.volumeMessages.put(m);
  return m;
}

type Links = (req: Request) => (path: string) => string;

export function volumeMessageRoutes(api: VolumeApi, s: Services, prefix: string, scope: (req: Request) => Promise<VolumeScope>, links: Links): void {
  const view = (m: VolumeMessage, url: (path: string) => string) => ({
    id: m.id, resource_type: 'VOLUME', resource_uuid: m.resource_uuid, event_id: m.event_id, user_message: m.user_message,
    message_level: 'ERROR', request_id: m.request_id, created_at: m.created_at,
    guaranteed_until: new Date(Date.parse(m.created_at) + TTL_MS).toISOString(),
    links: [{ rel: 'self', href: url(`/messages/${m.id}`) }],
  });
  /** The messages the caller sees (an admin: everyone's), the expired ones forgotten first. */
  const visible = async (req: Request) => {
    requireVersion(req, '3.3', 'messages');
    const { caller, tenant } = await scope(req);
    const cutoff = Date.now() - TTL_MS;
    for (const m of s.store.volumeMessages.all()) if (Date.parse(m.created_at) < cutoff) s.store.volumeMessages.delete(m.id);
    return (caller.admin ? s.store.volumeMessages.all() : s.store.volumeMessages.byTenant(tenant.id)).sort((a, b) => a.created_at.localeCompare(b.created_at));
  };
  const one = async (req: Request) => {
    const m = (await visible(req)).find((x) => x.id === req.params.id);
    if (!m) throw notFound('message', req.params.id);
    return m;
  };

  api.on('GET', `${prefix}/messages`, async (req) => {
    let all = await visible(req);
    const q = req.queryOf(ListQuery);
    // Paging and sorting came with 3.5.
    if (atLeast(volumeVersion(req), '3.5')) {
      if (q.sort?.endsWith(':desc')) all = all.reverse();
      if (q.marker) {
        const at = all.findIndex((m) => m.id === q.marker);
        if (at < 0) throw badRequest(`marker ${q.marker.slice(0, 64)} is not a message of this list`);
        all = all.slice(at + 1);
      }
      if (q.limit !== undefined) all = all.slice(0, q.limit);
    }
    return reply(200, { messages: all.map((m) => view(m, links(req))) });
  });
  api.on('GET', `${prefix}/messages/:id`, async (req) => reply(200, { message: view(await one(req), links(req)) }));
  api.on('DELETE', `${prefix}/messages/:id`, async (req) => {
    s.store.volumeMessages.delete((await one(req)).id);
    return reply(204);
  });
}
