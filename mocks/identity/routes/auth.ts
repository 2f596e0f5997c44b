// Version discovery and /v3/auth: password and token authentication, project scope (named, or
// the user's default project), token validation and revocation, and what a token may scope to.
import { z } from 'zod';
import { ApiError, badRequest } from '../../../shared/errors.ts';
import { reply, type Router } from '../../../shared/http-router.ts';
import type { Project, User } from '../config.ts';
import { forbidden, parse, unauthorized, type Helpers, type IdentityContext, type LiveToken } from '../context.ts';
import { unmatchableHash, verifyPassword } from '../passwords.ts';
import type { LoginThrottle } from '../login-throttle.ts';
import type { Views } from '../views.ts';
import type { ServiceCatalog } from './catalog.ts';
import { AppCredAuth, type ApplicationCredentials } from './application-credentials.ts';
import { TrustScope, type Trusts } from './trusts.ts';
import { accessRuleView } from './access-rules.ts';

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
      application_credential: AppCredAuth.optional(),
    }),
    scope: z.union([
      z.literal('unscoped'),
      z.object({
        project: Ref.extend({ domain: Ref.optional() }).refine(hasIdOrName, 'a project id or name is required').optional(),
        'OS-TRUST:trust': TrustScope.optional(),
      }),
    ]).optional(),
  }),
});
type AuthRequest = z.infer<typeof AuthRequest>['auth'];

export function addAuthRoutes(router: Router, ctx: IdentityContext, h: Helpers, v: Views, catalog: ServiceCatalog, throttle: LoginThrottle, appCreds: ApplicationCredentials, trusts: Trusts) {
  const { config, signer, logger } = ctx;
  /** The domain a user or project reference names; the default one when it names none. */
  const findDomain = (ref?: { id?: string; name?: string }) =>
    config.domains.find((d) => (ref?.id ? d.id === ref.id : ref?.name ? d.name === ref.name : d.id === 'default'));

  const appCredOf = (id: string | undefined) => {
    const cred = id ? config.application_credentials.find((a) => a.id === id) : undefined;
    return cred && { application_credential: { id: cred.id, name: cred.name, restricted: !cred.unrestricted, access_rules: config.access_rules.filter((r) => cred.access_rules.includes(r.id)).map(accessRuleView) } };
  };
  const trustOf = (id: string | undefined) => {
    const trust = id ? config.trusts.find((t) => t.id === id) : undefined;
    return trust && { 'OS-TRUST:trust': { id: trust.id, impersonation: trust.impersonation, trustor_user: { id: trust.trustor_user_id }, trustee_user: { id: trust.trustee_user_id } } };
  };
  const tokenBody = ({ payload: p, user, project }: LiveToken, withCatalog: boolean) => ({
    token: {
      methods: p.methods, audit_ids: [p.id], issued_at: p.issued_at, expires_at: p.expires_at, ...appCredOf(p.application_credential_id), ...trustOf(p.trust_id),
      user: { id: user.id, name: user.name, domain: h.domainOf(user.domain_id), password_expires_at: null },
      // An unscoped token has no project, roles or catalogue.
      ...(project && {
        project: { id: project.id, name: project.name, domain: h.domainOf(project.domain_id) },
        is_domain: false,
        roles: config.roles.filter((r) => p.roles.includes(r.name)).map((r) => ({ id: r.id, name: r.name })),
        ...(withCatalog && { catalog: catalog.entries() }),
      }),
    },
  });

  /** The token in X-Subject-Token, for its owner or an admin (Keystone's token_subject rule). */
  const subject = (req: Parameters<typeof h.caller>[0]) => {
    const c = h.caller(req);
    const token = req.header('x-subject-token');
    if (!token) throw badRequest('X-Subject-Token is required: the token to check or revoke.');
    const t = h.live(token);
    if (!t) throw new ApiError('not_found', 'The token in X-Subject-Token is invalid, expired or revoked.');
    if (!c.isAdmin && t.user.id !== c.user.id) throw forbidden("Only an admin may check or revoke another user's token.");
    return { token, t };
  };

  /** Compared against when the user does not exist, so a missing user costs what a wrong password
   *  does. Not a hash made at start: that scrypt (16 MB) ran while the service's start-up garbage was
   *  still resident, and was identity's peak of memory (docs/scale.md, "Fifth pass: memory"). */
  const noSuchUser = unmatchableHash();
  const authenticate = async (identity: AuthRequest['identity'], now: number, source: string) => {
    const unsupported = identity.methods.filter((m) => !['password', 'token', 'application_credential'].includes(m));
    if (unsupported.length) throw unauthorized(`Unsupported authentication method ${unsupported.join(', ')}: use password, token or application_credential.`);
    if (identity.methods.includes('password')) {
      const u = identity.password?.user;
      if (!u) throw badRequest('auth.identity.password.user is required for the password method.');
      const domain = findDomain(u.domain);
      const who = u.id ?? `${u.name}@${domain?.id ?? '?'}`;
      const wait = throttle.wait(who, source, now);
      if (wait > 0) throw new ApiError('too_many_requests', `Too many failed logins for ${u.name ?? u.id} or from ${source}: retry in ${Math.ceil(wait / 1000)} s.`, Math.ceil(wait / 1000));
      const user = config.users.find((x) => (u.id ? x.id === u.id : x.name === u.name && x.domain_id === domain?.id));
      const ok = await verifyPassword(u.password, user?.password_hash ?? noSuchUser);
      if (!user || !ok) {
        throttle.failed(who, source, now);
        throw unauthorized('The user name or password is wrong.');
      }
      throttle.succeeded(who);
      // After the password check, so a disabled account says so only to someone who knows its password.
      if (!h.usable(user)) throw unauthorized(`User ${user.name} is disabled.`);
      return { user, methods: ['password'], expiresAt: now + config.token_ttl_seconds * 1000 };
    }
    if (!identity.token) throw badRequest('auth.identity.token.id is required for the token method.');
    const original = h.live(identity.token.id);
    if (!original) throw unauthorized('The token given for re-scoping is invalid, expired or revoked.');
    // An application credential's token carries only the credential's roles on its project: re-scoped,
    // it would get every role the user has anywhere, and outlive the credential (Keystone refuses too).
    if (original.payload.application_credential_id) throw forbidden('A token issued for an application credential cannot be re-scoped.');
    // Likewise a trust's token: it carries the trustor's roles, which the trustee does not hold.
    if (original.payload.trust_id) throw forbidden('A trust-scoped token cannot be re-scoped.');
    // A re-scoped token expires with the token it came from and keeps its methods, as in Keystone.
    const methods = [...new Set([...original.payload.methods, 'token'])];
    return { user: original.user, methods, expiresAt: Date.parse(original.payload.expires_at) };
  };

  /** The project asked for; with no scope at all, the user's default project when they hold a role on it (Keystone's rule). */
  const scopeProject = (scope: AuthRequest['scope'], user: User): Project | undefined => {
    if (scope === 'unscoped') return undefined;
    if (!scope) {
      const fallback = config.projects.find((p) => p.id === user.default_project_id);
      return fallback && h.usable(fallback) && h.roleNames(user, fallback.id).length ? fallback : undefined;
    }
    const ref = scope.project;
    if (!ref) throw unauthorized('Only project scope is supported by this identity service: give auth.scope.project.');
    const domain = findDomain(ref.domain);
    const project = config.projects.find((p) => (ref.id ? p.id === ref.id : p.name === ref.name && p.domain_id === domain?.id));
    if (!project) throw unauthorized(`The project ${ref.id ?? ref.name} does not exist.`);
    if (!h.usable(project)) throw unauthorized(`The project ${project.name} or its domain is disabled.`);
    if (!h.roleNames(user, project.id).length) throw unauthorized(`User ${user.name} has no role on project ${project.name}.`);
    return project;
  };

  const byUser = async (auth: AuthRequest, now: number, source: string) => {
    const { user, methods, expiresAt } = await authenticate(auth.identity, now, source);
    const trustRef = auth.scope && auth.scope !== 'unscoped' ? auth.scope['OS-TRUST:trust'] : undefined;
    if (trustRef) {
      if (auth.scope !== 'unscoped' && auth.scope?.project) throw badRequest('A login is scoped to a project or to a trust, not both.');
      // The one logging in is the trustee; the token may name the trustor (impersonation).
      const used = trusts.consume(trustRef, user, now);
      return { ...used, methods, expiresAt: Math.min(expiresAt, used.expiresAt), applicationCredentialId: undefined, trustId: used.trust.id };
    }
    const project = scopeProject(auth.scope, user);
    return { user, project, methods, expiresAt, roles: project ? h.roleNames(user, project.id) : [], applicationCredentialId: undefined, trustId: undefined };
  };
  /** The credential's project and roles, whatever else the request asks for; a scope elsewhere is refused. */
  const byApplicationCredential = async (auth: AuthRequest, now: number, source: string) => {
    const ref = auth.identity.application_credential;
    if (!ref || auth.identity.methods.join() !== 'application_credential') throw badRequest('auth.identity.application_credential is required, alone, for the application_credential method.');
    const { cred, user, project, expiresAt } = await appCreds.authenticate(ref, now, source);
    const asked = auth.scope && auth.scope !== 'unscoped' ? auth.scope.project : undefined;
    if (auth.scope === 'unscoped' || (asked && asked.id !== project.id && asked.name !== project.name)) {
      throw unauthorized(`Application credential ${cred.name} only gives tokens for project ${project.name}.`);
    }
    const expires = Math.min(now + config.token_ttl_seconds * 1000, expiresAt ?? Infinity);
    return { user, project, methods: ['application_credential'], expiresAt: expires, roles: cred.roles, applicationCredentialId: cred.id, trustId: undefined };
  };

  // --- version discovery ---
  const v3 = () => ({
    id: 'v3.14', status: 'stable', updated: '2020-04-07T00:00:00Z', links: [{ rel: 'self', href: `${ctx.baseUrl()}/v3/` }],
    'media-types': [{ base: 'application/json', type: 'application/vnd.openstack.identity-v3+json' }],
  });
  router.on('GET', '/', async () => reply(300, { versions: { values: [v3()] } }));
  router.on('GET', '/v3', async () => reply(200, { version: v3() }));

  // --- tokens ---
  router.on('POST', '/v3/auth/tokens', async (req) => {
    const { auth } = parse(AuthRequest, await req.jsonValue());
    const now = Date.now();
    const source = req.raw.socket.remoteAddress ?? '?';
    const issued = auth.identity.application_credential || auth.identity.methods.includes('application_credential')
      ? await byApplicationCredential(auth, now, source)
      : await byUser(auth, now, source);
    const { user, project, methods, expiresAt } = issued;
    const { token, payload } = signer.issue({
      user_id: user.id, project_id: project?.id ?? null, roles: issued.roles, methods, application_credential_id: issued.applicationCredentialId, trust_id: issued.trustId,
    }, (expiresAt - now) / 1000, now);
    logger.info('token issued', { user: user.name, project: project?.name ?? null, methods });
    return reply(201, tokenBody({ payload, user, project }, !req.query.has('nocatalog')), { 'x-subject-token': token });
  });
  router.on('GET', '/v3/auth/tokens', async (req) => {
    const { token, t } = subject(req);
    // As in Keystone: a service that does not say it enforces access rules cannot accept a token bound by them.
    const bound = config.application_credentials.find((c) => c.id === t.payload.application_credential_id)?.access_rules.length;
    if (bound && !req.header('openstack-identity-access-rules')) {
      throw new ApiError('not_found', 'The token is bound by access rules, which a service must enforce: send OpenStack-Identity-Access-Rules.');
    }
    return reply(200, tokenBody(t, !req.query.has('nocatalog')), { 'x-subject-token': token });
  });
  router.on('DELETE', '/v3/auth/tokens', async (req) => {
    const { t } = subject(req);
    signer.revoke(t.payload);
    logger.info('token revoked', { user: t.user.name, audit_id: t.payload.id });
    return reply(204);
  });
  router.on('GET', '/v3/auth/projects', async (req) => h.list('projects', h.projectsOf(h.caller(req).user).filter(h.usable).map(v.projectView), req));
  router.on('GET', '/v3/auth/domains', async (req) => h.list('domains', h.domainsOf(h.caller(req).user).filter((d) => d.enabled).map(v.domainView), req));
  router.on('GET', '/v3/auth/catalog', async (req) => {
    if (!h.caller(req).project) throw forbidden('An unscoped token has no catalogue: get a token scoped to a project.');
    return reply(200, { catalog: catalog.entries(), links: { self: `${ctx.baseUrl()}${req.path}` } });
  });
}
