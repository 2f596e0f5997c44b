// python-openstackclient (Debian's python3-openstackclient) against the identity service alone:
// proves the mock speaks enough Keystone v3 for keystoneauth's discovery, auth and lookups.
import t from 'tap';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createClusterPki } from '../../shared/pki.ts';
import { clusterAgent, readTls } from '../../shared/tls-files.ts';
import { createLogger } from '../../shared/log.ts';
import { tempDir } from '../../shared/temp-dir.ts';
import { createIdentityServer } from '../../mocks/identity/server.ts';
import { defaultIdentityConfig } from '../../mocks/identity/config.ts';
import { validateToken } from '../../mocks/identity/client.ts';
import { openstackClouds, requireOpenstackCli } from '../../bat/openstack-cli.ts';

await requireOpenstackCli();

const { path: dir, remove: removeDir } = tempDir('ciao-identity-osc');
const pki = await createClusterPki(join(dir, 'pki'), 'test');
const configPath = join(dir, 'identity.json');
const config = defaultIdentityConfig({ adminPassword: 'apw', demoPassword: 'dpw', controllerUrl: 'https://127.0.0.1:8889' });
await writeFile(configPath, JSON.stringify(config));
const logFile = join(dir, 'identity.log');
const identity = createIdentityServer({
  config, configPath, tls: readTls({ ca: pki.ca.cert, ...pki.https }), statePath: dir,
  logger: createLogger({ component: 'identity', level: 'debug', file: logFile }),
});
const { url } = await identity.listen(0);
const dispatcher = clusterAgent(pki.ca.cert);
t.teardown(async () => {
  await identity.close();
  await dispatcher.close();
  removeDir();
});

/** What the server was asked, for a failure message: the first thing to read when a client and the mock disagree. */
const requestsSeen = async () => (await readFile(logFile, 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l))
  .filter((l) => l.msg === 'request').map((l) => `  ${l.method} ${l.path} → ${l.status}`).join('\n');

const osc = await openstackClouds(dir, { identityUrl: url, caFile: pki.ca.cert }, {
  admin: { username: 'admin', password: 'apw', project: 'admin' },
  demo: { username: 'demo', password: 'dpw', project: 'demo' },
});
const openstack = async (user: 'admin' | 'demo', ...args: string[]) => {
  try {
    return await osc[user].json(...args);
  } catch (err) {
    throw new Error(`${(err as Error).message}\nthe identity service was asked:\n${await requestsSeen()}`);
  }
};
const projectOf = (name: string) => config.projects.find((p) => p.name === name)!;

t.test('openstack token issue returns a token the server validates', async (t) => {
  const issued = await openstack('admin', 'token', 'issue');
  t.match(issued, { id: String, project_id: projectOf('admin').id, user_id: config.users.find((u) => u.name === 'admin')!.id });
  const info = await validateToken(url, issued.id, dispatcher);
  t.match(info, { projectId: projectOf('admin').id, roles: ['admin'] });
  t.equal(new Date(issued.expires).getTime(), new Date(info!.expiresAt).setMilliseconds(0), 'the client shows the expiry the server holds');
});

t.test('openstack project list: all projects for admin, their own (--my-projects) for a member', async (t) => {
  const all: { ID: string; Name: string }[] = await openstack('admin', 'project', 'list');
  t.same(all.sort((a, b) => a.Name.localeCompare(b.Name)), [{ ID: projectOf('admin').id, Name: 'admin' }, { ID: projectOf('demo').id, Name: 'demo' }]);
  t.same(await openstack('demo', 'project', 'list', '--my-projects'), [{ ID: projectOf('demo').id, Name: 'demo' }]);
});
