// Pre-provisioned credentials for Tempest: projects and users made through identity's admin API,
// written to accounts.yaml (in the cluster's state dir, 0600). Kept and reused while every one of
// them still logs in; otherwise a new set is made under a new tag (the old ones are left, harmless,
// until the cluster is cleaned up). A reused account is first cleared of the application
// credentials and access rules Tempest left on it, so a reused cluster runs as a fresh one would.
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { parse, stringify } from 'yaml';
import { issueToken } from '../../mocks/identity/client.ts';
import { clusterAgent } from '../../shared/tls-files.ts';
import { ControllerClient } from '../../shared/controller-client.ts';
import { adminClient, type ClusterAccess } from './cluster.ts';

/** One entry of Tempest's accounts file (tempest/etc/accounts.yaml's fields). */
export interface Account {
  username: string;
  password: string;
  project_name: string;
  domain_name: string;
  types?: ['admin'];
}

/** For concurrency N Tempest needs two member accounts per worker (primary and alt) and an admin;
 *  a spare pair and a spare admin, so a class that still holds its accounts never starves the next. */
export function wantedAccounts(concurrency: number, tag: string, password: () => string): Account[] {
  const make = (role: 'member' | 'admin', n: number): Account => ({
    username: `tempest-${tag}-${role}-${n}`, password: password(), project_name: `tempest-${tag}-${role}-${n}`, domain_name: 'Default',
    ...(role === 'admin' && { types: ['admin'] as ['admin'] }),
  });
  return [
    ...Array.from({ length: 2 * concurrency + 2 }, (_, i) => make('member', i + 1)),
    ...Array.from({ length: concurrency + 1 }, (_, i) => make('admin', i + 1)),
  ];
}

export const accountsYaml = (accounts: Account[]): string =>
  `# Tempest's pre-provisioned accounts on this cluster, made by bat/tempest.sh (accounts.ts)\n${stringify(accounts)}`;

async function logsIn(cluster: ClusterAccess, a: Account): Promise<boolean> {
  return issueToken(cluster.identityUrl, { username: a.username, password: a.password, projectName: a.project_name }, clusterAgent(cluster.caFile))
    .then(() => true, () => false);
}

/** Deletes what Tempest's application-credential classes leave on an account (AccessRulesV3Test
 *  makes a credential per test and deletes none): the next run's exact counts would be off. */
async function clearDelegations(cluster: ClusterAccess, a: Account): Promise<void> {
  const dispatcher = clusterAgent(cluster.caFile);
  const { userId } = await issueToken(cluster.identityUrl, { username: a.username, password: a.password, projectName: a.project_name }, dispatcher);
  const own = new ControllerClient(cluster.identityUrl, cluster.identityUrl, { username: a.username, password: a.password, projectName: a.project_name }, dispatcher);
  const { application_credentials: creds } = await own.call<{ application_credentials: { id: string }[] }>('GET', `/v3/users/${userId}/application_credentials`);
  for (const c of creds) await own.call('DELETE', `/v3/users/${userId}/application_credentials/${c.id}`);
  const { access_rules: rules } = await own.call<{ access_rules: { id: string }[] }>('GET', `/v3/users/${userId}/access_rules`);
  for (const r of rules) await own.call('DELETE', `/v3/users/${userId}/access_rules/${r.id}`);
}

async function create(cluster: ClusterAccess, accounts: Account[]): Promise<void> {
  const identity = adminClient(cluster, cluster.identityUrl);
  const { roles } = await identity.call<{ roles: { id: string; name: string }[] }>('GET', '/v3/roles');
  for (const a of accounts) {
    const roleName = a.types ? 'admin' : 'member';
    const role = roles.find((r) => r.name === roleName);
    if (!role) throw new Error(`identity has no role named ${roleName}: setup makes admin and member`);
    const { project } = await identity.call<{ project: { id: string } }>('POST', '/v3/projects',
      { project: { name: a.project_name, domain_id: 'default', description: 'Tempest pre-provisioned account' } });
    const { user } = await identity.call<{ user: { id: string } }>('POST', '/v3/users',
      { user: { name: a.username, password: a.password, domain_id: 'default', default_project_id: project.id } });
    await identity.call('PUT', `/v3/projects/${project.id}/users/${user.id}/roles/${role.id}`);
  }
}

/** Makes sure `file` holds accounts for `concurrency` workers that log in; says what it did. */
export async function ensureAccounts(cluster: ClusterAccess, file: string, concurrency: number): Promise<string> {
  const have = await readFile(file, 'utf8').then((t) => (parse(t) ?? []) as Account[], () => [] as Account[]);
  const want = wantedAccounts(concurrency, randomBytes(2).toString('hex'), () => randomBytes(12).toString('hex'));
  const enough = (role: 'admin' | 'member') => have.filter((a) => Boolean(a.types) === (role === 'admin')).length >= want.filter((a) => Boolean(a.types) === (role === 'admin')).length;
  if (enough('admin') && enough('member') && (await Promise.all(have.map((a) => logsIn(cluster, a)))).every(Boolean)) {
    for (const a of have) await clearDelegations(cluster, a);
    return `${have.length} accounts reused, cleared of application credentials and access rules (${file})`;
  }
  await create(cluster, want);
  await writeFile(file, accountsYaml(want), { mode: 0o600 });
  return `${want.length} accounts made (${want.filter((a) => a.types).length} admin) in ${file}`;
}
