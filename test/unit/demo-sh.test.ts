import t from 'tap';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readDemoSh, writeDemoSh } from '../../singlevm/demo-sh.ts';
import { run } from '../../shared/run.ts';
import { withTempDir } from '../../shared/temp-dir.ts';

t.test('demo.sh sets the CIAO_* and OS_* variables, readable by a shell and by readDemoSh alike', (t) => withTempDir('ciao-demo', async (dir) => {
  const path = join(dir, 'demo.sh');
  await writeDemoSh(path, {
    name: 'ciao', identityUrl: 'https://127.0.0.1:5000', controllerUrl: 'https://127.0.0.1:8889', caFile: '/x/ca.crt', stateDir: '/x',
    creds: { admin: { username: 'admin', password: "it's", project: 'admin' }, user: { username: 'demo', password: 'p w', project: 'demo' } },
  });
  const vars = await readDemoSh(path);
  t.match(vars, { CIAO_CONTROLLER: 'https://127.0.0.1:8889', CIAO_ADMIN_PASSWORD: "it's", CIAO_PASSWORD: 'p w', OS_AUTH_URL: 'https://127.0.0.1:5000/v3', OS_PROJECT_NAME: 'demo' });
  const shell = await run('bash', ['-c', `. ${path}; printf '%s|%s|%s' "$CIAO_ADMIN_PASSWORD" "$OS_PASSWORD" "$(command -v ciao)"`]);
  t.match(shell.stdout, /^it's\|p w\|.*\/bin\/ciao$/);
  t.match(await readFile(path, 'utf8'), /^# ciao cluster "ciao"/);
}));
