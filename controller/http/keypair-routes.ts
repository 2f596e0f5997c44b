// Compute v2.1 os-keypairs (docs/api.md): a user's keypairs, created (generated or imported),
// listed, shown and deleted by name. Views are microversion 2.1's.
import { z } from 'zod';
import { Segment, reply, type Router } from '../../shared/http-router.ts';
import type { Keypair } from '../api-types.ts';
import { createKeypair, findKeypair, keypairsOf } from '../keypairs.ts';
import type { Services } from '../services.ts';
import { computeCaller, computeRoute } from './compute-scope.ts';

/** Nova's rule: 1–255 of letters, digits, '_', '-' and space, not starting or ending with a space. */
export const KeypairName = z.string().regex(/^(?! )[A-Za-z0-9_ -]{1,255}(?<! )$/, 'must be 1–255 letters, digits, _, - or spaces, not starting or ending with a space');
const NewKeypair = z.strictObject({
  keypair: z.strictObject({ name: KeypairName, public_key: z.string().max(16_384).optional() }),
});

export function keypairRoutes(router: Router, s: Services): void {
  const on = computeRoute(router);
  const byName = { params: { name: Segment } };
  const view = (k: Keypair) => ({ name: k.name, public_key: k.public_key, fingerprint: k.fingerprint });

  on('GET', '/os-keypairs', async (req) => {
    const { caller } = await computeCaller(s, req);
    return reply(200, { keypairs: keypairsOf(s.store, caller.userId).map((k) => ({ keypair: view(k) })) });
  });
  on('POST', '/os-keypairs', async (req) => {
    const { caller, tenant } = await computeCaller(s, req);
    const { keypair: body } = await req.body(NewKeypair);
    const { keypair, privateKey } = createKeypair(s.store, s.store.quotas.get(tenant.id), caller.userId, body.name, body.public_key);
    return reply(200, { keypair: { ...view(keypair), user_id: caller.userId, ...(privateKey ? { private_key: privateKey } : {}) } });
  });
  on('GET', '/os-keypairs/:name', async (req) => {
    const { caller } = await computeCaller(s, req);
    const k = findKeypair(s.store, caller.userId, req.params.name);
    return reply(200, {
      keypair: { ...view(k), user_id: caller.userId, id: k.serial, created_at: k.created_at, updated_at: null, deleted: false, deleted_at: null },
    });
  }, byName);
  on('DELETE', '/os-keypairs/:name', async (req) => {
    const { caller } = await computeCaller(s, req);
    s.store.keypairs.delete(findKeypair(s.store, caller.userId, req.params.name).id);
    return reply(202);
  }, byName);
}
