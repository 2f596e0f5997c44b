// The identity service: a Keystone v3-compatible mock (password and token auth, scoped and
// unscoped tokens, validation, revocation, projects, users, roles, catalogue), so standard
// OpenStack clients and the cluster's daemons authenticate against it.
import http from 'node:http';
import https from 'node:https';
import { once } from 'node:events';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { ApiError, badRequest, type ErrorCode } from '../../shared/errors.ts';
import type { Logger } from '../../shared/log.ts';
import { reply, Router, type Request } from '../../shared/http-router.ts';
import { saveIdentityConfig, type IdentityConfig, type Project, type User } from './config.ts';
import { TokenSigner, type TokenPayload } from './tokens.ts';

export interface IdentityServerOptions {
  config: IdentityConfig;
  /** Where admin changes (projects, users, role assignments) are written back. */
  configPath?: string;
  tls?: { cert: Buffer; key: Buffer };
  /** A directory for the revocation list, so revocations survive a restart. */
  statePath?: string;
  logger: Logger;
}

const TITLES: Partial<Record<number, string>> = { 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed', 409: 'Conflict', 413: 'Request Entity Too Large' };
const unauthorized = (message: string) => new ApiError('invalid_token', message);
const fail = (code: ErrorCode, message: string) => new ApiError(code, message);

export function createIdentityServer(opts: IdentityServerOptions) {
  const { config, logger } = opts;
  const signer = new TokenSigner(config.signing_key, opts.statePath ? join(opts.statePath, 'identity-revoked.json') : undefined);
  let baseUrl = '';
  const save = () => (opts.configPath ? saveIdentityConfig(opts.configPath, config) : Promise.resolve());

  const domain = (id: string) => config.domains.find((d) => d.id === id) ?? { id, name: id };
  const findDomain = (ref: { id?: string; name?: string } | undefined) =>
    config.domains.find((d) => (ref?.id ? d.id === ref.id : d.name === (ref?.name ?? 'Default')));
  const rolesOf = (user: User, projectId: string) =>
    user.roles.filter((r) => r.project_id === projectId).map((r) => config.roles.find((x) => x.name === r.role || x.id === r.role)).filter((r) => !!r);
  const projectsOf = (user: User) => config.projects.filter((p) => user.roles.some((r) => r.project_id === p.id));
  const projectView = (p: Project) => ({ id: p.id, name: p.name, domain_id: p.domain_id, description: p.description, enabled: true, is_domain: false, parent_id: p.domain_id, tags: [], links: { self: `${baseUrl}/v3/projects/${p.id}` } });
  const userView = (u: User) => ({ id: u.id, name: u.name, domain_id: u.domain_id, enabled: true, default_project_id: u.default_project_id, password_expires_at: null, links: { self: `${baseUrl}/v3/users/${u.id}` } });
  const list = (key: string, items: unknown[], path: string) => reply(200, { [key]: items, links: { self: `${baseUrl}${path}`, next: null, previous: null } });

  const catalog = () => {
    const services = [...config.catalog];
    if (!services.some((s) => s.type === 'identity')) services.push({ type: 'identity', name: 'keystone', url: `${baseUrl}/v3` });
    return services.map((s) => ({
      id: `${s.type}-${s.name}`, type: s.type, name: s.name,
      endpoints: (['public', 'internal', 'admin'] as const).map((iface) => ({ id: `${s.name}-${iface}`, interface: iface, region: 'RegionOne', region_id: 'RegionOne', url: s.url })),
    }));
  };

  const tokenBody = (p: TokenPayload, withCatalog: boolean) => {
    const user = config.users.find((u) => u.id === p.user_id)!;
    const project = p.project_id ? config.projects.find((x) => x.id === p.project_id) : undefined;
    return {
      token: {
        methods: p.methods, audit_ids: [p.id], issued_at: p.issued_at, expires_at: p.expires_at,
        user: { id: user.id, name: user.name, domain: domain(user.domain_id), password_expires_at: null },
        ...(project ? {
          project: { id: project.id, name: project.name, domain: domain(project.domain_id) },
          is_domain: false,
          roles: rolesOf(user, project.id),
          ...(withCatalog ? { catalog: catalog() } : {}),
        } : {}),
      },
    };
  };

  /** The caller's token (X-Auth-Token), valid and belonging to an existing user. */
  const caller = (req: Request) => {
    const token = req.header('x-auth-token');
    if (!token) throw unauthorized('The request you have made requires authentication: send X-Auth-Token.');
    const p = signer.verify(token);
    const user = p && config.users.find((u) => u.id === p.user_id);
    if (!p || !user) throw unauthorized('The token in X-Auth-Token is invalid, expired or revoked.');
    const isAdmin = !!p.project_id && rolesOf(user, p.project_id).some((r) => r.name === 'admin');
    return { payload: p, user, isAdmin };
  };
  const adminCaller = (req: Request) => {
    const c = caller(req);
    if (!c.isAdmin) throw fail('forbidden', 'You are not authorized to perform the requested action: it needs the admin role.');
    return c;
  };

  const authenticate = (body: Record<string, any>): { user: User; methods: string[] } => {
    const identity = body?.auth?.identity;
    const methods: unknown = identity?.methods;
    if (!Array.isArray(methods) || methods.length === 0) throw badRequest('auth.identity.methods is required, e.g. ["password"]');
    if (methods.includes('password')) {
      const u = identity.password?.user;
      if (!u || typeof u.password !== 'string') throw badRequest('auth.identity.password.user with a password is required');
      let user: User | undefined;
      if (u.id) user = config.users.find((x) => x.id === u.id);
      else {
        const d = findDomain(u.domain);
        if (!d) throw unauthorized(`The domain ${JSON.stringify(u.domain)} does not exist.`);
        user = config.users.find((x) => x.name === u.name && x.domain_id === d.id);
      }
      if (!user || user.password !== u.password) throw unauthorized('The user name or password is wrong.');
      return { user, methods: ['password'] };
    }
    if (methods.includes('token')) {
      const p = typeof identity.token?.id === 'string' ? signer.verify(identity.token.id) : null;
      const user = p && config.users.find((x) => x.id === p.user_id);
      if (!user) throw unauthorized('The token given for re-scoping is invalid, expired or revoked.');
      return { user, methods: ['token'] };
    }
    throw unauthorized(`Unsupported auth methods ${methods.join(', ')}: use password or token.`);
  };

  const scopeProject = (scope: Record<string, any> | string | undefined, user: User): Project | null => {
    if (!scope || scope === 'unscoped') return null;
    if (typeof scope !== 'object') throw badRequest('auth.scope must be an object');
    if (scope.domain || scope.system) throw unauthorized('Only project scope is supported by this identity service.');
    const ref = scope.project;
    if (!ref) throw badRequest('auth.scope.project is required when scope is given');
    let project: Project | undefined;
    if (ref.id) project = config.projects.find((p) => p.id === ref.id);
    else {
      const d = findDomain(ref.domain);
      project = d && config.projects.find((p) => p.name === ref.name && p.domain_id === d.id);
    }
    if (!project) throw unauthorized(`The project ${ref.id ?? ref.name} does not exist.`);
    if (rolesOf(user, project.id).length === 0) throw unauthorized(`User ${user.name} has no role on project ${project.name}.`);
    return project;
  };

  const router = new Router((err) => reply(err.status, { error: { code: err.status, title: TITLES[err.status] ?? 'Error', message: err.message } }));

  const v3 = () => ({ id: 'v3.14', status: 'stable', updated: '2020-04-07T00:00:00Z', links: [{ rel: 'self', href: `${baseUrl}/v3/` }], 'media-types': [{ base: 'application/json', type: 'application/vnd.openstack.identity-v3+json' }] });
  router.on('GET', '/', async () => reply(300, { versions: { values: [v3()] } }));
  router.on('GET', '/v3', async () => reply(200, { version: v3() }));

  router.on('POST', '/v3/auth/tokens', async (req) => {
    const body = await req.json<Record<string, any>>();
    const { user, methods } = authenticate(body);
    const project = scopeProject(body.auth?.scope, user);
    const { token, payload } = signer.issue({ user_id: user.id, project_id: project?.id ?? null, methods }, config.token_ttl_seconds);
    logger.info('token issued', { user: user.name, project: project?.name ?? null });
    return reply(201, tokenBody(payload, !req.query.has('nocatalog')), { 'x-subject-token': token });
  });
  const subject = (req: Request) => {
    caller(req);
    const token = req.header('x-subject-token');
    if (!token) throw badRequest('X-Subject-Token is required');
    const p = signer.verify(token);
    if (!p || !config.users.some((u) => u.id === p.user_id)) throw fail('not_found', 'The subject token is invalid, expired or revoked.');
    return { token, payload: p };
  };
  router.on('GET', '/v3/auth/tokens', async (req) => {
    const { token, payload } = subject(req);
    return reply(200, tokenBody(payload, !req.query.has('nocatalog')), { 'x-subject-token': token });
  });
  router.on('DELETE', '/v3/auth/tokens', async (req) => {
    signer.revoke(subject(req).payload);
    return reply(204);
  });
  router.on('GET', '/v3/auth/projects', async (req) => list('projects', projectsOf(caller(req).user).map(projectView), '/v3/auth/projects'));
  router.on('GET', '/v3/auth/domains', async (req) => (caller(req), list('domains', [], '/v3/auth/domains')));
  router.on('GET', '/v3/auth/catalog', async (req) => (caller(req), reply(200, { catalog: catalog(), links: { self: `${baseUrl}/v3/auth/catalog` } })));

  // --- projects ---
  router.on('GET', '/v3/projects', async (req) => {
    const c = caller(req);
    const name = req.query.get('name');
    const all = (c.isAdmin ? config.projects : projectsOf(c.user)).filter((p) => !name || p.name === name);
    return list('projects', all.map(projectView), '/v3/projects');
  });
  router.on('GET', '/v3/projects/:id', async (req) => {
    const c = caller(req);
    const p = config.projects.find((x) => x.id === req.params.id || x.name === req.params.id);
    if (!p || (!c.isAdmin && !projectsOf(c.user).includes(p))) throw fail('not_found', `Could not find project: ${req.params.id}.`);
    return reply(200, { project: projectView(p) });
  });
  router.on('POST', '/v3/projects', async (req) => {
    adminCaller(req);
    const p = (await req.json<{ project?: Record<string, unknown> }>()).project;
    if (!p || typeof p.name !== 'string' || !p.name) throw badRequest('project.name is required');
    const domainId = typeof p.domain_id === 'string' ? p.domain_id : 'default';
    if (config.projects.some((x) => x.name === p.name && x.domain_id === domainId)) throw fail('conflict', `Conflict occurred attempting to store project - a project named ${p.name} already exists.`);
    const project: Project = { id: typeof p.id === 'string' ? p.id : randomUUID(), name: p.name, domain_id: domainId, description: typeof p.description === 'string' ? p.description : '' };
    config.projects.push(project);
    await save();
    return reply(201, { project: projectView(project) });
  });
  router.on('DELETE', '/v3/projects/:id', async (req) => {
    adminCaller(req);
    const i = config.projects.findIndex((x) => x.id === req.params.id);
    if (i < 0) throw fail('not_found', `Could not find project: ${req.params.id}.`);
    config.projects.splice(i, 1);
    for (const u of config.users) u.roles = u.roles.filter((r) => r.project_id !== req.params.id);
    await save();
    return reply(204);
  });

  // --- users and roles ---
  const userById = (id: string) => {
    const u = config.users.find((x) => x.id === id || x.name === id);
    if (!u) throw fail('not_found', `Could not find user: ${id}.`);
    return u;
  };
  router.on('GET', '/v3/users', async (req) => (adminCaller(req), list('users', config.users.map(userView), '/v3/users')));
  router.on('GET', '/v3/users/:id', async (req) => {
    const c = caller(req);
    const u = userById(req.params.id);
    if (!c.isAdmin && u.id !== c.user.id) throw fail('forbidden', 'You can only see your own user.');
    return reply(200, { user: userView(u) });
  });
  router.on('GET', '/v3/users/:id/projects', async (req) => {
    const c = caller(req);
    const u = userById(req.params.id);
    if (!c.isAdmin && u.id !== c.user.id) throw fail('forbidden', "You can only list your own user's projects.");
    return list('projects', projectsOf(u).map(projectView), `/v3/users/${u.id}/projects`);
  });
  router.on('POST', '/v3/users', async (req) => {
    adminCaller(req);
    const u = (await req.json<{ user?: Record<string, unknown> }>()).user;
    if (!u || typeof u.name !== 'string' || typeof u.password !== 'string') throw badRequest('user.name and user.password are required');
    const domainId = typeof u.domain_id === 'string' ? u.domain_id : 'default';
    if (config.users.some((x) => x.name === u.name && x.domain_id === domainId)) throw fail('conflict', `A user named ${u.name} already exists.`);
    const user: User = { id: randomUUID(), name: u.name, password: u.password, domain_id: domainId, default_project_id: typeof u.default_project_id === 'string' ? u.default_project_id : undefined, roles: [] };
    config.users.push(user);
    await save();
    return reply(201, { user: userView(user) });
  });
  router.on('PUT', '/v3/projects/:project/users/:user/roles/:role', async (req) => {
    adminCaller(req);
    const project = config.projects.find((x) => x.id === req.params.project);
    if (!project) throw fail('not_found', `Could not find project: ${req.params.project}.`);
    const user = userById(req.params.user);
    const role = config.roles.find((r) => r.id === req.params.role || r.name === req.params.role);
    if (!role) throw fail('not_found', `Could not find role: ${req.params.role}.`);
    if (!user.roles.some((r) => r.project_id === project.id && r.role === role.name)) user.roles.push({ project_id: project.id, role: role.name });
    await save();
    return reply(204);
  });
  router.on('GET', '/v3/roles', async (req) => (caller(req), list('roles', config.roles.map((r) => ({ ...r, domain_id: null })), '/v3/roles')));
  router.on('GET', '/v3/domains', async (req) => (caller(req), list('domains', config.domains.map((d) => ({ ...d, enabled: true, description: '' })), '/v3/domains')));
  router.on('GET', '/v3/domains/:id', async (req) => {
    caller(req);
    const d = config.domains.find((x) => x.id === req.params.id);
    if (!d) throw fail('not_found', `Could not find domain: ${req.params.id}.`);
    return reply(200, { domain: { ...d, enabled: true, description: '' } });
  });
  router.on('GET', '/v3/role_assignments', async (req) => {
    const c = caller(req);
    const userId = req.query.get('user.id');
    const projectId = req.query.get('scope.project.id');
    if (!c.isAdmin && userId !== c.user.id) throw fail('forbidden', 'You can only list your own role assignments.');
    const assignments = config.users.flatMap((u) => u.roles.map((r) => ({ u, r })))
      .filter(({ u, r }) => (!userId || u.id === userId) && (!projectId || r.project_id === projectId))
      .map(({ u, r }) => ({ user: { id: u.id }, scope: { project: { id: r.project_id } }, role: { id: config.roles.find((x) => x.name === r.role)?.id ?? r.role } }));
    return list('role_assignments', assignments, '/v3/role_assignments');
  });

  const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
    res.setHeader('x-openstack-request-id', `req-${randomUUID()}`);
    logger.debug('request', { method: req.method, path: req.url });
    void router.handle(req, res, logger);
  };
  const server = opts.tls ? https.createServer(opts.tls, handler) : http.createServer(handler);

  return {
    server,
    async listen(port: number, host = '127.0.0.1'): Promise<{ url: string }> {
      server.listen(port, host);
      await once(server, 'listening');
      baseUrl = `${opts.tls ? 'https' : 'http'}://${host}:${(server.address() as AddressInfo).port}`;
      return { url: baseUrl };
    },
    async close(): Promise<void> {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
