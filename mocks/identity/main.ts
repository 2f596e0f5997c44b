// Entry point of the identity service.
import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import { createLogger } from '../../shared/log.ts';
import { loadIdentityConfig } from './config.ts';
import { createIdentityServer } from './server.ts';

const { values } = parseArgs({
  options: {
    config: { type: 'string' },
    port: { type: 'string', default: '5000' },
    host: { type: 'string', default: '127.0.0.1' },
    cert: { type: 'string' },
    key: { type: 'string' },
    'state-dir': { type: 'string' },
    log: { type: 'string' },
    cluster: { type: 'string' },
  },
});
if (!values.config) {
  console.error('usage: identity --config FILE [--port N] [--cert F --key F] [--state-dir D] [--log FILE]');
  process.exit(2);
}
const logger = createLogger({ component: 'identity', file: values.log });
const tls = values.cert && values.key ? { cert: readFileSync(values.cert), key: readFileSync(values.key) } : undefined;
const identity = createIdentityServer({ config: loadIdentityConfig(values.config), configPath: values.config, tls, statePath: values['state-dir'], logger });
const { url } = await identity.listen(Number(values.port), values.host);
logger.info('listening', { url });
for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.on(sig, () => void identity.close().then(() => process.exit(0)));
}
