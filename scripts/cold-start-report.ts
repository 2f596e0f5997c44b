// scripts/cold-start.sh's last step: reads each run's directory (out.log: the README command's output,
// each line stamped with its seconds; meta.json: what the harness measured from outside), prints the
// runs and their p50/p95, and writes the JSON (scripts/cold-start-runs.ts).
//   node --import tsx scripts/cold-start-report.ts --json FILE RUN_DIR…
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { coldStartJson, parseRun, reportText, type RunMeta } from './cold-start-runs.ts';

const { values, positionals } = parseArgs({ options: { json: { type: 'string' } }, allowPositionals: true });
if (!values.json || !positionals.length) {
  console.error('usage: cold-start-report.ts --json FILE RUN_DIR…');
  process.exit(2);
}
const runs = await Promise.all(positionals.map(async (dir) => parseRun(
  await readFile(join(dir, 'out.log'), 'utf8'),
  JSON.parse(await readFile(join(dir, 'meta.json'), 'utf8')) as RunMeta,
)));
runs.sort((a, b) => a.run - b.run);
console.log(reportText(runs));
await writeFile(values.json, `${JSON.stringify(coldStartJson({ date: new Date().toISOString(), runs }), null, 2)}\n`);
console.log(`written: ${values.json}`);
process.exit(runs.every((r) => r.passed) ? 0 : 1);
