// `logs.sh`: collect a cluster's logs, guest consoles and network state into one archive (logs.ts).
import { clusterName, scriptArgs } from './script-args.ts';
import { resolve } from 'node:path';
import { DEFAULT_CLUSTER } from './cluster-files.ts';
import { collectLogs } from './logs.ts';

const USAGE = `usage: logs.sh [--name NAME] [--output FILE]

Collects every log of cluster NAME (default ${DEFAULT_CLUSTER}) — components, guest consoles, dnsmasq
leases, containers, processes — and the network state of each of its namespaces into one .tar.gz
for a bug report (default ./ciao-NAME-logs-<time>.tar.gz). Private keys and passwords are left out.`;

const values = scriptArgs('logs', USAGE, { name: { type: 'string' }, output: { type: 'string', short: 'o' } });
const name = clusterName('logs', USAGE, values.name);
const stamp = new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
const out = resolve(values.output ?? `ciao-${name}-logs-${stamp}.tar.gz`);
try {
  const { entries } = await collectLogs(name, out);
  console.log(`${out}\n  ${entries.length} files: ${entries.slice(0, 12).join(', ')}${entries.length > 12 ? ', …' : ''}`);
} catch (err) {
  console.error(`logs: ${(err as Error).message}`);
  process.exit(1);
}
