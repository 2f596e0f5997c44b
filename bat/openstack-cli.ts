// python-openstackclient (Debian's python3-openstackclient) driven against a ciao cluster, as its
// users would: a clouds.yaml with one cloud per user, and the `openstack` command run against one
// of them with nothing of the caller's environment but PATH (no OS_* variable, no ~/.config).
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../shared/run.ts';
import { scaled } from '../shared/wait-for.ts';

/** Throws, saying how to install it, when the `openstack` command is missing. */
export async function requireOpenstackCli(): Promise<void> {
  if ((await run('which', ['openstack'], { allowFailure: true })).exitCode === 0) return;
  throw new Error('the openstack command is missing: apt-get install python3-openstackclient (scripts/install-system-deps.sh installs it)');
}

export interface CloudUser { username: string; password: string; project: string }

export interface CloudSettings {
  /** Keystone's base URL (without /v3). */
  identityUrl: string;
  caFile: string;
}

export interface OpenstackCli {
  /** `openstack ARGS -f json`, its output parsed. */
  json: <T = any>(...args: string[]) => Promise<T>; // eslint-disable-line @typescript-eslint/no-explicit-any
  /** `openstack ARGS`, its stdout (for commands that print no table: delete, set, reboot, …). */
  text: (...args: string[]) => Promise<string>;
}

/** Writes `dir`/clouds.yaml with a cloud per user (named as its key) and returns the command per user. */
export async function openstackClouds<U extends string>(dir: string, settings: CloudSettings, users: Record<U, CloudUser>): Promise<Record<U, OpenstackCli>> {
  const cloudsFile = join(dir, 'clouds.yaml');
  const cloud = (u: CloudUser) => ({
    auth: { auth_url: `${settings.identityUrl}/v3`, username: u.username, password: u.password, project_name: u.project, user_domain_name: 'Default', project_domain_name: 'Default' },
    identity_api_version: '3', cacert: settings.caFile, interface: 'public',
  });
  const entries = Object.entries(users) as [U, CloudUser][];
  // JSON is YAML: no YAML writer needed.
  await writeFile(cloudsFile, JSON.stringify({ clouds: Object.fromEntries(entries.map(([name, u]) => [name, cloud(u)])) }), { mode: 0o600 });
  const cli = (name: U): OpenstackCli => {
    // Each command starts Python and authenticates (seconds); a server create --wait waits for a boot.
    const text = async (...args: string[]) => (await run('openstack', args, {
      env: { PATH: process.env.PATH, HOME: dir, OS_CLIENT_CONFIG_FILE: cloudsFile, OS_CLOUD: name }, timeout: scaled(180_000),
    })).stdout;
    return { text, json: async (...args) => JSON.parse(await text(...args, '-f', 'json')) };
  };
  return Object.fromEntries(entries.map(([name]) => [name, cli(name)])) as Record<U, OpenstackCli>;
}
