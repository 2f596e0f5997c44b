import t from 'tap';
import { describeEgress, proxyNote, resumeConflict } from '../../singlevm/actions/configuration.ts';
import { proxyFromEnv } from '../../network/proxy.ts';
import type { ClusterRecord } from '../../singlevm/cluster-files.ts';

const proxy = proxyFromEnv({ http_proxy: 'http://127.0.0.1:3128' })!;
const withProxy = { allowHostPorts: [8080, 3128], proxy };

t.test('the summary says which port was opened for the proxy and what workloads get', async (t) => {
  t.equal(describeEgress(withProxy), "host loopback ports 8080, 3128 (3128 for the proxy), DNS the host's resolvers, proxy http http://10.0.2.2:3128 given to workloads");
  t.equal(describeEgress({ allowHostPorts: [] }), "host loopback ports closed, DNS the host's resolvers", 'unchanged without a proxy');
});

t.test('a resume with --egress and another proxy is refused; without --egress options setup says what it keeps', async (t) => {
  const record = { name: 'c', mode: 'real', settings: { egress: withProxy } } as unknown as ClusterRecord;
  const other = { ...withProxy, proxy: proxyFromEnv({ http_proxy: 'http://127.0.0.1:3999' })!, allowHostPorts: [8080, 3999] };
  t.match(resumeConflict(record, false, other), /with other --egress settings \(.*3128 for the proxy.*\)/);
  t.equal(resumeConflict(record, false, withProxy), undefined, 'the same proxy: a resume');
  t.equal(proxyNote({ http_proxy: 'http://127.0.0.1:3128' }, withProxy), undefined);
  t.match(proxyNote({ http_proxy: 'http://127.0.0.1:3999' }, withProxy), /keep the proxy it was set up with \(http:\/\/10\.0\.2\.2:3128\); the environment's proxy variables are not used/);
  t.match(proxyNote({}, withProxy), /keep the proxy it was set up with/);
  t.match(proxyNote({ http_proxy: 'http://p:1' }, { allowHostPorts: [] }), /keep no proxy/);
  t.match(proxyNote({ HTTPS_PROXY: 'http://p:1' }, undefined), /not given to workloads: the cluster has no --egress/);
  t.equal(proxyNote({}, undefined), undefined);
});
