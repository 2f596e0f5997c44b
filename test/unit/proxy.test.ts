import t from 'tap';
import { proxyFromEnv, ProxyError, workloadEnv } from '../../network/proxy.ts';

const OWN = 'localhost,127.0.0.1,host.ciao.internal,10.0.2.2,198.51.100.0/24,203.0.113.0/24,172.16.0.0/12';

t.test('no proxy variable: nothing to give', async (t) => {
  t.equal(proxyFromEnv({}), undefined);
  t.equal(proxyFromEnv({ no_proxy: 'example.org' }), undefined, 'no_proxy alone is no proxy');
});

t.test('a proxy on the host\'s loopback is rewritten to slirp4netns\'s gateway and its port is to be opened', async (t) => {
  t.same(proxyFromEnv({ http_proxy: 'http://127.0.0.1:3128', HTTPS_PROXY: 'http://localhost:3129/' }),
    { http: 'http://10.0.2.2:3128', https: 'http://10.0.2.2:3129/', noProxy: OWN, hostPorts: [3128, 3129] });
  t.same(proxyFromEnv({ http_proxy: '127.0.0.1:3128' })?.http, 'http://10.0.2.2:3128', 'without a scheme');
  t.throws(() => proxyFromEnv({ http_proxy: 'http://127.0.0.1' }), new ProxyError("http_proxy=\"http://127.0.0.1\": a proxy on the host's loopback must name its port (e.g. http://127.0.0.1:3128)"));
});

t.test('a proxy elsewhere is given as it is; lower case wins; no_proxy keeps the user\'s entries first', async (t) => {
  t.same(proxyFromEnv({ http_proxy: 'http://proxy.corp:8080', HTTP_PROXY: 'http://other:1', no_proxy: 'corp,.internal' }),
    { http: 'http://proxy.corp:8080', noProxy: `corp,.internal,${OWN}`, hostPorts: [] });
});

t.test('values that cannot go into a guest\'s shell file are refused, naming the variable', async (t) => {
  for (const bad of ["http://x:1/'", 'http://x:1/ a', 'http://$(id):1', 'http://x:1/`id`', 'http://x:1/\\']) {
    t.throws(() => proxyFromEnv({ https_proxy: bad }), { message: /^https_proxy=/ }, bad);
  }
  t.throws(() => proxyFromEnv({ http_proxy: 'http://x:1', NO_PROXY: 'a b' }), { message: /^no_proxy=/ });
  t.throws(() => proxyFromEnv({ http_proxy: 'http://[bad' }), { message: /is not a URL/ });
});

t.test('workloads get each variable in both cases', async (t) => {
  t.same(workloadEnv({ http: 'http://10.0.2.2:3128', noProxy: 'a', hostPorts: [3128] }),
    { http_proxy: 'http://10.0.2.2:3128', HTTP_PROXY: 'http://10.0.2.2:3128', no_proxy: 'a', NO_PROXY: 'a' });
});
