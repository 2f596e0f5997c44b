// What the steps of verify share (docs/lifecycle.md): the cluster under test, its clients, the
// tenant, the SSH key, the timeouts, and what earlier steps made (the workloads, the instances).
// verifyTarget and logIn build it from a cluster's variables (its demo.sh); a step reads what an
// earlier one made through need(), which names that step when it is missing.
import { ControllerClient } from '../../shared/controller-client.ts';
import { clusterAgent } from '../../shared/tls-files.ts';
import type { Instance, Workload } from '../../controller/api-types.ts';
import { clusterPaths, readClusterRecord, type ClusterRecord } from '../cluster-files.ts';
import type { Step } from '../flow.ts';

export { need } from '../flow.ts';

/** The controller's API as verify uses it: a ControllerClient, or in a test a small fake. */
export type ApiClient = Pick<ControllerClient, 'call' | 'tenantId'>;

/** How long verify waits for each kind of thing (each is scaled by CIAO_TIMEOUT_SCALE in waitFor). */
export interface VerifyTimeouts {
  /** Instances active and VMs answering SSH: TCG guests boot in seconds; KVM ones sooner. */
  bootMs: number;
  /** The event an action leads to (Mapped, Unmapped, Deleted, Failed to …). */
  eventMs: number;
  /** A ping between containers, or from a container to its gateway. */
  pingMs: number;
  /** A freshly mapped external IP to answer ping. */
  externalPingMs: number;
  /** A Deleted event for every instance. */
  deleteMs: number;
}

/** What verify checks and with what: everything but the login. */
export interface VerifyTarget {
  cluster: string;
  record?: ClusterRecord;
  /** No guests and no data plane: the steps that need them are skipped and listed as not checked. */
  simulated: boolean;
  /** A real cluster's namespaces, where the probes start (verifyTarget refuses a real cluster without). */
  network?: ClusterRecord['network'];
  /** The user (demo) who starts the instances, and its name. */
  user: ApiClient;
  username: string;
  /** The admin, who makes the pool and injects faults; its tenant is "another tenant". */
  admin: ApiClient;
  /** demouser's private key (a real cluster's; '' on a simulated one). */
  sshKey: string;
  /** The external IP pool the steps make, use and delete. */
  pool: string;
  timeouts: VerifyTimeouts;
}

export interface VerifyContext extends VerifyTarget {
  /** The user's tenant, where the instances are started. */
  tenantId: string;
  /** What this cluster could not check, for the summary (a simulated one has no guests). */
  notChecked: string[];
  // What the steps made:
  workloads?: { vm: Workload; ct: Workload };
  vms?: Instance[];
  containers?: Instance[];
  /** Another tenant's container, the vantage point of the isolation probe (tenant-isolation.ts). */
  other?: { tenant: { client: ApiClient; path: string }; instance: Instance };
}

/** A step of the verify flow (singlevm/flow.ts). */
export type VerifyStep = Step<VerifyContext> & { name: string };

export const onRealCluster = (ctx: VerifyContext) => !ctx.simulated;

export const tenantPath = (ctx: VerifyContext) => `/tenants/${ctx.tenantId}`;

/** The real cluster's namespaces (verifyTarget made sure a real cluster's record has them). */
export function realNetwork(ctx: VerifyContext): NonNullable<VerifyTarget['network']> {
  if (!ctx.network) throw new Error(`cluster ${ctx.cluster} has no network in its record: the probes start in its namespaces`);
  return ctx.network;
}

/** Why verify cannot start: the cluster is not described well enough to check (`not_described`,
 *  like a usage error: exit 2), or its identity service refused the user (`login_failed`: exit 1). */
export class VerifyStartError extends Error {
  constructor(readonly code: 'not_described' | 'login_failed', message: string) {
    super(message);
    this.name = 'VerifyStartError';
  }
}

export function timeoutsFor(record: ClusterRecord | undefined): VerifyTimeouts {
  return { bootMs: record?.accel === 'kvm' ? 60_000 : 120_000, eventMs: 30_000, pingMs: 15_000, externalPingMs: 10_000, deleteMs: 60_000 };
}

/** The cluster `cluster` as its variables (CIAO_*, from its demo.sh) describe it, and its record. */
export async function verifyTarget(cluster: string, vars: Record<string, string | undefined>): Promise<VerifyTarget> {
  const env = (k: string) => {
    const v = vars[k];
    if (!v) throw new VerifyStartError('not_described', `${k} is not set: source the cluster's variables first (. ~/local/demo.sh), or name the cluster (--name)`);
    return v;
  };
  const dispatcher = clusterAgent(env('CIAO_CA_CERT_FILE'));
  const [controller, identity] = [env('CIAO_CONTROLLER'), env('CIAO_IDENTITY')];
  const userCreds = { username: env('CIAO_USERNAME'), password: env('CIAO_PASSWORD'), projectName: env('CIAO_TENANT_NAME') };
  const adminCreds = { username: env('CIAO_ADMIN_USERNAME'), password: env('CIAO_ADMIN_PASSWORD'), projectName: vars.CIAO_ADMIN_TENANT_NAME ?? 'admin' };
  const record = await readClusterRecord(cluster);
  const simulated = vars.CIAO_SIMULATED === '1' || record?.mode === 'simulate';
  if (!simulated && !record?.network) {
    // The probes start inside the cluster's namespaces, which its record names.
    throw new VerifyStartError('not_described', `no record of cluster ${cluster} under ${clusterPaths(cluster).stateDir}: run verify on the cluster's machine with the CIAO_HOME setup used`);
  }
  return {
    cluster, record, simulated, network: record?.network,
    user: new ControllerClient(controller, identity, userCreds, dispatcher), username: userCreds.username,
    admin: new ControllerClient(controller, identity, adminCreds, dispatcher),
    sshKey: simulated ? '' : env('CIAO_SSH_KEY'),
    pool: 'test',
    timeouts: timeoutsFor(record),
  };
}

/** Logs the user in: the context verify's steps run over. */
export async function logIn(target: VerifyTarget): Promise<VerifyContext> {
  const tenantId = await target.user.tenantId().catch((err) => {
    throw new VerifyStartError('login_failed', `cannot log in as ${target.username}: ${(err as Error).message}`);
  });
  return { ...target, tenantId, notChecked: [] };
}
