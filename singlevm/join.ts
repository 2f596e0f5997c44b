// `join.sh FILE --underlay IFACE` on a second machine: it becomes one node of the cluster the bundle
// names (docs/singlevm-network.md, "A second machine joins") — its own namespace, a macvlan of IFACE,
// the tunnel that stretches the cluster network to it, and a launcher inside that namespace. `--leave`
// removes everything it made here. Each step is a flow step, as setup's are.
import { parseArgs } from 'node:util';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { access, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import Docker from 'dockerode';
import { usageError as scriptUsageError } from './script-args.ts';
import { DEFAULT_CLUSTER, validClusterName } from './cluster-files.ts';
import { BundleError, joinNumber, readBundle, type JoinBundle } from './join-bundle.ts';
import { buildDaemons, buildDir } from './build-daemons.ts';
import { probeAccel, type Accel } from './preflight.ts';
import { runFlow, type Step } from './flow.ts';
import { StepRunner } from './step-runner.ts';
import { DOCKER_SOCKET, ensureDockerd, SHARED_DOCKERD_PIDFILE } from '../shared/dockerd.ts';
import { readPidFile, startDetached, stopProcess } from '../shared/detached.ts';
import { waitFor } from '../shared/wait-for.ts';
import { buildVmImage, type VmImage } from '../images/vm-image.ts';
import { buildContainerImage } from '../images/container-image.ts';
import { createNamespace, deleteNamespace, listNamespaces, namespaceName } from '../network/namespaces.ts';
import { addJoinedUplink, addUnderlayLeg, setUnderlayFirewall } from '../network/underlay.ts';

const USAGE = `usage: join.sh [--name NAME] FILE --underlay IFACE [--accel auto|kvm|tcg]
       join.sh --leave [--name NAME]

Joins this machine to the cluster a join bundle names (setup.sh --export-join FILE on the cluster's
machine) as one more node: installs what it needs, makes the node's namespace with a macvlan of IFACE
at the bundle's address, the tunnel to the cluster and its firewall, and starts a launcher in it.
Only VXLAN between the bundle's two addresses crosses IFACE (docs/singlevm-network.md).
  --name NAME          the cluster (with FILE: checked against the bundle's; default ${DEFAULT_CLUSTER} for --leave)
  --underlay IFACE     the NIC on the LAN the cluster's machine is on (explicit opt-in)
  --accel MODE         how VMs run here: auto (default), kvm or tcg
  --leave              stop this machine's node and remove everything join made here
  --underlay-netns NS  (tests) the namespace IFACE is in, instead of the host's`;

const usageError = (message: string): never => scriptUsageError('join', USAGE, message);
let parsed: ReturnType<typeof parse>;
function parse() {
  return parseArgs({
    allowPositionals: true, strict: true,
    options: {
      underlay: { type: 'string' }, 'underlay-netns': { type: 'string' }, accel: { type: 'string', default: 'auto' },
      leave: { type: 'boolean', default: false }, name: { type: 'string' }, help: { type: 'boolean', short: 'h' },
    },
  });
}
try {
  parsed = parse();
} catch (err) {
  usageError((err as Error).message.split('\n')[0]);
}
const { values, positionals } = parsed!;
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}

/** This machine's side of one cluster's join (one per cluster per machine). */
export function joinPaths(cluster: string, home = process.env.CIAO_HOME ?? join(homedir(), 'local')) {
  const dir = join(home, `ciao-join-${cluster}`);
  return { dir, record: join(dir, 'joined.json'), pki: join(dir, 'pki'), logs: join(dir, 'logs'), pids: join(dir, 'pids'), node: join(dir, 'node') };
}

if (values.name !== undefined && !validClusterName(values.name)) {
  usageError(`cluster name ${JSON.stringify(values.name)} must be lowercase letters, digits or '-', at most 16, starting with a letter`);
}
if (values.leave) {
  if (positionals.length || values.underlay) usageError('--leave takes only --name');
  const cluster = values.name || process.env.CIAO_CLUSTER || DEFAULT_CLUSTER;
  if (!validClusterName(cluster)) usageError(`cluster name ${JSON.stringify(cluster)} is not one`);
  console.log(await leave(cluster));
  process.exit(0);
}

if (positionals.length !== 1) usageError('one bundle FILE is needed');
const iface = values.underlay ?? usageError('--underlay IFACE is required: the NIC on the cluster machine\'s LAN');
if (!/^[A-Za-z0-9_.-]{1,15}$/.test(iface)) usageError(`--underlay ${JSON.stringify(iface)}: an interface name`);
const accelFlag = values.accel as 'auto' | Accel;
if (!['auto', 'kvm', 'tcg'].includes(accelFlag)) usageError('--accel must be auto, kvm or tcg');
let bundle: JoinBundle;
try {
  bundle = await readBundle(positionals[0]);
} catch (err) {
  if (!(err instanceof BundleError)) throw err;
  console.error(`join: ${err.message}`);
  process.exit(2);
}
if (values.name !== undefined && values.name !== bundle!.cluster) usageError(`the bundle is for cluster ${bundle!.cluster}, not ${values.name}`);
const ifaceNs = values['underlay-netns'];
if (ifaceNs !== undefined && !(await listNamespaces()).includes(ifaceNs)) usageError(`--underlay-netns ${JSON.stringify(ifaceNs)}: no such namespace`);

interface JoinContext {
  bundle: JoinBundle;
  paths: ReturnType<typeof joinPaths>;
  ns: string;
  cacheDir: string;
  vmImage?: VmImage;
  accel?: Accel;
  launcherEntry?: string;
}

const ctx: JoinContext = {
  bundle: bundle!, paths: joinPaths(bundle!.cluster), ns: namespaceName(bundle!.cluster, `join-${joinNumber(bundle!)}`),
  cacheDir: join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'ciao'),
};
if (await access(ctx.paths.record).then(() => true, () => false) || (await listNamespaces()).includes(ctx.ns)) {
  console.error(`join: this machine has joined cluster ${bundle!.cluster} already (./singlevm/join.sh --leave --name ${bundle!.cluster} first)`);
  process.exit(1);
}

const JOIN_FLOW: Step<JoinContext>[] = [
  {
    name: 'Docker engine, VM and container images',
    async execute(c, progress) {
      await mkdir(c.paths.logs, { recursive: true, mode: 0o700 });
      await ensureDockerd(join(c.paths.logs, 'dockerd.log'), SHARED_DOCKERD_PIDFILE);
      c.vmImage = await buildVmImage(join(c.cacheDir, 'images'), progress);
      await buildContainerImage(new Docker({ socketPath: DOCKER_SOCKET }), join(c.cacheDir, 'images'));
      const found = await probeAccel({ kernel: c.vmImage.kernel, force: accelFlag, cacheFile: join(c.cacheDir, 'accel.json') });
      c.accel = found.accel;
      return `VMs run under ${found.accel.toUpperCase()}: ${found.why}`;
    },
  },
  {
    name: 'build the launcher',
    async execute(c) {
      // Kept by the hash of its sources (.build/_bundles/): on the cluster's own machine (the
      // one-machine test) it is the cluster's own bundle, which nothing rewrites in place.
      c.launcherEntry = (await buildDaemons()).launcher;
    },
  },
  {
    name: (c) => `node namespace and underlay (${iface} at ${c.bundle.underlay.node})`,
    async execute(c) {
      const { underlay: u, network } = c.bundle;
      await writeFile(c.paths.record, `${JSON.stringify({ cluster: c.bundle.cluster, nodeId: c.bundle.nodeId, ns: c.ns })}\n`);
      await createNamespace(c.ns);
      await setUnderlayFirewall(c.ns, u.node, [u.cluster], u.port);
      await addUnderlayLeg(c.ns, iface, `${u.node}/${u.prefix}`, ifaceNs);
      await addJoinedUplink(c.ns, u.node, u.cluster, `${network.leg}/24`, u);
      return `only VXLAN ${u.vni} on udp/${u.port} between ${u.node} and ${u.cluster} crosses ${iface}`;
    },
  },
  {
    name: (c) => `start the launcher of ${c.bundle.nodeId}`,
    async execute(c) {
      const { paths, bundle: b } = c;
      await mkdir(paths.pki, { recursive: true, mode: 0o700 });
      await mkdir(paths.pids, { recursive: true });
      await mkdir(paths.node, { recursive: true });
      const pki = { ca: join(paths.pki, 'ca.crt'), cert: join(paths.pki, 'node.crt'), key: join(paths.pki, 'node.key') };
      await writeFile(pki.ca, b.pki.ca);
      await writeFile(pki.cert, b.pki.cert);
      await writeFile(pki.key, b.pki.key, { mode: 0o600 });
      const vm = c.vmImage!;
      const log = join(paths.logs, 'launcher.log');
      // Inside the node's namespace: its connection to the scheduler leaves by the node's own leg,
      // through the tunnel, to the gate — the host's namespace opens no connection of the cluster's.
      await startDetached({
        name: `launcher of ${b.nodeId}`, command: 'ip', log: join(paths.logs, 'launcher.out'), pidFile: join(paths.pids, 'launcher.pid'),
        args: ['netns', 'exec', c.ns, process.execPath, c.launcherEntry!, '--backend', 'real', '--roles', 'compute',
          '--scheduler-host', b.scheduler.address, '--scheduler-port', String(b.scheduler.port), '--ca', pki.ca, '--cert', pki.cert, '--key', pki.key,
          '--node-prefix', b.nodeId, '--hostname', b.nodeId, '--label-containers', '--cluster-ns', c.ns, '--node-ns', c.ns, '--node-ip', b.network.leg,
          '--state-dir', paths.node, '--vm-kernel', vm.kernel, '--vm-initrd', vm.initrd, ...b.vmImages.flatMap((id) => ['--vm-image', id]),
          '--accel', c.accel!, '--log', log, '--cluster', b.cluster],
      });
      // Accepted: the scheduler sends a node with an endpoint its TUNNEL_PEERS right after the HELLO.
      await waitFor(`the scheduler to accept ${b.nodeId} (log: ${log})`,
        async () => (await readFile(log, 'utf8').catch(() => '')).includes('"tunnel peers"'), { timeoutMs: 30_000, intervalMs: 100 });
    },
  },
];

const steps = new StepRunner(`join of ${bundle!.nodeId} to cluster ${bundle!.cluster}`);
try {
  await runFlow(steps, JOIN_FLOW, ctx);
} catch (err) {
  console.error(`\njoin failed: ${(err as Error).message}\nlogs: ${ctx.paths.logs}\nrun ./singlevm/join.sh --leave --name ${bundle!.cluster} to remove what was made`);
  process.exit(1);
}
console.log(`
This machine is node ${bundle!.nodeId} of cluster "${bundle!.cluster}" (joined in ${steps.totalSeconds.toFixed(1)} s).
  namespace    ${ctx.ns}: underlay ${bundle!.underlay.node} on ${iface}, leg ${bundle!.network.leg} through the tunnel to ${bundle!.underlay.cluster}
  state, logs  ${ctx.paths.dir}
  on the cluster's machine: ciao list nodes
  to leave:    ./singlevm/join.sh --leave --name ${bundle!.cluster}`);
process.exit(0);

/** Everything a join made on this machine: its launcher, its instances, its namespace, its state. */
async function leave(cluster: string): Promise<string> {
  const paths = joinPaths(cluster);
  const record = await readFile(paths.record, 'utf8').then((s) => JSON.parse(s) as { nodeId?: unknown }, () => undefined);
  const nodeId = typeof record?.nodeId === 'string' && /^[a-z][a-z0-9-]*-join-\d{1,2}$/.test(record.nodeId) ? record.nodeId : undefined;
  const pid = await readPidFile(join(paths.pids, 'launcher.pid'));
  if (pid) await stopProcess(pid);
  let containers = 0;
  if (nodeId) {
    const docker = new Docker({ socketPath: DOCKER_SOCKET });
    const found = await docker.listContainers({ all: true, filters: { label: [`ciao.cluster=${cluster}`, `ciao.node=${nodeId}`] } }).catch(() => []);
    for (const c of found) await docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined);
    containers = found.length;
  }
  // The node's QEMUs (and anything else started with a path in its state dir).
  const qemus = await processesUnder(paths.dir);
  for (const p of qemus) await stopProcess(p);
  // Found by name too, so a join that crashed half-way is removed all the same.
  const namespaces = (await listNamespaces()).filter((ns) => new RegExp(`^ciao-${cluster}-join-\\d{1,2}$`).test(ns));
  for (const ns of namespaces) await deleteNamespace(ns);
  await rm(paths.dir, { recursive: true, force: true });
  await rm(buildDir(`join-${cluster}`), { recursive: true, force: true });
  if (!pid && !namespaces.length && !nodeId) return `nothing of cluster ${cluster} was joined here`;
  return `left cluster ${cluster}${nodeId ? ` (node ${nodeId})` : ''}: launcher ${pid ? 'stopped' : 'not running'}, ${containers} container(s) and ${qemus.length} process(es) removed, namespace ${namespaces.join(', ') || 'none'} deleted`;
}

async function processesUnder(dir: string): Promise<number[]> {
  const out: number[] = [];
  for (const entry of await readdir('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    const args = await readFile(`/proc/${pid}/cmdline`, 'utf8').then((s) => s.split('\0'), () => [] as string[]);
    if (args.some((a) => a.includes(`${dir}/`))) out.push(pid);
  }
  return out;
}
