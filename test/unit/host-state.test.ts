import t from 'tap';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { waitFor } from '../../shared/wait-for.ts';
import { withTempDir } from '../../shared/temp-dir.ts';
import { clusterLeftovers, diffHostState, readHostState, snapshotHost, writeHostState, type HostState } from '../../singlevm/host-state.ts';

const cluster = `zz-test-${randomBytes(3).toString('hex')}`;
const empty: HostState = { namespaces: [], links: [], addresses: [], routes: [], iptables: [], sysctls: [], containers: [], processes: [] };

t.test('two snapshots of an untouched host are equal', async (t) => {
  // Other work on this host (a cluster under test) may change it between two snapshots: a few tries
  // tell that apart from fields that flap by themselves, which would differ every time.
  let diff: string[] = [];
  for (let attempt = 0; attempt < 3; attempt++) {
    diff = diffHostState(await snapshotHost({ cluster }), await snapshotHost({ cluster }));
    if (!diff.length) break;
  }
  t.same(diff, []);
});

t.test('the diff names added and removed links and every process left', async (t) => {
  const before: HostState = { ...empty, links: ['eth0 (ether)', 'old0 (dummy)'], processes: ['7 daemon --cluster x'] };
  const after: HostState = {
    ...empty, links: ['eth0 (ether)', 'ciao_br (bridge)'], processes: ['7 daemon --cluster x', '1234 qemu-system-x86_64 -name ciao-x-vm'],
    iptables: ['iptables nat -A POSTROUTING -j MASQUERADE'], containers: ['abc ciao-x-c1 x', 'def other '],
  };
  t.same(diffHostState(before, after, { cluster: 'x' }), [
    'link added: ciao_br (bridge)',
    'link removed: old0 (dummy)',
    'iptables rule added: iptables nat -A POSTROUTING -j MASQUERADE',
    'container left: abc ciao-x-c1 x',
    'container added: def other ',
    'process left: 7 daemon --cluster x',
    'process left: 1234 qemu-system-x86_64 -name ciao-x-vm',
  ]);
  t.same(diffHostState(empty, empty), []);
});

t.test('a forwarding switch flipped is a change; a snapshot from before they were kept compares none', async (t) => {
  const before: HostState = { ...empty, sysctls: ['net.ipv4.ip_forward 0', 'net.ipv6.conf.all.forwarding 0'] };
  const after: HostState = { ...empty, sysctls: ['net.ipv4.ip_forward 1', 'net.ipv6.conf.all.forwarding 0'] };
  t.same(diffHostState(before, after), ['sysctl added: net.ipv4.ip_forward 1', 'sysctl removed: net.ipv4.ip_forward 0']);
  t.same(diffHostState(empty, after), [], 'an old snapshot (no sysctls) proves nothing about them, and claims nothing');
  t.ok((await snapshotHost({ cluster })).sysctls.some((l) => /^net\.ipv4\.ip_forward [01]$/.test(l)), 'the host\'s own IPv4 forwarding is read');
});

t.test("the proof is the cluster's own: another cluster's namespaces and containers are not its changes, anything else is", async (t) => {
  const before: HostState = { ...empty, namespaces: ['ciao-ci-net', 'mine-from-before'], containers: ['c1 ciao-ci-x-aaaa ci-x'] };
  const after: HostState = {
    ...empty,
    // cluster ci went away while cluster ci-x came up beside it; and someone added a namespace of no cluster.
    namespaces: ['ciao-ci-x-net', 'ciao-ci-x-node-0', 'ciao-ci-x-cnci-ab12', 'mine-from-before', 'stray', 'ciaotest-ab12-node'],
    containers: ['c2 ciao-ci-x-bbbb ci-x', 'c3 web '],
  };
  t.same(diffHostState(before, after, { cluster: 'ci-x' }), [
    'namespace added: ciao-ci-x-net', 'namespace added: ciao-ci-x-node-0', 'namespace added: ciao-ci-x-cnci-ab12', 'namespace added: stray',
    'container left: c2 ciao-ci-x-bbbb ci-x', 'container added: c3 web ', 'container removed: c1 ciao-ci-x-aaaa ci-x',
  ], "cluster ci-x's proof: its own leftovers and the stray namespace, not cluster ci's");
  t.same(diffHostState(before, after, { cluster: 'ci' }), [
    'namespace added: stray', 'namespace removed: ciao-ci-net', 'container added: c3 web ',
  ], "cluster ci's proof: a prefix of ci-x, yet none of ci-x's is counted as its own; nor a root test's namespace");
  t.same(diffHostState(before, after).filter((d) => d.includes('ciaotest')), ['namespace added: ciaotest-ab12-node'], 'the host as a whole: every namespace counts');
});

t.test("a process that says --cluster NAME is the cluster's until it is gone", async (t) => {
  // sleep refuses unknown options, so a shell carries the arguments; its own group lets one kill end both.
  const child = spawn('sh', ['-c', 'sleep 30; exit 0', 'sh', '--cluster', cluster], { detached: true, stdio: 'ignore' });
  const pid = child.pid!;
  const gone = once(child, 'exit');
  t.teardown(() => { if (child.exitCode === null && child.signalCode === null) process.kill(-pid, 'SIGKILL'); });
  const mine = (lines: string[]) => lines.some((l) => l.startsWith(`${pid} `) || l.startsWith(`process ${pid} `));

  await waitFor('the child to show in /proc', async () => mine((await snapshotHost({ cluster, docker: false })).processes), { timeoutMs: 5000 });
  t.ok(mine(await clusterLeftovers(cluster)), 'clusterLeftovers finds it');
  t.notOk(mine((await snapshotHost({ cluster: `${cluster}-other`, docker: false })).processes), 'not for another cluster');

  process.kill(-pid, 'SIGKILL');
  await gone;
  await waitFor('the child to leave /proc', async () => !mine((await snapshotHost({ cluster, docker: false })).processes), { timeoutMs: 5000 });
  t.notOk(mine(await clusterLeftovers(cluster)), 'and not once it is gone');
});

t.test('a snapshot survives a write and a read; anything else is refused', (t) => withTempDir('ciao-host-state', async (dir) => {
  const s: HostState = { ...empty, namespaces: ['ciao-x-node'], links: ['lo (loopback)'] };
  await writeHostState(join(dir, 'deeper', 'host-before.json'), s);
  t.same(await readHostState(join(dir, 'deeper', 'host-before.json')), s);
  await writeFile(join(dir, 'bad.json'), '{"links": "eth0"}');
  await t.rejects(readHostState(join(dir, 'bad.json')), /is not a host snapshot/);
}));
