// Instance lifecycle as the controller decides it: creation (quota, addresses, the tenant's CNCI
// first), dispatch to the scheduler, and what nodes report back (docs/protocol.md).
import { randomUUID } from 'node:crypto';
import type { CnciReady, InstanceStateEvent, NodeStats, Placed, StartFailure, StartPayload } from '../protocol/payloads.ts';
import { ApiError, notFound } from '../shared/errors.ts';
import { gatewayOf, macFor } from './addresses.ts';
import { MAX_DELETED_SERVERS, MAX_INSTANCE_ACTIONS, type AskedAction, type Instance, type InstanceActionRecord, type Tenant, type Workload } from './api-types.ts';
import { now, schedulerNotConnected, type ControllerContext } from './context.ts';
import { checkQuota, type Usage } from './quotas.ts';
import type { Volumes } from './volumes.ts';
import { bootableBy } from './images.ts';
import { groupRequirement } from './server-groups.ts';
import { InstanceResizes } from './instance-resize.ts';
import { dropShelvedImage } from './instance-shelve.ts';
import { InstanceBook } from './instance-book.ts';
import { CreateAdmission, DEFAULT_ADMISSION } from './create-admission.ts';
import { Strays, type Stray } from './strays.ts';
import { ACTION_UNHEARD_MS, CommandsUnheard, REBOOT_UNHEARD_MS, START_UNSEEN_MS, STOP_UNHEARD_MS } from './commands-unheard.ts';

export interface CreateRequest {
  workloadId: string;
  count: number;
  name?: string;
  /** An image (id or name) replacing the workload's (OpenStack `server create --image`). */
  image?: string;
  /** Who asks: kept on each instance. */
  userId?: string;
  /** Kept on each instance as given (the compute API's server attributes). */
  attributes?: Omit<InstanceAttributes, 'name'>;
  /** Compute extras kept on each instance: its keypair (controller/keypairs.ts) and server group (controller/server-groups.ts). */
  extras?: Pick<Instance, 'key_name' | 'public_key' | 'server_group'>;
}

/** What a client may set on an instance and read back as it set it. */
export type InstanceAttributes = Partial<Pick<Instance, 'name' | 'metadata' | 'access_ipv4' | 'access_ipv6' | 'key_name' | 'reservation_id' | 'description' | 'tags' | 'user_data' | 'files' | 'disk_config'>>;

/** Sent a START that no scheduler's answer (PLACED, START_FAILURE) has reached yet; deleted
 *  meanwhile, it waits for that answer all the same (the node it lands on is told to delete it). */
const isUnplaced = (inst: Instance) => (inst.state === 'pending' || inst.state === 'deleting') && inst.dispatched && !inst.node_id;
/** The fields given a value (a client's change leaves out what it does not set). */
const defined = <T extends object>(o: T): Partial<T> => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;

export class Instances {
  /** Called when an instance is gone for good (external IPs are released). */
  onGone: (inst: Instance) => void = () => {};
  /** Called when a tenant's CNCI says it is ready, also again after a restart or a resume. */
  onCnciReady: (tenantId: string, cnciId: string) => void = () => {};
  /** Resize, confirm and revert (controller/instance-resize.ts). */
  readonly resizes: InstanceResizes;
  /** Each tenant's addresses in use and resources held, and how many instances are in each state. */
  readonly book: InstanceBook;
  /** Sheds creates while too many instances wait to start (docs/api.md "Busy"). */
  readonly admission: CreateAdmission;
  /** Instances sent a START that the scheduler has not placed or refused yet: a scheduler that
   *  goes (killed, restarted) may take such a START with it. A controller that restarts finds
   *  them in its store (docs/protocol.md, "Placements are saved"). */
  private readonly unplaced = new Set<string>();
  /** Instances nodes run that are not placed on them. */
  private readonly strays: Strays;
  /** Instances placed on nodes that do not have them. */
  private readonly startsUnseen = new CommandsUnheard(START_UNSEEN_MS);
  /** Instances stopping, and rebooting, whose node reports no stop, or no reboot, under way. */
  private readonly stopsUnheard = new CommandsUnheard(STOP_UNHEARD_MS);
  private readonly rebootsUnheard = new CommandsUnheard(REBOOT_UNHEARD_MS);
  private readonly actionsUnheard = new CommandsUnheard(ACTION_UNHEARD_MS);

  constructor(private readonly ctx: ControllerContext, private readonly volumes: Volumes) {
    this.book = new InstanceBook(ctx.store.instances);
    this.strays = new Strays(ctx);
    for (const inst of ctx.store.instances.all()) if (isUnplaced(inst)) this.unplaced.add(inst.id);
    this.admission = new CreateAdmission({ ...DEFAULT_ADMISSION, ...ctx.admission }, () => this.book.pendingStarts);
    this.resizes = new InstanceResizes(ctx, {
      save: (i, c) => this.save(i, c), event: (i, type, m) => this.event(i, type, m), usage: (t) => this.usage(t), checkFits: (w, i) => this.checkFits(w, i),
    });
    volumes.onMade = (v) => this.dispatchWaiting(v.tenant_id);
    volumes.onFailed = (instanceId, why) => {
      const inst = this.ctx.store.instances.get(instanceId);
      if (inst && !inst.dispatched) this.gone(inst, `Failed to start ${inst.id}: image_failure (${why})`, 'error');
    };
  }

  get(tenant: Tenant, id: string): Instance {
    const inst = this.ctx.store.instances.get(id);
    if (!inst || inst.tenant_id !== tenant.id || inst.cnci) throw notFound('instance', id);
    return inst;
  }

  list(tenantId: string): Instance[] {
    return this.ctx.store.instances.byTenant(tenantId).filter((i) => !i.cnci);
  }

  usage(tenantId: string): Usage {
    // A resize not yet confirmed or reverted counts the larger of its two flavors (instance-book.ts).
    return {
      ...this.book.held(tenantId),
      external_ips: this.ctx.store.externalIps.byTenant(tenantId).length,
      images: this.ctx.store.images.byTenant(tenantId).length,
      image_mb: Math.ceil(this.ctx.store.images.byTenant(tenantId).reduce((s, i) => s + (i.size ?? 0), 0) / 2 ** 20),
      ...this.volumes.usage(tenantId),
    };
  }

  async create(tenant: Tenant, workload: Workload, req: CreateRequest): Promise<Instance[]> {
    this.admission.admit(req.count);
    const { store } = this.ctx;
    const { vcpus, mem_mb, disk_mb } = workload.defaults;
    const disks = workload.vm_type === 'qemu' ? workload.disks ?? [] : [];
    const prepared = await this.volumes.prepare(tenant, disks, req.count);
    const newVolumes = prepared.filter((p) => !('id' in p)) as { sizeMB: number }[];
    checkQuota(store.quotas.get(tenant.id), this.usage(tenant.id), {
      instances: req.count, vcpus: vcpus * req.count, mem_mb: mem_mb * req.count, disk_mb: disk_mb * req.count,
      volumes: newVolumes.length * req.count, volume_mb: newVolumes.reduce((s, p) => s + p.sizeMB, 0) * req.count,
    });
    if (workload.requirements.privileged && !tenant.config.privileged_containers) {
      throw new ApiError('forbidden', `workload ${workload.id} needs privileged containers, which tenant ${tenant.id} may not run (an admin can allow it: ciao update tenant --privileged-containers true)`);
    }
    const image = this.resolveImage(tenant, workload, req.image);
    this.checkFits(workload, image);
    // Every address first: a create that cannot be completed leaves nothing behind (all or nothing).
    const ips = this.book.allocate(tenant.id, tenant.subnet, req.count);
    if (!tenant.cnci) this.startCnci(tenant);
    const created: Instance[] = [];
    for (const [n, ip] of ips.entries()) {
      const id = randomUUID();
      const name = req.name ? (req.count > 1 ? `${req.name}-${n}` : req.name) : id;
      const inst = this.record(tenant, workload, id, name, image, ip, false, {
        ...defined(req.attributes ?? {}), ...(req.userId ? { user_id: req.userId } : {}), ...req.extras, launch_index: n,
      });
      if (disks.length) this.save(inst, { volumes: this.volumes.bind(tenant, inst, disks, prepared) });
      created.push(inst);
    }
    for (const inst of created) if (this.ready(inst)) this.dispatch(inst);
    return created;
  }

  /** Qemu images must be in the image service; docker image names are the launcher's to check. */
  private resolveImage(tenant: Tenant, workload: Workload, override?: string): string {
    const wanted = override ?? workload.image_name;
    if (workload.vm_type !== 'qemu' && !override) return wanted;
    // Internal images (a CNCI's) are the cluster's own: no tenant boots one, by id or by name. By id,
    // any image the tenant may boot (shared with it, community); by name only its own and the public
    // ones — another tenant could give its image any name, and so take over a workload's image_name.
    const bootable = this.ctx.store.images.all().filter((i) => bootableBy(tenant.id, i));
    const byId = bootable.find((i) => i.id === wanted);
    const byName = byId ? [] : bootable.filter((i) => i.name === wanted && (i.owner === tenant.id || i.visibility === 'public'));
    if (byName.length > 1) throw new ApiError('conflict', `${byName.length} images are named ${wanted}: name the image by its id`);
    const image = byId ?? byName[0];
    if (!image) throw new ApiError('unknown_image', `image ${wanted} does not exist: upload it first (ciao create image, or openstack image create)`);
    return image.id;
  }

  /** Nova's rule: the flavor must hold what the image says it needs (its min_ram in MB, its
   *  min_disk in GB, checked when the flavor has a disk). */
  private checkFits(workload: Workload, imageId: string) {
    const image = this.ctx.store.images.get(imageId);
    if (!image) return; // a container's image is the node's to find
    const { mem_mb, disk_mb } = workload.defaults;
    if ((image.min_ram ?? 0) > mem_mb) throw new ApiError('invalid_request', `flavor ${workload.id} has ${mem_mb} MB of memory, less than the ${image.min_ram} MB image ${imageId} needs (its min_ram)`);
    const diskGb = Math.ceil(disk_mb / 1024);
    if (diskGb > 0 && (image.min_disk ?? 0) > diskGb) throw new ApiError('invalid_request', `flavor ${workload.id} has a ${diskGb} GB disk, smaller than the ${image.min_disk} GB image ${imageId} needs (its min_disk)`);
  }

  private record(tenant: Tenant, workload: Workload, id: string, name: string, image: string, ip: string, cnci: boolean, extra: Partial<Instance> = {}): Instance {
    const inst: Instance = {
      id, tenant_id: tenant.id, workload_id: workload.id, name, state: 'pending', node_id: null,
      ip, mac: macFor(ip), subnet: tenant.subnet, ssh_ip: null, ssh_port: null,
      vcpus: workload.defaults.vcpus, mem_mb: workload.defaults.mem_mb, disk_mb: workload.defaults.disk_mb,
      image, vm_type: workload.vm_type, volumes: [], external_ip: null, cnci, dispatched: false, reason: null,
      ...extra, created_at: now(), updated_at: now(),
    };
    this.ctx.store.instances.put(inst);
    return inst;
  }

  /** The tenant's first instance brings up its CNCI; instances wait for it before they start. */
  private startCnci(tenant: Tenant) {
    const workload = this.ctx.store.workloads.all().find((w) => w.visibility === 'internal' && w.requirements.network_node);
    if (!workload) throw new ApiError('no_cnci', 'no CNCI workload is registered: an admin must create an internal workload with requirements.network_node (setup does this)');
    const inst = this.record(tenant, workload, randomUUID(), `cnci-${tenant.id}`, workload.image_name, gatewayOf(tenant.subnet), true);
    tenant.cnci = { instance_id: inst.id, state: 'pending' };
    this.ctx.store.tenants.put(tenant);
    this.dispatch(inst);
  }

  private startPayload(inst: Instance): StartPayload {
    const { store } = this.ctx;
    const workload = store.workloads.get(inst.workload_id);
    const tenant = store.tenants.get(inst.tenant_id)!;
    const cnciIp = tenant.cnci && !inst.cnci ? store.instances.get(tenant.cnci.instance_id)?.ssh_ip ?? undefined : undefined;
    return {
      instanceId: inst.id, tenantId: inst.tenant_id, workloadId: inst.workload_id,
      vmType: inst.vm_type, image: inst.image, fwType: workload?.fw_type,
      resources: { vcpus: inst.vcpus, memMB: inst.mem_mb, diskMB: inst.disk_mb },
      requirements: {
        nodeId: workload?.requirements.node_id, hostname: workload?.requirements.hostname,
        networkNode: workload?.requirements.network_node, realNode: workload?.requirements.real_node,
        simulatedNode: workload?.requirements.simulated_node, privileged: workload?.requirements.privileged,
        group: groupRequirement(store, inst),
      },
      network: { ip: inst.ip, mac: inst.mac, subnet: inst.subnet, gateway: gatewayOf(inst.subnet), cnciIp },
      userData: workload?.config || undefined,
      hostname: inst.id,
      cnci: inst.cnci || undefined,
      volumes: inst.volumes?.length ? this.volumes.refs(inst) : undefined,
      publicKeys: inst.key_name && inst.public_key ? { [inst.key_name]: inst.public_key } : undefined,
      files: inst.files?.length ? inst.files : undefined,
    };
  }

  /** Sends START; an instance that could not be sent stays undispatched until the scheduler is back. */
  private dispatch(inst: Instance) {
    if (!this.ctx.send({ type: 'COMMAND', op: 'START', payload: this.startPayload(inst) })) return;
    this.unplaced.add(inst.id);
    this.save(inst, { dispatched: true });
  }

  /** After a reconnection to the scheduler: a START the last one neither placed nor refused went
   *  with it (the scheduler tells the controller where it placed a START before the node gets it,
   *  on the same link: one it placed is known by now). Sent again, to the scheduler there is now. */
  dispatchUnplaced() {
    for (const id of this.unplaced) {
      const inst = this.ctx.store.instances.get(id);
      if (!inst || !isUnplaced(inst)) this.unplaced.delete(id);
      // Deleted while its START was on the way to where it never arrived: nothing to stop.
      else if (inst.state === 'deleting') this.gone(inst, `Deleted ${inst.id}`);
      else this.ctx.send({ type: 'COMMAND', op: 'START', payload: this.startPayload(inst) });
    }
  }

  /** After a (re)connection to the scheduler, or once a tenant's CNCI is ready. */
  dispatchWaiting(tenantId?: string) {
    const all = tenantId ? this.ctx.store.instances.byTenant(tenantId) : this.ctx.store.instances.all();
    for (const inst of all) {
      if (!inst.dispatched && inst.state === 'pending' && this.ready(inst)) this.dispatch(inst);
    }
  }

  /** An instance starts after its tenant's CNCI is ready and its volumes are made. */
  private ready(inst: Instance): boolean {
    const tenant = this.ctx.store.tenants.get(inst.tenant_id);
    return (inst.cnci || tenant?.cnci?.state === 'ready') && this.volumes.ready(inst);
  }

  /** The scheduler put the instance on a node: from now on only that node speaks of it. */
  placed({ instanceId, nodeId }: Placed): void {
    this.unplaced.delete(instanceId);
    const inst = this.ctx.store.instances.get(instanceId);
    if (!inst || (inst.state === 'deleting' && inst.node_id)) return;
    this.save(inst, { node_id: nodeId });
    // Deleted before it was placed: the node deletes what it starts (its INSTANCE_DELETED ends it;
    // the node is asked again when it connects, as for every instance deleting there).
    if (inst.state === 'deleting') this.ctx.send({ type: 'COMMAND', op: 'DELETE', to: nodeId, payload: { instanceId } });
  }

  /** A PLACED told again (a scheduler's HELLO): news only for an instance still waiting for it. */
  placedAgain(placed: Placed): void {
    const inst = this.ctx.store.instances.get(placed.instanceId);
    if (inst && isUnplaced(inst)) this.placed(placed);
  }

  /** A scheduler's START_FAILURE told again, likewise. */
  refusedAgain(refused: StartFailure): void {
    const inst = this.ctx.store.instances.get(refused.instanceId);
    if (inst && isUnplaced(inst)) this.startFailed(refused);
  }

  cnciReady({ instanceId, tenantId, address }: CnciReady) {
    const tenant = this.ctx.store.tenants.get(tenantId);
    if (!tenant || tenant.cnci?.instance_id !== instanceId) return;
    // The tunnel endpoint the tenant's instances are started with (its START may not have completed yet).
    const cnci = this.ctx.store.instances.get(instanceId);
    if (cnci && address) this.save(cnci, { ssh_ip: address });
    if (tenant.cnci.state !== 'ready') {
      tenant.cnci = { instance_id: instanceId, state: 'ready' };
      this.ctx.store.tenants.put(tenant);
    }
    this.onCnciReady(tenantId, instanceId);
    this.dispatchWaiting(tenantId);
  }

  /** The instances placed on a node, CNCIs included. */
  onNode(nodeId: string): Instance[] {
    return this.book.onNode(nodeId).map((id) => this.ctx.store.instances.get(id)!);
  }

  /** Changes the record (and its updated_at). */
  change(inst: Instance, change: Partial<Instance>) {
    this.save(inst, change);
  }

  private save(inst: Instance, change: Partial<Instance>) {
    Object.assign(inst, change, { updated_at: now() });
    this.ctx.store.instances.put(inst);
  }

  stop(tenant: Tenant, id: string, admin = false): Instance {
    const inst = this.unlocked(this.get(tenant, id), admin);
    if (inst.state !== 'active' || inst.rebooting) throw new ApiError('invalid_state', `instance ${id} is ${inst.rebooting ? 'rebooting' : inst.state}: only an active instance can be stopped`);
    this.command('STOP', inst);
    this.save(inst, { state: 'stopping' });
    return inst;
  }

  restart(tenant: Tenant, id: string, admin = false): Instance {
    const inst = this.unlocked(this.get(tenant, id), admin);
    if (inst.state !== 'exited') throw new ApiError('invalid_state', `instance ${id} is ${inst.state}: only a stopped (exited) instance can be restarted`);
    this.command('RESTART', inst);
    this.save(inst, { state: 'pending', reason: null });
    return inst;
  }

  /** Changes what a client set (a rename, metadata, access addresses); the guest is not touched. */
  update(tenant: Tenant, id: string, change: InstanceAttributes, admin = false): Instance {
    const inst = this.get(tenant, id);
    if (inst.state === 'deleting') throw new ApiError('invalid_state', `instance ${id} is being deleted`);
    // As in Nova, a lock keeps the metadata; a rename is allowed.
    if (change.metadata) this.unlocked(inst, admin);
    this.save(inst, defined(change));
    return inst;
  }

  /** Deletes it; `action` is noted on it first (the compute API's instance action). */
  delete(tenant: Tenant, id: string, admin = false, action?: InstanceActionRecord): void {
    this.unlocked(this.get(tenant, id), admin);
    if (action) this.noteAction(tenant, id, action);
    this.remove(this.get(tenant, id));
  }

  /** Freezes an active instance in place, or thaws a paused one; the node's INSTANCE_STATE says when it is done. */
  pause(tenant: Tenant, id: string, pause: boolean, admin = false): Instance {
    const inst = this.unlocked(this.get(tenant, id), admin);
    const from = pause ? 'active' : 'paused';
    if (inst.state !== from || inst.rebooting) throw new ApiError('invalid_state', `instance ${id} is ${inst.rebooting ? 'rebooting' : inst.state}: only ${pause ? 'an active instance can be paused' : 'a paused instance can be unpaused'}`);
    this.ask(inst, { op: pause ? 'PAUSE' : 'UNPAUSE' });
    return inst;
  }

  /** Saves an active VM's memory to disk and ends its runtime (`suspended`), or starts a suspended
   *  one again from it; the node's INSTANCE_STATE says when it is done. A container cannot be
   *  suspended (docs/protocol.md "Actions"): refused here, before the node is asked. */
  suspend(tenant: Tenant, id: string, suspend: boolean, admin = false): Instance {
    const inst = this.unlocked(this.get(tenant, id), admin);
    const from = suspend ? 'active' : 'suspended';
    if (inst.state !== from || inst.rebooting) throw new ApiError('invalid_state', `instance ${id} is ${inst.rebooting ? 'rebooting' : inst.state}: only ${suspend ? 'an active instance can be suspended' : 'a suspended instance can be resumed'}`);
    if (suspend && inst.vm_type !== 'qemu') throw new ApiError('invalid_state', `instance ${id} is a container: a container cannot be suspended (Docker saves a container's memory only with CRIU, which the nodes do not have); pause or stop it instead`);
    this.ask(inst, { op: suspend ? 'SUSPEND' : 'RESUME' });
    return inst;
  }

  /** Boots a VM from a rescue image (`imageRef`, else its own) with its own disk attached, or
   *  (`imageRef` null) boots it from its own image again; the node's INSTANCE_STATE (`rescued`,
   *  `active`) says when it is done (docs/protocol.md "Actions"). A container has no rescue. */
  rescue(tenant: Tenant, id: string, imageRef: string | undefined | null, admin = false): Instance {
    const inst = this.unlocked(this.get(tenant, id), admin);
    const rescue = imageRef !== null;
    const busy = inst.rebooting ? 'rebooting' : inst.rebuilding ? 'rebuilding' : undefined;
    const ok = rescue ? inst.state === 'active' || inst.state === 'exited' : inst.state === 'rescued';
    if (!ok || busy) throw new ApiError('invalid_state', `instance ${id} is ${busy ?? inst.state}: only ${rescue ? 'an active or stopped instance can be rescued' : 'a rescued instance can be unrescued'}`);
    if (rescue && inst.vm_type !== 'qemu') throw new ApiError('invalid_state', `instance ${id} is a container: a container cannot be rescued (its filesystem is its image's layers, with no disk another system could boot beside); rebuild or delete it instead`);
    if (!rescue) return this.ask(inst, { op: 'UNRESCUE' }), inst;
    const workload = this.ctx.store.workloads.get(inst.workload_id);
    if (imageRef && !workload) throw new ApiError('invalid_state', `the workload of instance ${id} is gone: it can be rescued only from its own image`);
    const image = imageRef && workload ? this.resolveImage(tenant, workload, imageRef) : inst.image;
    this.ask(inst, { op: 'RESCUE', image });
    this.event(inst, 'info', `Rescuing ${inst.id} from image ${image}`);
    return inst;
  }

  /** Makes the instance's disk again from another image (Nova's rebuild): it keeps its id, MAC and
   *  address; an active one boots on the new disk, a stopped one stays stopped. `rebuilding` until
   *  its node says it is done. What a client set (name, metadata, access addresses) changes too. */
  rebuild(tenant: Tenant, id: string, imageRef: string, change: InstanceAttributes, admin = false): Instance {
    const inst = this.unlocked(this.get(tenant, id), admin);
    const busy = inst.rebooting ? 'rebooting' : inst.rebuilding ? 'rebuilding' : undefined;
    if ((inst.state !== 'active' && inst.state !== 'exited') || busy) throw new ApiError('invalid_state', `instance ${id} is ${busy ?? inst.state}: only an active or stopped instance can be rebuilt`);
    const workload = this.ctx.store.workloads.get(inst.workload_id);
    if (!workload) throw new ApiError('invalid_state', `the workload of instance ${id} is gone: it cannot be rebuilt`);
    const image = this.resolveImage(tenant, workload, imageRef);
    this.checkFits(workload, image);
    if (!this.ctx.send({ type: 'COMMAND', op: 'REBUILD', to: inst.node_id ?? '', payload: { instanceId: inst.id, image, files: change.files?.length ? change.files : undefined } })) throw schedulerNotConnected();
    this.save(inst, { ...defined(change), image, rebuilding: true });
    this.event(inst, 'info', `Rebuilding ${inst.id} from image ${image}`);
    return inst;
  }

  /** Boots the guest again. An active one: the node stops and starts its runtime (docs/protocol.md
   *  "Actions") while it stays active, `rebooting` until the node says it runs again. A hard
   *  reboot also starts a stopped one (Nova's rule). */
  reboot(tenant: Tenant, id: string, type: 'SOFT' | 'HARD', admin = false): Instance {
    const inst = this.unlocked(this.get(tenant, id), admin);
    if (inst.rebooting) throw new ApiError('invalid_state', `instance ${id} is already rebooting`);
    if (inst.state === 'active') {
      if (!this.ctx.send({ type: 'COMMAND', op: 'REBOOT', to: inst.node_id ?? '', payload: { instanceId: inst.id, hard: type === 'HARD' } })) throw schedulerNotConnected();
      this.save(inst, { rebooting: type });
    } else if (inst.state === 'exited' && type === 'HARD') {
      this.command('RESTART', inst);
      this.save(inst, { state: 'pending', rebooting: type, reason: null });
    } else {
      throw new ApiError('invalid_state', `instance ${id} is ${inst.state}: only an active instance can be rebooted${type === 'HARD' ? ', or a stopped one hard' : ''}`);
    }
    this.event(inst, 'info', `Rebooting ${inst.id} (${type.toLowerCase()})`);
    return inst;
  }

  /** Notes what was asked of an instance (the compute API's instance actions). */
  noteAction(tenant: Tenant, id: string, record: InstanceActionRecord): void {
    const inst = this.get(tenant, id);
    this.save(inst, { actions: [...(inst.actions ?? []), record].slice(-MAX_INSTANCE_ACTIONS) });
  }

  lock(tenant: Tenant, id: string, admin: boolean): Instance {
    const inst = this.get(tenant, id);
    if (!inst.locked_by) this.save(inst, { locked_by: admin ? 'admin' : 'owner' });
    return inst;
  }

  unlock(tenant: Tenant, id: string, admin: boolean): Instance {
    const inst = this.get(tenant, id);
    if (inst.locked_by === 'admin' && !admin) throw new ApiError('forbidden', `instance ${id} was locked by an admin: only an admin can unlock it`);
    this.save(inst, { locked_by: null });
    return inst;
  }

  /** A locked instance refuses its owner's changes; an admin's go through. */
  unlocked(inst: Instance, admin: boolean): Instance {
    if (inst.locked_by && !admin) throw new ApiError('invalid_state', `instance ${inst.id} is locked: unlock it first`);
    return inst;
  }

  /** Deletes through the node when one holds it, else at once. */
  remove(inst: Instance): void {
    if (inst.state === 'deleting') return;
    // Its START is on its way: it is deleted from the node the scheduler puts it on (placed()).
    if (isUnplaced(inst)) return this.save(inst, { state: 'deleting' });
    if (!inst.node_id || !inst.dispatched) return this.gone(inst, `Deleted ${inst.id}`);
    this.command('DELETE', inst);
    this.save(inst, { state: 'deleting' });
  }

  /** Sends an action whose end the node tells (its state changes) to the instance's node, and
   *  keeps it `asked` until then: sent again while its node's STATS show it neither done nor under
   *  way (reconcile). 503 when the scheduler is not connected. */
  ask(inst: Instance, asked: AskedAction) {
    if (!this.sendAsked(inst.node_id ?? '', inst.id, asked)) throw schedulerNotConnected();
    this.save(inst, { asked });
  }

  private sendAsked(to: string, instanceId: string, asked: AskedAction): boolean {
    if (asked.op === 'RESCUE') return this.ctx.send({ type: 'COMMAND', op: 'RESCUE', to, payload: { instanceId, image: asked.image! } });
    return this.ctx.send({ type: 'COMMAND', op: asked.op, to, payload: { instanceId } });
  }

  /** An answer to the action asked, `op` (a state, a failure, the node unreachable), ends it. */
  private answered(inst: Instance, op: string) {
    if (inst.asked?.op === op) this.save(inst, { asked: null });
  }

  private command(op: 'STOP' | 'RESTART' | 'DELETE', inst: Instance) {
    if (!this.ctx.send({ type: 'COMMAND', op, to: inst.node_id ?? '', payload: { instanceId: inst.id } })) throw schedulerNotConnected();
  }

  private gone(inst: Instance, message: string, type: 'info' | 'error' = 'info') {
    this.ctx.store.instances.delete(inst.id);
    this.unplaced.delete(inst.id);
    if (!inst.cnci) this.keepActions(inst);
    dropShelvedImage(this.ctx, inst);
    if (inst.cnci) {
      const tenant = this.ctx.store.tenants.get(inst.tenant_id);
      if (tenant?.cnci?.instance_id === inst.id) {
        tenant.cnci = null;
        this.ctx.store.tenants.put(tenant);
      }
    }
    this.onGone(inst);
    void this.volumes.released(inst.id);
    this.event(inst, type, message);
  }

  /** Keeps a deleted server's actions (Compute 2.21), the tenant's last MAX_DELETED_SERVERS only:
   *  creating and deleting servers in a loop cannot grow the datastore without end. */
  private keepActions(inst: Instance) {
    const store = this.ctx.store.deletedServers;
    store.put({ id: inst.id, tenant_id: inst.tenant_id, actions: inst.actions ?? [], deleted_at: now() });
    const kept = store.byTenant(inst.tenant_id).sort((a, b) => a.deleted_at.localeCompare(b.deleted_at));
    for (const old of kept.slice(0, Math.max(0, kept.length - MAX_DELETED_SERVERS))) store.delete(old.id);
  }

  /** A CNCI's events are the cluster's (admin) business, not its tenant's. */
  private event(inst: Instance, type: 'info' | 'error', message: string) {
    if (inst.cnci) this.ctx.events.add(null, type, `CNCI of tenant ${inst.tenant_id}: ${message}`);
    else this.ctx.events.add(inst.tenant_id, type, message);
  }

  // --- what nodes report ---------------------------------------------------------------------

  stateChanged(e: InstanceStateEvent): void {
    const inst = this.ctx.store.instances.get(e.instanceId);
    if (!inst || inst.state === 'deleting') return;
    const was = inst.state;
    // A death keeps its reason until the instance starts again; a STATS that repeats the state keeps it too.
    const reason = e.exit ? `exited unexpectedly: ${e.exit.reason}` : e.state === was ? inst.reason : null;
    // A reboot is over when the node says the instance runs again, or that it ended.
    const rebooted = inst.rebooting && e.state !== 'pending' ? { rebooting: null } : {};
    // So is a rebuild.
    const rebuilt = inst.rebuilding && e.state !== 'pending';
    // So is an action asked, whatever the state it ends in.
    const answered = inst.asked && e.state !== was ? { asked: null } : {};
    this.save(inst, { state: e.state, node_id: e.nodeId, ssh_ip: e.sshIp ?? null, ssh_port: e.sshPort ?? null, reason, ...rebooted, ...answered, ...(rebuilt ? { rebuilding: null } : {}), ...(e.at ? { state_at: e.at } : {}) });
    if (e.exit) {
      const last = e.exit.console.at(-1);
      this.event(inst, 'error', `Instance ${inst.id} exited unexpectedly on ${e.nodeId}: ${e.exit.reason}${last ? `; console: ${last}` : ''}`);
      return;
    }
    if (rebuilt) return this.event(inst, 'info', `Rebuilt ${inst.id}${e.state === 'exited' ? ' (stopped)' : ''}`);
    if (inst.resize && e.state !== 'pending' && this.resizes.answered(inst)) return;
    if (e.state === was) return;
    // Unshelved: the image that stood for its disk goes, as Nova's does.
    if (e.state === 'active' && inst.shelved_image) {
      dropShelvedImage(this.ctx, inst);
      this.save(inst, { shelved_image: null });
      return this.event(inst, 'info', `Unshelved ${inst.id} on ${e.nodeId}`);
    }
    if (e.state === 'shelved') return this.event(inst, 'info', `Shelved ${inst.id}`);
    if (e.state === 'shelved_offloaded') return this.event(inst, 'info', `Offloaded ${inst.id} (its disk stays on ${e.nodeId})`);
    const back: Partial<Record<Instance['state'], string>> = { paused: 'Unpaused', suspended: 'Resumed', rescued: 'Unrescued' };
    if (e.state === 'active') this.event(inst, 'info', back[was] ? `${back[was]} ${inst.id}` : `Started ${inst.id} on ${e.nodeId}`);
    if (e.state === 'exited') this.event(inst, 'info', `Stopped ${inst.id}`);
    if (e.state === 'paused') this.event(inst, 'info', `Paused ${inst.id}`);
    if (e.state === 'suspended') this.event(inst, 'info', `Suspended ${inst.id}`);
    if (e.state === 'rescued') this.event(inst, 'info', `Rescued ${inst.id}`);
  }

  deleted(instanceId: string): void {
    const inst = this.ctx.store.instances.get(instanceId);
    if (inst) this.gone(inst, `Deleted ${inst.id}`);
  }

  /** A start that failed can never run: the instance goes, with the reason as an event. */
  startFailed(f: StartFailure): void {
    const inst = this.ctx.store.instances.get(f.instanceId);
    if (!inst) return;
    if (inst.state === 'deleting') return this.gone(inst, `Deleted ${inst.id}`);
    this.gone(inst, `Failed to start ${inst.id}: ${f.reason} (${f.message})`, 'error');
    if (inst.cnci) this.failWaiting(inst.tenant_id, `the tenant's CNCI could not start: ${f.reason}`);
  }

  private failWaiting(tenantId: string, why: string) {
    for (const inst of this.ctx.store.instances.byTenant(tenantId)) {
      if (!inst.dispatched && !inst.cnci) this.gone(inst, `Failed to start ${inst.id}: network_failure (${why})`, 'error');
    }
  }

  lifecycleFailed(op: string, instanceId: string, message: string): void {
    const inst = this.ctx.store.instances.get(instanceId);
    if (!inst) return;
    this.answered(inst, op.replace(/_FAILURE$/, ''));
    const verb = op.replace(/_FAILURE$/, '').replace('SHELVE_OFFLOAD', 'OFFLOAD').toLowerCase();
    if (verb === 'reboot') this.save(inst, { rebooting: null });
    if (verb === 'rebuild') this.save(inst, { rebuilding: null });
    if (verb === 'resize') this.resizes.failed(inst);
    if (verb === 'shelve') this.shelveUndone(inst);
    this.event(inst, 'error', `Failed to ${verb} ${inst.id}: ${message}`);
  }

  /** A command named a node that is gone: a delete completes here, anything else is reported. */
  unreachable(op: string, instanceId: string | undefined, nodeId: string): void {
    const inst = instanceId ? this.ctx.store.instances.get(instanceId) : undefined;
    if (!inst) return;
    if (op === 'ATTACH_VOLUME' || op === 'DETACH_VOLUME') return this.volumes.unreachable(op, inst.id, nodeId);
    if (op === 'DELETE') return this.gone(inst, `Deleted ${inst.id} (its node ${nodeId} is not connected)`);
    this.answered(inst, op);
    if (op === 'SHELVE') this.shelveUndone(inst);
    // A shelved instance stays so: its disk is on that node, which may come back.
    if (op === 'SHELVE_OFFLOAD' || op === 'UNSHELVE') return this.event(inst, 'error', `Failed to ${op === 'UNSHELVE' ? 'unshelve' : 'offload'} ${inst.id}: node ${nodeId}, which keeps its disk, is not connected`);
    // A reboot that could not be asked for is not under way.
    this.save(inst, { state: 'missing', ...(op === 'REBOOT' ? { rebooting: null } : {}), ...(op === 'REBUILD' ? { rebuilding: null } : {}) });
    this.event(inst, 'error', `Failed to ${op.toLowerCase()} ${inst.id}: node ${nodeId} is not connected`);
  }

  /** A shelve that did not happen: its image record goes. */
  private shelveUndone(inst: Instance) {
    dropShelvedImage(this.ctx, inst);
    this.save(inst, { shelved_image: null });
  }

  /** A node (re)connected (also each one a reconnected controller is told of): what it may have
   *  done without the controller hearing of it is asked again. A delete: its INSTANCE_DELETED
   *  goes nowhere while the node has no scheduler, and a node answers one for an instance it no
   *  longer has at once. An unfinished resize: the node's holds went with its restart. */
  nodeConnected(nodeId: string): void {
    for (const inst of this.onNode(nodeId)) {
      if (inst.state === 'deleting') this.ctx.send({ type: 'COMMAND', op: 'DELETE', to: nodeId, payload: { instanceId: inst.id } });
      else this.resizes.resendFor(inst);
    }
  }

  nodeLost(nodeId: string): void {
    for (const inst of this.onNode(nodeId)) {
      // A shelved one runs nowhere: it waits, shelved, for its node (and disk) to come back.
      if (inst.state !== 'deleting' && inst.state !== 'shelved' && inst.state !== 'shelved_offloaded') this.save(inst, { state: 'missing' });
    }
  }

  /** The instance's node was removed for good (node.sh remove --force): it is forgotten, and its
   *  address, volumes and quota released, as a deletion would. */
  lost(inst: Instance, why: string): void {
    this.gone(inst, `Instance ${inst.id} lost: ${why}`, 'error');
  }

  /** STATS are the node's truth: adopt the states it reports for the instances it holds. */
  reconcile(stats: NodeStats): void {
    const strays: Stray[] = [];
    const stillActive: string[] = [];
    const notRebooting: string[] = [];
    const actionUnheard: string[] = [];
    for (const s of stats.instances) {
      const inst = this.ctx.store.instances.get(s.instanceId);
      // What runs where it was not placed is deleted there (one with no node yet has its START out).
      if (!inst || (inst.node_id !== null && inst.node_id !== stats.nodeId)) strays.push({ instanceId: s.instanceId, where: inst ? `is on ${inst.node_id}` : 'does not exist' });
      // A node reports only what was placed on it (docs/security.md).
      if (!inst || inst.node_id !== stats.nodeId || inst.state === 'deleting') continue;
      // A report taken before the last state change the controller applied is stale (the
      // scheduler hands a reconnecting controller the node's last report, up to 200 ms old).
      if (stats.at !== undefined && inst.state_at !== undefined && stats.at < inst.state_at) continue;
      // Asked to stop: `active` is its STOP not there yet, or lost with a scheduler (sent again
      // below); `stopping` is it under way; any other state ends it (its answer may have gone
      // with a scheduler).
      if (inst.state === 'stopping' && (s.state === 'active' || s.state === 'stopping')) {
        if (s.state === 'active') stillActive.push(inst.id);
        continue;
      }
      if (inst.rebooting && inst.state === 'active' && s.state === 'active' && !s.rebooting) notRebooting.push(inst.id);
      // An action asked that its node has neither done nor under way: its command, or its answer, may have gone with a scheduler.
      if (inst.asked && s.state === inst.state && !s.busy && !s.rebooting) actionUnheard.push(inst.id);
      if (inst.state !== s.state) {
        // A death the node reports (its INSTANCE_STATE may have gone with a scheduler or a
        // controller that went) is told as the event would have told it.
        const exit = s.state === 'exited' ? s.exit : undefined;
        this.stateChanged({ instanceId: s.instanceId, nodeId: stats.nodeId, state: s.state, sshIp: s.sshIp, sshPort: s.sshPort, at: stats.at, exit });
      }
    }
    this.strays.listed(stats.nodeId, strays);
    // Placed here, never spoken of by the node, and not in its STATS: its START may not have reached it.
    const listed = new Set(stats.instances.map((s) => s.instanceId));
    const unseen = this.onNode(stats.nodeId).filter((i) => i.state === 'pending' && i.dispatched && i.state_at === undefined && !listed.has(i.id)).map((i) => i.id);
    for (const id of this.startsUnseen.missed(stats.nodeId, unseen)) {
      const inst = this.ctx.store.instances.get(id)!;
      this.ctx.logger.warn('an instance placed on a node is not in its STATS: its START is sent to it again', { instanceId: id, nodeId: stats.nodeId });
      this.ctx.send({ type: 'COMMAND', op: 'START', to: stats.nodeId, payload: this.startPayload(inst) });
    }
    for (const id of this.stopsUnheard.missed(stats.nodeId, stillActive)) {
      this.ctx.logger.warn('an instance asked to stop is still active on its node: its STOP is sent to it again', { instanceId: id, nodeId: stats.nodeId });
      this.ctx.send({ type: 'COMMAND', op: 'STOP', to: stats.nodeId, payload: { instanceId: id } });
    }
    for (const id of this.rebootsUnheard.missed(stats.nodeId, notRebooting)) {
      const inst = this.ctx.store.instances.get(id)!;
      this.ctx.logger.warn('an instance asked to reboot has no reboot under way on its node, and no answer came: its REBOOT is sent to it again', { instanceId: id, nodeId: stats.nodeId });
      this.ctx.send({ type: 'COMMAND', op: 'REBOOT', to: stats.nodeId, payload: { instanceId: id, hard: inst.rebooting === 'HARD' } });
    }
    for (const id of this.actionsUnheard.missed(stats.nodeId, actionUnheard)) {
      const { asked } = this.ctx.store.instances.get(id)!;
      this.ctx.logger.warn('an action asked of an instance is neither done nor under way on its node, and no answer came: it is sent to the node again', { instanceId: id, nodeId: stats.nodeId, op: asked!.op });
      this.sendAsked(stats.nodeId, id, asked!);
    }
  }
}
