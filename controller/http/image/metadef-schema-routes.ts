// /image/v2/schemas/metadefs/*: the JSON schemas of the metadata definitions catalogue, as Glance
// publishes them (clients read them to know the fields; controller/metadef-bodies.ts enforces them).
import { reply, type Router } from '../../../shared/http-router.ts';
import { MAX_PARTS } from '../../metadef-bodies.ts';

const name = { type: 'string', maxLength: 80 };
const DATE = { type: 'string', format: 'date-time', readOnly: true };
const stamps = { created_at: DATE, updated_at: DATE };
const scalarList = { type: 'array', items: { type: ['string', 'number', 'boolean', 'null'] }, maxItems: MAX_PARTS };
const count = { type: 'integer', minimum: 0 };
const TYPES = ['array', 'boolean', 'integer', 'number', 'object', 'string', null];

const PROPERTY_FIELDS = {
  title: { type: 'string', maxLength: 255 },
  type: { type: ['string', 'null'], enum: TYPES },
  description: { type: 'string', maxLength: 2000 },
  default: { type: ['string', 'number', 'boolean', 'array'] },
  enum: scalarList,
  minimum: { type: 'number' }, maximum: { type: 'number' },
  minLength: count, maxLength: count, pattern: { type: 'string', format: 'regex' },
  items: { type: 'object', properties: { type: { type: ['string', 'null'], enum: TYPES }, enum: scalarList } },
  uniqueItems: { type: 'boolean', default: false }, minItems: count, maxItems: count, additionalItems: { type: 'boolean' },
  readonly: { type: 'boolean' }, operators: { type: 'array', items: { type: 'string' } },
};
const propertyMap = { type: 'object', additionalProperties: { type: 'object', required: ['title', 'type'], properties: PROPERTY_FIELDS }, maxProperties: MAX_PARTS };

const PROPERTY = { name: 'property', required: ['name', 'title', 'type'], properties: { name, ...PROPERTY_FIELDS }, additionalProperties: false };
const OBJECT = {
  name: 'object', required: ['name'], additionalProperties: false,
  properties: {
    name, description: { type: 'string', maxLength: 2000 }, required: { type: 'array', items: name },
    properties: propertyMap, schema: { type: 'string', readOnly: true }, self: { type: 'string', readOnly: true }, ...stamps,
  },
  links: [{ rel: 'self', href: '{self}' }, { rel: 'describedby', href: '{schema}' }],
};
const TAG = { name: 'tag', required: ['name'], additionalProperties: false, properties: { name, ...stamps } };
const ASSOCIATION = {
  name: 'resource_type_association', required: ['name'], additionalProperties: false,
  properties: { name, prefix: { type: 'string', maxLength: 80 }, properties_target: { type: 'string', maxLength: 80 }, ...stamps },
};
const NAMESPACE = {
  name: 'namespace', required: ['namespace'], additionalProperties: false,
  properties: {
    namespace: name, display_name: { type: 'string', maxLength: 80 }, description: { type: 'string', maxLength: 500 },
    visibility: { type: 'string', enum: ['public', 'private'] }, protected: { type: 'boolean' }, owner: { type: 'string', maxLength: 255 },
    resource_type_associations: { type: 'array', items: ASSOCIATION }, properties: propertyMap,
    objects: { type: 'array', items: OBJECT }, tags: { type: 'array', items: TAG },
    schema: { type: 'string', readOnly: true }, self: { type: 'string', readOnly: true }, ...stamps,
  },
  links: [{ rel: 'self', href: '{self}' }, { rel: 'describedby', href: '{schema}' }],
};

const collection = (title: string, key: string, item: object, extra: object = {}) => ({
  name: title,
  properties: { [key]: { type: 'array', items: item }, schema: { type: 'string' }, ...extra },
  links: [{ rel: 'describedby', href: '{schema}' }],
});
const paged = { first: { type: 'string' }, next: { type: 'string' } };

const SCHEMAS: Record<string, object> = {
  namespace: NAMESPACE,
  namespaces: collection('namespaces', 'namespaces', NAMESPACE, paged),
  resource_type: ASSOCIATION,
  resource_types: collection('resource_type_associations', 'resource_type_associations', ASSOCIATION),
  object: OBJECT,
  objects: collection('objects', 'objects', OBJECT, paged),
  property: PROPERTY,
  properties: { name: 'properties', properties: { properties: propertyMap, schema: { type: 'string' } }, links: [{ rel: 'describedby', href: '{schema}' }] },
  tag: TAG,
  tags: collection('tags', 'tags', TAG, paged),
};

export function metadefSchemaRoutes(router: Router): void {
  for (const [key, schema] of Object.entries(SCHEMAS)) router.on('GET', `/image/v2/schemas/metadefs/${key}`, async () => reply(200, schema));
}
