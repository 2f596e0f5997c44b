// verify as a flow, without a cluster: its steps and their order, what a simulated cluster skips,
// steps run against a small fake of the controller's API, and the errors a step gives when an
// earlier step did not make what it needs or the cluster cannot be checked.
import t from 'tap';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClusterEvent, Instance, Workload } from '../../controller/api-types.ts';
import { runFlow } from '../../singlevm/flow.ts';
import { StepRunner } from '../../singlevm/step-runner.ts';
import { logIn, verifyTarget, VerifyStartError, type ApiClient, type VerifyContext } from '../../singlevm/verify/context.ts';
import { VERIFY_FLOW } from '../../singlevm/verify/flows.ts';
import { listWorkloads } from '../../singlevm/verify/list-workloads.ts';
import { startVmsAndContainers } from '../../singlevm/verify/start-instances.ts';
import { instancesActive } from '../../singlevm/verify/instances-active.ts';
import { externalIp } from '../../singlevm/verify/external-ip.ts';
import { natFailureReported } from '../../singlevm/verify/nat-failure.ts';
import { nothingLeft } from '../../singlevm/verify/nothing-left.ts';

type Handler = (body: unknown) => unknown;

/** A fake of the controller's API: `routes` answer "METHOD /path"; every call is recorded, an
 *  unknown route fails like a 404 would; `emit` adds an event to the tenant's list. */
function fakeApi(routes: Record<string, Handler>, tenantId = 'tenant-1') {
  const calls: { route: string; body: unknown }[] = [];
  const events: ClusterEvent[] = [];
  const client: ApiClient = {
    async call<T>(method: string, path: string, body?: unknown): Promise<T> {
      const route = `${method} ${path}`;
      calls.push({ route, body });
      if (route === `GET /tenants/${tenantId}/events`) return { events: [...events] } as T;
      const handler = routes[route];
      if (!handler) throw new Error(`fake controller: no route ${route}`);
      return handler(body) as T;
    },
    tenantId: async () => tenantId,
  };
  const emit = (message: string) => events.push({ id: `e${events.length}`, tenant_id: tenantId, time: new Date().toISOString(), type: 'info', message });
  return { client, calls, emit, routes: () => calls.map((c) => c.route) };
}

const noop = () => {};
const instance = (id: string, over: Partial<Instance> = {}): Instance => ({
  id, tenant_id: 'tenant-1', workload_id: 'w', name: id, state: 'active', node_id: 'node-0', ip: `172.16.0.${id.length}`, mac: '', subnet: '172.16.0.0/24',
  ssh_ip: null, ssh_port: null, vcpus: 1, mem_mb: 128, disk_mb: 0, image: '', vm_type: 'docker', external_ip: null, cnci: false, dispatched: true, reason: null,
  created_at: '', ...over,
} as Instance);
const workload = (id: string, vm_type: 'qemu' | 'docker', visibility: string): Workload =>
  ({ id, description: `${visibility} ${vm_type}`, vm_type, visibility } as Workload);

/** A context as logIn makes it, on a simulated cluster unless said otherwise; short timeouts. */
function context(over: Partial<VerifyContext> = {}): VerifyContext {
  const nobody = fakeApi({}).client;
  return {
    cluster: 'unit', simulated: true, user: nobody, username: 'demo', admin: nobody, sshKey: '', pool: 'test', tenantId: 'tenant-1',
    timeouts: { bootMs: 500, eventMs: 500, pingMs: 500, externalPingMs: 500, deleteMs: 500 }, notChecked: [], ...over,
  };
}

t.test('VERIFY_FLOW is the steps of SPEC §6, in order, with the names tests and docs look for', async (t) => {
  t.same(VERIFY_FLOW.map((s) => s.name), [
    'list workloads',
    'start 2 VMs and 2 containers',
    "start another tenant's container",
    'instances active, VMs with an SSH address',
    'SSH into the VMs as demouser',
    'container pings container',
    'across nodes: CNCI, VM and container, external IP, isolation',
    'another tenant cannot reach them',
    'egress: workloads reach an opened host port, and no other',
    'map an external IP; ping and SSH through it; unmap',
    'NAT failure is reported',
    'delete pool and instances',
    'nothing left but the CNCIs',
  ]);
});

t.test('a simulated cluster skips the steps that need guests or a data plane, and says so', async (t) => {
  const skippedOn = (ctx: VerifyContext) => VERIFY_FLOW.filter((s) => s.when && !s.when(ctx)).map((s) => s.name);
  const egress = 'egress: workloads reach an opened host port, and no other';
  const crossNode = 'across nodes: CNCI, VM and container, external IP, isolation';
  const other = "start another tenant's container";
  t.same(skippedOn(context({ simulated: true })), [other, 'SSH into the VMs as demouser', 'container pings container', crossNode, 'another tenant cannot reach them', egress]);
  t.same(skippedOn(context({ simulated: false })), [crossNode, egress], 'a real cluster of one node without --egress runs every step but egress and the cross-node one');
  const withEgress = (allowHostPorts: number[], nodes = 1) => context({ simulated: false, record: { nodes, settings: { bootDelayMs: 0, statsIntervalMs: 0, egress: { allowHostPorts } } } as never });
  t.same(skippedOn(withEgress([8080], 2)), [], 'one of two nodes with --egress and a port to fetch from runs every step');
  t.same(skippedOn(withEgress([8080], 1)), [crossNode], 'one of one node has no other node to cross to');
  t.same(skippedOn(withEgress([])), [crossNode, egress], 'one with --egress but no opened port has nothing to fetch from');
  t.same(skippedOn(context({ simulated: true, record: { nodes: 100 } as never })), [other, 'SSH into the VMs as demouser', 'container pings container', crossNode, 'another tenant cannot reach them', egress],
    'simulated nodes have no data plane to cross');

  // Only the skipped steps run here, so runFlow prints nothing: it collects what they leave unchecked.
  const ctx = context({ simulated: true });
  await runFlow(new StepRunner('verify'), VERIFY_FLOW.filter((s) => s.when), ctx, ctx.notChecked);
  t.same(ctx.notChecked, [
    'SSH into the VMs and check hostname = instance id (simulated: no guest)',
    'container pings container (simulated: no containers)',
    'instances on two nodes reach each other, a CNCI serves another node (needs two real nodes: setup.sh --nodes 2)',
    'another tenant cannot reach this tenant (simulated: no data plane)',
    'egress (set up without --egress, or without --egress-allow-host PORT to fetch from)',
  ]);
});

t.test('list workloads finds the public VM and container workloads, and names what it found when one is missing', async (t) => {
  const vm = workload('w-vm', 'qemu', 'public');
  const ct = workload('w-ct', 'docker', 'public');
  const api = fakeApi({ 'GET /tenants/tenant-1/workloads': () => ({ workloads: [workload('w-p', 'qemu', 'private'), vm, ct] }) });
  const ctx = context({ user: api.client });
  await listWorkloads.execute(ctx, noop);
  t.same(ctx.workloads, { vm, ct }, 'the private VM workload is passed over');

  const containersOnly = fakeApi({ 'GET /tenants/tenant-1/workloads': () => ({ workloads: [workload('w-p', 'qemu', 'private'), ct] }) });
  await t.rejects(listWorkloads.execute(context({ user: containersOnly.client }), noop),
    { message: 'expected a public VM and a public container workload, found: private qemu, public docker' });
});

t.test('a step names the step that should have made what it needs', async (t) => {
  await t.rejects(startVmsAndContainers.execute(context(), noop),
    { message: 'the VM and container workloads is not there: the "list workloads" step should have made it' });
  await t.rejects(instancesActive.execute(context(), noop),
    { message: 'the list of started VMs is not there: the "start 2 VMs and 2 containers" step should have made it' });
  await t.rejects(externalIp.execute(context(), noop),
    { message: 'the list of started VMs is not there: the "start 2 VMs and 2 containers" step should have made it' });
});

t.test('start 2 VMs and 2 containers starts each workload twice in the user tenant', async (t) => {
  const started: unknown[] = [];
  const api = fakeApi({
    'POST /tenants/tenant-1/instances': (body) => {
      started.push(body);
      const { workload_id } = body as { workload_id: string };
      return { instances: [instance(`${workload_id}-a`), instance(`${workload_id}-b`)] };
    },
  });
  const ctx = context({ user: api.client, workloads: { vm: workload('vm', 'qemu', 'public'), ct: workload('ct', 'docker', 'public') } });
  await startVmsAndContainers.execute(ctx, noop);
  t.same(started, [{ workload_id: 'vm', count: 2 }, { workload_id: 'ct', count: 2 }]);
  t.same(ctx.vms?.map((i) => i.id), ['vm-a', 'vm-b']);
  t.same(ctx.containers?.map((i) => i.id), ['ct-a', 'ct-b']);
});

t.test('instances active: a dead instance fails the step at once with its reason; a VM with no SSH address fails it', async (t) => {
  const states: Record<string, Instance> = {
    v1: instance('v1', { vm_type: 'qemu', ssh_ip: '172.16.0.2' }), v2: instance('v2', { vm_type: 'qemu', ssh_ip: '172.16.0.3' }),
    c1: instance('c1'), c2: instance('c2', { state: 'exited', reason: 'failed to start: no space left on device' }),
  };
  const api = fakeApi(Object.fromEntries(Object.keys(states).map((id) => [`GET /tenants/tenant-1/instances/${id}`, () => states[id]])));
  const started = { vms: [instance('v1'), instance('v2')], containers: [instance('c1'), instance('c2')] };
  const t0 = Date.now();
  await t.rejects(instancesActive.execute(context({ user: api.client, ...started, timeouts: { ...context().timeouts, bootMs: 60_000 } }), noop),
    { message: 'instance c2 failed to start: no space left on device' });
  t.ok(Date.now() - t0 < 5_000, 'without waiting out the boot timeout');

  states.c2 = instance('c2');
  const ctx = context({ user: api.client, ...started });
  await instancesActive.execute(ctx, noop);
  t.same(ctx.vms?.map((v) => v.ssh_ip), ['172.16.0.2', '172.16.0.3'], 'the VMs as they are once active');

  states.v2 = instance('v2', { vm_type: 'qemu', ssh_ip: null });
  await t.rejects(instancesActive.execute(context({ user: api.client, ...started }), noop), { message: 'VM v2 is active but reports no SSH address' });
});

t.test('map an external IP on a simulated cluster: mapped and unmapped by event; ping and SSH listed as not checked', async (t) => {
  const ip = '203.0.113.7';
  const user = fakeApi({
    'DELETE /tenants/tenant-1/events': () => undefined,
    'POST /tenants/tenant-1/external-ips': () => (user.emit(`Mapped ${ip} to v1`), { ip }),
    [`DELETE /tenants/tenant-1/external-ips/${ip}`]: () => user.emit(`Unmapped ${ip} from v1`),
  });
  const admin = fakeApi({ 'POST /pools': () => ({}) });
  const ctx = context({ user: user.client, admin: admin.client, vms: [instance('v1'), instance('v2')], containers: [] });
  await externalIp.execute(ctx, noop);
  t.same(admin.calls, [{ route: 'POST /pools', body: { name: 'test', subnet: '203.0.113.0/24' } }]);
  t.same(user.routes().filter((r) => !r.startsWith('GET')), ['DELETE /tenants/tenant-1/events', 'POST /tenants/tenant-1/external-ips', `DELETE /tenants/tenant-1/external-ips/${ip}`]);
  t.same(ctx.notChecked, ['ping and SSH through the external IP (simulated: no guest)']);
});

t.test('NAT failure: a missing "Failed to unmap" event fails the step, and the fault is cleared all the same', async (t) => {
  const ip = '203.0.113.9';
  const user = fakeApi({
    'POST /tenants/tenant-1/external-ips': () => (user.emit(`Mapped ${ip} to v1`), { ip }),
    [`DELETE /tenants/tenant-1/external-ips/${ip}`]: () => undefined, // the CNCI says nothing
  });
  const faults: unknown[] = [];
  const admin = fakeApi({ 'POST /tenants/tenant-1/cnci/faults': (body) => faults.push(body) });
  const ctx = context({ user: user.client, admin: admin.client, vms: [instance('v1'), instance('v2')], containers: [] });
  await t.rejects(natFailureReported.execute(ctx, noop), { message: /^timed out after [\d.]+ s waiting for an event \/\^Failed to unmap 203\\\.0\\\.113\\\.9\// });
  t.same(faults, [{ nat_failure: true }, { nat_failure: false }]);
});

t.test('nothing left: an instance in the tenant or on a node fails the step; CNCIs are allowed', async (t) => {
  const onNode: Instance[] = [instance('cnci-1', { cnci: true })];
  const user = fakeApi({ 'GET /tenants/tenant-1/instances': () => ({ instances: [] }) });
  const admin = fakeApi({ 'GET /nodes': () => ({ nodes: [{ id: 'node-0' }] }), 'GET /nodes/node-0/instances': () => ({ instances: onNode }) });
  await t.resolves(nothingLeft.execute(context({ user: user.client, admin: admin.client }), noop), 'a CNCI left on the node is fine');

  onNode.push(instance('c9'));
  await t.rejects(nothingLeft.execute(context({ user: user.client, admin: admin.client }), noop), { message: 'node node-0 still holds c9' });
  const leftInTenant = fakeApi({ 'GET /tenants/tenant-1/instances': () => ({ instances: [instance('v1', { state: 'exited' })] }) });
  await t.rejects(nothingLeft.execute(context({ user: leftInTenant.client, admin: admin.client }), noop), { message: 'instances left: v1 (exited)' });
});

t.test('verify cannot start on a cluster its variables do not describe, nor when the login is refused', async (t) => {
  const home = await mkdtemp(join(tmpdir(), 'ciao-verify-'));
  const saved = process.env.CIAO_HOME;
  process.env.CIAO_HOME = home;
  t.teardown(async () => {
    if (saved === undefined) delete process.env.CIAO_HOME;
    else process.env.CIAO_HOME = saved;
    await rm(home, { recursive: true, force: true });
  });
  const ca = join(home, 'ca.crt');
  await writeFile(ca, '');
  const vars = {
    CIAO_CA_CERT_FILE: ca, CIAO_CONTROLLER: 'https://127.0.0.1:1', CIAO_IDENTITY: 'https://127.0.0.1:2',
    CIAO_USERNAME: 'demo', CIAO_PASSWORD: 'p', CIAO_TENANT_NAME: 'demo', CIAO_ADMIN_USERNAME: 'admin', CIAO_ADMIN_PASSWORD: 'a',
  };

  await t.rejects(verifyTarget('unit', { ...vars, CIAO_PASSWORD: undefined }), new VerifyStartError('not_described',
    "CIAO_PASSWORD is not set: source the cluster's variables first (. ~/local/demo.sh), or name the cluster (--name)"));
  await t.rejects(verifyTarget('unit', vars), { code: 'not_described', message: `no record of cluster unit under ${join(home, 'ciao-unit')}: run verify on the cluster's machine with the CIAO_HOME setup used` },
    'a real cluster needs its record (its namespaces)');

  const target = await verifyTarget('unit', { ...vars, CIAO_SIMULATED: '1' });
  t.match(target, { simulated: true, sshKey: '', pool: 'test', username: 'demo', timeouts: { bootMs: 120_000 } }, 'a simulated cluster needs no record and no SSH key');

  const refused: ApiClient = { call: async () => { throw new Error('unused'); }, tenantId: async () => { throw new Error('401 invalid credentials'); } };
  await t.rejects(logIn({ ...target, user: refused }), { code: 'login_failed', message: 'cannot log in as demo: 401 invalid credentials' });
  const ctx = await logIn({ ...target, user: fakeApi({}).client });
  t.match(ctx, { tenantId: 'tenant-1', notChecked: [] });
});
