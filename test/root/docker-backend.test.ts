// Needs root and Docker (started here, off the host network, when none answers): the docker
// backend starts containers from the locally built image, wires them into a tenant bridge in a
// throwaway node namespace, and they reach each other; stop, restart, re-adoption, a container's
// death reported, and delete.
import t from 'tap';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { readdir } from 'node:fs/promises';
import { randomBytes, randomUUID } from 'node:crypto';
import type Docker from 'dockerode';
import { ensureDockerd } from '../../shared/dockerd.ts';
import { run } from '../../shared/run.ts';
import { tempDir } from '../../shared/temp-dir.ts';
import { buildContainerImage } from '../../images/container-image.ts';
import { createNamespace, deleteNamespace } from '../../network/namespaces.ts';
import { addAddress, addBridge } from '../../network/links.ts';
import { attachContainer } from '../../network/container-link.ts';
import { DockerBackend, demuxLogs } from '../../launcher/docker-backend.ts';
import { LaunchError } from '../../launcher/backend.ts';
import type { InstanceExit, StartPayload } from '../../protocol/payloads.ts';
import { waitFor } from '../../shared/wait-for.ts';
import { macFor } from '../../controller/addresses.ts';

const { path: dir, remove: removeDir } = tempDir('ciao-docker-test');
const engine = await ensureDockerd(join(dir, 'dockerd.log'));
const { docker } = engine;
const id = randomBytes(2).toString('hex');
const nodeNs = `ciaotest-${id}-node`;
const cluster = `test${id}`;
const hostLinks = async () => (await run('ip', ['-br', 'link'])).stdout;
const before = await hostLinks();
t.teardown(async () => {
  for (const c of await docker.listContainers({ all: true, filters: { label: [`ciao.cluster=${cluster}`] } })) await docker.getContainer(c.Id).remove({ force: true });
  await deleteNamespace(nodeNs);
  await engine.stop();
  removeDir();
});

const image = await buildContainerImage(docker, join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'ciao', 'images'));
await createNamespace(nodeNs);
await addBridge(nodeNs, 't9');
await addAddress(nodeNs, 't9', '172.16.9.1/24');
const hostSide = (s: StartPayload) => `c${s.instanceId.slice(0, 12)}`;
const backend = new DockerBackend({
  docker, cluster, stopTimeoutSeconds: 1, stateDir: dir,
  network: {
    join: async () => 't9',
    attachContainer: (spec, pid, bridge) => attachContainer({
      nodeNs, bridge, hostSide: hostSide(spec), pid, mac: spec.network.mac, cidr: `${spec.network.ip}/24`, gateway: spec.network.gateway,
    }),
    adoptContainer: async () => {},
    adopt: () => {},
    leave: async () => {},
  },
});
const spec = (ip: string, over: Partial<StartPayload> = {}): StartPayload => ({
  instanceId: randomUUID(), tenantId: 't', workloadId: 'w', vmType: 'docker', image,
  resources: { vcpus: 1, memMB: 64, diskMB: 0 }, requirements: {},
  network: { ip, mac: macFor(ip), subnet: '172.16.9.0/24', gateway: '172.16.9.1' }, ...over,
});
async function execOut(c: Docker.Container, cmd: string[]): Promise<{ code: number; out: string }> {
  const e = await c.exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true });
  const stream = await e.start({});
  const chunks: Buffer[] = [];
  stream.on('data', (b: Buffer) => chunks.push(b));
  await new Promise((resolve) => stream.on('end', resolve));
  return { code: (await e.inspect()).ExitCode ?? -1, out: demuxLogs(Buffer.concat(chunks)) };
}
const exec = async (c: Docker.Container, cmd: string[]) => (await execOut(c, cmd)).code;
const containerOf = (s: StartPayload) => docker.getContainer(backend.containerName(s.instanceId));

const a = spec('172.16.9.2');
const b = spec('172.16.9.3');

t.test('two containers start with their address and MAC, and reach each other', async (t) => {
  const t0 = performance.now();
  await backend.start(a);
  t.comment(`container create → active with network: ${(performance.now() - t0).toFixed(0)} ms`);
  await backend.start(b);
  t.equal(await exec(containerOf(a), ['ping', '-c', '1', '-W', '2', '172.16.9.3']), 0, 'a pings b');
  t.equal(await exec(containerOf(b), ['ping', '-c', '1', '-W', '2', '172.16.9.1']), 0, 'b pings the gateway');
  const mac = await exec(containerOf(a), ['sh', '-c', `ip link show eth0 | grep -q ${a.network.mac}`]);
  t.equal(mac, 0, 'the MAC is 02:00 + the IP');
  const info = await containerOf(a).inspect();
  t.equal(info.HostConfig.NetworkMode, 'none', 'docker gave it no network of its own');
  t.equal((info.Config as { NetworkDisabled?: boolean }).NetworkDisabled, true, 'nor a network sandbox (and so no libnetwork-setkey hook in its start)');
  t.equal(info.NetworkSettings.SandboxKey, '', 'no namespace of libnetwork\'s');
});

t.test("a container's /etc/hosts and /etc/resolv.conf are the backend's: localhost, and no resolver without egress", async (t) => {
  const hosts = await execOut(containerOf(a), ['cat', '/etc/hosts']);
  t.match(hosts.out, /^127\.0\.0\.1\tlocalhost\n::1\tlocalhost/);
  const resolv = await execOut(containerOf(a), ['cat', '/etc/resolv.conf']);
  t.notMatch(resolv.out, /nameserver/, 'the host\'s resolvers are not given to a tenant');
  t.equal((await execOut(containerOf(a), ['hostname'])).out.trim(), a.instanceId, 'its hostname is its id');
});

t.test('a missing image is an image_failure', async (t) => {
  const err = await backend.start(spec('172.16.9.9', { image: 'no-such-image:1' })).then(() => undefined, (e: unknown) => e);
  t.ok(err instanceof LaunchError);
  t.match(err, { reason: 'image_failure', message: /no-such-image:1 is not on this node/ });
});

t.test('list re-adopts by label; stop and restart keep the instance and its network', async (t) => {
  const adopted = await backend.list();
  t.same(adopted.map((x) => x.spec.instanceId).sort(), [a.instanceId, b.instanceId].sort());
  t.ok(adopted.every((x) => x.running));
  await backend.stop(a.instanceId);
  t.equal((await containerOf(a).inspect()).State.Running, false);
  // As if the kernel had not yet freed the stopped container's namespace and its pair.
  await run('ip', ['-n', nodeNs, 'link', 'add', hostSide(a), 'type', 'veth', 'peer', 'name', 'leftover0']);
  await backend.start({ ...a, restart: true });
  t.equal(await exec(containerOf(a), ['ping', '-c', '1', '-W', '2', '172.16.9.3']), 0, 'networked again after restart, past a bridge side left behind');
});

t.test('pause freezes a container (docker says paused, re-adopted as paused, runs nothing new); unpause thaws it with its network', async (t) => {
  await backend.pause(a.instanceId);
  t.equal((await containerOf(a).inspect()).State.Paused, true);
  t.match((await backend.list()).find((x) => x.spec.instanceId === a.instanceId), { running: true, paused: true });
  // (Its kernel-side network still answers ping: a container's netns is not frozen, only its processes.)
  await t.rejects(exec(containerOf(a), ['true']), /paused/, 'a frozen container runs nothing');
  await backend.unpause(a.instanceId);
  t.equal((await containerOf(a).inspect()).State.Paused, false);
  t.equal(await exec(containerOf(b), ['ping', '-c', '1', '-W', '2', a.network.ip]), 0, 'it answers again after unpause');
});

t.test('rebuild makes a stopped container again from its image (what the old one wrote is gone); started, it is on its network again; a missing image keeps the old one', async (t) => {
  t.equal(await exec(containerOf(a), ['touch', '/tmp/written-before']), 0);
  const old = (await containerOf(a).inspect()).Id;
  await backend.stop(a.instanceId);
  const err = await backend.rebuild({ ...a, image: 'no-such-image:1' }).then(() => undefined, (e: unknown) => e);
  t.match(err, { reason: 'image_failure' });
  t.equal((await containerOf(a).inspect()).Id, old, 'a missing image leaves the container as it was');
  await backend.rebuild(a);
  t.not((await containerOf(a).inspect()).Id, old, 'a new container');
  await backend.start({ ...a, restart: true });
  t.not(await exec(containerOf(a), ['test', '-e', '/tmp/written-before']), 0, 'what the old one wrote is gone');
  t.equal(await exec(containerOf(a), ['ping', '-c', '1', '-W', '2', b.network.ip]), 0, 'wired to its network again');
});

t.test('injected files (Nova\'s personality) are in the container from its first start; a rebuild has its own, not the first ones', async (t) => {
  const b64 = (text: string) => Buffer.from(text).toString('base64');
  const c = spec('172.16.9.7', { files: [{ path: '/test.txt', contents: b64('This is a test file.') }, { path: '/new/dir/f', contents: b64('deep') }] });
  await backend.start(c);
  t.equal(await exec(containerOf(c), ['sh', '-c', '[ "$(cat /test.txt)" = "This is a test file." ]']), 0, '/test.txt holds what was given');
  t.equal(await exec(containerOf(c), ['sh', '-c', '[ "$(cat /new/dir/f)" = deep ]']), 0, 'missing directories are made');
  t.notOk(JSON.parse((await containerOf(c).inspect()).Config.Labels['ciao.spec']).files, 'the files are not kept in the spec label');
  await backend.stop(c.instanceId);
  await backend.rebuild({ ...c, files: [{ path: '/rebuild.txt', contents: b64('Test server rebuild.') }] });
  await backend.start({ ...c, restart: true });
  t.equal(await exec(containerOf(c), ['sh', '-c', '[ "$(cat /rebuild.txt)" = "Test server rebuild." ] && [ ! -e /test.txt ]']), 0, 'the rebuild\'s file, and not the first start\'s');
  await backend.delete(c.instanceId);
});

t.test("a container whose process is killed is reported within 2 s with its reason and output", async (t) => {
  const exits: { id: string; exit: InstanceExit; at: number }[] = [];
  const unwatch = backend.watchExits((id, exit) => exits.push({ id, exit, at: performance.now() }));
  t.teardown(unwatch);
  const pid = (await containerOf(b).inspect()).State.Pid;
  const t0 = performance.now();
  process.kill(pid, 'SIGKILL');
  const [death] = await waitFor('the death to be reported', () => exits.length > 0 && exits, { timeoutMs: 2000, intervalMs: 20 });
  t.comment(`container kill -9 → reported: ${(death.at - t0).toFixed(0)} ms`);
  t.equal(death.id, b.instanceId);
  t.equal(death.exit.reason, 'the container was killed by SIGKILL (exit code 137)');
  t.ok(Array.isArray(death.exit.console));
  await backend.start({ ...b, restart: true });
});

t.test('delete removes the containers, a paused one too; the host namespace gained nothing', async (t) => {
  await backend.pause(a.instanceId);
  await backend.delete(a.instanceId);
  await backend.delete(b.instanceId);
  await backend.delete(b.instanceId);
  t.same(await backend.list(), []);
  t.same(await readdir(join(dir, 'containers')), [], 'their /etc files went with them');
  t.equal(await hostLinks(), before);
});
