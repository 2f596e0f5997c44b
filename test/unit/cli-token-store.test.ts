import t from 'tap';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { withTempDir } from '../../shared/temp-dir.ts';
import { FileTokenStore } from '../../cli/session.ts';

const token = (projectId: string, minutes = 60) => ({ token: `tok-${projectId}`, projectId, expiresAt: new Date(Date.now() + minutes * 60_000).toISOString() });

t.test("a cluster never gets another cluster's token for the same address and user", (t) => withTempDir('ciao-tokens', async (dir) => {
  const file = join(dir, 'tokens.json');
  const key = 'https://127.0.0.1:35357 demo demo';
  const old = new FileTokenStore(file, 'ca-of-the-old-cluster');
  const fresh = new FileTokenStore(file, 'ca-of-the-new-cluster');
  old.save(key, token('old-project'));
  t.equal(fresh.load(key), undefined, 'the new cluster (another CA) finds no token');
  fresh.save(key, token('new-project'));
  t.equal(old.load(key)?.projectId, 'old-project', 'each keeps its own');
  t.equal(fresh.load(key)?.projectId, 'new-project');
  fresh.drop(key);
  t.equal(fresh.load(key), undefined);
  t.equal(old.load(key)?.projectId, 'old-project', 'dropping one leaves the other');
  old.save('another', token('x', -1));
  old.save('third', token('y'));
  t.notMatch(await readFile(file, 'utf8'), /tok-x/, 'expired tokens are swept on save');
}));
