// The SQLite datastore (WAL): every collection is a table of JSON records, loaded into the
// in-memory view at open. Changes are written behind: collected during one turn of the event loop
// and committed together in one transaction (a burst of a thousand changes is one commit, not a
// thousand), at most MAX_PER_COMMIT a turn so that a request waits for one bounded commit, not for
// a burst's whole backlog (docs/scale.md); a backlog goes on COMMIT_GAP_MS later, and all is flushed at close. A record is checked when it is put (memory-store.ts), so one bad
// value cannot fail the transaction that carries everyone else's writes; a commit that fails all the same (a full
// disk) is reported and tried again, never thrown into the event loop.
import Database from 'better-sqlite3';
import { COLLECTIONS, type Datastore } from './datastore.ts';
import { createMemoryStore, MemoryCollection } from './memory-store.ts';

/** How long a failed commit waits before it is tried again. */
const RETRY_MS = 1000;
/** Changes per commit (one event-loop turn each): ≈ 10 ms on a loaded 2-core machine. A backlog
 *  waits for the next turns, where a record changed again meanwhile is written once. */
export const MAX_PER_COMMIT = 500;
/** And at most this long (ms) a turn: at 100 000 instances 500 changes took 15–30 ms, and a
 *  request that came meanwhile waited that long. */
export const COMMIT_SLICE_MS = 8;
/** When a commit leaves a backlog, the next one waits this long (ms), not just for the next turn:
 *  between two commits of a backlog the loop has at least this long for requests and frames, and
 *  a record changed again meanwhile (an instance's start writes it 3–4 times) is written once
 *  (docs/scale.md, "Fourth pass"). */
export const COMMIT_GAP_MS = 8;

type Change = { tenantId: string | null; record: object } | null;

export function openSqliteStore(path: string, opts: { onError?: (err: Error) => void; commitSliceMs?: number; commitGapMs?: number } = {}): Datastore {
  const onError = opts.onError ?? ((err) => console.error(`datastore ${path}: commit failed, will retry: ${err.message}`));
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  const writers = new Map<string, { put: Database.Statement; del: Database.Statement }>();
  for (const name of COLLECTIONS) {
    db.exec(`CREATE TABLE IF NOT EXISTS ${name} (id TEXT PRIMARY KEY, tenant_id TEXT, data TEXT NOT NULL)`);
    writers.set(name, {
      // Changed in place: a REPLACE deleted the row and inserted it again, both its table and its
      // id index rewritten for each of the 3–4 writes of an instance's start (docs/scale.md).
      put: db.prepare(`INSERT INTO ${name} (id, tenant_id, data) VALUES (?, ?, ?) ON CONFLICT(id) DO UPDATE SET tenant_id = excluded.tenant_id, data = excluded.data`),
      del: db.prepare(`DELETE FROM ${name} WHERE id = ?`),
    });
  }

  /** Pending changes per collection: the last record written for an id, or null for a delete. */
  const pending = new Map<string, Map<string, Change>>();
  let scheduled = false;
  /** The changes the commit under way took out of `pending` (put back if it fails). */
  let taken: [string, string, Change][] = [];
  /** Writes pending changes, oldest first, until `max` are written or the time is `until`. */
  const commit = db.transaction((max: number, until: number) => {
    for (const [name, changes] of pending) {
      const w = writers.get(name)!;
      for (const [id, change] of changes) {
        // The clock is read every 16 rows: one row costs some 10–30 µs here.
        if (taken.length >= max || (taken.length % 16 === 0 && taken.length > 0 && performance.now() >= until)) return;
        taken.push([name, id, change]);
        changes.delete(id);
        if (change) w.put.run(id, change.tenantId, JSON.stringify(change.record));
        else w.del.run(id);
      }
      pending.delete(name);
    }
  });
  const gapMs = opts.commitGapMs ?? COMMIT_GAP_MS;
  const schedule = (afterBacklog = false) => {
    if (scheduled) return;
    scheduled = true;
    if (afterBacklog && gapMs > 0) setTimeout(flush, gapMs);
    else setImmediate(flush);
  };
  const flush = (max = MAX_PER_COMMIT, sliceMs = opts.commitSliceMs ?? COMMIT_SLICE_MS) => {
    scheduled = false;
    if (pending.size === 0) return;
    taken = [];
    try {
      commit(max, performance.now() + sliceMs);
    } catch (err) {
      // Back in line (nothing was written meanwhile: the commit is synchronous).
      for (const [name, id, change] of taken) changesOf(name).set(id, change);
      onError(err as Error);
      scheduled = true;
      setTimeout(flush, RETRY_MS).unref();
      return;
    } finally {
      taken = [];
    }
    if (pending.size > 0) schedule(true);
  };
  const changesOf = (name: string) => {
    let changes = pending.get(name);
    if (!changes) pending.set(name, (changes = new Map()));
    return changes;
  };

  const store = createMemoryStore((name) => (id, tenantId, record) => {
    changesOf(name).set(id, record ? { tenantId, record } : null);
    schedule();
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
      flush(Infinity, Infinity);
      db.close();
    },
  };
}
