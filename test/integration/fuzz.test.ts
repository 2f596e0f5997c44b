// 5 000 hostile requests generated from the route tables against a simulated cluster of its own
// (scripts/fuzz/): no answer of 500 or more, none over 2 s, no daemon exit, no uncaught error in a
// log, and the cluster still makes and deletes an instance. A fixed seed: CI sends the same requests
// every time; `npm run fuzz` explores with random ones.
import t from 'tap';
import { fuzzCluster } from '../../scripts/fuzz/fuzz-cluster.ts';
import { histogram } from '../../scripts/fuzz/fuzzer.ts';

t.test('5 000 generated hostile requests: no 5xx, no request over 2 s, no daemon exit, and the cluster still works', async (t) => {
  const r = await fuzzCluster({ requests: 5000, seed: 20261202 });
  t.comment(`${r.sent} requests in ${r.seconds.toFixed(1)} s, slowest ${r.maxMs.toFixed(0)} ms: ${histogram(r)}`);
  t.equal(r.sent, 5000);
  t.same(r.failures, [], 'no answer of 500 or more, and every request answered');
  t.same(r.slow, [], 'no request over 2 s');
  t.same(r.exited, [], 'every daemon is the process it was');
  t.same(r.logErrors, [], 'no uncaught error or failed request in any log');
  t.equal(r.afterwards, undefined, 'an instance is still made and deleted');
});
