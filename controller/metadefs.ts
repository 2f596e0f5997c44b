// Glance's metadata definitions catalogue (metadefs): namespaces of property, object and tag
// definitions, associated with resource types. As in Glance's default policy, anyone reads the
// public namespaces and their own project's private ones, and only an admin writes; nothing in a
// protected namespace can be deleted. Each namespace is one datastore record (its name is its id).
import { ApiError, badRequest, notFound } from '../shared/errors.ts';
import type { MetadefAssociation, MetadefNamespace, MetadefObject, MetadefProperty, MetadefTag } from './api-types.ts';
import type { Caller } from './auth.ts';
import { now } from './context.ts';
import type { Collection } from './datastore/datastore.ts';
import { MAX_PARTS, type AssociationInput, type NamespaceInput, type ObjectInput, type PropertyInput } from './metadef-bodies.ts';

/** The resource types Glance's catalogue ships with; an association may name a new one, which then
 *  lists too (as in Glance, which creates a resource type on its first association). */
export const KNOWN_RESOURCE_TYPES = [
  'OS::Glance::Image', 'OS::Cinder::Volume', 'OS::Nova::Flavor', 'OS::Nova::Aggregate', 'OS::Nova::Server',
  'OS::Trove::Instance', 'OS::Sahara::NodeGroupTemplate',
];
const CATALOGUE_DATE = '2014-08-28T17:13:06Z';

export interface NamespaceQuery {
  limit?: number;
  marker?: string;
  sort_key?: 'namespace' | 'created_at' | 'updated_at';
  sort_dir?: 'asc' | 'desc';
  visibility?: 'public' | 'private';
  resource_types?: string;
}

type Part = 'objects' | 'tags' | 'resource_type_associations';

export class Metadefs {
  constructor(private readonly store: Collection<MetadefNamespace>) {}

  /** The namespaces the caller sees, filtered, sorted and paged as Glance's list is. */
  list(c: Caller, q: NamespaceQuery): { namespaces: MetadefNamespace[]; next?: string } {
    const types = q.resource_types?.split(',').map((t) => t.trim()).filter(Boolean);
    const key = q.sort_key === 'namespace' ? 'id' : q.sort_key ?? 'created_at';
    const dir = q.sort_dir === 'asc' ? 1 : -1;
    const all = this.store.all()
      .filter((ns) => this.visible(c, ns) && (!q.visibility || ns.visibility === q.visibility))
      .filter((ns) => !types?.length || ns.resource_type_associations.some((a) => types.includes(a.name)))
      .sort((a, b) => dir * (a[key] < b[key] ? -1 : a[key] > b[key] ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    let start = 0;
    if (q.marker !== undefined) {
      start = all.findIndex((ns) => ns.id === q.marker) + 1;
      if (start === 0) throw badRequest(`marker ${q.marker} names no namespace you can see`);
    }
    const namespaces = all.slice(start, q.limit === undefined ? undefined : start + q.limit);
    const more = q.limit !== undefined && start + q.limit < all.length;
    return { namespaces, ...(more && namespaces.length ? { next: namespaces[namespaces.length - 1].id } : {}) };
  }

  get(c: Caller, name: string): MetadefNamespace {
    const ns = this.store.get(name);
    if (!ns || !this.visible(c, ns)) throw notFound('metadata definition namespace', name);
    return ns;
  }

  create(c: Caller, body: NamespaceInput): MetadefNamespace {
    this.mayWrite(c);
    if (this.store.get(body.namespace)) throw new ApiError('conflict', `a namespace named ${body.namespace} already exists`);
    const at = now();
    const ns: MetadefNamespace = {
      id: body.namespace, visibility: body.visibility ?? 'private', protected: body.protected ?? false,
      owner: body.owner ?? c.projectId ?? 'admin', created_at: at, updated_at: at,
      ...text(body), resource_type_associations: [], properties: {}, objects: [], tags: [],
    };
    for (const a of body.resource_type_associations ?? []) addUnique(ns.resource_type_associations, association(a, at), 'resource type association');
    for (const o of body.objects ?? []) addUnique(ns.objects, object(o, at), 'object');
    for (const t of body.tags ?? []) addUnique(ns.tags, { name: t.name, created_at: at, updated_at: at }, 'tag');
    ns.properties = { ...body.properties };
    this.store.put(ns);
    return ns;
  }

  /** Glance's PUT: the namespace's own fields as given (a rename included); its parts stay. */
  update(c: Caller, name: string, body: NamespaceInput): MetadefNamespace {
    const ns = this.writable(c, name);
    if (body.namespace !== ns.id && this.store.get(body.namespace)) throw new ApiError('conflict', `a namespace named ${body.namespace} already exists`);
    const { display_name: _d, description: _e, ...rest } = ns;
    const updated: MetadefNamespace = {
      ...rest, ...text(body), id: body.namespace, visibility: body.visibility ?? ns.visibility,
      protected: body.protected ?? ns.protected, owner: body.owner ?? ns.owner, updated_at: now(),
    };
    this.store.put(updated);
    if (updated.id !== ns.id) this.store.delete(ns.id);
    return updated;
  }

  delete(c: Caller, name: string): void {
    const ns = this.writable(c, name);
    if (ns.protected) throw new ApiError('forbidden', `namespace ${name} is protected: set protected to false before deleting it`);
    this.store.delete(ns.id);
  }

  // Parts kept in a list by name: objects, tags, resource type associations.

  part<P extends Part>(c: Caller, name: string, part: P, item: string): MetadefNamespace[P][number] {
    return this.find(this.get(c, name), part, item);
  }

  addObject(c: Caller, name: string, body: ObjectInput): MetadefObject {
    return this.change(c, name, (ns, at) => addUnique(ns.objects, object(body, at), 'object'));
  }

  updateObject(c: Caller, name: string, item: string, body: ObjectInput): MetadefObject {
    return this.change(c, name, (ns, at) => {
      const old = this.find(ns, 'objects', item);
      return replaceUnique(ns.objects, old, { ...object(body, at), created_at: old.created_at }, 'object');
    });
  }

  addTags(c: Caller, name: string, names: string[], append: boolean): MetadefTag[] {
    return this.change(c, name, (ns, at) => {
      if (!append) ns.tags = [];
      return names.map((t) => addUnique(ns.tags, { name: t, created_at: at, updated_at: at }, 'tag'));
    });
  }

  renameTag(c: Caller, name: string, item: string, to: string): MetadefTag {
    return this.change(c, name, (ns, at) => {
      const old = this.find(ns, 'tags', item);
      return replaceUnique(ns.tags, old, { name: to, created_at: old.created_at, updated_at: at }, 'tag');
    });
  }

  associate(c: Caller, name: string, body: AssociationInput): MetadefAssociation {
    return this.change(c, name, (ns, at) => addUnique(ns.resource_type_associations, association(body, at), 'resource type association'));
  }

  /** Deletes one part, or all of a kind (`item` undefined); never in a protected namespace. */
  removePart(c: Caller, name: string, part: Part | 'properties', item?: string): void {
    this.change(c, name, (ns) => {
      if (ns.protected) throw new ApiError('forbidden', `namespace ${name} is protected: nothing in it can be deleted`);
      if (part === 'properties') {
        if (item === undefined) ns.properties = {};
        else if (Object.hasOwn(ns.properties, item)) delete ns.properties[item];
        else throw notFound('property', item);
        return;
      }
      const list = ns[part] as { name: string }[];
      if (item !== undefined) list.splice(list.indexOf(this.find(ns, part, item)), 1);
      else list.length = 0;
    });
  }

  // Properties, kept in a map by name.

  property(c: Caller, name: string, prop: string): MetadefProperty {
    const ns = this.get(c, name);
    if (!Object.hasOwn(ns.properties, prop)) throw notFound('property', prop);
    return ns.properties[prop];
  }

  setProperty(c: Caller, name: string, prop: string | undefined, to: string, fields: PropertyInput): MetadefProperty {
    return this.change(c, name, (ns) => {
      if (prop !== undefined && !Object.hasOwn(ns.properties, prop)) throw notFound('property', prop);
      if (prop !== to && Object.hasOwn(ns.properties, to)) throw new ApiError('conflict', `namespace ${name} already has a property named ${to}`);
      if (prop === undefined && Object.keys(ns.properties).length >= MAX_PARTS) throw tooMany('properties');
      if (prop !== undefined && prop !== to) delete ns.properties[prop];
      ns.properties[to] = { ...fields };
      return ns.properties[to];
    });
  }

  /** Every resource type: Glance's catalogue and any named by an association. */
  resourceTypes(): { name: string; created_at: string; updated_at: string }[] {
    const types = new Map(KNOWN_RESOURCE_TYPES.map((name) => [name, CATALOGUE_DATE]));
    for (const ns of this.store.all()) {
      for (const a of ns.resource_type_associations) if (!types.has(a.name)) types.set(a.name, a.created_at);
    }
    return [...types].map(([name, at]) => ({ name, created_at: at, updated_at: at }));
  }

  private visible(c: Caller, ns: MetadefNamespace): boolean {
    return c.admin || ns.visibility === 'public' || ns.owner === c.projectId;
  }

  private mayWrite(c: Caller): void {
    if (!c.admin) throw new ApiError('not_admin', 'only an admin can change metadata definitions');
  }

  private writable(c: Caller, name: string): MetadefNamespace {
    this.mayWrite(c);
    return this.get(c, name);
  }

  /** Applies a change to a copy of the namespace and stores it only when the change succeeded. */
  private change<T>(c: Caller, name: string, apply: (ns: MetadefNamespace, at: string) => T): T {
    const ns = structuredClone(this.writable(c, name));
    const at = now();
    const result = apply(ns, at);
    ns.updated_at = at;
    this.store.put(ns);
    return result;
  }

  private find<P extends Part>(ns: MetadefNamespace, part: P, item: string): MetadefNamespace[P][number] {
    const found = (ns[part] as { name: string }[]).find((x) => x.name === item);
    if (!found) throw notFound(LABEL[part], item);
    return found as MetadefNamespace[P][number];
  }
}

const LABEL: Record<Part, string> = { objects: 'object', tags: 'tag', resource_type_associations: 'resource type association' };

const tooMany = (what: string) => new ApiError('too_large', `a namespace holds at most ${MAX_PARTS} ${what}`);

const text = (body: { display_name?: string; description?: string }) => ({
  ...(body.display_name !== undefined ? { display_name: body.display_name } : {}),
  ...(body.description !== undefined ? { description: body.description } : {}),
});

const object = (o: ObjectInput, at: string): MetadefObject => ({
  name: o.name, ...(o.description !== undefined ? { description: o.description } : {}),
  required: o.required ?? [], properties: { ...o.properties }, created_at: at, updated_at: at,
});

const association = (a: AssociationInput, at: string): MetadefAssociation => ({
  name: a.name, ...(a.prefix !== undefined ? { prefix: a.prefix } : {}),
  ...(a.properties_target !== undefined ? { properties_target: a.properties_target } : {}), created_at: at, updated_at: at,
});

function addUnique<T extends { name: string }>(list: T[], item: T, what: string): T {
  if (list.some((x) => x.name === item.name)) throw new ApiError('conflict', `the namespace already has a ${what} named ${item.name}`);
  if (list.length >= MAX_PARTS) throw tooMany(`${what}s`);
  list.push(item);
  return item;
}

function replaceUnique<T extends { name: string }>(list: T[], old: T, item: T, what: string): T {
  if (item.name !== old.name && list.some((x) => x.name === item.name)) throw new ApiError('conflict', `the namespace already has a ${what} named ${item.name}`);
  list[list.indexOf(old)] = item;
  return item;
}
