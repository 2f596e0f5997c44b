// Starts a singlevm script (setup, cleanup, verify, stop, logs) or BAT's runner (bat/run.sh) from its bundle, kept by the hash
// of its sources (bundle-cache.ts): plain JavaScript on plain node, no TypeScript loader, so a
// script starts in about a tenth of a second. When a source changed since the last build, the
// scripts are bundled again first (esbuild, a second or so); when that fails, or with
// CIAO_SCRIPTS_FROM_SOURCE=1, the script runs from its TypeScript source through tsx, as before.
//   node singlevm/run-bundled.mjs SCRIPT [ARGS…]
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { REPO, builtBundles, bundleOptions } from './bundle-key.mjs';

/** The scripts, bundled as one set (their shared code split into chunks). */
export const SCRIPT_ENTRIES = {
  setup: 'singlevm/setup.ts',
  cleanup: 'singlevm/cleanup.ts',
  verify: 'singlevm/verify.ts',
  stop: 'singlevm/stop.ts',
  logs: 'singlevm/logs-main.ts',
};
/** BAT's runner, a set of its own: it needs the test packages (tap-parser), which a machine set up
 *  for the cluster alone lacks; in the scripts' set it would leave them unbundled there. */
const SETS = { scripts: SCRIPT_ENTRIES, 'bat-runner': { bat: 'bat/run.ts' } };

const script = process.argv[2];
const [set, entries] = Object.entries(SETS).find(([, e]) => Object.hasOwn(e, script)) ?? [];
if (!set) {
  console.error(`run-bundled: no script ${JSON.stringify(script)} (one of ${Object.values(SETS).flatMap(Object.keys).join(', ')})`);
  process.exit(2);
}
// The script reads its own options from process.argv: as if it had been started by itself.
process.argv.splice(2, 1);

let file = process.env.CIAO_SCRIPTS_FROM_SOURCE === '1' ? undefined
  : builtBundles(set, Object.keys(entries), bundleOptions(entries, true))?.files[script];
if (!file) {
  const { register } = await import('tsx/esm/api');
  register();
  if (process.env.CIAO_SCRIPTS_FROM_SOURCE !== '1') {
    const { bundles } = await import('./bundle-cache.ts');
    file = await bundles({ set, entries, splitting: true }).then(
      (b) => b.files[script],
      (err) => console.error(`run-bundled: could not bundle ${set} (${err.message.split('\n')[0]}): running ${entries[script]} from source`));
  }
  file ??= join(REPO, entries[script]);
}
process.argv[1] = file;
await import(pathToFileURL(file).href);
