// The identity service: a Keystone v3-compatible mock, so standard OpenStack clients and the
// cluster's daemons authenticate against it. This module assembles it; each resource's routes are
// in routes/ (auth, projects, users, groups, roles, grants, domains and their config, catalog,
// credentials, EC2 and application credentials, trusts, extensions), over one shared context (context.ts) and the
// identity config file they keep their state in.
import type http from 'node:http';
import { once } from 'node:events';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../../shared/log.ts';
import { createApiServer, reply, Router, Segment } from '../../shared/http-router.ts';
import { saveIdentityConfig, withHashedPasswords, type IdentityConfig } from './config.ts';
import { LoginThrottle, type ThrottleOptions } from './login-throttle.ts';
import { TokenSigner } from './tokens.ts';
import { advertisedHost } from '../../shared/listen-address.ts';
import { helpers, type IdentityContext } from './context.ts';
import { views } from './views.ts';
import { addAccessRuleRoutes } from './routes/access-rules.ts';
import { addApplicationCredentialRoutes } from './routes/application-credentials.ts';
import { addAuthRoutes } from './routes/auth.ts';
import { addCatalogRoutes, migrateCatalog } from './routes/catalog.ts';
import { addCredentialRoutes } from './routes/credentials.ts';
import { addDomainConfigRoutes } from './routes/domain-config.ts';
import { addDomainRoutes, domainStore } from './routes/domains.ts';
import { addEc2CredentialRoutes } from './routes/ec2-credentials.ts';
import { addExtensionRoutes } from './routes/extensions.ts';
import { addGrantRoutes } from './routes/grants.ts';
import { addGroupRoutes } from './routes/groups.ts';
import { addProjectRoutes } from './routes/projects.ts';
import { addRoleRoutes } from './routes/roles.ts';
import { addTrustRoutes } from './routes/trusts.ts';
import { addUserRoutes } from './routes/users.ts';

export interface IdentityServerOptions {
  config: IdentityConfig;
  /** Where admin changes (projects, users, role assignments…) are written back. */
  configPath?: string;
  tls?: { cert: Buffer; key: Buffer };
  /** A directory for the revocation list, so revocations survive a restart. */
  statePath?: string;
  logger: Logger;
  /** Failed-login throttling (login-throttle.ts); tests tighten it. */
  throttle?: ThrottleOptions;
}

// Keystone's error body carries the status and its title; ApiError's code only picks the status.
const TITLES: Record<number, string> = {
  400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed',
  409: 'Conflict', 413: 'Request Entity Too Large', 414: 'URI Too Long', 429: 'Too Many Requests', 500: 'Internal Server Error',
};

export function createIdentityServer(opts: IdentityServerOptions) {
  const { config, logger } = opts;
  let baseUrl = '';
  const ctx: IdentityContext = {
    config, logger,
    signer: new TokenSigner(config.signing_key, opts.statePath && join(opts.statePath, 'identity-revoked.json')),
    save: () => opts.configPath && saveIdentityConfig(opts.configPath, config),
    baseUrl: () => baseUrl,
  };
  const migrated = migrateCatalog(config);
  const h = helpers(ctx);
  const v = views(h);
  const throttle = new LoginThrottle(opts.throttle);

  const router = new Router({
    renderError: (err) => reply(err.status, { error: { code: err.status, title: TITLES[err.status] ?? 'Error', message: err.message } }),
    // Keystone's ids are its own (domain "default", UUIDs for what it makes): any plain segment.
    params: Object.fromEntries(['id', 'user', 'role', 'target', 'actor', 'group', 'option', 'rule'].map((name) => [name, Segment])),
    service: 'identity service',
  });
  const domains = domainStore(ctx, h);
  const catalog = addCatalogRoutes(router, ctx, h);
  const appCreds = addApplicationCredentialRoutes(router, ctx, h, throttle, addAccessRuleRoutes(router, ctx, h));
  const trusts = addTrustRoutes(router, ctx, h, v);
  addAuthRoutes(router, ctx, h, v, catalog, throttle, appCreds, trusts);
  addProjectRoutes(router, ctx, h, v, domains);
  addUserRoutes(router, ctx, h, v, throttle);
  addGroupRoutes(router, ctx, h, v);
  addRoleRoutes(router, ctx, h, v);
  addGrantRoutes(router, ctx, h, v);
  addDomainConfigRoutes(router, ctx, h);
  addDomainRoutes(router, ctx, h, v, domains);
  addCredentialRoutes(router, ctx, h);
  addEc2CredentialRoutes(router, ctx, h);
  addExtensionRoutes(router, ctx, h);

  const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
    // Set before routing so every answer has it, empty ones (204, HEAD) and errors too.
    res.setHeader('content-type', 'application/json');
    res.on('finish', () => logger.debug('request', { method: req.method, path: req.url, status: res.statusCode }));
    void router.handle(req, res, logger);
  };
  const server = createApiServer(handler, opts.tls);

  return {
    server,
    routes: () => router.list(),
    /** Port 0 picks a free port; `fd`, a socket listening already (its keeper's, singlevm/keeper.sh),
     *  is taken instead. The answer is the service's base URL (clients append /v3). */
    async listen(port: number, host = '127.0.0.1', fd?: number): Promise<{ url: string }> {
      // A plain password in the config is hashed before the first login, and leaves the file.
      if ((await withHashedPasswords(config)) || migrated) ctx.save();
      server.listen(fd === undefined ? { port, host } : { fd });
      await once(server, 'listening');
      const shown = advertisedHost(host);
      const where = shown.includes(':') ? `[${shown}]` : shown;
      baseUrl = `${opts.tls ? 'https' : 'http'}://${where}:${(server.address() as AddressInfo).port}`;
      return { url: baseUrl };
    },
    async close(): Promise<void> {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
