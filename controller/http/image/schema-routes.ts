// /image/v2/schemas/*: the JSON schemas of what this image service keeps and accepts (Glance
// publishes its own the same way; clients such as Tempest and glanceclient read them).
import { reply, type Router } from '../../../shared/http-router.ts';
import { CONTAINER_FORMATS, DISK_FORMATS, MAX_TAGS, READ_ONLY, VISIBILITIES } from '../../image-fields.ts';

const text = (description: string, extra: object = {}) => ({ type: 'string', description, ...extra });
const nullable = (type: string) => ({ type: [type, 'null'] });
const readOnly = (schema: object) => ({ ...schema, readOnly: true });
const DATE = { type: 'string', format: 'date-time' };

const IMAGE = {
  name: 'image',
  properties: {
    id: readOnly(text('An identifier for the image', { pattern: '^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$' })),
    name: { ...nullable('string'), maxLength: 255, description: 'Descriptive name for the image' },
    status: readOnly({ type: 'string', enum: ['queued', 'saving', 'active', 'deactivated'], description: 'Status of the image' }),
    visibility: { type: 'string', enum: VISIBILITIES, description: 'Scope of image accessibility' },
    protected: { type: 'boolean', description: 'If true, image will not be deletable.' },
    os_hidden: { type: 'boolean', description: 'If true, image will not appear in default image list response.' },
    owner: { ...nullable('string'), maxLength: 255, description: 'Owner of the image' },
    checksum: readOnly({ ...nullable('string'), maxLength: 32, description: 'md5 hash of image contents.' }),
    os_hash_algo: readOnly(nullable('string')),
    os_hash_value: readOnly(nullable('string')),
    size: readOnly({ ...nullable('integer'), description: 'Size of image file in bytes' }),
    virtual_size: readOnly({ ...nullable('integer'), description: 'Virtual size of image in bytes' }),
    container_format: { ...nullable('string'), enum: [...CONTAINER_FORMATS, null], description: 'Format of the container' },
    disk_format: { ...nullable('string'), enum: [...DISK_FORMATS, null], description: 'Format of the disk' },
    created_at: readOnly({ ...DATE, description: 'Date and time of image registration' }),
    updated_at: readOnly({ ...DATE, description: 'Date and time of the last image modification' }),
    tags: { type: 'array', items: { type: 'string', maxLength: 255 }, maxItems: MAX_TAGS, description: 'List of strings related to the image' },
    min_ram: { type: 'integer', minimum: 0, description: 'Amount of ram (in MB) required to boot image.' },
    min_disk: { type: 'integer', minimum: 0, description: 'Amount of disk space (in GB) required to boot image.' },
    self: readOnly({ type: 'string' }),
    file: readOnly({ type: 'string' }),
    schema: readOnly({ type: 'string' }),
  },
  additionalProperties: { type: 'string' },
  readOnlyProperties: READ_ONLY,
  links: [
    { rel: 'self', href: '{self}' },
    { rel: 'enclosure', href: '{file}' },
    { rel: 'describedby', href: '{schema}' },
  ],
};

const collection = (name: string, key: string, item: object, extra: object = {}) => ({
  name,
  properties: { [key]: { type: 'array', items: item }, schema: { type: 'string' }, ...extra },
  links: [{ rel: 'describedby', href: '{schema}' }],
});

const MEMBER = {
  name: 'member',
  properties: {
    member_id: text('An identifier for the image member (tenantId)'),
    image_id: text('An identifier for the image'),
    status: { type: 'string', enum: ['pending', 'accepted', 'rejected'], description: 'The status of this image member' },
    created_at: { ...DATE, description: 'Date and time of image member creation' },
    updated_at: { ...DATE, description: 'Date and time of last modification of image member' },
    schema: readOnly({ type: 'string' }),
  },
};

const SCHEMAS: Record<string, object> = {
  image: IMAGE,
  images: collection('images', 'images', IMAGE, { first: { type: 'string' }, next: { type: 'string' } }),
  member: MEMBER,
  members: collection('members', 'members', MEMBER),
};

export function imageSchemaRoutes(router: Router): void {
  for (const [name, schema] of Object.entries(SCHEMAS)) router.on('GET', `/image/v2/schemas/${name}`, async () => reply(200, schema));
}
