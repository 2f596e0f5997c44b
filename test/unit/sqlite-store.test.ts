import t from 'tap';
import { join } from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { MAX_PER_COMMIT, openSqliteStore } from '../../controller/datastore/sqlite-store.ts';
import { createMemoryStore } from '../../controller/datastore/memory-store.ts';
import type { ClusterEvent } from '../../controller/api-types.ts';
import { withTempDir } from '../../shared/temp-dir.ts';
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

t.test('a burst of changes is committed in bounded commits, one per turn, the latest value of each record', (t) => withTempDir('ciao-store', async (dir) => {
  const path = join(dir, 'c.db');
  // No time bound here: the count bound alone (the time bound is the next test's).
  const s = openSqliteStore(path, { commitSliceMs: Infinity, commitGapMs: 0 });
  const reader = new Database(path, { readonly: true });
  const rows = () => (reader.prepare('SELECT count(*) AS n FROM events').get() as { n: number }).n;
  const burst = MAX_PER_COMMIT * 2 + 10;
  for (let i = 0; i < burst; i++) s.events.put(event(`e${i}`, 't'));
  await nextTurn();
  t.equal(rows(), MAX_PER_COMMIT, 'the first turn commits one batch');
  // Changed again while waiting in the backlog: written once, with its last value.
  s.events.put({ ...event(`e${burst - 1}`, 't'), message: 'changed' });
  await nextTurn();
  t.equal(rows(), MAX_PER_COMMIT * 2);
  await nextTurn();
  t.equal(rows(), burst, 'the backlog is written over the next turns');
  t.equal(JSON.parse((reader.prepare('SELECT data FROM events WHERE id = ?').get(`e${burst - 1}`) as { data: string }).data).message, 'changed');
  reader.close();
  s.close();
}));

t.test('a commit also ends when its time is spent, the rest going on in the next turns', (t) => withTempDir('ciao-store', async (dir) => {
  const path = join(dir, 'c.db');
  // A slice of 0 ms: the clock, read every 16 rows, ends each commit at its first reading.
  const s = openSqliteStore(path, { commitSliceMs: 0, commitGapMs: 0 });
  const reader = new Database(path, { readonly: true });
  const rows = () => (reader.prepare('SELECT count(*) AS n FROM events').get() as { n: number }).n;
  for (let i = 0; i < 40; i++) s.events.put(event(`e${i}`, 't'));
  await nextTurn();
  t.equal(rows(), 16);
  await nextTurn();
  t.equal(rows(), 32);
  await nextTurn();
  t.equal(rows(), 40);
  t.same((reader.prepare('SELECT id FROM events ORDER BY rowid').all() as { id: string }[]).map((r) => r.id), Array.from({ length: 40 }, (_, i) => `e${i}`), 'oldest first');
  reader.close();
  s.close();
}));

t.test('a backlog\'s next commit waits for the gap; a record changed meanwhile is written once, with its last value', (t) => withTempDir('ciao-store', async (dir) => {
  const path = join(dir, 'c.db');
  const s = openSqliteStore(path, { commitSliceMs: Infinity, commitGapMs: 1000 });
  const reader = new Database(path, { readonly: true });
  const rows = () => (reader.prepare('SELECT count(*) AS n FROM events').get() as { n: number }).n;
  for (let i = 0; i < MAX_PER_COMMIT + 10; i++) s.events.put(event(`e${i}`, 't'));
  await nextTurn();
  t.equal(rows(), MAX_PER_COMMIT, 'the first turn commits one batch');
  s.events.put({ ...event(`e${MAX_PER_COMMIT + 9}`, 't'), message: 'changed' });
  await nextTurn();
  await nextTurn();
  t.equal(rows(), MAX_PER_COMMIT, 'the backlog waits for the gap, not for the next turn');
  await waitFor('the backlog to be written', () => rows() === MAX_PER_COMMIT + 10, { timeoutMs: 10_000, intervalMs: 20 });
  t.equal(JSON.parse((reader.prepare('SELECT data FROM events WHERE id = ?').get(`e${MAX_PER_COMMIT + 9}`) as { data: string }).data).message, 'changed');
  reader.close();
  s.close();
}));

t.test('close writes the whole backlog', (t) => withTempDir('ciao-store', async (dir) => {
  const path = join(dir, 'c.db');
  const s = openSqliteStore(path);
  for (let i = 0; i < MAX_PER_COMMIT * 3; i++) s.events.put(event(`e${i}`, 't'));
  s.close();
  const reopened = openSqliteStore(path);
  t.equal(reopened.events.size, MAX_PER_COMMIT * 3);
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
