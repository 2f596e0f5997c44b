// A container's network (SPEC §4): it is created with no network; then a veth from the node's
// tenant bridge is moved straight into the container's namespace, with the controller's MAC and IP.
// Two processes do it: on the node's side one `ip link add`, a single netlink request that makes
// the pair, puts its bridge end on the bridge and up, gives the other end its MAC and moves it into
// the container; then one `ip -batch` inside the container adds the address, brings the links up
// and sets the route. Nine `ip` runs did it before (50–120 ms on a busy 2-core machine).
import { run } from '../shared/run.ts';
import { ipIn } from './ip.ts';

export interface ContainerLink {
  /** The node namespace holding the tenant bridge. */
  nodeNs: string;
  bridge: string;
  /** The bridge side's name (at most 15 characters). */
  hostSide: string;
  /** The container's main process: its network namespace is /proc/<pid>/ns/net. */
  pid: number;
  mac: string;
  /** Address with prefix, e.g. 172.16.0.2/24. */
  cidr: string;
  gateway: string;
}

/** Runs `ip` inside the container's network namespace. */
const ipInPid = (pid: number, args: string[], input?: string) => run('nsenter', [`--net=/proc/${pid}/ns/net`, 'ip', ...args], { input });

/** The lines of an `ip -batch` are words: a value that is not one address of its kind is refused,
 *  so nothing can add a line or an option. */
function batchWord(what: string, value: string, re: RegExp): string {
  if (!re.test(value)) throw new Error(`refused to wire a container with ${what} ${JSON.stringify(value)}`);
  return value;
}
const IPV4 = /^(\d{1,3}\.){3}\d{1,3}$/;
const CIDR = /^(\d{1,3}\.){3}\d{1,3}\/\d{1,2}$/;

export async function attachContainer(l: ContainerLink): Promise<void> {
  const inside = [
    `addr add ${batchWord('address', l.cidr, CIDR)} dev eth0`,
    'link set lo up',
    'link set eth0 up',
    `route add default via ${batchWord('gateway', l.gateway, IPV4)}`,
  ].join('\n') + '\n';
  const add = ['link', 'add', l.hostSide, 'master', l.bridge, 'up', 'type', 'veth', 'peer', 'name', 'eth0', 'address', l.mac, 'netns', String(l.pid)];
  await ipIn(l.nodeNs, ...add).catch(async (err: Error) => {
    // A bridge side left by an earlier start of the same instance (the kernel frees a dead
    // container's namespace, and the pair with it, asynchronously): removed, then made again.
    if (!/File exists/.test(err.message)) throw err;
    await ipIn(l.nodeNs, 'link', 'del', l.hostSide).catch(() => undefined);
    await ipIn(l.nodeNs, ...add);
  });
  await ipInPid(l.pid, ['-batch', '-'], inside);
}

/** Whether the container's namespace has the link (its veth peer goes when the bridge side does). */
export const hasLink = (pid: number, name: string) => ipInPid(pid, ['link', 'show', name]).then(() => true, () => false);
