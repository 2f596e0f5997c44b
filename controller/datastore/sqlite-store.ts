// The SQLite datastore (WAL): every collection is a table of JSON records, loaded into the
// in-memory view at open. Changes are written behind: collected during one turn of the event loop
// and committed together in one transaction (a burst of a thousand changes is one commit, not a
// thousand). The loop only serialises a batch (at most MAX_PER_COMMIT changes or COMMIT_SLICE_MS of
// it); a worker thread with its own connection (sqlite-writer.mjs) commits it, so that SQLite's
// work does not hold the loop (docs/scale.md, "Fifth pass"). One batch is in flight at a time: the
// next is taken when the writer answers (COMMIT_GAP_MS later while there is a backlog), and a record
// changed again meanwhile is written once. Decisions go first, in batches of their own, then
// reports (what nodes said, made in reported()); committed() tells when the decisions made so far
// are saved, and answers and frames wait for it (docs/durability.md). close() waits for the writer and writes
// everything. A record is checked when it is put (memory-store.ts), so one bad value cannot fail
// the transaction that carries everyone else's writes; a commit that fails all the same (a full
// disk) is reported and tried again, never thrown into the event loop.
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

/** A record's pending change (record null: a delete). `first` numbers the oldest change to it
 *  not yet saved: a record changed again keeps its place in line and its number. */
type Change = { name: string; id: string; tenantId: string | null; record: object | null; first: number };

/** Pending changes of one kind (decisions, reports: docs/durability.md), per collection, each
 *  collection's in the order of their `first`. */
class Line {
  private byCollection = new Map<string, Map<string, Change>>();

  get empty(): boolean {
    return this.byCollection.size === 0;
  }

  get(name: string, id: string): Change | undefined {
    return this.byCollection.get(name)?.get(id);
  }

  /** A record's new value: in the place of its pending change, else at the end of the line. */
  set(change: Change): void {
    let changes = this.byCollection.get(change.name);
    if (!changes) this.byCollection.set(change.name, (changes = new Map()));
    const pending = changes.get(change.id);
    if (!pending) return void changes.set(change.id, change);
    pending.tenantId = change.tenantId;
    pending.record = change.record;
  }

  remove(name: string, id: string): void {
    const changes = this.byCollection.get(name);
    if (changes?.delete(id) && changes.size === 0) this.byCollection.delete(name);
  }

  /** The number of the oldest pending change. */
  oldest(): number {
    let oldest = Infinity;
    for (const changes of this.byCollection.values()) oldest = Math.min(oldest, changes.values().next().value!.first);
    return oldest;
  }

  /** Moves changes into `out`, a collection's oldest first, until `full()`. */
  takeInto(out: { batch: (string | null)[]; taken: Taken }, full: () => boolean): void {
    for (const [name, changes] of this.byCollection) {
      for (const [id, change] of changes) {
        if (full()) return;
        out.taken.push([this, change]);
        changes.delete(id);
        out.batch.push(name, id, change.tenantId, change.record ? JSON.stringify(change.record) : null);
      }
      this.byCollection.delete(name);
    }
  }

  /** Changes taken and not written, back in line before the rest (they are older). */
  putBack(back: Change[]): void {
    const rest = this.byCollection;
    this.byCollection = new Map();
    for (const change of back) this.set(change);
    for (const changes of rest.values()) for (const change of changes.values()) this.set(change);
  }
}
type Taken = [line: Line, change: Change][];

/** The SQLite store; `abandon` is for tests that crash a controller. */
export interface SqliteStore extends Datastore {
  /** Ends as a killed process does: the writer stops where it is (a batch it is committing is
   *  committed or not, whole), and what is not committed is lost. */
  abandon(): Promise<void>;
}

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

export function openSqliteStore(path: string, opts: SqliteStoreOptions = {}): SqliteStore {
  // Without its writer the store would answer every change and keep none (each commit failing and
  // tried again): a controller that cannot find it does not start.
  if (!existsSync(WRITER)) throw new Error(`the datastore's writer ${WRITER} is missing: nothing could be saved`);
  const onError = opts.onError ?? ((err) => console.error(`datastore ${path}: commit failed, will retry: ${err.message}`));
  const gapMs = opts.commitGapMs ?? COMMIT_GAP_MS;

  /** What was decided (a request, a command: answers and frames wait for it) and what was
   *  reported (by nodes, through reported(): no one waits for it), not yet written. A record
   *  pending in both is one decision: its last value, at the decision's place. */
  const decisions = new Line();
  const reports = new Line();
  /** Inside reported(): the changes made so far there that went to the reports line, or
   *  'decided' once decideReported() made them decisions (as are the rest of that call's). */
  let reporting: Change[] | 'decided' | undefined;
  const anyPending = () => !decisions.empty || !reports.empty;
  /** Changes made so far: the number of the last one. */
  let made = 0;
  /** Who waits for the decisions up to `upTo` to be saved (committed()), in the order they asked. */
  let waiters: { upTo: number; resolve: () => void }[] = [];
  /** Who waits for every change up to `upTo`, reports included (saved()). */
  let allWaiters: { upTo: number; resolve: () => void }[] = [];
  /** Reports made decisions (a record reported, then decided about; a report handler that told
   *  someone) take a new number at the end of the decisions' line: the oldest number they had as
   *  reports (`before`) stays unsaved for saved() until the decisions up to `until` are saved. */
  let promoted: { before: number; until: number } | undefined;
  const promote = (report: Change, decision: Change) => {
    reports.remove(report.name, report.id);
    decisions.set(decision);
    promoted = { before: Math.min(promoted?.before ?? Infinity, report.first), until: decision.first };
  };
  let scheduled = false;
  let closing = false;
  /** The batch the writer is committing, and the numbers of its oldest decision and oldest change. */
  let inFlight: { seq: number; taken: Taken; oldestDecision: number; oldest: number } | undefined;
  let seq = 0;

  /** Takes pending changes, decisions first, each oldest first, until `max` are taken or the time
   *  is `until`: the writer's batch (flat: collection, id, tenant, JSON or null for a delete) and
   *  what it holds. */
  const take = (max: number, until: number) => {
    const out = { batch: [] as (string | null)[], taken: [] as Taken };
    // The clock is read every 16 changes.
    const full = () => out.taken.length >= max || (out.taken.length % 16 === 0 && out.taken.length > 0 && performance.now() >= until);
    // Decisions alone when there are any: someone waits for them, and a smaller batch commits sooner.
    if (decisions.empty) reports.takeInto(out, full);
    else decisions.takeInto(out, full);
    return out;
  };
  /** Back in line, a batch not written; a record changed again meanwhile is one change: its newer
   *  value, at the older change's place, a decision if either was one. */
  const putBack = (taken: Taken) => {
    const back = new Map<Line, Change[]>([[decisions, []], [reports, []]]);
    for (const [line, change] of taken) {
      const decided = decisions.get(change.name, change.id);
      if (line === reports && decided) continue; // the pending decision holds the newer value
      const newer = decided ?? reports.get(change.name, change.id);
      if (line === decisions) reports.remove(change.name, change.id);
      back.get(line)!.push(newer ? { ...newer, first: change.first } : change);
    }
    for (const [line, changes] of back) line.putBack(changes);
  };
  /** Resolves the waiters (in the order they asked) for changes all older than `unsaved`, and
   *  returns those left. */
  const resolveBefore = (list: { upTo: number; resolve: () => void }[], unsaved: number) => {
    let n = 0;
    while (n < list.length && list[n].upTo < unsaved) list[n++].resolve();
    return n > 0 ? list.slice(n) : list;
  };
  /** Tells those who wait for changes now saved: all older than the oldest unsaved one. */
  const settle = () => {
    const decisionsUnsaved = Math.min(inFlight?.oldestDecision ?? Infinity, decisions.oldest());
    waiters = resolveBefore(waiters, decisionsUnsaved);
    if (promoted && decisionsUnsaved > promoted.until) promoted = undefined;
    if (allWaiters.length > 0) allWaiters = resolveBefore(allWaiters, Math.min(decisionsUnsaved, inFlight?.oldest ?? Infinity, reports.oldest(), promoted?.before ?? Infinity));
  };

  const schedule = (afterBacklog = false) => {
    if (scheduled || inFlight || closing) return;
    scheduled = true;
    // Decisions go without the gap: someone waits for them (an answer, a frame).
    if (afterBacklog && gapMs > 0 && decisions.empty) setTimeout(flush, gapMs);
    else setImmediate(flush);
  };
  const flush = () => {
    scheduled = false;
    if (inFlight || closing || !anyPending()) return;
    if (!writer) writer = startWriter();
    const { batch, taken } = take(MAX_PER_COMMIT, performance.now() + (opts.commitSliceMs ?? COMMIT_SLICE_MS));
    let oldestDecision = Infinity;
    let oldest = Infinity;
    for (const [line, change] of taken) {
      if (line === decisions) oldestDecision = Math.min(oldestDecision, change.first);
      oldest = Math.min(oldest, change.first);
    }
    inFlight = { seq: ++seq, taken, oldestDecision, oldest };
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
      settle();
      if (anyPending()) schedule(true);
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
    const change: Change = { name, id, tenantId, record: record ?? null, first: ++made };
    // Changed again before it was saved: one write, at the place of the first change. A record with
    // a decision pending stays one decision; one only reported so far that is now decided about
    // is waited for from now.
    const decided = decisions.get(name, id) !== undefined;
    if (Array.isArray(reporting) && !decided) {
      reports.set(change);
      reporting.push(change);
      return schedule();
    }
    const reported = decided ? undefined : reports.get(name, id);
    if (reported) promote(reported, change);
    else decisions.set(change);
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
    committed: () => {
      if ((inFlight?.oldestDecision ?? Infinity) === Infinity && decisions.empty) return undefined;
      return new Promise<void>((resolve) => waiters.push({ upTo: made, resolve }));
    },
    saved: () => {
      if (!inFlight && !anyPending()) return undefined;
      return new Promise<void>((resolve) => allWaiters.push({ upTo: made, resolve }));
    },
    reported: <T>(what: () => T): T => {
      const was = reporting;
      reporting = [];
      try {
        return what();
      } finally {
        reporting = was;
      }
    },
    decideReported: () => {
      if (!Array.isArray(reporting)) return;
      // Each change reported here, still pending as a report, is made again as a decision: at the
      // end of the line, its record's value now.
      for (const change of reporting) {
        const pending = reports.get(change.name, change.id);
        if (pending) promote(pending, { ...pending, first: ++made });
      }
      reporting = 'decided';
    },
    abandon: async () => {
      closing = true;
      await writer?.terminate();
    },
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
      while (answered && anyPending()) answered = call({ sync: true, batch: take(MAX_PER_COMMIT, Infinity).batch });
      if (answered) call({ sync: true, close: true });
      port1.close();
    },
  };
}
