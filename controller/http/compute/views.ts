// What the compute API shows of a flavor (a workload) and a server (an instance), in the shape of
// the microversion asked for (controller/http/microversion.ts): a view has exactly the fields of
// Tempest's and Nova's schemas of that version, each from the cluster's state.
import { createHash } from 'node:crypto';
import type { Request } from '../../../shared/http-router.ts';
import type { AskedAction, Instance, Workload } from '../../api-types.ts';
import { atLeast } from '../compute-scope.ts';
import type { ComputeApi } from './context.ts';

type Status = 'BUILD' | 'ACTIVE' | 'PAUSED' | 'SUSPENDED' | 'RESCUE' | 'SHELVED' | 'SHELVED_OFFLOADED' | 'REBUILD' | 'SHUTOFF' | 'ERROR' | 'DELETED' | 'REBOOT' | 'HARD_REBOOT' | 'RESIZE' | 'VERIFY_RESIZE' | 'REVERT_RESIZE';
export const STATUS: Record<Instance['state'], Status> = {
  pending: 'BUILD', active: 'ACTIVE', paused: 'PAUSED', suspended: 'SUSPENDED', rescued: 'RESCUE', stopping: 'ACTIVE', exited: 'SHUTOFF', hung: 'ERROR', missing: 'ERROR', deleting: 'DELETED',
  shelved: 'SHELVED', shelved_offloaded: 'SHELVED_OFFLOADED',
};
const VM_STATE: Record<Status, string> = {
  BUILD: 'building', ACTIVE: 'active', PAUSED: 'paused', SUSPENDED: 'suspended', RESCUE: 'rescued', SHELVED: 'shelved', SHELVED_OFFLOADED: 'shelved_offloaded', SHUTOFF: 'stopped', ERROR: 'error', DELETED: 'deleted', REBOOT: 'active', HARD_REBOOT: 'active', REBUILD: 'active',
  RESIZE: 'active', VERIFY_RESIZE: 'resized', REVERT_RESIZE: 'resized',
};
/** The status of a resize's phases (controller/instance-resize.ts); `confirming` shows the state's. */
const RESIZE_STATUS: Record<string, Status> = { resizing: 'RESIZE', verify: 'VERIFY_RESIZE', reverting: 'REVERT_RESIZE' };
/** A server's status: its state's, or the reboot or rebuild it is in. */
export const statusOf = (i: Instance): Status => {
  if (i.state === 'deleting') return STATUS[i.state];
  if (i.rebuilding) return 'REBUILD';
  if (i.resize && RESIZE_STATUS[i.resize.phase]) return RESIZE_STATUS[i.resize.phase];
  return i.rebooting ? (i.rebooting === 'HARD' ? 'HARD_REBOOT' : 'REBOOT') : STATUS[i.state];
};
const BUSY_TASK: Partial<Record<Status, string>> = { REBOOT: 'rebooting', HARD_REBOOT: 'rebooting_hard', REBUILD: 'rebuilding', RESIZE: 'resize_migrating', REVERT_RESIZE: 'resize_reverting' };
const taskState = (i: Instance) => BUSY_TASK[statusOf(i)] ?? (i.asked ? ASKED_TASK[i.asked.op] : TASK_STATE[i.state]) ?? null;
/** Nova's task state while an action asked of the node has not ended (docs/protocol.md, "Actions"). */
const ASKED_TASK: Record<AskedAction['op'], string> = {
  PAUSE: 'pausing', UNPAUSE: 'unpausing', SUSPEND: 'suspending', RESUME: 'resuming', SHELVE: 'shelving', SHELVE_OFFLOAD: 'shelving_offloading',
  UNSHELVE: 'unshelving', RESCUE: 'rescuing', UNRESCUE: 'unrescuing',
};
const TASK_STATE: Partial<Record<Instance['state'], string>> = { pending: 'spawning', stopping: 'powering-off', deleting: 'deleting' };
/** Nova's power states: 0 no state, 1 running, 3 paused, 4 shut down, 6 crashed, 7 suspended (an offloaded server has none). */
const POWER_STATE: Record<Instance['state'], number> = { pending: 0, active: 1, paused: 3, suspended: 7, rescued: 1, stopping: 1, exited: 4, hung: 6, missing: 0, deleting: 0, shelved: 4, shelved_offloaded: 0 };

/** A flavor's size, as Nova counts it: disk in whole GB. */
export const flavorDiskGb = (w: Workload) => Math.ceil(w.defaults.disk_mb / 1024);

export function flavorView(api: ComputeApi, w: Workload, detail: boolean, req: Request) {
  // 2.55: a flavor has a description (a workload's description is its name: none of its own).
  const summary = { id: w.id, name: w.description, links: api.links(`/flavors/${w.id}`), ...(atLeast(req, '2.55') ? { description: w.flavor?.description ?? null } : {}) };
  if (!detail) return summary;
  return {
    ...summary, ram: w.defaults.mem_mb, vcpus: w.defaults.vcpus, disk: flavorDiskGb(w), swap: w.flavor?.swap_mb || '',
    'OS-FLV-EXT-DATA:ephemeral': w.flavor?.ephemeral_gb ?? 0, 'OS-FLV-DISABLED:disabled': false, rxtx_factor: w.flavor?.rxtx_factor ?? 1.0,
    'os-flavor-access:is_public': w.visibility === 'public',
    // 2.61: the extra specs come with the flavor.
    ...(atLeast(req, '2.61') ? { extra_specs: extraSpecs(w) } : {}),
  };
}

/** A flavor's extra specs: as an admin set them, else the workload's machine type and firmware. */
export const extraSpecs = (w: Workload): Record<string, string> => w.extra_specs ?? { vm_type: w.vm_type, fw_type: w.fw_type };

/** The tenant's one network, named as the server's addresses show it. */
export const networkName = (i: Instance) => `${i.tenant_id}-net`;

/** A server's addresses by network; `extended` adds the address type and MAC (the detail view). */
export function addresses(i: Instance, extended: boolean) {
  const address = (addr: string, type: 'fixed' | 'floating') =>
    ({ version: 4, addr, ...(extended ? { 'OS-EXT-IPS:type': type, 'OS-EXT-IPS-MAC:mac_addr': i.mac } : {}) });
  return { [networkName(i)]: [address(i.ip, 'fixed'), ...(i.external_ip ? [address(i.external_ip, 'floating')] : [])] };
}

/** The node a server is shown on: none once offloaded (its disk stays on its node, which the
 *  controller keeps for its unshelve: docs/protocol.md "Shelve"), as Nova shows no host then. */
const shownNode = (i: Instance) => (i.state === 'shelved_offloaded' ? null : i.node_id);

/** Nova's hostId: the host hidden per project, the same for two servers of a project on one node. */
const hostId = (i: Instance) => (shownNode(i) ? createHash('sha224').update(i.tenant_id + i.node_id).digest('hex') : '');

export function serverSummary(api: ComputeApi, i: Instance) {
  return { id: i.id, name: i.name, links: api.links(`/servers/${i.id}`) };
}

/** From 2.47 a server shows the flavor it was made with (its own sizes), not a link to one. */
function serverFlavor(api: ComputeApi, i: Instance, req: Request) {
  if (!atLeast(req, '2.47')) return { id: i.workload_id, links: [{ rel: 'bookmark', href: api.url(`/flavors/${i.workload_id}`) }] };
  const w = api.s.store.workloads.get(i.workload_id);
  return {
    original_name: w?.description ?? i.workload_id, vcpus: i.vcpus, ram: i.mem_mb, disk: Math.ceil(i.disk_mb / 1024), ephemeral: 0, swap: 0,
    ...(w ? { extra_specs: extraSpecs(w) } : {}),
  };
}

/** The view of PUT /servers/{id} (Nova's common view); the detail view adds to it. */
export function serverView(api: ComputeApi, i: Instance, req: Request) {
  const status = statusOf(i);
  return {
    ...serverSummary(api, i), status, tenant_id: i.tenant_id, user_id: i.user_id ?? '', created: i.created_at, updated: i.updated_at,
    flavor: serverFlavor(api, i, req),
    image: i.vm_type === 'qemu' ? { id: i.image, links: [{ rel: 'bookmark', href: api.url(`/images/${i.image}`) }] } : '',
    addresses: addresses(i, false),
    accessIPv4: i.access_ipv4 ?? '', accessIPv6: i.access_ipv6 ?? '', metadata: i.metadata ?? {}, hostId: hostId(i),
    'OS-DCF:diskConfig': i.disk_config ?? 'MANUAL',
    // Nova shows progress only while a server is building or running, and a fault only in ERROR.
    ...(status === 'BUILD' || status === 'ACTIVE' ? { progress: 0 } : {}),
    ...(status === 'ERROR' && i.reason ? { fault: { code: 500, created: i.updated_at, message: i.reason } } : {}),
    ...(atLeast(req, '2.9') ? { locked: Boolean(i.locked_by) } : {}),
    ...(atLeast(req, '2.19') ? { description: i.description ?? null } : {}),
    ...(atLeast(req, '2.26') ? { tags: i.tags ?? [] } : {}),
    // 2.63: a create may not name certificates here (refused), so a server has none.
    ...(atLeast(req, '2.63') ? { trusted_image_certificates: null } : {}),
  };
}

/** Nova's host_status (2.16, admins): whether the node holding the server is up. */
function hostStatus(api: ComputeApi, i: Instance) {
  const nodeId = shownNode(i);
  if (!nodeId) return '';
  const node = api.s.nodes.get(nodeId);
  return !node ? 'UNKNOWN' : node.status === 'MISSING' ? 'DOWN' : 'UP';
}

/** The extended server attributes of 2.3 (admins): the create's reservation, the guest's hostname
 *  (the launcher names it after the instance), its root disk, the user_data it was given. */
const extendedAttributes = (i: Instance) => ({
  'OS-EXT-SRV-ATTR:reservation_id': i.reservation_id ?? null, 'OS-EXT-SRV-ATTR:launch_index': i.launch_index ?? 0,
  'OS-EXT-SRV-ATTR:kernel_id': '', 'OS-EXT-SRV-ATTR:ramdisk_id': '', 'OS-EXT-SRV-ATTR:hostname': i.id,
  'OS-EXT-SRV-ATTR:root_device_name': i.vm_type === 'qemu' ? '/dev/vda' : null, 'OS-EXT-SRV-ATTR:user_data': i.user_data ?? null,
});

/** The attached volumes; from 2.3 with whether each goes with the server (its workload's disks do). */
function volumesAttached(api: ComputeApi, i: Instance, req: Request) {
  if (!atLeast(req, '2.3')) return (i.volumes ?? []).map((id) => ({ id }));
  return (i.volumes ?? []).map((id) => ({ id, delete_on_termination: api.s.store.volumes.get(id)?.attachment?.ephemeral ?? false }));
}

/** GET /servers/{id} and /servers/detail; the host attributes are for admins only, as in Nova. */
export function serverDetail(api: ComputeApi, i: Instance, admin: boolean, req: Request) {
  return {
    ...serverView(api, i, req), addresses: addresses(i, true),
    key_name: i.key_name ?? null, config_drive: i.vm_type === 'qemu' ? 'True' : '',
    security_groups: [{ name: 'default' }], 'OS-EXT-AZ:availability_zone': 'nova',
    'OS-EXT-STS:vm_state': VM_STATE[statusOf(i)], 'OS-EXT-STS:task_state': taskState(i),
    'OS-EXT-STS:power_state': POWER_STATE[i.state],
    'os-extended-volumes:volumes_attached': volumesAttached(api, i, req),
    ...(admin ? { 'OS-EXT-SRV-ATTR:host': shownNode(i), 'OS-EXT-SRV-ATTR:hypervisor_hostname': shownNode(i), 'OS-EXT-SRV-ATTR:instance_name': i.id } : {}),
    ...(admin && atLeast(req, '2.3') ? extendedAttributes(i) : {}),
    ...(admin && atLeast(req, '2.16') ? { host_status: hostStatus(api, i) } : {}),
  };
}
