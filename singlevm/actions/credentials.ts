// The users' passwords and identity's configuration. A new cluster gets random passwords, hashed
// into identity.json; demo.sh (written last) is the only place that holds them. A resume reads them
// back from demo.sh: identity.json keeps only hashes.
import { access, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { defaultIdentityConfig, withHashedPasswords } from '../../mocks/identity/config.ts';
import { readDemoSh, type Credentials } from '../demo-sh.ts';
import { urls, type Action } from './context.ts';

export const credentials: Action = {
  name: 'credentials',
  async execute(ctx) {
    const { paths } = ctx;
    if (await access(paths.identityConfig).then(() => true, () => false)) {
      const demo = await readDemoSh(paths.demoSh).catch(() => {
        throw new Error(`${paths.demoSh} is gone, and with it the only copy of the passwords (identity keeps hashes): clean the cluster up and set it up again`);
      });
      ctx.creds = {
        admin: { username: demo.CIAO_ADMIN_USERNAME, password: demo.CIAO_ADMIN_PASSWORD, project: demo.CIAO_ADMIN_TENANT_NAME },
        user: { username: demo.CIAO_USERNAME, password: demo.CIAO_PASSWORD, project: demo.CIAO_TENANT_NAME },
      };
      return;
    }
    const creds: Credentials = {
      admin: { username: 'admin', password: randomBytes(12).toString('hex'), project: 'admin' },
      user: { username: 'demo', password: randomBytes(12).toString('hex'), project: 'demo' },
    };
    const { identity, controller } = urls(ctx);
    const config = defaultIdentityConfig({ adminPassword: creds.admin.password, demoPassword: creds.user.password, controllerUrl: controller, identityUrl: identity });
    await withHashedPasswords(config);
    await writeFile(paths.identityConfig, JSON.stringify(config, null, 2) + '\n', { mode: 0o600 });
    ctx.creds = creds;
  },
};
