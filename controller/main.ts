// Entry point of the controller daemon.
import { parseArgs } from 'node:util';
import { join } from 'node:path';
import { readTls, clusterAgent } from '../shared/tls-files.ts';
import { createLogger } from '../shared/log.ts';
import { openSqliteStore } from './datastore/sqlite-store.ts';
import { identityCheck } from './auth.ts';
import { Controller } from './controller.ts';
import { notifyReady } from '../shared/ready-notify.ts';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '8889' },
    host: { type: 'string', default: '127.0.0.1' },
    // A socket bound and listening already, at --host and --port: its keeper's (singlevm/keeper.sh).
    'listen-fd': { type: 'string' },
    'state-dir': { type: 'string' },
    identity: { type: 'string' },
    ca: { type: 'string' }, cert: { type: 'string' }, key: { type: 'string' },
    'client-cert': { type: 'string' }, 'client-key': { type: 'string' },
    'scheduler-host': { type: 'string', default: '127.0.0.1' },
    'scheduler-port': { type: 'string', default: '8888' },
    log: { type: 'string' },
    cluster: { type: 'string' },
    egress: { type: 'boolean', default: false },
  },
});
const missing = ['state-dir', 'identity', 'ca', 'cert', 'key', 'client-cert', 'client-key'].filter((k) => !values[k as keyof typeof values]);
if (missing.length) {
  console.error(`controller: missing ${missing.map((m) => `--${m}`).join(', ')}`);
  process.exit(2);
}
const stateDir = values['state-dir']!;
const logger = createLogger({ component: 'controller', file: values.log });
const server = readTls({ ca: values.ca!, cert: values.cert!, key: values.key! });
const client = readTls({ ca: values.ca!, cert: values['client-cert']!, key: values['client-key']! });
const controller = new Controller({
  store: openSqliteStore(join(stateDir, 'controller.db')),
  tokenCheck: identityCheck(values.identity!, clusterAgent(values.ca!)),
  imageDir: join(stateDir, 'images'),
  volumeDir: join(stateDir, 'volumes'),
  logger,
  tls: { cert: server.cert, key: server.key },
  scheduler: { host: values['scheduler-host']!, port: Number(values['scheduler-port']), tls: client },
  egress: values.egress,
});
const url = await controller.listen(Number(values.port), values.host, values['listen-fd'] === undefined ? undefined : Number(values['listen-fd']));
logger.info('listening', { url });
notifyReady();
for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.on(sig, () => void controller.close().then(() => process.exit(0)));
}
