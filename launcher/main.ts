// Entry point of the launcher daemon. With the simulation backend one process can host many nodes,
// each its own identity and its own protocol connection (`--nodes N`).
import { parseArgs } from 'node:util';
import { hostname } from 'node:os';
import { readFileSync } from 'node:fs';
import { readTls } from '../shared/tls-files.ts';
import { waitFor } from '../shared/wait-for.ts';
import { createLogger } from '../shared/log.ts';
import { StartFailureReason, type Role } from '../protocol/payloads.ts';
import { CnciAgent } from '../cnci/agent.ts';
import { SimulatedNat } from '../cnci/nat.ts';
import { Launcher } from './launcher.ts';
import { SimulationBackend } from './simulation-backend.ts';

const { values } = parseArgs({
  options: {
    backend: { type: 'string', default: 'simulation' },
    'scheduler-host': { type: 'string', default: '127.0.0.1' },
    'scheduler-port': { type: 'string', default: '8888' },
    ca: { type: 'string' }, cert: { type: 'string' }, key: { type: 'string' },
    'cnci-cert': { type: 'string' }, 'cnci-key': { type: 'string' },
    nodes: { type: 'string', default: '1' },
    'node-prefix': { type: 'string', default: 'node' },
    roles: { type: 'string', default: 'compute,network' },
    'mem-mb': { type: 'string', default: '16384' },
    vcpus: { type: 'string', default: '16' },
    'disk-mb': { type: 'string', default: '102400' },
    'boot-delay-ms': { type: 'string', default: '100' },
    'stats-interval-ms': { type: 'string', default: '5000' },
    'start-failure': { type: 'string' },
    log: { type: 'string' },
    cluster: { type: 'string' },
  },
});

function fail(message: string): never {
  console.error(`launcher: ${message}`);
  process.exit(2);
}

if (!values.ca || !values.cert || !values.key) fail('--ca, --cert and --key are required');
if (values.backend !== 'simulation') fail(`backend ${values.backend} is not available in this build (simulation only)`);
const count = Number(values.nodes);
const startFailure = values['start-failure'] === undefined ? undefined : StartFailureReason.safeParse(values['start-failure']);
if (startFailure && !startFailure.success) fail(`--start-failure must be one of ${StartFailureReason.options.join(', ')}`);
if (!Number.isInteger(count) || count < 1) fail('--nodes must be a positive whole number');

const logger = createLogger({ component: 'launcher', file: values.log });
const tls = readTls({ ca: values.ca, cert: values.cert, key: values.key });
const scheduler = { host: values['scheduler-host']!, port: Number(values['scheduler-port']), tls };
const cnciTls = values['cnci-cert'] && values['cnci-key']
  ? { ca: tls.ca, cert: readFileSync(values['cnci-cert']), key: readFileSync(values['cnci-key']) }
  : undefined;

const launchers: Launcher[] = [];
for (let i = 0; i < count; i++) {
  const nodeId = count === 1 ? values['node-prefix']! : `${values['node-prefix']}-${i}`;
  const nodeLog = logger.child({ node: nodeId });
  const backend = new SimulationBackend({
    bootDelayMs: Number(values['boot-delay-ms']),
    startCnci: cnciTls && ((spec) => {
      const agent = new CnciAgent({
        instanceId: spec.instanceId, tenantId: spec.tenantId, nat: new SimulatedNat(),
        scheduler: { ...scheduler, tls: cnciTls }, logger: nodeLog.child({ cnci: spec.instanceId }),
      });
      agent.start();
      return agent;
    }),
  });
  launchers.push(new Launcher({
    nodeId, hostname: count === 1 ? hostname() : nodeId,
    roles: values.roles!.split(',') as Role[],
    scheduler,
    capacity: { memMB: Number(values['mem-mb']), vcpus: Number(values.vcpus), diskMB: Number(values['disk-mb']) },
    backends: { qemu: backend, docker: backend },
    statsIntervalMs: Number(values['stats-interval-ms']),
    logger: nodeLog,
    startFailure: startFailure?.data ?? null,
  }));
}
// Join in waves so thousands of nodes in one process do not all handshake at the same instant.
const WAVE = 200;
for (let i = 0; i < launchers.length; i += WAVE) {
  const wave = launchers.slice(i, i + WAVE);
  await Promise.all(wave.map((l) => l.start()));
  await waitFor(`nodes ${i}-${i + wave.length - 1} to join`, () => wave.every((l) => l.connected), { timeoutMs: 30_000, intervalMs: 20 }).catch((err) => logger.warn((err as Error).message));
}
logger.info('launchers started', { count, backend: values.backend });
for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.on(sig, () => {
    for (const l of launchers) l.stop();
    process.exit(0);
  });
}
