import t from 'tap';

// Where VMs live (vmPaths), for this file's expectations.
process.env.CIAO_HOME = '/tmp/ccloudvm-test-home';
import { forGuest, guestProxyFiles, guestProxyUrl, proxyFromEnv, proxyVariables, CLUSTER_NO_PROXY } from '../../ccloudvm/proxy.ts';
import { hostDebian, parseDeb822, parseOneLine, pickMirrors } from '../../ccloudvm/host-debian.ts';
import { userData } from '../../ccloudvm/provision.ts';
import { sshArgs } from '../../ccloudvm/guest.ts';
import { qemuArgs, type VmRecord } from '../../ccloudvm/vm.ts';
import { CREATE_FLOW, START_FLOW, type VmContext } from '../../ccloudvm/create-flow.ts';

t.test('the proxy comes from either case of the variables, lower case first', async (t) => {
  t.same(proxyFromEnv({ HTTP_PROXY: 'http://p:1', https_proxy: 'http://q:2', NO_PROXY: 'a, b ,,c' }), { http: 'http://p:1', https: 'http://q:2', noProxy: ['a', 'b', 'c'] });
  t.same(proxyFromEnv({ http_proxy: 'http://low:1', HTTP_PROXY: 'http://up:1' }).http, 'http://low:1');
  t.same(proxyFromEnv({}), { http: undefined, https: undefined, noProxy: [] });
});

t.test("a proxy on the host's loopback is reached from the guest at the host's user-network address", async (t) => {
  t.equal(guestProxyUrl('http://127.0.0.1:3128'), 'http://10.0.2.2:3128');
  t.equal(guestProxyUrl('http://localhost:8080/'), 'http://10.0.2.2:8080');
  t.equal(guestProxyUrl('http://user:pw@[::1]:3128'), 'http://user:pw@10.0.2.2:3128', 'credentials are kept');
  t.equal(guestProxyUrl('127.0.0.1:3128'), 'http://10.0.2.2:3128', 'a bare host:port is http');
  t.equal(guestProxyUrl('http://proxy.corp.example:3128'), 'http://proxy.corp.example:3128', 'any other proxy is as given');
  t.throws(() => guestProxyUrl('http://bad host'), /not a URL/);
});

t.test("no_proxy inside keeps the user's entries and gains the cluster's addresses once", async (t) => {
  const g = forGuest({ http: 'http://127.0.0.1:3128', noProxy: ['corp.example', 'localhost'] });
  t.equal(g.http, 'http://10.0.2.2:3128');
  t.equal(g.https, undefined);
  t.same(g.noProxy.slice(0, 2), ['corp.example', 'localhost']);
  for (const a of CLUSTER_NO_PROXY) t.equal(g.noProxy.filter((x) => x === a).length, 1, `${a} once`);
  t.ok(g.noProxy.includes('198.51.100.0/24') && g.noProxy.includes('172.16.0.0/12'), 'the cluster network and the tenant subnets');
});

t.test('each tool gets the proxy where it reads it; nothing is written without a proxy', async (t) => {
  const g = forGuest({ http: 'http://127.0.0.1:3128', https: 'http://127.0.0.1:3129', noProxy: ['corp.example'] });
  const files = guestProxyFiles(g);
  t.match(files['/etc/apt/apt.conf.d/80ccloudvm-proxy'], /Acquire::http::Proxy "http:\/\/10\.0\.2\.2:3128";\nAcquire::https::Proxy "http:\/\/10\.0\.2\.2:3129";/);
  t.match(files['/etc/apt/apt.conf.d/80ccloudvm-proxy'], /Acquire::http::Proxy::corp\.example "DIRECT";/, 'no_proxy hosts go direct for apt');
  t.notMatch(files['/etc/apt/apt.conf.d/80ccloudvm-proxy'], /172\.16/, 'apt takes host names, not ranges');
  t.match(files['/etc/systemd/system/docker.service.d/ccloudvm-proxy.conf'], /Environment="HTTPS_PROXY=http:\/\/10\.0\.2\.2:3129"/);
  t.match(files['/etc/systemd/system/docker.service.d/ccloudvm-proxy.conf'], /Environment="NO_PROXY=corp\.example,localhost,.*198\.51\.100\.0\/24/);
  t.match(files['/usr/local/etc/npmrc'], /^proxy=http:\/\/10\.0\.2\.2:3128\nhttps-proxy=http:\/\/10\.0\.2\.2:3129\nnoproxy=corp\.example,/);
  t.match(files['/etc/gitconfig'], /\[http\]\n\tproxy = http:\/\/10\.0\.2\.2:3129/);
  t.match(files['/etc/profile.d/ccloudvm-proxy.sh'], /export http_proxy='http:\/\/10\.0\.2\.2:3128'\nexport HTTP_PROXY=/);
  t.same(proxyVariables(g).map(([k]) => k), ['http_proxy', 'HTTP_PROXY', 'https_proxy', 'HTTPS_PROXY', 'no_proxy', 'NO_PROXY']);
  t.same(guestProxyFiles(forGuest({ noProxy: ['x'] })), {}, 'no proxy, no files');
  t.same(proxyVariables(forGuest({ noProxy: ['x'] })), [], 'and no variables');
});

t.test("the image's mirror is the one apt serves the host's release from", async (t) => {
  const deb822 = 'Types: deb\nURIs: http://mirror.example/debian/\nSuites: bookworm bookworm-updates\nComponents: main\n\n'
    + 'Types: deb-src\nURIs: http://src.example/\nSuites: bookworm\n\n'
    + 'Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\n';
  const entries = parseDeb822(deb822);
  t.equal(entries.length, 2, 'deb-src is not a source of packages');
  t.same(pickMirrors('bookworm', entries), { mirror: 'http://mirror.example/debian', security: 'http://mirror.example/debian-security' });
  t.same(parseOneLine('# deb http://old/ x main\ndeb [arch=amd64 signed-by=/k] http://one.example/debian bookworm main\n'), [{ uris: ['http://one.example/debian'], suites: ['bookworm'] }]);
  t.throws(() => pickMirrors('trixie', entries), /no source for Debian trixie/);

  // tap removes the folder when the test ends.
  const etc = t.testdir({
    'os-release': 'PRETTY_NAME="Debian GNU/Linux 12"\nVERSION_CODENAME=bookworm\n',
    apt: { 'sources.list.d': { 'nodesource.list': 'deb https://deb.nodesource.com/node_20.x nodistro main\n', 'debian.sources': deb822 } },
  });
  t.same(await hostDebian(etc), { codename: 'bookworm', mirror: 'http://mirror.example/debian', security: 'http://mirror.example/debian-security' }, 'third-party sources are ignored');
});

t.test('the first boot writes the key, the proxy files and the environment, mounts the tree and installs through apt', async (t) => {
  const script = userData({
    name: 'vm1', publicKey: 'ssh-ed25519 AAAA test', share: '/work/main',
    proxy: forGuest({ http: 'http://127.0.0.1:3128', noProxy: [] }), environment: { CIAO_TIMEOUT_SCALE: '10' },
  });
  t.match(script, /^#!\/bin\/bash\n/);
  t.match(script, /set -euxo pipefail/, 'any failure fails the provisioning');
  t.match(script, /cat > \/root\/.ssh\/authorized_keys <<'CCLOUDVM_EOF'\nssh-ed25519 AAAA test\nCCLOUDVM_EOF/);
  t.match(script, /cat > \/etc\/environment <<'CCLOUDVM_EOF'\nhttp_proxy=http:\/\/10\.0\.2\.2:3128\n[^]*CIAO_TIMEOUT_SCALE=10\nCCLOUDVM_EOF/);
  t.match(script, /\/etc\/apt\/apt.conf.d\/80ccloudvm-proxy/);
  t.match(script, /echo 'ciao \/work\/main virtiofs defaults,nofail 0 0' >> \/etc\/fstab/);
  t.ok(script.indexOf('apt-get update') > script.indexOf('80ccloudvm-proxy'), 'apt runs after its proxy is set');
  t.match(script, /'\/work\/main\/scripts\/install-system-deps.sh' --cluster/);
  const dockerStart = script.indexOf('systemctl restart --no-block docker.service');
  t.ok(dockerStart > script.indexOf('docker.service.d/ccloudvm-proxy.conf'), 'Docker starts once its proxy drop-in is written');
  t.ok(dockerStart > script.indexOf('systemctl enable --quiet containerd.service docker.socket docker.service'), 'enabled first (which reloads systemd), so it starts at every later boot');
  t.match(script, /find \/var\/lib\/apt\/lists -maxdepth 1 -name '\*_InRelease' -mtime -7\)" \]; then apt-get update; fi/, "the image's package lists are refreshed when a week old");
});

t.test("QEMU's network forwards listen on the host's loopback only", async (t) => {
  const r = {
    name: 'vm1', cpus: 2, memMB: 2048, diskGB: 20, accel: 'tcg', accelWhy: '', share: '/work/main',
    forwards: [{ host: 40022, guest: 22, what: 'ssh' }, { host: 40443, guest: 8443, what: 'controller' }],
    proxy: { host: { noProxy: [] }, guest: { noProxy: [] } }, image: { hash: 'h', kernel: '/k', initrd: '/i', disk: '/d' }, mirror: 'http://m', createdAt: '',
  } satisfies VmRecord;
  const args = qemuArgs(r);
  const netdev = args[args.indexOf('-netdev') + 1];
  t.equal(netdev, 'user,id=n0,hostfwd=tcp:127.0.0.1:40022-:22,hostfwd=tcp:127.0.0.1:40443-:8443');
  t.equal(args[args.indexOf('-accel') + 1], 'tcg,thread=multi', 'under TCG a thread per vCPU');
  t.ok(args.includes('memory-backend-memfd,id=mem,size=2048M,share=on'), 'memory shared with virtiofsd');
  t.notOk(args.includes('-daemonize'), 'QEMU is started detached like every long-lived process (shared/detached.ts), not by forking itself');
  t.equal(args[args.indexOf('-pidfile') + 1], '/tmp/ccloudvm-test-home/ccloudvm/vm1/qemu.pid');
});

t.test('every SSH command to a VM shares one connection, unless its socket path is too long for a unix socket', async (t) => {
  const r = {
    name: 'vm1', cpus: 2, memMB: 2048, diskGB: 20, accel: 'tcg', accelWhy: '', share: '/work/main', forwards: [{ host: 40022, guest: 22, what: 'ssh' }],
    proxy: { host: { noProxy: [] }, guest: { noProxy: [] } }, image: { hash: 'h', kernel: '/k', initrd: '/i', disk: '/d' }, mirror: 'http://m', createdAt: '',
  } satisfies VmRecord;
  const args = sshArgs(r, ['-t']);
  t.ok(args.includes('ControlPath=/tmp/ccloudvm-test-home/ccloudvm/vm1/ssh.sock'), 'in the VM folder (stop closes it; delete removes the folder)');
  t.ok(args.includes('ControlMaster=auto') && args.includes('ControlPersist=yes'), 'the first command opens it, and it stays open');
  t.same(args.slice(-2), ['-t', 'root@127.0.0.1']);
  const long = { ...r, name: 'v'.repeat(32) };
  process.env.CIAO_HOME = `/tmp/${'x'.repeat(60)}`;
  t.teardown(() => { process.env.CIAO_HOME = '/tmp/ccloudvm-test-home'; });
  t.notOk(sshArgs(long).some((a) => a.startsWith('ControlPath=')), 'a path over 107 bytes: one connection per command');
});

t.test('create and start are flows: the steps in order, and a step run without what an earlier one makes says which', async (t) => {
  const names = (flow: typeof CREATE_FLOW, ctx: VmContext) => flow.map((s) => (typeof s.name === 'string' ? s.name : s.name(ctx)));
  const noProxy: VmContext = { proxy: { host: { noProxy: [] }, guest: { noProxy: [] } } };
  t.same(names(CREATE_FLOW, noProxy), ['base image', 'KVM or TCG', 'disk, key and config drive', 'start QEMU', 'boot to SSH', 'first boot provisioning']);
  const viaProxy: VmContext = { proxy: { host: { http: 'http://127.0.0.1:3128', noProxy: [] }, guest: { http: 'http://10.0.2.2:3128', noProxy: [] } } };
  t.equal(names(CREATE_FLOW, viaProxy).at(-1), 'first boot provisioning (through http://10.0.2.2:3128)', 'the provisioning line names the proxy');
  t.same(START_FLOW, CREATE_FLOW.slice(3, 5), 'start is QEMU and the boot of create');
  const [, accel, files, startQemu] = CREATE_FLOW;
  await t.rejects(accel.execute(noProxy, () => {}), { message: 'the base image is not there: the "base image" step should have made it' });
  await t.rejects(files.execute(noProxy, () => {}), { message: /made by create, from its options: there are none/ });
  await t.rejects(startQemu.execute(noProxy, () => {}), { message: 'the VM record is not there: the "disk, key and config drive" step should have made it' });
});
