// Resize with confirm and revert (Nova's, on the instance's own node): the controller's half of
// docs/protocol.md "Resize". The resize lives on the instance record (`resize`), so a restarted
// controller or launcher carries on from where it was; quota and the node both count the larger
// of the two flavors until the user confirms or reverts.
import type { ResizePayload } from '../protocol/payloads.ts';
import { ApiError, badRequest } from '../shared/errors.ts';
import type { FlavorSize, Instance, Tenant, Workload } from './api-types.ts';
import { schedulerNotConnected, type ControllerContext } from './context.ts';
import { checkQuota, type Usage } from './quotas.ts';

/** The phases in which the instance is held between two flavors (its other actions wait). */
const UNSETTLED = new Set(['resizing', 'verify', 'reverting']);

/** Whether a resize holds the instance: every action but a confirm, a revert, a lock or a delete waits. */
export const inResize = (i: Instance) => !!i.resize && UNSETTLED.has(i.resize.phase);

const sizeOf = (i: Instance): FlavorSize => ({ workload_id: i.workload_id, vcpus: i.vcpus, mem_mb: i.mem_mb, disk_mb: i.disk_mb });
const flavorOf = (w: Workload): FlavorSize => ({ workload_id: w.id, ...w.defaults });
const resources = (f: FlavorSize) => ({ vcpus: f.vcpus, memMB: f.mem_mb, diskMB: f.disk_mb });

/** What quota counts for the instance: the larger of the two flavors while a resize holds it. */
export function claimedSize(i: Instance): Pick<FlavorSize, 'vcpus' | 'mem_mb' | 'disk_mb'> {
  if (!inResize(i)) return i;
  const { from, to } = i.resize!;
  return { vcpus: Math.max(from.vcpus, to.vcpus), mem_mb: Math.max(from.mem_mb, to.mem_mb), disk_mb: Math.max(from.disk_mb, to.disk_mb) };
}

/** What Instances lends the resize: the record's writes, events, checks and quota usage. */
export interface InstanceRecords {
  save(inst: Instance, change: Partial<Instance>): void;
  event(inst: Instance, type: 'info' | 'error', message: string): void;
  usage(tenantId: string): Usage;
  checkFits(workload: Workload, imageId: string): void;
}

export class InstanceResizes {
  constructor(private readonly ctx: ControllerContext, private readonly records: InstanceRecords) {}

  /** Starts a resize to `workload`'s flavor (and its disk config, Nova's OS-DCF:diskConfig, when
   *  given): 400 for a flavor it cannot take, 409 in the wrong state. */
  resize(tenant: Tenant, inst: Instance, workload: Workload, diskConfig?: Instance['disk_config']): Instance {
    const busy = inst.rebooting ? 'rebooting' : inst.rebuilding ? 'rebuilding' : inResize(inst) ? `being resized (${inst.resize!.phase})` : undefined;
    if ((inst.state !== 'active' && inst.state !== 'exited') || busy) throw new ApiError('invalid_state', `instance ${inst.id} is ${busy ?? inst.state}: only an active or stopped instance can be resized`);
    if (workload.id === inst.workload_id) throw badRequest(`instance ${inst.id} already has flavor ${workload.id}: a resize must change the flavor`);
    if (workload.vm_type !== inst.vm_type) throw badRequest(`flavor ${workload.id} is a ${workload.vm_type === 'qemu' ? 'VM' : 'container'} workload and instance ${inst.id} is not: a resize keeps the kind`);
    if (workload.requirements.network_node || workload.visibility === 'internal') throw badRequest(`flavor ${workload.id} is the cluster's own`);
    if (workload.defaults.disk_mb < inst.disk_mb) throw badRequest(`flavor ${workload.id} has a ${workload.defaults.disk_mb} MB disk, smaller than the ${inst.disk_mb} MB of instance ${inst.id}: a disk is never shrunk`);
    if (inst.vm_type === 'qemu') this.records.checkFits(workload, inst.image);
    const from = sizeOf(inst);
    const to = flavorOf(workload);
    const more = (k: 'vcpus' | 'mem_mb' | 'disk_mb') => Math.max(0, to[k] - from[k]);
    checkQuota(this.ctx.store.quotas.get(tenant.id), this.records.usage(tenant.id), { vcpus: more('vcpus'), mem_mb: more('mem_mb'), disk_mb: more('disk_mb') });
    this.send(inst, { resources: resources(to), workloadId: to.workload_id, hold: resources(from) }, true);
    this.records.save(inst, { ...to, resize: { from, to, phase: 'resizing' }, ...(diskConfig ? { disk_config: diskConfig } : {}) });
    this.records.event(inst, 'info', `Resizing ${inst.id} from flavor ${from.workload_id} to ${to.workload_id}`);
    return inst;
  }

  /** Keeps the new flavor; the node forgets the old one's resources. */
  confirm(inst: Instance): Instance {
    const r = this.verifying(inst, 'confirmed');
    this.send(inst, { resources: resources(r.to), workloadId: r.to.workload_id, hold: null }, true);
    this.records.save(inst, { resize: { ...r, phase: 'confirming' } });
    this.records.event(inst, 'info', `Confirmed the resize of ${inst.id} to flavor ${r.to.workload_id}`);
    return inst;
  }

  /** Goes back to the old flavor: the node resizes it again (a grown disk stays grown). */
  revert(inst: Instance): Instance {
    const r = this.verifying(inst, 'reverted');
    this.send(inst, { resources: resources(r.from), workloadId: r.from.workload_id, hold: null }, true);
    this.records.save(inst, { ...r.from, resize: { ...r, phase: 'reverting' } });
    this.records.event(inst, 'info', `Reverting the resize of ${inst.id} to flavor ${r.from.workload_id}`);
    return inst;
  }

  private verifying(inst: Instance, what: string) {
    if (inst.resize?.phase !== 'verify') throw new ApiError('invalid_state', `instance ${inst.id} is not resized (${inst.resize ? inst.resize.phase : inst.state}): only a resize waiting for its confirmation (VERIFY_RESIZE) can be ${what}`);
    return inst.resize;
  }

  private send(inst: Instance, p: Omit<ResizePayload, 'instanceId'>, must: boolean) {
    const sent = this.ctx.send({ type: 'COMMAND', op: 'RESIZE', to: inst.node_id ?? '', payload: { instanceId: inst.id, ...p } });
    if (!sent && must) throw schedulerNotConnected();
  }

  /** The node said the instance's state after a RESIZE (not `pending`): a phase waiting for it ends.
   *  True when that was a resize's end (its own event is said here). */
  answered(inst: Instance): boolean {
    const r = inst.resize;
    if (!r || r.phase === 'verify') return false;
    if (r.phase === 'resizing') {
      this.records.save(inst, { resize: { ...r, phase: 'verify' } });
      this.records.event(inst, 'info', `Resized ${inst.id} to flavor ${r.to.workload_id}${inst.state === 'exited' ? ' (stopped)' : ''}: confirm or revert it`);
    } else {
      this.records.save(inst, { resize: null });
      if (r.phase === 'reverting') this.records.event(inst, 'info', `Reverted the resize of ${inst.id}: flavor ${r.from.workload_id} again`);
    }
    return true;
  }

  /** The node refused or broke a RESIZE: the instance is as the node still has it. */
  failed(inst: Instance): void {
    const r = inst.resize;
    if (!r || r.phase === 'verify') return;
    if (r.phase === 'resizing') this.records.save(inst, { ...r.from, resize: null });
    else if (r.phase === 'reverting') this.records.save(inst, { ...r.to, resize: { ...r, phase: 'verify' } });
    else this.records.save(inst, { resize: null });
  }

  /** After a (re)connection to the scheduler: every unfinished resize is sent again (a node's
   *  own reconnection: `resendFor`, through Instances.nodeConnected). */
  resend(): void {
    for (const inst of this.ctx.store.instances.all()) this.resendFor(inst);
  }

  /** An unfinished resize of this instance sent again (its node's holds are lost with a restart);
   *  the node answers a done one at once. */
  resendFor(inst: Instance): void {
    const r = inst.resize;
    if (!r || !inst.node_id || inst.state === 'deleting') return;
    const back = r.phase === 'reverting';
    this.send(inst, { resources: resources(back ? r.from : r.to), workloadId: (back ? r.from : r.to).workload_id, hold: r.phase === 'resizing' || r.phase === 'verify' ? resources(r.from) : null }, false);
  }
}
