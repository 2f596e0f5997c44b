// Bundles each daemon into one plain JavaScript file (esbuild) before setup starts them: a daemon
// then runs on plain node, without the TypeScript loader, in about half the memory.
import { join } from 'node:path';
import { rm } from 'node:fs/promises';
import { build } from 'esbuild';
import { REPO_ROOT } from './processes.ts';
import { DAEMON_ENTRIES, type DaemonName } from './daemon-entries.ts';

export { DAEMON_ENTRIES, type DaemonName };

/** Inside the repo, so the bundles resolve the native modules they leave out from its node_modules. */
export const buildDir = (cluster: string) => join(REPO_ROOT, '.build', cluster);

export async function buildDaemons(cluster: string): Promise<Record<DaemonName, string>> {
  const outdir = buildDir(cluster);
  await rm(outdir, { recursive: true, force: true });
  await build({
    entryPoints: Object.fromEntries(Object.entries(DAEMON_ENTRIES).map(([name, entry]) => [name, join(REPO_ROOT, entry)])),
    outdir,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    external: ['better-sqlite3', 'cpu-features', 'ssh2'],
    // Bundled CommonJS dependencies still call require().
    banner: { js: "import { createRequire as __ciaoRequire } from 'node:module'; const require = __ciaoRequire(import.meta.url);" },
    logLevel: 'silent',
  });
  return Object.fromEntries(Object.keys(DAEMON_ENTRIES).map((name) => [name, join(outdir, `${name}.mjs`)])) as Record<DaemonName, string>;
}
