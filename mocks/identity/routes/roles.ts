// /v3/roles: global and domain-specific roles, and the inference rules between them (a prior role
// implies others). Grants of roles are in grants.ts.
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { reply, Segment, type Request, type Router } from '../../../shared/http-router.ts';
import type { Role } from '../config.ts';
import { withImplied } from '../effective-roles.ts';
import { conflict, forbidden, Name, notFound, parse, type Helpers, type IdentityContext } from '../context.ts';
import type { Views } from '../views.ts';

const NewRole = z.object({ role: z.object({ name: Name, domain_id: z.string().nullish(), description: z.string().max(255).nullish() }) });
const RolePatch = z.object({ role: z.object({ name: Name.optional(), description: z.string().max(255).nullish() }) });

export function addRoleRoutes(router: Router, ctx: IdentityContext, h: Helpers, v: Views) {
  const { config } = ctx;
  const { changed } = h;

  // --- roles ---
  router.on('GET', '/v3/roles', async (req) => {
    h.caller(req);
    const domainId = req.query.get('domain_id');
    const roles = h.named(req, config.roles).filter((r) => (domainId === null ? !r.domain_id : r.domain_id === domainId));
    return h.list('roles', roles.map(v.roleView), req);
  });
  router.on('GET', '/v3/roles/:id', async (req) => (h.caller(req), reply(200, { role: v.roleView(h.roleById(req.params.id)) })));
  router.on('POST', '/v3/roles', async (req) => {
    h.adminCaller(req);
    const { role: r } = parse(NewRole, await req.jsonValue());
    if (r.domain_id) h.domainById(r.domain_id);
    // Assignments name their role, so a role's name is unique here (Keystone: unique per domain).
    if (config.roles.some((x) => x.name === r.name)) throw conflict(`role ${r.name}`);
    const role: Role = { id: randomUUID().replaceAll('-', ''), name: r.name, domain_id: r.domain_id ?? null, ...(r.description != null && { description: r.description }) };
    config.roles.push(role);
    changed('role created', role);
    return reply(201, { role: v.roleView(role) });
  });
  router.on('PATCH', '/v3/roles/:id', async (req) => {
    h.adminCaller(req);
    const role = h.roleById(req.params.id);
    const { role: patch } = parse(RolePatch, await req.jsonValue());
    if (patch.name && patch.name !== role.name) {
      if (config.roles.some((x) => x.name === patch.name)) throw conflict(`role ${patch.name}`);
      if (['admin', 'member'].includes(role.name)) throw forbidden(`The ${role.name} role cannot be renamed: the cluster relies on its name.`);
      for (const a of [...config.users, ...config.groups]) for (const r of a.roles) if (r.role === role.name) r.role = patch.name;
      role.name = patch.name;
    }
    if (patch.description !== undefined) role.description = patch.description ?? undefined;
    changed('role updated', role);
    return reply(200, { role: v.roleView(role) });
  });
  router.on('DELETE', '/v3/roles/:id', async (req) => {
    h.adminCaller(req);
    const role = h.roleById(req.params.id);
    if (['admin', 'member'].includes(role.name)) throw forbidden(`The ${role.name} role cannot be deleted: the cluster relies on it.`);
    config.roles.splice(config.roles.indexOf(role), 1);
    for (const r of config.roles) if (r.implies?.includes(role.id)) r.implies = r.implies.filter((id) => id !== role.id);
    for (const a of [...config.users, ...config.groups]) a.roles = a.roles.filter((r) => r.role !== role.name);
    changed('role deleted', role);
    return reply(204);
  });

  // --- inference rules: a prior role implies others ---
  const ruleRef = (r: Role) => ({ id: r.id, name: r.name, links: h.links(`roles/${r.id}`) });
  const implied = (prior: Role) => (prior.implies ?? []).flatMap((id) => config.roles.filter((r) => r.id === id));
  const rule = (req: Request) => {
    h.adminCaller(req);
    const prior = h.roleById(req.params.id);
    const implies = h.roleById(req.params.implied);
    return { prior, implies, exists: (prior.implies ?? []).includes(implies.id) };
  };
  const params = { implied: Segment };
  router.on('GET', '/v3/role_inferences', async (req) => {
    h.adminCaller(req);
    const rules = config.roles.filter((r) => implied(r).length).map((r) => ({ prior_role: ruleRef(r), implies: implied(r).map(ruleRef) }));
    return reply(200, { role_inferences: rules, links: h.links('role_inferences') });
  });
  router.on('GET', '/v3/roles/:id/implies', async (req) => {
    h.adminCaller(req);
    const prior = h.roleById(req.params.id);
    return reply(200, { role_inference: { prior_role: ruleRef(prior), implies: implied(prior).map(ruleRef) }, links: h.links(`roles/${prior.id}/implies`) });
  });
  // GET shows the rule, HEAD checks it (204), as in Keystone.
  router.on('GET', '/v3/roles/:id/implies/:implied', async (req) => {
    const { prior, implies, exists } = rule(req);
    if (!exists) throw notFound('implied role', `${prior.id} implies ${implies.id}`);
    if (req.raw.method === 'HEAD') return reply(204);
    return reply(200, { role_inference: { prior_role: ruleRef(prior), implies: ruleRef(implies) }, links: h.links(`roles/${prior.id}/implies/${implies.id}`) });
  }, { params });
  router.on('PUT', '/v3/roles/:id/implies/:implied', async (req) => {
    const { prior, implies, exists } = rule(req);
    // Keystone's rules: a global role may not imply a domain-specific one, and no role implies itself, even through others.
    if (!prior.domain_id && implies.domain_id) throw forbidden(`The global role ${prior.name} cannot imply the domain-specific role ${implies.name}.`);
    if (withImplied(config, implies.name).includes(prior.name)) throw forbidden(`Role ${implies.name} already implies ${prior.name}: the rule would make a cycle.`);
    if (!exists) {
      prior.implies = [...(prior.implies ?? []), implies.id];
      changed('implied role added', prior, { implies: implies.name });
    }
    return reply(201, { role_inference: { prior_role: ruleRef(prior), implies: ruleRef(implies) }, links: h.links(`roles/${prior.id}/implies/${implies.id}`) });
  }, { params });
  router.on('DELETE', '/v3/roles/:id/implies/:implied', async (req) => {
    const { prior, implies, exists } = rule(req);
    if (!exists) throw notFound('implied role', `${prior.id} implies ${implies.id}`);
    prior.implies = (prior.implies ?? []).filter((id) => id !== implies.id);
    changed('implied role removed', prior, { implies: implies.name });
    return reply(204);
  }, { params });
}
