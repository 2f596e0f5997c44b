// The identity service: a Keystone v3-compatible mock (password and token auth, scoped and
// unscoped tokens, validation, revocation, projects, users, roles, catalogue), so standard
// OpenStack clients and the cluster's daemons authenticate against it.
import type http from 'node:http';
import { once } from 'node:events';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';
import { ApiError, badRequest } from '../../shared/errors.ts';
import type { Logger } from '../../shared/log.ts';
import { createApiServer, reply, Router, Segment, type Request } from '../../shared/http-router.ts';
import { saveIdentityConfig, withHashedPasswords, type IdentityConfig, type Project, type User } from './config.ts';
import { hashPassword, verifyPassword } from './passwords.ts';
import { LoginThrottle, type ThrottleOptions } from './login-throttle.ts';
import { TokenSigner, type TokenPayload } from './tokens.ts';
import { advertisedHost } from '../../shared/listen-address.ts';
import { Uuid } from '../../shared/safe-path.ts';

export interface IdentityServerOptions {
  config: IdentityConfig;
  /** Where admin changes (projects, users, role assignments) are written back. */
  configPath?: string;
  tls?: { cert: Buffer; key: Buffer };
  /** A directory for the revocation list, so revocations survive a restart. */
  statePath?: string;
  logger: Logger;
  /** Failed-login throttling (login-throttle.ts); tests tighten it. */
  throttle?: ThrottleOptions;
}

// Keystone's error body carries the status and its title; ApiError's code only picks the status.
const TITLES: Record<number, string> = {
  400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed',
  409: 'Conflict', 413: 'Request Entity Too Large', 414: 'URI Too Long', 429: 'Too Many Requests', 500: 'Internal Server Error',
};
const unauthorized = (message: string) => new ApiError('invalid_token', message);
const forbidden = (message: string) => new ApiError('forbidden', message);
const notFound = (what: string, id: string) => new ApiError('not_found', `Could not find ${what}: ${id}.`);
/** The item, or Keystone's 404 for it. */
const found = <T>(item: T | undefined, what: string, id: string): T => {
  if (item === undefined) throw notFound(what, id);
  return item;
};
const conflict = (what: string) => new ApiError('conflict', `Conflict occurred attempting to store ${what} - Duplicate entry.`);

// Request bodies, checked at the boundary. Fields clients send that we do not use are dropped.
const Ref = z.object({ id: z.string().optional(), name: z.string().optional() });
const hasIdOrName = (r: z.infer<typeof Ref>) => !!(r.id || r.name);
const AuthRequest = z.object({
  auth: z.object({
    identity: z.object({
      methods: z.array(z.string()).min(1),
      password: z.object({
        user: Ref.extend({ password: z.string(), domain: Ref.optional() }).refine(hasIdOrName, 'a user id or name is required'),
      }).optional(),
      token: z.object({ id: z.string() }).optional(),
    }),
    scope: z.union([
      z.literal('unscoped'),
      z.object({ project: Ref.extend({ domain: Ref.optional() }).refine(hasIdOrName, 'a project id or name is required').optional() }),
    ]).optional(),
  }),
});
type AuthRequest = z.infer<typeof AuthRequest>['auth'];
const NewProject = z.object({
  project: z.object({ name: z.string().min(1).max(64), id: Uuid.nullish(), domain_id: z.string().nullish(), description: z.string().nullish() }),
});
const NewUser = z.object({
  user: z.object({ name: z.string().min(1), password: z.string(), domain_id: z.string().nullish(), default_project_id: z.string().nullish() }),
});

function parse<S extends z.ZodType>(schema: S, value: unknown): z.output<S> {
  const r = schema.safeParse(value);
  if (!r.success) throw badRequest(`Invalid input: ${r.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ')}`);
  return r.data;
}

/** Keystone's reading of a boolean query flag: present and not 0/false. */
const flag = (v: string | null) => v !== null && !['0', 'false'].includes(v.toLowerCase());

/** A token that verifies and whose user, project and roles still exist. */
interface LiveToken {
  payload: TokenPayload;
  user: User;
  project?: Project;
}

export function createIdentityServer(opts: IdentityServerOptions) {
  const { config, logger } = opts;
  const signer = new TokenSigner(config.signing_key, opts.statePath && join(opts.statePath, 'identity-revoked.json'));
  let baseUrl = '';
  const save = () => opts.configPath && saveIdentityConfig(opts.configPath, config);

  // --- lookups and views ---
  const domainOf = (id: string) => config.domains.find((d) => d.id === id) ?? { id, name: id };
  /** The domain a user or project reference names; the default one when it names none. */
  const findDomain = (ref?: { id?: string; name?: string }) =>
    config.domains.find((d) => (ref?.id ? d.id === ref.id : ref?.name ? d.name === ref.name : d.id === 'default'));
  const existingDomain = (id: string | null | undefined) => found(config.domains.find((d) => d.id === (id ?? 'default')), 'domain', id ?? 'default').id;
  const roleNames = (user: User, projectId: string) => user.roles.filter((r) => r.project_id === projectId).map((r) => r.role);
  const projectsOf = (user: User) => config.projects.filter((p) => user.roles.some((r) => r.project_id === p.id));
  /** The ?name= filter openstackclient uses to find a resource by name after GET by id fails. */
  const named = <T extends { name: string }>(req: Request, items: T[]) => {
    const name = req.query.get('name');
    return name === null ? items : items.filter((i) => i.name === name);
  };
  const list = (key: string, items: unknown[], req: Request) => reply(200, { [key]: items, links: { self: `${baseUrl}${req.path}`, next: null, previous: null } });
  const links = (path: string) => ({ self: `${baseUrl}/v3/${path}` });
  const projectView = (p: Project) => ({
    id: p.id, name: p.name, domain_id: p.domain_id, description: p.description, enabled: true, is_domain: false,
    parent_id: p.domain_id, tags: [], links: links(`projects/${p.id}`),
  });
  const userView = (u: User) => ({
    id: u.id, name: u.name, domain_id: u.domain_id, enabled: true, default_project_id: u.default_project_id,
    password_expires_at: null, links: links(`users/${u.id}`),
  });
  const domainView = (d: { id: string; name: string }) => ({ id: d.id, name: d.name, enabled: true, description: '', links: links(`domains/${d.id}`) });

  /** Every service serves all three interfaces at one URL; identity itself is always listed. */
  const catalog = () => {
    const services = [...config.catalog];
    if (!services.some((s) => s.type === 'identity')) services.push({ type: 'identity', name: 'keystone', url: `${baseUrl}/v3` });
    return services.map((s) => ({
      id: `${s.type}-${s.name}`, type: s.type, name: s.name,
      endpoints: (['public', 'internal', 'admin'] as const).map((iface) => ({ id: `${s.name}-${iface}`, interface: iface, region: 'RegionOne', region_id: 'RegionOne', url: s.url })),
    }));
  };

  // --- tokens ---
  /** Like Keystone, deleting a user or project, or taking away a role, ends the tokens that relied on it. */
  const live = (token: string): LiveToken | null => {
    const payload = signer.verify(token);
    const user = payload && config.users.find((u) => u.id === payload.user_id);
    if (!payload || !user) return null;
    if (payload.project_id === null) return { payload, user };
    const project = config.projects.find((p) => p.id === payload.project_id);
    const held = project ? roleNames(user, project.id) : [];
    return project && payload.roles.every((r) => held.includes(r)) ? { payload, user, project } : null;
  };
  const tokenBody = ({ payload: p, user, project }: LiveToken, withCatalog: boolean) => ({
    token: {
      methods: p.methods, audit_ids: [p.id], issued_at: p.issued_at, expires_at: p.expires_at,
      user: { id: user.id, name: user.name, domain: domainOf(user.domain_id), password_expires_at: null },
      // An unscoped token has no project, roles or catalogue.
      ...(project && {
        project: { id: project.id, name: project.name, domain: domainOf(project.domain_id) },
        is_domain: false,
        roles: config.roles.filter((r) => p.roles.includes(r.name)).map((r) => ({ id: r.id, name: r.name })),
        ...(withCatalog && { catalog: catalog() }),
      }),
    },
  });

  /** The caller's token (X-Auth-Token), which must be live. */
  const caller = (req: Request) => {
    const token = req.header('x-auth-token');
    if (!token) throw unauthorized('The request you have made requires authentication: send a token in X-Auth-Token.');
    const t = live(token);
    if (!t) throw unauthorized('The token in X-Auth-Token is invalid, expired or revoked: get a new one.');
    return { ...t, isAdmin: t.payload.roles.includes('admin') };
  };
  const adminCaller = (req: Request) => {
    const c = caller(req);
    if (!c.isAdmin) throw forbidden('You are not authorized to perform the requested action: it needs a token with the admin role.');
    return c;
  };
  /** The token in X-Subject-Token, for its owner or an admin (Keystone's token_subject rule). */
  const subject = (req: Request) => {
    const c = caller(req);
    const token = req.header('x-subject-token');
    if (!token) throw badRequest('X-Subject-Token is required: the token to check or revoke.');
    const t = live(token);
    if (!t) throw new ApiError('not_found', 'The token in X-Subject-Token is invalid, expired or revoked.');
    if (!c.isAdmin && t.user.id !== c.user.id) throw forbidden("Only an admin may check or revoke another user's token.");
    return { token, t };
  };

  const throttle = new LoginThrottle(opts.throttle);
  /** Compared against when the user does not exist, so a missing user costs what a wrong password does. */
  const noSuchUser = hashPassword(randomUUID());
  const authenticate = async (identity: AuthRequest['identity'], now: number, source: string) => {
    const unsupported = identity.methods.filter((m) => m !== 'password' && m !== 'token');
    if (unsupported.length) throw unauthorized(`Unsupported authentication method ${unsupported.join(', ')}: use password or token.`);
    if (identity.methods.includes('password')) {
      const u = identity.password?.user;
      if (!u) throw badRequest('auth.identity.password.user is required for the password method.');
      const domain = findDomain(u.domain);
      const who = u.id ?? `${u.name}@${domain?.id ?? '?'}`;
      const wait = throttle.wait(who, source, now);
      if (wait > 0) throw new ApiError('too_many_requests', `Too many failed logins for ${u.name ?? u.id} or from ${source}: retry in ${Math.ceil(wait / 1000)} s.`, Math.ceil(wait / 1000));
      const user = config.users.find((x) => (u.id ? x.id === u.id : x.name === u.name && x.domain_id === domain?.id));
      const ok = await verifyPassword(u.password, user?.password_hash ?? await noSuchUser);
      if (!user || !ok) {
        throttle.failed(who, source, now);
        throw unauthorized('The user name or password is wrong.');
      }
      throttle.succeeded(who);
      return { user, methods: ['password'], ttlSeconds: config.token_ttl_seconds };
    }
    if (!identity.token) throw badRequest('auth.identity.token.id is required for the token method.');
    const original = live(identity.token.id);
    if (!original) throw unauthorized('The token given for re-scoping is invalid, expired or revoked.');
    // A re-scoped token never outlives the token it came from, as in Keystone.
    const left = (Date.parse(original.payload.expires_at) - now) / 1000;
    return { user: original.user, methods: ['token'], ttlSeconds: Math.min(config.token_ttl_seconds, left) };
  };

  const scopeProject = (scope: AuthRequest['scope'], user: User): Project | undefined => {
    if (!scope || scope === 'unscoped') return undefined;
    const ref = scope.project;
    if (!ref) throw unauthorized('Only project scope is supported by this identity service: give auth.scope.project.');
    const domain = findDomain(ref.domain);
    const project = config.projects.find((p) => (ref.id ? p.id === ref.id : p.name === ref.name && p.domain_id === domain?.id));
    if (!project) throw unauthorized(`The project ${ref.id ?? ref.name} does not exist.`);
    if (!roleNames(user, project.id).length) throw unauthorized(`User ${user.name} has no role on project ${project.name}.`);
    return project;
  };

  const router = new Router({
    renderError: (err) => reply(err.status, { error: { code: err.status, title: TITLES[err.status] ?? 'Error', message: err.message } }),
    // Keystone's ids are its own (domain "default", UUIDs for what it makes): any plain segment.
    params: { id: Segment, project: Segment, user: Segment, role: Segment },
    service: 'identity service',
  });

  // --- version discovery ---
  const v3 = () => ({
    id: 'v3.14', status: 'stable', updated: '2020-04-07T00:00:00Z', links: [{ rel: 'self', href: `${baseUrl}/v3/` }],
    'media-types': [{ base: 'application/json', type: 'application/vnd.openstack.identity-v3+json' }],
  });
  router.on('GET', '/', async () => reply(300, { versions: { values: [v3()] } }));
  router.on('GET', '/v3', async () => reply(200, { version: v3() }));

  // --- auth ---
  router.on('POST', '/v3/auth/tokens', async (req) => {
    const { auth } = parse(AuthRequest, await req.jsonValue());
    const now = Date.now();
    const { user, methods, ttlSeconds } = await authenticate(auth.identity, now, req.raw.socket.remoteAddress ?? '?');
    const project = scopeProject(auth.scope, user);
    const roles = project ? roleNames(user, project.id) : [];
    const { token, payload } = signer.issue({ user_id: user.id, project_id: project?.id ?? null, roles, methods }, ttlSeconds, now);
    logger.info('token issued', { user: user.name, project: project?.name ?? null, methods });
    return reply(201, tokenBody({ payload, user, project }, !req.query.has('nocatalog')), { 'x-subject-token': token });
  });
  router.on('GET', '/v3/auth/tokens', async (req) => {
    const { token, t } = subject(req);
    return reply(200, tokenBody(t, !req.query.has('nocatalog')), { 'x-subject-token': token });
  });
  router.on('DELETE', '/v3/auth/tokens', async (req) => {
    const { t } = subject(req);
    signer.revoke(t.payload);
    logger.info('token revoked', { user: t.user.name, audit_id: t.payload.id });
    return reply(204);
  });
  router.on('GET', '/v3/auth/projects', async (req) => list('projects', projectsOf(caller(req).user).map(projectView), req));
  // Only project roles exist here, so no domain is ever a token target.
  router.on('GET', '/v3/auth/domains', async (req) => (caller(req), list('domains', [], req)));
  router.on('GET', '/v3/auth/catalog', async (req) => {
    if (!caller(req).project) throw forbidden('An unscoped token has no catalogue: get a token scoped to a project.');
    return reply(200, { catalog: catalog(), links: { self: `${baseUrl}${req.path}` } });
  });

  // --- projects ---
  const projectById = (id: string) => found(config.projects.find((x) => x.id === id), 'project', id);
  router.on('GET', '/v3/projects', async (req) => {
    const c = caller(req);
    return list('projects', named(req, c.isAdmin ? config.projects : projectsOf(c.user)).map(projectView), req);
  });
  router.on('GET', '/v3/projects/:id', async (req) => {
    const c = caller(req);
    const p = projectById(req.params.id);
    // Someone else's project is "not found", not "forbidden": its existence is not the caller's business.
    if (!c.isAdmin && !projectsOf(c.user).includes(p)) throw notFound('project', req.params.id);
    return reply(200, { project: projectView(p) });
  });
  router.on('POST', '/v3/projects', async (req) => {
    adminCaller(req);
    const { project: p } = parse(NewProject, await req.jsonValue());
    const domainId = existingDomain(p.domain_id);
    if (config.projects.some((x) => x.id === p.id || (x.name === p.name && x.domain_id === domainId))) throw conflict(`project ${p.name}`);
    const project: Project = { id: p.id ?? randomUUID(), name: p.name, domain_id: domainId, description: p.description ?? '' };
    config.projects.push(project);
    save();
    logger.info('project created', { id: project.id, name: project.name });
    return reply(201, { project: projectView(project) });
  });
  router.on('DELETE', '/v3/projects/:id', async (req) => {
    adminCaller(req);
    const project = projectById(req.params.id);
    config.projects.splice(config.projects.indexOf(project), 1);
    for (const u of config.users) u.roles = u.roles.filter((r) => r.project_id !== project.id);
    save();
    logger.info('project deleted', { id: project.id, name: project.name });
    return reply(204);
  });

  // --- users and roles ---
  const userById = (id: string) => found(config.users.find((x) => x.id === id), 'user', id);
  const selfOrAdmin = (req: Request) => {
    const c = caller(req);
    const u = userById(req.params.id);
    if (!c.isAdmin && u.id !== c.user.id) throw forbidden('You can only see your own user without the admin role.');
    return u;
  };
  router.on('GET', '/v3/users', async (req) => (adminCaller(req), list('users', named(req, config.users).map(userView), req)));
  router.on('GET', '/v3/users/:id', async (req) => reply(200, { user: userView(selfOrAdmin(req)) }));
  router.on('GET', '/v3/users/:id/projects', async (req) => list('projects', projectsOf(selfOrAdmin(req)).map(projectView), req));
  router.on('POST', '/v3/users', async (req) => {
    adminCaller(req);
    const { user: u } = parse(NewUser, await req.jsonValue());
    const domainId = existingDomain(u.domain_id);
    if (config.users.some((x) => x.name === u.name && x.domain_id === domainId)) throw conflict(`user ${u.name}`);
    if (u.default_project_id) projectById(u.default_project_id);
    const user: User = { id: randomUUID(), name: u.name, password_hash: await hashPassword(u.password), domain_id: domainId, default_project_id: u.default_project_id ?? undefined, roles: [] };
    config.users.push(user);
    save();
    logger.info('user created', { id: user.id, name: user.name });
    return reply(201, { user: userView(user) });
  });
  router.on('PUT', '/v3/projects/:project/users/:user/roles/:role', async (req) => {
    adminCaller(req);
    const project = projectById(req.params.project);
    const user = userById(req.params.user);
    const role = found(config.roles.find((r) => r.id === req.params.role || r.name === req.params.role), 'role', req.params.role);
    if (!roleNames(user, project.id).includes(role.name)) {
      user.roles.push({ project_id: project.id, role: role.name });
      save();
      logger.info('role assigned', { user: user.name, project: project.name, role: role.name });
    }
    return reply(204);
  });
  router.on('GET', '/v3/roles', async (req) => (caller(req), list('roles', named(req, config.roles).map((r) => ({ ...r, domain_id: null, links: links(`roles/${r.id}`) })), req)));
  router.on('GET', '/v3/role_assignments', async (req) => {
    const c = caller(req);
    const userId = req.query.get('user.id');
    const projectId = req.query.get('scope.project.id');
    if (!c.isAdmin && userId !== c.user.id) throw forbidden('You can only list your own role assignments: add ?user.id=<your user id>.');
    const withNames = flag(req.query.get('include_names'));
    const ref = (x: { id: string; name: string; domain_id?: string }) =>
      withNames ? { id: x.id, name: x.name, ...(x.domain_id && { domain: domainOf(x.domain_id) }) } : { id: x.id };
    const assignments = config.users.filter((u) => !userId || u.id === userId).flatMap((u) => u.roles.flatMap((r) => {
      const project = config.projects.find((p) => p.id === r.project_id);
      const role = config.roles.find((x) => x.name === r.role);
      if (!project || !role || (projectId && project.id !== projectId)) return [];
      return [{ user: ref(u), scope: { project: ref(project) }, role: ref(role), links: { assignment: `${baseUrl}/v3/projects/${project.id}/users/${u.id}/roles/${role.id}` } }];
    }));
    return list('role_assignments', assignments, req);
  });

  // --- domains ---
  router.on('GET', '/v3/domains', async (req) => (caller(req), list('domains', named(req, config.domains).map(domainView), req)));
  router.on('GET', '/v3/domains/:id', async (req) => {
    caller(req);
    return reply(200, { domain: domainView(found(config.domains.find((x) => x.id === req.params.id), 'domain', req.params.id)) });
  });

  const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
    // Set before routing so every answer has it, empty ones (204, HEAD) and errors too.
    res.setHeader('content-type', 'application/json');
    res.on('finish', () => logger.debug('request', { method: req.method, path: req.url, status: res.statusCode }));
    void router.handle(req, res, logger);
  };
  const server = createApiServer(handler, opts.tls);

  return {
    server,
    routes: () => router.list(),
    /** Port 0 picks a free port; the answer is the service's base URL (clients append /v3). */
    async listen(port: number, host = '127.0.0.1'): Promise<{ url: string }> {
      // A plain password in the config is hashed before the first login, and leaves the file.
      if (await withHashedPasswords(config)) save();
      server.listen(port, host);
      await once(server, 'listening');
      const shown = advertisedHost(host);
      const where = shown.includes(':') ? `[${shown}]` : shown;
      baseUrl = `${opts.tls ? 'https' : 'http'}://${where}:${(server.address() as AddressInfo).port}`;
      return { url: baseUrl };
    },
    async close(): Promise<void> {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
