// Each daemon as one plain JavaScript file (esbuild) that setup starts: a daemon then runs on plain
// node, without the TypeScript loader, in about half the memory. The bundles are kept by the hash
// of their sources (bundle-cache.ts): a setup whose sources did not change starts them as they are.
import { join } from 'node:path';
import { REPO_ROOT } from './processes.ts';
import { bundles } from './bundle-cache.ts';
import { DAEMON_ENTRIES, type DaemonName } from './daemon-entries.ts';

export { DAEMON_ENTRIES, type DaemonName };

/** Where setup put a cluster's bundles before they were kept by hash: cleanup removes a folder left there. */
export const buildDir = (cluster: string) => join(REPO_ROOT, '.build', cluster);

export async function buildDaemons(): Promise<Record<DaemonName, string>> {
  return (await bundles({ set: 'daemons', entries: DAEMON_ENTRIES })).files as Record<DaemonName, string>;
}
