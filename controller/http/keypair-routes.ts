// Compute v2.1 os-keypairs (docs/api.md): a user's keypairs, created (generated or imported),
// listed, shown and deleted by name. From microversion 2.2 a keypair has a type (ssh or x509),
// create answers 201 and delete 204; from 2.10 an admin names whose keypairs (user_id); from 2.35
// a list pages (limit, marker: a name).
import { z } from 'zod';
import { ApiError, badRequest } from '../../shared/errors.ts';
import type { Caller } from '../auth.ts';
import { Segment, reply, type Request, type Router } from '../../shared/http-router.ts';
import type { Keypair } from '../api-types.ts';
import { createKeypair, findKeypair, keypairsOf } from '../keypairs.ts';
import type { Services } from '../services.ts';
import { atLeast, computeCaller, computeRoute } from './compute-scope.ts';
import { nextPage, page } from './compute/paging.ts';

/** Nova's rule: 1–255 of letters, digits, '_', '-' and space, not starting or ending with a space. */
export const KeypairName = z.string().regex(/^(?! )[A-Za-z0-9_ -]{1,255}(?<! )$/, 'must be 1–255 letters, digits, _, - or spaces, not starting or ending with a space');
const NewKeypair = z.strictObject({
  keypair: z.strictObject({
    name: KeypairName, public_key: z.string().max(16_384).optional(), type: z.enum(['ssh', 'x509']).optional(), user_id: z.string().min(1).max(255).optional(),
  }),
});
const KeypairQuery = z.object({
  user_id: z.string().min(1).max(255).optional(),
  limit: z.string().regex(/^\d{1,9}$/, 'must be a whole number of 0 or more').transform(Number).optional(),
  marker: z.string().min(1).max(255).optional(),
});

/** Whose keypairs a request is about: from 2.10 an admin may name another user (Nova's policy:
 *  a member only themself); before, always the caller's. */
function owner(req: Request, caller: Caller, asked: string | undefined): string {
  if (asked === undefined || !atLeast(req, '2.10') || asked === caller.userId) return caller.userId;
  if (!caller.admin) throw new ApiError('forbidden', `only an admin handles the keypairs of user ${asked}`);
  return asked;
}

export function keypairRoutes(router: Router, s: Services, baseUrl: () => string): void {
  const on = computeRoute(router);
  const api = (path: string) => `${baseUrl()}/v2.1${path}`;
  const byName = { params: { name: Segment } };
  const view = (k: Keypair, req: Request) => ({ name: k.name, public_key: k.public_key, fingerprint: k.fingerprint, ...(atLeast(req, '2.2') ? { type: k.type } : {}) });

  on('GET', '/os-keypairs', async (req) => {
    const { caller } = await computeCaller(s, req);
    const q = req.queryOf(KeypairQuery);
    const sorted = keypairsOf(s.store, owner(req, caller, q.user_id)).sort((a, b) => a.name.localeCompare(b.name)).map((k) => ({ id: k.name, k }));
    const { items, links } = atLeast(req, '2.35')
      ? page(sorted, { ...q, limit: q.limit === undefined ? undefined : Math.min(q.limit, 1000) }, nextPage(api, '/os-keypairs', req.query))
      : { items: sorted, links: [] };
    return reply(200, { keypairs: items.map(({ k }) => ({ keypair: view(k, req) })), ...(links.length ? { keypairs_links: links } : {}) });
  });
  on('POST', '/os-keypairs', async (req) => {
    const { caller, tenant } = await computeCaller(s, req);
    const { keypair: body } = await req.body(NewKeypair);
    const typed = atLeast(req, '2.2');
    if (body.type && !typed) throw badRequest('the request body is not valid: keypair.type needs microversion 2.2 or later');
    if (body.user_id && !atLeast(req, '2.10')) throw badRequest('the request body is not valid: keypair.user_id needs microversion 2.10 or later');
    const user = owner(req, caller, body.user_id);
    const { keypair, privateKey } = await createKeypair(s.store, s.store.quotas.get(tenant.id), user, { name: body.name, type: body.type ?? 'ssh', publicKey: body.public_key });
    return reply(typed ? 201 : 200, { keypair: { ...view(keypair, req), user_id: user, ...(privateKey ? { private_key: privateKey } : {}) } });
  });
  on('GET', '/os-keypairs/:name', async (req) => {
    const { caller } = await computeCaller(s, req);
    const user = owner(req, caller, req.queryOf(KeypairQuery).user_id);
    const k = findKeypair(s.store, user, req.params.name);
    return reply(200, {
      keypair: { ...view(k, req), user_id: user, id: k.serial, created_at: k.created_at, updated_at: null, deleted: false, deleted_at: null },
    });
  }, byName);
  on('DELETE', '/os-keypairs/:name', async (req) => {
    const { caller } = await computeCaller(s, req);
    s.store.keypairs.delete(findKeypair(s.store, owner(req, caller, req.queryOf(KeypairQuery).user_id), req.params.name).id);
    return reply(atLeast(req, '2.2') ? 204 : 202);
  }, byName);
}
