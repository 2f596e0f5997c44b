// What may leave through the cluster's egress (network/egress.ts, docs/egress.md): the filter's
// rules in order, where tenants' DNS goes, and when slirp4netns maps the host's loopback at all.
import t from 'tap';
import { egressFilter, opensHostLoopback, resolverOf } from '../../network/egress.ts';
import { httpGetCommand, parseHttpGet } from '../../singlevm/probes.ts';

const targets = (rules: string[][]) => rules.map((r) => `${r.includes('-d') ? r[r.indexOf('-d') + 1] : 'any'}${r.includes('--dport') ? `:${r[r.indexOf('--dport') + 1]}/${r[r.indexOf('-p') + 1]}` : ''} ${r.at(-1)}`);

t.test('the filter opens the given host loopback ports and the resolver, then drops the cluster\'s ranges, the host and link-local, then lets the rest out', async (t) => {
  const rules = egressFilter({ allowHostPorts: [8080, 3128] }, ['192.0.2.2']);
  t.same(targets(rules), [
    '10.0.2.2/32:8080/tcp ACCEPT', '10.0.2.2/32:3128/tcp ACCEPT',
    '10.0.2.3/32:53/udp ACCEPT', '10.0.2.3/32:53/tcp ACCEPT',
    '10.0.2.0/24 DROP', '169.254.0.0/16 DROP', '127.0.0.0/8 DROP',
    '198.51.100.0/24 DROP', '203.0.113.0/24 DROP', '172.16.0.0/12 DROP',
    '192.0.2.2/32 DROP', 'any ACCEPT',
  ]);
  t.ok(rules.every((r) => r[0] === '-A' && r[1] === 'CIAO-EGRESS'), 'all in the egress chain');
});

t.test('without opened ports nothing of the host\'s loopback gets through: its gateway is dropped', async (t) => {
  const rules = targets(egressFilter({ allowHostPorts: [] }, []));
  t.notOk(rules.some((r) => r.startsWith('10.0.2.2') && r.endsWith('ACCEPT')));
  t.ok(rules.indexOf('10.0.2.0/24 DROP') < rules.indexOf('any ACCEPT'));
});

t.test('tenants\' resolver: slirp4netns\'s forwarder by default, one on the host\'s loopback through the gateway, another as given', async (t) => {
  t.same(resolverOf(undefined), { addr: '10.0.2.3', port: 53, server: '10.0.2.3#53' });
  t.same(resolverOf('127.0.0.1#5353'), { addr: '10.0.2.2', port: 5353, server: '10.0.2.2#5353' });
  t.same(resolverOf('192.0.2.53'), { addr: '192.0.2.53', port: 53, server: '192.0.2.53#53' });
  t.same(targets(egressFilter({ allowHostPorts: [], dns: '127.0.0.1#5353' }, [])).slice(0, 2), ['10.0.2.2/32:5353/udp ACCEPT', '10.0.2.2/32:5353/tcp ACCEPT']);
});

t.test('slirp4netns maps the host\'s loopback only when a port or the resolver is there', async (t) => {
  t.notOk(opensHostLoopback({ allowHostPorts: [] }));
  t.notOk(opensHostLoopback({ allowHostPorts: [], dns: '192.0.2.53' }));
  t.ok(opensHostLoopback({ allowHostPorts: [8080] }));
  t.ok(opensHostLoopback({ allowHostPorts: [], dns: '127.0.0.1' }));
});

t.test('the HTTP probe run inside workloads: a 200 with its body, another status as an answer, silence as none', async (t) => {
  t.same(parseHttpGet('HTTP/1.0 200 OK\r\nServer: x\r\n\r\ntoken123\n'), { answered: true, ok: true, body: 'token123' });
  t.same(parseHttpGet('HTTP/1.1 400 Bad Request\r\n\r\nno'), { answered: true, ok: false, body: 'no' });
  t.same(parseHttpGet('nc: timed out\n'), { answered: false, ok: false, body: 'nc: timed out' });
  t.same(parseHttpGet('cannot resolve host.ciao.internal\n'), { answered: false, ok: false, body: 'cannot resolve host.ciao.internal' });
  const cmd = httpGetCommand('host.ciao.internal', 8080, 'check');
  t.match(cmd, /nslookup host\.ciao\.internal/, 'busybox\'s own resolver');
  t.match(cmd, /printf 'GET \/check HTTP\/1\.0\\r\\nHost: host\.ciao\.internal\\r\\n\\r\\n' \| nc -w \d+ "\$ip" 8080/);
  t.match(cmd, /exit 0$/, 'always succeeds: the output says what happened');
});
