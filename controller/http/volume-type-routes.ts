// Block Storage v3: volume types and group types (docs/api.md), kept in the datastore. A volume
// type has extra specs that the one backend must satisfy (controller/volume-backend.ts) and, when
// private, the projects that may use it; a group type (3.11) has group specs. Both are made,
// changed and deleted by admins. The built-in default volume type is every older volume's type.
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { ApiError, badRequest, notFound } from '../../shared/errors.ts';
import { reply, Segment, type Request } from '../../shared/http-router.ts';
import type { Tenant, Volume, VolumeType } from '../api-types.ts';
import type { Caller } from '../auth.ts';
import type { Collection } from '../datastore/datastore.ts';
import type { Services } from '../services.ts';
import { requireVersion, type VolumeApi, type VolumeScope } from './volume-api.ts';

/** The type of volumes made without one, and of every volume made before types could be made. */
export const DEFAULT_TYPE: VolumeType = {
  id: '5f2b6d52-3c8e-4b8a-9a5e-2d0c1c7e0b11', name: '__DEFAULT__', is_public: true,
  description: 'qcow2 files in the cluster\'s volume store', extra_specs: {}, projects: [], created_at: '2023-09-20T00:00:00Z',
};

const Name = z.string().trim().min(1, 'a type needs a name').max(255);
const Description = z.string().max(255).nullish();
const PublicFlag = z.union([z.boolean(), z.enum(['true', 'false', 'True', 'False'])]).transform((v) => String(v).toLowerCase() === 'true');
const Specs = z.record(z.string().min(1).max(255), z.string().max(255)).refine((m) => Object.keys(m).length <= 128, 'at most 128 specs');
const NewTypeFields = z.object({ name: Name, description: Description, is_public: PublicFlag.optional(), 'os-volume-type-access:is_public': PublicFlag.optional() });
const TypeUpdateFields = z.object({ name: Name.optional(), description: Description, is_public: PublicFlag.optional() });
const Project = z.object({ project: z.string().min(1).max(255) });
const AccessAction = z.union([z.strictObject({ addProjectAccess: Project }), z.strictObject({ removeProjectAccess: Project })]);
const ListQuery = z.object({
  is_public: z.string().max(8).optional(),
  sort: z.string().regex(/^(name|id|created_at)(:(asc|desc))?$/, 'sort by name, id or created_at, :asc or :desc').optional(),
});

/** What differs between volume types and group types, as Cinder serves them. */
interface TypeKind {
  path: string; one: string; many: string; specs: 'extra_specs' | 'group_specs';
  /** The status of a create and of a specs write (Cinder: 200 for volume types, 202 for group types). */
  created: number;
  /** The microversion that added the API. */
  since: string;
  builtin?: VolumeType;
  collection: (s: Services) => Collection<VolumeType>;
  /** Why a type cannot be deleted now (a volume of it), if it cannot. */
  inUse: (s: Services, t: VolumeType) => string | undefined;
  /** Private types have access lists (volume types); the view names is_public twice. */
  access: boolean;
}

const VOLUME_TYPES: TypeKind = {
  path: 'types', one: 'volume_type', many: 'volume_types', specs: 'extra_specs', created: 200, since: '3.0', builtin: DEFAULT_TYPE,
  collection: (s) => s.store.volumeTypes, access: true,
  inUse: (s, t) => s.store.volumes.all().find((v) => v.volume_type_id === t.id)?.id,
};
const GROUP_TYPES: TypeKind = {
  path: 'group_types', one: 'group_type', many: 'group_types', specs: 'group_specs', created: 202, since: '3.11',
  collection: (s) => s.store.groupTypes, access: false, inUse: () => undefined,
};

/** The type a volume is of (one whose type record is gone is shown as the default). */
export const typeOfVolume = (s: Services, v: Volume): VolumeType =>
  (v.volume_type_id ? s.store.volumeTypes.get(v.volume_type_id) : undefined) ?? DEFAULT_TYPE;

const usableBy = (t: VolumeType, caller: Caller, tenant: Tenant) => t.is_public || caller.admin || t.projects.includes(tenant.id);

function findType(s: Services, kind: TypeKind, caller: Caller, tenant: Tenant, ref: string): VolumeType {
  const builtin = kind.builtin;
  if (builtin && (ref === 'default' || ref === builtin.id || ref === builtin.name)) return builtin;
  const all = kind.collection(s);
  const t = all.get(ref) ?? all.all().find((x) => x.name === ref);
  if (!t || !usableBy(t, caller, tenant)) throw notFound(kind.one.replace('_', ' '), ref);
  return t;
}

/** A volume type by id or name, as the caller may use it (Cinder answers 404 for a private type not shared). */
export const findVolumeType = (s: Services, caller: Caller, tenant: Tenant, ref: string) => findType(s, VOLUME_TYPES, caller, tenant, ref);

export function volumeTypeRoutes(api: VolumeApi, s: Services, prefix: string, scope: (req: Request) => Promise<VolumeScope>): void {
  typeRoutes(api, s, prefix, scope, VOLUME_TYPES);
  typeRoutes(api, s, prefix, scope, GROUP_TYPES);
}

function typeRoutes(api: VolumeApi, s: Services, prefix: string, scope: (req: Request) => Promise<VolumeScope>, kind: TypeKind): void {
  // Looked up per request: routes are registered before (and without) a datastore in the fuzzer's tables.
  const store = () => kind.collection(s);
  const what = kind.one.replace('_', ' ');
  const base = `${prefix}/${kind.path}`;
  const view = (t: VolumeType) => ({
    id: t.id, name: t.name, description: t.description, is_public: t.is_public,
    ...(kind.access ? { 'os-volume-type-access:is_public': t.is_public } : {}), [kind.specs]: t.extra_specs,
  });
  // The bodies name the kind (volume_type, group_specs…); what is inside is the same.
  const NewType = z.object({ [kind.one]: z.object({ ...NewTypeFields.shape, [kind.specs]: Specs.optional() }) });
  const TypeUpdate = z.object({ [kind.one]: TypeUpdateFields });
  const SpecsBody = z.object({ [kind.specs]: Specs });

  const caller = async (req: Request) => {
    requireVersion(req, kind.since, `${kind.path}`);
    return scope(req);
  };
  /** The path's type, for an admin; one to change must be one an admin made (the default type stays). */
  const managed = async (req: Request, change = true): Promise<VolumeType> => {
    const { caller: c, tenant } = await caller(req);
    const t = findType(s, kind, c, tenant, req.params.type);
    if (!c.admin) throw new ApiError('forbidden', `${what}s are managed by admins`);
    if (change && t === kind.builtin) throw badRequest(`the default ${what} cannot be changed or deleted`);
    return t;
  };
  const nameFree = (name: string, self?: string) => {
    if (name === kind.builtin?.name || store().all().some((t) => t.name === name && t.id !== self)) {
      throw new ApiError('conflict', `a ${what} named ${name} already exists`);
    }
  };
  const byType = { params: { type: Segment } };
  const bySpec = { params: { type: Segment, key: Segment } };

  api.on('GET', base, async (req) => {
    const { caller: c, tenant } = await caller(req);
    const q = req.queryOf(ListQuery);
    // Cinder's filter: public types by default; an admin may ask for private ones (false) or all (none).
    const wanted = (q.is_public ?? 'true').toLowerCase();
    const [key, dir] = (q.sort ?? 'created_at:asc').split(':') as ['name' | 'id' | 'created_at', string | undefined];
    const all = [...(kind.builtin ? [kind.builtin] : []), ...store().all()]
      .sort((a, b) => (dir === 'desc' ? -1 : 1) * a[key].localeCompare(b[key]));
    const types = c.admin
      ? all.filter((t) => wanted === 'none' || t.is_public === (wanted !== 'false'))
      : all.filter((t) => usableBy(t, c, tenant));
    return reply(200, { [kind.many]: types.map((t) => ({ ...view(t), ...(kind.access ? { qos_specs_id: null } : {}) })) });
  });
  api.on('GET', `${base}/:type`, async (req) => {
    const { caller: c, tenant } = await caller(req);
    return reply(200, { [kind.one]: { ...view(findType(s, kind, c, tenant, req.params.type)), ...(kind.access ? { qos_specs_id: null } : {}) } });
  }, byType);
  api.on('POST', base, async (req) => {
    const { caller: c } = await caller(req);
    if (!c.admin) throw new ApiError('forbidden', `${what}s are managed by admins`);
    const body = (await req.body(NewType))[kind.one] as z.output<typeof NewTypeFields> & Partial<Record<TypeKind['specs'], Record<string, string>>>;
    const b = { ...body, specs: body[kind.specs] };
    nameFree(b.name);
    const t: VolumeType = {
      id: randomUUID(), name: b.name, description: b.description ?? null, is_public: b['os-volume-type-access:is_public'] ?? b.is_public ?? true,
      extra_specs: b.specs ?? {}, projects: [], created_at: new Date().toISOString(),
    };
    store().put(t);
    return reply(kind.created, { [kind.one]: view(t) });
  });
  api.on('PUT', `${base}/:type`, async (req) => {
    const t = await managed(req);
    const b = (await req.body(TypeUpdate))[kind.one] as z.output<typeof TypeUpdateFields>;
    if (b.name === undefined && b.description === undefined && b.is_public === undefined) throw badRequest(`give the ${what} a new name, description or is_public`);
    if (b.name !== undefined) nameFree(b.name, t.id);
    const next: VolumeType = {
      ...t, ...(b.name !== undefined ? { name: b.name } : {}), ...(b.description !== undefined ? { description: b.description } : {}),
      ...(b.is_public !== undefined ? { is_public: b.is_public } : {}),
    };
    store().put(next);
    const { 'os-volume-type-access:is_public': _, ...shown } = view(next);
    return reply(200, { [kind.one]: shown });
  }, byType);
  api.on('DELETE', `${base}/:type`, async (req) => {
    const t = await managed(req);
    const user = kind.inUse(s, t);
    if (user) throw badRequest(`${what} ${t.name} is in use by volume ${user}`);
    store().delete(t.id);
    return reply(202);
  }, byType);

  // Specs: key/value pairs on a type, for admins to read and write.
  api.on('GET', `${base}/:type/${kind.specs}`, async (req) => reply(200, { [kind.specs]: (await managed(req, false)).extra_specs }), byType);
  api.on('POST', `${base}/:type/${kind.specs}`, async (req) => {
    const t = await managed(req);
    const add = (await req.body(SpecsBody))[kind.specs] as Record<string, string>;
    const next = { ...t.extra_specs, ...add };
    if (Object.keys(next).length > 128) throw badRequest(`a ${what} keeps at most 128 specs`);
    store().put({ ...t, extra_specs: next });
    return reply(kind.created, { [kind.specs]: add });
  }, byType);
  api.on('GET', `${base}/:type/${kind.specs}/:key`, async (req) => {
    const value = (await managed(req, false)).extra_specs[req.params.key];
    if (value === undefined) throw notFound(kind.specs.replace('_', ' '), req.params.key);
    return reply(200, { [req.params.key]: value });
  }, bySpec);
  api.on('PUT', `${base}/:type/${kind.specs}/:key`, async (req) => {
    const t = await managed(req);
    const spec = await req.body(Specs);
    const keys = Object.keys(spec);
    if (keys.length !== 1 || keys[0] !== req.params.key) throw badRequest(`the body must hold exactly the key of the path, ${req.params.key}`);
    store().put({ ...t, extra_specs: { ...t.extra_specs, ...spec } });
    return reply(200, spec);
  }, bySpec);
  api.on('DELETE', `${base}/:type/${kind.specs}/:key`, async (req) => {
    const t = await managed(req);
    const { [req.params.key]: gone, ...rest } = t.extra_specs;
    if (gone === undefined) throw notFound(kind.specs.replace('_', ' '), req.params.key);
    store().put({ ...t, extra_specs: rest });
    return reply(202);
  }, bySpec);
  if (kind.access) accessRoutes(api, base, store, managed);
}

/** The access list of a private volume type: the projects (besides admins) that may use it. */
function accessRoutes(api: VolumeApi, base: string, store: () => Collection<VolumeType>, managed: (req: Request) => Promise<VolumeType>): void {
  const byType = { params: { type: Segment } };
  api.on('GET', `${base}/:type/os-volume-type-access`, async (req) => {
    const t = await managed(req);
    if (t.is_public) throw notFound('access list', `of public volume type ${t.name}`);
    return reply(200, { volume_type_access: t.projects.map((project_id) => ({ volume_type_id: t.id, project_id })) });
  }, byType);
  api.on('POST', `${base}/:type/action`, async (req) => {
    const t = await managed(req);
    const action = await req.body(AccessAction);
    if (t.is_public) throw badRequest(`volume type ${t.name} is public: every project may use it`);
    if ('addProjectAccess' in action) {
      const { project } = action.addProjectAccess;
      if (t.projects.includes(project)) throw new ApiError('conflict', `project ${project} already has access to volume type ${t.name}`);
      store().put({ ...t, projects: [...t.projects, project] });
    } else {
      const { project } = action.removeProjectAccess;
      if (!t.projects.includes(project)) throw notFound('volume type access', `of project ${project} to ${t.name}`);
      store().put({ ...t, projects: t.projects.filter((p) => p !== project) });
    }
    return reply(202);
  }, byType);
}
