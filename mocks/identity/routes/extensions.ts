// Two Keystone extensions kept as admin-managed records: OAuth1 consumers (OS-OAUTH1; the
// delegation flow itself is not served) and endpoint groups (OS-EP-FILTER: endpoints chosen by
// service, interface or region; not associated with projects, so every token's catalogue stays whole).
import { randomBytes, randomUUID } from 'node:crypto';
import { z } from 'zod';
import { reply, type Router } from '../../../shared/http-router.ts';
import type { Consumer, EndpointGroup } from '../config.ts';
import { found, parse, type Helpers, type IdentityContext } from '../context.ts';
import { hashPassword } from '../passwords.ts';

const Description = z.string().max(65535);
const NewConsumer = z.object({ consumer: z.object({ description: Description.nullish() }) });
const Filters = z.object({
  service_id: z.string().min(1).max(64).optional(), interface: z.enum(['public', 'internal', 'admin']).optional(), region_id: z.string().min(1).max(255).optional(),
}).strict();
const NewEndpointGroup = z.object({ endpoint_group: z.object({ name: z.string().min(1).max(255), description: Description.nullish(), filters: Filters }) });
const EndpointGroupPatch = z.object({ endpoint_group: NewEndpointGroup.shape.endpoint_group.partial() });

export function addExtensionRoutes(router: Router, ctx: IdentityContext, h: Helpers) {
  const { config } = ctx;

  // --- OS-OAUTH1 consumers: the secret is shown once, at creation ---
  const consumerView = (c: Consumer) => ({ id: c.id, description: c.description, links: h.links(`OS-OAUTH1/consumers/${c.id}`) });
  const consumerById = (id: string) => found(config.consumers.find((c) => c.id === id), 'consumer', id);
  router.on('GET', '/v3/OS-OAUTH1/consumers', async (req) => (h.adminCaller(req), h.list('consumers', config.consumers.map(consumerView), req)));
  router.on('GET', '/v3/OS-OAUTH1/consumers/:id', async (req) => (h.adminCaller(req), reply(200, { consumer: consumerView(consumerById(req.params.id)) })));
  router.on('POST', '/v3/OS-OAUTH1/consumers', async (req) => {
    h.adminCaller(req);
    const { consumer: c } = parse(NewConsumer, await req.jsonValue());
    const secret = randomBytes(24).toString('base64url');
    const consumer: Consumer = { id: randomUUID().replaceAll('-', ''), description: c.description ?? '', secret_hash: await hashPassword(secret) };
    config.consumers.push(consumer);
    h.changed('oauth consumer created', consumer);
    return reply(201, { consumer: { ...consumerView(consumer), secret } });
  });
  router.on('PATCH', '/v3/OS-OAUTH1/consumers/:id', async (req) => {
    h.adminCaller(req);
    const consumer = consumerById(req.params.id);
    consumer.description = parse(NewConsumer, await req.jsonValue()).consumer.description ?? consumer.description;
    h.changed('oauth consumer updated', consumer);
    return reply(200, { consumer: consumerView(consumer) });
  });
  router.on('DELETE', '/v3/OS-OAUTH1/consumers/:id', async (req) => {
    h.adminCaller(req);
    const consumer = consumerById(req.params.id);
    config.consumers = config.consumers.filter((c) => c !== consumer);
    h.changed('oauth consumer deleted', consumer);
    return reply(204);
  });

  // --- OS-EP-FILTER endpoint groups ---
  const groupView = (g: EndpointGroup) => ({ ...g, links: h.links(`OS-EP-FILTER/endpoint_groups/${g.id}`) });
  const groupById = (id: string) => found(config.endpoint_groups.find((g) => g.id === id), 'endpoint group', id);
  const base = '/v3/OS-EP-FILTER/endpoint_groups';
  router.on('GET', base, async (req) => (h.adminCaller(req), h.list('endpoint_groups', h.named(req, config.endpoint_groups).map(groupView), req)));
  router.on('GET', `${base}/:id`, async (req) => (h.adminCaller(req), reply(200, { endpoint_group: groupView(groupById(req.params.id)) })));
  router.on('GET', `${base}/:id/endpoints`, async (req) => {
    h.adminCaller(req);
    const { filters: f } = groupById(req.params.id);
    const endpoints = (config.endpoints ?? []).filter((e) => (!f.service_id || e.service_id === f.service_id)
      && (!f.interface || e.interface === f.interface) && (!f.region_id || e.region_id === f.region_id));
    return h.list('endpoints', endpoints.map((e) => ({ ...e, region: e.region_id, links: h.links(`endpoints/${e.id}`) })), req);
  });
  router.on('POST', base, async (req) => {
    h.adminCaller(req);
    const { endpoint_group: g } = parse(NewEndpointGroup, await req.jsonValue());
    const group: EndpointGroup = { id: randomUUID().replaceAll('-', ''), name: g.name, description: g.description ?? '', filters: g.filters };
    config.endpoint_groups.push(group);
    h.changed('endpoint group created', group);
    return reply(201, { endpoint_group: groupView(group) });
  });
  router.on('PATCH', `${base}/:id`, async (req) => {
    h.adminCaller(req);
    const group = groupById(req.params.id);
    const { endpoint_group: patch } = parse(EndpointGroupPatch, await req.jsonValue());
    Object.assign(group, { ...patch, description: patch.description ?? group.description });
    h.changed('endpoint group updated', group);
    return reply(200, { endpoint_group: groupView(group) });
  });
  router.on('DELETE', `${base}/:id`, async (req) => {
    h.adminCaller(req);
    const group = groupById(req.params.id);
    config.endpoint_groups = config.endpoint_groups.filter((g) => g !== group);
    h.changed('endpoint group deleted', group);
    return reply(204);
  });
}
