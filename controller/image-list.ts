// GET /v2/images as Glance answers it: which images a list holds for a caller (visibility and
// member_status), its filters (core fields, size_min/size_max, tags, any custom property), its
// order (sort_key/sort_dir or sort=key:dir,…) and its pages (limit, marker, next).
import { badRequest } from '../shared/errors.ts';
import type { Image } from './api-types.ts';
import type { Caller } from './auth.ts';
import { memberOf } from './images.ts';
import { VISIBILITIES } from './image-fields.ts';

const SORT_KEYS = ['name', 'status', 'container_format', 'disk_format', 'size', 'id', 'created_at', 'updated_at', 'visibility', 'owner', 'min_disk', 'min_ram'] as const;
type SortKey = (typeof SORT_KEYS)[number];
const MEMBER_STATUSES = ['pending', 'accepted', 'rejected', 'all'];
/** Glance's api_limit_max. */
export const MAX_LIMIT = 1000;
/** Parameters that shape the list rather than filter on a field. */
const CONTROLS = ['limit', 'marker', 'sort', 'sort_key', 'sort_dir', 'visibility', 'member_status', 'size_min', 'size_max', 'tag'];
const FILTERS = ['name', 'status', 'owner', 'disk_format', 'container_format', 'size', 'id', 'protected', 'os_hidden', 'min_disk', 'min_ram'];

export interface ImagePage {
  images: Image[];
  /** The marker of the next page, when there is one. */
  next?: string;
}

/** The page of `visible` (what the caller may read: Images.visibleTo) that `query` asks for. */
export function listImages(caller: Caller, visible: Image[], query: URLSearchParams): ImagePage {
  const one = (key: string) => query.getAll(key).at(-1);
  const visibility = one('visibility');
  if (visibility !== undefined && visibility !== 'all' && !(VISIBILITIES as readonly string[]).includes(visibility)) throw badRequest(`visibility ${visibility} is not one of ${VISIBILITIES.join(', ')}, all`);
  const memberStatus = one('member_status') ?? 'accepted';
  if (!MEMBER_STATUSES.includes(memberStatus)) throw badRequest(`member_status must be one of ${MEMBER_STATUSES.join(', ')}`);
  const [sizeMin, sizeMax] = [number(one('size_min'), 'size_min'), number(one('size_max'), 'size_max')];
  const tags = query.getAll('tag');
  const matches = [...new Set(query.keys())].filter((k) => !CONTROLS.includes(k)).map((key) => ({ key, value: one(key)! }));

  const listed = (i: Image): boolean => {
    if (visibility !== undefined && visibility !== 'all' && i.visibility !== visibility) return false;
    if (i.os_hidden && one('os_hidden') !== 'true') return false;
    if (caller.admin || i.owner === caller.projectId || i.visibility === 'public') return true;
    // Another project's community image is listed only when asked for; a shared one by the member's answer.
    if (i.visibility === 'community') return visibility === 'community';
    const status = memberOf(caller, i)?.status;
    return status !== undefined && (memberStatus === 'all' || status === memberStatus);
  };
  const filtered = visible.filter((i) => listed(i)
    && (sizeMin === undefined || (i.size ?? -1) >= sizeMin) && (sizeMax === undefined || (i.size !== null && i.size <= sizeMax))
    && tags.every((t) => i.tags?.includes(t))
    && matches.every(({ key, value }) => fieldText(i, key) === value));

  const sorted = filtered.sort(comparator(sortOrder(query)));
  const marker = one('marker');
  let start = 0;
  if (marker !== undefined) {
    start = sorted.findIndex((i) => i.id === marker) + 1;
    if (start === 0) throw badRequest(`marker ${marker.slice(0, 100)} is not an image of this list`);
  }
  const limit = number(one('limit'), 'limit') ?? MAX_LIMIT;
  const images = sorted.slice(start, start + Math.min(limit, MAX_LIMIT));
  const more = start + images.length < sorted.length && images.length > 0;
  return { images, next: more ? images.at(-1)!.id : undefined };
}

function number(text: string | undefined, what: string): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d{1,15}$/.test(text)) throw badRequest(`${what} must be a whole number ≥ 0, not ${text.slice(0, 40)}`);
  return Number(text);
}

/** A field of an image as a query string would spell it; a custom property by its name. */
function fieldText(i: Image, key: string): string | undefined {
  if (FILTERS.includes(key)) {
    const value = (i as unknown as Record<string, unknown>)[key] ?? (key === 'protected' || key === 'os_hidden' ? false : key.startsWith('min_') ? 0 : null);
    return value === null ? undefined : String(value);
  }
  return i.properties?.[key];
}

function sortOrder(query: URLSearchParams): { key: SortKey; desc: boolean }[] {
  const checkKey = (key: string): SortKey => {
    if (!(SORT_KEYS as readonly string[]).includes(key)) throw badRequest(`sort key ${key.slice(0, 60)} is not one of ${SORT_KEYS.join(', ')}`);
    return key as SortKey;
  };
  const checkDir = (dir: string): boolean => {
    if (dir !== 'asc' && dir !== 'desc') throw badRequest(`sort direction ${dir.slice(0, 20)} is not asc or desc`);
    return dir === 'desc';
  };
  const sort = query.get('sort');
  if (sort !== null) {
    if (query.has('sort_key') || query.has('sort_dir')) throw badRequest('sort cannot be combined with sort_key or sort_dir');
    return sort.split(',').map((part) => {
      const [key, dir = 'desc', extra] = part.trim().split(':');
      if (extra !== undefined) throw badRequest(`sort ${part.slice(0, 60)} is not key or key:dir`);
      return { key: checkKey(key), desc: checkDir(dir) };
    });
  }
  const keys = query.getAll('sort_key').map(checkKey);
  const dirs = query.getAll('sort_dir').map(checkDir);
  if (dirs.length > 1 && dirs.length !== keys.length) throw badRequest('give one sort_dir, or one for each sort_key');
  return (keys.length ? keys : ['created_at' as const]).map((key, n) => ({ key, desc: dirs[dirs.length > 1 ? n : 0] ?? true }));
}

/** Orders by the keys in turn, then by id so that markers are stable; a missing value sorts first. */
function comparator(order: { key: SortKey; desc: boolean }[]): (a: Image, b: Image) => number {
  const keys = [...order, ...(order.some((o) => o.key === 'id') ? [] : [{ key: 'id' as const, desc: order.at(-1)!.desc }])];
  return (a, b) => {
    for (const { key, desc } of keys) {
      const [x, y] = [a[key] ?? null, b[key] ?? null];
      const c = x === y ? 0 : x === null ? -1 : y === null ? 1 : x < y ? -1 : 1;
      if (c !== 0) return desc ? -c : c;
    }
    return 0;
  };
}
