// `verify`: the end-to-end check of a cluster (SPEC §6), each step timed, stopping at the first
// failure with a clear reason. On a simulated cluster the steps that need real guests (SSH, ping)
// are reported as skipped, never as passed.
import { parseArgs } from 'node:util';
import { ControllerClient } from '../shared/controller-client.ts';
import { clusterAgent } from '../shared/tls-files.ts';
import { waitFor } from '../shared/wait-for.ts';
import type { ClusterEvent, ExternalIp, Instance, Workload } from '../controller/api-types.ts';
import { StepRunner } from './step-runner.ts';
import { readClusterRecord, DEFAULT_CLUSTER } from './cluster-files.ts';

const { values } = parseArgs({ options: { timings: { type: 'string' }, help: { type: 'boolean', short: 'h', default: false } } });
if (values.help) {
  console.log('usage: verify.sh [--timings FILE]\n\nChecks the cluster described by the CIAO_* variables (. ~/local/demo.sh) end to end.');
  process.exit(0);
}

const env = (k: string) => {
  const v = process.env[k];
  if (!v) {
    console.error(`verify: ${k} is not set: source the cluster's variables first (. ~/local/demo.sh)`);
    process.exit(2);
  }
  return v;
};
const dispatcher = clusterAgent(env('CIAO_CA_CERT_FILE'));
const user = new ControllerClient(env('CIAO_CONTROLLER'), env('CIAO_IDENTITY'), { username: env('CIAO_USERNAME'), password: env('CIAO_PASSWORD'), projectName: env('CIAO_TENANT_NAME') }, dispatcher);
const admin = new ControllerClient(env('CIAO_CONTROLLER'), env('CIAO_IDENTITY'), { username: env('CIAO_ADMIN_USERNAME'), password: env('CIAO_ADMIN_PASSWORD'), projectName: process.env.CIAO_ADMIN_TENANT_NAME ?? 'admin' }, dispatcher);
const record = await readClusterRecord(process.env.CIAO_CLUSTER ?? DEFAULT_CLUSTER);
const simulated = record?.mode === 'simulate';

const steps = new StepRunner('verify');
const skipped: string[] = [];
const skip = (what: string) => skipped.push(what);
const T = await user.tenantId().catch((err) => {
  console.error(`verify: cannot log in as ${process.env.CIAO_USERNAME}: ${(err as Error).message}`);
  process.exit(1);
});
const tenantPath = `/tenants/${T}`;
const events = async () => (await user.call<{ events: ClusterEvent[] }>('GET', `${tenantPath}/events`)).events;
/** Runs `action`, then waits for a new event (one that was not there before) matching `re`. */
async function expectEvent(re: RegExp, action: () => Promise<unknown>, timeoutMs = 30_000): Promise<ClusterEvent> {
  const seen = new Set((await events()).map((e) => e.id));
  await action();
  return waitFor(`an event ${re}`, async () => (await events()).find((e) => !seen.has(e.id) && re.test(e.message)), { timeoutMs });
}
const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
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

  await steps.step('start 2 VMs and 2 containers', async () => {
    const start = async (w: Workload) => (await user.call<{ instances: Instance[] }>('POST', `${tenantPath}/instances`, { workload_id: w.id, count: 2 })).instances;
    [vms, containers] = [await start(workloads.vm), await start(workloads.ct)];
  });

  await steps.step('instances active, VMs with an SSH address', async (progress) => {
    const all = [...vms, ...containers];
    const settled = await waitFor('all 4 instances to be active', async () => {
      const now = await Promise.all(all.map((i) => user.call<Instance>('GET', `${tenantPath}/instances/${i.id}`)));
      progress(`${now.filter((i) => i.state === 'active').length}/4 active`);
      return now.every((i) => i.state === 'active') && now;
    }, { timeoutMs: 60_000 });
    vms = settled.slice(0, 2);
    containers = settled.slice(2);
    const noSsh = vms.filter((v) => !v.ssh_ip);
    if (noSsh.length) throw new Error(`VM ${noSsh[0].id} is active but reports no SSH address`);
    if (simulated) skip('SSH into the VMs and check hostname = instance id (simulated: no guest)');
  });

  if (simulated) skip('container pings container (simulated: no containers)');

  const pool = 'test';
  await steps.step('map and unmap an external IP', async () => {
    await admin.call('POST', '/pools', { name: pool, subnet: '203.0.113.0/24' });
    let m!: ExternalIp;
    await expectEvent(/^Mapped /, async () => (m = await user.call<ExternalIp>('POST', `${tenantPath}/external-ips`, { instance_id: vms[0].id, pool })));
    if (simulated) skip('ping and SSH through the external IP (simulated: no guest)');
    await expectEvent(new RegExp(`^Unmapped ${escape(m.ip)} from ${vms[0].id}`), () => user.call('DELETE', `${tenantPath}/external-ips/${m.ip}`));
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
    const seen = new Set((await events()).map((e) => e.id));
    await user.call('DELETE', `${tenantPath}/instances`);
    await waitFor('a Deleted event for each instance', async () => {
      const fresh = (await events()).filter((e) => !seen.has(e.id));
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
  });
} catch (err) {
  console.error(`\n${steps.summary()}\n\nverify FAILED: ${(err as Error).message}`);
  if (values.timings) await steps.writeJson(values.timings);
  process.exit(1);
}

console.log(`\n${steps.summary()}`);
if (skipped.length) console.log(`\nnot checked on this ${simulated ? 'simulated ' : ''}cluster:\n${skipped.map((s) => `  - ${s}`).join('\n')}`);
if (values.timings) await steps.writeJson(values.timings);
console.log('\nverify passed');
process.exit(0);
