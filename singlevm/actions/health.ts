// Whether a cluster that exists is whole: every daemon (and, for a real one, dnsmasq and its
// namespaces) runs, and its controller answers. setup on a healthy cluster stops here (≤ 1 s).
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { request } from 'undici';
import { clusterAgent } from '../../shared/tls-files.ts';
import { listNamespaces } from '../../network/namespaces.ts';
import { isAlive, pidFiles } from '../processes.ts';
import type { ClusterRecord, clusterPaths } from '../cluster-files.ts';
import { DAEMON_ENTRIES } from '../build-daemons.ts';

/** What is missing of the cluster; [] when it is whole. */
export async function missingParts(record: ClusterRecord, paths: ReturnType<typeof clusterPaths>): Promise<string[]> {
  const missing: string[] = [];
  const running = new Set((await pidFiles(paths.pids)).filter((p) => isAlive(p.pid)).map((p) => p.name));
  for (const daemon of Object.keys(DAEMON_ENTRIES)) if (!running.has(daemon)) missing.push(`daemon ${daemon}`);
  if (record.mode === 'real') {
    const namespaces = new Set(await listNamespaces());
    for (const ns of [record.network?.clusterNs, record.network?.nodeNs]) if (!ns || !namespaces.has(ns)) missing.push(`namespace ${ns ?? '(not recorded)'}`);
    const dnsmasq = Number(await readFile(join(paths.clusterNet, 'dnsmasq.pid'), 'utf8').catch(() => ''));
    if (!(dnsmasq > 1 && isAlive(dnsmasq))) missing.push('dnsmasq of the cluster network');
  }
  if (!missing.length) {
    const agent = clusterAgent(join(paths.pki, 'ca.crt'));
    const answers = await request(`https://127.0.0.1:${record.ports.controller}/v2.1`, { dispatcher: agent, headersTimeout: 1000 })
      .then(async (r) => (await r.body.dump(), r.statusCode === 200), () => false);
    await agent.close();
    if (!answers) missing.push('an answer from the controller');
  }
  return missing;
}
