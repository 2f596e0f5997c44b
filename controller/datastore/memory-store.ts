// The in-memory datastore: maps with an index by tenant. Also the read side of the SQLite store.
import { COLLECTIONS, tenantOf, type Collection, type Datastore } from './datastore.ts';

export type PutHook = (id: string, tenantId: string | null, record: object | undefined) => void;

export class MemoryCollection<T extends { id: string }> implements Collection<T> {
  private readonly records = new Map<string, T>();
  private readonly index = new Map<string | null, Set<string>>();
  private loading = false;
  private readonly watchers: ((id: string, record: T | undefined) => void)[] = [];

  /** onWrite sees every put (record) and delete (undefined); the SQLite store writes through it. */
  constructor(private readonly onWrite?: PutHook) {}

  get size(): number {
    return this.records.size;
  }

  get(id: string): T | undefined {
    return this.records.get(id);
  }

  all(): T[] {
    return [...this.records.values()];
  }

  byTenant(tenantId: string | null): T[] {
    const ids = this.index.get(tenantId);
    return ids ? [...ids].map((id) => this.records.get(id)!) : [];
  }

  put(record: T): void {
    // Refused in the caller's turn, before anything changes, rather than later in a shared commit.
    const tenantId = tenantOf(record);
    if (typeof record.id !== 'string' || !record.id) throw new TypeError(`a record's id must be a non-empty string, not ${JSON.stringify(record.id)}`);
    if (tenantId !== null && typeof tenantId !== 'string') throw new TypeError(`record ${record.id}: tenant_id must be a string or null`);
    const old = this.records.get(record.id);
    this.records.set(record.id, record);
    const tenant = tenantOf(record);
    // Most puts change a record of the same tenant: its place in the index stays.
    if (!old || tenantOf(old) !== tenant) {
      if (old) this.index.get(tenantOf(old))?.delete(record.id);
      let ids = this.index.get(tenant);
      if (!ids) this.index.set(tenant, (ids = new Set()));
      ids.add(record.id);
    }
    if (!this.loading) this.onWrite?.(record.id, tenant, record);
    for (const w of this.watchers) w(record.id, record);
  }

  watch(listener: (id: string, record: T | undefined) => void): void {
    this.watchers.push(listener);
  }

  /** Fills the collection without writing through (loading from disk). */
  load(record: T): void {
    this.loading = true;
    try {
      this.put(record);
    } finally {
      this.loading = false;
    }
  }

  delete(id: string): boolean {
    if (!this.records.has(id)) return false;
    this.unindex(id);
    this.records.delete(id);
    this.onWrite?.(id, null, undefined);
    for (const w of this.watchers) w(id, undefined);
    return true;
  }

  private unindex(id: string) {
    const old = this.records.get(id);
    if (old) this.index.get(tenantOf(old))?.delete(id);
  }
}

export function createMemoryStore(hooks?: (name: string) => PutHook): Datastore {
  const store = Object.fromEntries(COLLECTIONS.map((name) => [name, new MemoryCollection(hooks?.(name))]));
  return { ...store, committed: () => undefined, saved: () => undefined, decideReported: () => {}, reported: <T>(what: () => T) => what(), close() {} } as unknown as Datastore;
}
