// The service catalogue as an admin manages it: /v3/services, /v3/endpoints and /v3/regions. A
// token's catalogue is made from them (catalog.entries()); identity itself is always listed.
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { reply, type Router } from '../../../shared/http-router.ts';
import type { Endpoint, IdentityConfig, Region, Service } from '../config.ts';
import { conflict, forbidden, found, parse, type Helpers, type IdentityContext } from '../context.ts';

const INTERFACES = ['public', 'internal', 'admin'] as const;
const Text = z.string().max(255);
const NewService = z.object({ service: z.object({ type: Text.min(1), name: Text.optional(), description: Text.optional(), enabled: z.boolean().optional() }) });
const ServicePatch = z.object({ service: NewService.shape.service.partial() });
// `region` is the region's id under its old name; Keystone still takes it (and makes the region).
const NewEndpoint = z.object({
  endpoint: z.object({
    service_id: Text.min(1), interface: z.enum(INTERFACES), url: z.string().min(1).max(1024),
    region_id: Text.min(1).nullish(), region: Text.min(1).nullish(), enabled: z.boolean().optional(),
  }),
});
const EndpointPatch = z.object({ endpoint: NewEndpoint.shape.endpoint.partial() });
const NewRegion = z.object({ region: z.object({ id: Text.min(1).optional(), description: Text.optional(), parent_region_id: Text.nullish() }) });
const RegionPatch = z.object({ region: NewRegion.shape.region.omit({ id: true }) });

/** A config from before the catalogue API keeps one URL per service: it becomes a service with an
 *  endpoint per interface, with the ids it was shown under before. */
export function migrateCatalog(config: IdentityConfig): boolean {
  if (config.services && config.endpoints && config.regions) return false;
  config.services ??= config.catalog.map((s) => ({ id: `${s.type}-${s.name}`, type: s.type, name: s.name, description: '', enabled: true }));
  config.endpoints ??= config.catalog.flatMap((s) => INTERFACES.map((iface) => ({
    id: `${s.name}-${iface}`, service_id: `${s.type}-${s.name}`, interface: iface, url: s.url, region_id: 'RegionOne', enabled: true,
  })));
  config.regions ??= [{ id: 'RegionOne', description: '', parent_region_id: null }];
  config.catalog = [];
  return true;
}

export function addCatalogRoutes(router: Router, ctx: IdentityContext, h: Helpers) {
  const { config } = ctx;
  // migrateCatalog ran before the routes were added.
  const services = () => config.services!;
  const endpoints = () => config.endpoints!;
  const regions = () => config.regions!;
  const serviceView = (s: Service) => ({ ...s, links: h.links(`services/${s.id}`) });
  const endpointView = (e: Endpoint) => ({ ...e, region: e.region_id, links: h.links(`endpoints/${e.id}`) });
  const regionView = (r: Region) => ({ ...r, links: h.links(`regions/${r.id}`) });
  const serviceById = (id: string) => found(services().find((s) => s.id === id), 'service', id);
  const endpointById = (id: string) => found(endpoints().find((e) => e.id === id), 'endpoint', id);
  const regionById = (id: string) => found(regions().find((r) => r.id === id), 'region', id);
  /** An endpoint's region: made when it does not exist yet, as Keystone does. */
  const ensureRegion = (id: string | null | undefined) => {
    if (id && !regions().some((r) => r.id === id)) regions().push({ id, description: '', parent_region_id: null });
    return id ?? null;
  };
  const { changed } = h;

  // --- services ---
  router.on('GET', '/v3/services', async (req) => {
    h.adminCaller(req);
    const type = req.query.get('type');
    return h.list('services', services().filter((s) => type === null || s.type === type).map(serviceView), req);
  });
  router.on('GET', '/v3/services/:id', async (req) => (h.adminCaller(req), reply(200, { service: serviceView(serviceById(req.params.id)) })));
  router.on('POST', '/v3/services', async (req) => {
    h.adminCaller(req);
    const { service: s } = parse(NewService, await req.jsonValue());
    const service: Service = { id: randomUUID().replaceAll('-', ''), type: s.type, name: s.name ?? '', description: s.description ?? '', enabled: s.enabled ?? true };
    services().push(service);
    changed('service created', service, { type: service.type });
    return reply(201, { service: serviceView(service) });
  });
  router.on('PATCH', '/v3/services/:id', async (req) => {
    h.adminCaller(req);
    const service = serviceById(req.params.id);
    Object.assign(service, parse(ServicePatch, await req.jsonValue()).service);
    changed('service updated', service);
    return reply(200, { service: serviceView(service) });
  });
  router.on('DELETE', '/v3/services/:id', async (req) => {
    h.adminCaller(req);
    const service = serviceById(req.params.id);
    // Its endpoints go with it, as in Keystone.
    config.services = services().filter((s) => s !== service);
    config.endpoints = endpoints().filter((e) => e.service_id !== service.id);
    changed('service deleted', service);
    return reply(204);
  });

  // --- endpoints ---
  router.on('GET', '/v3/endpoints', async (req) => {
    h.adminCaller(req);
    const [serviceId, iface, region] = ['service_id', 'interface', 'region_id'].map((k) => req.query.get(k));
    return h.list('endpoints', endpoints().filter((e) => (serviceId === null || e.service_id === serviceId)
      && (iface === null || e.interface === iface) && (region === null || e.region_id === region)).map(endpointView), req);
  });
  router.on('GET', '/v3/endpoints/:id', async (req) => (h.adminCaller(req), reply(200, { endpoint: endpointView(endpointById(req.params.id)) })));
  router.on('POST', '/v3/endpoints', async (req) => {
    h.adminCaller(req);
    const { endpoint: e } = parse(NewEndpoint, await req.jsonValue());
    serviceById(e.service_id);
    const endpoint: Endpoint = {
      id: randomUUID().replaceAll('-', ''), service_id: e.service_id, interface: e.interface, url: e.url,
      region_id: ensureRegion(e.region_id ?? e.region), enabled: e.enabled ?? true,
    };
    endpoints().push(endpoint);
    changed('endpoint created', endpoint, { service: endpoint.service_id, interface: endpoint.interface });
    return reply(201, { endpoint: endpointView(endpoint) });
  });
  router.on('PATCH', '/v3/endpoints/:id', async (req) => {
    h.adminCaller(req);
    const endpoint = endpointById(req.params.id);
    const { region, region_id: regionId, ...rest } = parse(EndpointPatch, await req.jsonValue()).endpoint;
    if (rest.service_id) serviceById(rest.service_id);
    Object.assign(endpoint, rest);
    if (region !== undefined || regionId !== undefined) endpoint.region_id = ensureRegion(regionId ?? region);
    changed('endpoint updated', endpoint);
    return reply(200, { endpoint: endpointView(endpoint) });
  });
  router.on('DELETE', '/v3/endpoints/:id', async (req) => {
    h.adminCaller(req);
    const endpoint = endpointById(req.params.id);
    config.endpoints = endpoints().filter((e) => e !== endpoint);
    changed('endpoint deleted', endpoint);
    return reply(204);
  });

  // --- regions (anyone may read them, as in Keystone) ---
  router.on('GET', '/v3/regions', async (req) => {
    h.caller(req);
    const parent = req.query.get('parent_region_id');
    return h.list('regions', regions().filter((r) => parent === null || r.parent_region_id === parent).map(regionView), req);
  });
  router.on('GET', '/v3/regions/:id', async (req) => (h.caller(req), reply(200, { region: regionView(regionById(req.params.id)) })));
  const createRegion = async (req: Parameters<typeof h.caller>[0], id: string | undefined) => {
    h.adminCaller(req);
    const { region: r } = parse(NewRegion, await req.jsonValue());
    const region: Region = { id: id ?? r.id ?? randomUUID().replaceAll('-', ''), description: r.description ?? '', parent_region_id: r.parent_region_id ?? null };
    if (regions().some((x) => x.id === region.id)) throw conflict(`region ${region.id}`);
    if (region.parent_region_id) regionById(region.parent_region_id);
    regions().push(region);
    changed('region created', region);
    return reply(201, { region: regionView(region) });
  };
  router.on('POST', '/v3/regions', async (req) => createRegion(req, undefined));
  router.on('PUT', '/v3/regions/:id', async (req) => createRegion(req, req.params.id));
  router.on('PATCH', '/v3/regions/:id', async (req) => {
    h.adminCaller(req);
    const region = regionById(req.params.id);
    const patch = parse(RegionPatch, await req.jsonValue()).region;
    if (patch.parent_region_id) {
      // A region may not sit under itself, directly or through its children.
      for (let at: string | null = patch.parent_region_id; at; at = regionById(at).parent_region_id) {
        if (at === region.id) throw forbidden(`Region ${region.id} cannot be its own ancestor.`);
      }
    }
    Object.assign(region, patch);
    changed('region updated', region);
    return reply(200, { region: regionView(region) });
  });
  router.on('DELETE', '/v3/regions/:id', async (req) => {
    h.adminCaller(req);
    const region = regionById(req.params.id);
    if (regions().some((r) => r.parent_region_id === region.id)) throw forbidden(`Region ${region.id} has child regions: delete them first.`);
    config.regions = regions().filter((r) => r !== region);
    for (const e of endpoints()) if (e.region_id === region.id) e.region_id = null;
    changed('region deleted', region);
    return reply(204);
  });

  return {
    /** The token catalogue: every enabled service with its enabled endpoints; identity always. */
    entries: () => {
      const listed = services().filter((s) => s.enabled).map((s) => ({
        id: s.id, type: s.type, name: s.name,
        endpoints: endpoints().filter((e) => e.service_id === s.id && e.enabled)
          .map((e) => ({ id: e.id, interface: e.interface, region: e.region_id, region_id: e.region_id, url: e.url })),
      }));
      if (listed.some((s) => s.type === 'identity')) return listed;
      const url = `${ctx.baseUrl()}/v3`;
      return [...listed, {
        id: 'identity-keystone', type: 'identity', name: 'keystone',
        endpoints: INTERFACES.map((iface) => ({ id: `keystone-${iface}`, interface: iface, region: 'RegionOne', region_id: 'RegionOne', url })),
      }];
    },
  };
}
export type ServiceCatalog = ReturnType<typeof addCatalogRoutes>;
