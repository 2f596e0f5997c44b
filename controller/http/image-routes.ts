// The OpenStack Image v2 (Glance) API under /image (docs/api.md): images and their data, JSON Patch,
// tags, deactivate/reactivate; members, metadata definitions and the JSON schemas are in controller/http/image/.
import { createReadStream } from 'node:fs';
import { access } from 'node:fs/promises';
import { z } from 'zod';
import { ApiError, notFound } from '../../shared/errors.ts';
import type { Image } from '../api-types.ts';
import type { Services } from '../services.ts';
import { reply, Segment, type Request, type Router } from '../../shared/http-router.ts';
import { listImages } from '../image-list.ts';
import { patchOps } from '../image-patch.ts';
import { imageMemberRoutes } from './image/member-routes.ts';
import { metadefRoutes } from './image/metadef-routes.ts';
import { metadefSchemaRoutes } from './image/metadef-schema-routes.ts';
import { imageSchemaRoutes } from './image/schema-routes.ts';

const ImageBody = z.record(z.string(), z.unknown());
const Tag = { params: { tag: Segment } };

/** An image as Glance shows it: its custom properties are top-level keys beside the core fields. */
export const imageView = (i: Image) => ({
  ...i.properties,
  id: i.id, name: i.name, status: i.status, visibility: i.visibility, protected: i.protected ?? false, os_hidden: i.os_hidden ?? false,
  owner: i.owner, size: i.size, virtual_size: null, checksum: i.checksum, os_hash_algo: null, os_hash_value: null,
  disk_format: i.disk_format, container_format: i.container_format, min_disk: i.min_disk ?? 0, min_ram: i.min_ram ?? 0, tags: i.tags ?? [],
  created_at: i.created_at, updated_at: i.updated_at, self: `/v2/images/${i.id}`, file: `/v2/images/${i.id}/file`, schema: '/v2/schemas/image',
});

export function imageRoutes(router: Router, s: Services, baseUrl: () => string): void {
  const caller = (req: Request) => s.auth.authenticate(req.header('x-auth-token'), req);
  // The router ignores a trailing slash; Glance does not: /v2/images/ names an image with an empty id.
  const noEmptyId = (req: Request) => {
    if (req.path.endsWith('/')) throw notFound('image', "''");
  };

  const versions = async () => reply(300, { versions: [{ id: 'v2.9', status: 'CURRENT', links: [{ rel: 'self', href: `${baseUrl()}/image/v2/` }] }] });
  router.on('GET', '/image', versions);
  router.on('GET', '/image/versions', versions);

  router.on('GET', '/image/v2/images', async (req) => {
    noEmptyId(req);
    const c = await caller(req);
    const page = listImages(c, s.images.visibleTo(c), req.query);
    const next = page.next && new URLSearchParams([...[...req.query].filter(([k]) => k !== 'marker'), ['marker', page.next]]);
    return reply(200, { images: page.images.map(imageView), schema: '/v2/schemas/images', first: '/v2/images', ...(next ? { next: `/v2/images?${next}` } : {}) });
  });
  router.on('DELETE', '/image/v2/images', async (req) => {
    noEmptyId(req);
    throw new ApiError('method_not_allowed', 'DELETE is not allowed on the image list: delete one image, /v2/images/{id}');
  });
  router.on('POST', '/image/v2/images', async (req) => {
    const image = s.images.create(await caller(req), await req.body(ImageBody));
    return reply(201, imageView(image), { location: `${baseUrl()}/image/v2/images/${image.id}` });
  });
  router.on('GET', '/image/v2/images/:id', async (req) => reply(200, imageView(s.images.get(await caller(req), req.params.id))));
  router.on('PATCH', '/image/v2/images/:id', async (req) => {
    const c = await caller(req);
    const { ops, addIsStrict } = patchOps(req.header('content-type'), await req.jsonValue());
    return reply(200, imageView(s.images.update(c, req.params.id, ops, addIsStrict)));
  });
  router.on('DELETE', '/image/v2/images/:id', async (req) => (await s.images.delete(await caller(req), req.params.id), reply(204)));

  router.on('PUT', '/image/v2/images/:id/tags/:tag', async (req) => (s.images.addTag(await caller(req), req.params.id, req.params.tag), reply(204)), Tag);
  router.on('DELETE', '/image/v2/images/:id/tags/:tag', async (req) => (s.images.removeTag(await caller(req), req.params.id, req.params.tag), reply(204)), Tag);
  router.on('POST', '/image/v2/images/:id/actions/deactivate', async (req) => (s.images.setActive(await caller(req), req.params.id, false), reply(204)));
  router.on('POST', '/image/v2/images/:id/actions/reactivate', async (req) => (s.images.setActive(await caller(req), req.params.id, true), reply(204)));

  router.on('PUT', '/image/v2/images/:id/file', async (req) => {
    await s.images.upload(await caller(req), req.params.id, req.raw);
    return reply(204);
  });
  router.on('GET', '/image/v2/images/:id/file', async (req, res) => {
    const image = s.images.readable(await caller(req), req.params.id);
    if (image.status !== 'active' && image.status !== 'deactivated') return reply(204);
    const path = s.images.path(image.id);
    await access(path).catch(() => {
      throw new ApiError('not_found', `the data of image ${image.id} is missing on the controller`);
    });
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(image.size), 'content-md5': image.checksum ?? '' });
    // The file can still vanish or fail mid-answer: the answer ends there, the controller goes on.
    createReadStream(path).on('error', () => res.destroy()).pipe(res);
    return undefined;
  });

  imageMemberRoutes(router, s, caller);
  imageSchemaRoutes(router);
  metadefRoutes(router, s, caller);
  metadefSchemaRoutes(router);
}
