// A container's network (SPEC §4): it is created with no network; then a veth from the node's
// tenant bridge is moved straight into the container's namespace, with the controller's MAC and IP.
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
const ipInPid = (pid: number, ...args: string[]) => run('nsenter', [`--net=/proc/${pid}/ns/net`, 'ip', ...args]);

export async function attachContainer(l: ContainerLink): Promise<void> {
  await ipIn(l.nodeNs, 'link', 'del', l.hostSide).catch(() => undefined); // a leftover of an earlier start
  await ipIn(l.nodeNs, 'link', 'add', l.hostSide, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', String(l.pid));
  await ipIn(l.nodeNs, 'link', 'set', l.hostSide, 'master', l.bridge);
  await ipIn(l.nodeNs, 'link', 'set', l.hostSide, 'up');
  await ipInPid(l.pid, 'link', 'set', 'eth0', 'address', l.mac);
  await ipInPid(l.pid, 'addr', 'add', l.cidr, 'dev', 'eth0');
  await ipInPid(l.pid, 'link', 'set', 'lo', 'up');
  await ipInPid(l.pid, 'link', 'set', 'eth0', 'up');
  await ipInPid(l.pid, 'route', 'add', 'default', 'via', l.gateway);
}

/** Whether the container's namespace has the link (its veth peer goes when the bridge side does). */
export const hasLink = (pid: number, name: string) => ipInPid(pid, 'link', 'show', name).then(() => true, () => false);
