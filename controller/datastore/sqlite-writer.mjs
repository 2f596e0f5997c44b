// The SQLite store's writer (sqlite-store.ts): a worker thread with its own connection, so that a
// commit's SQLite work does not hold the controller's event loop. Plain JavaScript, loaded from its
// source folder both under tsx and from the daemons' bundles.
//
// In:  { seq, batch }          batch = [collection, id, tenantId, json | null (a delete), …] flat
//      { syncPort }            where the answers to the synchronous messages go (close, below)
//      { sync, batch?, close? } answered on syncPort, then workerData.signal is incremented and
//                              notified: the store's close() waits on it with Atomics.wait. With
//                              `close` the connection is closed after the batch and the thread ends.
// Out: { seq, error? }         one per batch, in order: written, or not written at all (rolled back)
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';

/** The connection, opened at the first batch: one that cannot be opened (the folder is gone) is
 *  that batch's error, answered like any other, and is tried again with the next. */
let db;
const open = () => {
  if (db) return db;
  const d = new Database(workerData.path);
  d.pragma('journal_mode = WAL');
  d.pragma('synchronous = NORMAL');
  d.pragma(`cache_size = -${Number(workerData.cacheKiB)}`);
  if (workerData.busyTimeoutMs !== undefined) d.pragma(`busy_timeout = ${Number(workerData.busyTimeoutMs)}`);
  return (db = d);
};

/** @type {Map<string, { put: import('better-sqlite3').Statement, del: import('better-sqlite3').Statement }>} */
const writers = new Map();
const writerOf = (name) => {
  let w = writers.get(name);
  if (!w) {
    // The tables exist: the store created them before it started this thread. A put changes a row
    // in place (a REPLACE rewrote its table row and its id index for each write: docs/scale.md).
    w = {
      put: open().prepare(`INSERT INTO ${name} (id, tenant_id, data) VALUES (?, ?, ?) ON CONFLICT(id) DO UPDATE SET tenant_id = excluded.tenant_id, data = excluded.data`),
      del: open().prepare(`DELETE FROM ${name} WHERE id = ?`),
    };
    writers.set(name, w);
  }
  return w;
};

let write;
const writeBatch = (batch) => {
  for (let i = 0; i < batch.length; i += 4) {
    const w = writerOf(batch[i]);
    if (batch[i + 3] === null) w.del.run(batch[i + 1]);
    else w.put.run(batch[i + 1], batch[i + 2], batch[i + 3]);
  }
};

/** The batch's error message, or undefined once it is written. */
const commit = (batch) => {
  try {
    write ??= open().transaction(writeBatch);
    write(batch);
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
};

/** @type {import('node:worker_threads').MessagePort | undefined} */
let syncPort;
parentPort.on('message', (msg) => {
  if (msg.syncPort) {
    syncPort = msg.syncPort;
    return;
  }
  const error = msg.batch?.length ? commit(msg.batch) : undefined;
  if (msg.close) db?.close();
  if (!msg.sync) {
    parentPort.postMessage({ seq: msg.seq, error });
    return;
  }
  syncPort.postMessage({ error });
  const signal = new Int32Array(workerData.signal);
  Atomics.add(signal, 0, 1);
  Atomics.notify(signal, 0);
  if (msg.close) {
    syncPort.close();
    parentPort.close();
  }
});
