// `verify`: the end-to-end check of a cluster (SPEC §6), each step timed, stopping at the first
// failure with a clear reason and a log archive. On a real cluster it SSHes into the VMs over their
// private and external addresses, pings container to container and checks another tenant cannot
// reach them; on a simulated cluster the steps that need real guests are listed as not checked.
import { join } from 'node:path';
import { ControllerClient } from '../shared/controller-client.ts';
import { clusterAgent } from '../shared/tls-files.ts';
import { AbortError, TIMEOUT_SCALE, waitFor } from '../shared/wait-for.ts';
import type { ClusterEvent, ExternalIp, Instance, Workload } from '../controller/api-types.ts';
import { cnciNamespace } from '../cnci/cnci-backend.ts';
import { StepRunner } from './step-runner.ts';
import { readClusterRecord, DEFAULT_CLUSTER, clusterPaths } from './cluster-files.ts';
import { clusterName, scriptArgs, usageError } from './script-args.ts';
import { readDemoSh } from './demo-sh.ts';
import { nodeLeftovers, pingFrom, pingFromContainer, sshHostname } from './probes.ts';
import { collectLogs } from './logs.ts';
import { gatewayOf } from '../controller/addresses.ts';

const USAGE = `usage: verify.sh [--name NAME] [--timings FILE]

Checks a cluster end to end (SPEC §6): cluster NAME's variables from its demo.sh, else the cluster
the CIAO_* variables describe (. ~/local/demo.sh).
  --name NAME       the cluster (default: CIAO_CLUSTER, else ${DEFAULT_CLUSTER})
  --timings FILE    also write the step timings as JSON to FILE`;
const values = scriptArgs('verify', USAGE, { name: { type: 'string' }, timings: { type: 'string' } });
const cluster = clusterName('verify', USAGE, values.name);
// A named cluster is checked through its own demo.sh, whatever the shell's variables say.
const vars: Record<string, string | undefined> = values.name
  ? await readDemoSh(clusterPaths(cluster).demoSh).catch(() => usageError('verify', USAGE, `cluster ${cluster} has no ${clusterPaths(cluster).demoSh}: set it up first (./singlevm/setup.sh --name ${cluster})`))
  : process.env;

const env = (k: string) => {
  const v = vars[k];
  if (!v) {
    console.error(`verify: ${k} is not set: source the cluster's variables first (. ~/local/demo.sh), or name the cluster (--name)`);
    process.exit(2);
  }
  return v;
};
const dispatcher = clusterAgent(env('CIAO_CA_CERT_FILE'));
const user = new ControllerClient(env('CIAO_CONTROLLER'), env('CIAO_IDENTITY'), { username: env('CIAO_USERNAME'), password: env('CIAO_PASSWORD'), projectName: env('CIAO_TENANT_NAME') }, dispatcher);
const admin = new ControllerClient(env('CIAO_CONTROLLER'), env('CIAO_IDENTITY'), { username: env('CIAO_ADMIN_USERNAME'), password: env('CIAO_ADMIN_PASSWORD'), projectName: vars.CIAO_ADMIN_TENANT_NAME ?? 'admin' }, dispatcher);
const record = await readClusterRecord(cluster);
const simulated = vars.CIAO_SIMULATED === '1' || record?.mode === 'simulate';
if (!simulated && !record?.network) {
  // The probes start inside the cluster's namespaces, which its record names.
  console.error(`verify: no record of cluster ${cluster} under ${clusterPaths(cluster).stateDir}: run verify on the cluster's machine with the CIAO_HOME setup used`);
  process.exit(2);
}
const network = record?.network;
const sshKey = simulated ? '' : env('CIAO_SSH_KEY');
/** TCG guests boot in seconds; a nested or loaded machine gets more time. */
const bootTimeoutMs = record?.accel === 'kvm' ? 60_000 : 120_000;

if (TIMEOUT_SCALE > 1) console.log(`timeouts ×${TIMEOUT_SCALE} (CIAO_TIMEOUT_SCALE: a machine that much slower than bare metal, e.g. a nested VM under TCG)`);
const steps = new StepRunner('verify');
const skipped: string[] = [];
const skip = (what: string) => skipped.push(what);
const T = await user.tenantId().catch((err) => {
  console.error(`verify: cannot log in as ${vars.CIAO_USERNAME}: ${(err as Error).message}`);
  process.exit(1);
});
const tenantPath = `/tenants/${T}`;
const eventsOf = async (client: ControllerClient, path: string) => (await client.call<{ events: ClusterEvent[] }>('GET', `${path}/events`)).events;
/** Runs `action`, then waits for a new event (one that was not there before) matching `re`. */
async function expectEvent(re: RegExp, action: () => Promise<unknown>, timeoutMs = 30_000, client = user, path = tenantPath): Promise<ClusterEvent> {
  const seen = new Set((await eventsOf(client, path)).map((e) => e.id));
  await action();
  return waitFor(`an event ${re}`, async () => (await eventsOf(client, path)).find((e) => !seen.has(e.id) && re.test(e.message)), { timeoutMs });
}
const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/** The instances as they are now; a wait on them stops at once when one died (its reason says how). */
async function alive(ids: string[], client = user, path = tenantPath): Promise<Instance[]> {
  const now = await Promise.all(ids.map((id) => client.call<Instance>('GET', `${path}/instances/${id}`)));
  const dead = now.find((i) => i.reason);
  if (dead) throw new AbortError(`instance ${dead.id} ${dead.reason}`);
  return now;
}
const waitActive = (client: ControllerClient, path: string, ids: string[], progress: (n: string) => void) =>
  waitFor(`instances ${ids.join(', ')} to be active`, async () => {
    const now = await alive(ids, client, path);
    progress(`${now.filter((i) => i.state === 'active').length}/${ids.length} active`);
    return now.every((i) => i.state === 'active') && now;
  }, { timeoutMs: bootTimeoutMs });
/** SSH answers as the instance (hostname = its id) at `ip`, from namespace `ns`. */
const sshAnswersAs = (ns: string, ip: string, id: string) =>
  waitFor(`SSH to ${ip} from ${ns} to answer as ${id}`, async () => {
    await alive([id]);
    const name = await sshHostname(ns, ip, sshKey).catch(() => undefined);
    if (name !== undefined && name !== id) throw new Error(`SSH to ${ip} answered as ${name}, not ${id}`);
    return name === id;
  }, { timeoutMs: bootTimeoutMs, intervalMs: 250 });

let vms: Instance[] = [];
let containers: Instance[] = [];

try {
  const workloads = await steps.step('list workloads', async () => {
    const { workloads } = await user.call<{ workloads: Workload[] }>('GET', `${tenantPath}/workloads`);
    const vm = workloads.find((w) => w.vm_type === 'qemu' && w.visibility === 'public');
    const ct = workloads.find((w) => w.vm_type === 'docker' && w.visibility === 'public');
    if (!vm || !ct) throw new Error(`expected a public VM and a public container workload, found: ${workloads.map((w) => w.description).join(', ') || 'none'}`);
    return { vm, ct };
  });

  const start = async (client: ControllerClient, path: string, w: Workload, count: number) =>
    (await client.call<{ instances: Instance[] }>('POST', `${path}/instances`, { workload_id: w.id, count })).instances;

  await steps.step('start 2 VMs and 2 containers', async () => {
    [vms, containers] = [await start(user, tenantPath, workloads.vm, 2), await start(user, tenantPath, workloads.ct, 2)];
  });

  await steps.step('instances active, VMs with an SSH address', async (progress) => {
    const settled = await waitActive(user, tenantPath, [...vms, ...containers].map((i) => i.id), progress);
    vms = settled.slice(0, 2);
    containers = settled.slice(2);
    const noSsh = vms.filter((v) => !v.ssh_ip);
    if (noSsh.length) throw new Error(`VM ${noSsh[0].id} is active but reports no SSH address`);
  });

  if (simulated) skip('SSH into the VMs and check hostname = instance id (simulated: no guest)');
  else {
    await steps.step('SSH into the VMs as demouser', async (progress) => {
      const ns = cnciNamespace(cluster, T);
      for (const [i, vm] of vms.entries()) {
        progress(`VM ${i + 1}/2 at ${vm.ssh_ip}`);
        await sshAnswersAs(ns, vm.ssh_ip!, vm.id);
      }
    });
  }

  if (simulated) skip('container pings container (simulated: no containers)');
  else {
    await steps.step('container pings container', () =>
      waitFor(`container ${containers[0].id} to ping ${containers[1].ip}`, async () => await alive(containers.map((c) => c.id)) && pingFromContainer(cluster, containers[0].id, containers[1].ip), { timeoutMs: 15_000 }));
  }

  if (simulated) skip('another tenant cannot reach this tenant (simulated: no data plane)');
  else {
    await steps.step('another tenant cannot reach them', async (progress) => {
      // The admin tenant is "another tenant": its container gets its own subnet and CNCI.
      const adminPath = `/tenants/${await admin.tenantId()}`;
      const [other] = await start(admin, adminPath, workloads.ct, 1);
      try {
        await waitActive(admin, adminPath, [other.id], progress);
        // The probe works (its own gateway answers), so a silence below is isolation, not a broken probe.
        await waitFor(`the other tenant's container to reach its gateway`, () => pingFromContainer(cluster, other.id, gatewayOf(other.subnet)), { timeoutMs: 15_000 });
        const targets = [...containers, ...vms];
        const reached = await Promise.all(targets.map((target) => pingFromContainer(cluster, other.id, target.ip)));
        const breach = targets.find((_, i) => reached[i]);
        if (breach) throw new Error(`tenant isolation broken: ${other.id} (admin tenant) reached ${breach.ip}`);
      } finally {
        await expectEvent(new RegExp(`^Deleted ${escape(other.id)}`), () => admin.call('DELETE', `${adminPath}/instances/${other.id}`), 30_000, admin, adminPath);
      }
    });
  }

  const pool = 'test';
  await steps.step('map an external IP; ping and SSH through it; unmap', async () => {
    await admin.call('POST', '/pools', { name: pool, subnet: '203.0.113.0/24' });
    await user.call('DELETE', `${tenantPath}/events`);
    let m!: ExternalIp;
    await expectEvent(/^Mapped /, async () => (m = await user.call<ExternalIp>('POST', `${tenantPath}/external-ips`, { instance_id: vms[0].id, pool })));
    if (simulated) skip('ping and SSH through the external IP (simulated: no guest)');
    else {
      await waitFor(`${m.ip} to answer ping from the cluster network`, async () => await alive([vms[0].id]) && pingFrom(network!.clusterNs, m.ip), { timeoutMs: 10_000 });
      await sshAnswersAs(network!.clusterNs, m.ip, vms[0].id);
    }
    await expectEvent(new RegExp(`^Unmapped ${escape(m.ip)} from ${vms[0].id}`), () => user.call('DELETE', `${tenantPath}/external-ips/${m.ip}`));
    if (!simulated && await pingFrom(network!.clusterNs, m.ip)) throw new Error(`${m.ip} still answers after it was unmapped`);
  });

  await steps.step('NAT failure is reported', async () => {
    let m!: ExternalIp;
    await expectEvent(/^Mapped /, async () => (m = await user.call<ExternalIp>('POST', `${tenantPath}/external-ips`, { instance_id: vms[0].id, pool })));
    await admin.call('POST', `${tenantPath}/cnci/faults`, { nat_failure: true });
    try {
      await expectEvent(new RegExp(`^Failed to unmap ${escape(m.ip)}`), () => user.call('DELETE', `${tenantPath}/external-ips/${m.ip}`));
      await expectEvent(/^Failed to map /, () => user.call('POST', `${tenantPath}/external-ips`, { instance_id: vms[1].id, pool }));
    } finally {
      await admin.call('POST', `${tenantPath}/cnci/faults`, { nat_failure: false });
    }
    await expectEvent(new RegExp(`^Unmapped ${escape(m.ip)}`), () => user.call('DELETE', `${tenantPath}/external-ips/${m.ip}`));
  });

  await steps.step('delete pool and instances', async () => {
    await admin.call('DELETE', `/pools/${pool}`);
    const all = [...vms, ...containers];
    const seen = new Set((await eventsOf(user, tenantPath)).map((e) => e.id));
    await user.call('DELETE', `${tenantPath}/instances`);
    await waitFor('a Deleted event for each instance', async () => {
      const fresh = (await eventsOf(user, tenantPath)).filter((e) => !seen.has(e.id));
      return all.every((i) => fresh.some((e) => e.message.startsWith(`Deleted ${i.id}`)));
    }, { timeoutMs: 60_000 });
  });

  await steps.step('nothing left but the CNCIs', async () => {
    const { instances } = await user.call<{ instances: Instance[] }>('GET', `${tenantPath}/instances`);
    if (instances.length) throw new Error(`instances left: ${instances.map((i) => `${i.id} (${i.state})`).join(', ')}`);
    const { nodes } = await admin.call<{ nodes: { id: string }[] }>('GET', '/nodes');
    for (const n of nodes) {
      const onNode = (await admin.call<{ instances: Instance[] }>('GET', `/nodes/${n.id}/instances`)).instances.filter((i) => !i.cnci);
      if (onNode.length) throw new Error(`node ${n.id} still holds ${onNode.map((i) => i.id).join(', ')}`);
    }
    if (network) {
      const left = await nodeLeftovers(cluster, network.nodeNs);
      if (left.length) throw new Error(`left on the node: ${left.join(', ')}`);
    }
  });
} catch (err) {
  console.error(`\n${steps.summary()}\n\nverify FAILED: ${(err as Error).message}`);
  if (values.timings) await steps.writeJson(values.timings);
  const archive = join(clusterPaths(cluster).home, `ciao-${cluster}-verify-failure-${Date.now()}.tar.gz`);
  await collectLogs(cluster, archive).then(
    () => console.error(`logs of every component, the guests' consoles and the network state: ${archive}`),
    (e) => console.error(`(could not collect logs: ${(e as Error).message})`));
  process.exit(1);
}

console.log(`\n${steps.summary()}`);
if (skipped.length) console.log(`\nnot checked on this ${simulated ? 'simulated ' : ''}cluster:\n${skipped.map((s) => `  - ${s}`).join('\n')}`);
if (values.timings) await steps.writeJson(values.timings);
console.log('\nverify passed');
process.exit(0);
