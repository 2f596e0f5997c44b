// Needs root: builds the data plane's pieces (docs/singlevm-network.md) in throwaway namespaces
// and checks that tunnels carry traffic, that VNIs separate, and that the host namespace is untouched.
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { run } from '../../shared/run.ts';
import { createNamespace, deleteNamespace, endProcessesIn, listNamespaces } from '../../network/namespaces.ts';
import { waitFor } from '../../shared/wait-for.ts';
import { addAddress, addBridge, addMacvlan, addVethPair, addVxlan, attachToBridge } from '../../network/links.ts';
import { linksOf } from '../../network/ip.ts';
import { probeFrom } from '../helpers/netns-probe.ts';

if (process.getuid?.() !== 0) throw new Error('test/root needs root (CI runs as root): run it with sudo');

const id = randomBytes(2).toString('hex');
const [hub, nodeX, nodeY] = ['hub', 'x', 'y'].map((r) => `ciaotest-${id}-${r}`);
const hostState = async () => ({
  links: (await linksOf()).map((l) => `${l.ifname} ${l.address} ${l.master ?? ''}`).sort(),
  addrs: (await run('ip', ['-br', 'addr'])).stdout,
  routes: (await run('ip', ['route'])).stdout,
});
const before = await hostState();
t.teardown(async () => {
  for (const ns of [hub, nodeX, nodeY]) await deleteNamespace(ns);
});

t.test('namespaces are created once, with loopback up, and listed by name', async (t) => {
  for (const ns of [hub, nodeX, nodeY]) await createNamespace(ns);
  await createNamespace(hub);
  const names = await listNamespaces();
  t.ok([hub, nodeX, nodeY].every((n) => names.includes(n)));
  t.equal((await linksOf(hub)).find((l) => l.ifname === 'lo')?.operstate, 'UNKNOWN');
});

t.test('veth legs, a VXLAN tunnel into a bridge: the tenant address behind it answers', async (t) => {
  await addBridge(hub, 'ciao_br');
  for (const [ns, n] of [[nodeX, 2], [nodeY, 3]] as const) {
    await addVethPair(hub, `leg${n}`, ns, 'uplink');
    await attachToBridge(hub, `leg${n}`, 'ciao_br');
    await addAddress(ns, 'uplink', `198.51.100.${n}/24`);
  }
  await addAddress(hub, 'ciao_br', '198.51.100.1/24');
  await addMacvlan(hub, 'ciaovlan', 'ciao_br');
  t.equal(await probeFrom(nodeX, '198.51.100.1'), 'reachable', 'a node reaches the cluster network');

  // Tenant bridge on node X with the gateway; node Y joins the same VNI, a third party a different one.
  await addBridge(nodeX, 't100');
  await addAddress(nodeX, 't100', '172.16.0.1/24');
  await addVxlan(nodeX, { name: 'vx100', vni: 100, remote: '198.51.100.3', dev: 'uplink' });
  await attachToBridge(nodeX, 'vx100', 't100');
  await addVxlan(nodeY, { name: 'vx100', vni: 100, remote: '198.51.100.2', dev: 'uplink' });
  await addAddress(nodeY, 'vx100', '172.16.0.2/24');
  t.equal(await probeFrom(nodeY, '172.16.0.1'), 'reachable', 'same VNI: across the tunnel');
  t.equal(await probeFrom(nodeX, '172.16.0.2'), 'reachable', 'and back');
});

t.test('another VNI on the same subnet does not reach the tenant', async (t) => {
  await run('ip', ['-n', nodeY, 'link', 'del', 'vx100']);
  await addVxlan(nodeY, { name: 'vx200', vni: 200, remote: '198.51.100.2', dev: 'uplink' });
  await addAddress(nodeY, 'vx200', '172.16.0.2/24');
  const r = await probeFrom(nodeY, '172.16.0.1', 1000);
  t.not(r, 'reachable', `a different VNI is isolated (${r})`);
});

t.test('what still runs in a namespace ends before it is deleted, so its links go with it (a veth peer outside too)', async (t) => {
  const cnci = `ciaotest-${id}-c`;
  t.teardown(() => deleteNamespace(cnci));
  await createNamespace(cnci);
  await addVethPair(hub, 'legc', cnci, 'uplink');
  // One that ends on SIGTERM, one that ignores it (SIGKILL then).
  const started = [['sleep', '300'], ['sh', '-c', 'trap "" TERM; sleep 300 & wait']].map((cmd) => {
    const child = spawn('ip', ['netns', 'exec', cnci, ...cmd], { detached: true, stdio: 'ignore' });
    child.unref();
    return child.pid!;
  });
  await waitFor('both to run in the namespace', async () => (await run('ip', ['netns', 'pids', cnci])).stdout.trim().split('\n').length >= 3);
  await endProcessesIn(cnci);
  t.equal((await run('ip', ['netns', 'pids', cnci])).stdout.trim(), '', 'nothing runs in it');
  t.notOk(started.some((pid) => existsSync(`/proc/${pid}/ns`)), 'both ended');
  await deleteNamespace(cnci);
  // The kernel frees a namespace's links in a work queue once nothing holds it: soon, not at once.
  const gone = await waitFor('the veth end outside to go', async () => !(await linksOf(hub)).some((l) => l.ifname === 'legc'), { timeoutMs: 5000, intervalMs: 20 }).catch(() => false);
  t.ok(gone, "the veth's end outside went with the namespace");
});

t.test('a namespace an orphaned TCP connection still holds: its links go at once all the same', async (t) => {
  // A probe's SSH connection into a VM deleted meanwhile: closed, its FIN never answered, it lives on
  // orphaned for minutes and holds its namespace; before, the veth's end outside (a CNCI's leg on
  // the cluster's bridge, with its address) lived on with it.
  const held = `ciaotest-${id}-o`;
  t.teardown(() => deleteNamespace(held));
  await createNamespace(held);
  await addVethPair(hub, 'lego', held, 'uplink');
  await attachToBridge(hub, 'lego', 'ciao_br');
  await addAddress(held, 'uplink', '198.51.100.9/24');
  const server = spawn('ip', ['netns', 'exec', hub, 'python3', '-c', [
    'import socket, sys', 's = socket.socket()', 's.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)',
    's.bind(("198.51.100.1", 7771))', 's.listen()', 'c, _ = s.accept()', 'sys.stdin.read()',
  ].join('\n')], { stdio: ['pipe', 'ignore', 'ignore'] });
  t.teardown(() => { server.kill('SIGKILL'); });
  // The client connects (retrying until the server listens), then drops its own packets to it, sends
  // and closes: its FIN is never acknowledged.
  await run('ip', ['netns', 'exec', held, 'python3', '-c', [
    'import socket, subprocess, time', 'end = time.monotonic() + 10',
    'while True:', '  try:', '    s = socket.create_connection(("198.51.100.1", 7771), timeout=1); break',
    '  except OSError:', '    if time.monotonic() > end: raise', '    time.sleep(0.05)',
    'subprocess.run(["iptables", "-A", "OUTPUT", "-p", "tcp", "--dport", "7771", "-j", "DROP"], check=True)',
    's.send(b"x" * 100)', 's.close()',
  ].join('\n')], { timeout: 20_000 });
  t.match((await run('ip', ['netns', 'exec', held, 'ss', '-tan'])).stdout, /FIN-WAIT-1/, 'an orphaned connection holds the namespace');
  t.equal((await run('ip', ['netns', 'pids', held])).stdout.trim(), '', 'and nothing runs in it');
  await deleteNamespace(held);
  t.notOk((await listNamespaces()).includes(held), 'the namespace is deleted');
  t.notOk((await linksOf(hub)).some((l) => l.ifname === 'lego'), "the veth's end outside went with it at once");
});

t.test('the host namespace gained nothing, and deleting the namespaces removes everything', async (t) => {
  t.same(await hostState(), before, 'host links, addresses and routes unchanged while the cluster pieces exist');
  for (const ns of [hub, nodeX, nodeY]) await deleteNamespace(ns);
  await deleteNamespace(hub);
  const names = await listNamespaces();
  t.notOk([hub, nodeX, nodeY].some((n) => names.includes(n)));
  t.same(await hostState(), before);
});
