// What a controller's loop spends when it (re)connects to the scheduler and is told of every node
// (docs/scale.md, "Sixth pass"): the controller's own handling of NODE_CONNECTED and
// NODE_DISCONNECTED for each of --nodes nodes, with --instances instances spread over them, in
// memory (no sockets, no disk: the handling alone). Prints the median of --runs runs.
//   npm run bench:reconnect -- [--nodes 5000] [--instances 100000] [--runs 3]
import { parseArgs } from 'node:util';
import { createMemoryStore } from '../controller/datastore/memory-store.ts';
import { Services } from '../controller/services.ts';
import { TokenCache } from '../controller/auth.ts';
import type { Instance } from '../controller/api-types.ts';
import type { Frame } from '../protocol/payloads.ts';
import { silentLogger } from '../shared/log.ts';
import { median } from './bench-load.ts';

const { values } = parseArgs({ options: { nodes: { type: 'string', default: '5000' }, instances: { type: 'string', default: '100000' }, runs: { type: 'string', default: '3' } } });
const nodes = Number(values.nodes);
const instances = Number(values.instances);
const runs = Number(values.runs);
if (![nodes, instances, runs].every((n) => Number.isInteger(n) && n > 0)) throw new Error('--nodes, --instances and --runs take whole numbers above 0');

/** A controller's services over `instances` active instances, round robin over the nodes. */
function services(): Services {
  const store = createMemoryStore();
  for (let i = 0; i < instances; i++) {
    const ip = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
    store.instances.put({ id: `i${i}`, tenant_id: 't', ip, cnci: false, vcpus: 1, mem_mb: 64, disk_mb: 10, state: 'active', node_id: `sim-${i % nodes}`, dispatched: true } as Instance);
  }
  const noTokens = new TokenCache(async () => { throw new Error('no tokens here'); });
  return new Services(store, noTokens, () => true, { imageDir: '/nonexistent', volumeDir: '/nonexistent' }, silentLogger());
}

const node = (k: number) => ({ nodeId: `sim-${k}`, hostname: `sim-${k}`, roles: ['compute' as const] });
/** Milliseconds that `op` for every node took. */
function timed(s: Services, op: 'NODE_CONNECTED' | 'NODE_DISCONNECTED'): number {
  const t0 = performance.now();
  for (let k = 0; k < nodes; k++) s.onFrame({ type: 'EVENT', op, payload: node(k) } as Frame);
  return performance.now() - t0;
}

const connected: number[] = [];
const disconnected: number[] = [];
for (let r = 0; r < runs; r++) {
  const s = services();
  connected.push(timed(s, 'NODE_CONNECTED'));
  disconnected.push(timed(s, 'NODE_DISCONNECTED'));
}
const ms = (xs: number[]) => `${median(xs).toFixed(0)} ms (runs: ${xs.map((x) => x.toFixed(0)).join(', ')})`;
console.log(`${nodes} nodes, ${instances} instances, in memory`);
console.log(`  ${nodes} NODE_CONNECTED     ${ms(connected)}`);
console.log(`  ${nodes} NODE_DISCONNECTED  ${ms(disconnected)}`);
