import t from 'tap';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { NodeRecord } from '../../launcher/node-record.ts';
import { silentLogger } from '../../shared/log.ts';
import { tempDir } from '../../shared/temp-dir.ts';

const isAction = (v: unknown): v is 'REBOOT' | 'RESIZE' => v === 'REBOOT' || v === 'RESIZE';

t.test('what is recorded is there for the next launcher; what is cleared is not', async (t) => {
  const { path, remove } = tempDir('ciao-node-record');
  t.teardown(remove);
  const file = join(path, 'actions.json');
  const first = new NodeRecord(file, isAction, 'actions under way', silentLogger());
  await Promise.all([first.set('a', 'REBOOT'), first.set('b', 'RESIZE'), first.set('c', 'REBOOT')]);
  await first.set('b', undefined);
  t.same(JSON.parse(await readFile(file, 'utf8')), { a: 'REBOOT', c: 'REBOOT' }, 'written whole, the writes in order');
  const next = new NodeRecord(file, isAction, 'actions under way', silentLogger());
  t.same([...await next.all()], [['a', 'REBOOT'], ['c', 'REBOOT']]);
});

t.test('a value it does not know is dropped; an unreadable file, or none, is an empty record', async (t) => {
  const { path, remove } = tempDir('ciao-node-record');
  t.teardown(remove);
  const file = join(path, 'actions.json');
  await writeFile(file, JSON.stringify({ a: 'REBOOT', b: 'rm -rf /', c: 7 }));
  t.same([...await new NodeRecord(file, isAction, 'x', silentLogger()).all()], [['a', 'REBOOT']]);
  await writeFile(file, '{not json');
  const warned: string[] = [];
  const logger = { ...silentLogger(), warn: (msg: string) => void warned.push(msg) };
  t.same([...await new NodeRecord(file, isAction, 'actions under way', logger).all()], []);
  t.match(warned, [/actions under way is unreadable/]);
  t.same([...await new NodeRecord(join(path, 'none.json'), isAction, 'x', silentLogger()).all()], []);
  const inMemory = new NodeRecord(undefined, isAction, 'x', silentLogger());
  await inMemory.set('a', 'RESIZE');
  t.same([...await inMemory.all()], [['a', 'RESIZE']], 'with no file, in memory');
});
