// BAT network (real clusters, run on the cluster's machine as root: the probes start inside the
// cluster's namespaces): same-tenant reachability, cross-tenant isolation, external IPs, SSH.
import t from 'tap';
import { cnciNamespace } from '../../cnci/cnci-backend.ts';
import { gatewayOf } from '../../controller/addresses.ts';
import { namespaceName } from '../../network/namespaces.ts';
import { pingFrom, pingFromContainer, sshHostname } from '../../singlevm/probes.ts';
import { waitFor } from '../../shared/wait-for.ts';
import { admin, BOOT_MS, expectEvent, living, ownTenant, publicWorkload, start, unique, waitState, REAL_ONLY, sideBySide } from '../lib.ts';

// Its tests share nothing they change: they run side by side (docs/bat.md).
sideBySide(t);

const cluster = process.env.CIAO_CLUSTER ?? 'ciao';
const sshKey = process.env.CIAO_SSH_KEY ?? '';

t.test('instances of one tenant reach each other', { skip: REAL_ONLY }, async (t) => {
  const tenant = await ownTenant(t, 'net');
  const [a, b] = await start(t, tenant.path, (await publicWorkload('docker')).id, 2);
  await Promise.all([a, b].map((i) => waitState(tenant.path, i.id, 'active')));
  t.ok(await waitFor(`${a.id} to ping ${b.ip}`, () => pingFromContainer(cluster, a.id, b.ip), { timeoutMs: 15_000 }));
});

t.test('another tenant cannot reach them', { skip: REAL_ONLY }, async (t) => {
  const [a, b] = [await ownTenant(t, 'net'), await ownTenant(t, 'net')];
  const w = await publicWorkload('docker');
  const [ia] = await start(t, a.path, w.id);
  const [ib] = await start(t, b.path, w.id);
  await Promise.all([waitState(a.path, ia.id, 'active'), waitState(b.path, ib.id, 'active')]);
  // The probe works (b's own gateway answers), so silence below is isolation, not a broken probe.
  t.ok(await waitFor(`${ib.id} to reach its gateway`, () => pingFromContainer(cluster, ib.id, gatewayOf(ib.subnet)), { timeoutMs: 15_000 }));
  // Each silence takes the probe's whole wait: both at once.
  const [instance, gateway] = await Promise.all([ia.ip, gatewayOf(ia.subnet)].map((ip) => pingFromContainer(cluster, ib.id, ip)));
  t.notOk(instance, `${ib.ip} cannot reach ${ia.ip}`);
  t.notOk(gateway, "nor the other tenant's gateway");
});

t.test('SSH into a VM as demouser; an external IP maps, answers and unmaps', { skip: REAL_ONLY }, async (t) => {
  const tenant = await ownTenant(t, 'net');
  const [vm] = await start(t, tenant.path, (await publicWorkload('qemu')).id);
  await waitState(tenant.path, vm.id, 'active');
  const hostname = (ns: string, ip: string) => waitFor(`SSH to ${ip}`, async () => await living(tenant.path, vm.id) && (await sshHostname(ns, ip, sshKey).catch(() => '')) === vm.id, { timeoutMs: BOOT_MS, intervalMs: 250 });
  t.ok(await hostname(cnciNamespace(cluster, tenant.id), vm.ip), 'SSH over the private address answers as the instance');

  const pool = unique('pool');
  await admin.call('POST', '/pools', { name: pool, subnet: '203.0.113.64/28' });
  t.teardown(() => admin.call('DELETE', `/pools/${pool}`).catch(() => undefined));
  let ip = '';
  await expectEvent(tenant.path, /^Mapped /, async () => { ip = (await admin.call<{ ip: string }>('POST', `${tenant.path}/external-ips`, { instance_id: vm.id, pool })).ip; });
  const net = namespaceName(cluster, 'net');
  t.ok(await waitFor(`${ip} to answer`, () => pingFrom(net, ip), { timeoutMs: 10_000 }), 'the external IP answers ping');
  t.ok(await hostname(net, ip), 'SSH through the external IP answers as the instance');
  await expectEvent(tenant.path, new RegExp(`^Unmapped ${ip.replace(/\./g, '\\.')}`), () => admin.call('DELETE', `${tenant.path}/external-ips/${ip}`));
  t.notOk(await pingFrom(net, ip), 'unmapped: it no longer answers');
});
