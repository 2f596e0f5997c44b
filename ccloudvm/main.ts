// `ccloudvm`: the whole environment inside one QEMU VM (SPEC §8, docs/ccloudvm.md) — create,
// connect, status, doctor, stop, start, delete — carrying the user's proxy inside.
import { spawn } from 'node:child_process';
import { access, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { join } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { qmp } from '../launcher/qmp.ts';
import { portIsFree } from '../singlevm/ports.ts';
import { StepRunner } from '../singlevm/step-runner.ts';
import { runFlow } from '../singlevm/flow.ts';
import { parseDemoSh, writeDemoSh } from '../singlevm/demo-sh.ts';
import { BASE_DISK_GB } from './image.ts';
import { hostDebian } from './host-debian.ts';
import { forGuest, hasProxy, proxyFromEnv } from './proxy.ts';
import { BOOT_MS, inVm, quote, sshArgs } from './guest.ts';
import { baseImage, CACHE, CREATE_FLOW, ROOT, START_FLOW, type CreateOptions, type VmContext } from './create-flow.ts';
import { deleteVm, listVms, qemuPid, readRecord, stopVm, validVmName, vmPaths, type Forward, type VmRecord } from './vm.ts';

const DEFAULT_NAME = 'singlevm';

class UsageError extends Error {}

const fail = (message: string): never => {
  throw new UsageError(message);
};

function checkName(name: string) {
  if (!validVmName(name)) fail(`VM name ${JSON.stringify(name)} must be lowercase letters, digits or '-', at most 32, starting with a letter`);
}

async function record(name: string): Promise<VmRecord> {
  checkName(name);
  return (await readRecord(name)) ?? fail(`there is no VM ${name} (ccloudvm status lists them; ccloudvm create --name ${name} makes it)`);
}

function needRoot(what: string) {
  if (process.getuid?.() !== 0) fail(`${what} needs root (debootstrap, chroot and virtiofsd do)`);
}

// --- commands ----------------------------------------------------------------------------------

async function create(o: CreateOptions) {
  needRoot('create');
  checkName(o.name);
  if (await readRecord(o.name)) fail(`VM ${o.name} exists (${await qemuPid(o.name) ? 'running' : 'stopped'}): connect to it, or ccloudvm delete --name ${o.name} first`);
  for (const f of o.forward) if (!await portIsFree(f.host)) fail(`host port ${f.host} (--forward ${f.host}:${f.guest}) is in use`);
  const proxy = proxyFromEnv(process.env);
  const ctx: VmContext = { options: o, proxy: { host: proxy, guest: forGuest(proxy) } };
  const steps = new StepRunner(`ccloudvm create ${o.name}`);
  try {
    await runFlow(steps, CREATE_FLOW, ctx);
  } catch (err) {
    // Once its files are made, the VM stays for whoever wants to look at what went wrong.
    if (!ctx.record) throw err;
    throw new Error(`${(err as Error).message}\n(console: ${vmPaths(o.name).console}; ccloudvm connect --name ${o.name} to look inside, ccloudvm delete --name ${o.name} to remove it)`);
  }
  if (o.timings) await steps.writeJson(o.timings);
  const accel = ctx.accel!.accel.toUpperCase();
  console.log(`\n${steps.summary()}\n\nVM ${o.name} is ready in ${steps.totalSeconds.toFixed(0)} s (${accel}, ${o.cpus} CPUs, ${o.memory} MB, ${o.disk} GB).`);
  console.log(`  connect   ./singlevm/ccloudvm connect${o.name === DEFAULT_NAME ? '' : ` --name ${o.name}`}   (the project is at ${ROOT} inside too)`);
  console.log(`  inside    ./singlevm/setup.sh && ./singlevm/verify.sh`);
  console.log(`  status    ./singlevm/ccloudvm status${o.name === DEFAULT_NAME ? '' : ` --name ${o.name}`}  (doctor checks each hop to the proxy)`);
}

async function connect(name: string, command: string[]): Promise<number> {
  const r = await record(name);
  if (!await qemuPid(name)) fail(`VM ${name} is stopped: ccloudvm start --name ${name}`);
  const remote = command.length ? `cd ${quote(r.share)} && ${command.map(quote).join(' ')}` : `cd ${quote(r.share)} && exec bash -l`;
  const tty = command.length === 0 || process.stdin.isTTY;
  const child = spawn('ssh', [...sshArgs(r, tty ? ['-t'] : []), remote], { stdio: 'inherit' });
  return new Promise((resolve) => child.on('close', (code) => resolve(code ?? 1)));
}

async function describe(r: VmRecord): Promise<string> {
  const pid = await qemuPid(r.name);
  const lines = [
    `VM ${r.name}: ${pid ? `running (QEMU pid ${pid})` : 'stopped'}, ${r.accel.toUpperCase()} (${r.accelWhy}), ${r.cpus} CPUs, ${r.memMB} MB, ${r.diskGB} GB disk`,
    `  provisioned  ${r.readyAt ?? 'not yet'}`,
    `  forwards     ${r.forwards.map((f) => `127.0.0.1:${f.host} → ${f.guest} (${f.what})`).join(', ')}`,
    `  share        ${r.share} (virtiofs, same path inside)`,
    `  proxy        ${hasProxy(r.proxy.guest) ? `http ${r.proxy.guest.http ?? '-'}, https ${r.proxy.guest.https ?? '-'}; no_proxy ${r.proxy.guest.noProxy.join(',')}` : 'none (the VM reaches the mirror directly)'}`,
    `  files        ${vmPaths(r.name).dir}`,
  ];
  return lines.join('\n');
}

async function status(name: string | undefined, doctorToo: boolean): Promise<number> {
  const names = name ? [(await record(name)).name] : await listVms();
  if (!names.length) {
    console.log('no VMs (ccloudvm create makes one)');
    return 0;
  }
  let failed = 0;
  for (const n of names) {
    const r = (await readRecord(n))!;
    console.log(await describe(r));
    if (doctorToo) failed += await doctor(r);
  }
  return failed ? 1 : 0;
}

const tcpAnswers = (host: string, port: number) => new Promise<boolean>((resolve) => {
  const s = net.connect({ host, port, timeout: 5000 }, () => { s.destroy(); resolve(true); });
  s.on('error', () => resolve(false));
  s.on('timeout', () => { s.destroy(); resolve(false); });
});

const hostPort = (url: string) => {
  const u = new URL(url.includes('://') ? url : `http://${url}`);
  return { host: u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port) || 80 };
};

/** Checks each hop: host → VM (QEMU, SSH, the share), host → proxy, VM → proxy, and through it to the mirror. */
async function doctor(r: VmRecord): Promise<number> {
  let failures = 0;
  const hop = (ok: boolean, what: string, detail = '') => {
    if (!ok) failures++;
    console.log(`  ${ok ? '✓' : '✗'} ${what}${detail ? `: ${detail}` : ''}`);
    return ok;
  };
  const up = hop(Boolean(await qemuPid(r.name)), 'QEMU runs', await qemuPid(r.name) ? '' : `start it: ccloudvm start --name ${r.name}`);
  const ssh = up && hop((await inVm(r, 'true', 15_000)).exitCode === 0, `host → VM: SSH on 127.0.0.1:${r.forwards[0].host}`);
  if (ssh) hop((await inVm(r, `mountpoint -q ${quote(r.share)}`)).exitCode === 0, `the project tree is mounted at ${r.share}`);
  const mirror = `${r.mirror}/dists/${(await hostDebian()).codename}/Release`;
  const via = r.proxy.guest.http ?? r.proxy.guest.https;
  if (via) {
    const h = hostPort(r.proxy.host.http ?? r.proxy.host.https!);
    hop(await tcpAnswers(h.host, h.port), `host → proxy ${h.host}:${h.port}`);
    const g = hostPort(via);
    if (ssh) hop((await inVm(r, `timeout 5 bash -c 'exec 3<>/dev/tcp/${g.host}/${g.port}'`)).exitCode === 0, `VM → proxy ${g.host}:${g.port}`);
  }
  if (ssh) {
    const got = await inVm(r, `set -a; . /etc/environment; curl -fsS -o /dev/null -w '%{http_code}' --max-time 30 ${quote(mirror)}`);
    hop(got.exitCode === 0, `VM → ${via ? 'proxy → ' : ''}Debian mirror (${mirror})`, got.exitCode === 0 ? `HTTP ${got.stdout}` : got.stderr.trim());
  }
  return failures;
}

/** demo.sh for the host: the cluster inside the VM, reached through the forwards. */
async function demoSh(name: string): Promise<string> {
  const r = await record(name);
  const p = vmPaths(name);
  const got = await inVm(r, 'cat /root/local/demo.sh');
  if (got.exitCode !== 0) fail(`no cluster inside VM ${name} yet (run ccloudvm connect --name ${name} -- ./singlevm/setup.sh first)`);
  const inside = parseDemoSh(got.stdout);
  const viaHost = (url: string) => {
    const u = new URL(url);
    const f = r.forwards.find((x) => x.guest === Number(u.port));
    if (!f) fail(`the cluster inside listens on ${u.port}, which is not forwarded (setup inside found port ${u.port} busy?)`);
    u.port = String(f!.host);
    return u.href.replace(/\/$/, '');
  };
  const ca = await inVm(r, `cat ${quote(inside.CIAO_CA_CERT_FILE)}`);
  if (ca.exitCode !== 0) fail(`cannot read the cluster's CA inside (${inside.CIAO_CA_CERT_FILE}): ${ca.stderr.trim()}`);
  const caFile = join(p.dir, 'ca.crt');
  await writeFile(caFile, ca.stdout.endsWith('\n') ? ca.stdout : `${ca.stdout}\n`);
  const out = join(p.dir, 'demo.sh');
  const pair = (prefix: 'CIAO' | 'CIAO_ADMIN') => ({
    username: inside[`${prefix}_USERNAME`], password: inside[`${prefix}_PASSWORD`], project: inside[`${prefix}_TENANT_NAME`] ?? 'admin',
  });
  await writeDemoSh(out, {
    name: inside.CIAO_CLUSTER, identityUrl: viaHost(inside.CIAO_IDENTITY), controllerUrl: viaHost(inside.CIAO_CONTROLLER),
    caFile, stateDir: p.dir, creds: { user: pair('CIAO'), admin: pair('CIAO_ADMIN') }, simulated: inside.CIAO_SIMULATED === '1',
  });
  return out;
}

async function start(name: string) {
  needRoot('start');
  const r = await record(name);
  if (await qemuPid(name)) return console.log(`VM ${name} is already running`);
  const steps = new StepRunner(`ccloudvm start ${name}`);
  await runFlow(steps, START_FLOW, { proxy: r.proxy, record: r });
  console.log(`VM ${name} is running (${steps.totalSeconds.toFixed(1)} s)`);
}

async function stop(name: string) {
  const r = await record(name);
  // systemd powers off when asked over SSH; the ACPI button would need logind (and D-Bus) in the image.
  const poweroff = async () => (await inVm(r, 'systemctl poweroff', 15_000)).exitCode !== 255 || qmp(vmPaths(name).qmp, 'system_powerdown').then(() => true, () => false);
  const how = await stopVm(name, BOOT_MS[r.accel] / 4, poweroff);
  console.log(how === 'not running' ? `VM ${name} was not running` : `VM ${name} ${how === 'killed' ? 'did not shut down in time and was stopped' : 'shut down'}`);
}

async function remove(name: string) {
  await record(name);
  await deleteVm(name);
  console.log(`VM ${name} deleted (its processes and ${vmPaths(name).dir}; the cached base image stays: ${CACHE})`);
}

// --- the command line --------------------------------------------------------------------------

const whole = (what: string, min: number) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`${what} must be a whole number ≥ ${min}`);
  return n;
};

function forwardOption(v: string, prev: Forward[]): Forward[] {
  const m = /^(\d+):(\d+)$/.exec(v);
  if (!m || Number(m[1]) < 1 || Number(m[1]) > 65535 || Number(m[2]) < 1 || Number(m[2]) > 65535) {
    throw new InvalidArgumentError('a forward is HOST_PORT:GUEST_PORT (the host side listens on 127.0.0.1 only)');
  }
  return [...prev, { host: Number(m[1]), guest: Number(m[2]), what: 'extra' }];
}

const nameOption = () => new Option('--name <name>', 'the VM').default(DEFAULT_NAME);

const program = new Command('ccloudvm')
  .description('the whole ciao-singlevm environment inside one QEMU VM (Debian, built locally), proxy-aware')
  .showHelpAfterError()
  .addHelpText('after', `
The proxy comes from http_proxy, https_proxy and no_proxy (either case); one on the host's
loopback is reached from the VM at 10.0.2.2. Inside, apt, Docker, npm, git and the shell use it,
and no_proxy also holds the cluster's addresses. The project tree is shared at the same path.`);

program.command('create').description('build (or reuse) the base image, create the VM, boot and provision it')
  .addOption(nameOption())
  .option('--cpus <n>', 'virtual CPUs', whole('--cpus', 1), 2)
  .option('--memory <mb>', 'memory in MB', whole('--memory', 1024), 4096)
  .option('--disk <gb>', `disk size in GB (at least ${BASE_DISK_GB})`, whole('--disk', BASE_DISK_GB), 20)
  .option('--forward <host:guest>', 'also forward 127.0.0.1:HOST to the VM\'s GUEST port (repeatable)', forwardOption, [])
  .addOption(new Option('--accel <mode>', 'KVM when it works, else TCG').choices(['auto', 'kvm', 'tcg']).default(process.env.CIAO_ACCEL || 'auto'))
  .option('--timings <file>', 'also write the step timings as JSON to FILE (as setup.sh --timings)')
  .action((o: CreateOptions) => create(o));
program.command('connect').description('an SSH shell in the VM, or `connect -- <command>` (run in the project folder)')
  .addOption(nameOption()).argument('[command...]')
  .action(async (command: string[], o: { name: string }) => { process.exitCode = await connect(o.name, command); });
program.command('status').description('the VMs (or one), with --doctor each hop to the proxy checked')
  .addOption(new Option('--name <name>', 'only this VM')).option('--doctor', 'check host → VM → proxy → mirror')
  .action(async (o: { name?: string; doctor?: boolean }) => { process.exitCode = await status(o.name, Boolean(o.doctor)); });
program.command('doctor').description('check each hop: host → VM (SSH, share), host → proxy, VM → proxy → the Debian mirror')
  .addOption(nameOption())
  .action(async (o: { name: string }) => { process.exitCode = await status(o.name, true); });
program.command('stop').description('shut the VM down (its disk stays)').addOption(nameOption()).action((o: { name: string }) => stop(o.name));
program.command('start').description('boot a stopped VM again').addOption(nameOption()).action((o: { name: string }) => start(o.name));
program.command('delete').description('stop the VM and remove its files').addOption(nameOption()).action((o: { name: string }) => remove(o.name));
program.command('demo-sh').description("write a demo.sh for the host: the cluster set up inside the VM, through the forwards (. it, then ciao …)")
  .addOption(nameOption())
  .action(async (o: { name: string }) => {
    const out = await demoSh(o.name);
    console.log(`. ${out}    # then: ciao list workloads (openstack clients follow the catalogue: they need the same port numbers on the host)`);
  });
program.command('image').description('build the base image now (create does it when needed)').action(async () => {
  needRoot('image');
  const steps = new StepRunner('ccloudvm image');
  const image = await steps.step('base image', (progress) => baseImage(progress));
  console.log(`base image ${image.hash}: ${image.disk}`);
});

try {
  await access(ROOT);
  await program.parseAsync();
} catch (err) {
  console.error(`ccloudvm: ${(err as Error).message}`);
  process.exitCode = err instanceof UsageError ? 2 : 1;
}
