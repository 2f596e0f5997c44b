// The SQLite datastore (WAL): every collection is a table of JSON records, loaded into the
// in-memory view at open and written through on every change, so reads never touch the disk.
import Database from 'better-sqlite3';
import { COLLECTIONS, type Datastore } from './datastore.ts';
import { createMemoryStore, MemoryCollection } from './memory-store.ts';

export function openSqliteStore(path: string): Datastore {
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
  const store = createMemoryStore((name) => {
    const w = writers.get(name)!;
    return (id, tenantId, record) => {
      if (record) w.put.run(id, tenantId, JSON.stringify(record));
      else w.del.run(id);
    };
  });
  for (const name of COLLECTIONS) {
    const collection = store[name] as unknown as MemoryCollection<{ id: string }>;
    for (const row of db.prepare(`SELECT data FROM ${name} ORDER BY rowid`).iterate() as Iterable<{ data: string }>) {
      collection.load(JSON.parse(row.data));
    }
  }
  return { ...store, close: () => db.close() };
}
