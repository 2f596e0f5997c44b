// A whole control plane in the test process, on loopback: the identity mock, the scheduler, the
// controller (SQLite in a temp dir) and simulated launchers, each over its real TLS transport.
// CIAO_TEST_LOG=1 prints their log lines.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { createClusterPki, type ClusterPki } from '../../shared/pki.ts';
import { clusterAgent, readTls } from '../../shared/tls-files.ts';
import { createLogger, silentLogger, type Logger } from '../../shared/log.ts';
import { ControllerClient } from '../../shared/controller-client.ts';
import { waitFor } from '../../shared/wait-for.ts';
import { tempDir } from '../../shared/temp-dir.ts';
import { createIdentityServer } from '../../mocks/identity/server.ts';
import { defaultIdentityConfig } from '../../mocks/identity/config.ts';
import { Scheduler } from '../../scheduler/server.ts';
import { Controller } from '../../controller/controller.ts';
import { openSqliteStore, type SqliteStore, type SqliteStoreOptions } from '../../controller/datastore/sqlite-store.ts';
import { identityCheck } from '../../controller/auth.ts';
import { Launcher } from '../../launcher/launcher.ts';
import { SimulationBackend } from '../../launcher/simulation-backend.ts';
import { CnciAgent } from '../../cnci/agent.ts';
import { SimulatedNat } from '../../cnci/nat.ts';
import { DEFAULT_WORKLOADS, VM_IMAGE } from '../../singlevm/default-workloads.ts';
import { freePort } from '../../singlevm/ports.ts';
import type { AdmissionLimits } from '../../controller/create-admission.ts';

export interface ControlPlaneOptions {
  nodes?: number;
  bootDelayMs?: number;
  statsIntervalMs?: number;
  nodeCapacity?: { vcpus: number; memMB: number; diskMB: number };
  /** Launchers keep their record of instances stopped on request (node-<i>-stopped.json), and a
   *  restarted one starts again what should run, as a real node does. */
  stoppedFiles?: boolean;
  /** The cluster has a way out (setup --egress): CNCIs get an egress switch, whose settings are
   *  recorded per tenant in `egressSwitches`. */
  egress?: boolean;
  /** When the controller sheds creates (controller/create-admission.ts). */
  admission?: Partial<AdmissionLimits>;
  /** The controller's logger (to check what it logs); the others keep the test's. */
  controllerLogger?: Logger;
  /** The controller's datastore options (its writer's busy timeout, where commit failures go). */
  store?: SqliteStoreOptions;
}

const PASSWORDS = { admin: 'admin-pw', demo: 'demo-pw', other: 'other-pw' };

export async function startControlPlane(opts: ControlPlaneOptions = {}) {
  const { path: dir, remove: removeDir } = tempDir('ciao-test');
  const pki: ClusterPki = await createClusterPki(join(dir, 'pki'), 'test');
  const logger = (process.env.CIAO_TEST_LOG ? createLogger({ component: 'test' }) : silentLogger());
  const dispatcher = clusterAgent(pki.ca.cert);

  let scheduler = new Scheduler({ tls: readTls({ ca: pki.ca.cert, ...pki.scheduler }), logger });
  const schedulerPort = await scheduler.listen(0);

  // Identity: admin and demo from the default config, plus a second tenant for isolation tests.
  const identityConfigPath = join(dir, 'identity.json');
  const [identityPort, controllerPort] = [await freePort(), await freePort()];
  const config = defaultIdentityConfig({
    adminPassword: PASSWORDS.admin, demoPassword: PASSWORDS.demo,
    controllerUrl: `https://127.0.0.1:${controllerPort}`, identityUrl: `https://127.0.0.1:${identityPort}`,
  });
  const otherProject = randomUUID();
  config.projects.push({ id: otherProject, name: 'other', domain_id: 'default', description: '', enabled: true, tags: [] });
  config.users.push({ id: randomUUID(), name: 'other', password: PASSWORDS.other, domain_id: 'default', enabled: true, extra: {}, roles: [{ project_id: otherProject, role: 'member' }] });
  await writeFile(identityConfigPath, JSON.stringify(config));
  const identity = createIdentityServer({ config, configPath: identityConfigPath, tls: readTls({ ca: pki.ca.cert, ...pki.https }), statePath: dir, logger });
  const { url: identityUrl } = await identity.listen(identityPort);

  const clientTls = readTls({ ca: pki.ca.cert, ...pki.controller });
  let controller: Controller;
  let store: SqliteStore;
  const startController = async (port: number) => {
    store = openSqliteStore(join(dir, 'controller.db'), opts.store);
    controller = new Controller({
      store,
      tokenCheck: identityCheck(identityUrl, dispatcher),
      imageDir: join(dir, 'images'),
      volumeDir: join(dir, 'volumes'),
      logger: opts.controllerLogger ?? logger,
      tls: readTls({ ca: pki.ca.cert, ...pki.https }),
      scheduler: { host: '127.0.0.1', port: schedulerPort, tls: clientTls },
      egress: opts.egress,
      admission: opts.admission,
    });
    return controller.listen(port);
  };
  const controllerUrl = await startController(controllerPort);

  const agentTls = readTls({ ca: pki.ca.cert, ...pki.agent });
  const cnciTls = readTls({ ca: pki.ca.cert, ...pki.cnci });
  const nats = new Map<string, SimulatedNat>();
  const cncis: CnciAgent[] = [];
  const egressSwitches = new Map<string, boolean[]>();
  const egressSwitch = (tenantId: string) => async (on: boolean) => {
    egressSwitches.set(tenantId, [...(egressSwitches.get(tenantId) ?? []), on]);
  };
  const makeLauncher = (i: number, backend: SimulationBackend) => new Launcher({
    nodeId: `node-${i}`, hostname: `host-${i}`, roles: ['compute', 'network'],
    scheduler: { host: '127.0.0.1', port: schedulerPort, tls: agentTls },
    capacity: opts.nodeCapacity ?? { vcpus: 8, memMB: 4096, diskMB: 20_000 },
    backends: { qemu: backend, docker: backend },
    statsIntervalMs: opts.statsIntervalMs ?? 1000,
    stoppedFile: opts.stoppedFiles ? join(dir, `node-${i}-stopped.json`) : undefined,
    shelvedFile: opts.stoppedFiles ? join(dir, `node-${i}-shelved.json`) : undefined,
    actionsFile: opts.stoppedFiles ? join(dir, `node-${i}-actions.json`) : undefined,
    logger,
  });
  const backends = Array.from({ length: opts.nodes ?? 3 }, () => new SimulationBackend({
    bootDelayMs: opts.bootDelayMs ?? 20,
    startCnci: (spec) => {
      const nat = new SimulatedNat();
      nats.set(spec.tenantId, nat);
      const agent = new CnciAgent({
        instanceId: spec.instanceId, tenantId: spec.tenantId, nat, logger, scheduler: { host: '127.0.0.1', port: schedulerPort, tls: cnciTls },
        setEgress: opts.egress ? egressSwitch(spec.tenantId) : undefined,
      });
      agent.start();
      cncis.push(agent);
      return agent;
    },
  }));
  const launchers = backends.map((b, i) => makeLauncher(i, b));
  for (const l of launchers) await l.start();

  const client = (username: keyof typeof PASSWORDS, projectName: string = username) =>
    new ControllerClient(controllerUrl, identityUrl, { username, password: PASSWORDS[username], projectName }, dispatcher);
  const admin = client('admin');
  const plane = {
    dir, pki, identityUrl, dispatcher, schedulerPort,
    get scheduler() { return scheduler; }, launchers, backends, nats, egressSwitches,
    get controller() { return controller; },
    get controllerUrl() { return controllerUrl; },
    admin, demo: client('demo'), other: client('other'),
    client,
    /** Stops the controller and starts a new one on the same port and database; `meanwhile` runs
     *  while it is down (e.g. to leave the database as a crash would). */
    async restartController(meanwhile?: () => Promise<void> | void) {
      await controller.close();
      await meanwhile?.();
      await startController(controllerPort);
    },
    /** Kills the controller as kill -9 would: what its datastore has not committed is lost (its
     *  connections close at once), then starts a new one; `meanwhile` runs while it is down. */
    async crashController(meanwhile?: () => Promise<void> | void) {
      const abandoned = store.abandon();
      await controller.close();
      await abandoned;
      await meanwhile?.();
      await startController(controllerPort);
    },
    /** Stops the scheduler and starts a new one on the same port: every peer reconnects to it.
     *  `meanwhile` runs while it is down. */
    async restartScheduler(meanwhile?: () => Promise<void> | void) {
      await scheduler.close();
      await meanwhile?.();
      scheduler = new Scheduler({ tls: readTls({ ca: pki.ca.cert, ...pki.scheduler }), logger });
      await scheduler.listen(schedulerPort);
    },
    /** Drops node i's connection and brings it back as a new launcher process would (same backend);
     *  `meanwhile` runs while it is away, its records written (e.g. to leave them as a kill would),
     *  and `made` is given the new launcher before it starts. */
    async restartLauncher(i: number, meanwhile?: () => Promise<void> | void, made?: (launcher: Launcher) => void) {
      await launchers[i].stop();
      await waitFor(`node-${i} to be gone`, () => scheduler.placement.get(`node-${i}`) === undefined, { timeoutMs: 5000 });
      await meanwhile?.();
      launchers[i] = makeLauncher(i, backends[i]);
      made?.(launchers[i]);
      await launchers[i].start();
    },
    async waitForNodes(n = launchers.length) {
      await waitFor(`${n} nodes ready`, async () => (await admin.call<{ nodes: { ready: number } }>('GET', '/cluster/status')).nodes.ready >= n, { timeoutMs: 10_000 });
    },
    async close() {
      await Promise.all(launchers.map((l) => l.stop()));
      for (const agent of cncis) agent.stop();
      await controller.close();
      await scheduler.close();
      await identity.close();
      await dispatcher.close();
      removeDir();
    },
  };
  await plane.waitForNodes();
  // What setup registers: the VM image, the default workloads (public) and the CNCI workload.
  const adminTenant = await admin.tenantId();
  const image = await admin.call<{ id: string }>('POST', '/image/v2/images', { name: VM_IMAGE, visibility: 'public' });
  await admin.call('PUT', `/image/v2/images/${image.id}/file`, Buffer.from('simulated image\n'));
  for (const w of DEFAULT_WORKLOADS) await admin.call('POST', `/tenants/${adminTenant}/workloads`, w);
  return plane;
}

export type ControlPlane = Awaited<ReturnType<typeof startControlPlane>>;
