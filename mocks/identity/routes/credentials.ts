// /v3/credentials (a user's own, or any for an admin) and /v3/policies (admins), kept in the
// identity config like everything else identity stores.
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { badRequest } from '../../../shared/errors.ts';
import { reply, type Request, type Router } from '../../../shared/http-router.ts';
import type { Credential, Policy } from '../config.ts';
import { forbidden, found, parse, type Caller, type Helpers, type IdentityContext } from '../context.ts';

const Blob = z.string().min(1).max(65535);
const Type = z.string().min(1).max(255);
const NewCredential = z.object({ credential: z.object({ user_id: z.string().min(1), project_id: z.string().nullish(), type: Type, blob: Blob }) });
const CredentialPatch = z.object({ credential: NewCredential.shape.credential.partial() });
const ExtraValue = z.union([z.string().max(65535), z.number(), z.boolean(), z.null()]);
const NewPolicy = z.object({ policy: z.object({ type: Type, blob: Blob }).catchall(ExtraValue) });
const PolicyPatch = z.object({ policy: z.object({ type: Type.optional(), blob: Blob.optional() }).catchall(ExtraValue) });

export function addCredentialRoutes(router: Router, ctx: IdentityContext, h: Helpers) {
  const { config } = ctx;
  const { changed } = h;
  const credentialView = (c: Credential) => ({ ...c, links: h.links(`credentials/${c.id}`) });
  const policyView = (p: Policy) => ({ ...p.extra, id: p.id, type: p.type, blob: p.blob, links: h.links(`policies/${p.id}`) });
  /** A credential the caller may see: their own, or any for an admin; another's is "not found". */
  const visible = (c: Caller, cred: Credential | undefined) => (cred && (c.isAdmin || cred.user_id === c.user.id) ? cred : undefined);
  const credentialFor = (req: Request) => {
    const c = h.caller(req);
    return { caller: c, credential: found(visible(c, config.credentials.find((x) => x.id === req.params.id)), 'credential', req.params.id) };
  };
  /** Keystone's rules for a credential's fields: the owner exists, an ec2 blob is JSON with an access key and a project. */
  const checked = (c: Caller, cred: Credential) => {
    h.userById(cred.user_id);
    if (!c.isAdmin && cred.user_id !== c.user.id) throw forbidden('You can only keep credentials for yourself without the admin role.');
    if (cred.project_id) h.projectById(cred.project_id);
    if (cred.type === 'ec2') {
      let blob: unknown;
      try {
        blob = JSON.parse(cred.blob);
      } catch {
        throw badRequest('An ec2 credential\'s blob must be JSON: {"access": …, "secret": …}.');
      }
      if (typeof (blob as { access?: unknown })?.access !== 'string') throw badRequest('An ec2 credential\'s blob needs an "access" key.');
      if (!cred.project_id) throw badRequest('An ec2 credential needs a project_id.');
    }
    return cred;
  };

  router.on('GET', '/v3/credentials', async (req) => {
    const c = h.caller(req);
    const [userId, type] = [req.query.get('user_id'), req.query.get('type')];
    const creds = config.credentials.filter((x) => visible(c, x) && (userId === null || x.user_id === userId) && (type === null || x.type === type));
    return h.list('credentials', creds.map(credentialView), req);
  });
  router.on('GET', '/v3/credentials/:id', async (req) => reply(200, { credential: credentialView(credentialFor(req).credential) }));
  router.on('POST', '/v3/credentials', async (req) => {
    const c = h.caller(req);
    const { credential: body } = parse(NewCredential, await req.jsonValue());
    const credential = checked(c, { id: randomUUID().replaceAll('-', ''), ...body, project_id: body.project_id ?? null });
    h.roomForCredential(credential.user_id);
    config.credentials.push(credential);
    changed('credential created', { id: credential.id }, { user: credential.user_id, type: credential.type });
    return reply(201, { credential: credentialView(credential) });
  });
  router.on('PATCH', '/v3/credentials/:id', async (req) => {
    const { caller: c, credential } = credentialFor(req);
    const patch = parse(CredentialPatch, await req.jsonValue()).credential;
    const updated = checked(c, { ...credential, ...patch, project_id: patch.project_id === undefined ? credential.project_id : patch.project_id ?? null });
    Object.assign(credential, updated);
    changed('credential updated', { id: credential.id });
    return reply(200, { credential: credentialView(credential) });
  });
  router.on('DELETE', '/v3/credentials/:id', async (req) => {
    const { credential } = credentialFor(req);
    config.credentials = config.credentials.filter((x) => x !== credential);
    changed('credential deleted', { id: credential.id });
    return reply(204);
  });

  // --- policies ---
  const policyById = (id: string) => found(config.policies.find((p) => p.id === id), 'policy', id);
  router.on('GET', '/v3/policies', async (req) => {
    h.adminCaller(req);
    const type = req.query.get('type');
    return h.list('policies', config.policies.filter((p) => type === null || p.type === type).map(policyView), req);
  });
  router.on('GET', '/v3/policies/:id', async (req) => (h.adminCaller(req), reply(200, { policy: policyView(policyById(req.params.id)) })));
  router.on('POST', '/v3/policies', async (req) => {
    h.adminCaller(req);
    const { policy: { type, blob, ...extra } } = parse(NewPolicy, await req.jsonValue());
    const policy: Policy = { id: randomUUID().replaceAll('-', ''), type, blob, extra: withoutManaged(extra) };
    config.policies.push(policy);
    changed('policy created', { id: policy.id }, { type });
    return reply(201, { policy: policyView(policy) });
  });
  router.on('PATCH', '/v3/policies/:id', async (req) => {
    h.adminCaller(req);
    const policy = policyById(req.params.id);
    const { type, blob, ...extra } = parse(PolicyPatch, await req.jsonValue()).policy;
    Object.assign(policy, { type: type ?? policy.type, blob: blob ?? policy.blob, extra: { ...policy.extra, ...withoutManaged(extra) } });
    changed('policy updated', { id: policy.id });
    return reply(200, { policy: policyView(policy) });
  });
  router.on('DELETE', '/v3/policies/:id', async (req) => {
    h.adminCaller(req);
    const policy = policyById(req.params.id);
    config.policies = config.policies.filter((p) => p !== policy);
    changed('policy deleted', { id: policy.id });
    return reply(204);
  });
}

/** Extra attributes, without the ones identity sets itself. */
const withoutManaged = (extra: Record<string, unknown>) => Object.fromEntries(Object.entries(extra).filter(([k]) => !['id', 'links'].includes(k)));
