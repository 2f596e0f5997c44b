// Before anything changes (SPEC §2): Node, the tools, root, the address plan against the host's
// routes, disk space; and the host's snapshot, taken once — a resume proves the host against the
// state before the cluster's first setup.
import { access, mkdir } from 'node:fs/promises';
import type { Action } from './context.ts';

export const REAL_TOOLS = ['ip', 'bridge', 'nsenter', 'qemu-system-x86_64', 'qemu-img', 'mke2fs', 'genisoimage', 'cpio', 'gcc', 'dnsmasq', 'dhcp_release', 'iptables', 'busybox', 'ping', 'ssh', 'ssh-keygen', 'dockerd', 'tar'];
const PLAN = ['198.51.100.0/24', '172.16.0.0/12', '203.0.113.0/24'];
/** What every cluster needs (certificates; volumes are qcow2 files), and how to get it. */
const BASIC_TOOLS: Record<string, string> = {
  openssl: 'openssl is missing: apt-get install openssl',
  'qemu-img': 'qemu-img is missing (volumes are qcow2 files): apt-get install qemu-utils',
};

export const preflight: Action = {
  name: 'preflight',
  async execute({ name, paths, settings, host }) {
    const major = Number(process.versions.node.split('.')[0]);
    if (major < 20) throw new Error(`Node ${process.versions.node} is too old: Node 20 or newer is needed`);
    const [basic] = await host.missingTools(Object.keys(BASIC_TOOLS));
    if (basic) throw new Error(BASIC_TOOLS[basic]);
    for (const dir of [paths.stateDir, paths.logs, paths.pids]) await mkdir(dir, { recursive: true, mode: 0o700 });
    if (settings.simulate) return;
    if (!host.isRoot()) throw new Error('the real cluster needs root (network namespaces, QEMU taps, dockerd): run as root, or add --simulate');
    const missing = await host.missingTools(settings.egress ? [...REAL_TOOLS, 'slirp4netns'] : REAL_TOOLS);
    if (missing.length) throw new Error(`missing tools: ${missing.join(', ')} (setup.sh installs them: run it through ./singlevm/setup.sh)`);
    // The cluster's ranges live only in its namespaces, but verify reaches them from there: a host
    // route into the same ranges would make the results ambiguous, so say so before anything changes.
    const collisions = await host.routeCollisions(PLAN);
    if (collisions.length) throw new Error(`address plan collides with the host: ${collisions.join('; ')}`);
    const freeMB = await host.freeDiskMB(paths.home);
    if (freeMB < 2048) throw new Error(`only ${freeMB} MB free under ${paths.home}: the cluster needs 2 GB`);
    const taken = await access(paths.hostBefore).then(() => false, () => true);
    if (taken) await host.snapshotHost(name, paths.hostBefore);
    return `root, ${REAL_TOOLS.length} tools present, ${PLAN.join(', ')} clear of the host's routes, ${(freeMB / 1024).toFixed(0)} GB free, ${taken ? 'host snapshot taken' : 'host snapshot of the first setup kept'}`;
  },
};
