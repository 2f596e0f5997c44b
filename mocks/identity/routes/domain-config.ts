// /v3/domains/{id}/config: a domain's identity and ldap options, kept with the domain. As with
// Keystone's default (domain_configurations_from_database = false) they are stored, not acted on:
// every domain's users stay in identity's own store. Options outside Keystone's whitelist are refused.
import { z } from 'zod';
import { ApiError } from '../../../shared/errors.ts';
import { reply, type Request, type Router } from '../../../shared/http-router.ts';
import type { Domain } from '../config.ts';
import { found, notFound, parse, type Helpers, type IdentityContext } from '../context.ts';

type Value = string | number | boolean | null;
/** The options a domain may set, with Keystone's defaults. */
const DEFAULTS: Record<string, Record<string, Value>> = {
  identity: { driver: 'sql', list_limit: null },
  ldap: {
    url: 'ldap://localhost', user: null, suffix: 'cn=example,cn=com', query_scope: 'one', page_size: 0, alias_dereferencing: 'default',
    debug_level: null, chase_referrals: null, user_tree_dn: null, user_filter: null, user_objectclass: 'inetOrgPerson',
    user_id_attribute: 'cn', user_name_attribute: 'sn', user_description_attribute: 'description', user_mail_attribute: 'mail',
    user_enabled_attribute: 'enabled', user_enabled_invert: false, user_enabled_mask: 0, user_enabled_default: 'True',
    group_tree_dn: null, group_filter: null, group_objectclass: 'groupOfNames', group_id_attribute: 'cn', group_name_attribute: 'ou',
    group_member_attribute: 'member', group_members_are_ids: false, group_desc_attribute: 'description',
    use_tls: false, tls_cacertfile: null, tls_cacertdir: null, tls_req_cert: 'demand', use_pool: true, pool_size: 10,
  },
};
const Group = z.enum(['identity', 'ldap']);
const Option = z.string().min(1).max(64);
const OptionValue = z.union([z.string().max(4096), z.number(), z.boolean(), z.null()]);
const Options = z.record(Option, OptionValue);
const Body = z.object({ config: z.partialRecord(Group, Options) });
const OptionBody = z.object({ config: Options });

/** Keystone answers an option outside the whitelist with 403. */
const invalid = (message: string) => new ApiError('forbidden', message);
const checked = (group: string, options: Record<string, Value>) => {
  const unknown = Object.keys(options).filter((o) => !Object.hasOwn(DEFAULTS[group], o));
  if (unknown.length) throw invalid(`Option ${unknown.join(', ')} of group ${group} cannot be set for a domain.`);
  return options;
};

export function addDomainConfigRoutes(router: Router, ctx: IdentityContext, h: Helpers) {
  const group = (req: Request) => {
    const g = Group.safeParse(req.params.group);
    if (!g.success) throw invalid(`Group ${req.params.group} cannot be configured for a domain: only identity and ldap.`);
    return g.data;
  };
  const option = (req: Request) => {
    const g = group(req);
    if (!Object.hasOwn(DEFAULTS[g], req.params.option)) throw invalid(`Option ${req.params.option} of group ${g} cannot be configured for a domain.`);
    return { g, o: req.params.option };
  };
  /** The domain and its config, which must exist. */
  const configOf = (req: Request) => {
    h.adminCaller(req);
    const domain = h.domainById(req.params.id);
    return { domain, config: found(domain.config, 'domain config', domain.id) };
  };
  const changed = (domain: Domain, what: string) => h.changed(what, domain);

  // --- Keystone's defaults ---
  router.on('GET', '/v3/domains/config/default', async (req) => (h.adminCaller(req), reply(200, { config: DEFAULTS })));
  router.on('GET', '/v3/domains/config/:group/default', async (req) => {
    h.adminCaller(req);
    const g = group(req);
    return reply(200, { config: { [g]: DEFAULTS[g] } });
  });
  router.on('GET', '/v3/domains/config/:group/:option/default', async (req) => {
    h.adminCaller(req);
    const { g, o } = option(req);
    return reply(200, { config: { [o]: DEFAULTS[g][o] } });
  });

  // --- a domain's whole config ---
  router.on('PUT', '/v3/domains/:id/config', async (req) => {
    h.adminCaller(req);
    const domain = h.domainById(req.params.id);
    const { config } = parse(Body, await req.jsonValue());
    const existed = domain.config !== undefined;
    domain.config = Object.fromEntries(Object.entries(config).map(([g, opts]) => [g, checked(g, opts)]));
    changed(domain, existed ? 'domain config replaced' : 'domain config created');
    return reply(existed ? 200 : 201, { config: domain.config });
  });
  router.on('GET', '/v3/domains/:id/config', async (req) => reply(200, { config: configOf(req).config }));
  router.on('PATCH', '/v3/domains/:id/config', async (req) => {
    const { domain, config } = configOf(req);
    for (const [g, opts] of Object.entries(parse(Body, await req.jsonValue()).config)) config[g] = { ...config[g], ...checked(g, opts) };
    changed(domain, 'domain config updated');
    return reply(200, { config });
  });
  router.on('DELETE', '/v3/domains/:id/config', async (req) => {
    const { domain } = configOf(req);
    delete domain.config;
    changed(domain, 'domain config deleted');
    return reply(204);
  });

  // --- one group ---
  const groupOf = (req: Request) => {
    const { domain, config } = configOf(req);
    const g = group(req);
    return { domain, config, g, options: found(config[g], 'domain config group', g) };
  };
  router.on('GET', '/v3/domains/:id/config/:group', async (req) => {
    const { g, options } = groupOf(req);
    return reply(200, { config: { [g]: options } });
  });
  router.on('PATCH', '/v3/domains/:id/config/:group', async (req) => {
    const { domain, config, g, options } = groupOf(req);
    const body = parse(Body, await req.jsonValue()).config;
    if (Object.keys(body).some((k) => k !== g)) throw invalid(`The body may only change group ${g}.`);
    config[g] = { ...options, ...checked(g, body[g] ?? {}) };
    changed(domain, 'domain config group updated');
    return reply(200, { config });
  });
  router.on('DELETE', '/v3/domains/:id/config/:group', async (req) => {
    const { domain, config, g } = groupOf(req);
    delete config[g];
    changed(domain, 'domain config group deleted');
    return reply(204);
  });

  // --- one option ---
  const optionOf = (req: Request) => {
    const found = groupOf(req);
    const { o } = option(req);
    if (!Object.hasOwn(found.options, o)) throw notFound('domain config option', o);
    return { ...found, o };
  };
  router.on('GET', '/v3/domains/:id/config/:group/:option', async (req) => {
    const { options, o } = optionOf(req);
    return reply(200, { config: { [o]: options[o] } });
  });
  router.on('PATCH', '/v3/domains/:id/config/:group/:option', async (req) => {
    const { domain, config, g, options, o } = optionOf(req);
    const body = parse(OptionBody, await req.jsonValue()).config;
    if (Object.keys(body).some((k) => k !== o)) throw invalid(`The body may only change option ${o}.`);
    config[g] = { ...options, [o]: body[o] ?? null };
    changed(domain, 'domain config option updated');
    return reply(200, { config });
  });
  router.on('DELETE', '/v3/domains/:id/config/:group/:option', async (req) => {
    const { domain, options, o } = optionOf(req);
    delete options[o];
    changed(domain, 'domain config option deleted');
    return reply(204);
  });
}
