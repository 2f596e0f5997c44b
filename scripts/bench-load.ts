// The load both rows of `npm run bench` put on a cluster (scripts/bench-sim.ts): creates in
// batches of 100 from a few workers while a prober reads, each request's latency kept, until every
// instance is active; and what a run reports of the daemons (peak RSS).
import { readFile } from 'node:fs/promises';
import { setTimeout as delay } from 'node:timers/promises';
import { clusterAgent } from '../shared/tls-files.ts';
import { ControllerClient, ControllerError } from '../shared/controller-client.ts';
import { waitFor } from '../shared/wait-for.ts';
import { pidFiles } from '../singlevm/processes.ts';
import { readDemoSh } from '../singlevm/demo-sh.ts';
import type { Instance } from '../controller/api-types.ts';

export const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? 0;
};
export const median = (xs: number[]) => pct(xs, 50);
export const stats = (xs: number[]) => ({ requests: xs.length, p50_ms: pct(xs, 50), p95_ms: pct(xs, 95), p99_ms: pct(xs, 99) });

/** Every API request's latency, by kind of request. */
export class Latencies {
  readonly all: number[] = [];
  readonly byKind = new Map<string, number[]>();
  async timed<T>(kind: string, fn: () => Promise<T>): Promise<T> {
    const t0 = performance.now();
    try {
      return await fn();
    } finally {
      const ms = performance.now() - t0;
      this.all.push(ms);
      if (!this.byKind.has(kind)) this.byKind.set(kind, []);
      this.byKind.get(kind)!.push(ms);
    }
  }
  summary() {
    return {
      api: { ...stats(this.all), max_ms: Math.max(...this.all) },
      api_by_request: Object.fromEntries([...this.byKind].map(([k, xs]) => [k, stats(xs)])),
    };
  }
}

/** Each daemon's peak RSS (VmHWM) in MB, by its pid file's name. */
export async function peakRss(pidsDir: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const { name: daemon, pid } of await pidFiles(pidsDir)) {
    const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
    const hwm = /VmHWM:\s+(\d+) kB/.exec(status);
    if (hwm) out[daemon] = Math.round(Number(hwm[1]) / 1024);
  }
  return out;
}

/** Each daemon's CPU time so far (user + system, seconds), by its pid file's name: on a shared
 *  machine this says what a change costs better than wall-clock times, which the load bends. */
export async function cpuSeconds(pidsDir: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const { name: daemon, pid } of await pidFiles(pidsDir)) {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
    // After the command name: state is field 3, utime and stime fields 14 and 15, in ticks of 1/100 s.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (fields.length > 12) out[daemon] = Math.round(Number(fields[11]) + Number(fields[12])) / 100;
  }
  return out;
}

/** The demo user's and the admin's clients of a cluster (its demo.sh); close `dispatcher` at the end. */
export async function clusterClients(demoSh: string) {
  const env = await readDemoSh(demoSh);
  const dispatcher = clusterAgent(env.CIAO_CA_CERT_FILE, 16);
  const user = new ControllerClient(env.CIAO_CONTROLLER, env.CIAO_IDENTITY, { username: env.CIAO_USERNAME, password: env.CIAO_PASSWORD, projectName: env.CIAO_TENANT_NAME }, dispatcher);
  const admin = new ControllerClient(env.CIAO_CONTROLLER, env.CIAO_IDENTITY, { username: env.CIAO_ADMIN_USERNAME, password: env.CIAO_ADMIN_PASSWORD, projectName: env.CIAO_ADMIN_TENANT_NAME }, dispatcher);
  const tenant = await user.tenantId();
  await user.call('GET', `/tenants/${tenant}`);
  return { dispatcher, user, admin, tenant };
}
export type Clients = Awaited<ReturnType<typeof clusterClients>>;

/** Gives the tenant a subnet that holds `instances`, its gateway (the CNCI) and its broadcast address. */
export async function subnetFor({ admin, tenant }: Clients, instances: number): Promise<void> {
  const subnetBits = Math.min(24, 32 - Math.ceil(Math.log2(instances + 4)));
  if (subnetBits < 24) await admin.call('PATCH', `/tenants/${tenant}`, { config: { subnet_bits: subnetBits } });
}

/** `count` instances of `workload` created; a busy controller's 503 is asked again after its
 *  Retry-After (docs/api.md "Busy"), `shed` told each time. Each request's latency goes to `lat`. */
export async function createInstances({ user, tenant }: Clients, workload: string, count: number, lat: Latencies, shed: () => void = () => {}): Promise<Instance[]> {
  const kind = count === 1 ? 'create 1 instance' : 'create 100 instances';
  for (;;) {
    try {
      return (await lat.timed(kind, () => user.call<{ instances: Instance[] }>('POST', `/tenants/${tenant}/instances`, { workload_id: workload, count }))).instances;
    } catch (err) {
      if (!(err instanceof ControllerError) || err.status !== 503 || err.retryAfterSeconds === undefined) throw err;
      shed();
      await delay(err.retryAfterSeconds * 1000);
    }
  }
}

export interface Burst {
  /** The ids accepted so far (others may watch how far the burst is). */
  created: string[];
  create_seconds: number;
  all_active_seconds: number;
  shed_503: number;
}

/** `instances` of `workload` created in batches of 100 by `concurrency` workers (a busy
 *  controller's 503 + Retry-After honoured, docs/api.md "Busy") while a prober reads an instance
 *  and the cluster's status, until `activeTotal` instances of the cluster are active. */
export async function burst(c: Clients, lat: Latencies, opts: { workload: string; instances: number; concurrency: number; activeTotal: number; created?: string[] }): Promise<Burst> {
  const { user, admin, tenant } = c;
  const t0 = performance.now();
  const created = opts.created ?? [];
  let next = 0;
  let shed = 0;
  const worker = async () => {
    while (next < opts.instances) {
      const count = Math.min(100, opts.instances - next);
      next += count;
      created.push(...(await createInstances(c, opts.workload, count, lat, () => shed++)).map((i) => i.id));
    }
  };
  let loaded = true;
  const prober = (async () => {
    while (loaded) {
      if (created.length) await lat.timed('show instance', () => user.call('GET', `/tenants/${tenant}/instances/${created[created.length >> 1]}`));
      await lat.timed('cluster status', () => admin.call('GET', '/cluster/status'));
    }
  })();
  try {
    await Promise.all(Array.from({ length: opts.concurrency }, worker));
    const createSeconds = (performance.now() - t0) / 1000;
    await waitFor(`${opts.activeTotal} instances to be active`, async () => {
      const s = await lat.timed('cluster status', () => admin.call<{ instances: { active: number } }>('GET', '/cluster/status'));
      return s.instances.active >= opts.activeTotal;
    }, { timeoutMs: 120_000 + opts.instances * 20, intervalMs: 200 });
    return { created, create_seconds: createSeconds, all_active_seconds: (performance.now() - t0) / 1000, shed_503: shed };
  } finally {
    loaded = false;
    await prober;
  }
}
