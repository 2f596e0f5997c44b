// Needs root: per-tenant egress and proxies on a real cluster set up with --egress (docs/egress.md,
// "Per tenant", "Proxies"). A tenant switched off reaches nothing outside (the opened port of the host's loopback),
// while another tenant with egress on does; the setting holds over a launcher restart (the CNCI
// applies it from its folder) and switching it back on lets the tenant out again. Then the BAT
// egress suite runs against it (the CI root layer's run of that suite). Every probe goes
// to the host's loopback through the cluster's egress: no packet to any other address.
import t from 'tap';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { randomBytes } from 'node:crypto';
import type { ControllerClient } from '../../shared/controller-client.ts';
import { run } from '../../shared/run.ts';
import { waitFor } from '../../shared/wait-for.ts';
import { isAlive } from '../../shared/is-alive.ts';
import type { Instance, Tenant, Workload } from '../../controller/api-types.ts';
import { cnciNamespace } from '../../cnci/cnci-backend.ts';
import { EGRESS_CHAIN } from '../../cnci/tenant-egress.ts';
import { EGRESS_NET, HOST_NAME } from '../../network/egress.ts';
import { httpGetFromContainer } from '../../singlevm/probes.ts';
import { pidFiles, startDaemon } from '../../singlevm/processes.ts';
import { containerName } from '../../launcher/docker-backend.ts';
import { freePort } from '../../singlevm/ports.ts';
import { throwawayCluster } from '../helpers/throwaway-cluster.ts';

const { name, paths, sh, demoEnv, setUp } = await throwawayCluster(t, 'tegr');
const port = await freePort();
const dnsPort = await freePort();
const token = randomBytes(8).toString('hex');
let ticks = 0;
// The token for a GET; /stream is a flow that stays open, a line every 100 ms (an established flow).
const server = createServer((req, res) => {
  if (req.url !== '/stream') return void res.end(token);
  const timer = setInterval(() => { ticks++; res.write('tick\n'); }, 100);
  res.on('close', () => clearInterval(timer));
});
await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
t.teardown(() => {
  server.closeAllConnections();
  if (server.listening) server.close();
});
// The server stands in for a proxy on the host's loopback: setup opens its port for it (no
// --egress-allow-host) and gives workloads the proxy variables.
const { setup, user, admin } = await setUp(['--egress', '--egress-dns', `127.0.0.1#${dnsPort}`], {
  http_proxy: `http://127.0.0.1:${port}`, HTTP_PROXY: '', https_proxy: '', HTTPS_PROXY: '', no_proxy: 'corp.example', NO_PROXY: '',
});

/** A running container of the client's tenant, and how to fetch the token from inside it. */
async function container(c: ControllerClient) {
  const tenant = await c.tenantId();
  const base = `/tenants/${tenant}`;
  const { workloads } = await c.call<{ workloads: Workload[] }>('GET', `${base}/workloads`);
  const [ct] = (await c.call<{ instances: Instance[] }>('POST', `${base}/instances`,
    { workload_id: workloads.find((w) => w.vm_type === 'docker' && w.visibility === 'public')!.id, count: 1 })).instances;
  await waitFor(`container ${ct.id} active`, async () => (await c.call<Instance>('GET', `${base}/instances/${ct.id}`)).state === 'active', { timeoutMs: 120_000 });
  return { tenant, id: ct.id, fetch: () => httpGetFromContainer(name, ct.id, HOST_NAME, port, 'tenant-egress') };
}
const fetched = async (ct: { fetch: () => Promise<{ ok: boolean; body: string }> }) => { const r = await ct.fetch(); return r.ok && r.body === token; };
/** The drops of egress off in the tenant's CNCI: what the CNCI applied. */
const drops = async (tenant: string) =>
  (await run('ip', ['netns', 'exec', cnciNamespace(name, tenant), 'iptables', '-w', '-S', EGRESS_CHAIN], { allowFailure: true })).stdout.match(/-j DROP/g)?.length ?? 0;
const setEgress = (tenant: string, on: boolean) => admin.call<Tenant>('PATCH', `/tenants/${tenant}`, { config: { egress: on } });

const mine = await container(user);
const theirs = await container(admin);

t.test('a proxy on the host\'s loopback: its port opened, containers get the variables with the cluster\'s ranges in no_proxy', async (t) => {
  t.match(setup.stdout, new RegExp(`host loopback ports ${port} \\(${port} for the proxy\\)`));
  const env = (await run('docker', ['exec', containerName(name, mine.id), 'env'])).stdout;
  for (const v of ['http_proxy', 'HTTP_PROXY']) t.match(env, new RegExp(`^${v}=http://10\\.0\\.2\\.2:${port}$`, 'm'), v);
  t.match(env, /^no_proxy=corp\.example,localhost,127\.0\.0\.1,host\.ciao\.internal,10\.0\.2\.2,.*172\.16\.0\.0\/12/m);
  t.notMatch(env, /https_proxy/i, 'an empty variable is no proxy');
});

t.test('both tenants have egress by default and fetch from the opened host port', async (t) => {
  t.equal((await user.call<Tenant>('GET', `/tenants/${mine.tenant}`)).config.egress, true);
  for (const ct of [mine, theirs]) await waitFor('the token through egress', () => fetched(ct), { timeoutMs: 60_000 });
  t.equal(await drops(mine.tenant), 0, 'no drops while on');
});

t.test('egress off: the tenant reaches nothing outside, not even on a flow it had open; the other tenant still does', async (t) => {
  const ct = containerName(name, mine.id);
  await run('docker', ['exec', '-d', ct, 'sh', '-c', `(printf 'GET /stream HTTP/1.0\\r\\n\\r\\n'; sleep 3600) | nc ${EGRESS_NET.gateway} ${port} > /tmp/stream`]);
  const received = async () => Number((await run('docker', ['exec', ct, 'sh', '-c', 'wc -c < /tmp/stream'], { allowFailure: true })).stdout.trim() || 0);
  await waitFor('the stream to flow into the container', async () => (await received()) > 100, { timeoutMs: 30_000 });

  t.equal((await setEgress(mine.tenant, false)).config.egress, false);
  await waitFor('the CNCI to apply egress off', async () => (await drops(mine.tenant)) === 2, { timeoutMs: 30_000 });
  const [had, sent] = [await received(), ticks];
  await waitFor('the server to write 10 more lines on the open flow', () => ticks >= sent + 10, { timeoutMs: 10_000 });
  t.equal(await received(), had, 'the established flow delivers nothing more');
  const r = await mine.fetch();
  t.notOk(r.answered, `no answer from the host's loopback (${r.body})`);
  t.notMatch(r.body, /cannot resolve/, 'the cluster name host.ciao.internal still resolves through the CNCI');
  t.ok(await fetched(theirs), 'the other tenant still fetches the token');
});

t.test('a restarted launcher re-makes the CNCI with egress still off', async (t) => {
  const launcher = (await pidFiles(paths.pids)).find((p) => p.name === 'launcher')!;
  const argv = (await readFile(`/proc/${launcher.pid}/cmdline`, 'utf8')).split('\0').filter(Boolean);
  // The CNCI's data plane goes with it: its rules are applied again from what the CNCI kept.
  await run('ip', ['netns', 'exec', cnciNamespace(name, mine.tenant), 'iptables', '-w', '-F', EGRESS_CHAIN]);
  process.kill(launcher.pid, 'SIGTERM');
  await waitFor('the launcher to exit', () => !isAlive(launcher.pid));
  await startDaemon({ name: 'launcher', entry: argv[1], args: argv.slice(2, -2) }, name, paths);
  await waitFor('the CNCI to apply egress off again', async () => (await drops(mine.tenant)) === 2, { timeoutMs: 60_000 });
  t.notOk((await mine.fetch()).answered, 'still nothing outside');
});

t.test('egress on again: the tenant fetches the token', async (t) => {
  t.equal((await setEgress(mine.tenant, true)).config.egress, true);
  await waitFor('the token through egress again', () => fetched(mine), { timeoutMs: 60_000 });
  t.equal(await drops(mine.tenant), 0);
});

t.test('the BAT egress suite passes on this cluster (the proxy\'s port opened, DNS to a stub on the loopback), nothing skipped', async (t) => {
  server.closeAllConnections();
  server.close(); // the suite serves its own token on the opened port
  const r = await sh('bat/run.sh', ['--suite', 'egress', '-v'], await demoEnv());
  t.equal(r.exitCode, 0, `${r.stdout}\n${r.stderr}`);
  t.match(r.stderr, /BAT: 4 tests in 1 suites, 4 passed, 0 failed, 0 skipped/);
  t.comment(r.stdout.trim());
});
