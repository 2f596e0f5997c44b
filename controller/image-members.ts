// Image sharing, as in Glance: the owner of a `shared` image offers it to other projects (members);
// each member accepts or rejects the offer. A member can read the image whatever its answer; an
// accepted image is listed among the member's own (controller/image-list.ts).
import { ApiError, notFound } from '../shared/errors.ts';
import type { Image, ImageMember, MemberStatus } from './api-types.ts';
import type { Caller } from './auth.ts';
import { now, type ControllerContext } from './context.ts';
import { memberOf, type Images } from './images.ts';

/** Glance's default image_member_quota. */
export const MAX_MEMBERS = 128;

export class ImageMembers {
  constructor(private readonly ctx: ControllerContext, private readonly images: Images) {}

  /** The members the caller may see: all of them for the owner (or an admin), its own for a member. */
  list(caller: Caller, imageId: string): ImageMember[] {
    const image = this.shared(this.images.get(caller, imageId));
    const all = image.members ?? [];
    return caller.admin || image.owner === caller.projectId ? all : all.filter((m) => m.member_id === caller.projectId);
  }

  get(caller: Caller, imageId: string, memberId: string): ImageMember {
    const member = this.list(caller, imageId).find((m) => m.member_id === memberId);
    if (!member) throw notFound(`member of image ${imageId}`, memberId);
    return member;
  }

  add(caller: Caller, imageId: string, memberId: string): ImageMember {
    const image = this.shared(this.images.owned(caller, imageId));
    const members = image.members ?? [];
    if (memberId === image.owner) throw new ApiError('conflict', `project ${memberId} owns image ${imageId}: it cannot be a member too`);
    if (members.some((m) => m.member_id === memberId)) throw new ApiError('conflict', `project ${memberId} is already a member of image ${imageId}`);
    if (members.length >= MAX_MEMBERS) throw new ApiError('too_large', `image ${imageId} already has ${MAX_MEMBERS} members`);
    const member: ImageMember = { member_id: memberId, status: 'pending', created_at: now(), updated_at: now() };
    this.keep(image, [...members, member]);
    return member;
  }

  /** A member's answer to the offer: only the member itself (or an admin) gives it, never the owner. */
  setStatus(caller: Caller, imageId: string, memberId: string, status: MemberStatus): ImageMember {
    const image = this.shared(this.images.get(caller, imageId));
    const member = image.members?.find((m) => m.member_id === memberId);
    if (!member || (!caller.admin && image.owner !== caller.projectId && memberOf(caller, image) !== member)) {
      throw notFound(`member of image ${imageId}`, memberId);
    }
    if (!caller.admin && caller.projectId !== memberId) throw new ApiError('forbidden', `only project ${memberId} can accept or reject image ${imageId}`);
    Object.assign(member, { status, updated_at: now() });
    this.keep(image, image.members!);
    return member;
  }

  remove(caller: Caller, imageId: string, memberId: string): void {
    const image = this.shared(this.images.get(caller, imageId));
    const members = image.members ?? [];
    if (!members.some((m) => m.member_id === memberId)) throw notFound(`member of image ${imageId}`, memberId);
    if (!caller.admin && image.owner !== caller.projectId) throw new ApiError('forbidden', `only the owner of image ${imageId} can remove its members`);
    this.keep(image, members.filter((m) => m.member_id !== memberId));
  }

  private shared(image: Image): Image {
    if (image.visibility !== 'shared') throw new ApiError('forbidden', `image ${image.id} is ${image.visibility}: only a shared image has members`);
    return image;
  }

  private keep(image: Image, members: ImageMember[]): void {
    Object.assign(image, { members, updated_at: now() });
    this.ctx.store.images.put(image);
  }
}
