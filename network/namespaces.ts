// Network namespaces of a cluster: every one is named `ciao-<cluster>-<role>`, so cleanup finds
// them all by name, even after a crash.
import { run } from '../shared/run.ts';

export const namespaceName = (cluster: string, role: string) => `ciao-${cluster}-${role}`;

export async function listNamespaces(): Promise<string[]> {
  const out = (await run('ip', ['-j', 'netns', 'list'])).stdout.trim();
  return out ? (JSON.parse(out) as { name: string }[]).map((n) => n.name) : [];
}

/** Whether `ns` is one of this cluster's namespaces — by role, so cluster `ci` never claims cluster `ci-x`'s. */
export const isClusterNamespace = (cluster: string, ns: string) =>
  ns.startsWith(`ciao-${cluster}-`) && /^(net|node-\d+|cnci-[0-9a-f]+)$/.test(ns.slice(`ciao-${cluster}-`.length));

export async function clusterNamespaces(cluster: string): Promise<string[]> {
  return (await listNamespaces()).filter((n) => isClusterNamespace(cluster, n));
}

/** Creates the namespace with its loopback up; an existing one is kept (setup may be re-run). */
export async function createNamespace(name: string): Promise<void> {
  if (!(await listNamespaces()).includes(name)) await run('ip', ['netns', 'add', name]);
  await run('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
}

/** Deleting a namespace takes every link inside it with it. Idempotent. */
export async function deleteNamespace(name: string): Promise<void> {
  if ((await listNamespaces()).includes(name)) await run('ip', ['netns', 'delete', name]);
}
