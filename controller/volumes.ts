// Block storage (docs/api.md, "Volumes"): qcow2 files in the cluster's volume store, made by the
// controller with qemu-img, attached to VMs at boot or hot-plugged by their node (ATTACH_VOLUME).
import { randomUUID } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import type { VolumeDone, VolumeFailure, VolumeRef } from '../protocol/payloads.ts';
import { ApiError, badRequest, notFound } from '../shared/errors.ts';
import { run } from '../shared/run.ts';
import { fileFor } from '../shared/safe-path.ts';
import type { Image, Instance, Tenant, Volume, WorkloadDisk } from './api-types.ts';
import { now, schedulerNotConnected, type ControllerContext } from './context.ts';

type Frame = Parameters<ControllerContext['send']>[0];

export const MAX_VOLUME_MB = 1024 * 1024;

export interface VolumeInput {
  size_mb?: number;
  image_id?: string;
  name?: string;
  description?: string;
  bootable?: boolean;
  metadata?: Record<string, string>;
  user_id?: string;
  volume_type_id?: string;
}

/** What the owner may change on a volume after it is made. */
export interface VolumeChange {
  name?: string;
  description?: string;
  bootable?: boolean;
  metadata?: Record<string, string>;
  image_metadata?: Record<string, string>;
  /** A retype: the type only names the volume (every type is the same storage), so nothing moves. */
  volume_type_id?: string;
}

/** The states an admin may set by hand: ones that start no work of the controller (a volume
 *  reset to `creating` would be made again over its data after a restart). `attaching` without an
 *  attachment is a reserved volume (below): nothing is sent to a node for it. */
export const RESETTABLE_STATES = ['available', 'error', 'maintenance', 'attaching'] as const;

/** The image's facts a volume made from it keeps (as Cinder's volume_image_metadata). */
const imageMetadata = (i: Image): Record<string, string> => Object.fromEntries(Object.entries({
  image_id: i.id, image_name: i.name, disk_format: i.disk_format, container_format: i.container_format, checksum: i.checksum, size: i.size,
}).filter(([, v]) => v !== null).map(([k, v]) => [k, String(v)]));

/** What a new volume is made of: a blank disk, or a copy of an image's or another volume's file. */
interface Source {
  image?: { record: Image; path: string; virtualMB: number };
  volume?: { record: Volume; path: string };
  sizeMB: number;
}

export class Volumes {
  /** A volume is made: instances waiting for it may start. */
  onMade: (volume: Volume) => void = () => {};
  /** A volume an instance was waiting for could not be made. */
  onFailed: (instanceId: string, why: string) => void = () => {};
  /** Volumes whose file is being grown now (one resize at a time each). */
  private readonly extending = new Set<string>();

  constructor(private readonly ctx: ControllerContext, private readonly imagePath: (id: string) => string) {}

  list(tenantId: string): Volume[] {
    return this.ctx.store.volumes.byTenant(tenantId);
  }

  get(tenant: Tenant, id: string): Volume {
    const v = this.ctx.store.volumes.get(id);
    if (!v || v.tenant_id !== tenant.id) throw notFound('volume', id);
    return v;
  }

  /** Any tenant's volume: for admins only (the caller checks). */
  find(id: string): Volume {
    const v = this.ctx.store.volumes.get(id);
    if (!v) throw notFound('volume', id);
    return v;
  }

  path(id: string): string {
    return fileFor(this.ctx.volumeDir, id, '.qcow2');
  }

  usage(tenantId: string): { volumes: number; volume_mb: number } {
    const mine = this.list(tenantId);
    return { volumes: mine.length, volume_mb: mine.reduce((s, v) => s + v.size_mb, 0) };
  }

  // --- the API ---------------------------------------------------------------------------------

  /** Checks the request and resolves its image; the quota is the caller's to check first. */
  async source(tenant: Tenant, sizeMB: number | undefined, imageId: string | undefined): Promise<Source> {
    if (sizeMB !== undefined && (!Number.isInteger(sizeMB) || sizeMB < 1 || sizeMB > MAX_VOLUME_MB)) {
      throw badRequest(`size_mb must be a whole number from 1 to ${MAX_VOLUME_MB}`);
    }
    if (!imageId) {
      if (sizeMB === undefined) throw badRequest('size_mb is required for a blank volume (or give image_id)');
      return { sizeMB };
    }
    const record = this.ctx.store.images.all().find((i) =>
      (i.id === imageId || i.name === imageId) && (i.visibility === 'public' || i.owner === tenant.id));
    if (!record || record.status !== 'active') throw new ApiError('unknown_image', `image ${imageId} does not exist or has no data yet (ciao list images)`);
    const format = record.disk_format ?? 'raw';
    if (format !== 'raw' && format !== 'qcow2') throw badRequest(`image ${imageId} is ${format}: volumes are made from raw or qcow2 images`);
    const image = await this.imageSource(record);
    if (sizeMB !== undefined && sizeMB < image.virtualMB) throw badRequest(`size_mb ${sizeMB} is smaller than image ${imageId} (${image.virtualMB} MB)`);
    return { image, sizeMB: sizeMB ?? image.virtualMB };
  }

  /** A clone's source: another available volume of the tenant (`sizeMB` at least its size), copied as it is now. */
  cloneSource(tenant: Tenant, id: string, sizeMB: number | undefined): Source {
    const record = this.get(tenant, id);
    if (record.state !== 'available') throw new ApiError('invalid_state', `volume ${id} is ${record.state}: only an available volume can be cloned`);
    if (sizeMB !== undefined && sizeMB < record.size_mb) throw badRequest(`a clone cannot be smaller than its source volume (${Math.ceil(record.size_mb / 1024)} GiB)`);
    return { volume: { record, path: this.path(record.id) }, sizeMB: sizeMB ?? record.size_mb };
  }

  private async imageSource(record: Image): Promise<NonNullable<Source['image']>> {
    const path = this.imagePath(record.id);
    const info = JSON.parse((await run('qemu-img', ['info', '--output=json', '-f', record.disk_format ?? 'raw', path])).stdout) as { 'virtual-size': number };
    return { record, path, virtualMB: Math.ceil(info['virtual-size'] / 2 ** 20) };
  }

  /** After a restart: volumes whose instance is gone are released, and those whose making was cut
   *  short are made again from what is on record. */
  async resume(): Promise<void> {
    this.releaseOrphans();
    for (const v of this.ctx.store.volumes.all()) {
      if (v.state !== 'creating') continue;
      this.ctx.logger.info('making a volume again after a restart', { volume: v.id });
      const record = v.source.type === 'image' ? this.ctx.store.images.get(v.source.id) : undefined;
      const volume = v.source.type === 'volume' ? this.ctx.store.volumes.get(v.source.id) : undefined;
      try {
        if (v.source.type === 'image' && !record) throw new Error(`its image ${v.source.id} was deleted`);
        if (v.source.type === 'volume' && !volume) throw new Error(`its source volume ${v.source.id} was deleted`);
        void this.make(v, { image: record && await this.imageSource(record), volume: volume && { record: volume, path: this.path(volume.id) }, sizeMB: v.size_mb });
      } catch (err) {
        this.failMake(v, (err as Error).message);
      }
    }
  }

  /** Records a volume (state creating) and makes its file in the background; one the backend
   *  cannot hold (`unplaceable`: why) is recorded in error and never made, as Cinder's scheduler does. */
  create(tenant: Tenant, source: Source, input: VolumeInput, attachment: Volume['attachment'] = null, unplaceable?: string): Volume {
    const v: Volume = {
      id: randomUUID(), tenant_id: tenant.id, name: input.name ?? '', description: input.description ?? '',
      size_mb: source.sizeMB, state: 'creating', bootable: input.bootable ?? false,
      source: source.image ? { type: 'image', id: source.image.record.id } : source.volume ? { type: 'volume', id: source.volume.record.id } : { type: 'blank' },
      attachment, reason: null, metadata: input.metadata ?? {}, ...(input.user_id ? { user_id: input.user_id } : {}),
      ...(input.volume_type_id ? { volume_type_id: input.volume_type_id } : {}),
      ...(source.image ? { image_metadata: imageMetadata(source.image.record) } : {}),
      ...(source.volume?.record.image_metadata ? { image_metadata: { ...source.volume.record.image_metadata } } : {}),
      created_at: now(), updated_at: now(),
    };
    this.ctx.store.volumes.put(v);
    if (unplaceable) this.failMake(v, unplaceable);
    else void this.make(v, source);
    return v;
  }

  private async make(v: Volume, source: Source) {
    const file = this.path(v.id);
    try {
      await mkdir(this.ctx.volumeDir, { recursive: true });
      if (source.image) {
        const format = source.image.record.disk_format ?? 'raw';
        await run('qemu-img', ['convert', '-q', '-f', format, '-O', 'qcow2', source.image.path, file]);
        if (source.sizeMB > source.image.virtualMB) await run('qemu-img', ['resize', '-q', '-f', 'qcow2', file, `${source.sizeMB}M`]);
      } else if (source.volume) {
        await run('qemu-img', ['convert', '-q', '-f', 'qcow2', '-O', 'qcow2', source.volume.path, file]);
        if (source.sizeMB > source.volume.record.size_mb) await run('qemu-img', ['resize', '-q', '-f', 'qcow2', file, `${source.sizeMB}M`]);
      } else {
        await run('qemu-img', ['create', '-q', '-f', 'qcow2', file, `${source.sizeMB}M`]);
      }
    } catch (err) {
      await rm(file, { force: true });
      if (this.ctx.store.volumes.get(v.id)) this.failMake(v, (err as Error).message);
      return;
    }
    // Deleted (with its instance) while it was being made.
    if (!this.ctx.store.volumes.get(v.id)) return void rm(file, { force: true });
    const attached = v.attachment && this.ctx.store.instances.get(v.attachment.instance_id);
    this.save(v, { state: attached ? 'in-use' : 'available', attachment: attached ? v.attachment : null });
    this.ctx.events.add(v.tenant_id, 'info', `Created volume ${v.id}`);
    this.onMade(v);
  }

  private failMake(v: Volume, why: string) {
    this.save(v, { state: 'error', reason: why });
    this.ctx.events.add(v.tenant_id, 'error', `Failed to create volume ${v.id}: ${why}`);
    if (v.attachment) this.onFailed(v.attachment.instance_id, `could not make volume ${v.id}: ${why}`);
  }

  async delete(tenant: Tenant, id: string): Promise<void> {
    const v = this.get(tenant, id);
    if (v.attachment) throw new ApiError('in_use', `volume ${id} is attached to instance ${v.attachment.instance_id}: detach it first${v.attachment.root ? ' (a root volume goes when its instance is deleted)' : ''}`);
    if (v.state === 'creating') throw new ApiError('invalid_state', `volume ${id} is still being created: try again when it is available`);
    if (v.state === 'attaching') throw new ApiError('in_use', `volume ${id} is reserved for an attach: unreserve it first`);
    if (this.extending.has(id)) throw new ApiError('invalid_state', `volume ${id} is being extended: try again when that is done`);
    await this.remove(v);
  }

  update(tenant: Tenant, id: string, change: VolumeChange): Volume {
    return this.save(this.get(tenant, id), change);
  }

  /** Grows the volume's file to `sizeMB` (qemu-img resize); the quota is the caller's to check first. */
  async extend(tenant: Tenant, id: string, sizeMB: number): Promise<Volume> {
    const v = this.get(tenant, id);
    if (v.state !== 'available') throw new ApiError('invalid_state', `volume ${id} is ${v.state}: only an available (detached) volume can be extended`);
    if (!Number.isInteger(sizeMB) || sizeMB <= v.size_mb || sizeMB > MAX_VOLUME_MB) {
      throw badRequest(`the new size must be larger than the volume's ${v.size_mb} MB and at most ${MAX_VOLUME_MB} MB`);
    }
    if (this.extending.has(id)) throw new ApiError('invalid_state', `volume ${id} is being extended already`);
    this.extending.add(id);
    try {
      await run('qemu-img', ['resize', '-q', '-f', 'qcow2', this.path(id), `${sizeMB}M`]);
    } finally {
      this.extending.delete(id);
    }
    this.ctx.events.add(v.tenant_id, 'info', `Extended volume ${v.id} to ${sizeMB} MB`);
    return this.save(v, { size_mb: sizeMB });
  }

  /** Reserved for an attach to come (Block Storage's os-reserve): `attaching` with no instance yet,
   *  so nothing else attaches it; os-unreserve makes it available again. */
  reserve(tenant: Tenant, id: string, reserved: boolean): Volume {
    const v = this.get(tenant, id);
    const from = reserved ? 'available' : 'attaching';
    if (v.state !== from || v.attachment) throw new ApiError('invalid_state', `volume ${id} is ${v.state}: only ${reserved ? 'an available volume can be reserved' : 'a reserved volume can be unreserved'}`);
    return this.save(v, { state: reserved ? 'attaching' : 'available' });
  }

  /** An admin sets a volume's state by hand (Block Storage's os-reset_status). */
  resetState(v: Volume, state: (typeof RESETTABLE_STATES)[number]): Volume {
    // An attached volume may be marked in error (its attachment stays, for os-force_detach to end),
    // but not while an attach or detach is under way: the node's answer decides those.
    const settled = v.attachment && (v.state === 'in-use' || v.state === 'error');
    if (v.state === 'creating' || (v.attachment && (!settled || state !== 'error'))) {
      throw new ApiError('invalid_state', `volume ${v.id} is ${v.state}${v.attachment ? ` (attached to instance ${v.attachment.instance_id}: only error may be set, then os-force_detach)` : ''}: its state follows the cluster until it is available again`);
    }
    return this.save(v, { state, reason: null });
  }

  /** An admin detaches a volume whatever its state (one marked error too): the node really lets it go. */
  forceDetach(v: Volume): Volume {
    if (!v.attachment) throw new ApiError('invalid_state', `volume ${v.id} is not attached`);
    if (v.attachment.root) throw new ApiError('in_use', `volume ${v.id} is the root disk of instance ${v.attachment.instance_id}: it stays attached until the instance is deleted`);
    if (v.state === 'attaching' || v.state === 'detaching') throw new ApiError('invalid_state', `volume ${v.id} is ${v.state}: wait for the node's answer`);
    const inst = this.ctx.store.instances.get(v.attachment.instance_id);
    if (!inst) return this.save(v, { state: 'available', attachment: null });
    this.command(inst, this.frame('DETACH_VOLUME', inst, v.id));
    return this.save(v, { state: 'detaching' });
  }

  /** An admin deletes a volume whatever its state, unless an instance has it. */
  async forceDelete(v: Volume): Promise<void> {
    if (v.attachment) throw new ApiError('in_use', `volume ${v.id} is attached to instance ${v.attachment.instance_id}: detach it first`);
    // One still being made is dropped from the store, and make() removes its file when it ends.
    if (v.state === 'creating') this.ctx.store.volumes.delete(v.id);
    else await this.remove(v);
  }

  private async remove(v: Volume) {
    this.ctx.store.volumes.delete(v.id);
    await rm(this.path(v.id), { force: true });
  }

  attach(tenant: Tenant, id: string, inst: Instance): Volume {
    const v = this.get(tenant, id);
    if (inst.vm_type !== 'qemu') throw badRequest(`instance ${inst.id} is a container: only VMs can attach volumes`);
    if (v.attachment) throw new ApiError('in_use', `volume ${id} is already attached to instance ${v.attachment.instance_id}`);
    if (v.state !== 'available') throw new ApiError('invalid_state', `volume ${id} is ${v.state}: only an available volume can be attached`);
    if (this.extending.has(id)) throw new ApiError('invalid_state', `volume ${id} is being extended: attach it when that is done`);
    if (inst.state !== 'active' && inst.state !== 'exited') throw new ApiError('invalid_state', `instance ${inst.id} is ${inst.state}: volumes attach to active or stopped (exited) instances`);
    this.command(inst, this.frame('ATTACH_VOLUME', inst, id));
    return this.save(v, { state: 'attaching', attachment: { instance_id: inst.id, root: false, ephemeral: false } });
  }

  detach(tenant: Tenant, id: string): Volume {
    const v = this.get(tenant, id);
    if (!v.attachment || v.state !== 'in-use') throw new ApiError('invalid_state', `volume ${id} is ${v.state}: only an attached (in-use) volume can be detached`);
    if (v.attachment.root) throw new ApiError('in_use', `volume ${id} is the root disk of instance ${v.attachment.instance_id}: it stays attached until the instance is deleted`);
    const inst = this.ctx.store.instances.get(v.attachment.instance_id);
    if (!inst) return this.save(v, { state: 'available', attachment: null });
    if (inst.state === 'rescued') throw new ApiError('invalid_state', `instance ${inst.id} is rescued: unrescue it before its volumes change`);
    this.command(inst, this.frame('DETACH_VOLUME', inst, id));
    return this.save(v, { state: 'detaching' });
  }

  private frame(op: 'ATTACH_VOLUME' | 'DETACH_VOLUME', inst: Instance, volumeId: string): Frame {
    const to = inst.node_id ?? '';
    return op === 'ATTACH_VOLUME'
      ? { type: 'COMMAND', op, to, payload: { instanceId: inst.id, volume: { id: volumeId, path: this.path(volumeId), root: false } } }
      : { type: 'COMMAND', op, to, payload: { instanceId: inst.id, volumeId } };
  }

  private command(inst: Instance, frame: Frame) {
    if (!inst.node_id) throw new ApiError('invalid_state', `instance ${inst.id} is not on a node yet`);
    if (!this.ctx.send(frame)) throw schedulerNotConnected();
  }

  // --- volumes of instances ----------------------------------------------------------------------

  /** Checks a workload's disks for `count` new instances; resolves what new volumes are made of. */
  async prepare(tenant: Tenant, disks: WorkloadDisk[], count: number): Promise<(Source | Volume)[]> {
    const out: (Source | Volume)[] = [];
    for (const d of disks) {
      if (d.source?.service === 'volume') {
        const v = this.get(tenant, d.source.id);
        if (count > 1) throw badRequest(`the workload boots from volume ${v.id}: start one instance at a time`);
        if (v.attachment || v.state !== 'available') throw new ApiError('in_use', `volume ${v.id} is ${v.state}${v.attachment ? ` (attached to instance ${v.attachment.instance_id})` : ''}: it must be available`);
        out.push(v);
      } else {
        out.push(await this.source(tenant, d.size_mb, d.source?.id));
      }
    }
    return out;
  }

  /** Gives a new instance its volumes (prepared above); returns their ids, the root one first. */
  bind(tenant: Tenant, inst: Instance, disks: WorkloadDisk[], prepared: (Source | Volume)[]): string[] {
    const ids = disks.map((d, n) => {
      const attachment = { instance_id: inst.id, root: d.bootable, ephemeral: d.ephemeral && d.source?.service !== 'volume' };
      const p = prepared[n];
      if ('id' in p) return this.save(p, { state: 'in-use', attachment }).id;
      return this.create(tenant, p, { bootable: d.bootable, name: `${inst.name}-disk${n}` }, attachment).id;
    });
    return disks.map((d, n) => ({ d, id: ids[n] })).sort((a, b) => Number(b.d.bootable) - Number(a.d.bootable)).map((x) => x.id);
  }

  /** An instance can start once none of its volumes is still being made. */
  ready(inst: Instance): boolean {
    return (inst.volumes ?? []).every((id) => this.ctx.store.volumes.get(id)?.state !== 'creating');
  }

  refs(inst: Instance): VolumeRef[] {
    return (inst.volumes ?? []).flatMap((id) => {
      const v = this.ctx.store.volumes.get(id);
      return v ? [{ id, path: this.path(id), root: v.attachment?.root ?? false }] : [];
    });
  }

  /** The instance is gone: its ephemeral volumes go too, the others become available. The records
   *  change in the turn the instance goes (a node's report, written behind with it), the files
   *  after. A controller killed before all of it is written keeps volumes attached to an instance
   *  that is no more: the restarted one releases them (`releaseOrphans`). */
  async released(instanceId: string): Promise<void> {
    const files: string[] = [];
    for (const v of this.ctx.store.volumes.all()) {
      if (v.attachment?.instance_id !== instanceId) continue;
      if (!v.attachment.ephemeral) {
        this.save(v, { state: v.state === 'creating' ? 'creating' : 'available', attachment: null });
        continue;
      }
      this.ctx.store.volumes.delete(v.id);
      // make() removes the file of one still being made when it is done.
      if (v.state !== 'creating') files.push(this.path(v.id));
    }
    // A file that cannot be removed is left, and said: a rejection nobody awaits would end the controller.
    await Promise.all(files.map((f) => rm(f, { force: true }).catch((err) => this.ctx.logger.warn('a released volume\'s file could not be removed', { file: f, error: (err as Error).message }))));
  }

  /** After a restart: volumes attached to an instance that is no more are released as its end
   *  would have. The instance's deletion may be written without them (above): a controller killed
   *  so kept ephemeral volumes of deleted instances for ever (chaos:bat, killed 9 s into BAT). */
  private releaseOrphans(): void {
    const gone = new Set<string>();
    for (const v of this.ctx.store.volumes.all()) {
      const id = v.attachment?.instance_id;
      if (id && !this.ctx.store.instances.get(id)) gone.add(id);
    }
    for (const id of gone) {
      this.ctx.logger.warn('volumes attached to an instance that is no more are released', { instanceId: id });
      void this.released(id);
    }
  }

  /** Connected (again) to the scheduler: attaches and detaches whose answer may have been lost
   *  while the controller was down are sent again (the node answers a done one at once). */
  resend(): void {
    for (const v of this.ctx.store.volumes.all()) {
      if ((v.state !== 'attaching' && v.state !== 'detaching') || !v.attachment) continue;
      const inst = this.ctx.store.instances.get(v.attachment.instance_id);
      if (!inst?.node_id) continue;
      this.ctx.send(this.frame(v.state === 'attaching' ? 'ATTACH_VOLUME' : 'DETACH_VOLUME', inst, v.id));
    }
  }

  // --- what nodes report -------------------------------------------------------------------------

  attached(p: VolumeDone): void {
    const v = this.ctx.store.volumes.get(p.volumeId);
    const inst = this.ctx.store.instances.get(p.instanceId);
    if (!v || !inst || v.attachment?.instance_id !== inst.id) return;
    this.save(v, { state: 'in-use' });
    this.saveInstance(inst, [...(inst.volumes ?? []).filter((id) => id !== v.id), v.id]);
    this.ctx.events.add(v.tenant_id, 'info', `Attached volume ${v.id} to ${inst.id}`);
  }

  detached(p: VolumeDone): void {
    const v = this.ctx.store.volumes.get(p.volumeId);
    const inst = this.ctx.store.instances.get(p.instanceId);
    if (inst) this.saveInstance(inst, (inst.volumes ?? []).filter((id) => id !== p.volumeId));
    if (!v || v.attachment?.instance_id !== p.instanceId) return;
    this.save(v, { state: 'available', attachment: null });
    this.ctx.events.add(v.tenant_id, 'info', `Detached volume ${v.id} from ${p.instanceId}`);
  }

  failed(op: 'ATTACH_VOLUME_FAILURE' | 'DETACH_VOLUME_FAILURE', p: Pick<VolumeFailure, 'instanceId' | 'volumeId' | 'message'>): void {
    const v = this.ctx.store.volumes.get(p.volumeId);
    if (!v || v.attachment?.instance_id !== p.instanceId) return;
    const attach = op === 'ATTACH_VOLUME_FAILURE';
    this.save(v, attach ? { state: 'available', attachment: null } : { state: 'in-use' });
    this.ctx.events.add(v.tenant_id, 'error', `Failed to ${attach ? 'attach' : 'detach'} volume ${v.id} ${attach ? 'to' : 'from'} ${p.instanceId}: ${p.message}`);
  }

  /** An attach or detach named a node that is gone. */
  unreachable(op: string, instanceId: string, nodeId: string): void {
    const state = op === 'ATTACH_VOLUME' ? 'attaching' : 'detaching';
    for (const v of this.ctx.store.volumes.all()) {
      if (v.attachment?.instance_id === instanceId && v.state === state) {
        this.failed(`${op as 'ATTACH_VOLUME' | 'DETACH_VOLUME'}_FAILURE`, { instanceId, volumeId: v.id, message: `node ${nodeId} is not connected` });
      }
    }
  }

  private save(v: Volume, change: Partial<Volume>): Volume {
    Object.assign(v, change, { updated_at: now() });
    this.ctx.store.volumes.put(v);
    return v;
  }

  private saveInstance(inst: Instance, volumes: string[]) {
    Object.assign(inst, { volumes, updated_at: now() });
    this.ctx.store.instances.put(inst);
  }
}
