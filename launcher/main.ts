// Entry point of the launcher daemon.
//   --backend real        one node with real workloads: Docker containers, QEMU VMs and (network
//                         role) the tenants' CNCIs, all in the cluster's namespaces (needs root)
//   --backend simulation  no workloads; one process hosts many nodes (`--nodes N`), each its own
//                         identity and protocol connection, for scale tests
import { parseArgs } from 'node:util';
import { cpus, hostname, loadavg, totalmem } from 'node:os';
import { readFileSync } from 'node:fs';
import { statfs } from 'node:fs/promises';
import { join } from 'node:path';
import Docker from 'dockerode';
import { readTls } from '../shared/tls-read.ts';
import { setTimeout as delay } from 'node:timers/promises';
import { createLogger, type Logger } from '../shared/log.ts';
import { DOCKER_SOCKET } from '../shared/dockerd.ts';
import { StartFailureReason, type Role, type StartPayload } from '../protocol/payloads.ts';
import { CnciAgent } from '../cnci/agent.ts';
import { SimulatedNat, type Nat } from '../cnci/nat.ts';
import { CnciBackend } from '../cnci/cnci-backend.ts';
import { Launcher, type NodeCapacity } from './launcher.ts';
import { SimulationBackend } from './simulation-backend.ts';
import { DockerBackend } from './docker-backend.ts';
import { prepareTemplates } from './vm-snapshot-later.ts';
import { VmSnapshots } from './vm-snapshot.ts';
import { QemuBackend } from './qemu-backend.ts';
import { NodeNetwork } from './node-network.ts';
import type { Backend } from './backend.ts';
import { notifyReady } from '../shared/ready-notify.ts';
import { useSpawnHelper } from '../shared/run.ts';

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
    'mem-mb': { type: 'string' },
    vcpus: { type: 'string' },
    'disk-mb': { type: 'string' },
    'boot-delay-ms': { type: 'string', default: '100' },
    'stats-interval-ms': { type: 'string', default: '5000' },
    'start-failure': { type: 'string' },
    log: { type: 'string' },
    cluster: { type: 'string' },
    // real backend
    'cluster-ns': { type: 'string' },
    'node-ns': { type: 'string' },
    'node-ip': { type: 'string' },
    // One of several real nodes on this machine: its own hostname, and its own containers on the shared Docker engine.
    hostname: { type: 'string' },
    'label-containers': { type: 'boolean', default: false },
    // With it: also the cluster's containers without a node label (node 0, made when it was the only node).
    'adopt-unlabelled': { type: 'boolean', default: false },
    'state-dir': { type: 'string' },
    'vm-kernel': { type: 'string' },
    'vm-initrd': { type: 'string' },
    'vm-image': { type: 'string', multiple: true, default: [] },
    /** KEY=VALUE, every workload's (the proxies, docs/egress.md "Proxies"). */
    'workload-env': { type: 'string', multiple: true, default: [] },
    accel: { type: 'string', default: 'tcg' },
    // VM snapshot templates (docs/vm-snapshots.md): where they are kept (absent: every VM cold-boots),
    // and the shapes (VCPUS:MEMMB) made at the start rather than at the first VM of each.
    'vm-snapshots': { type: 'string' },
    'vm-snapshot-shape': { type: 'string', multiple: true, default: [] },
    // Then, one at a time and niced, the templates of the shapes VMs are likely to ask for next
    // (launcher/vm-snapshot-later.ts).
    'vm-snapshot-later': { type: 'boolean', default: false },
    // The cluster's egress (docs/egress.md): the resolver tenants' DNS forwards to. Absent: no egress.
    'egress-dns': { type: 'string' },
  },
});

function fail(message: string): never {
  console.error(`launcher: ${message}`);
  process.exit(2);
}

if (!values.ca || !values.cert || !values.key) fail('--ca, --cert and --key are required');
if (values.backend !== 'simulation' && values.backend !== 'real') fail(`--backend must be real or simulation, not ${values.backend}`);
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
const roles = values.roles!.split(',') as Role[];
const num = (flag: 'mem-mb' | 'vcpus' | 'disk-mb', fallback: number) => (values[flag] === undefined ? fallback : Number(values[flag]));

/** A CNCI agent on the cluster protocol, with the NAT its backend gives it. */
const cnciAgent = (log: Logger) => (spec: StartPayload, nat: Nat, address?: string, setEgress?: (on: boolean) => Promise<void>) => {
  if (!cnciTls) throw new Error('--cnci-cert and --cnci-key are needed to run CNCIs');
  const agent = new CnciAgent({
    instanceId: spec.instanceId, tenantId: spec.tenantId, nat, address, setEgress, scheduler: { ...scheduler, tls: cnciTls }, logger: log.child({ cnci: spec.instanceId }),
  });
  agent.start();
  return agent;
};

const launchers = values.backend === 'real' ? [await realNode()] : simulatedNodes();

/** --workload-env KEY=VALUE…, checked (setup made them: network/proxy.ts). */
function workloadEnvironment(pairs: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of pairs) {
    const m = pair.match(/^([A-Za-z_][A-Za-z0-9_]*)=([^\s'"\\$`]*)$/);
    if (!m) fail(`--workload-env ${JSON.stringify(pair)}: KEY=VALUE, without quotes, spaces, backslashes, $ or backquotes`);
    out[m[1]] = m[2];
  }
  return out;
}

/** A real node: its namespace and leg were made by setup; capacity is the host's (or the share
 *  setup gives it: --mem-mb, --vcpus, --disk-mb), load the host's. */
async function realNode(): Promise<Launcher> {
  const need = ['cluster', 'cluster-ns', 'node-ns', 'node-ip', 'state-dir', 'vm-kernel', 'vm-initrd'] as const;
  for (const k of need) if (!values[k]) fail(`--backend real needs --${k}`);
  // A real node runs ~40 `ip` and friends for each tenant network: from this process each fork
  // would cost several times the command itself (docs/spawn-helper.md).
  useSpawnHelper();
  if (values.accel !== 'tcg' && values.accel !== 'kvm') fail('--accel must be tcg or kvm');
  const nodeId = values['node-prefix']!;
  const log = logger.child({ node: nodeId });
  const stateDir = values['state-dir']!;
  const network = new NodeNetwork(values['node-ns']!, values['node-ip']!);
  const image = { kernel: values['vm-kernel']!, initrd: values['vm-initrd']! };
  const egress = values['egress-dns'] ? { dns: values['egress-dns'] } : undefined;
  const environment = workloadEnvironment(values['workload-env']!);
  // The real nodes' legs (docs/protocol.md, "Tunnel endpoints"): this node's own until the scheduler's set comes.
  let nodePeers = [network.legIp];
  const snapshots = values['vm-snapshots'] ? new VmSnapshots({ dir: values['vm-snapshots'], runDir: stateDir, log: (msg, fields) => log.info(msg, fields) }) : undefined;
  const shapes = values['vm-snapshot-shape']!.map((shape) => {
    const m = /^(\d+):(\d+):(\d+)$/.exec(shape);
    if (!m) fail(`--vm-snapshot-shape ${JSON.stringify(shape)}: VCPUS:MEMMB:DISKMB`);
    return { vcpus: Number(m[1]), memMB: Number(m[2]), diskMB: Number(m[3]) };
  });
  // In the background: the node is ready meanwhile, and its first VMs cold-boot.
  if (snapshots) {
    void prepareTemplates(snapshots, values['vm-snapshots']!, { ...image, accel: values.accel }, shapes, values['vm-snapshot-later']!)
      .catch((err: Error) => log.warn('VM snapshot templates not prepared', { error: err.message }));
  }
  const backends: { qemu: Backend; docker: Backend; cnci?: CnciBackend } = {
    qemu: new QemuBackend({
      stateDir, nodeNs: network.ns, network, accel: values.accel, cluster: values.cluster!,
      images: Object.fromEntries(values['vm-image']!.map((id) => [id, image])), environment,
      snapshots, log: (msg, fields) => log.info(msg, fields),
    }),
    docker: new DockerBackend({
      docker: new Docker({ socketPath: DOCKER_SOCKET }), cluster: values.cluster!, network, stateDir, gatewayDns: !!egress, environment,
      node: values['label-containers'] ? nodeId : undefined, adoptUnlabelled: values['adopt-unlabelled'],
    }),
  };
  if (roles.includes('network')) {
    backends.cnci = new CnciBackend({
      cluster: values.cluster!, clusterNs: values['cluster-ns']!, stateDir, logger: log,
      nodeIps: () => nodePeers, startAgent: cnciAgent(log), egress,
    });
  }
  const disk = await statfs(stateDir);
  // vcpus are overcommitted 16 to 1, Nova's default (initial_cpu_allocation_ratio): guests mostly
  // idle, and a 2-core machine must still run verify's four instances beside the CNCIs, and BAT's
  // tests side by side, each with its tenant's CNCI (docs/bat.md, "How many at once").
  const capacity: NodeCapacity = {
    memMB: num('mem-mb', Math.floor(totalmem() / 2 ** 20) - 1024),
    vcpus: num('vcpus', cpus().length * 16),
    diskMB: num('disk-mb', Math.floor((disk.bavail * disk.bsize) / 2 ** 20)),
  };
  log.info('real node', { ...capacity, ns: network.ns, legIp: network.legIp, accel: values.accel });
  return new Launcher({
    nodeId, hostname: values.hostname ?? hostname(), roles, scheduler, capacity, backends, logger: log, stoppedFile: join(stateDir, 'stopped.json'), shelvedFile: join(stateDir, 'shelved.json'), actionsFile: join(stateDir, 'actions.json'),
    statsIntervalMs: Number(values['stats-interval-ms']), load: () => loadavg()[0], startFailure: startFailure?.data ?? null,
    tunnelIp: network.legIp,
    onTunnelPeers: async (ips) => {
      nodePeers = ips;
      await network.setNodePeers(ips);
      await backends.cnci?.setNodePeers();
    },
  });
}

function simulatedNodes(): Launcher[] {
  const out: Launcher[] = [];
  for (let i = 0; i < count; i++) {
    const nodeId = count === 1 ? values['node-prefix']! : `${values['node-prefix']}-${i}`;
    const nodeLog = logger.child({ node: nodeId });
    const startAgent = cnciAgent(nodeLog);
    const backend = new SimulationBackend({
      bootDelayMs: Number(values['boot-delay-ms']),
      startCnci: cnciTls && ((spec) => startAgent(spec, new SimulatedNat())),
    });
    out.push(new Launcher({
      nodeId, hostname: count === 1 ? hostname() : nodeId, roles, scheduler, simulated: true,
      capacity: { memMB: num('mem-mb', 16384), vcpus: num('vcpus', 32), diskMB: num('disk-mb', 102400) },
      backends: { qemu: backend, docker: backend },
      statsIntervalMs: Number(values['stats-interval-ms']),
      logger: nodeLog,
      startFailure: startFailure?.data ?? null,
    }));
  }
  return out;
}

// Join with at most JOINING handshakes under way: thousands of nodes in one process do not all
// handshake at the same instant, and the next node starts as soon as one is in (waves that waited
// for their slowest member left the scheduler and the launchers taking turns to be idle).
const JOINING = 200;
let joined = 0;
await Promise.all(Array.from({ length: Math.min(JOINING, launchers.length) }, async () => {
  while (joined < launchers.length) {
    const l = launchers[joined++];
    await l.start();
    // A node that cannot join keeps trying on its own (protocol/client.ts); after 30 s the next one goes on.
    const patience = new AbortController();
    const late = await Promise.race([l.joined().then(() => false), delay(30_000, true, { signal: patience.signal })]);
    patience.abort();
    if (late) logger.warn(`node ${l.id} has not joined after 30 s`);
  }
}));
logger.info('launchers started', { count: launchers.length, backend: values.backend });
notifyReady();
for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  // The nodes' records (actions under way, shelved and stopped instances) are written whole first.
  process.on(sig, () => void Promise.all(launchers.map((l) => l.stop())).finally(() => process.exit(0)));
}
