// `setup`: build, configure and start a whole cluster, write ~/local/demo.sh, print the summary.
// Default: the real cluster (QEMU VMs, Docker containers, CNCIs, all in the cluster's namespaces;
// needs root). `--simulate`: control plane + simulated nodes, no root, no workloads. On a cluster
// that exists it resumes (docs/lifecycle.md): a healthy one is left alone, and of one stopped,
// crashed or rebooted only what is missing is made again — the steps are in singlevm/actions/.
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { clusterName, scriptArgs, usageError as scriptUsageError } from './script-args.ts';
import { clusterPaths, DEFAULT_CLUSTER, readClusterRecord, type EgressSetting } from './cluster-files.ts';
import { missingParts } from './actions/health.ts';
import { describeEgress, proxyNote, resumeConflict } from './actions/configuration.ts';
import { proxyFromEnv, type ProxySetting } from '../network/proxy.ts';
import type { SetupContext } from './actions/context.ts';
import { describeLayout, layoutConflict, layoutProblem } from './node-roles.ts';
import { NATIVE_PENDING } from './actions/native-module.ts';
// The flow (every action and what it imports: Docker, QEMU, PKI, esbuild…) is loaded only when it
// runs, so setup.sh on a healthy cluster answers in well under a second.

/** Real nodes' legs are 198.51.100.10+i, below the CNCIs' DHCP range (.100–.199); each needs memory. */
const MAX_REAL_NODES = 16;
const USAGE = `usage: setup.sh [--name NAME] [--nodes N [--network-nodes K]] [--sim-nodes M] [--accel auto|kvm|tcg] [--egress [--egress-allow-host PORT]… [--egress-dns ADDR[#PORT]]] [--timings FILE]
       setup.sh --simulate [--nodes N] [--name NAME] [--boot-delay-ms MS] [--timings FILE]

Brings up a ciao cluster on this machine and writes ~/local/demo.sh. On a cluster that exists it
resumes it: a healthy one is left as it is (exit 0); of one stopped (stop.sh), crashed or rebooted,
what is missing is brought back, with its instances, volumes and external IPs.
  (default)         the real cluster: one node running QEMU VMs and Docker containers, a CNCI per
                    tenant, all inside network namespaces named for the cluster (needs root)
  --simulate        control plane + simulated launchers (no root, no VMs or containers)
  --nodes N         nodes (default 1): real ones (up to ${MAX_REAL_NODES}), each its own namespace, launcher and
                    1/N of the host's memory, vcpus and disk; or, with --simulate, simulated ones
  --network-nodes K of the N real nodes, K are network nodes (the tenants' CNCIs run there only) and
                    N−K compute nodes (instances run there only); 1 ≤ K < N. Default: every node
                    is dual-role (both)
  --sim-nodes M     M simulated compute nodes beside the real ones, in the same cluster (one launcher
                    process; they take instances and account capacity, run nothing). Workloads that
                    must run for real say requirements.real_node (verify's do)
  --name NAME       cluster name (default ${DEFAULT_CLUSTER}); clusters with different names coexist
  --accel MODE      how VMs run: auto (probe KVM, fall back to TCG; default), kvm or tcg (also CIAO_ACCEL)
  --egress          give workloads a way out (off by default): through slirp4netns, a user-mode
                    network stack run as an ordinary host process; the host's network is not changed
                    (docs/egress.md). Tenants' DNS forwards to the host's resolvers. http_proxy,
                    https_proxy and no_proxy in this environment are given to workloads; a proxy
                    on the host's loopback is reached at 10.0.2.2 and its port opened
  --egress-allow-host PORT
                    let workloads reach this TCP port of the host's loopback, as
                    host.ciao.internal:PORT (repeat, or PORT,PORT); the rest of it stays closed
  --egress-dns ADDR[#PORT]
                    the resolver tenants' DNS forwards to (an IPv4 address; 127.x means the host's loopback)
  --boot-delay-ms   how long a simulated instance takes to "boot" (default 100)
  --timings FILE    also write the step timings as JSON to FILE
       setup.sh --export-join FILE --underlay IFACE --address B/PREFIX --join-address A   (a running cluster:
                    a bundle for a second machine to join with join.sh; --export-join FILE --help for more)`;

const values = scriptArgs('setup', USAGE, {
  simulate: { type: 'boolean', default: false },
  nodes: { type: 'string', default: '1' },
  'network-nodes': { type: 'string' },
  'sim-nodes': { type: 'string' },
  name: { type: 'string' },
  accel: { type: 'string', default: process.env.CIAO_ACCEL || 'auto' },
  'boot-delay-ms': { type: 'string', default: '100' },
  'stats-interval-ms': { type: 'string', default: '5000' },
  timings: { type: 'string' },
  egress: { type: 'boolean', default: false },
  'egress-allow-host': { type: 'string', multiple: true, default: [] },
  'egress-dns': { type: 'string' },
});
const usageError = (message: string): never => scriptUsageError('setup', USAGE, message);
const name = clusterName('setup', USAGE, values.name);
const simulate = values.simulate!;
const nodes = Number(values.nodes);
if (!Number.isInteger(nodes) || nodes < 1 || nodes > 20000) usageError('--nodes must be a whole number from 1 to 20000');
if (!simulate && nodes > MAX_REAL_NODES) usageError(`--nodes: a real cluster has at most ${MAX_REAL_NODES} nodes (legs .10–.${9 + MAX_REAL_NODES} of the cluster network; more with --simulate)`);
const optionalCount = (flag: 'network-nodes' | 'sim-nodes') => (values[flag] === undefined ? undefined : /^\d+$/.test(values[flag]!) ? Number(values[flag]) : NaN);
const networkNodes = optionalCount('network-nodes');
const simNodes = optionalCount('sim-nodes');
const egress = egressSetting();
const accel = values.accel! as 'auto' | 'kvm' | 'tcg';
if (accel !== 'auto' && accel !== 'kvm' && accel !== 'tcg') usageError('--accel must be auto, kvm or tcg');


/** --egress and its options, checked; undefined without --egress. */
function egressSetting(): EgressSetting | undefined {
  const ports = values['egress-allow-host']!.flatMap((p) => p.split(',')).map((p) => p.trim());
  if (!values.egress) {
    if (ports.length || values['egress-dns']) usageError('--egress-allow-host and --egress-dns go with --egress');
    return undefined;
  }
  if (simulate) usageError('--egress is for the real cluster: a simulated one has no workloads to let out');
  for (const p of ports) if (!/^\d{1,5}$/.test(p) || Number(p) < 1 || Number(p) > 65535) usageError(`--egress-allow-host ${JSON.stringify(p)}: a port is a number from 1 to 65535`);
  const dns = values['egress-dns'];
  if (dns !== undefined && !isResolver(dns)) usageError(`--egress-dns ${JSON.stringify(dns)}: an IPv4 address, optionally with #PORT (e.g. 127.0.0.1#5353)`);
  let proxy: ProxySetting | undefined;
  try {
    proxy = proxyFromEnv(process.env);
  } catch (err) {
    usageError((err as Error).message);
  }
  // A proxy on the host's loopback is reached at slirp4netns's gateway: its port is opened too.
  return { allowHostPorts: [...new Set([...ports.map(Number), ...(proxy?.hostPorts ?? [])])], ...(dns ? { dns } : {}), ...(proxy ? { proxy } : {}) };
}

function isResolver(s: string): boolean {
  const m = s.match(/^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?:#(\d{1,5}))?$/);
  return !!m && m.slice(1, 5).every((o) => Number(o) <= 255) && (m[5] === undefined || (Number(m[5]) >= 1 && Number(m[5]) <= 65535));
}

const paths = clusterPaths(name);
const cleanupCommand = `./singlevm/cleanup.sh${name === DEFAULT_CLUSTER ? '' : ` --name ${name}`}`;
const t0 = performance.now();
const existing = await readClusterRecord(name);
// A new cluster's node options must make one; a resume keeps the cluster's (asking for others is refused below).
const layoutError = existing ? undefined : layoutProblem({ simulate, nodes, networkNodes, simNodes });
if (layoutError) usageError(layoutError);
if (existing) {
  const conflict = resumeConflict(existing, simulate, egress) ?? layoutConflict(existing, { networkNodes, simNodes });
  if (conflict) {
    console.error(`setup: ${conflict} (./singlevm/cleanup.sh --name ${name})`);
    process.exit(1);
  }
  const missing = await missingParts(existing, paths);
  if (!missing.length) {
    console.log(`cluster ${name} is up and healthy: nothing to do (${((performance.now() - t0) / 1000).toFixed(2)} s)
  controller   https://127.0.0.1:${existing.ports.controller}
  credentials  ${paths.demoSh}`);
    const note = existing.mode === 'real' ? proxyNote(process.env, existing.settings?.egress) : undefined;
    if (note) console.log(`  note         ${note}`);
    process.exit(0);
  }
  console.log(`cluster ${name} exists but is not whole (missing: ${missing.join(', ')}): bringing it back`);
}

const { realSetupHost } = await import('./actions/setup-host.ts');
const ctx: SetupContext = {
  name, paths, resuming: !!existing, host: realSetupHost(),
  cacheDir: join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'ciao'),
  settings: {
    simulate, nodes, accel, bootDelayMs: Number(values['boot-delay-ms']), statsIntervalMs: Number(values['stats-interval-ms']),
    apiHost: process.env.CIAO_API_HOST || undefined, egress, networkNodes, simNodes,
    nativeCompileGoing: existsSync(NATIVE_PENDING),
  },
};
const { SETUP_FLOW, SETUP_NEEDS } = await import('./actions/flows.ts');
const { runFlow } = await import('./flow.ts');
const { StepRunner } = await import('./step-runner.ts');
const steps = new StepRunner(`setup of cluster ${name}${simulate ? ' (simulated)' : ''}`);
try {
  await runFlow(steps, SETUP_FLOW, ctx, [], SETUP_NEEDS);
} catch (err) {
  console.error(`\nsetup failed: ${(err as Error).message}\nlogs: ${paths.logs}\nrun ${cleanupCommand} to remove what was started`);
  process.exit(1);
}
console.log(steps.criticalPathLine());
if (values.timings) await steps.writeJson(values.timings);
await steps.writeJson(join(paths.stateDir, 'setup-timings.json'));
const record = ctx.record!;
const network = record.network;
const kind = simulate ? `simulated: ${nodes} node${nodes > 1 ? 's' : ''}` : `real: ${describeLayout({ nodes: record.nodes, ...record.settings })}, VMs under ${record.accel!.toUpperCase()}, containers on Docker`;
const identityUrl = `https://127.0.0.1:${record.ports.identity}`;
const note = simulate ? undefined : proxyNote(process.env, record.settings?.egress);
const controllerUrl = `https://127.0.0.1:${record.ports.controller}`;
console.log(`
Your cloud is ${existing ? 'back' : 'ready'}: cluster "${name}" (${kind}), ${existing ? 'resumed' : 'up'} in ${steps.totalSeconds.toFixed(1)} s.
  identity     ${identityUrl}/v3     (Keystone v3; users admin and demo)
  controller   ${controllerUrl}      (ciao API, Compute ${controllerUrl}/v2.1, Image ${controllerUrl}/image)
  scheduler    127.0.0.1:${record.ports.scheduler}        (cluster protocol, mutual TLS)${network ? `
  network      namespaces ${network.clusterNs} (ciao_br, ciaovlan 198.51.100.1/24) and ${(network.nodes?.filter((n) => !n.simulated).map((n) => n.ns) ?? [network.nodeNs]).join(', ')}
  SSH key      ${paths.sshKey}   (ssh demouser@<VM address> from the tenant's CNCI namespace)
  egress       ${record.settings?.egress ? `on, through slirp4netns: ${describeEgress(record.settings.egress)}` : 'off: workloads reach nothing outside the cluster (setup.sh --egress)'}` : ''}${note ? `
  note         ${note}` : ''}
  state, logs  ${paths.stateDir}
  credentials  ${paths.demoSh}

Next:
  . ${paths.demoSh}
  ./singlevm/verify.sh${name === DEFAULT_CLUSTER ? '' : ` --name ${name}`}
  ciao list workloads
  ciao create instance --workload <id>
  openstack server list
  ./singlevm/stop.sh${name === DEFAULT_CLUSTER ? '' : ` --name ${name}`}      (keeps everything; setup.sh brings it back)
  ${cleanupCommand}`);
process.exit(0);
