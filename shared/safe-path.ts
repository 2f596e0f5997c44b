// The one way a file path is made from an id (docs/security.md): the id must be a UUID, and the
// path must lie directly inside its folder. Ids are checked at every boundary before they get
// here, so a refusal here is a bug caught before it reaches the disk, never a tenant's path.
import { resolve, sep } from 'node:path';
import { z } from 'zod';

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export const isUuid = (s: unknown): s is string => typeof s === 'string' && UUID_RE.test(s);

/** A UUID, as every id the cluster makes is, and as any id a client may choose must be. */
export const Uuid = z.string().regex(UUID_RE, 'must be a UUID');

export class UnsafePathError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnsafePathError';
  }
}

/** `dir/<id><suffix>`; throws UnsafePathError for anything but a UUID and a plain suffix. */
export function fileFor(dir: string, id: string, suffix = ''): string {
  if (!isUuid(id)) throw new UnsafePathError(`refused to make a path from ${JSON.stringify(id).slice(0, 80)}: not a UUID`);
  if (!/^[A-Za-z0-9._-]*$/.test(suffix) || suffix.includes('..')) throw new UnsafePathError(`refused the path suffix ${JSON.stringify(suffix)}`);
  const folder = resolve(dir);
  const path = resolve(folder, `${id}${suffix}`);
  if (!path.startsWith(folder + sep) || path.slice(folder.length + 1).includes(sep)) throw new UnsafePathError(`${path} is not inside ${folder}`);
  return path;
}
