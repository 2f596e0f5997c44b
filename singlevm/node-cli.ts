// `node.sh`: nodes added to and removed from a running real cluster (docs/nodes.md). `add` appends
// a node to the node list in the cluster's record and runs setup's own flow (a resume), which makes
// what is missing — its certificate, namespace, leg and launcher — so a later setup brings it back
// too. `remove` refuses a node that holds instances, or drains or forces it, then takes it down
// and tells the controller to forget it.
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { clusterName, scriptArgs, usageError } from './script-args.ts';
import { clusterPaths, launcherName, readClusterRecord, type ClusterRecord } from './cluster-files.ts';
import { nodeIp, nodesOf, type NodeLeg } from './cluster-network.ts';
import type { NodeRole } from './node-roles.ts';
import { readDemoSh } from './demo-sh.ts';
import { clusterProcesses, REPO_ROOT } from './processes.ts';
import { namespaceName, deleteNamespace } from '../network/namespaces.ts';
import { cnciNamespace } from '../cnci/cnci-backend.ts';
import { stopFromPidFile, stopProcess } from '../shared/detached.ts';
import { ControllerClient, ControllerError } from '../shared/controller-client.ts';
import { clusterAgent } from '../shared/tls-files.ts';
import { run } from '../shared/run.ts';
import { waitFor } from '../shared/wait-for.ts';
import type { Instance, NodeInfo } from '../controller/api-types.ts';

/** Legs .10–.25, below the CNCIs' DHCP range (as setup's --nodes). */
const MAX_NODES = 16;
const USAGE = `usage: node.sh [--name NAME] add [--role compute|network|dual] [--simulated]
       node.sh [--name NAME] remove ID [--drain [--timeout S]] [--force]
       node.sh [--name NAME] list

Adds a node to, or removes one from, a running real cluster (needs root; docs/nodes.md).
  add           a node with the lowest free index k (<cluster>-node-<k>): its namespace, leg
                198.51.100.(10+k), certificate and launcher, made by setup's own steps; setup.sh
                brings it back after a stop, cleanup.sh removes it
    --role R    compute, network or dual (default): its launcher's --roles and its certificate's
    --simulated a simulated node (no namespace, no workloads; shown KIND simulated)
  remove ID     refuses a node that holds instances (naming them); then stops its launcher and what
                runs for it, removes its containers, namespace, certificate and state, and the
                controller forgets it
    --drain     cordon it first, then wait until its instances are deleted by their owners (moves nothing)
    --timeout S how long --drain waits (default 300)
    --force     remove it anyway: its instances are lost (an error event each)
  list          the cluster's node list as its record keeps it
  --name NAME   the cluster (default ciao, or CIAO_CLUSTER)`;

// The command and remove's ID are the positionals, wherever they are; the rest are options.
const argv = process.argv.slice(2);
const isPositional = (a: string, i: number) => !a.startsWith('-') && !['--name', '--role', '--timeout'].includes(argv[i - 1]);
const [command, id, ...extra] = argv.filter(isPositional);
process.argv.splice(2, process.argv.length, ...argv.filter((a, i) => !isPositional(a, i)));
const values = scriptArgs('node', USAGE, {
  name: { type: 'string' }, role: { type: 'string' }, simulated: { type: 'boolean', default: false },
  drain: { type: 'boolean', default: false }, force: { type: 'boolean', default: false }, timeout: { type: 'string', default: '300' },
});
const fail = (message: string): never => usageError('node', USAGE, message);
const name = clusterName('node', USAGE, values.name);
if (command !== 'add' && command !== 'remove' && command !== 'list') fail(command ? `no command ${JSON.stringify(command)}: add, remove or list` : 'add, remove or list?');
if (extra.length || (id && command !== 'remove')) fail(`unexpected ${JSON.stringify([id, ...extra].filter(Boolean).join(' '))}`);
if (command === 'remove' && !id) fail('remove needs the node\'s ID (ciao list nodes)');
if (command !== 'add' && (values.role || values.simulated)) fail('--role and --simulated go with add');
if (command !== 'remove' && (values.drain || values.force)) fail('--drain and --force go with remove');
const role = (values.role ?? 'dual') as NodeRole;
if (!['compute', 'network', 'dual'].includes(role)) fail(`--role must be compute, network or dual, not ${JSON.stringify(values.role)}`);
const timeoutS = Number(values.timeout);
if (!Number.isFinite(timeoutS) || timeoutS <= 0) fail('--timeout must be a number of seconds');
const paths = clusterPaths(name);
const record = await readClusterRecord(name, paths.record);
if (!record) {
  console.error(`node: there is no cluster ${name} (${paths.stateDir}): set it up first`);
  process.exit(1);
}
if (record.mode !== 'real' || !record.network) {
  console.error(`node: cluster ${name} is simulated: node.sh adds and removes nodes of a real cluster (setup.sh --simulate --nodes N sizes a simulated one)`);
  process.exit(1);
}
const network = record.network;
const nodeIdOf = (leg: { index: number }) => `${name}-node-${leg.index}`;
const saveNodes = async (nodes: NodeLeg[]) => {
  const updated: ClusterRecord = { ...record, nodes: nodes.length, network: { ...network, nodes } };
  await writeFile(paths.record, JSON.stringify(updated, null, 2) + '\n');
};

if (command === 'list') {
  for (const leg of nodesOf(network)) console.log(`${nodeIdOf(leg)}\t${leg.simulated ? 'simulated' : leg.ip}\t${leg.role ?? 'dual'}`);
  process.exit(0);
}
if (command === 'add') await add();
else await remove(id!);

async function add(): Promise<never> {
  const legs = nodesOf(network);
  const taken = new Set(legs.map((l) => l.index));
  const index = Array.from({ length: MAX_NODES }, (_, i) => i).find((i) => !taken.has(i));
  if (index === undefined) fail(`cluster ${name} has ${MAX_NODES} nodes, the most a real cluster has (legs .10–.${9 + MAX_NODES})`);
  const leg: NodeLeg = { ns: namespaceName(name, `node-${index}`), ip: nodeIp(index!), index, role, ...(values.simulated ? { simulated: true } : {}) };
  await saveNodes([...legs, leg]);
  console.log(`node ${nodeIdOf({ index: index! })} (${values.simulated ? 'simulated' : leg.ip}, ${role}) added to the record of cluster ${name}: setup makes it`);
  // Setup's own steps make what is missing: this node's certificate, namespace, leg and launcher.
  const setup = spawnSync(join(REPO_ROOT, 'singlevm/setup.sh'), ['--name', name], { stdio: 'inherit' });
  process.exit(setup.status ?? 1);
}

async function remove(nodeId: string): Promise<never> {
  const legs = nodesOf(network);
  const leg = legs.find((l) => nodeIdOf(l) === nodeId);
  if (!leg) {
    console.error(`node: cluster ${name} has no node ${nodeId} (it has ${legs.map(nodeIdOf).join(', ')})`);
    process.exit(1);
  }
  if (leg.index === 0) {
    console.error(`node: ${nodeId} is the cluster's first node (its launcher is the cluster's own daemon): remove another, or clean the cluster up`);
    process.exit(1);
  }
  const env = await readDemoSh(paths.demoSh);
  const admin = new ControllerClient(env.CIAO_CONTROLLER, env.CIAO_IDENTITY,
    { username: env.CIAO_ADMIN_USERNAME, password: env.CIAO_ADMIN_PASSWORD, projectName: env.CIAO_ADMIN_TENANT_NAME ?? 'admin' }, clusterAgent(env.CIAO_CA_CERT_FILE));
  const held = async () => (await admin.call<{ instances: Instance[] }>('GET', `/nodes/${nodeId}/instances`)).instances;
  /** What binds the node: its instances (CNCIs of tenants with instances elsewhere, as the controller counts them). */
  const binding = async () => {
    const all = await held();
    const tenantsElsewhere = async (tenant: string) =>
      (await admin.call<{ instances: Instance[] }>('GET', `/tenants/${tenant}/instances`)).instances.some((i) => i.node_id !== nodeId);
    const out: Instance[] = [];
    for (const i of all) if (!i.cnci || await tenantsElsewhere(i.tenant_id)) out.push(i);
    return out;
  };
  const known = await admin.call<NodeInfo>('GET', `/nodes/${nodeId}`).catch((e) => (e instanceof ControllerError && e.status === 404 ? undefined : Promise.reject(e)));
  if (known && !values.force) {
    let bound = await binding();
    if (bound.length && !values.drain) {
      console.error(`node: ${nodeId} holds ${bound.length} instance(s): ${bound.map((i) => `${i.id}${i.cnci ? ` (CNCI of tenant ${i.tenant_id})` : ` (${i.state})`}`).join(', ')}
  delete them, or --drain (wait for their owners to), or --force (they are lost)`);
      process.exit(1);
    }
    if (values.drain) {
      await admin.call('POST', `/nodes/${nodeId}/cordon`);
      console.log(`node ${nodeId} cordoned: waiting up to ${timeoutS} s for its ${bound.length} instance(s) to be deleted`);
      let last = -1;
      await waitFor(`the instances of ${nodeId} to be deleted (node.sh remove --force removes it anyway)`, async () => {
        bound = await binding();
        if (bound.length !== last) console.log(`  ${bound.length} left${bound.length ? `: ${bound.map((i) => i.id).join(', ')}` : ''}`);
        last = bound.length;
        return bound.length === 0;
      }, { timeoutMs: timeoutS * 1000, intervalMs: 500 }).catch((err: Error) => {
        console.error(`node: ${err.message}`);
        process.exit(1);
      });
    }
  }
  const cncis = known ? (await held()).filter((i) => i.cnci) : [];
  // The launcher first (so it reports no loss), then what runs for the node: its QEMUs, containers, namespaces.
  await stopFromPidFile(join(paths.pids, `${launcherName(leg.index)}.pid`));
  await rm(join(paths.pids, `${launcherName(leg.index)}.pid`), { force: true });
  const dir = paths.nodeDir(leg.index);
  for (const p of await clusterProcesses(name, paths.stateDir)) {
    if (p.cmdline.split(' ').some((a) => a === dir || a.includes(`${dir}/`))) await stopProcess(p.pid);
  }
  const containers = (await run('docker', ['ps', '-aq', '--filter', `label=ciao.node=${nodeId}`], { allowFailure: true })).stdout.split('\n').filter(Boolean);
  if (containers.length) await run('docker', ['rm', '-f', ...containers], { allowFailure: true });
  if (!leg.simulated) await deleteNamespace(leg.ns);
  for (const c of cncis) await deleteNamespace(cnciNamespace(name, c.tenant_id));
  if (known) {
    await waitFor(`${nodeId} to be missing`, async () => (await admin.call<NodeInfo>('GET', `/nodes/${nodeId}`)).status === 'MISSING', { timeoutMs: 10_000 });
    await admin.call('DELETE', `/nodes/${nodeId}${values.force ? '?force=true' : ''}`);
  }
  await rm(dir, { recursive: true, force: true });
  for (const ext of ['crt', 'key', 'csr', 'ext']) await rm(join(paths.pki, `agent-${leg.index}.${ext}`), { force: true });
  await saveNodes(legs.filter((l) => l !== leg));
  console.log(`node ${nodeId} removed: ${containers.length} container(s), its namespace, certificate and state; the controller forgot it${cncis.length ? ` (and ${cncis.length} CNCI(s))` : ''}`);
  process.exit(0);
}
