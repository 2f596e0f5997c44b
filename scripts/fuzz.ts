// npm run fuzz -- --requests N [--seed S] [--concurrency C]: hostile HTTP requests against a
// simulated cluster of its own (scripts/fuzz/); prints the status histogram and every failure,
// exits 1 when anything failed (docs/security.md).
import { parseArgs } from 'node:util';
import { fuzzCluster, fuzzPassed } from './fuzz/fuzz-cluster.ts';
import { histogram } from './fuzz/fuzzer.ts';

const USAGE = 'usage: npm run fuzz -- [--requests N] [--seed S] [--concurrency C]';
let values: { requests?: string; seed?: string; concurrency?: string; help?: boolean };
try {
  ({ values } = parseArgs({ options: { requests: { type: 'string', default: '5000' }, seed: { type: 'string' }, concurrency: { type: 'string', default: '8' }, help: { type: 'boolean', short: 'h' } } }));
} catch (err) {
  console.error(`${(err as Error).message}\n${USAGE}`);
  process.exit(2);
}
if (values.help) {
  console.log(`${USAGE}\n\nSends N generated hostile requests (default 5000) to a throwaway simulated cluster and checks: no 5xx,\nno request over 2 s, no daemon exit, no uncaught error in the logs, and an instance can still be made.`);
  process.exit(0);
}
const requests = Number(values.requests);
if (!Number.isInteger(requests) || requests < 1) {
  console.error(`--requests must be a whole number, not ${values.requests}\n${USAGE}`);
  process.exit(2);
}
const r = await fuzzCluster({ requests, seed: values.seed ? Number(values.seed) : undefined, concurrency: Number(values.concurrency), progress: (l) => console.log(l) });
console.log(`\n${r.sent} requests in ${r.seconds.toFixed(1)} s (seed ${r.seed}), slowest ${r.maxMs.toFixed(0)} ms`);
console.log(`statuses: ${histogram(r)}`);
for (const f of r.failures.slice(0, 20)) console.log(`  FAILED ${f.status} ${f.request}\n    ${f.body}`);
for (const s of r.slow.slice(0, 20)) console.log(`  SLOW ${s.ms} ms ${s.request}`);
for (const e of r.exited) console.log(`  EXITED ${e}`);
for (const l of r.logErrors.slice(0, 20)) console.log(`  LOG ${l}`);
if (r.afterwards) console.log(`  AFTERWARDS ${r.afterwards}`);
console.log(fuzzPassed(r) ? '\nfuzz passed: 0 × 5xx, 0 daemon exits, 0 requests over 2 s' : `\nfuzz FAILED: ${r.failures.length} × 5xx or no answer, ${r.exited.length} daemon exits, ${r.slow.length} requests over 2 s`);
process.exit(fuzzPassed(r) ? 0 : 1);
