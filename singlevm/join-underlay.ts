// The cluster's end of a joined machine's underlay (docs/singlevm-network.md, "A second machine
// joins"), as recorded in `<state>/joins/`: the macvlan leg, the tunnel on ciao_br flooding to each
// joined machine, the firewall and the scheduler gate. Made by `--export-join`, and again by setup's
// resume (its namespaces went with stop.sh), so a joined machine's launcher finds its way back.
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { readPidFile, startDetached } from '../shared/detached.ts';
import { CLUSTER_IP } from '../network/cluster-leg.ts';
import { addJoinPeer, addUnderlayLeg, ensureJoinTunnel, setUnderlayFirewall, underlayAddress } from '../network/underlay.ts';
import { UNDERLAY_PORT, UNDERLAY_VNI } from './join-bundle.ts';
import { REPO_ROOT } from './processes.ts';
import type { clusterPaths } from './cluster-files.ts';

type Paths = ReturnType<typeof clusterPaths>;

/** Where the cluster meets the LAN: the NIC (and, in tests, the namespace it is in) and its address. */
const UnderlaySetting = z.strictObject({ iface: z.string().regex(/^[A-Za-z0-9_.-]{1,15}$/), ifaceNs: z.string().optional(), cidr: z.string() });
export type UnderlaySetting = z.infer<typeof UnderlaySetting>;
/** One bundle exported: the node it names and the address its machine takes. */
const JoinRecord = z.strictObject({ k: z.number().int(), nodeId: z.string(), address: z.string(), expires: z.string() });
export type JoinRecord = z.infer<typeof JoinRecord>;

export const joinsDir = (paths: Paths) => join(paths.stateDir, 'joins');
const underlayFile = (paths: Paths) => join(joinsDir(paths), 'underlay.json');
export const hasJoins = (paths: Paths) => existsSync(underlayFile(paths));

export async function readJoins(paths: Paths): Promise<{ underlay?: UnderlaySetting; joins: JoinRecord[] }> {
  const dir = joinsDir(paths);
  const files = await readdir(dir).catch(() => [] as string[]);
  const joins = await Promise.all(files.filter((f) => /^\d+\.json$/.test(f)).map(async (f) => JoinRecord.parse(JSON.parse(await readFile(join(dir, f), 'utf8')))));
  const underlay = hasJoins(paths) ? UnderlaySetting.parse(JSON.parse(await readFile(underlayFile(paths), 'utf8'))) : undefined;
  return { underlay, joins: joins.sort((a, b) => a.k - b.k) };
}

export async function recordJoin(paths: Paths, underlay: UnderlaySetting, j: JoinRecord): Promise<void> {
  await mkdir(joinsDir(paths), { recursive: true, mode: 0o700 });
  await writeFile(underlayFile(paths), `${JSON.stringify(underlay)}\n`);
  await writeFile(join(joinsDir(paths), `${j.k}.json`), `${JSON.stringify(j)}\n`);
}

/** The cluster's end, made or completed: a leg that is there must have `underlay.cidr`. */
export async function ensureClusterUnderlay(c: { cluster: string; paths: Paths; clusterNs: string; schedulerPort: number }, underlay: UnderlaySetting, peers: string[]): Promise<void> {
  const have = await underlayAddress(c.clusterNs);
  if (have !== undefined && have !== underlay.cidr) throw new Error(`cluster ${c.cluster}'s underlay leg is ${have || 'without an address'}, not ${underlay.cidr}: give its address`);
  const local = underlay.cidr.split('/')[0];
  // The firewall before the leg: nothing but VXLAN to the peers leaves by it, from its first frame.
  await setUnderlayFirewall(c.clusterNs, local, peers, UNDERLAY_PORT);
  if (have === undefined) await addUnderlayLeg(c.clusterNs, underlay.iface, underlay.cidr, underlay.ifaceNs);
  await ensureJoinTunnel(c.clusterNs, local, { vni: UNDERLAY_VNI, port: UNDERLAY_PORT });
  for (const peer of peers) await addJoinPeer(c.clusterNs, peer);
  await ensureGate(c);
}

/** The scheduler gate in the cluster namespace, unless it runs. */
async function ensureGate(c: { cluster: string; paths: Paths; clusterNs: string; schedulerPort: number }): Promise<void> {
  const pidFile = join(c.paths.pids, 'scheduler-gate.pid');
  if (await readPidFile(pidFile)) return;
  await rm(pidFile, { force: true });
  await startDetached({
    name: 'scheduler gate', command: 'ip', pidFile, pidFileBy: 'process', cwd: REPO_ROOT, log: join(c.paths.logs, 'scheduler-gate.out'),
    args: ['netns', 'exec', c.clusterNs, process.execPath, '--import', 'tsx', join(REPO_ROOT, 'singlevm', 'scheduler-gate.ts'),
      '--listen', `${CLUSTER_IP}:${c.schedulerPort}`, '--socket', join(c.paths.stateDir, 'scheduler.sock'), '--pid-file', pidFile, '--cluster', c.cluster],
  });
}
