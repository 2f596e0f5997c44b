// The SQLite datastore (WAL): every collection is a table of JSON records, loaded into the
// in-memory view at open. Changes are written behind: collected during one turn of the event loop
// and committed together in one transaction (a burst of a thousand changes is one commit, not a
// thousand), and flushed at close. A record is checked when it is put (memory-store.ts), so one bad
// value cannot fail the transaction that carries everyone else's writes; a commit that fails all the same (a full
// disk) is reported and tried again, never thrown into the event loop.
import Database from 'better-sqlite3';
import { COLLECTIONS, type Datastore } from './datastore.ts';
import { createMemoryStore, MemoryCollection } from './memory-store.ts';

/** How long a failed commit waits before it is tried again. */
const RETRY_MS = 1000;

export function openSqliteStore(path: string, opts: { onError?: (err: Error) => void } = {}): Datastore {
  const onError = opts.onError ?? ((err) => console.error(`datastore ${path}: commit failed, will retry: ${err.message}`));
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  const writers = new Map<string, { put: Database.Statement; del: Database.Statement }>();
  for (const name of COLLECTIONS) {
    db.exec(`CREATE TABLE IF NOT EXISTS ${name} (id TEXT PRIMARY KEY, tenant_id TEXT, data TEXT NOT NULL)`);
    writers.set(name, {
      put: db.prepare(`INSERT OR REPLACE INTO ${name} (id, tenant_id, data) VALUES (?, ?, ?)`),
      del: db.prepare(`DELETE FROM ${name} WHERE id = ?`),
    });
  }

  /** Pending changes per collection: the last record written for an id, or null for a delete. */
  const pending = new Map<string, Map<string, { tenantId: string | null; record: object } | null>>();
  let scheduled = false;
  const commit = db.transaction(() => {
    for (const [name, changes] of pending) {
      const w = writers.get(name)!;
      for (const [id, change] of changes) {
        if (change) w.put.run(id, change.tenantId, JSON.stringify(change.record));
        else w.del.run(id);
      }
    }
  });
  const flush = () => {
    scheduled = false;
    if (pending.size === 0) return;
    try {
      commit();
      pending.clear();
    } catch (err) {
      onError(err as Error);
      scheduled = true;
      setTimeout(flush, RETRY_MS).unref();
    }
  };

  const store = createMemoryStore((name) => (id, tenantId, record) => {
    let changes = pending.get(name);
    if (!changes) pending.set(name, (changes = new Map()));
    changes.set(id, record ? { tenantId, record } : null);
    if (!scheduled) {
      scheduled = true;
      setImmediate(flush);
    }
  });
  for (const name of COLLECTIONS) {
    const collection = store[name] as unknown as MemoryCollection<{ id: string }>;
    for (const row of db.prepare(`SELECT data FROM ${name} ORDER BY rowid`).iterate() as Iterable<{ data: string }>) {
      collection.load(JSON.parse(row.data));
    }
  }
  return {
    ...store,
    close: () => {
      flush();
      db.close();
    },
  };
}
