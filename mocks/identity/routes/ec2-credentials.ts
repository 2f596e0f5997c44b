// /v3/users/{id}/credentials/OS-EC2: a user's EC2-style access/secret pairs for a project they
// hold a role on. As in Keystone they are ordinary credentials of type ec2 (/v3/credentials shows
// them), with the id a SHA-256 of the access key.
import { createHash, randomBytes } from 'node:crypto';
import { z } from 'zod';
import { reply, type Request, type Router } from '../../../shared/http-router.ts';
import type { Credential } from '../config.ts';
import { forbidden, found, parse, type Helpers, type IdentityContext } from '../context.ts';

const NewEc2 = z.object({ tenant_id: z.string().min(1), trust_id: z.null().optional() });
interface Ec2Blob { access: string; secret: string; trust_id: null }

export function addEc2CredentialRoutes(router: Router, ctx: IdentityContext, h: Helpers) {
  const { config } = ctx;
  const idOf = (access: string) => createHash('sha256').update(access).digest('hex');
  /** The user in the path, for themselves or an admin. */
  const owner = (req: Request) => {
    const c = h.caller(req);
    const user = h.userById(req.params.id);
    if (!c.isAdmin && c.user.id !== user.id) throw forbidden("Only an admin may manage another user's EC2 credentials.");
    return user;
  };
  const view = (c: Credential) => {
    const blob = JSON.parse(c.blob) as Ec2Blob;
    return { user_id: c.user_id, tenant_id: c.project_id, access: blob.access, secret: blob.secret, trust_id: null, links: h.links(`users/${c.user_id}/credentials/OS-EC2/${blob.access}`) };
  };
  const ec2Of = (userId: string) => config.credentials.filter((c) => c.type === 'ec2' && c.user_id === userId);
  const byAccess = (req: Request) => {
    const user = owner(req);
    return found(ec2Of(user.id).find((c) => c.id === idOf(req.params.access)), 'credential', req.params.access);
  };
  const params = { access: z.string().regex(/^[0-9a-f]{32}$/) };

  router.on('GET', '/v3/users/:id/credentials/OS-EC2', async (req) => h.list('credentials', ec2Of(owner(req).id).map(view), req));
  router.on('GET', '/v3/users/:id/credentials/OS-EC2/:access', async (req) => reply(200, { credential: view(byAccess(req)) }), { params });
  router.on('POST', '/v3/users/:id/credentials/OS-EC2', async (req) => {
    const user = owner(req);
    const { tenant_id: projectId } = parse(NewEc2, await req.jsonValue());
    const project = h.projectById(projectId);
    if (!h.roleNames(user, project.id).length) throw forbidden(`User ${user.name} has no role on project ${project.name}.`);
    h.roomForCredential(user.id);
    const blob: Ec2Blob = { access: randomBytes(16).toString('hex'), secret: randomBytes(16).toString('hex'), trust_id: null };
    const credential: Credential = { id: idOf(blob.access), user_id: user.id, project_id: project.id, type: 'ec2', blob: JSON.stringify(blob) };
    config.credentials.push(credential);
    h.changed('ec2 credential created', { id: credential.id }, { user: user.name, project: project.name });
    return reply(201, { credential: view(credential) });
  });
  router.on('DELETE', '/v3/users/:id/credentials/OS-EC2/:access', async (req) => {
    const credential = byAccess(req);
    config.credentials = config.credentials.filter((c) => c !== credential);
    h.changed('ec2 credential deleted', { id: credential.id });
    return reply(204);
  }, { params });
}
