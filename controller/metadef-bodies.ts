// What a metadata definitions request may carry (Glance's metadefs, controller/metadefs.ts): the
// names, sizes and shapes Glance's own schemas allow, and no deeper JSON than a property needs.
import { z } from 'zod';

/** Glance keeps namespace, object, property, tag and resource type names in 80 characters. */
export const MetadefName = z.string().min(1).max(80).regex(/^[^\x00-\x1f\x7f/]+$/, 'must hold no control character or /');
/** How many objects, properties, tags or associations one namespace (or object) may hold. */
export const MAX_PARTS = 256;

const Scalar = z.union([z.string().max(255), z.number(), z.boolean()]);
const Count = z.number().int().min(0).max(2 ** 31 - 1);
const PropertyType = z.enum(['array', 'boolean', 'integer', 'number', 'object', 'string']).nullable();

/** A property's definition: a flat subset of JSON schema, each constraint a scalar or a list of scalars. */
export const PropertyFields = z.object({
  title: z.string().min(1).max(255),
  type: PropertyType,
  description: z.string().max(2000).optional(),
  default: z.union([Scalar, z.array(Scalar).max(MAX_PARTS)]).optional(),
  enum: z.array(Scalar.nullable()).max(MAX_PARTS).optional(),
  minimum: z.number().optional(),
  maximum: z.number().optional(),
  minLength: Count.optional(),
  maxLength: Count.optional(),
  pattern: z.string().max(255).optional(),
  items: z.object({ type: PropertyType.optional(), enum: z.array(Scalar.nullable()).max(MAX_PARTS).optional() }).strict().optional(),
  uniqueItems: z.boolean().optional(),
  minItems: Count.optional(),
  maxItems: Count.optional(),
  additionalItems: z.boolean().optional(),
  readonly: z.boolean().optional(),
  operators: z.array(z.string().max(255)).max(20).optional(),
}).strict();

const propertyMap = z.record(MetadefName, PropertyFields)
  .refine((m) => Object.keys(m).length <= MAX_PARTS, `at most ${MAX_PARTS} properties`);

export const PropertyBody = PropertyFields.extend({ name: MetadefName }).strict();

/** What a client may send back of a record it read: accepted and ignored. */
const readOnly = { created_at: z.string().optional(), updated_at: z.string().optional(), schema: z.string().optional(), self: z.string().optional() };

export const ObjectBody = z.object({
  name: MetadefName,
  description: z.string().max(2000).optional(),
  required: z.array(MetadefName).max(MAX_PARTS).optional(),
  properties: propertyMap.optional(),
  ...readOnly,
}).strict();

export const TagBody = z.object({ name: MetadefName, ...readOnly }).strict();
export const TagsBody = z.object({ tags: z.array(TagBody).max(MAX_PARTS) }).strict();

export const AssociationBody = z.object({
  name: MetadefName,
  prefix: z.string().max(80).regex(/^[^\x00-\x1f\x7f]*$/).optional(),
  properties_target: z.string().max(80).regex(/^[^\x00-\x1f\x7f]*$/).optional(),
  ...readOnly,
}).strict();

export const NamespaceBody = z.object({
  namespace: MetadefName,
  display_name: z.string().max(80).optional(),
  description: z.string().max(500).optional(),
  visibility: z.enum(['public', 'private']).optional(),
  protected: z.boolean().optional(),
  owner: z.string().min(1).max(255).regex(/^[^\x00-\x1f\x7f/]+$/).optional(),
  resource_type_associations: z.array(AssociationBody).max(MAX_PARTS).optional(),
  properties: propertyMap.optional(),
  objects: z.array(ObjectBody).max(MAX_PARTS).optional(),
  tags: z.array(TagBody).max(MAX_PARTS).optional(),
  ...readOnly,
}).strict();

export const NamespaceListQuery = z.object({
  limit: z.coerce.number().int().min(0).max(1000).optional(),
  marker: MetadefName.optional(),
  sort_key: z.enum(['namespace', 'created_at', 'updated_at']).optional(),
  sort_dir: z.enum(['asc', 'desc']).optional(),
  visibility: z.enum(['public', 'private']).optional(),
  resource_types: z.string().max(1000).optional(),
});

export type PropertyInput = z.output<typeof PropertyFields>;
export type NamespaceInput = z.output<typeof NamespaceBody>;
export type ObjectInput = z.output<typeof ObjectBody>;
export type AssociationInput = z.output<typeof AssociationBody>;
