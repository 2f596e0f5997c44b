// The SQLite datastore (WAL): every collection is a table of JSON records, loaded into the
// in-memory view at open. Changes are written behind: collected during one turn of the event loop
// and committed together in one transaction (a burst of a thousand changes is one commit, not a
// thousand). The loop only serialises a batch (at most MAX_PER_COMMIT changes or COMMIT_SLICE_MS of
// it); a worker thread with its own connection (sqlite-writer.mjs) commits it, so that SQLite's
// work does not hold the loop (docs/scale.md, "Fifth pass"). One batch is in flight at a time: the
// next is taken when the writer answers (COMMIT_GAP_MS later while there is a backlog), and a record
// changed again meanwhile is written once. close() waits for the writer and writes everything. A
// record is checked when it is put (memory-store.ts), so one bad value cannot fail the transaction
// that carries everyone else's writes; a commit that fails all the same (a full disk) is reported
// and tried again, never thrown into the event loop.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { MessageChannel, receiveMessageOnPort, Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { COLLECTIONS, type Datastore } from './datastore.ts';
import { createMemoryStore, MemoryCollection } from './memory-store.ts';

/** How long a failed commit waits before it is tried again. */
const RETRY_MS = 1000;
/** Changes per batch. A backlog waits for the next batches, where a record changed again
 *  meanwhile is written once. */
export const MAX_PER_COMMIT = 500;
/** And at most this long (ms) of serialising a batch in one turn. */
export const COMMIT_SLICE_MS = 8;
/** When the writer answers and a backlog is left, the next batch waits this long (ms): the loop
 *  has that long for requests and frames, and a record changed again meanwhile (an instance's
 *  start writes it 3–4 times) is written once (docs/scale.md, "Fourth pass"). */
export const COMMIT_GAP_MS = 8;
/** The writer's SQLite page cache (KiB; better-sqlite3's default is 16 000 per connection). Its
 *  thread costs the controller some 10 MB of memory; this smaller cache gives most of it back
 *  (docs/scale.md, "Fifth pass"). What a write misses in it, SQLite reads from the OS's page cache,
 *  in the writer's thread. */
export const WRITER_CACHE_KIB = 1000;
/** How long close() waits for each of the writer's answers. */
const CLOSE_WAIT_MS = 60_000;
const WRITER = join(import.meta.dirname, 'sqlite-writer.mjs');

type Change = { tenantId: string | null; record: object } | null;
type Taken = [name: string, id: string, change: Change][];

export interface SqliteStoreOptions {
  onError?: (err: Error) => void;
  commitSliceMs?: number;
  commitGapMs?: number;
  retryMs?: number;
  /** The writer's SQLite busy timeout (ms; SQLite's default otherwise). */
  busyTimeoutMs?: number;
  /** Called with the number of changes of each batch the writer committed. */
  onCommitted?: (changes: number) => void;
}

export function openSqliteStore(path: string, opts: SqliteStoreOptions = {}): Datastore {
  // Without its writer the store would answer every change and keep none (each commit failing and
  // tried again): a controller that cannot find it does not start.
  if (!existsSync(WRITER)) throw new Error(`the datastore's writer ${WRITER} is missing: nothing could be saved`);
  const onError = opts.onError ?? ((err) => console.error(`datastore ${path}: commit failed, will retry: ${err.message}`));
  const gapMs = opts.commitGapMs ?? COMMIT_GAP_MS;

  /** Pending changes per collection: the last record written for an id, or null for a delete. */
  const pending = new Map<string, Map<string, Change>>();
  const changesOf = (name: string) => {
    let changes = pending.get(name);
    if (!changes) pending.set(name, (changes = new Map()));
    return changes;
  };
  let scheduled = false;
  let closing = false;
  /** The batch the writer is committing. */
  let inFlight: { seq: number; taken: Taken } | undefined;
  let seq = 0;

  /** Takes pending changes, oldest first, until `max` are taken or the time is `until`: the
   *  writer's batch (flat: collection, id, tenant, JSON or null for a delete) and what it holds. */
  const take = (max: number, until: number) => {
    const batch: (string | null)[] = [];
    const taken: Taken = [];
    for (const [name, changes] of pending) {
      for (const [id, change] of changes) {
        // The clock is read every 16 changes.
        if (taken.length >= max || (taken.length % 16 === 0 && taken.length > 0 && performance.now() >= until)) return { batch, taken };
        taken.push([name, id, change]);
        changes.delete(id);
        batch.push(name, id, change ? change.tenantId : null, change ? JSON.stringify(change.record) : null);
      }
      pending.delete(name);
    }
    return { batch, taken };
  };
  /** Back in line, unless changed again meanwhile (the newer change is the one to write). */
  const putBack = (taken: Taken) => {
    for (const [name, id, change] of taken) {
      const changes = changesOf(name);
      if (!changes.has(id)) changes.set(id, change);
    }
  };

  const schedule = (afterBacklog = false) => {
    if (scheduled || inFlight || closing) return;
    scheduled = true;
    if (afterBacklog && gapMs > 0) setTimeout(flush, gapMs);
    else setImmediate(flush);
  };
  const flush = () => {
    scheduled = false;
    if (inFlight || closing || pending.size === 0) return;
    if (!writer) writer = startWriter();
    const { batch, taken } = take(MAX_PER_COMMIT, performance.now() + (opts.commitSliceMs ?? COMMIT_SLICE_MS));
    inFlight = { seq: ++seq, taken };
    // Kept alive while a batch is in flight, as a pending commit kept the loop before.
    writer.ref();
    writer.postMessage({ seq, batch });
  };
  const failed = (taken: Taken, err: Error) => {
    putBack(taken);
    onError(err);
    if (closing || scheduled) return;
    scheduled = true;
    setTimeout(flush, opts.retryMs ?? RETRY_MS).unref();
  };

  /** Counts the writer's answers to synchronous messages (close). */
  const signalBuffer = new SharedArrayBuffer(4);
  let writer: Worker | undefined;
  const startWriter = () => {
    // A young generation of 1 MB: the thread holds one batch at a time (≈ 0.5 MB of strings).
    const w = new Worker(WRITER, { resourceLimits: { maxYoungGenerationSizeMb: 1 }, workerData: { path, signal: signalBuffer, cacheKiB: WRITER_CACHE_KIB, busyTimeoutMs: opts.busyTimeoutMs } });
    let crash: Error | undefined;
    w.on('message', (msg: { seq: number; error?: string }) => {
      if (closing || !inFlight || msg.seq !== inFlight.seq) return;
      const { taken } = inFlight;
      inFlight = undefined;
      w.unref();
      if (msg.error !== undefined) return failed(taken, new Error(msg.error));
      opts.onCommitted?.(taken.length);
      if (pending.size > 0) schedule(true);
    });
    w.on('error', (err) => (crash = err));
    w.on('exit', (code) => {
      if (closing) return;
      // A writer that died (it never should): what it held goes back in line for a new one.
      writer = undefined;
      const taken = inFlight?.taken ?? [];
      inFlight = undefined;
      failed(taken, crash ?? new Error(`the SQLite writer exited with code ${code}`));
    });
    w.unref();
    return w;
  };

  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  for (const name of COLLECTIONS) db.exec(`CREATE TABLE IF NOT EXISTS ${name} (id TEXT PRIMARY KEY, tenant_id TEXT, data TEXT NOT NULL)`);
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
  // The writer has its own connection; this one was for the tables and the load.
  db.close();
  writer = startWriter();

  return {
    ...store,
    close: () => {
      if (closing) return;
      closing = true;
      // The batch in flight is written again after itself (the same values, unless changed since):
      // its answer is not read now, and a batch that failed must not be lost.
      if (inFlight) putBack(inFlight.taken);
      const w = writer ?? startWriter();
      const { port1, port2 } = new MessageChannel();
      w.postMessage({ syncPort: port2 }, [port2]);
      const signal = new Int32Array(signalBuffer);
      /** Sends a message and waits for the writer's answer: false when it did not come. */
      const call = (msg: object) => {
        const before = Atomics.load(signal, 0);
        w.postMessage(msg);
        if (Atomics.wait(signal, 0, before, CLOSE_WAIT_MS) === 'timed-out') {
          onError(new Error(`the SQLite writer did not answer in ${CLOSE_WAIT_MS} ms: changes not yet written are lost`));
          return false;
        }
        const answer = receiveMessageOnPort(port1)?.message as { error?: string } | undefined;
        if (answer?.error !== undefined) onError(new Error(`${answer.error}: changes not yet written are lost`));
        return true;
      };
      // The rest in batches (one at a time, as while running: not all of it serialised at once).
      let answered = true;
      while (answered && pending.size > 0) answered = call({ sync: true, batch: take(MAX_PER_COMMIT, Infinity).batch });
      if (answered) call({ sync: true, close: true });
      port1.close();
    },
  };
}
