// `setup`: build, configure and start a whole cluster, write ~/local/demo.sh, print the summary.
// This build brings up the simulated cluster (`--simulate`): control plane + simulated nodes.
import { parseArgs } from 'node:util';
import { mkdir, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { request } from 'undici';
import { createClusterPki, type ClusterPki } from '../shared/pki.ts';
import { clusterAgent } from '../shared/tls-files.ts';
import { run } from '../shared/run.ts';
import { defaultIdentityConfig } from '../mocks/identity/config.ts';
import { ControllerClient } from '../shared/controller-client.ts';
import { StepRunner } from './step-runner.ts';
import { clusterPaths, DEFAULT_CLUSTER, readClusterRecord, validClusterName, type ClusterRecord } from './cluster-files.ts';
import { freePort } from './ports.ts';
import { startDaemon } from './processes.ts';
import { buildDaemons, type DaemonName } from './build-daemons.ts';
import { waitFor } from '../shared/wait-for.ts';
import { writeDemoSh, type Credentials } from './demo-sh.ts';
import { DEFAULT_WORKLOADS, SIM_VM_IMAGE } from './default-workloads.ts';

const USAGE = `usage: setup.sh --simulate [--nodes N] [--name NAME] [--boot-delay-ms MS] [--timings FILE]

Brings up a ciao cluster on this machine and writes ~/local/demo.sh.
  --simulate        control plane + simulated launchers (no root, no VMs): the only mode of this build
  --nodes N         simulated nodes (default 1)
  --name NAME       cluster name (default ${DEFAULT_CLUSTER}); clusters with different names coexist
  --boot-delay-ms   how long a simulated instance takes to "boot" (default 100)
  --timings FILE    also write the step timings as JSON to FILE`;

const { values } = parseArgs({
  options: {
    simulate: { type: 'boolean', default: false },
    nodes: { type: 'string', default: '1' },
    name: { type: 'string', default: process.env.CIAO_CLUSTER || DEFAULT_CLUSTER },
    'boot-delay-ms': { type: 'string', default: '100' },
    'stats-interval-ms': { type: 'string', default: '5000' },
    timings: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

function usageError(message: string): never {
  console.error(`setup: ${message}\n\n${USAGE}`);
  process.exit(2);
}

if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
if (!values.simulate) usageError('this build brings up the simulated cluster only: add --simulate (real VMs and containers come with the singlevm issue)');
const name = values.name!;
if (!validClusterName(name)) usageError(`cluster name ${JSON.stringify(name)} must be lowercase letters, digits or '-', at most 16, starting with a letter`);
const nodes = Number(values.nodes);
if (!Number.isInteger(nodes) || nodes < 1 || nodes > 20000) usageError('--nodes must be a whole number from 1 to 20000');

const paths = clusterPaths(name);
const steps = new StepRunner(`setup of cluster ${name}`);

try {
  await steps.step('preflight', async () => {
    if (await readClusterRecord(name)) throw new Error(`cluster ${name} already exists (${paths.stateDir}): run ./singlevm/cleanup.sh${name === DEFAULT_CLUSTER ? '' : ` --name ${name}`} first`);
    const major = Number(process.versions.node.split('.')[0]);
    if (major < 20) throw new Error(`Node ${process.versions.node} is too old: Node 20 or newer is needed`);
    await run('openssl', ['version']).catch(() => { throw new Error('openssl is missing: apt-get install openssl'); });
  });

  const bundles = await steps.step('build daemons', () => buildDaemons(name));

  const pki = await steps.step('certificates', async () => {
    for (const dir of [paths.stateDir, paths.logs, paths.pids]) await mkdir(dir, { recursive: true, mode: 0o700 });
    return createClusterPki(paths.pki, name);
  });

  const record = await steps.step('configuration', async () => {
    const record: ClusterRecord = {
      name, mode: 'simulate', stateDir: paths.stateDir, nodes, createdAt: new Date().toISOString(),
      ports: { identity: await freePort(), controller: await freePort(), scheduler: await freePort() },
    };
    await writeFile(paths.record, JSON.stringify(record, null, 2) + '\n');
    return record;
  });
  const identityUrl = `https://127.0.0.1:${record.ports.identity}`;
  const controllerUrl = `https://127.0.0.1:${record.ports.controller}`;
  const creds: Credentials = {
    admin: { username: 'admin', password: randomBytes(12).toString('hex'), project: 'admin' },
    user: { username: 'demo', password: randomBytes(12).toString('hex'), project: 'demo' },
  };
  await writeFile(paths.identityConfig, JSON.stringify(defaultIdentityConfig({
    adminPassword: creds.admin.password, demoPassword: creds.user.password, controllerUrl, identityUrl,
  }), null, 2) + '\n', { mode: 0o600 });

  await steps.step('start control plane', async () => {
    await startControlPlane(record, pki, bundles);
    const agent = clusterAgent(pki.ca.cert);
    const answers = (url: string) => async () => (await request(url, { dispatcher: agent })).statusCode === 200;
    await waitFor(`identity at ${identityUrl} (log: ${paths.logs}/identity.out)`, answers(`${identityUrl}/v3`));
    await waitFor(`controller at ${controllerUrl} (log: ${paths.logs}/controller.out)`, answers(`${controllerUrl}/v2.1`));
  });

  const admin = new ControllerClient(controllerUrl, identityUrl,
    { username: creds.admin.username, password: creds.admin.password, projectName: creds.admin.project }, clusterAgent(pki.ca.cert));

  await steps.step(`start ${nodes} simulated node${nodes > 1 ? 's' : ''}`, async (progress) => {
    await startDaemon({
      name: 'launcher', entry: bundles.launcher,
      args: ['--backend', 'simulation', '--nodes', String(nodes), '--node-prefix', `${name}-sim`,
        '--scheduler-port', String(record.ports.scheduler), '--ca', pki.ca.cert, '--cert', pki.agent.cert, '--key', pki.agent.key,
        '--cnci-cert', pki.cnci.cert, '--cnci-key', pki.cnci.key, '--boot-delay-ms', values['boot-delay-ms']!,
        '--stats-interval-ms', values['stats-interval-ms']!, '--log', join(paths.logs, 'launcher.log')],
    }, name, paths);
    await waitFor(`${nodes} nodes to be ready`, async () => {
      const { nodes: n } = await admin.call<{ nodes: { ready: number } }>('GET', '/cluster/status');
      progress(`${n.ready}/${nodes} ready`);
      return n.ready >= nodes;
    }, { timeoutMs: 30_000 + nodes * 10 });
  });

  await steps.step('images and workloads', async () => {
    const image = await admin.call<{ id: string }>('POST', '/image/v2/images', { name: SIM_VM_IMAGE, visibility: 'public', disk_format: 'raw', container_format: 'bare' });
    await admin.call('PUT', `/image/v2/images/${image.id}/file`, Buffer.from('simulated image: the simulation backend boots no guest\n'));
    const adminTenant = await admin.tenantId();
    for (const w of DEFAULT_WORKLOADS) await admin.call('POST', `/tenants/${adminTenant}/workloads`, w);
  });

  await steps.step('write demo.sh', () => writeDemoSh(paths.demoSh, { name, identityUrl, controllerUrl, caFile: pki.ca.cert, stateDir: paths.stateDir, creds }));
  if (values.timings) await steps.writeJson(values.timings);
  await steps.writeJson(join(paths.stateDir, 'setup-timings.json'));
  console.log(`
Your cloud is ready: cluster "${name}" (simulated: ${nodes} node${nodes > 1 ? 's' : ''}), up in ${steps.totalSeconds.toFixed(1)} s.
  identity     ${identityUrl}/v3     (Keystone v3; users admin and demo)
  controller   ${controllerUrl}      (ciao API, Compute ${controllerUrl}/v2.1, Image ${controllerUrl}/image)
  scheduler    127.0.0.1:${record.ports.scheduler}        (cluster protocol, mutual TLS)
  state, logs  ${paths.stateDir}
  credentials  ${paths.demoSh}

Next:
  . ${paths.demoSh}
  ciao list workloads
  ciao create instance --workload <id>
  openstack server list
  ./singlevm/cleanup.sh${name === DEFAULT_CLUSTER ? '' : ` --name ${name}`}`);
} catch (err) {
  console.error(`\nsetup failed: ${(err as Error).message}\nlogs: ${paths.logs}\nrun ./singlevm/cleanup.sh${name === DEFAULT_CLUSTER ? '' : ` --name ${name}`} to remove what was started`);
  process.exit(1);
}

async function startControlPlane(record: ClusterRecord, pki: ClusterPki, bundles: Record<DaemonName, string>) {
  const log = (c: string) => ['--log', join(paths.logs, `${c}.log`)];
  const tls = ['--ca', pki.ca.cert, '--cert', pki.https.cert, '--key', pki.https.key];
  await startDaemon({ name: 'identity', entry: bundles.identity,
    args: ['--config', paths.identityConfig, '--port', String(record.ports.identity), '--cert', pki.https.cert, '--key', pki.https.key, '--state-dir', paths.stateDir, ...log('identity')] }, name, paths);
  await startDaemon({ name: 'scheduler', entry: bundles.scheduler,
    args: ['--port', String(record.ports.scheduler), '--ca', pki.ca.cert, '--cert', pki.scheduler.cert, '--key', pki.scheduler.key, ...log('scheduler')] }, name, paths);
  await startDaemon({ name: 'controller', entry: bundles.controller,
    args: ['--port', String(record.ports.controller), '--state-dir', paths.stateDir, '--identity', `https://127.0.0.1:${record.ports.identity}`,
      ...tls, '--client-cert', pki.controller.cert, '--client-key', pki.controller.key, '--scheduler-port', String(record.ports.scheduler), ...log('controller')] }, name, paths);
}
