// Node maintenance over the ciao API (docs/api.md, "Cluster and nodes"; admin only): cordon,
// uncordon, and forgetting a node that was removed (node.sh remove ends with it).
import { z } from 'zod';
import { ApiError } from '../../shared/errors.ts';
import { reply, type Request, type Router } from '../../shared/http-router.ts';
import type { Services } from '../services.ts';

const nodeId = { params: { id: z.string().min(1).max(255) } };
const RemoveQuery = z.object({ force: z.enum(['true', 'false']).optional() }).strict();

export function nodeMaintenanceRoutes(router: Router, s: Services): void {
  const admin = async (req: Request) => {
    const c = await s.auth.authenticate(req.header('x-auth-token'), req);
    if (!c.admin) throw new ApiError('not_admin', `${req.raw.method} ${req.path} is for admins: use the admin credentials (CIAO_ADMIN_USERNAME)`);
  };
  for (const [verb, cordoned] of [['cordon', true], ['uncordon', false]] as const) {
    router.on('POST', `/nodes/:id/${verb}`, async (req) => {
      await admin(req);
      return reply(200, s.maintenance.setCordoned(req.params.id, cordoned));
    }, nodeId);
  }
  router.on('DELETE', '/nodes/:id', async (req) => {
    await admin(req);
    s.maintenance.remove(req.params.id, req.queryOf(RemoveQuery).force === 'true');
    return reply(204);
  }, nodeId);
}
