// Grants: a role given to a user or a group on a project, a domain or the system (PUT to give,
// GET/HEAD to check, DELETE to take away), inherited grants (OS-INHERIT: for the projects below a
// domain or a project), and /v3/role_assignments over all of them, as given or as held
// (?effective). Taking a role away ends the tokens that carried it (context.ts: live).
import { reply, type Request, type Router } from '../../../shared/http-router.ts';
import type { Assignment, Group, User } from '../config.ts';
import { flag, forbidden, notFound, type Helpers, type IdentityContext } from '../context.ts';
import { effectiveAssignments, type EffectiveAssignment } from '../effective-roles.ts';
import type { Views } from '../views.ts';

type Target = 'projects' | 'domains' | 'system';
type Actor = 'users' | 'groups';

export function addGrantRoutes(router: Router, ctx: IdentityContext, h: Helpers, v: Views) {
  const { config } = ctx;
  /** Who holds the grant, and the grant the path names (without its role). */
  const grantOf = (req: Request, target: Target, actor: Actor, inherited: boolean) => {
    h.adminCaller(req);
    const holder: User | Group = actor === 'users' ? h.userById(req.params.actor) : h.groupById(req.params.actor);
    const where: Omit<Assignment, 'role'> = target === 'projects' ? { project_id: h.projectById(req.params.target).id }
      : target === 'domains' ? { domain_id: h.domainById(req.params.target).id } : { system: 'all' };
    const same = (a: Assignment) => a.project_id === where.project_id && a.domain_id === where.domain_id && a.system === where.system && !!a.inherited === inherited;
    return { holder, where: inherited ? { ...where, inherited } : where, same };
  };
  const addGrants = (target: Target, actor: Actor, inherited: boolean) => {
    const prefix = inherited ? '/v3/OS-INHERIT' : '/v3';
    const on = target === 'system' ? `${prefix}/system` : `${prefix}/${target}/:target`;
    const suffix = inherited ? '/inherited_to_projects' : '';
    router.on('GET', `${on}/${actor}/:actor/roles${suffix}`, async (req) => {
      const { holder, same } = grantOf(req, target, actor, inherited);
      const names = holder.roles.filter(same).map((r) => r.role);
      return h.list('roles', config.roles.filter((r) => names.includes(r.name)).map(v.roleView), req);
    });
    router.on('GET', `${on}/${actor}/:actor/roles/:role${suffix}`, async (req) => {
      const { holder, same } = grantOf(req, target, actor, inherited);
      const role = h.roleById(req.params.role);
      if (!holder.roles.some((r) => same(r) && r.role === role.name)) throw notFound('role grant', role.id);
      return reply(204);
    });
    router.on('PUT', `${on}/${actor}/:actor/roles/:role${suffix}`, async (req) => {
      const { holder, where, same } = grantOf(req, target, actor, inherited);
      const role = h.roleById(req.params.role);
      const domainOfTarget = where.project_id ? h.projectById(where.project_id).domain_id : where.domain_id;
      if (role.domain_id && role.domain_id !== domainOfTarget) throw forbidden(`Role ${role.name} belongs to domain ${role.domain_id}: it can only be given there.`);
      if (!holder.roles.some((r) => same(r) && r.role === role.name)) {
        holder.roles.push({ ...where, role: role.name });
        h.changed('role assigned', role, { [actor]: holder.name, ...where });
      }
      return reply(204);
    });
    router.on('DELETE', `${on}/${actor}/:actor/roles/:role${suffix}`, async (req) => {
      const { holder, where, same } = grantOf(req, target, actor, inherited);
      const role = h.roleById(req.params.role);
      if (!holder.roles.some((r) => same(r) && r.role === role.name)) throw notFound('role grant', role.id);
      holder.roles = holder.roles.filter((r) => !(same(r) && r.role === role.name));
      h.changed('role unassigned', role, { [actor]: holder.name, ...where });
      return reply(204);
    });
  };
  for (const actor of ['users', 'groups'] as const) {
    for (const target of ['projects', 'domains', 'system'] as const) addGrants(target, actor, false);
    for (const target of ['projects', 'domains'] as const) addGrants(target, actor, true);
  }

  router.on('GET', '/v3/role_assignments', async (req) => {
    const c = h.caller(req);
    const q = (k: string) => req.query.get(k);
    const userId = q('user.id');
    if (!c.isAdmin && userId !== c.user.id) throw forbidden('You can only list your own role assignments: add ?user.id=<your user id>.');
    const withNames = flag(q('include_names'));
    const ref = (x: { id: string; name: string; domain_id?: string | null }) =>
      withNames ? { id: x.id, name: x.name, ...(x.domain_id && { domain: h.domainOf(x.domain_id) }) } : { id: x.id };
    const view = (actor: { user: User } | { group: Group }, a: Assignment | EffectiveAssignment) => {
      const role = config.roles.find((x) => x.name === a.role);
      const project = a.project_id ? config.projects.find((p) => p.id === a.project_id) : undefined;
      const domain = a.domain_id ? config.domains.find((d) => d.id === a.domain_id) : undefined;
      if (!role || (!project && !domain && !a.system)) return [];
      const inherited = 'inherited' in a && a.inherited ? { 'OS-INHERIT:inherited_to': 'projects' } : {};
      const scope = project ? { project: ref(project), ...inherited } : domain ? { domain: ref(domain), ...inherited } : { system: { all: true } };
      const target = project ? `projects/${project.id}` : domain ? `domains/${domain.id}` : 'system';
      const who = 'user' in actor ? { user: ref(actor.user) } : { group: ref(actor.group) };
      const path = 'user' in actor ? `users/${actor.user.id}` : `groups/${actor.group.id}`;
      const ext = 'inherited' in a && a.inherited ? ['/v3/OS-INHERIT', '/inherited_to_projects'] : ['/v3', ''];
      return [{ ...who, scope, role: ref(role), links: { assignment: `${ctx.baseUrl()}${ext[0]}/${target}/${path}/roles/${role.id}${ext[1]}` } }];
    };
    // ?effective: what each user holds (groups, inheritance and implied roles resolved); else the grants as given.
    const effective = flag(q('effective'));
    const all = [
      ...config.users.flatMap((user) => (effective ? effectiveAssignments(config, user) : user.roles).flatMap((a) => view({ user }, a))),
      ...(effective ? [] : config.groups.flatMap((group) => group.roles.flatMap((a) => view({ group }, a)))),
    ];
    const matches = (want: string | null, got: { id: string } | undefined) => want === null || got?.id === want;
    const assignments = all.filter((a) => {
      const scope = a.scope as { project?: { id: string }; domain?: { id: string } };
      return matches(userId, 'user' in a ? a.user : undefined) && matches(q('group.id'), 'group' in a ? a.group : undefined)
        && matches(q('scope.project.id'), scope.project) && matches(q('scope.domain.id'), scope.domain) && matches(q('role.id'), a.role);
    });
    return h.list('role_assignments', assignments, req);
  });
}
