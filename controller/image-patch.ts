// Glance's PATCH of an image: a JSON Patch list in one of its two media types. v2.1 is RFC 6902
// ({op, path, value}); v2.0 is Glance's older form ({"replace": path, value}), where adding a
// property that is already there is a conflict. Paths name one top-level field.
import { z } from 'zod';
import { ApiError, badRequest } from '../shared/errors.ts';
import { parseInput } from '../shared/http-router.ts';
import { checkSettable, hasField, removeField, setField, type ImageFields } from './image-fields.ts';

export const PATCH_V21 = 'application/openstack-images-v2.1-json-patch';
export const PATCH_V20 = 'application/openstack-images-v2.0-json-patch';

const Path = z.string().min(2).max(255).startsWith('/');
const Op = z.enum(['add', 'remove', 'replace']);
const MAX_OPS = 100;
const V21 = z.array(z.strictObject({ op: Op, path: Path, value: z.unknown().optional() })).max(MAX_OPS);
const V20 = z.array(z.union([
  z.strictObject({ add: Path, value: z.unknown() }),
  z.strictObject({ replace: Path, value: z.unknown() }),
  z.strictObject({ remove: Path }),
])).max(MAX_OPS);

export interface PatchOp {
  op: z.infer<typeof Op>;
  /** The field the path names, unescaped (~1 is /, ~0 is ~). */
  field: string;
  value?: unknown;
}

/** The operations of a PATCH body sent as `contentType`. */
export function patchOps(contentType: string | undefined, body: unknown): { ops: PatchOp[]; addIsStrict: boolean } {
  const type = (contentType ?? '').split(';')[0].trim().toLowerCase();
  if (type === PATCH_V21) {
    const ops = parseInput(V21, body, 'the JSON Patch list').map((o) => ({ op: o.op, field: fieldOf(o.path), value: o.value }));
    return { ops, addIsStrict: false };
  }
  if (type === PATCH_V20) {
    const ops = parseInput(V20, body, 'the JSON Patch list').map((o): PatchOp => {
      if ('add' in o) return { op: 'add', field: fieldOf(o.add), value: o.value };
      if ('replace' in o) return { op: 'replace', field: fieldOf(o.replace), value: o.value };
      return { op: 'remove', field: fieldOf(o.remove) };
    });
    return { ops, addIsStrict: true };
  }
  throw badRequest(`an image is patched with a JSON Patch list sent as ${PATCH_V21} (or ${PATCH_V20}), not ${type || 'no content type'}`);
}

function fieldOf(path: string): string {
  const parts = path.slice(1).split('/');
  const field = parts[0].replace(/~1/g, '/').replace(/~0/g, '~');
  if (field === 'locations') throw new ApiError('forbidden', 'image locations are not served: data is uploaded to the image service');
  if (parts.length > 1) throw badRequest(`path ${path} names a nested field: only top-level fields can be patched`);
  return field;
}

/** Applies `ops` in order to `fields`. */
export function applyPatch(fields: ImageFields, ops: PatchOp[], addIsStrict: boolean): void {
  for (const { op, field, value } of ops) {
    checkSettable(field);
    if (op === 'remove') {
      removeField(fields, field);
      continue;
    }
    if (value === undefined) throw badRequest(`${op} of ${field} needs a value`);
    // v2.0's add is only for what is not there yet (a core field always is); replace is only for what is.
    if (op === 'add' && addIsStrict && hasField(fields, field)) throw new ApiError('conflict', `property ${field} is already there: replace it`);
    if (op === 'replace' && !hasField(fields, field)) throw new ApiError('conflict', `property ${field} does not exist`);
    setField(fields, field, value);
  }
}
