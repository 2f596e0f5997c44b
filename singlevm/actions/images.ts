// The images the cluster boots, registered with its image service: the VM image (its initramfs)
// and the root disk volumes are made from. Each is registered once; a resume finds them. Their
// files go up in a step of their own, at the same time as the node starts (it needs only the ids).
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../../shared/run.ts';
import { VM_IMAGE, VM_ROOT_IMAGE } from '../default-workloads.ts';
import { need, type Action, type SetupContext } from './context.ts';

/** The simulated cluster's root image: a blank qcow2 disk (its nodes boot nothing), a real file all the same. */
async function blankDisk(stateDir: string): Promise<string> {
  const file = join(stateDir, 'simulated-root.qcow2');
  await run('qemu-img', ['create', '-q', '-f', 'qcow2', file, '32M']);
  return file;
}

/** The image named `name`, registered unless the controller has it; its id, and the upload still
 *  to do (a new image, or one whose upload was cut short) for the upload step. */
async function ensureImage(ctx: SetupContext, name: string, diskFormat: 'raw' | 'qcow2', content: () => Promise<Buffer>): Promise<string> {
  const admin = need(ctx.admin, 'the admin client', 'start control plane');
  const { images } = await admin.call<{ images: { id: string; status: string }[] }>('GET', `/image/v2/images?name=${encodeURIComponent(name)}`);
  const active = images.find((i) => i.status === 'active');
  if (active) return active.id;
  const image = images[0] ?? await admin.call<{ id: string }>('POST', '/image/v2/images', { name, visibility: 'public', disk_format: diskFormat, container_format: 'bare' });
  (ctx.imageUploads ??= []).push({ id: image.id, content });
  return image.id;
}

export const registerImages: Action = {
  name: 'register images',
  async execute(ctx) {
    const vm = ctx.real?.vmImage;
    ctx.imageUploads = [];
    ctx.vmImageId = await ensureImage(ctx, VM_IMAGE, 'raw',
      async () => (vm ? readFile(vm.initrd) : Buffer.from('simulated image: the simulation backend boots no guest\n')));
    // Root volumes are made from this one (boot from volume).
    await ensureImage(ctx, VM_ROOT_IMAGE, 'qcow2', async () => readFile(vm ? vm.root : await blankDisk(ctx.paths.stateDir)));
  },
};

/** The images' files, sent while the node starts: the launcher needs only the VM image's id. */
export const uploadImages: Action = {
  name: 'upload images',
  async execute(ctx) {
    const admin = need(ctx.admin, 'the admin client', 'start control plane');
    const uploads = need(ctx.imageUploads, 'the images to upload', 'register images');
    await Promise.all(uploads.map(async (u) => admin.call('PUT', `/image/v2/images/${u.id}/file`, await u.content(), 'application/octet-stream')));
    ctx.imageUploads = [];
  },
};
