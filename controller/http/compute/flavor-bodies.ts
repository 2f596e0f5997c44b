// What the compute API's flavor writes accept (admin only): Nova's 2.1 schemas for a new flavor,
// its extra specs and its access list, with Nova's ranges; an unknown field is a 400, as in Nova.
import { z } from 'zod';
import { ServerName } from '../request-schemas.ts';

/** Nova's largest value of a flavor's integer fields (a signed 32-bit integer). */
const MAX_INT = 2 ** 31 - 1;
/** A whole number given as a number or as a string of digits (Nova takes both), within [min, MAX_INT]. */
const whole = (min: number) => z.union([z.int(), z.string().regex(/^\d{1,10}$/, 'must be a whole number').transform(Number)])
  .pipe(z.number().min(min, `must be at least ${min}`).max(MAX_INT, `must be at most ${MAX_INT}`));
/** Nova's boolean parameter: a JSON boolean or one of the strings oslo's bool_from_string knows. */
export const NovaBoolean = z.union([
  z.boolean(),
  z.enum(['True', 'TRUE', 'true', '1', 'ON', 'On', 'on', 'YES', 'Yes', 'yes', 'y', 't']).transform(() => true),
  z.enum(['False', 'FALSE', 'false', '0', 'OFF', 'Off', 'off', 'NO', 'No', 'no', 'n', 'f']).transform(() => false),
]);
/** A flavor id a client chooses: letters, digits, `.`, `_`, `-` and inner spaces (or an integer);
 *  not dots alone (`.` and `..` are not path segments a client can reach). */
const FlavorId = z.union([z.string(), z.int().min(0).transform(String)])
  .pipe(z.string().min(1).max(255).regex(/^(?! )(?!\.+$)[a-zA-Z0-9. _-]+(?<! )$/, 'must be letters, digits, ".", "_", "-" or inner spaces'));
/** Nova's 2.55 description: free text of up to 65535 characters, no control characters but newlines and tabs. */
export const FlavorDescription = z.string().max(65535).regex(/^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$/, 'must not hold control characters').nullable();

const newFlavorFields = {
  name: ServerName,
  id: FlavorId.nullish(),
  ram: whole(1),
  vcpus: whole(1),
  disk: whole(0),
  'OS-FLV-EXT-DATA:ephemeral': whole(0).optional(),
  swap: whole(0).optional(),
  rxtx_factor: z.union([z.number(), z.string().regex(/^\d{1,20}(\.\d{1,20})?$/, 'must be a number').transform(Number)])
    .pipe(z.number().gt(0, 'must be more than 0').max(3.40282e38)).optional(),
  'os-flavor-access:is_public': NovaBoolean.optional(),
};
export const NewFlavor = z.strictObject({ flavor: z.strictObject(newFlavorFields) });
/** From 2.55 a flavor also takes a description. */
export const NewFlavorV255 = z.strictObject({ flavor: z.strictObject({ ...newFlavorFields, description: FlavorDescription.optional() }) });
export const FlavorUpdate = z.strictObject({ flavor: z.strictObject({ description: FlavorDescription }) });
export type NewFlavorInput = z.output<typeof NewFlavorV255>['flavor'];

/** Extra specs: keys of letters, digits and `-_:. `, values up to 255 characters; at most this many on a flavor. */
export const MAX_EXTRA_SPECS = 128;
export const ExtraSpecKey = z.string().regex(/^[a-zA-Z0-9-_:. ]{1,255}$/, 'must be 1-255 letters, digits or "-_:. "')
  .refine((k) => k !== '__proto__', 'is reserved');
const ExtraSpecValue = z.union([z.string().max(255), z.number().transform(String), z.boolean().transform((b) => (b ? 'True' : 'False'))]);
const specMap = z.record(ExtraSpecKey, ExtraSpecValue)
  .refine((m) => Object.keys(m).length <= MAX_EXTRA_SPECS, `at most ${MAX_EXTRA_SPECS} extra specs`);
export const ExtraSpecs = z.strictObject({ extra_specs: specMap });
/** PUT /os-extra_specs/{key}: exactly the one key. */
export const OneExtraSpec = specMap.refine((m) => Object.keys(m).length === 1, 'must hold exactly one extra spec');

/** os-flavor-access actions on POST /flavors/{id}/action. */
const Tenant = z.strictObject({ tenant: z.string().regex(/^[a-zA-Z0-9_-]{1,255}$/, 'must be a project id') });
export const FlavorAccessAction = z.union([
  z.strictObject({ addTenantAccess: Tenant }),
  z.strictObject({ removeTenantAccess: Tenant }),
]);
