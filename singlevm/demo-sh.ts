// ~/local/demo.sh: the CIAO_* and OS_* variables of a cluster, and `ciao` on the PATH.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { REPO_ROOT } from './processes.ts';

export interface Credentials {
  admin: { username: string; password: string; project: string };
  user: { username: string; password: string; project: string };
}

export interface DemoSettings {
  name: string;
  identityUrl: string;
  controllerUrl: string;
  caFile: string;
  stateDir: string;
  creds: Credentials;
  /** The private key demouser logs into the cluster's VMs with (a real cluster's). */
  sshKey?: string;
  /** A simulated cluster: BAT skips the tests that need real workloads. */
  simulated?: boolean;
}

const q = (v: string) => `'${v.replace(/'/g, `'\\''`)}'`;

export async function writeDemoSh(path: string, s: DemoSettings): Promise<void> {
  const vars: [string, string][] = [
    ['CIAO_CLUSTER', s.name],
    ['CIAO_STATE_DIR', s.stateDir],
    ['CIAO_CONTROLLER', s.controllerUrl],
    ['CIAO_IDENTITY', s.identityUrl],
    ['CIAO_CA_CERT_FILE', s.caFile],
    ['CIAO_USERNAME', s.creds.user.username],
    ['CIAO_PASSWORD', s.creds.user.password],
    ['CIAO_TENANT_NAME', s.creds.user.project],
    ['CIAO_ADMIN_USERNAME', s.creds.admin.username],
    ['CIAO_ADMIN_PASSWORD', s.creds.admin.password],
    ['CIAO_ADMIN_TENANT_NAME', s.creds.admin.project],
    ...(s.sshKey ? [['CIAO_SSH_KEY', s.sshKey] as [string, string]] : []),
    ...(s.simulated ? [['CIAO_SIMULATED', '1'] as [string, string]] : []),
    ['OS_AUTH_URL', `${s.identityUrl}/v3`],
    ['OS_IDENTITY_API_VERSION', '3'],
    ['OS_USERNAME', s.creds.user.username],
    ['OS_PASSWORD', s.creds.user.password],
    ['OS_PROJECT_NAME', s.creds.user.project],
    ['OS_USER_DOMAIN_NAME', 'Default'],
    ['OS_PROJECT_DOMAIN_NAME', 'Default'],
    ['OS_CACERT', s.caFile],
    ['OS_INTERFACE', 'public'],
    ['OS_REGION_NAME', 'RegionOne'],
  ];
  const lines = [
    `# ciao cluster "${s.name}": source me (. ${path})`,
    ...vars.map(([k, v]) => `export ${k}=${q(v)}`),
    `case ":$PATH:" in *:${q(join(REPO_ROOT, 'bin'))}:*) ;; *) export PATH=${q(join(REPO_ROOT, 'bin'))}:"$PATH" ;; esac`,
    '',
  ];
  await writeFile(path, lines.join('\n'), { mode: 0o600 });
}

/** The variables a demo.sh sets, as `. demo.sh` would (for programs that cannot source it). */
export async function readDemoSh(path: string): Promise<Record<string, string>> {
  return parseDemoSh(await readFile(path, 'utf8'));
}

export function parseDemoSh(text: string): Record<string, string> {
  return Object.fromEntries([...text.matchAll(/^export (\w+)='((?:[^']|'\\'')*)'$/gm)].map((m) => [m[1], m[2].replace(/'\\''/g, "'")]));
}
