// `ccloudvm create` and `start` as flows (singlevm/flow.ts, the runner setup uses): one step per
// part over one context — the base image, KVM or TCG (setup's probe), the VM's files, QEMU, the
// boot to SSH and the first boot's provisioning.
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { run } from '../shared/run.ts';
import { need, type Step } from '../singlevm/flow.ts';
import { probeAccel, type Accel } from '../singlevm/preflight.ts';
import { freePort, portIsFree } from '../singlevm/ports.ts';
import { hostDebian } from './host-debian.ts';
import { buildBaseImage, pruneBaseImages, type BaseImage } from './image.ts';
import { makeSeed } from './provision.ts';
import { hasProxy, type ProxySettings } from './proxy.ts';
import { waitProvisioned, waitSsh } from './guest.ts';
import { deleteVm, ensureDir, listVms, readRecord, startVm, vmPaths, writeRecord, type Forward, type VmRecord } from './vm.ts';

export const ROOT = join(import.meta.dirname, '..');
export const CACHE = join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'ciao', 'ccloudvm');
/** The cluster's API inside the VM listens on these (setup honours CIAO_*_PORT); the host reaches them through forwards. */
const GUEST_PORTS = { controller: 8443, identity: 35357 };
/** How much slower than bare metal the cluster inside runs: every wait of setup, verify and BAT scales by it. */
const TIMEOUT_SCALE = { kvm: 2, tcg: 10 };

export interface CreateOptions {
  name: string;
  cpus: number;
  memory: number;
  disk: number;
  forward: Forward[];
  accel: 'auto' | Accel;
  /** Also write the step timings as JSON here (as setup.sh --timings does). */
  timings?: string;
}

export interface VmContext {
  /** What create was asked for (start has a record instead). */
  options?: CreateOptions;
  /** The proxy as the user gave it, and as the guest reaches it. */
  proxy: { host: ProxySettings; guest: ProxySettings };
  image?: BaseImage;
  accel?: { accel: Accel; why: string };
  /** The VM's record: made by the "disk, key and config drive" step, or read (start). */
  record?: VmRecord;
}

const vm = (ctx: VmContext, step: string) => need(ctx.record, 'the VM record', step);

/** The base image (built when its inputs changed); older ones no VM boots from are removed. */
export async function baseImage(progress: (note: string) => void): Promise<BaseImage> {
  const image = await buildBaseImage({ cacheDir: CACHE, progress });
  const inUse = await Promise.all((await listVms()).map(async (n) => (await readRecord(n))?.image.hash ?? ''));
  for (const old of await pruneBaseImages(CACHE, [image.hash, ...inUse])) console.log(`  removed the outdated base image ${old}`);
  return image;
}

const baseImageStep: Step<VmContext> = {
  name: 'base image',
  async execute(ctx, progress) {
    ctx.image = await baseImage(progress);
  },
};

const accelStep: Step<VmContext> = {
  name: 'KVM or TCG',
  async execute(ctx) {
    const kernel = need(ctx.image, 'the base image', 'base image').kernel;
    ctx.accel = await probeAccel({ kernel, force: ctx.options?.accel ?? 'auto', cacheFile: join(CACHE, 'accel.json') });
    return `the VM runs under ${ctx.accel.accel.toUpperCase()}: ${ctx.accel.why}`;
  },
};

const sameOrFree = async (port: number) => (await portIsFree(port) ? port : freePort());

const vmFilesStep: Step<VmContext> = {
  name: 'disk, key and config drive',
  async execute(ctx) {
    const o = ctx.options;
    if (!o) throw new Error('the VM\'s files are made by create, from its options: there are none');
    const image = need(ctx.image, 'the base image', 'base image');
    const { accel, why } = need(ctx.accel, 'how the VM runs', 'KVM or TCG');
    const p = vmPaths(o.name);
    try {
      await ensureDir(o.name);
      await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `ccloudvm-${o.name}`, '-f', p.key]);
      await run('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', 'qcow2', '-b', image.disk, p.disk, `${o.disk}G`]);
      const forwards: Forward[] = [
        { host: await freePort(), guest: 22, what: 'ssh' },
        // The same port on the host when it is free: the identity catalogue inside names 127.0.0.1:<guest port>.
        { host: await sameOrFree(GUEST_PORTS.controller), guest: GUEST_PORTS.controller, what: 'controller' },
        { host: await sameOrFree(GUEST_PORTS.identity), guest: GUEST_PORTS.identity, what: 'identity' },
        ...o.forward,
      ];
      const r: VmRecord = {
        name: o.name, cpus: o.cpus, memMB: o.memory, diskGB: o.disk, accel, accelWhy: why, forwards,
        share: ROOT, proxy: ctx.proxy, image, mirror: (await hostDebian()).mirror, createdAt: new Date().toISOString(),
      };
      await makeSeed(p.seed, {
        name: o.name, publicKey: (await readFile(`${p.key}.pub`, 'utf8')).trim(), share: ROOT, proxy: ctx.proxy.guest,
        environment: {
          CIAO_TIMEOUT_SCALE: String(TIMEOUT_SCALE[accel]),
          // Under TCG the guest's SVM is emulated: nested KVM on it boots sometimes and dies sometimes
          // (docs/ccloudvm.md, "VMs inside"), so the cluster's VMs inside run under TCG too.
          ...(accel === 'tcg' ? { CIAO_ACCEL: 'tcg' } : {}),
          CIAO_CONTROLLER_PORT: String(GUEST_PORTS.controller), CIAO_IDENTITY_PORT: String(GUEST_PORTS.identity), CIAO_API_HOST: '0.0.0.0',
        },
      });
      await writeRecord(r);
      ctx.record = r;
    } catch (err) {
      // Nothing runs yet: a half-made VM folder would only block the next create.
      await deleteVm(o.name);
      throw err;
    }
  },
};

const startQemuStep: Step<VmContext> = {
  name: 'start QEMU',
  async execute(ctx) {
    await startVm(vm(ctx, 'disk, key and config drive'));
  },
};

const bootStep: Step<VmContext> = {
  name: 'boot to SSH',
  async execute(ctx, progress) {
    await waitSsh(vm(ctx, 'disk, key and config drive'), progress);
  },
};

const provisionStep: Step<VmContext> = {
  name: (ctx) => `first boot provisioning${hasProxy(ctx.proxy.guest) ? ` (through ${ctx.proxy.guest.http ?? ctx.proxy.guest.https})` : ''}`,
  async execute(ctx, progress) {
    const r = vm(ctx, 'disk, key and config drive');
    await waitProvisioned(r, progress);
    ctx.record = { ...r, readyAt: new Date().toISOString() };
    await writeRecord(ctx.record);
  },
};

/** A new VM, from the base image to provisioned. */
export const CREATE_FLOW = [baseImageStep, accelStep, vmFilesStep, startQemuStep, bootStep, provisionStep];
/** A stopped VM booted again. */
export const START_FLOW = [startQemuStep, bootStep];
