// What every BAT suite shares: the cluster the CIAO_* variables describe (. ~/local/demo.sh), an
// admin and a user client, a throwaway tenant per test that needs one, and waits on instance states
// and events. Everything a test makes is removed in its teardown, even when the test fails.
import { randomBytes } from 'node:crypto';
import type { Test } from 'tap';
import { ControllerClient } from '../shared/controller-client.ts';
import { clusterAgent } from '../shared/tls-files.ts';
import { AbortError, waitFor } from '../shared/wait-for.ts';
import { openstackClouds, type OpenstackCli } from './openstack-cli.ts';
import type { ClusterEvent, Instance, Tenant, Volume, Workload } from '../controller/api-types.ts';
import { realNodeCopy, simulatedBesideReal } from '../singlevm/verify/real-workloads.ts';
import { sshRun } from '../singlevm/probes.ts';

function env(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: BAT runs against the cluster in the CIAO_* variables (. ~/local/demo.sh)`);
  return v;
}

const dispatcher = clusterAgent(env('CIAO_CA_CERT_FILE'));
export const user = new ControllerClient(env('CIAO_CONTROLLER'), env('CIAO_IDENTITY'),
  { username: env('CIAO_USERNAME'), password: env('CIAO_PASSWORD'), projectName: env('CIAO_TENANT_NAME') }, dispatcher);
export const admin = new ControllerClient(env('CIAO_CONTROLLER'), env('CIAO_IDENTITY'),
  { username: env('CIAO_ADMIN_USERNAME'), password: env('CIAO_ADMIN_PASSWORD'), projectName: process.env.CIAO_ADMIN_TENANT_NAME ?? 'admin' }, dispatcher);
/** python-openstackclient as the demo user and as the admin of this cluster (its clouds.yaml in `dir`). */
export function openstackCli(dir: string): Promise<Record<'demo' | 'admin', OpenstackCli>> {
  // Block Storage is found in the catalogue under `volumev3`, as openstackclient looks for it.
  // `--wait` polls every 0.5 s, not the client's 5 s: the same requests, sooner (docs/bat.md).
  const settings = { identityUrl: env('CIAO_IDENTITY'), caFile: env('CIAO_CA_CERT_FILE'), waitPollSeconds: 0.5 };
  return openstackClouds(dir, settings, {
    demo: { username: env('CIAO_USERNAME'), password: env('CIAO_PASSWORD'), project: env('CIAO_TENANT_NAME') },
    admin: { username: env('CIAO_ADMIN_USERNAME'), password: env('CIAO_ADMIN_PASSWORD'), project: process.env.CIAO_ADMIN_TENANT_NAME ?? 'admin' },
  });
}
/** A simulated cluster runs no workloads: the suites that need real ones skip there (CIAO_SIMULATED=1). */
export const simulated = process.env.CIAO_SIMULATED === '1';
export const REAL_ONLY = simulated ? 'needs real workloads (this cluster is simulated)' : false;
/** Boots take longer under TCG; every wait is bounded. */
export const BOOT_MS = 120_000;

export const unique = (prefix: string) => `bat-${prefix}-${randomBytes(3).toString('hex')}`;

/** Lets the suite's tests run side by side, as many at once as the runner's --test-jobs
 *  (CIAO_BAT_TEST_JOBS): for a suite whose tests share nothing they change (docs/bat.md). */
export function sideBySide(t: Pick<Test, 'jobs'>): void {
  t.jobs = Math.max(1, Math.floor(Number(process.env.CIAO_BAT_TEST_JOBS)) || 1);
}

/** A tenant of the test's own, with its instances and itself removed when the test ends. */
export async function ownTenant(t: Test, prefix: string): Promise<Tenant & { path: string }> {
  const tenant = await admin.call<Tenant>('POST', '/tenants', { name: unique(prefix) });
  const path = `/tenants/${tenant.id}`;
  t.teardown(async () => {
    await deleteInstances(path);
    await deleteVolumes(path);
    await admin.call('DELETE', path);
  });
  return { ...tenant, path };
}

/** The demo user's tenant (what `ciao` acts on by default). */
export async function userTenantPath(): Promise<string> {
  return `/tenants/${await user.tenantId()}`;
}

export async function deleteInstances(path: string, client = admin): Promise<void> {
  const { instances } = await client.call<{ instances: Instance[] }>('GET', `${path}/instances`);
  if (!instances.length) return;
  await client.call('DELETE', `${path}/instances`);
  await waitFor(`the instances of ${path} to be gone`, async () =>
    (await client.call<{ instances: Instance[] }>('GET', `${path}/instances`)).instances.length === 0, { timeoutMs: 60_000 });
}

/** Deletes the volumes of `path` once they are detached (their instances gone). */
export async function deleteVolumes(path: string, client = admin): Promise<void> {
  await waitFor(`the volumes of ${path} to be deleted`, async () => {
    const { volumes } = await client.call<{ volumes: Volume[] }>('GET', `${path}/volumes`);
    for (const v of volumes) if (!v.attachment && v.state !== 'creating') await client.call('DELETE', `${path}/volumes/${v.id}`).catch(() => undefined);
    return volumes.length === 0;
  }, { timeoutMs: 60_000 });
}

export async function workloads(path: string, client = admin): Promise<Workload[]> {
  return (await client.call<{ workloads: Workload[] }>('GET', `${path}/workloads`)).workloads;
}

let mixed: Promise<boolean> | undefined;

/** A workload a BAT test made (its description from `unique`): a public one is seen by every
 *  tenant while it lives, but it is that test's, not the cluster's. */
export const madeByBat = (w: Workload) => w.description.startsWith('bat-');

/** The public workload of a kind (setup registers a VM and a container one). On a cluster with
 *  simulated nodes beside real ones (setup.sh --sim-nodes), its copy that requires a real node:
 *  the suites' instances are probed, so they must run somewhere real (singlevm/verify/real-workloads.ts). */
export async function publicWorkload(vmType: 'qemu' | 'docker'): Promise<Workload> {
  const all = await workloads(await userTenantPath(), user);
  const found = all.find((w) => w.vm_type === vmType && w.visibility === 'public' && !w.requirements?.real_node && !madeByBat(w));
  if (!found) throw new Error(`the cluster has no public ${vmType} workload`);
  return await isMixed() ? realNodeCopy(admin, found, all) : found;
}

const isMixed = () => (mixed ??= simulatedBesideReal(admin));

/** A workload of the test's own in `path`, deleted when the test ends; on a cluster with simulated
 *  nodes beside real ones it requires a real node, as publicWorkload's do. */
export async function ownWorkload(t: Test, path: string, body: object, client = admin): Promise<Workload> {
  const requirements = { ...(body as { requirements?: object }).requirements, real_node: true };
  const w = await client.call<Workload>('POST', `${path}/workloads`, await isMixed() ? { ...body, requirements } : body);
  t.teardown(async () => {
    await deleteInstances(path, client);
    await client.call('DELETE', `${path}/workloads/${w.id}`).catch(() => undefined);
  });
  return w;
}

/** Starts instances, deleted (and waited for) when the test ends. */
export async function start(t: Test, path: string, workloadId: string, count = 1, client = admin): Promise<Instance[]> {
  // A busy controller sheds a create with 503 + Retry-After (docs/api.md, "Busy"): asked again then,
  // as its clients do. Suites side by side on a small machine can keep it busy for a moment.
  const { instances } = await waitFor('the controller to take the create', () =>
    client.call<{ instances: Instance[] }>('POST', `${path}/instances`, { workload_id: workloadId, count }).catch((err) => {
      if ((err as { retryAfterSeconds?: number }).retryAfterSeconds !== undefined) return undefined;
      throw new AbortError(err as Error);
    }), { timeoutMs: 60_000, intervalMs: 1000 });
  t.teardown(async () => {
    // Each one still there and not yet deleting is asked again: a DELETE that found the controller
    // down (killed and coming back: test/root/chaos.test.ts) reached no one.
    await waitFor('the instances to be gone', async () => {
      const left = (await client.call<{ instances: Instance[] }>('GET', `${path}/instances`)).instances.filter((l) => instances.some((i) => i.id === l.id));
      for (const l of left) if (l.state !== 'deleting') await client.call('DELETE', `${path}/instances/${l.id}`).catch(() => undefined);
      return left.length === 0;
    }, { timeoutMs: 60_000 });
  });
  return instances;
}

/** The instance as it is now. A wait on it stops at once when it is gone (a failed start deletes
 *  it; its event says why) or died (its reason says how), unless `exited` is what the wait wants. */
export async function living(path: string, id: string, client = admin, wanted?: Instance['state']): Promise<Instance> {
  const inst = await client.call<Instance>('GET', `${path}/instances/${id}`).catch(async (err) => {
    if ((err as { status?: number }).status !== 404) throw err;
    const why = (await events(path, client)).filter((e) => e.message.includes(id)).map((e) => e.message).join('; ');
    throw new AbortError(`instance ${id} is gone${why ? `: ${why}` : ''}`);
  });
  if (inst.reason && wanted !== 'exited') throw new AbortError(`instance ${id} ${inst.reason}`);
  return inst;
}

/** What a test asks an instance's guest over SSH. */
export interface GuestCommand {
  /** Waits until `accept` takes the output (any output by default): e.g. a new boot id. */
  accept?: (out: string) => boolean;
  /** What the wait is for, as its timeout says it. */
  what?: string;
}

/** The guest of instance `id` in `path`, over SSH from its tenant's namespace `ns` with `keyFile`:
 *  a command's output once SSH answers. Every wait on it is bounded by BOOT_MS and stops at once,
 *  saying why, when the instance dies or goes (`living`): SSH will not answer a VM whose QEMU
 *  ended, and the test should say so then, not at its cap. */
export function guestShell(path: string, id: string, ns: string, ip: string, keyFile: string, client = admin) {
  return (command: string, { accept = () => true, what = `SSH to ${ip}` }: GuestCommand = {}): Promise<string> =>
    waitFor(what, async () => {
      const out = await sshRun(ns, ip, keyFile, command).catch(() => undefined);
      if (out !== undefined && accept(out)) return { out };
      await living(path, id, client);
      return undefined;
    }, { timeoutMs: BOOT_MS, intervalMs: 250 }).then(({ out }) => out);
}
export type Guest = ReturnType<typeof guestShell>;

export async function waitState(path: string, id: string, state: Instance['state'], client = admin): Promise<Instance> {
  return waitFor(`instance ${id} to be ${state}`, async () => {
    const inst = await living(path, id, client, state);
    return inst.state === state && inst;
  }, { timeoutMs: BOOT_MS });
}

export async function events(path: string, client = admin): Promise<ClusterEvent[]> {
  return (await client.call<{ events: ClusterEvent[] }>('GET', `${path}/events`)).events;
}

/** Runs `action` and waits for a new event of `path` matching `re`. A new error event that does not
 *  match but names an id that `re` names (the instance acted on: "Failed to unshelve <id>: …") ends
 *  the wait at once, with its message: what was waited for will not come. */
export async function expectEvent(path: string, re: RegExp, action: () => Promise<unknown>, client = admin): Promise<ClusterEvent> {
  const seen = new Set((await events(path, client)).map((e) => e.id));
  const ids = re.source.match(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g) ?? [];
  await action();
  return waitFor(`an event ${re}`, async () => {
    const fresh = (await events(path, client)).filter((e) => !seen.has(e.id));
    const wanted = fresh.find((e) => re.test(e.message));
    if (wanted) return wanted;
    const failed = fresh.find((e) => e.type === 'error' && ids.some((id) => e.message.includes(id)));
    if (failed) throw new AbortError(`waiting for an event ${re}: ${failed.message}`);
    return undefined;
  }, { timeoutMs: BOOT_MS });
}

/** The HTTP status and error code of a call that should be refused. */
export async function refusal(call: Promise<unknown>): Promise<{ status: number; code: string } | 'accepted'> {
  try {
    await call;
    return 'accepted';
  } catch (err) {
    const e = err as { status?: number; code?: string };
    return { status: e.status ?? 0, code: e.code ?? '' };
  }
}
