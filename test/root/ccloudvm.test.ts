// Needs root: the nested VM end to end (SPEC §8). A small HTTP proxy on the host's loopback; a VM
// created with http_proxy pointing at it; apt inside fetched through it, Docker's daemon has it,
// no_proxy holds the cluster's addresses, doctor sees every hop; setup and verify pass inside; the
// VM stops and starts with its disk; delete leaves nothing on the host.
import t from 'tap';
import { access, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { run, type RunResult } from '../../shared/run.ts';
import { tempDir } from '../../shared/temp-dir.ts';
import { REPO_ROOT } from '../../singlevm/processes.ts';
import { diffHostState, snapshotHost } from '../../singlevm/host-state.ts';
import { readDemoSh } from '../../singlevm/demo-sh.ts';
import { CLUSTER_NO_PROXY } from '../../ccloudvm/proxy.ts';
import { startHttpProxy } from '../helpers/http-proxy.ts';

const { path: home, remove: removeHome } = tempDir('ciao-ccloudvm');
const name = `e2e${randomBytes(3).toString('hex')}`;
const proxy = await startHttpProxy();
const noProxyEnv = Object.fromEntries(Object.keys(process.env).filter((k) => /^(https?|no)_proxy$/i.test(k)).map((k) => [k, undefined]));
const env = { ...process.env, ...noProxyEnv, CIAO_HOME: home };
const ccloudvm = (args: string[], extra: NodeJS.ProcessEnv = {}) =>
  run(join(REPO_ROOT, 'singlevm/ccloudvm'), args, { env: { ...env, ...extra }, allowFailure: true, timeout: 3_600_000 });
const inVm = (command: string) => ccloudvm(['connect', '--name', name, '--', 'sh', '-c', command]);
const seconds = (t0: number) => ((performance.now() - t0) / 1000).toFixed(1);
const figures: string[] = [];
const before = await snapshotHost({ cluster: name, docker: true });

/** The VM's processes (QEMU, virtiofsd) still on the host. */
async function vmProcesses(): Promise<string[]> {
  const out: string[] = [];
  for (const pid of (await readdir('/proc')).filter((e) => /^\d+$/.test(e))) {
    const cmd = (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).split('\0').join(' ');
    const state = (await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '')).replace(/^.*\) /, '')[0];
    if (state !== 'Z' && cmd.includes(join(home, 'ccloudvm', name))) out.push(`${pid} ${cmd.slice(0, 120)}`);
  }
  return out;
}

t.teardown(async () => {
  await ccloudvm(['delete', '--name', name]);
  await proxy.close();
  removeHome();
  console.log(`# ccloudvm figures: ${figures.join('; ')}`);
});

t.test('the base image is built from the Debian mirror (or found cached)', async (t) => {
  const t0 = performance.now();
  const r = await ccloudvm(['image']);
  t.equal(r.exitCode, 0, `${r.stdout}\n${r.stderr}`);
  t.match(r.stdout, /base image [0-9a-f]{16}: .*disk\.qcow2/);
  figures.push(`image ${seconds(t0)} s`);
});

t.test('create: the VM boots and provisions itself through the proxy on the host loopback', async (t) => {
  const t0 = performance.now();
  const r = await ccloudvm(['create', '--name', name], { http_proxy: proxy.url, https_proxy: proxy.url, no_proxy: 'corp.example' });
  t.equal(r.exitCode, 0, `${r.stdout}\n${r.stderr}`);
  t.match(r.stdout, /the VM runs under (TCG|KVM): /, 'it says how the VM runs');
  t.match(r.stdout, new RegExp(`first boot provisioning \\(through http://10\\.0\\.2\\.2:${proxy.port}\\)`));
  figures.push(`create → ready ${seconds(t0)} s`);
  // The image's package lists are used as they are while less than a week old (docs/ccloudvm.md):
  // apt's proxy is checked below, with a download.
  const lists = proxy.requests.filter((q) => q.userAgent?.startsWith('Debian APT-HTTP') && /\/InRelease$/.test(q.url));
  figures.push(`package lists ${lists.length ? 'refreshed' : "the image's"} at create`);
});

t.test("inside: Docker's daemon, the shell, apt and npm have the proxy; no_proxy holds the cluster's addresses", async (t) => {
  const guestProxy = `http://10.0.2.2:${proxy.port}`;
  const docker = await inVm('docker info 2>/dev/null');
  t.match(docker.stdout, new RegExp(`HTTP Proxy: ${guestProxy}`), "Docker's daemon");
  t.match(docker.stdout, /No Proxy: corp\.example,/, "with the user's no_proxy first");
  const shell = await inVm('echo "$http_proxy $HTTPS_PROXY"; echo "$no_proxy"');
  const [proxies, noProxy] = shell.stdout.trim().split('\n');
  t.equal(proxies, `${guestProxy} ${guestProxy}`, 'the shell, both cases');
  for (const a of CLUSTER_NO_PROXY) t.ok(noProxy.split(',').includes(a), `no_proxy has ${a}`);
  t.match((await inVm('apt-config dump Acquire::http::Proxy')).stdout, guestProxy, 'apt');
  const before = proxy.requests.length;
  const download = await inVm('cd /tmp && apt-get download -q busybox-static && rm busybox-static_*.deb');
  t.equal(download.exitCode, 0, `apt-get download inside: ${download.stdout}${download.stderr}`);
  const apt = proxy.requests.slice(before).filter((q) => q.userAgent?.startsWith('Debian APT-HTTP'));
  t.ok(apt.some((q) => /\/busybox-static_[^/]+\.deb$/.test(q.url)), `apt fetched the package through the proxy (${apt.map((q) => q.url).join(', ')})`);
  t.match((await inVm('npm config get proxy')).stdout, guestProxy, 'npm');
  // From /: in the project folder git would first read its .git, and a worktree's points outside the share.
  t.match((await inVm('cd / && git config --get http.proxy')).stdout, guestProxy, 'git');
  t.equal((await inVm('node --version')).stdout.trim(), process.version, "Node.js is the host's version");
});

t.test('doctor checks host → VM → proxy → mirror', async (t) => {
  const requestsBefore = proxy.requests.length;
  const r = await ccloudvm(['doctor', '--name', name]);
  t.equal(r.exitCode, 0, r.stdout + r.stderr);
  for (const hop of ['host → VM: SSH', `host → proxy 127.0.0.1:${proxy.port}`, `VM → proxy 10.0.2.2:${proxy.port}`, 'VM → proxy → Debian mirror']) {
    t.match(r.stdout, `✓ ${hop}`, hop);
  }
  t.ok(proxy.requests.length > requestsBefore, 'the mirror was reached through the proxy');
});

/** The guest kernel's lines for processes it saw die of SIGSEGV or SIGILL (show_unhandled_signals). */
async function kernelTraps(): Promise<string[]> {
  const r = await inVm("dmesg | grep -E 'segfault at|trap invalid opcode' || true");
  return r.stdout.split('\n').map((l) => l.trim()).filter(Boolean);
}

interface InsideRun {
  setup: RunResult; setupSeconds: string;
  /** demo-sh on the host, then the ciao CLI on the host against the cluster inside. */
  demoSh?: RunResult; fromHost?: RunResult;
  verify?: RunResult; verifySeconds?: string; cleanup?: RunResult;
}

/** setup inside, the cluster reached from the host, verify and cleanup inside; a failed setup stops it. */
async function setupVerifyCleanup(): Promise<InsideRun> {
  let t0 = performance.now();
  const setup = await inVm('./singlevm/setup.sh');
  const setupSeconds = seconds(t0);
  if (setup.exitCode !== 0) return { setup, setupSeconds };
  const demoSh = await ccloudvm(['demo-sh', '--name', name]);
  const fromHost = await run(join(REPO_ROOT, 'bin/ciao'), ['list', 'workloads'], { env: { ...env, ...await readDemoSh(join(home, 'ccloudvm', name, 'demo.sh')).catch(() => ({})) }, allowFailure: true });
  t0 = performance.now();
  const verify = await inVm('./singlevm/verify.sh');
  const verifySeconds = seconds(t0);
  const cleanup = await inVm('./singlevm/cleanup.sh');
  return { setup, setupSeconds, demoSh, fromHost, verify, verifySeconds, cleanup };
}

t.test('setup and verify pass inside the VM, as on bare metal', async (t) => {
  const outer = (await ccloudvm(['status', '--name', name])).stdout.includes(', TCG (') ? 'tcg' : 'kvm';
  const trapsBefore = await kernelTraps();
  let inside = await setupVerifyCleanup();
  const failed = (r: InsideRun) => r.setup.exitCode !== 0 || r.verify?.exitCode !== 0 || r.cleanup?.exitCode !== 0;
  // QEMU 7.2's TCG now and then kills a process inside with SIGSEGV or SIGILL (docs/ccloudvm.md,
  // "Processes dying inside a TCG VM"); the guest kernel logs each one. A failure that came with
  // such a line is the emulator's: it is said, and the whole sequence runs once more after a
  // cleanup. A failure without one fails the test.
  const traps = (await kernelTraps()).filter((l) => !trapsBefore.includes(l));
  if (failed(inside) && outer === 'tcg' && traps.length) {
    const what = inside.setup.exitCode !== 0 ? `setup (exit ${inside.setup.exitCode})` : inside.verify?.exitCode !== 0 ? `verify (exit ${inside.verify?.exitCode})` : `cleanup (exit ${inside.cleanup?.exitCode})`;
    figures.push(`emulator fault in ${what}: ${traps.join(' | ')}; run once more`);
    if (inside.setup.exitCode === 0 && inside.verify?.exitCode === 0) {
      // Setup and verify passed: only the cleanup the emulator broke runs again (a cleanup after a
      // crashed one must work anyway). Running all three again took the file past its 30 minutes.
      t.comment(`the emulator killed a process inside during ${what}: ${traps.join(' | ')}: running cleanup once more`);
      inside = { ...inside, cleanup: await inVm('./singlevm/cleanup.sh') };
    } else {
      t.comment(`the emulator killed a process inside during ${what}: ${traps.join(' | ')}: cleaning up and running setup, verify and cleanup once more`);
      await inVm('./singlevm/cleanup.sh');
      inside = await setupVerifyCleanup();
    }
  }
  const { setup, verify, cleanup } = inside;
  t.equal(setup.exitCode, 0, `${setup.stdout}\n${setup.stderr}`);
  // Nested KVM on TCG's emulated SVM dies now and then: under TCG the VMs inside run under TCG too.
  if (outer === 'tcg') t.match(setup.stdout, /VMs run under TCG: TCG asked for/, 'the VMs inside run under TCG, as the VM does');
  figures.push(`setup inside ${inside.setupSeconds} s`);
  t.equal(inside.demoSh?.exitCode, 0, `demo-sh: ${inside.demoSh?.stdout}${inside.demoSh?.stderr}`);
  t.match(inside.fromHost?.stdout, /Debian VM/, `the host reaches the cluster's API through the forwards: ${inside.fromHost?.stderr}`);
  t.equal(verify?.exitCode, 0, `${verify?.stdout}\n${verify?.stderr}`);
  t.match(verify?.stdout, /verify passed/);
  t.match(verify?.stdout, /timeouts ×\d+/, "verify's timeouts scale with the VM's acceleration");
  figures.push(`verify inside ${inside.verifySeconds} s`);
  t.equal(cleanup?.exitCode, 0, `cleanup inside: ${cleanup?.stdout}\n${cleanup?.stderr}`);
});

t.test('stop and start: the VM comes back with its disk', async (t) => {
  t.equal((await inVm('echo kept > /root/marker && sync')).exitCode, 0);
  const stop = await ccloudvm(['stop', '--name', name]);
  t.equal(stop.exitCode, 0, stop.stdout + stop.stderr);
  t.match((await ccloudvm(['status', '--name', name])).stdout, new RegExp(`VM ${name}: stopped`));
  t.same(await vmProcesses(), [], 'no QEMU or virtiofsd while stopped');
  const t0 = performance.now();
  const start = await ccloudvm(['start', '--name', name]);
  t.equal(start.exitCode, 0, start.stdout + start.stderr);
  figures.push(`start → SSH ${seconds(t0)} s`);
  t.equal((await inVm('cat /root/marker')).stdout.trim(), 'kept');
  t.equal((await ccloudvm(['create', '--name', name])).exitCode, 2, 'a second create of the same name is refused');
});

t.test('delete leaves nothing on the host', async (t) => {
  const r = await ccloudvm(['delete', '--name', name]);
  t.equal(r.exitCode, 0, r.stdout + r.stderr);
  t.same(await vmProcesses(), [], 'no QEMU or virtiofsd');
  t.notOk(await access(join(home, 'ccloudvm', name)).then(() => true, () => false), 'its folder is gone');
  // Other clusters on the machine come and go meanwhile (diffHostState's cluster option): not the VM's doing.
  t.same(diffHostState(before, await snapshotHost({ cluster: name, docker: true }), { cluster: name }), [], 'namespaces, links, addresses, routes and firewall as before');
  t.equal((await ccloudvm(['status', '--name', name])).exitCode, 2, 'status of a deleted VM is a clear error');
});
