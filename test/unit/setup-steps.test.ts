// Each step of the setup flow (singlevm/actions/, docs/lifecycle.md) on its own, in the flow's
// order: what it makes on a fresh cluster, that running it again (a resume) makes nothing new, and
// what it says when an earlier step left it nothing to work with. The cluster lives in a temp dir;
// the host and the controller's API are fakes (test/helpers/fake-setup-host.ts).
import t, { type Test } from 'tap';
import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { joinedMachines } from '../../singlevm/actions/joined-machines.ts';
import { SETUP_FLOW, SETUP_NEEDS } from '../../singlevm/actions/flows.ts';
import { preflight } from '../../singlevm/actions/preflight.ts';
import { configuration } from '../../singlevm/actions/configuration.ts';
import { daemonBundles } from '../../singlevm/actions/daemon-bundles.ts';
import { certificates } from '../../singlevm/actions/certificates.ts';
import { accel, clusterNetwork, containerImage, dockerEngine, sshKey, vmImage } from '../../singlevm/actions/real-node.ts';
import { credentials } from '../../singlevm/actions/credentials.ts';
import { controlPlane } from '../../singlevm/actions/control-plane.ts';
import { nativeModule } from '../../singlevm/actions/native-module.ts';
import { vmTemplates } from '../../singlevm/actions/vm-templates.ts';
import { registerImages, uploadImages } from '../../singlevm/actions/images.ts';
import { node, nodeShare, vmSnapshotArgs } from '../../singlevm/actions/node.ts';
import { workloads } from '../../singlevm/actions/workloads.ts';
import { demoSh } from '../../singlevm/actions/demo-sh.ts';
import type { Action, SetupContext } from '../../singlevm/actions/context.ts';
import { stepName, waitsFor } from '../../singlevm/flow.ts';
import { freePort } from '../../singlevm/ports.ts';
import { readDemoSh } from '../../singlevm/demo-sh.ts';
import type { ClusterRecord } from '../../singlevm/cluster-files.ts';
import { afterControlPlane, afterCredentials, argAfter, certificatePaths, CLUSTER, fakeCluster, issuedCertificates, runSteps, type FakeHost } from '../helpers/fake-setup-host.ts';

const quiet = () => {};
const execute = (step: Action, ctx: SetupContext, progress: (note: string) => void = quiet) => step.execute(ctx, progress);
const readRecord = async (ctx: SetupContext) => JSON.parse(await readFile(ctx.paths.record, 'utf8')) as ClusterRecord;
const mode = async (path: string) => (await stat(path)).mode & 0o777;
/** The error need() throws when `step` did not make what it should have. */
const madeBy = (step: string) => new RegExp(`is not there: the "${step}" step should have made it`);
const REAL_NODE_STEPS = [sshKey, dockerEngine, vmImage, containerImage, accel, clusterNetwork];
/** Sets an environment variable for the test, and back to what it was after. */
const setEnv = (t: Test, key: string, value: string) => {
  const saved = process.env[key];
  t.teardown(() => {
    if (saved === undefined) delete process.env[key];
    else process.env[key] = saved;
  });
  process.env[key] = value;
};

t.test('preflight', async (t) => {
  t.test('makes the state dir with its logs and pids, and on a simulated cluster asks only for openssl and qemu-img, not for root', async (t) => {
    const { run, host, paths } = fakeCluster(t);
    host.root = false;
    t.equal(await execute(preflight, run()), undefined);
    for (const dir of [paths.stateDir, paths.logs, paths.pids]) t.equal(await mode(dir), 0o700, `${dir} is the user's alone`);
    t.same(host.calls, [{ op: 'missingTools', args: [['openssl', 'qemu-img']] }]);
  });

  t.test('says how to get a missing openssl or qemu-img, before it makes anything', async (t) => {
    const { run, host, paths } = fakeCluster(t);
    host.missing = ['qemu-img'];
    await t.rejects(execute(preflight, run()), /^qemu-img is missing \(volumes are qcow2 files\): apt-get install qemu-utils$/);
    host.missing = ['openssl'];
    await t.rejects(execute(preflight, run()), /^openssl is missing: apt-get install openssl$/);
    t.notOk(existsSync(paths.stateDir), 'no state dir');
  });

  t.test('of a real cluster refuses to go on without root, its tools, an address plan clear of the host, or 2 GB', async (t) => {
    const refusals: [string, (host: FakeHost) => void, RegExp][] = [
      ['not root', (h) => { h.root = false; }, /needs root .*: run as root, or add --simulate/],
      ['tools missing', (h) => { h.missing = ['dnsmasq', 'dockerd']; }, /^missing tools: dnsmasq, dockerd /],
      ['a host route in the plan', (h) => { h.collisions = ["198.51.100.0/24 overlaps the host's route 198.51.100.0/24 dev eth1"]; },
        /^address plan collides with the host: 198\.51\.100\.0\/24 overlaps the host's route/],
      ['1 GB free', (h) => { h.freeMB = 1000; }, /^only 1000 MB free under .*: the cluster needs 2 GB$/],
    ];
    for (const [why, arrange, error] of refusals) {
      const { run, host, paths } = fakeCluster(t, { simulate: false });
      arrange(host);
      await t.rejects(execute(preflight, run()), error, why);
      t.notOk(host.ops().includes('snapshotHost') || existsSync(paths.hostBefore), `${why}: no host snapshot`);
    }
  });

  t.test('of a real cluster takes the host snapshot once: a resume keeps the one from before the first setup', async (t) => {
    const { run, host, paths } = fakeCluster(t, { simulate: false });
    t.match(await execute(preflight, run()), /^root, 18 tools present, 198\.51\.100\.0\/24, .* clear of the host's routes, 98 GB free, host snapshot taken$/);
    t.same(host.argsOf('snapshotHost'), [[CLUSTER, paths.hostBefore]]);
    const before = await readFile(paths.hostBefore, 'utf8');
    t.match(JSON.parse(before), { links: ['lo'] });
    t.match(await execute(preflight, run()), /host snapshot of the first setup kept$/);
    t.equal(host.argsOf('snapshotHost').length, 1, 'not taken again');
    t.equal(await readFile(paths.hostBefore, 'utf8'), before);
  });
});

t.test('configuration', async (t) => {
  t.test('writes the record of a new cluster: its mode, nodes, settings and three distinct ports', async (t) => {
    const { run } = fakeCluster(t, { nodes: 3, bootDelayMs: 250 });
    const ctx = run();
    t.same(await runSteps([preflight, configuration], ctx), [{ step: 'preflight' }, { step: 'configuration' }], 'no note on a new cluster');
    const record = await readRecord(ctx);
    t.same(ctx.record, record, 'the context holds what the file says');
    t.match(record, { name: CLUSTER, mode: 'simulate', nodes: 3, stateDir: ctx.paths.stateDir, settings: { bootDelayMs: 250, statsIntervalMs: 5000 } });
    const ports = Object.values(record.ports);
    t.equal(new Set(ports).size, 3, 'identity, controller and scheduler each have their own');
    t.ok(ports.every((p) => Number.isInteger(p) && p > 0), `ports ${ports.join(', ')}`);
  });

  t.test('on a resume keeps the ports chosen once and the settings the cluster was made with', async (t) => {
    const { run } = fakeCluster(t, { nodes: 3, bootDelayMs: 250 });
    const first = run();
    await runSteps([preflight, configuration], first);
    const written = await readFile(first.paths.record, 'utf8');
    const again = run({ nodes: 1, bootDelayMs: 100 });
    t.equal(again.resuming, true);
    t.equal(await execute(configuration, again), `cluster ${CLUSTER} exists (${again.paths.stateDir}): resuming it`);
    t.same(again.record!.ports, first.record!.ports);
    t.match(again.settings, { nodes: 3, bootDelayMs: 250 }, 'the settings of the first setup, not of this run');
    t.equal(await readFile(again.paths.record, 'utf8'), written, 'the record is not written again');
  });

  t.test('gives the APIs the ports CIAO_IDENTITY_PORT and CIAO_CONTROLLER_PORT ask for, when they are free', async (t) => {
    const free = await freePort();
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    t.teardown(() => new Promise<void>((resolve) => taken.close(() => resolve())));
    const takenPort = (taken.address() as AddressInfo).port;
    setEnv(t, 'CIAO_IDENTITY_PORT', String(free));
    setEnv(t, 'CIAO_CONTROLLER_PORT', String(takenPort));
    const { run } = fakeCluster(t);
    const ctx = run();
    await runSteps([preflight, configuration], ctx);
    t.equal(ctx.record!.ports.identity, free, 'the free port asked for');
    t.not(ctx.record!.ports.controller, takenPort, 'another port than the one taken');
  });

  t.test('refuses to resume a simulated cluster as a real one', async (t) => {
    const { run } = fakeCluster(t);
    await runSteps([preflight, configuration], run());
    await t.rejects(execute(configuration, run({ simulate: false })),
      new RegExp(`^cluster ${CLUSTER} is a simulated cluster: resume it as it was set up \\(with --simulate\\), or clean it up first$`));
  });
});

t.test('build daemons asks for the bundles on every run, so a resume runs the code checked out now', async (t) => {
  const { run, host } = fakeCluster(t);
  const ctx = run();
  await execute(daemonBundles, ctx);
  t.same(Object.keys(ctx.bundles!).sort(), ['controller', 'identity', 'launcher', 'scheduler']);
  await execute(daemonBundles, run());
  t.same(host.argsOf('buildDaemons'), [[], []]);
});

t.test('certificates', async (t) => {
  const files = ['ca', 'https', 'scheduler', 'controller', 'agent', 'cnci'];
  const certOf = async (path: string) => new X509Certificate(await readFile(path));

  t.test('a new cluster gets its CA and a certificate per role signed by it; a resume issues only the missing ones, by the same CA', async (t) => {
    const { run, paths } = fakeCluster(t);
    const ctx = run();
    await execute(certificates, ctx);
    for (const f of files) t.ok(existsSync(join(paths.pki, `${f}.crt`)) && existsSync(join(paths.pki, `${f}.key`)), `${f}.crt and ${f}.key`);
    const ca = await certOf(ctx.pki!.ca.cert);
    const agent = await certOf(ctx.pki!.agent.cert);
    t.ok(agent.verify(ca.publicKey), 'the agent\'s is signed by the CA');
    t.match(agent.subject, new RegExp(`^CN=${CLUSTER}-sim\\*$`, 'm'), 'the simulated nodes\' is named for their prefix');

    const contents = async () => Object.fromEntries(await Promise.all(files.map(async (f) => [f, await readFile(join(paths.pki, `${f}.crt`), 'utf8')])));
    const first = await contents();
    await execute(certificates, run());
    t.same(await contents(), first, 'a second run issues nothing');
    await rm(join(paths.pki, 'scheduler.crt'));
    const again = run();
    await execute(certificates, again);
    const after = await contents();
    t.not(after.scheduler, first.scheduler, 'the scheduler\'s is issued again');
    t.same({ ...after, scheduler: undefined }, { ...first, scheduler: undefined }, 'the others are kept');
    t.ok((await certOf(again.pki!.scheduler.cert)).verify(ca.publicKey), 'signed by the kept CA');
  });

  t.test('the real node\'s is named for node 0', async (t) => {
    const { run, paths } = fakeCluster(t, { simulate: false });
    await issuedCertificates(paths.pki, ['agent']);
    const ctx = run();
    await execute(certificates, ctx);
    t.match((await certOf(ctx.pki!.agent.cert)).subject, new RegExp(`^CN=${CLUSTER}-node-0$`, 'm'));
  });

  t.test('each real node of several has its own, naming it alone, signed by the CA', async (t) => {
    const { run } = fakeCluster(t, { simulate: false, nodes: 3 });
    const ctx = run();
    await execute(certificates, ctx);
    const ca = await certOf(ctx.pki!.ca.cert);
    t.equal(ctx.pki!.agents!.length, 3);
    t.equal(ctx.pki!.agents![0], ctx.pki!.agent, "node 0's is the agent one");
    for (const [i, agent] of ctx.pki!.agents!.entries()) {
      const cert = await certOf(agent.cert);
      t.match(cert.subject, new RegExp(`^CN=${CLUSTER}-node-${i}$`, 'm'), `node ${i}`);
      t.ok(cert.verify(ca.publicKey));
    }
  });
});

t.test('the real node\'s steps', async (t) => {
  t.test('are the ones a simulated cluster skips; a real one skips none', async (t) => {
    const { run } = fakeCluster(t);
    // Machines joined or not is the cluster's state, not its kind (below); a compile left going, the machine's.
    const skipped = (ctx: SetupContext) => SETUP_FLOW.filter((s) => s !== joinedMachines && s !== nativeModule && s !== vmTemplates && s.when && !s.when(ctx)).map((s) => stepName(s, ctx));
    t.same(skipped(run()), REAL_NODE_STEPS.map((s) => s.name));
    t.same(skipped(run({ simulate: false })), []);
  });

  t.test("joined machines' underlay: only on a real cluster that exported a join bundle", async (t) => {
    const { run, paths } = fakeCluster(t, { simulate: false });
    t.notOk(joinedMachines.when!(run()), 'no bundle exported: skipped');
    await mkdir(join(paths.stateDir, 'joins'), { recursive: true });
    await writeFile(join(paths.stateDir, 'joins', 'underlay.json'), '{"iface":"eth0","cidr":"192.0.2.11/24"}');
    t.ok(joinedMachines.when!(run()), 'one exported: its end of the underlay is made again on a resume');
    t.notOk(joinedMachines.when!(fakeCluster(t).run()), 'a simulated cluster has none');
  });

  t.test('SSH key: demouser\'s key is made once, in a folder of the cluster\'s alone', async (t) => {
    const { run, host, paths } = fakeCluster(t, { simulate: false });
    await execute(sshKey, run());
    t.same(host.argsOf('sshKeygen'), [[paths.sshKey, `demouser@ciao-${CLUSTER}`]]);
    t.equal(await mode(join(paths.stateDir, 'ssh')), 0o700);
    await execute(sshKey, run());
    t.equal(host.argsOf('sshKeygen').length, 1, 'the key that is there is kept');
  });

  t.test('Docker engine: the host makes sure one answers, logging into the cluster\'s logs', async (t) => {
    const { run, host, paths } = fakeCluster(t, { simulate: false });
    await execute(dockerEngine, run());
    t.same(host.argsOf('ensureDockerd'), [[join(paths.logs, 'dockerd.log')]]);
  });

  t.test('VM image and container image are built (or found) in the image cache, and kept for the later steps', async (t) => {
    const { run, host } = fakeCluster(t, { simulate: false });
    const ctx = run();
    const notes: string[] = [];
    await execute(vmImage, ctx, (n) => notes.push(n));
    await execute(containerImage, ctx);
    const images = join(ctx.cacheDir, 'images');
    t.same(notes, ['Debian packages'], 'the build\'s progress reaches the status line');
    t.equal(ctx.real!.vmImage!.kernel, join(images, 'vmlinuz'));
    t.equal(ctx.real!.containerImage, 'ciao-busybox:fake');
    t.same([host.argsOf('buildVmImage'), host.argsOf('buildContainerImage')], [[[images]], [[images]]]);
  });

  t.test('KVM or TCG: a new cluster probes with the VM image\'s kernel and records the answer; a resume keeps it without probing', async (t) => {
    const { run, host } = fakeCluster(t, { simulate: false, accel: 'auto' });
    const ctx = run();
    await runSteps([preflight, configuration, vmImage], ctx);
    t.equal(await execute(accel, ctx), 'VMs run under TCG: no usable /dev/kvm');
    t.same(host.argsOf('probeAccel'), [[{ kernel: ctx.real!.vmImage!.kernel, force: 'auto', cacheFile: join(ctx.cacheDir, 'accel.json') }]]);
    t.equal((await readRecord(ctx)).accel, 'tcg');
    t.equal(ctx.real!.accel, 'tcg');

    host.accel = { accel: 'kvm', why: 'a KVM guest booted' };
    const again = run();
    await runSteps([configuration, vmImage], again);
    t.equal(await execute(accel, again), 'VMs run under TCG, as when the cluster was set up');
    t.equal(again.real!.accel, 'tcg');
    t.equal(host.argsOf('probeAccel').length, 1, 'probed once');
  });

  t.test('VM snapshot templates: made by setup only while better-sqlite3 compiles, for the default VM shapes, in the node\'s folder; a failure fails nothing', async (t) => {
    const { run, host, paths } = fakeCluster(t, { simulate: false });
    t.notOk(vmTemplates.when!(run()), 'no compile going: the node makes them as it starts');
    t.notOk(vmTemplates.when!(run({ simulate: true, nativeCompileGoing: true })), 'a simulated cluster has no VMs');
    const ctx = run({ nativeCompileGoing: true });
    t.ok(vmTemplates.when!(ctx));
    await t.rejects(execute(vmTemplates, ctx), madeBy('VM image'));
    await runSteps([preflight, configuration, vmImage, accel], ctx);
    t.equal(await execute(vmTemplates, ctx), '1 made while better-sqlite3 compiles: the first VMs restore from it');
    t.same(host.argsOf('makeVmTemplates'), [[{
      dir: join(ctx.cacheDir, 'images', 'vm-snapshots'), runDir: paths.nodeDir(0), kernel: ctx.real!.vmImage!.kernel, initrd: ctx.real!.vmImage!.initrd,
      accel: 'tcg', shapes: [{ vcpus: 1, memMB: 256, diskMB: 1024 }],
    }]], "the launcher's shapes and folder (vmSnapshotArgs)");
    t.same(vmSnapshotArgs(ctx.cacheDir).slice(0, 2), ['--vm-snapshots', join(ctx.cacheDir, 'images', 'vm-snapshots')]);
    host.templateFailures = ['QEMU did not park in 120 s'];
    t.match(await execute(vmTemplates, ctx), /^not made \(the node tries again as it starts; its first VMs cold-boot\): QEMU did not park/);
    process.env.CIAO_VM_SNAPSHOTS = '0';
    t.teardown(() => { delete process.env.CIAO_VM_SNAPSHOTS; });
    t.notOk(vmTemplates.when!(ctx), 'CIAO_VM_SNAPSHOTS=0: none');
  });

  t.test('KVM or TCG needs the VM image', async (t) => {
    const { run } = fakeCluster(t, { simulate: false });
    await t.rejects(execute(accel, run()), madeBy('VM image'));
  });

  t.test('cluster network: the host ensures it, and its namespaces go into the record (stop, cleanup and health read them)', async (t) => {
    const { run, host, paths } = fakeCluster(t, { simulate: false });
    const ctx = run();
    await runSteps([preflight, configuration, clusterNetwork], ctx);
    const leg = { ns: `ciao-${CLUSTER}-node-0`, ip: '198.51.100.10', role: 'dual' };
    t.same(host.argsOf('ensureClusterNetwork'), [[CLUSTER, paths.clusterNet, [leg]]]);
    t.same((await readRecord(ctx)).network, { clusterNs: `ciao-${CLUSTER}-net`, nodeNs: `ciao-${CLUSTER}-node-0`, nodeIp: '198.51.100.10', nodes: [leg] });
    t.same(ctx.real!.network, (await readRecord(ctx)).network);
  });

  t.test('cluster network of --nodes 3: a namespace and a leg (.10+i) per node, each with its role, in the record', async (t) => {
    for (const [networkNodes, roles] of [[undefined, ['dual', 'dual', 'dual']], [1, ['network', 'compute', 'compute']]] as const) {
      const { run, host, paths } = fakeCluster(t, { simulate: false, nodes: 3, networkNodes });
      const ctx = run();
      await runSteps([preflight, configuration, clusterNetwork], ctx);
      const legs = [0, 1, 2].map((i) => ({ ns: `ciao-${CLUSTER}-node-${i}`, ip: `198.51.100.${10 + i}`, role: roles[i] }));
      t.same(host.argsOf('ensureClusterNetwork'), [[CLUSTER, paths.clusterNet, legs]], `--network-nodes ${networkNodes}`);
      t.same((await readRecord(ctx)).network!.nodes, legs, 'kept in the record: node.sh remove of one leaves the others\' roles as they are');
    }
  });

  t.test('cluster network with --egress: the host ensures the egress stack too; the setting is kept for a resume, and another refused', async (t) => {
    const { run, host, paths } = fakeCluster(t, { simulate: false });
    const egress = { allowHostPorts: [8080], dns: '127.0.0.1#5353' };
    const ctx = run({ egress });
    await runSteps([preflight, configuration], ctx);
    t.equal(await execute(clusterNetwork, ctx), 'egress through slirp4netns: host loopback ports 8080, DNS 127.0.0.1#5353');
    t.same(host.argsOf('ensureEgress'), [[`ciao-${CLUSTER}-net`, paths.clusterNet, egress]]);
    const resumed = run();
    await execute(configuration, resumed);
    t.same(resumed.settings.egress, egress, 'a resume without --egress keeps the cluster\'s');
    await t.rejects(execute(configuration, run({ egress: { allowHostPorts: [] } })), /was set up with other --egress settings \(host loopback ports 8080/);
  });

  t.test('cluster network without --egress says there is none, and starts no egress stack', async (t) => {
    const { run, host } = fakeCluster(t, { simulate: false });
    const ctx = run();
    await runSteps([preflight, configuration], ctx);
    t.equal(await execute(clusterNetwork, ctx), 'no egress: workloads reach nothing outside the cluster');
    t.same(host.argsOf('ensureEgress'), []);
    await t.rejects(execute(configuration, run({ egress: { allowHostPorts: [] } })), /was set up without --egress/);
  });
});

t.test('credentials', async (t) => {
  t.test('a new cluster gets random passwords; identity.json, the user\'s alone, keeps only their hashes', async (t) => {
    const { run, paths } = fakeCluster(t);
    const ctx = run();
    await runSteps([preflight, configuration, credentials], ctx);
    const { admin, user } = ctx.creds!;
    t.match({ admin, user }, { admin: { username: 'admin', project: 'admin', password: /^[0-9a-f]{24}$/ }, user: { username: 'demo', project: 'demo', password: /^[0-9a-f]{24}$/ } });
    t.not(admin.password, user.password);
    const config = await readFile(paths.identityConfig, 'utf8');
    t.equal(await mode(paths.identityConfig), 0o600);
    t.notOk(config.includes(admin.password) || config.includes(user.password), 'no password in it');
    t.equal(config.match(/"password_hash": "scrypt\$/g)?.length, 2, 'a hash for each');
  });

  t.test('on a resume are read back from demo.sh, and identity.json is left as it is; without demo.sh, they are lost', async (t) => {
    const { run, paths } = fakeCluster(t);
    const first = run();
    await runSteps([preflight, configuration, credentials], first);
    first.pki = certificatePaths(paths.pki);
    await execute(demoSh, first);
    const config = await readFile(paths.identityConfig, 'utf8');
    const again = run();
    await runSteps([configuration, credentials], again);
    t.same(again.creds, first.creds);
    t.equal(await readFile(paths.identityConfig, 'utf8'), config);

    await rm(paths.demoSh);
    await t.rejects(runSteps([configuration, credentials], run()),
      new RegExp(`${paths.demoSh} is gone, and with it the only copy of the passwords .*: clean the cluster up and set it up again`));
  });
});

t.test('start control plane', async (t) => {
  t.test('on a new cluster starts identity, scheduler and controller on the record\'s ports, waits for both APIs, and makes the admin client', async (t) => {
    const { run, host, paths, controller } = fakeCluster(t);
    const ctx = await afterCredentials(run());
    t.equal(await execute(controlPlane, ctx), undefined, 'no note on a new cluster');
    // Started at the same time: in any order.
    t.same(host.started.map((d) => d.name).sort(), ['controller', 'identity', 'scheduler']);
    t.same((await readdir(paths.pids)).sort(), ['controller-keeper.pid', 'controller.pid', 'identity-keeper.pid', 'identity.pid', 'scheduler.pid'], 'a pid file each, and the keepers\' of the controller and identity');
    const [identity, scheduler, ctl] = ['identity', 'scheduler', 'controller'].map((n) => host.started.find((d) => d.name === n)!);
    t.equal(identity.entry, ctx.bundles!.identity, 'the bundle is what runs');
    t.same([argAfter(identity.args, '--port'), argAfter(scheduler.args, '--port'), argAfter(ctl.args, '--port')], ['5000', '8888', '8889']);
    t.same([argAfter(ctl.args, '--identity'), argAfter(ctl.args, '--scheduler-port')], ['https://127.0.0.1:5000', '8888']);
    t.same(ctl.keep, { host: '127.0.0.1', port: 8889 }, 'the controller is kept: its keeper holds its socket on its port');
    t.same(identity.keep, { host: '127.0.0.1', port: 5000 }, 'so is identity');
    t.notOk(scheduler.keep, 'the scheduler is not: only the nodes and the controller reach it, and they connect again');
    t.equal(argAfter(identity.args, '--log'), join(paths.logs, 'identity.log'));
    t.notOk(host.started.some((d) => d.args.includes('--host')), 'loopback unless asked');
    const ca = ctx.pki!.ca.cert;
    t.same(host.argsOf('answers'), [['https://127.0.0.1:5000/v3', ca], ['https://127.0.0.1:8889/v2.1', ca]]);
    t.same(host.argsOf('adminClient'), [[{ identity: 'https://127.0.0.1:5000', controller: 'https://127.0.0.1:8889' }, { username: 'admin', password: 'admin-pw', projectName: 'admin' }, ca]]);
    t.equal(ctx.admin, controller);
  });

  t.test('waits until the controller answers before it makes the admin client', async (t) => {
    const { run, host } = fakeCluster(t);
    let asked = 0;
    host.apisAnswer = (url) => !url.endsWith('/v2.1') || ++asked >= 2;
    const ctx = await afterCredentials(run());
    await execute(controlPlane, ctx);
    t.same(host.ops().slice(-4), ['answers', 'answers', 'answers', 'adminClient'], 'identity once, the controller until it answered');
    t.equal(asked, 2);
  });

  t.test('puts identity and the controller on the address CIAO_API_HOST asks for; the scheduler stays on loopback', async (t) => {
    const { run, host } = fakeCluster(t, { apiHost: '0.0.0.0' });
    await execute(controlPlane, await afterCredentials(run()));
    t.same(host.started.map((d) => [d.name, argAfter(d.args, '--host')]).sort(), [['controller', '0.0.0.0'], ['identity', '0.0.0.0'], ['scheduler', undefined]]);
  });

  t.test('on a resume starts only the daemons whose pid file names no live process, and says which', async (t) => {
    const { run, host, paths } = fakeCluster(t);
    await execute(controlPlane, await afterCredentials(run()));
    const again = () => afterCredentials(run());
    t.equal(await execute(controlPlane, await again()), 'all running');
    t.equal(host.started.length, 3, 'nothing started');
    await host.kill(paths.pids, 'scheduler');
    await rm(join(paths.pids, 'controller.pid'));
    await rm(join(paths.pids, 'controller-keeper.pid'));
    t.equal(await execute(controlPlane, await again()), 'started again: scheduler, controller');
    t.same(host.started.slice(3).map((d) => d.name).sort(), ['controller', 'scheduler']);
    t.equal(await execute(controlPlane, await again()), 'all running', 'the ones started again run');
  });

  t.test('names the step that should have made what it lacks, and starts nothing', async (t) => {
    const { run, host } = fakeCluster(t);
    for (const [lacking, step] of [['record', 'configuration'], ['pki', 'certificates'], ['creds', 'credentials'], ['bundles', 'build daemons']] as const) {
      const ctx = await afterCredentials(run());
      delete ctx[lacking];
      await t.rejects(execute(controlPlane, ctx), madeBy(step), `without ${lacking}`);
    }
    t.same(host.started, []);
  });
});

t.test('register images', async (t) => {
  const registered = async (ctx: SetupContext) => {
    await execute(registerImages, await afterControlPlane(ctx));
    await execute(uploadImages, ctx);
    return ctx;
  };

  t.test('on a simulated cluster registers ciao-vm and, for root volumes, a blank qcow2 disk ciao-vm-root', async (t) => {
    const { run, controller } = fakeCluster(t);
    const ctx = await registered(run());
    t.match(controller.images, [{ name: 'ciao-vm', disk_format: 'raw', status: 'active' }, { name: 'ciao-vm-root', disk_format: 'qcow2', status: 'active' }]);
    t.match(controller.images[0].file!.toString(), /^simulated image/);
    t.equal(controller.images[1].file!.subarray(0, 4).toString('latin1'), 'QFI\xfb', 'a qcow2 file');
    t.equal(ctx.vmImageId, controller.images[0].id);
  });

  t.test('on a real cluster uploads the VM image\'s initramfs and its root disk', async (t) => {
    const { run, host, controller } = fakeCluster(t, { simulate: false });
    const ctx = run();
    ctx.real = { vmImage: await host.buildVmImage(join(ctx.cacheDir, 'images'), quiet) };
    await registered(ctx);
    t.same(controller.images.map((i) => i.file!.toString()), ['initramfs', 'root disk']);
  });

  t.test('on a resume registers nothing the controller has', async (t) => {
    const { run, controller } = fakeCluster(t);
    const first = await registered(run());
    const writes = controller.writes.splice(0);
    t.same(writes.sort(), ['POST /image/v2/images', 'POST /image/v2/images', 'PUT /image/v2/images/image-1/file', 'PUT /image/v2/images/image-2/file']);
    const again = await registered(run());
    t.same(controller.writes, []);
    t.equal(again.vmImageId, first.vmImageId);
  });

  t.test('finishes an upload cut short instead of registering the image twice', async (t) => {
    const { run, controller } = fakeCluster(t);
    await controller.call('POST', '/image/v2/images', { name: 'ciao-vm', disk_format: 'raw' });
    controller.writes.splice(0);
    const ctx = await registered(run());
    t.same(controller.writes.sort(), ['POST /image/v2/images', 'PUT /image/v2/images/image-1/file', 'PUT /image/v2/images/image-2/file']);
    t.equal(ctx.vmImageId, 'image-1');
  });

  t.test('needs the admin client', async (t) => {
    const { run } = fakeCluster(t);
    await t.rejects(execute(registerImages, await afterCredentials(run())), madeBy('start control plane'));
  });
});

t.test('start the node', async (t) => {
  t.test('of a simulated cluster starts a launcher with its nodes and waits until all are ready', async (t) => {
    const { run, host, paths, controller } = fakeCluster(t, { nodes: 3, bootDelayMs: 250 });
    const ctx = await afterControlPlane(run());
    const notes: string[] = [];
    t.equal(stepName(node, ctx), 'start 3 simulated nodes');
    t.equal(await execute(node, ctx, (n) => notes.push(n)), undefined);
    const [launcher] = host.started;
    t.same(host.started.map((d) => d.name), ['launcher']);
    t.same(['--backend', '--nodes', '--node-prefix', '--boot-delay-ms', '--scheduler-port', '--cert'].map((f) => argAfter(launcher.args, f)),
      ['simulation', '3', `${CLUSTER}-sim`, '250', '8888', ctx.pki!.agent.cert]);
    t.equal(controller.readyNodes, 3);
    t.equal(notes.at(-1), '3/3 ready');
    t.ok(existsSync(paths.node), 'the node\'s state dir');
    t.equal(stepName(node, run({ nodes: 1 })), 'start 1 simulated node');
  });

  t.test('a full node is up: setup does not wait for room on it (a resume of a cluster its instances fill)', async (t) => {
    const { run, controller } = fakeCluster(t, { nodes: 2 });
    const ctx = await afterControlPlane(run());
    controller.fullNodes = 1;
    const notes: string[] = [];
    t.equal(await execute(node, ctx, (n) => notes.push(n)), undefined);
    t.equal(notes.at(-1), '2/2 ready (1 full)');
  });

  t.test('of a real cluster runs the launcher in the node\'s namespace with the VM image, its id and how VMs run', async (t) => {
    const { run, host, paths } = fakeCluster(t, { simulate: false });
    const ctx = await afterControlPlane(run());
    ctx.real = { vmImage: { kernel: '/img/vmlinuz', initrd: '/img/initrd.img', root: '/img/root.qcow2', hash: 'h' }, accel: 'kvm',
      network: await host.ensureClusterNetwork(CLUSTER, paths.clusterNet) };
    ctx.vmImageId = 'image-1';
    t.equal(stepName(node, ctx), 'start the node (KVM)');
    await execute(node, ctx);
    const flags = ['--backend', '--node-prefix', '--cluster-ns', '--node-ns', '--node-ip', '--state-dir', '--vm-kernel', '--vm-initrd', '--vm-image', '--accel'];
    t.same(flags.map((f) => argAfter(host.started[0].args, f)),
      ['real', `${CLUSTER}-node-0`, `ciao-${CLUSTER}-net`, `ciao-${CLUSTER}-node-0`, '198.51.100.10', paths.node, '/img/vmlinuz', '/img/initrd.img', 'image-1', 'kvm']);
    for (const f of ['--hostname', '--label-containers', '--mem-mb', '--vcpus', '--disk-mb']) t.notOk(host.started[0].args.includes(f), `one node: no ${f}, as before`);
  });

  t.test('of a real cluster of 2 nodes runs a launcher per node: its namespace, leg, state dir, certificate, hostname and half the host', async (t) => {
    const { run, host, paths } = fakeCluster(t, { simulate: false, nodes: 2 });
    const ctx = await afterControlPlane(run());
    ctx.real = { vmImage: { kernel: 'k', initrd: 'i', root: 'r', hash: 'h' }, accel: 'tcg', network: await host.ensureClusterNetwork(CLUSTER, paths.clusterNet, 2) };
    ctx.vmImageId = 'image-1';
    t.equal(stepName(node, ctx), 'start 2 nodes (TCG)');
    await execute(node, ctx);
    t.same(host.started.map((d) => d.name), ['launcher', 'launcher-1']);
    const flags = ['--node-prefix', '--node-ns', '--node-ip', '--state-dir', '--hostname', '--cert'];
    for (const [i, d] of host.started.entries()) {
      t.same(flags.map((f) => argAfter(d.args, f)),
        [`${CLUSTER}-node-${i}`, `ciao-${CLUSTER}-node-${i}`, `198.51.100.${10 + i}`, paths.nodeDir(i), `${CLUSTER}-node-${i}`, ctx.pki!.agents![i].cert], `node ${i}`);
      t.ok(d.args.includes('--label-containers'), 'its containers carry its id');
      t.ok(Number(argAfter(d.args, '--disk-mb')) > 0 && Number(argAfter(d.args, '--mem-mb')) > 0, 'a share of the host');
    }
    t.ok(existsSync(paths.nodeDir(1)));
  });

  t.test('a node\'s share of the host: memory less 1 GiB, vcpus overcommitted 16:1 and disk, each split N ways; one node takes its own reading', async (t) => {
    t.same(nodeShare({ memMB: 9216, vcpus: 2, diskMB: 3000 }, 2), ['--mem-mb', '4096', '--vcpus', '16', '--disk-mb', '1500']);
    t.same(nodeShare({ memMB: 9216, vcpus: 1, diskMB: 3000 }, 16), ['--mem-mb', '512', '--vcpus', '1', '--disk-mb', '187']);
    t.same(nodeShare({ memMB: 9216, vcpus: 2, diskMB: 3000 }, 1), []);
  });

  t.test('of a real cluster with egress tells the launcher the tenants\' resolver (one on the host\'s loopback at slirp4netns\'s gateway)', async (t) => {
    const { run, host, paths } = fakeCluster(t, { simulate: false });
    for (const [dns, server] of [[undefined, '10.0.2.3#53'], ['127.0.0.1#5353', '10.0.2.2#5353'], ['192.0.2.53', '192.0.2.53#53']] as const) {
      const ctx = await afterControlPlane(run({ egress: { allowHostPorts: [], ...(dns ? { dns } : {}) } }));
      ctx.real = { vmImage: { kernel: 'k', initrd: 'i', root: 'r', hash: 'h' }, accel: 'tcg', network: await host.ensureClusterNetwork(CLUSTER, paths.clusterNet) };
      ctx.vmImageId = 'image-1';
      await execute(node, ctx);
      t.equal(argAfter(host.started.at(-1)!.args, '--egress-dns'), server, `--egress-dns ${dns ?? '(none)'}`);
      await host.kill(paths.pids, 'launcher');
    }
  });

  t.test('on a resume starts the launcher only when it died, and says so', async (t) => {
    const { run, host, paths } = fakeCluster(t);
    await execute(node, await afterControlPlane(run()));
    t.equal(await execute(node, await afterControlPlane(run())), 'running');
    t.equal(host.started.length, 1);
    await host.kill(paths.pids, 'launcher');
    t.equal(await execute(node, await afterControlPlane(run())), 'started again');
    t.equal(host.started.length, 2);
  });

  t.test('names the step that should have made what it lacks, and starts nothing', async (t) => {
    const { run, host } = fakeCluster(t);
    const simulated = await afterCredentials(run());
    await t.rejects(execute(node, simulated), madeBy('start control plane'), 'without the admin client');
    const real = await afterControlPlane(run({ simulate: false }));
    await t.rejects(execute(node, real), madeBy('VM image'), 'without the real node');
    real.real = { vmImage: { kernel: 'k', initrd: 'i', root: 'r', hash: 'h' }, accel: 'tcg' };
    await t.rejects(execute(node, real), madeBy('cluster network'));
    real.real.network = { clusterNs: 'n', nodeNs: 'm', nodeIp: '198.51.100.10' };
    await t.rejects(execute(node, real), madeBy('register images'));
    t.same(host.started, []);
  });
});

t.test('workloads', async (t) => {
  t.test('a simulated cluster gets the Debian VM, the busybox container and the CNCI, in the admin\'s project', async (t) => {
    const { run, controller } = fakeCluster(t);
    await execute(workloads, await afterControlPlane(run()));
    t.same(controller.workloads.map((w) => [w.description, w.image_name]), [['Debian VM', 'ciao-vm'], ['Busybox container', 'busybox'], ['CNCI', 'ciao-vm']]);
    t.same(controller.writes, Array(3).fill('POST /tenants/tenant-a/workloads'));
  });

  t.test('a real cluster\'s use the container image it built, and demouser logs in with the cluster\'s key', async (t) => {
    const { run, paths, controller } = fakeCluster(t, { simulate: false });
    await execute(sshKey, run());
    const ctx = await afterControlPlane(run());
    ctx.real = { containerImage: 'ciao-busybox:3f2a' };
    await execute(workloads, ctx);
    t.equal(controller.workloads[1].image_name, 'ciao-busybox:3f2a');
    t.match(controller.workloads[0].config, `- ssh-ed25519 AAAAfake demouser@ciao-${CLUSTER}`);
    t.ok(existsSync(`${paths.sshKey}.pub`));
  });

  t.test('on a resume adds only the ones the controller lacks', async (t) => {
    const { run, controller } = fakeCluster(t);
    await execute(workloads, await afterControlPlane(run()));
    controller.writes.splice(0);
    await execute(workloads, await afterControlPlane(run()));
    t.same(controller.writes, [], 'all there: nothing added');
    controller.workloads.splice(controller.workloads.findIndex((w) => w.description === 'CNCI'), 1);
    await execute(workloads, await afterControlPlane(run()));
    t.same(controller.writes, ['POST /tenants/tenant-a/workloads']);
    t.same(controller.workloads.map((w) => w.description).sort(), ['Busybox container', 'CNCI', 'Debian VM']);
  });

  t.test('need the admin client, and on a real cluster the container image', async (t) => {
    const { run, controller } = fakeCluster(t);
    await t.rejects(execute(workloads, run()), madeBy('start control plane'));
    await t.rejects(execute(workloads, await afterControlPlane(run({ simulate: false }))), madeBy('container image'));
    t.same(controller.writes, []);
  });
});

t.test('write demo.sh', async (t) => {
  t.test('gives the shell the cluster\'s URLs, CA and passwords, the same on every run; a real cluster\'s also the SSH key', async (t) => {
    const { run, paths } = fakeCluster(t);
    const ctx = await afterCredentials(run());
    await execute(demoSh, ctx);
    t.equal(paths.demoSh, join(paths.home, `demo-${CLUSTER}.sh`));
    const vars = await readDemoSh(paths.demoSh);
    t.match(vars, {
      CIAO_CLUSTER: CLUSTER, CIAO_CONTROLLER: 'https://127.0.0.1:8889', CIAO_IDENTITY: 'https://127.0.0.1:5000', CIAO_CA_CERT_FILE: ctx.pki!.ca.cert,
      CIAO_ADMIN_PASSWORD: 'admin-pw', CIAO_PASSWORD: 'demo-pw', CIAO_SIMULATED: '1',
    });
    t.notOk('CIAO_SSH_KEY' in vars, 'a simulated cluster has no key');
    const text = await readFile(paths.demoSh, 'utf8');
    await execute(demoSh, await afterCredentials(run()));
    t.equal(await readFile(paths.demoSh, 'utf8'), text, 'written again the same');

    const real = await afterCredentials(run({ simulate: false }));
    await execute(demoSh, real);
    const realVars = await readDemoSh(paths.demoSh);
    t.equal(realVars.CIAO_SSH_KEY, paths.sshKey);
    t.notOk('CIAO_SIMULATED' in realVars);
  });

  t.test('needs the certificates and the credentials', async (t) => {
    const { run, paths } = fakeCluster(t);
    for (const [lacking, step] of [['pki', 'certificates'], ['creds', 'credentials']] as const) {
      const ctx = await afterCredentials(run());
      delete ctx[lacking];
      await t.rejects(execute(demoSh, ctx), madeBy(step), `without ${lacking}`);
    }
    t.notOk(existsSync(paths.demoSh));
  });
});

/** Every step the i-th of the setup flow waits for, directly or through others. */
function neededBy(i: number): number[] {
  const deps = waitsFor(SETUP_FLOW, SETUP_NEEDS);
  const all = new Set<number>();
  const visit = (j: number) => deps[j].forEach((d) => !all.has(d) && (all.add(d), visit(d)));
  visit(i);
  return [...all];
}

t.test('the setup flow', async (t) => {
  t.test('the control plane waits for a compile of better-sqlite3 left going; the steps before it do not', async (t) => {
    const at = (step: unknown) => SETUP_FLOW.indexOf(step as never);
    t.ok(neededBy(at(controlPlane)).includes(at(nativeModule)), 'start control plane needs "better-sqlite3 compiled"');
    const waits = SETUP_FLOW.filter((_, i) => neededBy(i).includes(at(nativeModule))).map((s) => stepName(s, fakeCluster(t).run()));
    t.notOk(waits.some((n) => ['VM image', 'KVM or TCG', 'VM snapshot templates', 'Docker engine', 'cluster network', 'build daemons', 'certificates'].includes(n)), `only what follows the control plane waits: ${waits.join(', ')}`);
    t.ok(neededBy(at(node)).includes(at(vmTemplates)), 'the node starts once the templates are made (it finds them)');
  });

  t.test('every step that lacks something names a step that runs before it', async (t) => {
    const { run, paths } = fakeCluster(t);
    await issuedCertificates(paths.pki);
    for (const simulate of [true, false]) {
      const named: Record<string, string> = {};
      for (const [i, step] of SETUP_FLOW.entries()) {
        const ctx = run({ simulate });
        if (step.when && !step.when(ctx)) continue;
        const error = await Promise.resolve(step.execute(ctx, quiet)).then(() => undefined, (err: Error) => err.message);
        const maker = error?.match(/the "(.+)" step should have made it/)?.[1];
        if (!maker) continue;
        named[stepName(step, ctx)] = maker;
        t.ok(SETUP_FLOW.slice(0, i).some((s) => stepName(s, ctx) === maker), `${stepName(step, ctx)} names "${maker}", which runs before it`);
        // Steps run at the same time when their needs are met: the maker must be among them.
        t.ok(neededBy(i).some((j) => stepName(SETUP_FLOW[j], ctx) === maker), `${stepName(step, ctx)} needs "${maker}" (SETUP_NEEDS)`);
      }
      t.same(Object.keys(named).length, simulate ? 7 : 8, `${simulate ? 'simulated' : 'real'}: ${JSON.stringify(named)}`);
    }
  });

  t.test('on a fresh simulated cluster makes it whole without the real node\'s host operations; run again, it makes nothing new', async (t) => {
    const { run, host, paths, controller } = fakeCluster(t, { nodes: 2 });
    await issuedCertificates(paths.pki);
    const first = await runSteps(SETUP_FLOW, run());
    t.same(first.map((s) => s.step), ['preflight', 'configuration', 'build daemons', 'certificates', 'credentials', 'start control plane',
      'register images', 'upload images', 'start 2 simulated nodes', 'workloads', 'write demo.sh']);
    t.same(host.started.map((d) => d.name).slice(0, 3).sort(), ['controller', 'identity', 'scheduler'], 'the control plane, at once');
    t.equal(host.started[3].name, 'launcher', 'then the launcher');
    t.same([controller.images.length, controller.workloads.length], [2, 3]);
    t.same(new Set(host.ops()), new Set(['missingTools', 'buildDaemons', 'startDaemon', 'answers', 'adminClient']), 'nothing of the real node');
    t.ok(existsSync(paths.demoSh));

    const writes = controller.writes.length;
    const again = await runSteps(SETUP_FLOW, run());
    t.same(again.filter((s) => s.note), [
      { step: 'configuration', note: `cluster ${CLUSTER} exists (${paths.stateDir}): resuming it` },
      { step: 'start control plane', note: 'all running' },
      { step: 'start 2 simulated nodes', note: 'running' },
    ]);
    t.equal(host.started.length, 4, 'no daemon started');
    t.equal(controller.writes.length, writes, 'nothing registered');

    // The controller alone: its keeper starts it again, not setup.
    await host.kill(paths.pids, 'controller');
    t.equal((await runSteps(SETUP_FLOW, run())).find((s) => s.step === 'start control plane')?.note, 'all running', 'a controller whose keeper runs is left to it');
    t.equal(host.started.length, 4, 'no daemon started');
    // With its keeper (a crash of both, a reboot): setup starts it, kept again.
    await host.kill(paths.pids, 'controller-keeper');
    const resumed = await runSteps(SETUP_FLOW, run());
    t.equal(resumed.find((s) => s.step === 'start control plane')?.note, 'started again: controller');
    t.match(host.started.slice(4).map((d) => [d.name, d.keep]), [['controller', { host: '127.0.0.1', port: Number }]], 'only the controller, kept');
  });

  t.test('on a real cluster needs no root here (the host is a fake); a resume asks the host only to check and to ensure', async (t) => {
    const { run, host, paths, controller } = fakeCluster(t, { simulate: false });
    await issuedCertificates(paths.pki);
    const first = await runSteps(SETUP_FLOW, run());
    t.equal(first.length, SETUP_FLOW.length - 3, "no step skipped (but the joined machines': none joined; better-sqlite3's and the templates': no compile left going)");
    t.same(host.started.map((d) => d.name).slice(0, 3).sort(), ['controller', 'identity', 'scheduler'], 'the control plane, at once');
    t.equal(host.started[3].name, 'launcher', 'then the launcher');
    t.same((['snapshotHost', 'sshKeygen', 'probeAccel'] as const).map((op) => host.argsOf(op).length), [1, 1, 1]);
    t.same(controller.images.map((i) => i.file!.toString()), ['initramfs', 'root disk']);

    host.calls.splice(0);
    const writes = controller.writes.length;
    await runSteps(SETUP_FLOW, run());
    t.same(host.ops(), ['missingTools', 'isRoot', 'missingTools', 'routeCollisions', 'freeDiskMB', 'buildDaemons', 'ensureDockerd',
      'buildVmImage', 'buildContainerImage', 'ensureClusterNetwork', 'answers', 'answers', 'adminClient']);
    t.equal(host.started.length, 4, 'no daemon started');
    t.equal(controller.writes.length, writes, 'nothing registered');
  });
});
