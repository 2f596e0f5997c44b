// What a tenant may set on an image, at create and by JSON Patch, the way Glance decides it: the
// fields the service writes are read-only (403), the core fields have a schema each (400), any
// other name is a custom property holding a string — except Glance's reserved os_glance_* (403).
import { z } from 'zod';
import { ApiError, badRequest } from '../shared/errors.ts';
import { describeIssues } from '../shared/http-router.ts';
import type { Image } from './api-types.ts';

export const DISK_FORMATS = ['raw', 'qcow2'] as const;
export const CONTAINER_FORMATS = ['bare', 'ovf', 'docker'] as const;
export const VISIBILITIES = ['public', 'private', 'internal', 'shared', 'community'] as const;
/** Glance's default quotas per image. */
export const MAX_TAGS = 128;
export const MAX_PROPERTIES = 128;

/** Written by the service only. */
export const READ_ONLY = ['id', 'status', 'created_at', 'updated_at', 'size', 'virtual_size', 'checksum', 'os_hash_algo', 'os_hash_value',
  'self', 'file', 'schema', 'direct_url', 'locations', 'members', 'stores'];

const Tag = z.string().min(1).max(255).regex(/^[^\x00-\x1f\x7f/]+$/, 'a tag is printable and holds no /');

/** The core fields a tenant may set, each with its schema. */
export const CORE = {
  name: z.string().max(255).nullable(),
  visibility: z.enum(VISIBILITIES),
  protected: z.boolean(),
  os_hidden: z.boolean(),
  owner: z.string().min(1).max(255),
  disk_format: z.enum(DISK_FORMATS).nullable(),
  container_format: z.enum(CONTAINER_FORMATS).nullable(),
  min_disk: z.number().int().min(0).max(2 ** 31 - 1),
  min_ram: z.number().int().min(0).max(2 ** 31 - 1),
  tags: z.array(Tag).max(MAX_TAGS).transform((tags) => [...new Set(tags)]),
};
export type CoreField = keyof typeof CORE;
const isCore = (key: string): key is CoreField => Object.hasOwn(CORE, key);

const PropertyName = z.string().min(1).max(255).regex(/^[^\x00-\x1f\x7f/]+$/, 'a property name is printable and holds no /');
const PropertyValue = z.string().max(65535);

/** The settable part of an image: what create and PATCH change, checked as a whole before it is kept. */
export interface ImageFields {
  core: Partial<Record<CoreField, unknown>>;
  properties: Record<string, string>;
}

export const fieldsOf = (i: Image): ImageFields => ({
  core: {
    name: i.name, visibility: i.visibility, protected: i.protected ?? false, os_hidden: i.os_hidden ?? false, owner: i.owner,
    disk_format: i.disk_format, container_format: i.container_format, min_disk: i.min_disk ?? 0, min_ram: i.min_ram ?? 0, tags: i.tags ?? [],
  },
  properties: { ...i.properties },
});

/** Refuses a name that is not the tenant's to set: read-only (403), reserved (403), or not a valid property name (400). */
export function checkSettable(key: string): void {
  if (READ_ONLY.includes(key)) throw new ApiError('forbidden', `attribute '${key}' is read-only`);
  if (key.startsWith('os_glance')) throw new ApiError('forbidden', `attribute '${key}' is reserved (os_glance_*)`);
  if (!isCore(key)) parseField(PropertyName, key, 'property name');
}

/** Sets `key` to `value` in `fields`, checked against the key's schema. */
export function setField(fields: ImageFields, key: string, value: unknown): void {
  checkSettable(key);
  if (isCore(key)) fields.core[key] = parseField(CORE[key] as z.ZodType, value, key);
  else {
    fields.properties[key] = parseField(PropertyValue, value, `property ${key} (a string)`) as string;
    if (Object.keys(fields.properties).length > MAX_PROPERTIES) throw new ApiError('too_large', `an image holds at most ${MAX_PROPERTIES} custom properties`);
  }
}

function parseField(schema: z.ZodType, value: unknown, what: string): unknown {
  const r = schema.safeParse(value);
  if (!r.success) throw badRequest(`${what} is not valid: ${describeIssues(r.error)}`);
  return r.data;
}

export const hasField = (fields: ImageFields, key: string): boolean => isCore(key) || Object.hasOwn(fields.properties, key);

/** Removes a custom property; a core field is never removed (403), a missing property is a conflict (409) as in Glance. */
export function removeField(fields: ImageFields, key: string): void {
  checkSettable(key);
  if (isCore(key)) throw new ApiError('forbidden', `property ${key} may not be removed`);
  if (!Object.hasOwn(fields.properties, key)) throw new ApiError('conflict', `property ${key} does not exist`);
  delete fields.properties[key];
}
