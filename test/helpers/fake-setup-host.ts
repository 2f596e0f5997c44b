// Setup's steps off the host, for unit tests: a cluster in a temp dir, a fake host (SetupHost) that
// records what it is asked and keeps its daemons as pids in a set, and a fake controller API that
// keeps images and workloads in arrays. No root, no network, no daemon started: what the steps
// run for themselves in the state dir (openssl, qemu-img) runs for real.
import type { Test } from 'tap';
import tmp from 'tmp';
import { cp, mkdir, readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createClusterPki, type ClusterPki } from '../../shared/pki.ts';
import { clusterPaths } from '../../singlevm/cluster-files.ts';
import { clusterNetworkNames, type NodeLeg } from '../../singlevm/cluster-network.ts';
import { DAEMON_ENTRIES, type DaemonName } from '../../singlevm/daemon-entries.ts';
import type { Daemon } from '../../singlevm/processes.ts';
import type { AdminClient, SetupHost, VmTemplatesRequest } from '../../singlevm/actions/setup-host.ts';
import type { SetupContext, SetupSettings } from '../../singlevm/actions/context.ts';
import { stepName, type Step } from '../../singlevm/flow.ts';
import type { EgressSettings } from '../../network/egress.ts';

export const CLUSTER = 'st';

interface FakeImage { id: string; name: string; status: 'queued' | 'active'; disk_format: string; file?: Buffer }
interface FakeWorkload { description: string; image_name: string; config?: string }

/** The controller's API as setup uses it. `writes` lists every call that changes something. */
export class FakeController implements AdminClient {
  readonly images: FakeImage[] = [];
  readonly workloads: FakeWorkload[] = [];
  readonly writes: string[] = [];
  readyNodes = 0;
  /** How many of the ready nodes report FULL (their instances take all of them). */
  fullNodes = 0;

  async tenantId(): Promise<string> {
    return 'tenant-a';
  }

  async call<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
    const url = new URL(path, 'https://controller');
    if (method !== 'GET') this.writes.push(`${method} ${url.pathname}`);
    const route = `${method} ${url.pathname}`;
    const upload = route.match(/^PUT \/image\/v2\/images\/([^/]+)\/file$/);
    let answer: unknown;
    if (route === 'GET /image/v2/images') answer = { images: this.images.filter((i) => i.name === url.searchParams.get('name')) };
    else if (route === 'POST /image/v2/images') {
      const { name, disk_format } = body as FakeImage;
      const image: FakeImage = { id: `image-${this.images.length + 1}`, name, disk_format, status: 'queued' };
      this.images.push(image);
      answer = { id: image.id };
    } else if (upload) {
      const image = this.images.find((i) => i.id === upload[1]);
      if (!image) throw new Error(`fake controller: no image ${upload[1]}`);
      Object.assign(image, { file: body as Buffer, status: 'active' });
    } else if (route === 'GET /cluster/status') answer = { nodes: { ready: this.readyNodes - this.fullNodes, full: this.fullNodes } };
    else if (route === 'GET /tenants/tenant-a/workloads') answer = { workloads: this.workloads };
    else if (route === 'POST /tenants/tenant-a/workloads') this.workloads.push(body as FakeWorkload);
    else throw new Error(`fake controller: no route for ${route}`);
    return answer as T;
  }
}

/** A host where every answer is the one a test sets, and every operation is recorded in `calls`. */
export class FakeHost implements SetupHost {
  readonly calls: { op: keyof SetupHost; args: unknown[] }[] = [];
  readonly started: Daemon[] = [];
  readonly controller = new FakeController();
  root = true;
  missing: string[] = [];
  collisions: string[] = [];
  freeMB = 100_000;
  accel: { accel: 'kvm' | 'tcg'; why: string } = { accel: 'tcg', why: 'no usable /dev/kvm' };
  /** Whether identity's and the controller's URLs answer. */
  apisAnswer: (url: string) => boolean = () => true;
  private readonly alive = new Set<number>();
  private nextPid = 40_000;

  /** The operations asked for, in order. */
  ops(): string[] {
    return this.calls.map((c) => c.op);
  }

  argsOf(op: keyof SetupHost): unknown[][] {
    return this.calls.filter((c) => c.op === op).map((c) => c.args);
  }

  /** The daemon dies; its pid file stays, naming a pid that no longer runs (as after kill -9). */
  /** Ends the process a pid file names: a daemon's, or a kept one's keeper (`controller-keeper`). */
  async kill(pids: string, daemon: DaemonName | `${DaemonName}-keeper`): Promise<void> {
    this.alive.delete(Number(await readFile(join(pids, `${daemon}.pid`), 'utf8')));
  }

  private record(op: keyof SetupHost, ...args: unknown[]) {
    this.calls.push({ op, args });
  }

  isRoot() {
    this.record('isRoot');
    return this.root;
  }
  async missingTools(tools: string[]) {
    this.record('missingTools', tools);
    return tools.filter((t) => this.missing.includes(t));
  }
  async routeCollisions(cidrs: string[]) {
    this.record('routeCollisions', cidrs);
    return this.collisions;
  }
  async freeDiskMB(dir: string) {
    this.record('freeDiskMB', dir);
    return this.freeMB;
  }
  async snapshotHost(cluster: string, file: string) {
    this.record('snapshotHost', cluster, file);
    await writeFile(file, JSON.stringify({ namespaces: [], links: ['lo'], addresses: [], routes: [], iptables: [], containers: [], processes: [] }));
  }
  async buildDaemons() {
    this.record('buildDaemons');
    return fakeBundles(CLUSTER);
  }
  async runningPid(pidFile: string) {
    const pid = Number(await readFile(pidFile, 'utf8').catch(() => ''));
    return this.alive.has(pid) ? pid : undefined;
  }
  /** As the real one: a pid file; and a launcher that starts brings its nodes (`--nodes`, else one). */
  async startDaemon(daemon: Daemon, cluster: string, dirs: { logs: string; pids: string }) {
    this.record('startDaemon', daemon.name, cluster);
    const pid = this.nextPid++;
    await writeFile(join(dirs.pids, `${daemon.name}.pid`), `${pid}\n`);
    this.alive.add(pid);
    if (daemon.keep) {
      const keeper = this.nextPid++;
      await writeFile(join(dirs.pids, `${daemon.name}-keeper.pid`), `${keeper}\n`);
      this.alive.add(keeper);
    }
    this.started.push(daemon);
    if (daemon.name === 'launcher') this.controller.readyNodes = Number(argAfter(daemon.args, '--nodes') ?? 1);
    if (/^launcher-\d+$/.test(daemon.name)) this.controller.readyNodes += 1;
    if (daemon.name === 'launcher-sim') this.controller.readyNodes += Number(argAfter(daemon.args, '--nodes'));
    return pid;
  }
  /** Why each template was not made: none by default. */
  templateFailures: string[] = [];
  async makeVmTemplates(t: VmTemplatesRequest) {
    this.record('makeVmTemplates', t);
    return this.templateFailures;
  }
  async answers(url: string, caFile: string) {
    this.record('answers', url, caFile);
    return this.apisAnswer(url);
  }
  adminClient(urls: { identity: string; controller: string }, creds: unknown, caFile: string) {
    this.record('adminClient', urls, creds, caFile);
    return this.controller;
  }
  async sshKeygen(file: string, comment: string) {
    this.record('sshKeygen', file, comment);
    await writeFile(file, 'private key\n', { mode: 0o600 });
    await writeFile(`${file}.pub`, `ssh-ed25519 AAAAfake ${comment}\n`);
  }
  async ensureDockerd(logFile: string) {
    this.record('ensureDockerd', logFile);
  }
  async buildVmImage(cacheDir: string, progress: (note: string) => void) {
    this.record('buildVmImage', cacheDir);
    progress('Debian packages');
    await mkdir(cacheDir, { recursive: true });
    const image = { kernel: join(cacheDir, 'vmlinuz'), initrd: join(cacheDir, 'initrd.img'), root: join(cacheDir, 'root.qcow2'), hash: 'fake' };
    await writeFile(image.kernel, 'kernel');
    await writeFile(image.initrd, 'initramfs');
    await writeFile(image.root, 'root disk');
    return image;
  }
  async buildContainerImage(cacheDir: string) {
    this.record('buildContainerImage', cacheDir);
    return 'ciao-busybox:fake';
  }
  async probeAccel(probe: { kernel: string; force: 'auto' | 'kvm' | 'tcg'; cacheFile: string }) {
    this.record('probeAccel', probe);
    return this.accel;
  }
  async ensureClusterNetwork(cluster: string, dir: string, nodes: number | NodeLeg[] = 1) {
    this.record('ensureClusterNetwork', cluster, dir, nodes);
    return typeof nodes === 'number' ? clusterNetworkNames(cluster, nodes) : { ...clusterNetworkNames(cluster, 1), nodes };
  }
  async ensureEgress(clusterNs: string, dir: string, egress: EgressSettings) {
    this.record('ensureEgress', clusterNs, dir, egress);
  }
}

const fakeBundles = (cluster: string) =>
  Object.fromEntries(Object.keys(DAEMON_ENTRIES).map((d) => [d, `/build/${cluster}/${d}.mjs`])) as Record<DaemonName, string>;

export const argAfter = (args: string[], flag: string): string | undefined => {
  const i = args.indexOf(flag);
  return i < 0 ? undefined : args[i + 1];
};

/** A cluster in a temp dir on a fake host. Each run() is a new context, as each setup.sh makes one:
 *  nothing made yet, and resuming when the cluster's record exists. */
export function fakeCluster(t: Test, defaults: Partial<SetupSettings> = {}) {
  const home = tmp.dirSync({ prefix: 'ciao-steps-', unsafeCleanup: true });
  t.teardown(() => home.removeCallback());
  const paths = clusterPaths(CLUSTER, home.name);
  const host = new FakeHost();
  const run = (settings: Partial<SetupSettings> = {}): SetupContext => ({
    name: CLUSTER, paths, host, cacheDir: join(home.name, 'cache'), resuming: existsSync(paths.record),
    settings: { simulate: true, nodes: 1, accel: 'auto', bootDelayMs: 100, statsIntervalMs: 5000, ...defaults, ...settings },
  });
  return { paths, host, controller: host.controller, run };
}

/** Runs the steps as runFlow does, without the status lines: each step that ran, and its note. */
export async function runSteps(flow: Step<SetupContext>[], ctx: SetupContext): Promise<{ step: string; note?: string }[]> {
  const ran: { step: string; note?: string }[] = [];
  for (const step of flow) {
    if (step.when && !step.when(ctx)) continue;
    const note = await step.execute(ctx, () => {});
    ran.push({ step: stepName(step, ctx), ...(note ? { note } : {}) });
  }
  return ran;
}

/** Where the certificates step puts the cluster's certificates (no files made). */
export function certificatePaths(dir: string): ClusterPki {
  const cert = (name: string) => ({ cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) });
  return { ca: cert('ca'), https: cert('https'), scheduler: cert('scheduler'), controller: cert('controller'), agent: cert('agent'), cnci: cert('cnci') };
}

/** What the steps before the control plane leave on the context and in the state dir, made by hand
 *  (no openssl, no scrypt): the record with its ports, the bundles, the certificates' paths (no
 *  files) and the passwords. */
export async function afterCredentials(ctx: SetupContext): Promise<SetupContext> {
  const { paths } = ctx;
  for (const dir of [paths.stateDir, paths.logs, paths.pids]) await mkdir(dir, { recursive: true });
  ctx.record = {
    name: ctx.name, mode: ctx.settings.simulate ? 'simulate' : 'real', stateDir: paths.stateDir, nodes: ctx.settings.nodes, createdAt: '2024-01-01T00:00:00.000Z',
    ports: { identity: 5000, controller: 8889, scheduler: 8888 },
  };
  await writeFile(paths.record, JSON.stringify(ctx.record));
  ctx.bundles = fakeBundles(ctx.name);
  const pki = certificatePaths(paths.pki);
  const nodeCert = (i: number) => ({ cert: join(paths.pki, `agent-${i}.crt`), key: join(paths.pki, `agent-${i}.key`) });
  ctx.pki = { ...pki, agents: [pki.agent, ...Array.from({ length: ctx.settings.nodes - 1 }, (_, i) => nodeCert(i + 1))] };
  ctx.creds = { admin: { username: 'admin', password: 'admin-pw', project: 'admin' }, user: { username: 'demo', password: 'demo-pw', project: 'demo' } };
  return ctx;
}

/** …and what the control plane leaves: the admin client (the fake host's controller). */
export async function afterControlPlane(ctx: SetupContext): Promise<SetupContext> {
  await afterCredentials(ctx);
  ctx.admin = (ctx.host as FakeHost).controller;
  return ctx;
}

let issued: Promise<string> | undefined;

/** A simulated cluster's certificates, issued once for the whole test file (openssl is the slow part
 *  of a step run), copied into `pkiDir` but for the files `except` names, which the certificates
 *  step then issues. */
export async function issuedCertificates(pkiDir: string, except: string[] = []): Promise<void> {
  issued ??= (async () => {
    tmp.setGracefulCleanup();
    const dir = tmp.dirSync({ prefix: 'ciao-pki-', unsafeCleanup: true });
    await createClusterPki(dir.name, CLUSTER, { nodes: `${CLUSTER}-sim*` });
    return dir.name;
  })();
  const from = await issued;
  await cp(from, pkiDir, { recursive: true, filter: (src) => !except.some((f) => src.startsWith(join(from, `${f}.`))) });
}
