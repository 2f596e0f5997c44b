// Whether a cluster that exists is whole: every daemon (and, for a real one, dnsmasq and its
// namespaces) runs, and its controller answers. setup on a healthy cluster stops here (≤ 1 s), so
// this module imports only what it needs: no subprocess, no HTTP client library.
import { access, readFile } from 'node:fs/promises';
import { request } from 'node:https';
import { join } from 'node:path';
import { readPidFile } from '../../shared/pid-file.ts';
import { pidFiles } from '../pid-files.ts';
import { launcherName, type ClusterRecord, type clusterPaths } from '../cluster-files.ts';
import { DAEMON_ENTRIES } from '../daemon-entries.ts';
import { SIM_LAUNCHER } from '../node-roles.ts';

/** A named network namespace is a file under /run/netns (what `ip netns add` makes). */
const namespaceExists = (name: string) => access(join('/run/netns', name)).then(() => true, () => false);

/** Whether the controller answers its Compute root with 200, within a second. */
async function controllerAnswers(port: number, caFile: string): Promise<boolean> {
  const ca = await readFile(caFile, 'utf8').catch(() => undefined);
  if (!ca) return false;
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/v2.1', ca, timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}

/** What is missing of the cluster; [] when it is whole. */
export async function missingParts(record: ClusterRecord, paths: ReturnType<typeof clusterPaths>): Promise<string[]> {
  const missing: string[] = [];
  const running = new Set((await pidFiles(paths.pids)).map((p) => p.name));
  // Node i's launcher of a real cluster with several nodes is a daemon of its own (launcher-<i>).
  const legs = (record.network?.nodes ?? []).map((n, i) => ({ ...n, index: n.index ?? i }));
  const launchers = record.mode === 'real' ? legs.filter((n) => n.index > 0).map((n) => launcherName(n.index)) : [];
  if (record.mode === 'real' && record.settings?.simNodes) launchers.push(SIM_LAUNCHER);
  for (const daemon of [...Object.keys(DAEMON_ENTRIES), ...launchers]) if (!running.has(daemon)) missing.push(`daemon ${daemon}`);
  if (record.mode === 'real') {
    const nodeNamespaces = record.network?.nodes ? legs.filter((n) => !n.simulated).map((n) => n.ns) : [record.network?.nodeNs];
    for (const ns of [record.network?.clusterNs, ...nodeNamespaces]) if (!ns || !await namespaceExists(ns)) missing.push(`namespace ${ns ?? '(not recorded)'}`);
    if (!await readPidFile(join(paths.clusterNet, 'dnsmasq.pid'))) missing.push('dnsmasq of the cluster network');
    // Machines joined it (setup.sh --export-join): their way in (singlevm/join-underlay.ts).
    const joined = await access(join(paths.stateDir, 'joins', 'underlay.json')).then(() => true, () => false);
    if (joined && !await readPidFile(join(paths.pids, 'scheduler-gate.pid'))) missing.push('the scheduler gate');
  }
  if (!missing.length && !await controllerAnswers(record.ports.controller, join(paths.pki, 'ca.crt'))) missing.push('an answer from the controller');
  return missing;
}
