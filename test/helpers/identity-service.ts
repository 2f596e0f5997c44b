// An identity service for tests, on a config file in a temp folder (admin/apw, demo/dpw), started
// as main.ts starts it: restart() is a new server on the same files, as after a crash.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createClusterPki } from '../../shared/pki.ts';
import { clusterAgent, readTls } from '../../shared/tls-files.ts';
import { silentLogger } from '../../shared/log.ts';
import { tempDir } from '../../shared/temp-dir.ts';
import { createIdentityServer } from '../../mocks/identity/server.ts';
import { defaultIdentityConfig, loadIdentityConfig } from '../../mocks/identity/config.ts';

export async function identityService(name: string) {
  const { path: dir, remove } = tempDir(name);
  const pki = await createClusterPki(join(dir, 'pki'), 'test');
  const tls = readTls({ ca: pki.ca.cert, ...pki.https });
  const configPath = join(dir, 'identity.json');
  await writeFile(configPath, JSON.stringify(defaultIdentityConfig({ adminPassword: 'apw', demoPassword: 'dpw', controllerUrl: 'https://127.0.0.1:8889' })));
  const dispatcher = clusterAgent(pki.ca.cert);
  const start = async () => {
    const server = createIdentityServer({ config: loadIdentityConfig(configPath), configPath, tls, statePath: dir, logger: silentLogger() });
    return { server, url: (await server.listen(0)).url };
  };
  let running = await start();
  return {
    dir, tls, configPath, dispatcher,
    get url() { return running.url; },
    async restart() {
      await running.server.close();
      running = await start();
    },
    async close() {
      await running.server.close();
      await dispatcher.close();
      remove();
    },
  };
}
