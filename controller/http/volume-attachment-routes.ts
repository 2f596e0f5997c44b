// Compute v2.1's os-volume_attachments (docs/api.md): a server's volumes, attached and detached
// through the cluster's volumes (controller/volumes.ts), so a running VM really gets the disk.
import { z } from 'zod';
import { badRequest, notFound } from '../../shared/errors.ts';
import { reply, type Request, type Router } from '../../shared/http-router.ts';
import { Uuid } from '../../shared/safe-path.ts';
import type { Volume } from '../api-types.ts';
import type { Services } from '../services.ts';
import { atLeast } from './compute-scope.ts';
import { microversioned } from './microversion.ts';
import { deviceOf, projectScope } from './volume-api.ts';

const NewAttachment = z.object({
  volumeAttachment: z.object({
    volumeId: z.string().min(1).max(255),
    // Nova takes a device name as a hint; the guest names the disk by its serial (docs/api.md).
    device: z.string().max(255).nullish(),
    tag: z.string().max(60).nullish(),
    delete_on_termination: z.boolean().optional(),
  }),
});

export function volumeAttachmentRoutes(router: Router, s: Services): void {
  const server = async (req: Request) => {
    const { tenant } = await projectScope(s, req, 'compute');
    return { tenant, inst: s.instances.get(tenant, req.params.id) };
  };
  const view = (v: Volume) => {
    const inst = v.attachment ? s.store.instances.get(v.attachment.instance_id) : undefined;
    return { id: v.id, volumeId: v.id, serverId: v.attachment?.instance_id ?? '', device: deviceOf(s, inst, v) };
  };
  const attachedTo = (instanceId: string) => s.store.volumes.all().filter((v) => v.attachment?.instance_id === instanceId);
  const attachment = (instanceId: string, volumeId: string) => {
    const v = attachedTo(instanceId).find((a) => a.id === volumeId);
    if (!v) throw notFound('volume attachment', `${volumeId} of server ${instanceId}`);
    return v;
  };
  const byVolume = { params: { volume: Uuid } };

  for (const prefix of ['/v2.1', '/v2.1/:project']) {
    const base = `${prefix}/servers/:id/os-volume_attachments`;
    router.on('GET', base, microversioned(async (req) => {
      const { inst } = await server(req);
      return reply(200, { volumeAttachments: attachedTo(inst.id).map(view) });
    }));
    router.on('POST', base, microversioned(async (req) => {
      const { tenant, inst } = await server(req);
      const { volumeAttachment: a } = await req.body(NewAttachment);
      // Nova's answers: a tag before 2.49 is not in the schema, from 2.49 a driver without tagged
      // attach refuses it (the guest here names its disks by serial); delete_on_termination is 2.79.
      if (a.tag != null) throw badRequest(atLeast(req, '2.49') ? 'tagged volume attach is not supported: the guest names a disk by its serial' : 'tag needs microversion 2.49 or later');
      if (a.delete_on_termination !== undefined) throw badRequest('delete_on_termination needs microversion 2.79 or later');
      return reply(200, { volumeAttachment: view(s.volumes.attach(tenant, a.volumeId, inst)) });
    }));
    router.on('GET', `${base}/:volume`, microversioned(async (req) => {
      const { inst } = await server(req);
      return reply(200, { volumeAttachment: view(attachment(inst.id, req.params.volume)) });
    }), byVolume);
    router.on('DELETE', `${base}/:volume`, microversioned(async (req) => {
      const { tenant, inst } = await server(req);
      s.volumes.detach(tenant, attachment(inst.id, req.params.volume).id);
      return reply(202);
    }), byVolume);
  }
}
