// The cluster's record (cluster.json): its mode, ports and settings, chosen once and kept, so a
// resume brings the cluster back at the same addresses with the same settings.
import { writeFile } from 'node:fs/promises';
import { readClusterRecord, type ClusterRecord, type EgressSetting } from '../cluster-files.ts';
import { daemonPort, portIsFree } from '../ports.ts';
import { proxyFromEnv, type ProxySetting } from '../../network/proxy.ts';
import type { Action } from './context.ts';

/** The port a variable asks for (ccloudvm forwards the VM's API ports to its host), when it is free; else one of daemonPort's. */
async function wantedPort(variable: string): Promise<number> {
  const port = Number(process.env[variable]);
  return Number.isInteger(port) && port > 0 && await portIsFree(port) ? port : daemonPort();
}

/** Why a cluster that exists cannot be resumed with these settings, if it cannot. */
export function resumeConflict(existing: ClusterRecord, simulate: boolean, egress?: EgressSetting): string | undefined {
  if (existing.mode !== (simulate ? 'simulate' : 'real')) {
    const real = existing.mode === 'real';
    return `cluster ${existing.name} is a ${real ? 'real' : 'simulated'} cluster: resume it as it was set up (${real ? 'without' : 'with'} --simulate), or clean it up first`;
  }
  // A resume keeps the egress the cluster was made with; asking for another is refused, not ignored.
  const had = existing.settings?.egress;
  if (egress && JSON.stringify(egress) !== JSON.stringify(had)) {
    return `cluster ${existing.name} was set up ${had ? `with other --egress settings (${describeEgress(had)})` : 'without --egress'}: resume it without --egress* options, or clean it up first`;
  }
  return undefined;
}

/** What setup says when the environment's proxy variables are not what workloads get: set without
 *  --egress (no way out to reach them), or other than the ones the resumed cluster was made with. */
export function proxyNote(env: NodeJS.ProcessEnv, egress: EgressSetting | undefined): string | undefined {
  let now: ProxySetting | undefined;
  try {
    now = proxyFromEnv(env);
  } catch {
    now = undefined; // a bad one was refused already when it mattered (with --egress)
  }
  const urls = (p?: ProxySetting) => JSON.stringify([p?.http, p?.https]);
  if (!egress) return now ? 'http_proxy/https_proxy are set but not given to workloads: the cluster has no --egress' : undefined;
  if (urls(now) === urls(egress.proxy)) return undefined;
  const had = egress.proxy ? `the proxy it was set up with (${[egress.proxy.http, egress.proxy.https].filter(Boolean).join(', ')})` : 'no proxy, as it was set up';
  return `workloads keep ${had}; the environment's proxy variables are not used (to change them: cleanup.sh, then setup.sh --egress with them set)`;
}

/** The egress settings in words, for the ready summary and messages. */
export const describeEgress = (e: EgressSetting) =>
  `host loopback ports ${e.allowHostPorts.length ? e.allowHostPorts.join(', ') : 'closed'}${e.proxy?.hostPorts.length ? ` (${e.proxy.hostPorts.join(', ')} for the proxy)` : ''}, DNS ${e.dns ?? 'the host\'s resolvers'}`
  + (e.proxy ? `, proxy ${[e.proxy.http && `http ${e.proxy.http}`, e.proxy.https && `https ${e.proxy.https}`].filter(Boolean).join(', ')} given to workloads` : '');

export const configuration: Action = {
  name: 'configuration',
  async execute(ctx) {
    const existing = await readClusterRecord(ctx.name, ctx.paths.record);
    if (existing) {
      const conflict = resumeConflict(existing, ctx.settings.simulate, ctx.settings.egress);
      if (conflict) throw new Error(conflict);
      ctx.record = existing;
      // A resume runs with the settings the cluster was made with.
      ctx.settings = { ...ctx.settings, ...existing.settings, nodes: existing.nodes };
      return `cluster ${ctx.name} exists (${ctx.paths.stateDir}): resuming it`;
    }
    const record: ClusterRecord = {
      name: ctx.name, mode: ctx.settings.simulate ? 'simulate' : 'real', stateDir: ctx.paths.stateDir, nodes: ctx.settings.nodes, createdAt: new Date().toISOString(),
      ports: { identity: await wantedPort('CIAO_IDENTITY_PORT'), controller: await wantedPort('CIAO_CONTROLLER_PORT'), scheduler: await daemonPort() },
      settings: { bootDelayMs: ctx.settings.bootDelayMs, statsIntervalMs: ctx.settings.statsIntervalMs, apiHost: ctx.settings.apiHost, egress: ctx.settings.egress,
        networkNodes: ctx.settings.networkNodes, simNodes: ctx.settings.simNodes },
    };
    await writeFile(ctx.paths.record, JSON.stringify(record, null, 2) + '\n');
    ctx.record = record;
  },
};

/** The real node's part of the record, once its accel and network are known. */
export async function recordRealNode(ctx: Parameters<Action['execute']>[0], real: Pick<ClusterRecord, 'accel' | 'network'>): Promise<void> {
  // Steps that run at the same time (accel, cluster network) each add their part: the context's
  // record has all of them at once, and the writes go one after another, each of the whole record.
  ctx.record = { ...ctx.record!, ...real };
  const written = recordWrites.get(ctx.paths.record) ?? Promise.resolve();
  const next = written.catch(() => {}).then(() => writeFile(ctx.paths.record, JSON.stringify(ctx.record, null, 2) + '\n'));
  recordWrites.set(ctx.paths.record, next);
  await next;
}
const recordWrites = new Map<string, Promise<void>>();
