// Compute v2.1 os-keypairs (docs/api.md): a user's keypairs, created (generated or imported),
// listed, shown and deleted by name. From microversion 2.2 a keypair has a type (ssh or x509),
// create answers 201 and delete 204.
import { z } from 'zod';
import { badRequest } from '../../shared/errors.ts';
import { Segment, reply, type Request, type Router } from '../../shared/http-router.ts';
import type { Keypair } from '../api-types.ts';
import { createKeypair, findKeypair, keypairsOf } from '../keypairs.ts';
import type { Services } from '../services.ts';
import { atLeast, computeCaller, computeRoute } from './compute-scope.ts';

/** Nova's rule: 1–255 of letters, digits, '_', '-' and space, not starting or ending with a space. */
export const KeypairName = z.string().regex(/^(?! )[A-Za-z0-9_ -]{1,255}(?<! )$/, 'must be 1–255 letters, digits, _, - or spaces, not starting or ending with a space');
const NewKeypair = z.strictObject({
  keypair: z.strictObject({ name: KeypairName, public_key: z.string().max(16_384).optional(), type: z.enum(['ssh', 'x509']).optional() }),
});

export function keypairRoutes(router: Router, s: Services): void {
  const on = computeRoute(router);
  const byName = { params: { name: Segment } };
  const view = (k: Keypair, req: Request) => ({ name: k.name, public_key: k.public_key, fingerprint: k.fingerprint, ...(atLeast(req, '2.2') ? { type: k.type } : {}) });

  on('GET', '/os-keypairs', async (req) => {
    const { caller } = await computeCaller(s, req);
    return reply(200, { keypairs: keypairsOf(s.store, caller.userId).map((k) => ({ keypair: view(k, req) })) });
  });
  on('POST', '/os-keypairs', async (req) => {
    const { caller, tenant } = await computeCaller(s, req);
    const { keypair: body } = await req.body(NewKeypair);
    const typed = atLeast(req, '2.2');
    if (body.type && !typed) throw badRequest('the request body is not valid: keypair.type needs microversion 2.2 or later');
    const { keypair, privateKey } = await createKeypair(s.store, s.store.quotas.get(tenant.id), caller.userId, { name: body.name, type: body.type ?? 'ssh', publicKey: body.public_key });
    return reply(typed ? 201 : 200, { keypair: { ...view(keypair, req), user_id: caller.userId, ...(privateKey ? { private_key: privateKey } : {}) } });
  });
  on('GET', '/os-keypairs/:name', async (req) => {
    const { caller } = await computeCaller(s, req);
    const k = findKeypair(s.store, caller.userId, req.params.name);
    return reply(200, {
      keypair: { ...view(k, req), user_id: caller.userId, id: k.serial, created_at: k.created_at, updated_at: null, deleted: false, deleted_at: null },
    });
  }, byName);
  on('DELETE', '/os-keypairs/:name', async (req) => {
    const { caller } = await computeCaller(s, req);
    s.store.keypairs.delete(findKeypair(s.store, caller.userId, req.params.name).id);
    return reply(atLeast(req, '2.2') ? 204 : 202);
  }, byName);
}
