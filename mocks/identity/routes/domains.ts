// /v3/domains. As in Keystone, a domain must be disabled before it is deleted, and deleting it
// deletes what is in it (projects, users, groups) and the roles given on it; a disabled domain's
// users cannot log in.
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { reply, type Router } from '../../../shared/http-router.ts';
import type { Domain } from '../config.ts';
import { conflict, forbidden, Name, parse, type Helpers, type IdentityContext } from '../context.ts';
import type { Views } from '../views.ts';

const Description = z.string().max(65535);
const NewDomain = z.object({
  domain: z.object({ name: Name, description: Description.nullish(), enabled: z.boolean().optional(), explicit_domain_id: z.string().max(64).optional() }),
});
const DomainPatch = z.object({ domain: z.object({ name: Name.optional(), description: Description.nullish(), enabled: z.boolean().optional() }) });

export function domainStore(ctx: IdentityContext, h: Helpers) {
  const { config } = ctx;
  const { changed } = h;
  const nameTaken = (name: string, except?: Domain) => config.domains.some((d) => d !== except && d.name.toLowerCase() === name.toLowerCase());
  return {
    create(d: { id?: string; name: string; description: string; enabled: boolean }): Domain {
      // Domain names are unique regardless of case in Keystone.
      if (nameTaken(d.name) || (d.id && config.domains.some((x) => x.id === d.id))) throw conflict(`domain ${d.name}`);
      const domain: Domain = { ...d, id: d.id ?? randomUUID().replaceAll('-', '') };
      config.domains.push(domain);
      changed('domain created', domain);
      return domain;
    },
    update(domain: Domain, patch: { name?: string; description?: string | null; enabled?: boolean }): Domain {
      if (patch.name && nameTaken(patch.name, domain)) throw conflict(`domain ${patch.name}`);
      if (domain.id === 'default' && patch.enabled === false) throw forbidden('The default domain cannot be disabled.');
      Object.assign(domain, { ...patch, description: patch.description ?? domain.description });
      changed('domain updated', domain);
      return domain;
    },
    remove(domain: Domain): void {
      if (domain.enabled) throw forbidden(`Domain ${domain.name} is enabled: disable it (PATCH enabled=false) before deleting it.`);
      const projects = new Set(config.projects.filter((p) => p.domain_id === domain.id).map((p) => p.id));
      config.projects = config.projects.filter((p) => !projects.has(p.id));
      config.users = config.users.filter((u) => u.domain_id !== domain.id);
      config.groups = config.groups.filter((g) => g.domain_id !== domain.id);
      config.roles = config.roles.filter((r) => r.domain_id !== domain.id);
      const roles = new Set(config.roles.map((r) => r.name));
      const roleIds = new Set(config.roles.map((r) => r.id));
      for (const r of config.roles) if (r.implies) r.implies = r.implies.filter((id) => roleIds.has(id));
      for (const a of [...config.users, ...config.groups]) {
        a.roles = a.roles.filter((r) => r.domain_id !== domain.id && !(r.project_id && projects.has(r.project_id)) && roles.has(r.role));
      }
      for (const g of config.groups) g.users = g.users.filter((id) => config.users.some((u) => u.id === id));
      config.application_credentials = config.application_credentials.filter((a) => !projects.has(a.project_id) && config.users.some((u) => u.id === a.user_id));
      config.domains = config.domains.filter((d) => d !== domain);
      changed('domain deleted', domain);
    },
  };
}
export type DomainStore = ReturnType<typeof domainStore>;

export function addDomainRoutes(router: Router, ctx: IdentityContext, h: Helpers, v: Views, domains: DomainStore) {
  const { config } = ctx;
  router.on('GET', '/v3/domains', async (req) => (h.caller(req), h.list('domains', h.enabledFilter(req, h.named(req, config.domains)).map(v.domainView), req)));
  router.on('GET', '/v3/domains/:id', async (req) => (h.caller(req), reply(200, { domain: v.domainView(h.domainById(req.params.id)) })));
  router.on('POST', '/v3/domains', async (req) => {
    h.adminCaller(req);
    const { domain: d } = parse(NewDomain, await req.jsonValue());
    const domain = domains.create({ id: d.explicit_domain_id, name: d.name, description: d.description ?? '', enabled: d.enabled ?? true });
    return reply(201, { domain: v.domainView(domain) });
  });
  router.on('PATCH', '/v3/domains/:id', async (req) => {
    h.adminCaller(req);
    const domain = h.domainById(req.params.id);
    return reply(200, { domain: v.domainView(domains.update(domain, parse(DomainPatch, await req.jsonValue()).domain)) });
  });
  router.on('DELETE', '/v3/domains/:id', async (req) => {
    h.adminCaller(req);
    domains.remove(h.domainById(req.params.id));
    return reply(204);
  });
}
