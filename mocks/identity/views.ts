// How the identity service shows what it stores, in Keystone's shapes.
import type { Domain, Group, Project, Role, User } from './config.ts';
import type { Helpers } from './context.ts';

export function views(h: Helpers) {
  const projectView = (p: Project) => ({
    id: p.id, name: p.name, domain_id: p.domain_id, description: p.description, enabled: p.enabled, is_domain: false,
    parent_id: p.parent_id ?? p.domain_id, tags: p.tags, links: h.links(`projects/${p.id}`),
  });
  /** A domain seen as a project (Keystone's is_domain projects). */
  const domainProjectView = (d: Domain) => ({
    id: d.id, name: d.name, domain_id: null, description: d.description, enabled: d.enabled, is_domain: true,
    parent_id: null, tags: [], links: h.links(`projects/${d.id}`),
  });
  // Extra attributes first: the ones Keystone manages win over a same-named extra.
  const userView = (u: User) => ({
    ...u.extra, id: u.id, name: u.name, domain_id: u.domain_id, enabled: u.enabled, default_project_id: u.default_project_id,
    password_expires_at: null, links: h.links(`users/${u.id}`),
  });
  const domainView = (d: Domain) => ({ id: d.id, name: d.name, enabled: d.enabled, description: d.description, tags: [], links: h.links(`domains/${d.id}`) });
  const roleView = (r: Role) => ({
    id: r.id, name: r.name, domain_id: r.domain_id ?? null, ...(r.description !== undefined && { description: r.description }), links: h.links(`roles/${r.id}`),
  });
  const groupView = (g: Group) => ({ id: g.id, name: g.name, domain_id: g.domain_id, description: g.description, links: h.links(`groups/${g.id}`) });
  return { projectView, domainProjectView, userView, domainView, roleView, groupView };
}
export type Views = ReturnType<typeof views>;
