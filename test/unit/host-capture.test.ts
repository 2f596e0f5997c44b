// The host-safety captures' filter (test/helpers/host-capture.ts): the cluster's ranges, less only
// the host's own traffic with its mirrors; the real machine's filter compiles in tcpdump.
import t from 'tap';
import { run } from '../../shared/run.ts';
import { clusterPacketFilter, hostDownloads } from '../helpers/host-capture.ts';

t.test('the filter names the cluster\'s ranges and leaves out only host-mirror pairs', async (t) => {
  t.equal(clusterPacketFilter({ own: [], mirrors: ['203.0.113.80'] }), 'net 172.16.0.0/12 or net 198.51.100.0/24 or net 203.0.113.0/24');
  t.equal(clusterPacketFilter({ own: ['192.0.2.2'], mirrors: ['203.0.113.80'] }, true),
    '(net 172.16.0.0/12 or net 198.51.100.0/24 or net 203.0.113.0/24 or udp port 4789) and not ((host 192.0.2.2 and host 203.0.113.80))');
  t.match(clusterPacketFilter({ own: ['192.0.2.2', '10.0.0.5'], mirrors: ['203.0.113.80'] }), /\(host 192\.0\.2\.2 and host 203\.0\.113\.80\) or \(host 10\.0\.0\.5 and host 203\.0\.113\.80\)/);
});

t.test('this machine\'s addresses and mirrors are IPv4, and its filter compiles', async (t) => {
  const d = await hostDownloads();
  for (const a of [...d.own, ...d.mirrors]) t.match(a, /^\d+\.\d+\.\d+\.\d+$/);
  t.notOk(d.own.some((a) => a.startsWith('127.')), 'loopback is not a global address');
  if ((await run('bash', ['-c', 'command -v tcpdump'], { allowFailure: true })).exitCode !== 0) { t.comment('no tcpdump here'); return; }
  // -d prints the compiled program and captures nothing.
  const r = await run('tcpdump', ['-d', '-i', 'lo', clusterPacketFilter(d, true)], { allowFailure: true });
  t.equal(r.exitCode, 0, `the filter compiles: ${r.stderr}`);
  t.match(r.stdout, /\bret\b/);
});
