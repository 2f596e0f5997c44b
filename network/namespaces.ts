// Network namespaces of a cluster: every one is named `ciao-<cluster>-<role>`, so cleanup finds
// them all by name, even after a crash.
import { run } from '../shared/run.ts';
import { waitFor } from '../shared/wait-for.ts';

export const namespaceName = (cluster: string, role: string) => `ciao-${cluster}-${role}`;

export async function listNamespaces(): Promise<string[]> {
  const out = (await run('ip', ['-j', 'netns', 'list'])).stdout.trim();
  return out ? (JSON.parse(out) as { name: string }[]).map((n) => n.name) : [];
}

/** The roles a cluster's namespaces have: its network, its nodes (a joined machine's too), its tenants' CNCIs. */
const ROLE = /^(net|node-\d+|join-\d+|cnci-[0-9a-f]+)$/;

/** Whether `ns` is one of this cluster's namespaces — by role, so cluster `ci` never claims cluster `ci-x`'s. */
export const isClusterNamespace = (cluster: string, ns: string) =>
  ns.startsWith(`ciao-${cluster}-`) && ROLE.test(ns.slice(`ciao-${cluster}-`.length));

/** Whether a process argument names something of this cluster — a namespace, or a VM or container
 *  (`ciao-<cluster>-<instance id>`) — and not of a cluster whose name merely begins the same. */
export function mentionsCluster(cluster: string, arg: string): boolean {
  const uuid = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
  return new RegExp(`(^|[^a-z0-9-])ciao-${cluster}-(net|node-\\d+|join-\\d+|cnci-[0-9a-f]+|${uuid})($|[^a-z0-9-])`).test(arg);
}

/** The cluster a namespace is named for, if any: `ciao-a-node-1-net` is cluster `a-node-1`'s network. */
export function clusterOfNamespace(ns: string): string | undefined {
  if (!ns.startsWith('ciao-')) return undefined;
  const rest = ns.slice('ciao-'.length);
  // Names may hold dashes: the name ends where the first tail that is a role begins.
  for (let at = rest.indexOf('-'); at > 0; at = rest.indexOf('-', at + 1)) {
    if (ROLE.test(rest.slice(at + 1))) return rest.slice(0, at);
  }
  return undefined;
}

export async function clusterNamespaces(cluster: string): Promise<string[]> {
  return (await listNamespaces()).filter((n) => isClusterNamespace(cluster, n));
}

/** Creates the namespace with its loopback up; an existing one is kept (setup may be re-run).
 *  Says whether it made it: a namespace made just now holds nothing yet. */
export async function createNamespace(name: string): Promise<boolean> {
  const add = await run('ip', ['netns', 'add', name], { allowFailure: true });
  if (add.exitCode !== 0 && !/File exists/.test(add.stderr)) throw new Error(`ip netns add ${name} failed: ${add.stderr.trim()}`);
  await run('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  return add.exitCode === 0;
}

/** Ends whatever still runs in namespace `name` (SIGTERM, then SIGKILL after a second), and waits
 *  until nothing does. A process in a namespace (a probe's SSH connection into a tenant's VM, shared
 *  for a while: singlevm/guest-ssh.ts) keeps it, and every link in it, after `ip netns delete`: a
 *  CNCI's leg would keep its address on the cluster's bridge while DHCP gives that address to
 *  another CNCI. SIGTERM first lets such a connection remove its control socket. */
export async function endProcessesIn(name: string): Promise<void> {
  const pids = async () => (await run('ip', ['netns', 'pids', name], { allowFailure: true })).stdout.split('\n').filter((p) => /^\d+$/.test(p)).map(Number);
  const signal = (all: number[], sig: NodeJS.Signals) => {
    for (const pid of all) {
      try {
        process.kill(pid, sig);
      } catch { /* gone since */ }
    }
  };
  const none = async () => (await pids()).length === 0;
  const first = await pids();
  if (!first.length) return;
  signal(first, 'SIGTERM');
  if (await waitFor(`the processes in namespace ${name} to end`, none, { timeoutMs: 1000, intervalMs: 20 }).catch(() => false)) return;
  signal(await pids(), 'SIGKILL');
  await waitFor(`the processes in namespace ${name} to end`, none, { timeoutMs: 5000, intervalMs: 20 });
}

/** Deletes a namespace and, at once, every link in it. `ip netns delete` alone frees its links only
 *  when nothing holds the namespace any more, and a process is not all that holds one: a socket
 *  does too, and a TCP connection closed towards a peer that no longer answers (an SSH probe's, to a
 *  tenant's VM deleted meanwhile) lives on orphaned, retransmitting its FIN for minutes. Its links
 *  lived on with it: a CNCI's leg kept its address on the cluster's bridge while DHCP gave that
 *  address to the next CNCI (two hosts answering ARP for one address), and BAT after BAT on one
 *  cluster piled up legs on the bridge. So the links go first (a veth's end outside goes with its
 *  end inside), then the namespace. Idempotent. */
export async function deleteNamespace(name: string): Promise<void> {
  // Listing its links also says whether it is there: one `ip` the fewer on cleanup's path.
  const shown = await run('ip', ['-n', name, '-j', 'link', 'show'], { allowFailure: true });
  if (shown.exitCode !== 0) {
    if (!(await listNamespaces()).includes(name)) return;
    throw new Error(`cannot list the links of namespace ${name}: ${shown.stderr.trim()}`);
  }
  const links = (JSON.parse(shown.stdout.trim() || '[]') as { ifname: string }[]).filter((l) => l.ifname !== 'lo');
  // -force: one veth deleted also deletes its peer, which may be in this list too.
  if (links.length) await run('ip', ['-n', name, '-force', '-batch', '-'], { input: links.map((l) => `link del ${l.ifname}\n`).join(''), allowFailure: true });
  await run('ip', ['netns', 'delete', name]);
}
