import t from 'tap';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { setImmediate as nextTurn } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { MAX_PER_COMMIT, openSqliteStore, type SqliteStoreOptions } from '../../controller/datastore/sqlite-store.ts';
import { createMemoryStore } from '../../controller/datastore/memory-store.ts';
import type { ClusterEvent, Tenant } from '../../controller/api-types.ts';
import { withTempDir } from '../../shared/temp-dir.ts';
import { sendAfterCommit } from '../../controller/after-commit.ts';
import type { Frame } from '../../protocol/payloads.ts';
import { waitFor } from '../../shared/wait-for.ts';

const event = (id: string, tenant: string | null): ClusterEvent => ({ id, tenant_id: tenant, time: '2026-01-01T00:00:00Z', type: 'info', message: id });

t.test('records, deletes and the tenant index survive reopening, in insertion order', (t) => withTempDir('ciao-store', async (dir) => {
  const path = join(dir, 'c.db');
  const a = openSqliteStore(path);
  for (const id of ['e3', 'e1', 'e2']) a.events.put(event(id, 't1'));
  a.events.put(event('x', null));
  a.events.delete('e1');
  a.close();
  const b = openSqliteStore(path);
  t.same(b.events.byTenant('t1').map((e) => e.id), ['e3', 'e2']);
  t.same(b.events.byTenant(null).map((e) => e.id), ['x']);
  t.equal(b.events.size, 3);
  b.close();
}));

/** A store whose committed batches' sizes are in `sizes`, and a reader of its table of events. */
const watched = (path: string, opts: SqliteStoreOptions = {}) => {
  const sizes: number[] = [];
  const s = openSqliteStore(path, { ...opts, onCommitted: (n) => { sizes.push(n); opts.onCommitted?.(n); } });
  const reader = new Database(path, { readonly: true });
  const rows = () => (reader.prepare('SELECT count(*) AS n FROM events').get() as { n: number }).n;
  const message = (id: string) => JSON.parse((reader.prepare('SELECT data FROM events WHERE id = ?').get(id) as { data: string }).data).message;
  const total = () => sizes.reduce((a, b) => a + b, 0);
  return { s, sizes, reader, rows, message, total };
};

// The write-behind's batches, as reports (what nodes said) take them: one batch in flight at a time.
t.test('a burst of changes is committed in bounded batches, the latest value of each record', (t) => withTempDir('ciao-store', async (dir) => {
  const burst = MAX_PER_COMMIT * 2 + 10;
  // No time bound here: the count bound alone (the time bound is the next test's).
  const w = watched(join(dir, 'c.db'), {
    commitSliceMs: Infinity,
    commitGapMs: 0,
    // Changed again while waiting in the backlog: written once, with its last value.
    onCommitted: () => w.sizes.length === 1 && w.s.reported(() => w.s.events.put({ ...event(`e${burst - 1}`, 't'), message: 'changed' })),
  });
  w.s.reported(() => {
    for (let i = 0; i < burst; i++) w.s.events.put(event(`e${i}`, 't'));
  });
  await waitFor('the burst to be written', () => w.total() >= burst, { timeoutMs: 10_000, intervalMs: 10 });
  t.same(w.sizes, [MAX_PER_COMMIT, MAX_PER_COMMIT, 10], 'in batches of at most MAX_PER_COMMIT, each change once');
  t.equal(w.rows(), burst);
  t.equal(w.message(`e${burst - 1}`), 'changed');
  w.reader.close();
  w.s.close();
}));

t.test('a batch also ends when its time is spent, the rest going in the next batches, oldest first', (t) => withTempDir('ciao-store', async (dir) => {
  // A slice of 0 ms: the clock, read every 16 changes, ends each batch at its first reading.
  const w = watched(join(dir, 'c.db'), { commitSliceMs: 0, commitGapMs: 0 });
  w.s.reported(() => {
    for (let i = 0; i < 40; i++) w.s.events.put(event(`e${i}`, 't'));
  });
  await waitFor('the changes to be written', () => w.total() >= 40, { timeoutMs: 10_000, intervalMs: 10 });
  t.same(w.sizes, [16, 16, 8]);
  t.same((w.reader.prepare('SELECT id FROM events ORDER BY rowid').all() as { id: string }[]).map((r) => r.id), Array.from({ length: 40 }, (_, i) => `e${i}`), 'oldest first');
  w.reader.close();
  w.s.close();
}));

t.test('a backlog\'s next batch waits for the gap; a record changed meanwhile is written once, with its last value', (t) => withTempDir('ciao-store', async (dir) => {
  const w = watched(join(dir, 'c.db'), { commitSliceMs: Infinity, commitGapMs: 1000 });
  w.s.reported(() => {
    for (let i = 0; i < MAX_PER_COMMIT + 10; i++) w.s.events.put(event(`e${i}`, 't'));
  });
  await waitFor('the first batch', () => w.sizes.length === 1, { timeoutMs: 10_000, intervalMs: 5 });
  t.equal(w.rows(), MAX_PER_COMMIT, 'the first batch is on disk');
  w.s.reported(() => w.s.events.put({ ...event(`e${MAX_PER_COMMIT + 9}`, 't'), message: 'changed' }));
  await nextTurn();
  await nextTurn();
  t.same(w.sizes, [MAX_PER_COMMIT], 'the backlog waits for the gap, not for the next turn');
  await waitFor('the backlog to be written', () => w.rows() === MAX_PER_COMMIT + 10, { timeoutMs: 10_000, intervalMs: 20 });
  t.same(w.sizes, [MAX_PER_COMMIT, 10]);
  t.equal(w.message(`e${MAX_PER_COMMIT + 9}`), 'changed');
  w.reader.close();
  w.s.close();
}));

t.test('a commit that waits for the database does not hold the event loop', (t) => withTempDir('ciao-store', async (dir) => {
  const path = join(dir, 'c.db');
  const w = watched(path, { busyTimeoutMs: 5000 });
  // Another connection holds the write lock: the writer's commit waits for it (up to 5 s).
  const locker = new Database(path);
  locker.exec('BEGIN IMMEDIATE');
  for (let i = 0; i < 10; i++) w.s.events.put(event(`e${i}`, 't'));
  const started = performance.now();
  for (let i = 0; i < 5; i++) await nextTurn();
  const held = performance.now() - started;
  t.ok(held < 1000, `five turns of the loop took ${held.toFixed(0)} ms while the commit waited`);
  t.same(w.sizes, [], 'nothing committed while the lock is held');
  locker.exec('COMMIT');
  await waitFor('the commit', () => w.rows() === 10, { timeoutMs: 10_000, intervalMs: 10 });
  locker.close();
  w.reader.close();
  w.s.close();
}));

t.test('a failed commit is reported and tried again, with what changed meanwhile at its newest', (t) => withTempDir('ciao-store', async (dir) => {
  const path = join(dir, 'c.db');
  const errors: Error[] = [];
  const w = watched(path, { busyTimeoutMs: 0, retryMs: 100, onError: (err) => errors.push(err) });
  const locker = new Database(path);
  locker.exec('BEGIN IMMEDIATE');
  w.s.events.put(event('e1', 't'));
  w.s.events.put(event('e2', 't'));
  await waitFor('the commit to fail', () => errors.length > 0, { timeoutMs: 10_000, intervalMs: 10 });
  t.match(errors[0].message, /locked|busy/i);
  w.s.events.put({ ...event('e1', 't'), message: 'changed' });
  locker.exec('COMMIT');
  await waitFor('the retry', () => w.rows() === 2, { timeoutMs: 10_000, intervalMs: 10 });
  t.equal(w.message('e1'), 'changed');
  t.equal(w.message('e2'), 'e2');
  locker.close();
  w.reader.close();
  w.s.close();
}));

t.test('close writes the batch in flight and the whole backlog', (t) => withTempDir('ciao-store', async (dir) => {
  const path = join(dir, 'c.db');
  const s = openSqliteStore(path);
  for (let i = 0; i < MAX_PER_COMMIT * 3; i++) s.events.put(event(`e${i}`, 't'));
  await nextTurn();
  // e0 is in the batch in flight: its newer value goes in close's batch.
  s.events.put({ ...event('e0', 't'), message: 'changed' });
  s.close();
  const reopened = openSqliteStore(path);
  t.equal(reopened.events.size, MAX_PER_COMMIT * 3);
  t.equal(reopened.events.get('e0')?.message, 'changed');
  reopened.close();
}));

t.test('committed() settles once what was changed so far is on disk, waiting through a failed commit', (t) => withTempDir('ciao-store', async (dir) => {
  const path = join(dir, 'c.db');
  const errors: Error[] = [];
  const w = watched(path, { busyTimeoutMs: 0, retryMs: 100, onError: (err) => errors.push(err) });
  t.equal(w.s.committed(), undefined, 'nothing to wait for');
  const locker = new Database(path);
  locker.exec('BEGIN IMMEDIATE');
  w.s.events.put(event('e1', 't'));
  let saved = false;
  const saving = w.s.committed()!.then(() => (saved = true));
  await waitFor('the commit to fail', () => errors.length > 0, { timeoutMs: 10_000, intervalMs: 10 });
  await nextTurn();
  t.notOk(saved, 'not settled while the commit fails');
  locker.exec('COMMIT');
  // (The retry's timer does not keep a process alive: the wait does.)
  await waitFor('the retry', () => saved, { timeoutMs: 10_000, intervalMs: 10 });
  await saving;
  t.equal(w.rows(), 1, 'on disk when it settles');
  t.equal(w.s.committed(), undefined, 'nothing left to wait for');
  locker.close();
  w.reader.close();
  w.s.close();
}));

t.test('a wait settles once every decision made before it is on disk, in any collection', (t) => withTempDir('ciao-store', async (dir) => {
  const w = watched(join(dir, 'c.db'), { commitSliceMs: Infinity, commitGapMs: 100 });
  const reader = new Database(join(dir, 'c.db'), { readonly: true });
  const tenantName = () => (reader.prepare('SELECT data FROM tenants WHERE id = ?').get('t1') as { data: string } | undefined)?.data;
  const seen: Record<string, [rows: number, tenant: string | undefined]> = {};
  for (let i = 0; i < MAX_PER_COMMIT; i++) w.s.events.put(event(`a${i}`, 't'));
  // Another collection's change, behind a full batch of events and ahead of the next ones.
  w.s.tenants.put({ id: 't1', name: 'first' } as unknown as Tenant);
  const first = w.s.committed()!.then(() => (seen.first = [w.rows(), tenantName()]));
  for (let i = 0; i < MAX_PER_COMMIT; i++) w.s.events.put(event(`b${i}`, 't'));
  // Changed again before it is saved: it keeps its place, with its last value.
  w.s.tenants.put({ id: 't1', name: 'last' } as unknown as Tenant);
  const second = w.s.committed()!.then(() => (seen.second = [w.rows(), tenantName()]));
  await Promise.all([first, second]);
  t.ok(seen.first[0] >= MAX_PER_COMMIT && seen.first[1] !== undefined, 'the first wait: the events and the tenant before it are on disk');
  t.equal(seen.second[0], MAX_PER_COMMIT * 2, 'the second: every event');
  t.equal(JSON.parse(seen.second[1]!).name, 'last', 'and the tenant at its last value');
  reader.close();
  w.reader.close();
  w.s.close();
}));

t.test('reports are written behind and waited for by no one; a decision goes first, alone, a decision about a reported record too', (t) => withTempDir('ciao-store', async (dir) => {
  const w = watched(join(dir, 'c.db'), { commitSliceMs: Infinity, commitGapMs: 100 });
  w.s.reported(() => {
    for (let i = 0; i < MAX_PER_COMMIT + 10; i++) w.s.events.put(event(`r${i}`, 't'));
  });
  t.equal(w.s.committed(), undefined, 'nothing decided: nothing to wait for');
  // Decided about a record that was only reported: it now waits, and goes ahead of the reports.
  w.s.events.put({ ...event(`r${MAX_PER_COMMIT + 5}`, 't'), message: 'decided' });
  const waited = w.s.committed();
  t.ok(waited, 'a decision is waited for');
  // Reported again after the decision: still one decision, with the last value.
  w.s.reported(() => w.s.events.put({ ...event(`r${MAX_PER_COMMIT + 5}`, 't'), message: 'reported after' }));
  await waited;
  t.same(w.sizes, [1], 'settled with the first batch, the decision alone');
  t.equal(w.message(`r${MAX_PER_COMMIT + 5}`), 'reported after', 'at its last value');
  await waitFor('the reports to be written', () => w.rows() === MAX_PER_COMMIT + 10, { timeoutMs: 10_000, intervalMs: 10 });
  t.same(w.sizes, [1, MAX_PER_COMMIT, 9], 'then the reports, after the gap');
  w.reader.close();
  w.s.close();
}));

t.test('a report handler that tells someone makes its changes decisions: they are waited for, then written first', (t) => withTempDir('ciao-store', async (dir) => {
  const w = watched(join(dir, 'c.db'), { commitSliceMs: Infinity, commitGapMs: 100 });
  w.s.reported(() => {
    for (let i = 0; i < 10; i++) w.s.events.put(event(`plain${i}`, 't'));
  });
  t.equal(w.s.committed(), undefined, 'a report that tells no one: nothing to wait for');
  w.s.reported(() => {
    w.s.events.put(event('before', 't'));
    w.s.decideReported(); // it sends a frame here
    w.s.events.put(event('after', 't'));
  });
  const waited = w.s.committed();
  t.ok(waited, 'its changes are waited for');
  await waited;
  const saved = (id: string) => (w.reader.prepare('SELECT count(*) AS n FROM events WHERE id = ?').get(id) as { n: number }).n === 1;
  t.ok(saved('before') && saved('after'), 'both on disk when the wait ends: what it changed before telling, and after');
  t.same(w.sizes, [2], 'in a batch of their own, ahead of the plain reports');
  w.s.reported(() => w.s.events.put(event('later', 't')));
  t.equal(w.s.committed(), undefined, 'the next report handler is a report again');
  w.reader.close();
  w.s.close();
}));

t.test('a frame sent from a report handler leaves once the handler\'s changes are saved', (t) => withTempDir('ciao-store', async (dir) => {
  const path = join(dir, 'c.db');
  const errors: Error[] = [];
  const s = openSqliteStore(path, { busyTimeoutMs: 0, retryMs: 50, onError: (err) => errors.push(err) });
  const sent: string[] = [];
  const send = sendAfterCommit(s, () => true, (bytes) => sent.push(JSON.parse(bytes.subarray(4).toString('utf8')).op) > 0);
  const locker = new Database(path);
  locker.exec('BEGIN IMMEDIATE');
  s.reported(() => {
    s.events.put(event('dispatched', 't'));
    send({ type: 'COMMAND', op: 'START', payload: {} } as unknown as Frame);
  });
  await waitFor('a commit to fail', () => errors.length > 0, { timeoutMs: 10_000, intervalMs: 10 });
  t.same(sent, [], 'not sent while the change it tells of is not saved');
  locker.exec('COMMIT');
  locker.close();
  await waitFor('the frame to leave', () => sent.length > 0, { timeoutMs: 10_000, intervalMs: 10 });
  t.same(sent, ['START']);
  s.close();
}));

t.test('saved() waits for the reports too: every change made before it, on disk', (t) => withTempDir('ciao-store', async (dir) => {
  const w = watched(join(dir, 'c.db'), { commitSliceMs: Infinity, commitGapMs: 50 });
  t.equal(w.s.saved(), undefined, 'nothing made: nothing to wait for');
  w.s.reported(() => {
    for (let i = 0; i < MAX_PER_COMMIT + 10; i++) w.s.events.put(event(`r${i}`, 't'));
  });
  const rowsWhenSaved = w.s.saved()!.then(() => w.rows());
  // Made after it asked: not waited for.
  w.s.reported(() => {
    for (let i = 0; i < MAX_PER_COMMIT; i++) w.s.events.put(event(`later${i}`, 't'));
  });
  t.ok((await rowsWhenSaved) >= MAX_PER_COMMIT + 10, 'settled once the reports made before it were on disk');
  t.ok(w.sizes.length >= 2, `which took more than one batch (${w.sizes.join(', ')})`);
  await w.s.saved();
  t.equal(w.rows(), MAX_PER_COMMIT * 2 + 10, 'and a later wait, once the later ones are');
  t.equal(w.s.saved(), undefined, 'nothing left to wait for');
  w.reader.close();
  w.s.close();
}));

t.test('saved() waits for a report that a later decision took into the decisions\' line, until that decision is saved', (t) => withTempDir('ciao-store', async (dir) => {
  const w = watched(join(dir, 'c.db'), { commitSliceMs: Infinity, commitGapMs: 0 });
  // A full batch of decisions first: the decision below waits for the next batch.
  for (let i = 0; i < MAX_PER_COMMIT; i++) w.s.events.put(event(`d${i}`, 't'));
  w.s.reported(() => w.s.events.put({ ...event('x', 't'), message: 'reported' }));
  const savedWhen = w.s.saved()!.then(() => [w.sizes.length, w.message('x')]);
  // Decided about now: x leaves the reports' line for the end of the decisions' line.
  w.s.events.put({ ...event('x', 't'), message: 'decided' });
  t.same(await savedWhen, [2, 'decided'], 'not settled by the first batch: once x is on disk, with the second');
  w.reader.close();
  w.s.close();
}));

t.test('an abandoned store loses what it had not committed, as a killed process does', (t) => withTempDir('ciao-store', async (dir) => {
  const path = join(dir, 'c.db');
  const s = openSqliteStore(path, { busyTimeoutMs: 0, retryMs: 100, onError: () => {} });
  s.events.put(event('kept', 't'));
  await s.committed();
  const locker = new Database(path);
  locker.exec('BEGIN IMMEDIATE');
  s.events.put(event('lost', 't'));
  await s.abandon();
  locker.exec('COMMIT');
  locker.close();
  const reopened = openSqliteStore(path);
  t.same(reopened.events.all().map((e) => e.id), ['kept']);
  reopened.close();
}));

t.test('moving a record to another tenant moves it in the index', async (t) => {
  const s = createMemoryStore();
  s.events.put(event('e', 'a'));
  s.events.put(event('e', 'b'));
  t.same(s.events.byTenant('a'), []);
  t.same(s.events.byTenant('b').map((e) => e.id), ['e']);
});

t.test('a record changed after it was written keeps its place, in memory and after reopening', (t) => withTempDir('ciao-store', async (dir) => {
  const path = join(dir, 'c.db');
  const a = openSqliteStore(path);
  for (const id of ['e1', 'e2', 'e3']) a.events.put(event(id, 't1'));
  await nextTurn();
  a.events.put({ ...event('e1', 't1'), message: 'changed' });
  t.same(a.events.byTenant('t1').map((e) => e.id), ['e1', 'e2', 'e3']);
  a.close();
  const b = openSqliteStore(path);
  t.same(b.events.byTenant('t1').map((e) => [e.id, e.message]), [['e1', 'changed'], ['e2', 'e2'], ['e3', 'e3']]);
  t.same(b.events.all().map((e) => e.id), ['e1', 'e2', 'e3']);
  b.close();
}));

t.test('what committed() said is saved survives the process being killed', (t) => withTempDir('ciao-store', async (dir) => {
  const path = join(dir, 'c.db');
  // A controller's process with its writer thread, killed (SIGKILL) once committed() says its
  // changes are saved (in one batch or several: a batch ends when its time slice is spent).
  const code = `
    import { openSqliteStore } from ${JSON.stringify(join(import.meta.dirname, '../../controller/datastore/sqlite-store.ts'))};
    const s = openSqliteStore(${JSON.stringify(path)});
    for (let i = 0; i < 100; i++) s.events.put({ id: 'e' + i, tenant_id: 't', time: '2026-01-01T00:00:00Z', type: 'info', message: 'm' + i });
    setInterval(() => {}, 1000);
    await s.committed();
    console.log('committed');`;
  const script = join(dir, 'child.mts');
  await writeFile(script, code);
  const child = spawn(process.execPath, ['--import', 'tsx', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  await waitFor('the child to commit', () => out.includes('committed'), { timeoutMs: 30_000, intervalMs: 20 });
  child.kill('SIGKILL');
  await once(child, 'exit');
  const reopened = openSqliteStore(path);
  t.equal(reopened.events.size, 100);
  t.equal(reopened.events.get('e99')?.message, 'm99');
  reopened.close();
}));

t.test('a database that cannot be opened any more is reported, and close does not wait for it', (t) => withTempDir('ciao-store', async (dir) => {
  const sub = join(dir, 'gone');
  await mkdir(sub);
  const errors: Error[] = [];
  const s = openSqliteStore(join(sub, 'c.db'), { retryMs: 100, onError: (err) => errors.push(err) });
  await rm(sub, { recursive: true });
  s.events.put(event('e1', 't'));
  await waitFor('the failure to be reported', () => errors.length > 0, { timeoutMs: 10_000, intervalMs: 10 });
  t.match(errors[0].message, /directory does not exist|unable to open/i);
  const started = performance.now();
  s.close();
  t.ok(performance.now() - started < 5000, 'close answered at once');
  t.ok(errors.length >= 2, 'the last write is reported as lost');
}));
