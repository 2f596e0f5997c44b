// The image service's store: image records in the datastore, their files under the state dir. An
// upload is inspected before the image becomes active (docs/security.md): at most MAX_IMAGE_BYTES
// and the tenant's image_mb quota, and qemu-img must find the format it declares with no backing
// file and no external data file — a qcow2 that names a host file would read it into a volume.
import { createHash, randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { Transform, type Readable } from 'node:stream';
import { ApiError, badRequest, notFound } from '../shared/errors.ts';
import { run } from '../shared/run.ts';
import { fileFor } from '../shared/safe-path.ts';
import type { Image } from './api-types.ts';
import { now, type ControllerContext } from './context.ts';
import type { Caller } from './auth.ts';
import { checkQuota } from './quotas.ts';
import type { Instances } from './instances.ts';

export interface ImageInput {
  id?: string;
  name?: string;
  visibility?: string;
  disk_format?: string;
  container_format?: string;
}

const VISIBILITIES = ['public', 'private', 'internal', 'shared', 'community'];

/** The largest image the service takes. */
export const MAX_IMAGE_BYTES = 4 * 2 ** 30;

/** Why qemu-img's view of an upload makes it unfit to be `declared`, or undefined when it is fit. */
export function imageProblem(info: Record<string, unknown>, declared: string): string | undefined {
  if (info.format !== declared) return `its data is ${String(info.format)}, not the ${declared} the image declares (disk_format)`;
  if (info['backing-filename'] !== undefined || info['full-backing-filename'] !== undefined) return 'it names a backing file: images must be self-contained';
  const specific = info['format-specific'] as { data?: Record<string, unknown> } | undefined;
  if (specific?.data?.['data-file'] !== undefined) return 'it names an external data file: images must be self-contained';
  return undefined;
}

export class Images {
  constructor(private readonly ctx: ControllerContext, private readonly instances: Instances) {}

  visibleTo(caller: Caller): Image[] {
    return this.ctx.store.images.all().filter((i) => this.canSee(caller, i));
  }

  get(caller: Caller, id: string): Image {
    const image = this.ctx.store.images.get(id);
    if (!image || !this.canSee(caller, image)) throw notFound('image', id);
    return image;
  }

  private canSee(caller: Caller, i: Image): boolean {
    return caller.admin || i.visibility === 'public' || (i.visibility === 'private' && i.owner === caller.projectId);
  }

  create(caller: Caller, input: ImageInput): Image {
    const owner = caller.projectId;
    if (!owner) throw new ApiError('forbidden', 'images belong to a project: use a project-scoped token');
    const visibility = (input.visibility ?? 'private') as string;
    if (!VISIBILITIES.includes(visibility)) throw badRequest(`visibility must be public, private or internal, not ${visibility}`);
    if ((visibility === 'public' || visibility === 'internal') && !caller.admin) throw new ApiError('not_admin', `only an admin can create ${visibility} images`);
    if (input.id && this.ctx.store.images.get(input.id)) throw new ApiError('conflict', `image ${input.id} already exists`);
    checkQuota(this.ctx.store.quotas.get(owner), this.instances.usage(owner), { images: 1 });
    const image: Image = {
      id: input.id ?? randomUUID(), name: input.name ?? '', status: 'queued',
      visibility: visibility === 'shared' || visibility === 'community' ? 'private' : (visibility as Image['visibility']),
      owner, size: null, checksum: null, disk_format: input.disk_format ?? null, container_format: input.container_format ?? null,
      created_at: now(), updated_at: now(),
    };
    this.ctx.store.images.put(image);
    return image;
  }

  update(caller: Caller, id: string, change: Partial<Pick<Image, 'name' | 'visibility' | 'disk_format' | 'container_format'>>): Image {
    const image = this.owned(caller, id);
    if ((change.visibility === 'public' || change.visibility === 'internal') && !caller.admin) throw new ApiError('not_admin', `only an admin can make an image ${change.visibility}`);
    Object.assign(image, change, { updated_at: now() });
    this.ctx.store.images.put(image);
    return image;
  }

  async upload(caller: Caller, id: string, data: Readable): Promise<Image> {
    const image = this.owned(caller, id);
    if (image.status !== 'queued') throw new ApiError('conflict', `image ${id} already has data (status ${image.status})`);
    const partial = fileFor(this.ctx.imageDir, id, '.partial');
    const hash = createHash('md5');
    const usage = this.instances.usage(image.owner);
    const limit = this.ctx.store.quotas.get(image.owner)?.limits.image_mb;
    const room = Math.min(MAX_IMAGE_BYTES, limit === undefined || limit < 0 ? Infinity : (limit - usage.image_mb) * 2 ** 20);
    let size = 0;
    const count = new Transform({
      transform(chunk: Buffer, _enc, done) {
        size += chunk.length;
        if (size > room) {
          return done(size > MAX_IMAGE_BYTES
            ? new ApiError('too_large', `image ${id} is larger than ${MAX_IMAGE_BYTES / 2 ** 30} GiB`)
            : new ApiError('over_quota', `image ${id} would pass the quota image_mb of ${limit} MB (${usage.image_mb} MB used)`));
        }
        hash.update(chunk);
        done(null, chunk);
      },
    });
    try {
      await pipeline(data, count, createWriteStream(partial));
      const declared = image.disk_format ?? 'raw';
      // Probed without -f: the format qemu-img finds is what we compare. info does not open backing files.
      const info = JSON.parse((await run('qemu-img', ['info', '--output=json', partial])).stdout) as Record<string, unknown>;
      const problem = imageProblem(info, declared);
      if (problem) throw badRequest(`image ${id} is refused: ${problem}`);
    } catch (err) {
      await rm(partial, { force: true });
      throw err;
    }
    await rename(partial, this.path(id));
    Object.assign(image, { status: 'active', size, checksum: hash.digest('hex'), updated_at: now() });
    this.ctx.store.images.put(image);
    return image;
  }

  path(id: string): string {
    return fileFor(this.ctx.imageDir, id);
  }

  async delete(caller: Caller, id: string): Promise<void> {
    const image = this.owned(caller, id);
    const user = this.ctx.store.instances.all().find((i) => i.image === id && i.vm_type === 'qemu');
    if (user) throw new ApiError('in_use', `image ${id} is used by instance ${user.id}`);
    this.ctx.store.images.delete(id);
    await rm(this.path(id), { force: true });
  }

  private owned(caller: Caller, id: string): Image {
    const image = this.get(caller, id);
    if (!caller.admin && image.owner !== caller.projectId) throw new ApiError('forbidden', `image ${id} belongs to another project`);
    return image;
  }
}
