// `setup`: build, configure and start a whole cluster, write ~/local/demo.sh, print the summary.
// Default: the real cluster (QEMU VMs, Docker containers, CNCIs, all in the cluster's namespaces;
// needs root). `--simulate`: control plane + simulated nodes, no root, no workloads.
import { clusterName, scriptArgs, usageError as scriptUsageError } from './script-args.ts';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { request } from 'undici';
import { createClusterPki, type ClusterPki } from '../shared/pki.ts';
import { clusterAgent } from '../shared/tls-files.ts';
import { run } from '../shared/run.ts';
import { ensureDockerd, SHARED_DOCKERD_PIDFILE } from '../shared/dockerd.ts';
import { defaultIdentityConfig, withHashedPasswords } from '../mocks/identity/config.ts';
import { ControllerClient } from '../shared/controller-client.ts';
import { waitFor } from '../shared/wait-for.ts';
import { buildVmImage, type VmImage } from '../images/vm-image.ts';
import { buildContainerImage } from '../images/container-image.ts';
import { StepRunner } from './step-runner.ts';
import { clusterPaths, DEFAULT_CLUSTER, readClusterRecord, type ClusterRecord } from './cluster-files.ts';
import { freePort, portIsFree } from './ports.ts';
import { startDaemon } from './processes.ts';
import { buildDaemons, type DaemonName } from './build-daemons.ts';
import { writeDemoSh, type Credentials } from './demo-sh.ts';
import { defaultWorkloads, SIM_CONTAINER_IMAGE, VM_IMAGE, VM_ROOT_IMAGE } from './default-workloads.ts';
import { CLUSTER_NETWORK, createClusterNetwork } from './cluster-network.ts';
import { freeDiskMB, missingTools, probeAccel, routeCollisions } from './preflight.ts';
import { snapshotHost, writeHostState } from './host-state.ts';

const USAGE = `usage: setup.sh [--name NAME] [--accel auto|kvm|tcg] [--timings FILE]
       setup.sh --simulate [--nodes N] [--name NAME] [--boot-delay-ms MS] [--timings FILE]

Brings up a ciao cluster on this machine and writes ~/local/demo.sh.
  (default)         the real cluster: one node running QEMU VMs and Docker containers, a CNCI per
                    tenant, all inside network namespaces named for the cluster (needs root)
  --simulate        control plane + simulated launchers (no root, no VMs or containers)
  --nodes N         simulated nodes (default 1)
  --name NAME       cluster name (default ${DEFAULT_CLUSTER}); clusters with different names coexist
  --accel MODE      how VMs run: auto (probe KVM, fall back to TCG; default), kvm or tcg (also CIAO_ACCEL)
  --boot-delay-ms   how long a simulated instance takes to "boot" (default 100)
  --timings FILE    also write the step timings as JSON to FILE`;

const values = scriptArgs('setup', USAGE, {
  simulate: { type: 'boolean', default: false },
  nodes: { type: 'string', default: '1' },
  name: { type: 'string' },
  accel: { type: 'string', default: process.env.CIAO_ACCEL || 'auto' },
  'boot-delay-ms': { type: 'string', default: '100' },
  'stats-interval-ms': { type: 'string', default: '5000' },
  timings: { type: 'string' },
});
const usageError = (message: string): never => scriptUsageError('setup', USAGE, message);
const name = clusterName('setup', USAGE, values.name);
const simulate = values.simulate!;
const nodes = simulate ? Number(values.nodes) : 1;
if (!Number.isInteger(nodes) || nodes < 1 || nodes > 20000) usageError('--nodes must be a whole number from 1 to 20000');
if (!simulate && values.nodes !== '1') usageError('--nodes is for --simulate: the real cluster has one node');
const accelWanted = values.accel!;
if (!['auto', 'kvm', 'tcg'].includes(accelWanted)) usageError('--accel must be auto, kvm or tcg');

/** The port a variable asks for (ccloudvm forwards the VM's API ports to its host), when it is free; else any. */
async function wantedPort(variable: string): Promise<number> {
  const port = Number(process.env[variable]);
  return Number.isInteger(port) && port > 0 && await portIsFree(port) ? port : freePort();
}

const paths = clusterPaths(name);
const cacheDir = join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'ciao');
const cleanupCommand = `./singlevm/cleanup.sh${name === DEFAULT_CLUSTER ? '' : ` --name ${name}`}`;
/** What the real cluster runs on the host (setup.sh installs the missing ones from Debian first). */
const REAL_TOOLS = ['ip', 'bridge', 'nsenter', 'qemu-system-x86_64', 'qemu-img', 'mke2fs', 'genisoimage', 'cpio', 'dnsmasq', 'iptables', 'busybox', 'ping', 'ssh', 'ssh-keygen', 'dockerd', 'tar'];
/** The address plan (SPEC §4): the cluster network, tenant subnets, the default external pool. */
const PLAN = [CLUSTER_NETWORK, '172.16.0.0/12', '203.0.113.0/24'];
const steps = new StepRunner(`setup of cluster ${name}${simulate ? ' (simulated)' : ''}`);

try {
  const preflight = await steps.step('preflight', async () => {
    if (await readClusterRecord(name)) throw new Error(`cluster ${name} already exists (${paths.stateDir}): run ${cleanupCommand} first`);
    const major = Number(process.versions.node.split('.')[0]);
    if (major < 20) throw new Error(`Node ${process.versions.node} is too old: Node 20 or newer is needed`);
    await run('openssl', ['version']).catch(() => { throw new Error('openssl is missing: apt-get install openssl'); });
    await run('qemu-img', ['--version']).catch(() => { throw new Error('qemu-img is missing (volumes are qcow2 files): apt-get install qemu-utils'); });
    if (simulate) return;
    if (process.getuid?.() !== 0) throw new Error('the real cluster needs root (network namespaces, QEMU taps, dockerd): run as root, or add --simulate');
    const missing = await missingTools(REAL_TOOLS);
    if (missing.length) throw new Error(`missing tools: ${missing.join(', ')} (setup.sh installs them: run it through ./singlevm/setup.sh)`);
    // The cluster's ranges live only in its namespaces, but verify reaches them from there: a host
    // route into the same ranges would make the results ambiguous, so say so before anything changes.
    const collisions = await routeCollisions(PLAN);
    if (collisions.length) throw new Error(`address plan collides with the host: ${collisions.join('; ')}`);
    const freeMB = await freeDiskMB(paths.home);
    if (freeMB < 2048) throw new Error(`only ${freeMB} MB free under ${paths.home}: the cluster needs 2 GB`);
    for (const dir of [paths.stateDir, paths.logs, paths.pids]) await mkdir(dir, { recursive: true, mode: 0o700 });
    await writeHostState(paths.hostBefore, await snapshotHost({ cluster: name, docker: true }));
    return `root, ${REAL_TOOLS.length} tools present, ${PLAN.join(', ')} clear of the host's routes, ${(freeMB / 1024).toFixed(0)} GB free, host snapshot taken`;
  });
  if (preflight) console.log(`  ${preflight}`);

  const bundles = await steps.step('build daemons', () => buildDaemons(name));

  const pki = await steps.step('certificates', async () => {
    for (const dir of [paths.stateDir, paths.logs, paths.pids]) await mkdir(dir, { recursive: true, mode: 0o700 });
    return createClusterPki(paths.pki, name, { nodes: simulate ? `${name}-sim*` : `${name}-node-0` });
  });

  const real = simulate ? undefined : await prepareRealNode();

  const record = await steps.step('configuration', async () => {
    const record: ClusterRecord = {
      name, mode: simulate ? 'simulate' : 'real', stateDir: paths.stateDir, nodes, createdAt: new Date().toISOString(),
      ports: { identity: await wantedPort('CIAO_IDENTITY_PORT'), controller: await wantedPort('CIAO_CONTROLLER_PORT'), scheduler: await freePort() },
      ...(real ? { accel: real.accel, network: real.network } : {}),
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
  const identityConfig = defaultIdentityConfig({ adminPassword: creds.admin.password, demoPassword: creds.user.password, controllerUrl, identityUrl });
  await withHashedPasswords(identityConfig); // only demo.sh holds the passwords themselves
  await writeFile(paths.identityConfig, JSON.stringify(identityConfig, null, 2) + '\n', { mode: 0o600 });

  await steps.step('start control plane', async () => {
    await startControlPlane(record, pki, bundles);
    const agent = clusterAgent(pki.ca.cert);
    const answers = (url: string) => async () => (await request(url, { dispatcher: agent })).statusCode === 200;
    await waitFor(`identity at ${identityUrl} (log: ${paths.logs}/identity.out)`, answers(`${identityUrl}/v3`));
    await waitFor(`controller at ${controllerUrl} (log: ${paths.logs}/controller.out)`, answers(`${controllerUrl}/v2.1`));
  });

  const admin = new ControllerClient(controllerUrl, identityUrl,
    { username: creds.admin.username, password: creds.admin.password, projectName: creds.admin.project }, clusterAgent(pki.ca.cert));

  const vmImageId = await steps.step('register images', async () => {
    const image = await admin.call<{ id: string }>('POST', '/image/v2/images', { name: VM_IMAGE, visibility: 'public', disk_format: 'raw', container_format: 'bare' });
    const content = real ? await readFile(real.vmImage.initrd) : Buffer.from('simulated image: the simulation backend boots no guest\n');
    await admin.call('PUT', `/image/v2/images/${image.id}/file`, content);
    // Root volumes are made from this one (boot from volume).
    const rootImage = await admin.call<{ id: string }>('POST', '/image/v2/images', { name: VM_ROOT_IMAGE, visibility: 'public', disk_format: 'qcow2', container_format: 'bare' });
    await admin.call('PUT', `/image/v2/images/${rootImage.id}/file`, await readFile(real ? real.vmImage.root : await blankDisk(paths.stateDir)));
    return image.id;
  });

  const launcherArgs = ['--scheduler-port', String(record.ports.scheduler), '--ca', pki.ca.cert, '--cert', pki.agent.cert, '--key', pki.agent.key,
    '--cnci-cert', pki.cnci.cert, '--cnci-key', pki.cnci.key, '--stats-interval-ms', values['stats-interval-ms']!, '--log', join(paths.logs, 'launcher.log')];
  const nodesLabel = real ? `the node (${real.accel.toUpperCase()})` : `${nodes} simulated node${nodes > 1 ? 's' : ''}`;
  await steps.step(`start ${nodesLabel}`, async (progress) => {
    const args = real
      ? ['--backend', 'real', '--node-prefix', `${name}-node-0`, '--cluster-ns', real.network.clusterNs, '--node-ns', real.network.nodeNs,
        '--node-ip', real.network.nodeIp, '--state-dir', paths.node, '--vm-kernel', real.vmImage.kernel, '--vm-initrd', real.vmImage.initrd,
        '--vm-image', vmImageId, '--accel', real.accel]
      : ['--backend', 'simulation', '--nodes', String(nodes), '--node-prefix', `${name}-sim`, '--boot-delay-ms', values['boot-delay-ms']!];
    await mkdir(paths.node, { recursive: true });
    await startDaemon({ name: 'launcher', entry: bundles.launcher, args: [...args, ...launcherArgs] }, name, paths);
    await waitFor(`${nodes} node${nodes > 1 ? 's' : ''} to be ready (log: ${paths.logs}/launcher.out)`, async () => {
      const { nodes: n } = await admin.call<{ nodes: { ready: number } }>('GET', '/cluster/status');
      progress(`${n.ready}/${nodes} ready`);
      return n.ready >= nodes;
    }, { timeoutMs: 30_000 + nodes * 10 });
  });

  await steps.step('workloads', async () => {
    const adminTenant = await admin.tenantId();
    const workloads = defaultWorkloads(real
      ? { containerImage: real.containerImage, sshPublicKey: (await readFile(`${paths.sshKey}.pub`, 'utf8')).trim() }
      : { containerImage: SIM_CONTAINER_IMAGE });
    for (const w of workloads) await admin.call('POST', `/tenants/${adminTenant}/workloads`, w);
  });

  await steps.step('write demo.sh', () => writeDemoSh(paths.demoSh, {
    name, identityUrl, controllerUrl, caFile: pki.ca.cert, stateDir: paths.stateDir, creds, sshKey: real && paths.sshKey, simulated: simulate,
  }));
  if (values.timings) await steps.writeJson(values.timings);
  await steps.writeJson(join(paths.stateDir, 'setup-timings.json'));
  const kind = real ? `real: 1 node, VMs under ${real.accel.toUpperCase()}, containers on Docker` : `simulated: ${nodes} node${nodes > 1 ? 's' : ''}`;
  console.log(`
Your cloud is ready: cluster "${name}" (${kind}), up in ${steps.totalSeconds.toFixed(1)} s.
  identity     ${identityUrl}/v3     (Keystone v3; users admin and demo)
  controller   ${controllerUrl}      (ciao API, Compute ${controllerUrl}/v2.1, Image ${controllerUrl}/image)
  scheduler    127.0.0.1:${record.ports.scheduler}        (cluster protocol, mutual TLS)${real ? `
  network      namespaces ${real.network.clusterNs} (ciao_br, ciaovlan 198.51.100.1/24) and ${real.network.nodeNs}
  SSH key      ${paths.sshKey}   (ssh demouser@<VM address> from the tenant's CNCI namespace)` : ''}
  state, logs  ${paths.stateDir}
  credentials  ${paths.demoSh}

Next:
  . ${paths.demoSh}
  ./singlevm/verify.sh
  ciao list workloads
  ciao create instance --workload <id>
  openstack server list
  ${cleanupCommand}`);
} catch (err) {
  console.error(`\nsetup failed: ${(err as Error).message}\nlogs: ${paths.logs}\nrun ${cleanupCommand} to remove what was started`);
  process.exit(1);
}

/** The real node's ingredients: SSH key, Docker engine, images, how VMs run, the cluster network. */
async function prepareRealNode() {
  await steps.step('SSH key', async () => {
    await mkdir(dirname(paths.sshKey), { recursive: true, mode: 0o700 });
    await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `demouser@ciao-${name}`, '-f', paths.sshKey]);
  });
  const engine = await steps.step('Docker engine', () => ensureDockerd(join(paths.logs, 'dockerd.log'), SHARED_DOCKERD_PIDFILE));
  const vmImage: VmImage = await steps.step('VM image', (progress) => buildVmImage(join(cacheDir, 'images'), progress));
  const containerImage = await steps.step('container image', () => buildContainerImage(engine.docker, join(cacheDir, 'images')));
  const accel = await steps.step('KVM or TCG', async (progress) => {
    progress('probing KVM');
    const found = await probeAccel({ kernel: vmImage.kernel, force: accelWanted as 'auto' | 'kvm' | 'tcg', cacheFile: join(cacheDir, 'accel.json') });
    console.log(`  VMs run under ${found.accel.toUpperCase()}: ${found.why}`);
    return found.accel;
  });
  const network = await steps.step('cluster network', () => createClusterNetwork(name, paths.clusterNet));
  return { vmImage, containerImage, accel, network };
}

async function startControlPlane(record: ClusterRecord, pki: ClusterPki, bundles: Record<DaemonName, string>) {
  const log = (c: string) => ['--log', join(paths.logs, `${c}.log`)];
  const tls = ['--ca', pki.ca.cert, '--cert', pki.https.cert, '--key', pki.https.key];
  // Loopback unless asked (ccloudvm asks for 0.0.0.0 inside its VM: QEMU's forwards reach the guest's NIC, not its loopback).
  const apiHost = process.env.CIAO_API_HOST ? ['--host', process.env.CIAO_API_HOST] : [];
  await startDaemon({ name: 'identity', entry: bundles.identity,
    args: ['--config', paths.identityConfig, '--port', String(record.ports.identity), ...apiHost, '--cert', pki.https.cert, '--key', pki.https.key, '--state-dir', paths.stateDir, ...log('identity')] }, name, paths);
  await startDaemon({ name: 'scheduler', entry: bundles.scheduler,
    args: ['--port', String(record.ports.scheduler), '--ca', pki.ca.cert, '--cert', pki.scheduler.cert, '--key', pki.scheduler.key, ...log('scheduler')] }, name, paths);
  await startDaemon({ name: 'controller', entry: bundles.controller,
    args: ['--port', String(record.ports.controller), ...apiHost, '--state-dir', paths.stateDir, '--identity', `https://127.0.0.1:${record.ports.identity}`,
      ...tls, '--client-cert', pki.controller.cert, '--client-key', pki.controller.key, '--scheduler-port', String(record.ports.scheduler), ...log('controller')] }, name, paths);
}

/** The simulated cluster's root image: a blank qcow2 disk (its nodes boot nothing), a real file all the same. */
async function blankDisk(stateDir: string): Promise<string> {
  const file = join(stateDir, 'simulated-root.qcow2');
  await run('qemu-img', ['create', '-q', '-f', 'qcow2', file, '32M']);
  return file;
}
