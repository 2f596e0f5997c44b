// Image members (sharing) under /image/v2/images/{id}/members: controller/image-members.ts.
import { z } from 'zod';
import type { ImageMember } from '../../api-types.ts';
import type { Caller } from '../../auth.ts';
import { ImageMembers } from '../../image-members.ts';
import type { Services } from '../../services.ts';
import { reply, Segment, type Request, type Router } from '../../../shared/http-router.ts';

const NewMember = z.object({ member: z.string().min(1).max(255).regex(/^[^\x00-\x1f\x7f/]+$/) });
const MemberStatus = z.object({ status: z.enum(['pending', 'accepted', 'rejected']) });
const Member = { params: { member: Segment } };

export function imageMemberRoutes(router: Router, s: Services, caller: (req: Request) => Promise<Caller>): void {
  const members = new ImageMembers(s.ctx, s.images);
  const view = (imageId: string, m: ImageMember) => ({ ...m, image_id: imageId, schema: '/v2/schemas/member' });
  const base = '/image/v2/images/:id/members';

  router.on('GET', base, async (req) => {
    const list = members.list(await caller(req), req.params.id);
    return reply(200, { members: list.map((m) => view(req.params.id, m)), schema: '/v2/schemas/members' });
  });
  router.on('POST', base, async (req) => {
    const c = await caller(req);
    const { member } = await req.body(NewMember);
    return reply(200, view(req.params.id, members.add(c, req.params.id, member)));
  });
  router.on('GET', `${base}/:member`, async (req) => reply(200, view(req.params.id, members.get(await caller(req), req.params.id, req.params.member))), Member);
  router.on('PUT', `${base}/:member`, async (req) => {
    const c = await caller(req);
    const { status } = await req.body(MemberStatus);
    return reply(200, view(req.params.id, members.setStatus(c, req.params.id, req.params.member, status)));
  }, Member);
  router.on('DELETE', `${base}/:member`, async (req) => (members.remove(await caller(req), req.params.id, req.params.member), reply(204)), Member);
}
