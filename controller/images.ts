// The image service's store: image records in the datastore, their files under the state dir, and
// what Glance lets each caller do with them (fields: image-fields.ts, sharing: image-members.ts). An
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
import { fileFor, Uuid } from '../shared/safe-path.ts';
import { parseInput } from '../shared/http-router.ts';
import type { Image, ImageMember } from './api-types.ts';
import { fieldsOf, setField, type ImageFields } from './image-fields.ts';
import { applyPatch, type PatchOp } from './image-patch.ts';
import { now, type ControllerContext } from './context.ts';
import type { Caller } from './auth.ts';
import { checkQuota } from './quotas.ts';
import type { Instances } from './instances.ts';

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

  /** Every image `caller` may read: what a list is filtered from. */
  visibleTo(caller: Caller): Image[] {
    return this.ctx.store.images.all().filter((i) => canSee(caller, i));
  }

  get(caller: Caller, id: string): Image {
    const image = this.ctx.store.images.get(id);
    if (!image || !canSee(caller, image)) throw notFound('image', id);
    return image;
  }

  /** A new image from a create body: core fields and custom properties, checked as Glance does. */
  create(caller: Caller, body: Record<string, unknown>): Image {
    if (!caller.projectId) throw new ApiError('forbidden', 'images belong to a project: use a project-scoped token');
    const { id, ...settable } = body;
    const parsedId = parseInput(Uuid.optional(), id, 'the image id');
    // Glance's default is shared: an image that can be offered to members, seen by its owner only until then.
    const fields: ImageFields = { core: { visibility: 'shared', owner: caller.projectId }, properties: {} };
    for (const [key, value] of Object.entries(settable)) setField(fields, key, value);
    this.checkChange(caller, fields, undefined);
    if (parsedId && this.ctx.store.images.get(parsedId)) throw new ApiError('conflict', `image ${parsedId} already exists`);
    const owner = fields.core.owner as string;
    checkQuota(this.ctx.store.quotas.get(owner), this.instances.usage(owner), { images: 1 });
    const image: Image = {
      id: parsedId ?? randomUUID(), name: null, status: 'queued', visibility: 'shared', owner, size: null, checksum: null,
      disk_format: null, container_format: null, created_at: now(), updated_at: now(),
    };
    return this.keep(image, fields);
  }

  /** Applies a JSON Patch (controller/image-patch.ts) to an image of the caller's. */
  update(caller: Caller, id: string, ops: PatchOp[], addIsStrict: boolean): Image {
    const image = this.owned(caller, id);
    const fields = fieldsOf(image);
    applyPatch(fields, ops, addIsStrict);
    this.checkChange(caller, fields, image);
    return this.keep(image, fields);
  }

  /** What only an admin may do, and what data already uploaded pins. */
  private checkChange(caller: Caller, fields: ImageFields, before: Image | undefined): void {
    const { visibility, owner } = fields.core;
    if ((visibility === 'public' || visibility === 'internal') && visibility !== before?.visibility && !caller.admin) {
      throw new ApiError('not_admin', `only an admin can make an image ${String(visibility)}`);
    }
    if (owner !== (before?.owner ?? caller.projectId) && !caller.admin) throw new ApiError('not_admin', 'only an admin can give an image to another project');
    for (const key of ['disk_format', 'container_format'] as const) {
      if (before && before.status !== 'queued' && fields.core[key] !== before[key]) {
        throw new ApiError('forbidden', `${key} of image ${before.id} is fixed once it has data (status ${before.status})`);
      }
    }
  }

  private keep(image: Image, fields: ImageFields): Image {
    Object.assign(image, fields.core, { properties: fields.properties, updated_at: now() });
    this.ctx.store.images.put(image);
    return image;
  }

  addTag(caller: Caller, id: string, tag: string): void {
    const image = this.owned(caller, id);
    const fields = fieldsOf(image);
    setField(fields, 'tags', [...(image.tags ?? []), tag]);
    this.keep(image, fields);
  }

  removeTag(caller: Caller, id: string, tag: string): void {
    const image = this.owned(caller, id);
    if (!image.tags?.includes(tag)) throw notFound(`tag of image ${id}`, tag);
    const fields = fieldsOf(image);
    fields.core.tags = image.tags.filter((t) => t !== tag);
    this.keep(image, fields);
  }

  /** Deactivates (or reactivates) an image of the caller's: a deactivated image's data is for admins only. */
  setActive(caller: Caller, id: string, active: boolean): void {
    const image = this.owned(caller, id);
    const [from, to] = active ? ['deactivated', 'active'] : ['active', 'deactivated'];
    if (image.status === to) return;
    if (image.status !== from) throw new ApiError('forbidden', `image ${id} is ${image.status}: only an ${from} image can be ${active ? 'reactivated' : 'deactivated'}`);
    image.status = to as Image['status'];
    image.updated_at = now();
    this.ctx.store.images.put(image);
  }

  /** The image whose data `caller` downloads. */
  readable(caller: Caller, id: string): Image {
    const image = this.get(caller, id);
    if (image.status === 'deactivated' && !caller.admin) throw new ApiError('forbidden', `image ${id} is deactivated: its data cannot be downloaded`);
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
    if (image.protected) throw new ApiError('forbidden', `image ${id} is protected: unprotect it first (replace /protected with false)`);
    const user = this.ctx.store.instances.all().find((i) => i.image === id && i.vm_type === 'qemu');
    if (user) throw new ApiError('in_use', `image ${id} is used by instance ${user.id}`);
    this.ctx.store.images.delete(id);
    await rm(this.path(id), { force: true });
  }

  /** An image `caller` may change: its own, or any for an admin. */
  owned(caller: Caller, id: string): Image {
    const image = this.get(caller, id);
    if (!caller.admin && image.owner !== caller.projectId) throw new ApiError('forbidden', `image ${id} belongs to another project`);
    return image;
  }
}

/** Who reads an image: an admin, anyone for a public or community image, its owner, and the
 *  projects it is shared with (visibility shared: a member, whatever its answer). Internal images
 *  are for admins; a private image is its owner's even if it once had members. */
export function canSee(caller: Pick<Caller, 'admin' | 'projectId'>, i: Image): boolean {
  if (caller.admin || i.visibility === 'public' || i.visibility === 'community') return true;
  if (i.visibility === 'internal') return false;
  if (i.owner === caller.projectId) return true;
  return i.visibility === 'shared' && memberOf(caller, i) !== undefined;
}

export const memberOf = (caller: Pick<Caller, 'projectId'>, i: Image): ImageMember | undefined => i.members?.find((m) => m.member_id === caller.projectId);

/** Whether tenant `tenantId` may boot image `i` (compute's imageRef): an image it reads as a tenant
 *  (never an internal one), and not deactivated, whose data only admins may read. */
export const bootableBy = (tenantId: string, i: Image): boolean => i.status !== 'deactivated' && canSee({ admin: false, projectId: tenantId }, i);
