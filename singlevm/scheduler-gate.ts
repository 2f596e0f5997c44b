// The scheduler gate (docs/singlevm-network.md, "A second machine joins"): run inside the cluster
// namespace, it listens on the cluster network (198.51.100.1:<scheduler port>) and pipes each
// connection to the scheduler's Unix socket, whose path no network namespace hides. It only moves
// bytes: the TLS, and every check on who connects, are the scheduler's.
import net from 'node:net';
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    listen: { type: 'string' }, socket: { type: 'string' }, 'pid-file': { type: 'string' }, cluster: { type: 'string' },
  },
});
const at = values.listen?.match(/^(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})$/);
if (!at || !values.socket || !values['pid-file']) {
  console.error('usage: scheduler-gate --listen ADDRESS:PORT --socket PATH --pid-file FILE --cluster NAME');
  process.exit(2);
}

const server = net.createServer((client) => {
  const scheduler = net.connect(values.socket!);
  const end = () => {
    client.destroy();
    scheduler.destroy();
  };
  client.on('error', end).on('close', end);
  scheduler.on('error', end).on('close', end);
  client.pipe(scheduler).pipe(client);
});
server.on('error', (err) => {
  console.error(`scheduler gate: ${err.message}`);
  process.exit(1);
});
server.listen({ host: at[1], port: Number(at[2]) }, () => {
  // The pid file says it listens: whoever started it waits for it.
  void writeFile(values['pid-file']!, `${process.pid}\n`).then(() => console.log(`scheduler gate: ${values.listen} → ${values.socket}`));
});
for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, () => process.exit(0));
