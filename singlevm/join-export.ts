// `setup.sh --export-join FILE …` on a running real cluster: a join bundle for one more node on
// another machine (singlevm/join-bundle.ts), and the cluster's end of the underlay it will join over —
// the macvlan leg, the tunnel on ciao_br, its firewall and the scheduler gate (docs/singlevm-network.md,
// "A second machine joins"). Nothing else of the cluster changes.
import { access, mkdir, readFile, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { clusterName, scriptArgs, usageError as scriptUsageError } from './script-args.ts';
import { clusterPaths, readClusterRecord } from './cluster-files.ts';
import { readPidFile } from '../shared/detached.ts';
import { issueCert } from '../shared/pki.ts';
import { ipToInt } from '../controller/addresses.ts';
import { listNamespaces } from '../network/namespaces.ts';
import { CLUSTER_IP } from '../network/cluster-leg.ts';
import { joinedLeg, joinedNodeId, MAX_JOINS, parseDuration, UNDERLAY_PORT, UNDERLAY_VNI, writeBundle } from './join-bundle.ts';
import { ensureClusterUnderlay, joinsDir, readJoins, recordJoin } from './join-underlay.ts';

const USAGE = `usage: setup.sh --export-join FILE --underlay IFACE --address B/PREFIX --join-address A [--name NAME] [--valid-for 1h] [--cert-days 7]

On a running real cluster, writes a join bundle (0600) for one more node on another machine
(./singlevm/join.sh FILE there), and makes this cluster's end of the underlay: a macvlan of IFACE at B
inside the cluster's namespace, a VXLAN to A over it, a firewall that lets only that VXLAN cross, and
the scheduler gate. The host's own namespace is not changed (docs/singlevm-network.md).
  --underlay IFACE     the NIC the two machines share a LAN on (explicit opt-in: cluster traffic crosses it)
  --address B/PREFIX   this cluster's address on that LAN (free, not the host's own; kept for later joins)
  --join-address A     the address the joining machine takes on the LAN (in B's prefix)
  --valid-for D        how long the bundle may be used: 30m, 1h (default), at most 24h
  --cert-days N        how long the node's certificate is valid (default 7, at most 90)
  --underlay-netns NS  (tests) the namespace IFACE is in, instead of the host's`;

const values = scriptArgs('setup', USAGE, {
  'export-join': { type: 'string' }, underlay: { type: 'string' }, 'underlay-netns': { type: 'string' },
  address: { type: 'string' }, 'join-address': { type: 'string' }, 'valid-for': { type: 'string', default: '1h' },
  'cert-days': { type: 'string', default: '7' }, name: { type: 'string' },
});
const usageError = (message: string): never => scriptUsageError('setup', USAGE, message);
const fail = (message: string): never => {
  console.error(`setup --export-join: ${message}`);
  process.exit(1);
};
const name = clusterName('setup', USAGE, values.name);
const file = values['export-join'] ? resolve(values['export-join']) : usageError('--export-join FILE is required');
const iface = values.underlay ?? usageError('--underlay IFACE is required: the NIC the machines share (docs/singlevm-network.md)');
if (!/^[A-Za-z0-9_.-]{1,15}$/.test(iface)) usageError(`--underlay ${JSON.stringify(iface)}: an interface name`);
const ipv4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const [local, prefixText] = (values.address ?? usageError('--address B/PREFIX is required')).split('/');
const prefix = Number(prefixText);
if (!ipv4.test(local) || !Number.isInteger(prefix) || prefix < 8 || prefix > 30) usageError('--address: an IPv4 address with a prefix from /8 to /30, e.g. 192.168.1.50/24');
const peer = values['join-address'] ?? usageError('--join-address A is required');
if (!ipv4.test(peer) || peer === local) usageError('--join-address: an IPv4 address other than --address');
const mask = (~0 << (32 - prefix)) >>> 0;
if (((ipToInt(peer) ^ ipToInt(local)) & mask) !== 0) usageError(`--join-address ${peer} is not in ${local}/${prefix}: the two ends meet on one LAN, with no route`);
const validMs = parseDuration(values['valid-for']!);
if (!validMs || validMs > 24 * 3_600_000) usageError('--valid-for: a duration such as 30m or 1h, at most 24h');
const certDays = Number(values['cert-days']);
if (!Number.isInteger(certDays) || certDays < 1 || certDays > 90) usageError('--cert-days: a whole number from 1 to 90');
const ifaceNs = values['underlay-netns'];
if (ifaceNs !== undefined && !(await listNamespaces()).includes(ifaceNs)) usageError(`--underlay-netns ${JSON.stringify(ifaceNs)}: no such namespace`);

// Before anything changes: a bundle is never written over a file (writeBundle checks again, atomically).
if (await access(file).then(() => true, () => false)) fail(`${file} exists: a bundle is never written over a file`);
const paths = clusterPaths(name);
const record = await readClusterRecord(name, paths.record);
if (!record) fail(`no cluster ${name} here (./singlevm/setup.sh --name ${name} first)`);
if (record!.mode !== 'real' || !record!.network) fail(`cluster ${name} is simulated: only a real cluster's network can be joined`);
if (!(await readPidFile(join(paths.pids, 'scheduler.pid')))) fail(`cluster ${name} is not running (./singlevm/setup.sh --name ${name})`);
const socket = join(paths.stateDir, 'scheduler.sock');
if (!(await access(socket).then(() => true, () => false))) fail(`the scheduler of ${name} has no ${socket}: started by an older build (stop.sh, then setup.sh), or the path is over 107 bytes (a shorter CIAO_HOME; ${join(paths.logs, 'scheduler.log')} says)`);
const clusterNs = record!.network!.clusterNs;
const { joins } = await readJoins(paths);
const given = joins.find((j) => j.address === peer);
if (given) fail(`${peer} was given to ${given.nodeId} already: each machine joins with its own address`);
const k = Math.max(0, ...joins.map((j) => j.k)) + 1;
if (k > MAX_JOINS) fail(`at most ${MAX_JOINS} machines join one cluster`);
const nodeId = joinedNodeId(name, k);
const underlay = { iface, ...(ifaceNs ? { ifaceNs } : {}), cidr: `${local}/${prefix}` };

// The cluster's end of the underlay: made once, then each joined machine is one more flood target.
try {
  await ensureClusterUnderlay({ cluster: name, paths, clusterNs, schedulerPort: record!.ports.scheduler }, underlay, [...joins.map((j) => j.address), peer]);
} catch (err) {
  fail((err as Error).message);
}
const joinsFolder = joinsDir(paths);
await mkdir(joinsFolder, { recursive: true, mode: 0o700 });
const certs = await issueCert(joinsFolder, { cert: join(paths.pki, 'ca.crt'), key: join(paths.pki, 'ca.key') },
  { name: `join-${k}`, commonName: nodeId, roles: ['compute'], days: certDays });
const pem = (f: string) => readFile(f, 'utf8');
const expires = new Date(Date.now() + validMs!).toISOString();
try {
  await writeBundle(file, {
    kind: 'ciao-join-bundle', version: 1, cluster: name, nodeId, expires,
    pki: { ca: await pem(join(paths.pki, 'ca.crt')), cert: await pem(certs.cert), key: await pem(certs.key) },
    scheduler: { address: CLUSTER_IP, port: record!.ports.scheduler },
    network: { cidr: '198.51.100.0/24', leg: joinedLeg(k) },
    underlay: { vni: UNDERLAY_VNI, port: UNDERLAY_PORT, cluster: local, node: peer, prefix },
    vmImages: await vmImagesOfNode0(),
  });
} catch (err) {
  fail((err as Error).message);
} finally {
  // The key leaves with the bundle only; the cluster keeps the certificate (its record of the node).
  await rm(certs.key, { force: true });
  for (const f of [`join-${k}.csr`, `join-${k}.ext`]) await rm(join(joinsFolder, f), { force: true });
}
await recordJoin(paths, underlay, { k, nodeId, address: peer, expires });
console.log(`join bundle for node ${nodeId} written to ${file} (0600, valid until ${expires}; certificate ${certDays} day${certDays > 1 ? 's' : ''})
  underlay     ${iface} at ${local}/${prefix} (in ${clusterNs}); the joining machine takes ${peer}
  crosses      only VXLAN ${UNDERLAY_VNI} on udp/${UNDERLAY_PORT} between ${local} and ${peer}
  on it        ./singlevm/join.sh ${values['export-join']} --underlay <its NIC>`);

/** The VM image ids node 0's launcher boots (its --vm-image): the joined node boots the same. */
async function vmImagesOfNode0(): Promise<string[]> {
  const pid = await readPidFile(join(paths.pids, 'launcher.pid'));
  const args = pid ? (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).split('\0') : [];
  return args.flatMap((a, i) => (args[i - 1] === '--vm-image' ? [a] : []));
}

