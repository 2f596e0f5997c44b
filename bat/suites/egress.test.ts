// BAT egress (a real cluster set up with --egress; docs/egress.md), run on the cluster's machine as
// root. Every probe goes from a workload to the host's loopback through the cluster's egress, or
// to the tenant's own CNCI: egress on and off per tenant, DNS through the CNCI (a stub resolver on
// the host's loopback, --egress-dns 127.0.0.1#PORT), the proxy variables in a VM and a container,
// and the host's loopback closed but for the opened ports. Each test says what setup it needs.
import t from 'tap';
import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import { cnciNamespace } from '../../cnci/cnci-backend.ts';
import { containerName } from '../../launcher/docker-backend.ts';
import { EGRESS_NET, HOST_NAME } from '../../network/egress.ts';
import { workloadEnv } from '../../network/proxy.ts';
import type { Tenant } from '../../controller/api-types.ts';
import { readClusterRecord } from '../../singlevm/cluster-files.ts';
import { httpGetFromContainer } from '../../singlevm/probes.ts';
import { freePort, portIsFree } from '../../singlevm/ports.ts';
import { tokenServer } from '../../singlevm/verify/egress.ts';
import { run } from '../../shared/run.ts';
import { waitFor } from '../../shared/wait-for.ts';
import { startDnsStub } from '../dns-stub.ts';
import { admin, guestShell, ownTenant, publicWorkload, start, waitState, REAL_ONLY } from '../lib.ts';

const cluster = process.env.CIAO_CLUSTER ?? 'ciao';
const sshKey = process.env.CIAO_SSH_KEY ?? '';
const egress = REAL_ONLY ? undefined : (await readClusterRecord(cluster))?.settings?.egress;
/** Why a test cannot run on this cluster, or false. */
const needs = (what: string, has: boolean) =>
  REAL_ONLY || (!egress && 'the cluster was set up without --egress (setup.sh --egress)') || (!has && `the cluster was set up without ${what}`);
const [opened] = egress?.allowHostPorts ?? [];
const loopbackDns = egress?.dns?.match(/^127\.\d+\.\d+\.\d+#(\d+)$/);

/** A container of a tenant of the test's own, active. */
async function container(t: Parameters<typeof ownTenant>[0]) {
  const tenant = await ownTenant(t, 'egr');
  const [ct] = await start(t, tenant.path, (await publicWorkload('docker')).id);
  await waitState(tenant.path, ct.id, 'active');
  const sh = async (command: string) => (await run('docker', ['exec', containerName(cluster, ct.id), 'sh', '-c', command], { allowFailure: true })).stdout;
  return { tenant, ct, sh, get: (port: number) => httpGetFromContainer(cluster, ct.id, HOST_NAME, port, 'bat-egress') };
}

/** Serves a random token on the opened port, unless something of the user's (a proxy) is there:
 *  then any HTTP answer from it counts. */
async function onOpenedPort(t: Parameters<typeof ownTenant>[0]) {
  const token = randomBytes(8).toString('hex');
  const server: Server | undefined = await portIsFree(opened) ? await tokenServer(opened, token) : undefined;
  t.teardown(() => server?.close());
  return (r: { answered: boolean; ok: boolean; body: string }) => (server ? r.ok && r.body === token : r.answered);
}

t.test('egress off: the tenant reaches nothing outside; on again: it does', { skip: needs('--egress-allow-host PORT', opened !== undefined) }, async (t) => {
  const { tenant, get } = await container(t);
  const reached = await onOpenedPort(t);
  t.equal(tenant.config.egress, true, 'a new tenant has the cluster\'s default: on');
  t.ok(await waitFor(`the tenant to reach ${HOST_NAME}:${opened}`, async () => reached(await get(opened)), { timeoutMs: 60_000 }));

  t.equal((await admin.call<Tenant>('PATCH', tenant.path, { config: { egress: false } })).config.egress, false);
  t.ok(await waitFor('its CNCI to cut it off', async () => !(await get(opened)).answered, { timeoutMs: 30_000 }));
  const off = await get(opened);
  t.notOk(off.answered, `still nothing once off (${off.body})`);
  t.equal((await admin.call<Tenant>('GET', tenant.path)).config.egress, false, 'shown in the tenant');

  await admin.call('PATCH', tenant.path, { config: { egress: true } });
  t.ok(await waitFor('the tenant to reach it again', async () => reached(await get(opened)), { timeoutMs: 30_000 }));
});

t.test('DNS: the tenant resolves through its CNCI, which forwards to the cluster\'s resolver', { skip: needs('--egress-dns 127.0.0.1#PORT (a stub this suite starts)', !!loopbackDns) }, async (t) => {
  const zone = `bat-${randomBytes(3).toString('hex')}.test`;
  const stub = await startDnsStub(Number(loopbackDns![1]), zone, '192.0.2.77');
  t.teardown(() => stub.close());
  const { sh } = await container(t);
  // busybox's nslookup: the last "Address" line that is not the server's (ADDR:53) is the answer.
  const resolve = async (name: string) => (await sh(`nslookup ${name} 2>/dev/null | awk '/^Address/ && $NF !~ /:/ {a=$NF} END {print a}'`)).trim() || undefined;
  t.equal(await waitFor(`probe.${zone} to resolve`, () => resolve(`probe.${zone}`), { timeoutMs: 30_000 }), '192.0.2.77', 'an outside name, from the stub');
  t.ok(stub.asked.includes(`probe.${zone}`), 'the stub on the host\'s loopback was asked');
  t.equal(await resolve(HOST_NAME), EGRESS_NET.gateway, `${HOST_NAME}, answered by the CNCI itself`);
});

t.test('the proxy variables are in a VM\'s login shell and in a container\'s environment', { skip: needs('http_proxy/https_proxy in its environment', !!egress?.proxy) }, async (t) => {
  const want = workloadEnv(egress!.proxy!);
  const lines = (env: string) => Object.fromEntries(env.split('\n').map((l) => l.match(/^([A-Za-z_]+_(?:proxy|PROXY))=(.*)$/)).filter((m) => !!m).map((m) => [m[1], m[2]]));
  const { sh } = await container(t);
  t.same(lines(await sh('env')), want, 'the container');

  const tenant = await ownTenant(t, 'egr');
  const [vm] = await start(t, tenant.path, (await publicWorkload('qemu')).id);
  await waitState(tenant.path, vm.id, 'active');
  const ns = cnciNamespace(cluster, tenant.id);
  const guest = guestShell(tenant.path, vm.id, ns, vm.ip, sshKey);
  t.same(lines(await guest("sh -lc 'env'")), want, 'the VM, over SSH');
  t.match(await guest('cat /etc/environment'), new RegExp(`^no_proxy=${want.no_proxy.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}$`, 'm'), '/etc/environment too');
});

t.test('the host\'s loopback is closed but for the opened ports', { skip: needs('--egress', true) }, async (t) => {
  const closed = await freePort();
  const server = await tokenServer(closed, 'must not be reached');
  t.teardown(() => server.close());
  const { sh, get } = await container(t);
  // The probe works as far as it can: the name resolves (the CNCI answers it), so silence is the filter.
  t.ok(await waitFor(`${HOST_NAME} to resolve`, async () => (await sh(`nslookup ${HOST_NAME} 2>&1`)).includes(EGRESS_NET.gateway), { timeoutMs: 30_000 }));
  const r = await get(closed);
  t.notOk(r.answered, `port ${closed} of the host's loopback, not opened, gives nothing (${r.body})`);
});
