// Entry point of the identity service: reads its config and TLS files, serves until SIGTERM.
// tsx mocks/identity/main.ts --config FILE --port N [--host H] [--cert F --key F] [--state-dir D] [--log FILE] [--listen-fd FD]
import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import { createLogger } from '../../shared/log.ts';
import { loadIdentityConfig } from './config.ts';
import { createIdentityServer } from './server.ts';
import { notifyReady } from '../../shared/ready-notify.ts';

const usage = 'usage: identity --config FILE [--port N] [--host 127.0.0.1] [--cert F --key F] [--state-dir D] [--log FILE] [--listen-fd FD]';
const { values } = parseArgs({
  options: {
    config: { type: 'string' },
    port: { type: 'string', default: '5000' },
    host: { type: 'string', default: '127.0.0.1' },
    cert: { type: 'string' },
    key: { type: 'string' },
    'state-dir': { type: 'string' },
    log: { type: 'string' },
    // A socket listening already, handed over by the keeper (singlevm/keeper.sh) that holds it.
    'listen-fd': { type: 'string' },
    // Not read: it labels the process so cleanup finds it by its command line after a crash.
    cluster: { type: 'string' },
  },
});
const port = Number(values.port);
if (!values.config || !Number.isInteger(port) || port < 0 || port > 65535 || !values.cert !== !values.key) {
  console.error(`${usage}\n(--config is required, --port is 0..65535, --cert and --key go together)`);
  process.exit(2);
}

const logger = createLogger({ component: 'identity', file: values.log });
try {
  const tls = values.cert && values.key ? { cert: readFileSync(values.cert), key: readFileSync(values.key) } : undefined;
  const identity = createIdentityServer({ config: loadIdentityConfig(values.config), configPath: values.config, tls, statePath: values['state-dir'], logger });
  const { url } = await identity.listen(port, values.host, values['listen-fd'] === undefined ? undefined : Number(values['listen-fd']));
  logger.info('listening', { url });
  notifyReady();
  for (const sig of ['SIGTERM', 'SIGINT'] as const) {
    process.once(sig, () => {
      logger.info('stopping', { signal: sig });
      void identity.close().then(() => process.exit(0));
    });
  }
} catch (err) {
  // A bad config or a busy port: one line that says which, in the log and on stderr for whoever started us.
  logger.error('cannot start', { error: (err as Error).message });
  if (values.log) console.error(`identity: ${(err as Error).message}`);
  process.exit(1);
}
