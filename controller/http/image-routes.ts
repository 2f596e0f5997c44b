// The OpenStack Image v2 subset (docs/api.md) under /image: create, upload, list, show, update, delete.
import { createReadStream } from 'node:fs';
import { access } from 'node:fs/promises';
import { ApiError, badRequest } from '../../shared/errors.ts';
import type { Image } from '../api-types.ts';
import type { Services } from '../services.ts';
import { parseInput, reply, type Router } from '../../shared/http-router.ts';
import { DISK_FORMATS, ImagePatch, NewImage } from './request-schemas.ts';

export function imageRoutes(router: Router, s: Services, baseUrl: () => string): void {
  const caller = (req: { header(n: string): string | undefined }) => s.auth.authenticate(req.header('x-auth-token'));
  const view = (i: Image) => ({
    id: i.id, name: i.name, status: i.status, visibility: i.visibility, protected: false, os_hidden: false, owner: i.owner,
    size: i.size, virtual_size: null, checksum: i.checksum, disk_format: i.disk_format, container_format: i.container_format,
    min_disk: 0, min_ram: 0, tags: [], created_at: i.created_at, updated_at: i.updated_at,
    self: `/v2/images/${i.id}`, file: `/v2/images/${i.id}/file`, schema: '/v2/schemas/image',
  });

  const versions = async () => reply(300, { versions: [{ id: 'v2.9', status: 'CURRENT', links: [{ rel: 'self', href: `${baseUrl()}/image/v2/` }] }] });
  router.on('GET', '/image', versions);
  router.on('GET', '/image/versions', versions);

  router.on('GET', '/image/v2/images', async (req) => {
    const c = await caller(req);
    const name = req.query.get('name');
    const visibility = req.query.get('visibility');
    const list = s.images.visibleTo(c).filter((i) => (!name || i.name === name) && (!visibility || visibility === 'all' || i.visibility === visibility));
    return reply(200, { images: list.map(view), schema: '/v2/schemas/images', first: '/v2/images' });
  });
  router.on('POST', '/image/v2/images', async (req) => {
    const c = await caller(req);
    const body = await req.body(NewImage);
    const image = s.images.create(c, { ...body, name: body.name ?? undefined, disk_format: body.disk_format ?? undefined, container_format: body.container_format ?? undefined });
    return reply(201, view(image), { location: `${baseUrl()}/image/v2/images/${image.id}` });
  });
  router.on('GET', '/image/v2/images/:id', async (req) => reply(200, view(s.images.get(await caller(req), req.params.id))));
  router.on('PATCH', '/image/v2/images/:id', async (req) => {
    const c = await caller(req);
    // JSON Patch (application/openstack-images-v2.1-json-patch): only replace/add of simple fields.
    const ops = parseInput(ImagePatch, await req.jsonValue(), 'the JSON Patch list');
    const change: Record<string, string> = {};
    for (const op of ops) {
      const field = op.path?.replace(/^\//, '') ?? '';
      if (!['name', 'visibility', 'disk_format', 'container_format'].includes(field)) continue; // properties we do not keep
      if ((op.op !== 'replace' && op.op !== 'add') || typeof op.value !== 'string') throw badRequest(`unsupported patch of ${field}`);
      if (field === 'disk_format' && !(DISK_FORMATS as readonly string[]).includes(op.value)) throw badRequest(`disk_format must be one of ${DISK_FORMATS.join(', ')}`);
      change[field] = op.value;
    }
    return reply(200, view(s.images.update(c, req.params.id, change)));
  });
  router.on('DELETE', '/image/v2/images/:id', async (req) => (await s.images.delete(await caller(req), req.params.id), reply(204)));
  router.on('PUT', '/image/v2/images/:id/file', async (req) => {
    await s.images.upload(await caller(req), req.params.id, req.raw);
    return reply(204);
  });
  router.on('GET', '/image/v2/images/:id/file', async (req, res) => {
    const image = s.images.get(await caller(req), req.params.id);
    if (image.status !== 'active') return reply(204);
    const path = s.images.path(image.id);
    await access(path).catch(() => {
      throw new ApiError('not_found', `the data of image ${image.id} is missing on the controller`);
    });
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(image.size), 'content-md5': image.checksum ?? '' });
    // The file can still vanish or fail mid-answer: the answer ends there, the controller goes on.
    createReadStream(path).on('error', () => res.destroy()).pipe(res);
    return undefined;
  });
}
