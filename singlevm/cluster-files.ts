// Where a cluster keeps its things. Every name carries the cluster's name, so cleanup finds all
// of it by name after a crash, and two clusters with different names can coexist.
import { homedir } from 'node:os';
import { join } from 'node:path';
import { readFile } from 'node:fs/promises';
import type { EgressSettings } from '../network/egress.ts';
import type { NodeLeg } from './cluster-network.ts';

export const DEFAULT_CLUSTER = 'ciao';

/** setup's --egress (docs/egress.md): the host loopback ports workloads may reach, and the resolver
 *  tenants' DNS forwards to. */
export type EgressSetting = EgressSettings;

export interface ClusterRecord {
  name: string;
  /** `real`: QEMU VMs, Docker containers and CNCIs in the cluster's namespaces; `simulate`: no workloads. */
  mode: 'simulate' | 'real';
  stateDir: string;
  ports: { identity: number; controller: number; scheduler: number };
  nodes: number;
  createdAt: string;
  /** A real cluster's: how its VMs run, and its namespaces. */
  accel?: 'kvm' | 'tcg';
  network?: { clusterNs: string; nodeNs: string; nodeIp: string; nodes?: NodeLeg[] };
  /** What it was set up with, for a resume (docs/lifecycle.md). */
  settings?: {
    bootDelayMs: number; statsIntervalMs: number; apiHost?: string; egress?: EgressSetting;
    /** --network-nodes (singlevm/node-roles.ts): absent, every real node is dual-role. */
    networkNodes?: number;
    /** --sim-nodes: simulated compute nodes beside the real ones. */
    simNodes?: number;
  };
}

export function clusterPaths(name: string, home = process.env.CIAO_HOME ?? join(homedir(), 'local')) {
  const stateDir = join(home, `ciao-${name}`);
  return {
    home,
    stateDir,
    record: join(stateDir, 'cluster.json'),
    pki: join(stateDir, 'pki'),
    logs: join(stateDir, 'logs'),
    pids: join(stateDir, 'pids'),
    identityConfig: join(stateDir, 'identity.json'),
    /** The host as setup found it: cleanup proves it is back to this. */
    hostBefore: join(stateDir, 'host-before.json'),
    sshKey: join(stateDir, 'ssh', 'id_ed25519'),
    /** The real node's instance and CNCI folders (node 0's; nodeDir(i) for node i). */
    node: join(stateDir, 'node-0'),
    nodeDir: (i: number) => join(stateDir, `node-${i}`),
    clusterNet: join(stateDir, 'net'),
    demoSh: join(home, name === DEFAULT_CLUSTER ? 'demo.sh' : `demo-${name}.sh`),
  };
}

/** `file`: the record of a cluster whose home is not the default one (setup's context says where). */
export async function readClusterRecord(name: string, file = clusterPaths(name).record): Promise<ClusterRecord | undefined> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as ClusterRecord;
  } catch {
    return undefined;
  }
}

/** The pid-file name of node i's launcher: node 0's is the daemon's own name, as on a one-node cluster. */
export const launcherName = (i: number) => (i ? `launcher-${i}` : 'launcher');

export function validClusterName(name: string): boolean {
  return /^[a-z][a-z0-9-]{0,15}$/.test(name);
}
