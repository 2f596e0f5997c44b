// The cluster Tempest runs against: brought up with setup.sh (a simulated one when it does not
// exist; an existing one is resumed, or left alone when healthy) and described by its demo.sh.
import { join } from 'node:path';
import { clusterPaths, readClusterRecord } from '../../singlevm/cluster-files.ts';
import { readDemoSh } from '../../singlevm/demo-sh.ts';
import { REPO_ROOT } from '../../singlevm/processes.ts';
import { CommandError, run } from '../../shared/run.ts';
import { ControllerClient } from '../../shared/controller-client.ts';
import { clusterAgent } from '../../shared/tls-files.ts';

/** What Tempest needs to reach the cluster, from its demo.sh. */
export interface ClusterAccess {
  name: string;
  stateDir: string;
  /** Identity's base URL (CIAO_IDENTITY; its v3 API is under /v3). */
  identityUrl: string;
  controllerUrl: string;
  caFile: string;
  region: string;
  admin: { username: string; password: string; project: string };
  simulated: boolean;
}

/** The access in a demo.sh's variables; a missing one is named. */
export function clusterAccess(name: string, vars: Record<string, string | undefined>): ClusterAccess {
  const need = (key: string): string => {
    const v = vars[key];
    if (!v) throw new Error(`the demo.sh of cluster ${name} does not set ${key}: set the cluster up again (./singlevm/setup.sh --name ${name})`);
    return v;
  };
  return {
    name,
    stateDir: need('CIAO_STATE_DIR'),
    identityUrl: need('CIAO_IDENTITY').replace(/\/+$/, ''),
    controllerUrl: need('CIAO_CONTROLLER'),
    caFile: need('OS_CACERT'),
    region: vars.OS_REGION_NAME || 'RegionOne',
    admin: { username: need('CIAO_ADMIN_USERNAME'), password: need('CIAO_ADMIN_PASSWORD'), project: vars.CIAO_ADMIN_TENANT_NAME || 'admin' },
    simulated: vars.CIAO_SIMULATED === '1',
  };
}

/** A JSON client with the admin's token, for the controller's API or (baseUrl) identity's. */
export function adminClient(cluster: ClusterAccess, baseUrl = cluster.controllerUrl): ControllerClient {
  const { username, password, project } = cluster.admin;
  return new ControllerClient(baseUrl, cluster.identityUrl, { username, password, projectName: project }, clusterAgent(cluster.caFile));
}

const script = (name: string) => join(REPO_ROOT, 'singlevm', name);

/** Runs a singlevm script; a failure says the script's last lines (its status lines are on stdout). */
async function singlevm(name: string, args: string[]): Promise<void> {
  try {
    await run(script(name), args);
  } catch (err) {
    if (!(err instanceof CommandError)) throw err;
    throw new Error(`${name} ${args.join(' ')} failed: ${(err.stderr.trim() || err.message).split('\n').slice(-5).join(' | ')}`);
  }
}

/** Brings cluster `name` up (or leaves it as it is when healthy) and returns its access, with a
 *  line saying what was done. A real cluster is resumed as real; a new one is simulated. */
export async function ensureCluster(name: string): Promise<{ access: ClusterAccess; note: string }> {
  const record = await readClusterRecord(name);
  await singlevm('setup.sh', [...(record?.mode === 'real' ? [] : ['--simulate']), '--name', name]);
  const access = clusterAccess(name, await readDemoSh(clusterPaths(name).demoSh));
  if (access.simulated) await ensureAltImage(access);
  const kind = access.simulated ? 'simulated' : 'real';
  return { access, note: record ? `${kind} cluster ${name}, already there (setup.sh resumes it when needed)` : `new ${kind} cluster ${name}` };
}

/** Tempest's image_ref_alt: a second VM image, public, so the image filters can tell two servers
 *  apart and a rebuild changes the image. Only on a simulated cluster: its nodes boot any image,
 *  where a real node boots the images setup registered (their kernel and initramfs). */
export const ALT_IMAGE = 'ciao-vm-alt';

async function ensureAltImage(access: ClusterAccess): Promise<void> {
  const admin = adminClient(access);
  const { images } = await admin.call<{ images: { id: string; status: string }[] }>('GET', `/image/v2/images?name=${ALT_IMAGE}`);
  if (images.some((i) => i.status === 'active')) return;
  const image = images[0] ?? await admin.call<{ id: string }>('POST', '/image/v2/images', { name: ALT_IMAGE, visibility: 'public', disk_format: 'raw', container_format: 'bare' });
  await admin.call('PUT', `/image/v2/images/${image.id}/file`, Buffer.from('simulated image, the second: Tempest\'s image_ref_alt (the simulation backend boots no guest)\n'));
}

/** Removes a simulated cluster (--fresh, --cleanup); a real one is never removed from here. */
export async function removeCluster(name: string): Promise<void> {
  if ((await readClusterRecord(name))?.mode === 'real') {
    throw new Error(`cluster ${name} is a real one: only a simulated cluster is removed from here (./singlevm/cleanup.sh --name ${name} does it)`);
  }
  await singlevm('cleanup.sh', ['--name', name]);
}
