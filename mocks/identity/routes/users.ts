// /v3/users: create, read, update (with attributes Keystone keeps without knowing them, like
// email), delete, a user's own password change, and a user's projects and groups.
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { reply, type Request, type Router } from '../../../shared/http-router.ts';
import type { User } from '../config.ts';
import { conflict, forbidden, parse, unauthorized, type Helpers, type IdentityContext } from '../context.ts';
import type { LoginThrottle } from '../login-throttle.ts';
import { hashPassword, verifyPassword } from '../passwords.ts';
import type { Views } from '../views.ts';

const UserName = z.string().min(1).max(255);
const Password = z.string().max(4096);
// Fields Keystone manages itself; anything else a client sends is kept as an extra attribute.
const MANAGED = ['id', 'name', 'password', 'domain_id', 'default_project_id', 'enabled', 'links', 'password_expires_at', 'options', 'federated'];
const ExtraValue = z.union([z.string().max(65535), z.number(), z.boolean(), z.null()]);
const userFields = {
  name: UserName, password: Password.nullish(), domain_id: z.string().nullish(), default_project_id: z.string().nullish(), enabled: z.boolean().optional(),
};
const NewUser = z.object({ user: z.object(userFields).catchall(ExtraValue) });
const UserPatch = z.object({ user: z.object({ ...userFields, name: UserName.optional() }).omit({ domain_id: true }).catchall(ExtraValue) });
const PasswordChange = z.object({ user: z.object({ password: Password.min(1), original_password: Password }) });

const extras = (body: Record<string, unknown>) => Object.fromEntries(Object.entries(body).filter(([k]) => !MANAGED.includes(k)));

export function addUserRoutes(router: Router, ctx: IdentityContext, h: Helpers, v: Views, throttle: LoginThrottle) {
  const { config } = ctx;
  const { changed } = h;
  const selfOrAdmin = (req: Request) => {
    const c = h.caller(req);
    const u = h.userById(req.params.id);
    if (!c.isAdmin && u.id !== c.user.id) throw forbidden('You can only see your own user without the admin role.');
    return u;
  };
  const nameTaken = (name: string, domainId: string, except?: User) => config.users.some((x) => x !== except && x.name === name && x.domain_id === domainId);

  router.on('GET', '/v3/users', async (req) => {
    h.adminCaller(req);
    const domainId = req.query.get('domain_id');
    const users = h.enabledFilter(req, h.named(req, config.users)).filter((u) => domainId === null || u.domain_id === domainId);
    return h.list('users', users.map(v.userView), req);
  });
  router.on('GET', '/v3/users/:id', async (req) => reply(200, { user: v.userView(selfOrAdmin(req)) }));
  router.on('GET', '/v3/users/:id/projects', async (req) => h.list('projects', h.projectsOf(selfOrAdmin(req)).map(v.projectView), req));
  router.on('GET', '/v3/users/:id/groups', async (req) => {
    const groups = h.groupsOf(selfOrAdmin(req)).map((g) => ({ ...v.groupView(g), membership_expires_at: null }));
    return h.list('groups', groups, req);
  });
  router.on('POST', '/v3/users', async (req) => {
    h.adminCaller(req);
    const { user: u } = parse(NewUser, await req.jsonValue());
    const domainId = h.existingDomain(u.domain_id);
    if (nameTaken(u.name, domainId)) throw conflict(`user ${u.name}`);
    if (u.default_project_id) h.projectById(u.default_project_id);
    const user: User = {
      id: randomUUID(), name: u.name, domain_id: domainId, default_project_id: u.default_project_id ?? undefined,
      enabled: u.enabled ?? true, extra: extras(u), roles: [],
      // No password: nobody can log in as the user until one is set (Keystone's rule too).
      password_hash: await hashPassword(u.password ?? randomUUID()),
    };
    config.users.push(user);
    changed('user created', user);
    return reply(201, { user: v.userView(user) });
  });
  router.on('PATCH', '/v3/users/:id', async (req) => {
    h.adminCaller(req);
    const user = h.userById(req.params.id);
    const { user: patch } = parse(UserPatch, await req.jsonValue());
    if (patch.name && nameTaken(patch.name, user.domain_id, user)) throw conflict(`user ${patch.name}`);
    if (patch.default_project_id) h.projectById(patch.default_project_id);
    const hash = patch.password ? await hashPassword(patch.password) : undefined;
    user.name = patch.name ?? user.name;
    user.enabled = patch.enabled ?? user.enabled;
    if (patch.default_project_id !== undefined) user.default_project_id = patch.default_project_id ?? undefined;
    if (hash) user.password_hash = hash;
    // An extra set to null is removed, as Keystone does.
    user.extra = Object.fromEntries(Object.entries({ ...user.extra, ...extras(patch) }).filter(([, x]) => x !== null));
    changed('user updated', user);
    return reply(200, { user: v.userView(user) });
  });
  router.on('DELETE', '/v3/users/:id', async (req) => {
    h.adminCaller(req);
    const user = h.userById(req.params.id);
    config.users.splice(config.users.indexOf(user), 1);
    for (const g of config.groups) g.users = g.users.filter((id) => id !== user.id);
    config.credentials = config.credentials.filter((c) => c.user_id !== user.id);
    config.application_credentials = config.application_credentials.filter((a) => a.user_id !== user.id);
    config.trusts = config.trusts.filter((t) => t.trustor_user_id !== user.id && t.trustee_user_id !== user.id);
    config.access_rules = config.access_rules.filter((r) => r.user_id !== user.id);
    changed('user deleted', user);
    return reply(204);
  });
  // As in Keystone, the original password is the authentication: no token needed, and wrong guesses are throttled like logins.
  router.on('POST', '/v3/users/:id/password', async (req) => {
    const { user: body } = parse(PasswordChange, await req.jsonValue());
    const now = Date.now();
    const source = req.raw.socket.remoteAddress ?? '?';
    const wait = throttle.wait(req.params.id, source, now);
    if (wait > 0) throw unauthorized(`Too many failed password checks for this user: retry in ${Math.ceil(wait / 1000)} s.`);
    const user = config.users.find((u) => u.id === req.params.id);
    if (!user || !user.enabled || !(await verifyPassword(body.original_password, user.password_hash ?? ''))) {
      throttle.failed(req.params.id, source, now);
      throw unauthorized('The original password is wrong.');
    }
    throttle.succeeded(req.params.id);
    user.password_hash = await hashPassword(body.password);
    changed('password changed', user);
    return reply(204);
  });
}
