// python-openstackclient (Debian's python3-openstackclient) driven against a ciao cluster, as its
// users would: a clouds.yaml with one cloud per user, and the `openstack` command run against one
// of them with nothing of the caller's environment but PATH (no OS_* variable, no ~/.config).
// Each user's commands run in one long-lived client process (openstack-session.ts); with
// CIAO_OSC_PROCESS_PER_COMMAND=1 each is an `openstack` process of its own, as before.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../shared/run.ts';
import { scaled } from '../shared/wait-for.ts';
import { OpenstackSession } from './openstack-session.ts';

/** Throws, saying how to install it, when the `openstack` command is missing. */
export async function requireOpenstackCli(): Promise<void> {
  if ((await run('which', ['openstack'], { allowFailure: true })).exitCode === 0) return;
  throw new Error('the openstack command is missing: apt-get install python3-openstackclient (scripts/install-system-deps.sh installs it)');
}

/** The interpreter the `openstack` command runs on (its #! line), so the driver imports the same client. */
export async function openstackInterpreter(): Promise<string[]> {
  const path = (await run('which', ['openstack'])).stdout.trim();
  const shebang = (await readFile(path, 'utf8')).split('\n', 1)[0];
  if (!shebang.startsWith('#!')) throw new Error(`${path} is not a script with a #! line: the openstack driver needs its Python`);
  return shebang.slice(2).trim().split(/\s+/);
}

export interface CloudUser { username: string; password: string; project: string }

export interface CloudSettings {
  /** Keystone's base URL (without /v3). */
  identityUrl: string;
  caFile: string;
  /** How often `--wait` polls (openstackclient's own: 5 s); not with CIAO_OSC_PROCESS_PER_COMMAND. */
  waitPollSeconds?: number;
}

export interface OpenstackCli {
  /** `openstack ARGS -f json`, its output parsed. */
  json: <T = any>(...args: string[]) => Promise<T>; // eslint-disable-line @typescript-eslint/no-explicit-any
  /** `openstack ARGS`, its stdout (for commands that print no table: delete, set, reboot, …). */
  text: (...args: string[]) => Promise<string>;
  /** Ends the user's client process (the commands still running are killed). */
  close: () => Promise<void>;
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
  const perCommand = process.env.CIAO_OSC_PROCESS_PER_COMMAND === '1';
  const python = perCommand ? [] : await openstackInterpreter();
  // A server create --wait waits for a boot.
  const timeout = scaled(180_000);
  const cli = (name: U): OpenstackCli => {
    const env = { PATH: process.env.PATH, HOME: dir, OS_CLIENT_CONFIG_FILE: cloudsFile, OS_CLOUD: name };
    const session = perCommand ? undefined : new OpenstackSession({ python, env, waitPollSeconds: settings.waitPollSeconds, workdir: dir });
    const text = async (...args: string[]) => (session ? await session.run(args, timeout) : await run('openstack', args, { env, timeout })).stdout;
    return { text, json: async (...args) => JSON.parse(await text(...args, '-f', 'json')), close: async () => session?.close() };
  };
  return Object.fromEntries(entries.map(([name]) => [name, cli(name)])) as Record<U, OpenstackCli>;
}
