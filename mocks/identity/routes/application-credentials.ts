// /v3/users/{id}/application_credentials: a user hands some of their roles on the project of
// their token to an application, which logs in with the credential's id (or name) and secret
// (auth method application_credential). Its tokens carry those roles only, never outlive it, and
// end when it is deleted or the user loses a role it names.
import { randomBytes, randomUUID } from 'node:crypto';
import { z } from 'zod';
import { badRequest } from '../../../shared/errors.ts';
import { reply, type Request, type Router } from '../../../shared/http-router.ts';
import type { ApplicationCredential, User } from '../config.ts';
import { conflict, forbidden, found, instant, Name, parse, unauthorized, type Helpers, type IdentityContext } from '../context.ts';
import { hashPassword, verifyPassword } from '../passwords.ts';
import type { LoginThrottle } from '../login-throttle.ts';
import { AccessRuleInput, type AccessRules } from './access-rules.ts';

const RoleRef = z.object({ id: z.string().optional(), name: z.string().optional() }).refine((r) => r.id || r.name, 'a role id or name');
const NewAppCred = z.object({
  application_credential: z.object({
    name: Name.max(255), description: z.string().max(65535).nullish(), secret: z.string().min(1).max(4096).nullish(),
    expires_at: z.string().max(64).nullish(), roles: z.array(RoleRef).max(100).optional(), unrestricted: z.boolean().optional(),
    access_rules: z.array(AccessRuleInput).max(50).optional(),
  }).strict(),
});
/** How a client names the credential when it logs in. */
export const AppCredAuth = z.object({
  id: z.string().optional(), name: z.string().optional(), secret: z.string(),
  user: z.object({ id: z.string().optional(), name: z.string().optional(), domain: z.object({ id: z.string().optional(), name: z.string().optional() }).optional() }).optional(),
});

const APP_CREDS_PER_USER = 50;

export function addApplicationCredentialRoutes(router: Router, ctx: IdentityContext, h: Helpers, throttle: LoginThrottle, rules: AccessRules) {
  const { config } = ctx;
  const view = (a: ApplicationCredential) => ({
    id: a.id, name: a.name, description: a.description, user_id: a.user_id, project_id: a.project_id, expires_at: a.expires_at,
    unrestricted: a.unrestricted, roles: config.roles.filter((r) => a.roles.includes(r.name)).map((r) => ({ id: r.id, name: r.name, domain_id: r.domain_id ?? null })),
    access_rules: rules.view(a.access_rules), links: h.links(`users/${a.user_id}/application_credentials/${a.id}`),
  });
  /** The user in the path, who must be the caller (Keystone: an admin neither). */
  const owner = (req: Request) => {
    const c = h.caller(req);
    const user = h.userById(req.params.id);
    if (c.user.id !== user.id) throw forbidden('Application credentials are managed by their own user only.');
    return { c, user };
  };
  const ofUser = (user: User) => config.application_credentials.filter((a) => a.user_id === user.id);
  const byId = (req: Request) => {
    const { user } = owner(req);
    return found(ofUser(user).find((a) => a.id === req.params.credential), 'application credential', req.params.credential);
  };
  const params = { credential: z.string().regex(/^[0-9a-f]{32}$/) };

  router.on('GET', '/v3/users/:id/application_credentials', async (req) => {
    const { user } = owner(req);
    return h.list('application_credentials', h.named(req, ofUser(user)).map(view), req);
  });
  router.on('GET', '/v3/users/:id/application_credentials/:credential', async (req) => reply(200, { application_credential: view(byId(req)) }), { params });
  router.on('POST', '/v3/users/:id/application_credentials', async (req) => {
    const { c, user } = owner(req);
    if (!c.project) throw forbidden('An application credential is made with a token scoped to its project.');
    // Its roles would be the trustor's, handed on beyond what the trust allows (Keystone refuses too).
    if (c.payload.trust_id) throw forbidden('A trust-scoped token cannot make application credentials.');
    if (c.payload.application_credential_id) {
      const source = config.application_credentials.find((a) => a.id === c.payload.application_credential_id);
      if (!source?.unrestricted) throw forbidden('A restricted application credential cannot make another one.');
    }
    const { application_credential: body } = parse(NewAppCred, await req.jsonValue());
    if (ofUser(user).some((a) => a.name === body.name)) throw conflict(`application credential ${body.name}`);
    // Each one is kept in the config file: a bound, where Keystone's default has none.
    if (ofUser(user).length >= APP_CREDS_PER_USER) throw forbidden(`A user keeps at most ${APP_CREDS_PER_USER} application credentials: delete one first.`);
    if (body.expires_at && !(instant(body.expires_at) > Date.now())) throw badRequest('expires_at must be a timestamp in the future.');
    // Only roles the user holds on the project can be handed on (as now, not as when the token was
    // issued); none named: the token's.
    const roles = body.roles ? body.roles.map((r) => h.roleById(r.id ?? r.name!).name) : c.payload.roles;
    const held = h.roleNames(user, c.project.id);
    const missing = roles.filter((r) => !held.includes(r));
    if (missing.length) throw forbidden(`User ${user.name} does not hold ${missing.join(', ')} on project ${c.project.name}.`);
    const secret = body.secret ?? randomBytes(32).toString('base64url');
    const secretHash = await hashPassword(secret);
    const cred: ApplicationCredential = {
      id: randomUUID().replaceAll('-', ''), name: body.name, description: body.description ?? '', user_id: user.id, project_id: c.project.id,
      roles: [...new Set(roles)], secret_hash: secretHash, expires_at: body.expires_at ?? null, unrestricted: body.unrestricted ?? false,
      access_rules: rules.resolve(user, body.access_rules ?? []),
    };
    config.application_credentials.push(cred);
    h.changed('application credential created', cred, { user: user.name });
    return reply(201, { application_credential: { ...view(cred), secret } });
  });
  router.on('DELETE', '/v3/users/:id/application_credentials/:credential', async (req) => {
    const cred = byId(req);
    config.application_credentials = config.application_credentials.filter((a) => a !== cred);
    h.changed('application credential deleted', cred);
    return reply(204);
  }, { params });

  return {
    /** The credential a login names, checked: secret, expiry, and the roles its user still holds. */
    async authenticate(ref: z.infer<typeof AppCredAuth>, now: number, source: string) {
      const named = ref.user && config.users.find((u) => (ref.user!.id ? u.id === ref.user!.id : u.name === ref.user!.name
        && u.domain_id === (config.domains.find((d) => (ref.user!.domain?.id ? d.id === ref.user!.domain.id : d.name === ref.user!.domain?.name))?.id ?? 'default')));
      if (!ref.id && !(ref.name && named)) throw badRequest('An application credential login names its id, or its name and user.');
      const key = `app-cred:${ref.id ?? `${named!.id}/${ref.name}`}`;
      const wait = throttle.wait(key, source, now);
      if (wait > 0) throw unauthorized(`Too many failed logins for this application credential: retry in ${Math.ceil(wait / 1000)} s.`);
      const cred = config.application_credentials.find((a) => (ref.id ? a.id === ref.id : a.user_id === named!.id && a.name === ref.name));
      if (!cred || !(await verifyPassword(ref.secret, cred.secret_hash))) {
        throttle.failed(key, source, now);
        throw unauthorized('The application credential or its secret is wrong.');
      }
      throttle.succeeded(key);
      const user = h.userById(cred.user_id);
      const project = h.projectById(cred.project_id);
      if (cred.expires_at && instant(cred.expires_at) <= now) throw unauthorized(`Application credential ${cred.name} has expired.`);
      if (!h.usable(user) || !h.usable(project)) throw unauthorized('The user or the project of this application credential is disabled.');
      const held = h.roleNames(user, project.id);
      if (!cred.roles.every((r) => held.includes(r))) throw unauthorized(`User ${user.name} no longer holds every role of application credential ${cred.name}.`);
      return { cred, user, project, expiresAt: cred.expires_at ? instant(cred.expires_at) : undefined };
    },
  };
}
export type ApplicationCredentials = ReturnType<typeof addApplicationCredentialRoutes>;
