// Entry point of the scheduler daemon.
import { parseArgs } from 'node:util';
import { readTls } from '../shared/tls-read.ts';
import { createLogger } from '../shared/log.ts';
import { Scheduler } from './server.ts';
import { notifyReady } from '../shared/ready-notify.ts';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '8888' },
    host: { type: 'string', default: '127.0.0.1' },
    ca: { type: 'string' },
    cert: { type: 'string' },
    key: { type: 'string' },
    log: { type: 'string' },
    cluster: { type: 'string' },
    /** Also a Unix socket, for the scheduler gate (a joined machine's way in). */
    socket: { type: 'string' },
  },
});
if (!values.ca || !values.cert || !values.key) {
  console.error('usage: scheduler --ca FILE --cert FILE --key FILE [--port N] [--log FILE]');
  process.exit(2);
}
const logger = createLogger({ component: 'scheduler', file: values.log });
const scheduler = new Scheduler({ tls: readTls({ ca: values.ca, cert: values.cert, key: values.key }), logger });
const port = await scheduler.listen(Number(values.port), values.host);
// Only a joined machine comes this way: a socket that cannot be made (a path over 107 bytes) is
// logged, and the cluster runs without it (setup.sh --export-join then says it is missing).
if (values.socket) await scheduler.listenSocket(values.socket).catch((err: Error) => logger.warn('no scheduler socket: machines cannot join', { socket: values.socket, error: err.message }));
logger.info('listening', { port, host: values.host, socket: values.socket });
notifyReady();
for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.on(sig, () => void scheduler.close().then(() => process.exit(0)));
}
