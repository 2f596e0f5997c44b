// What the compute API shows of a flavor (a workload) and a server (an instance), in the shape of
// microversion 2.1 — the only one served (controller/http/microversion.ts): a view has exactly the
// fields of Tempest's and Nova's 2.1 schemas, each from the cluster's state.
import { createHash } from 'node:crypto';
import type { Instance, Workload } from '../../api-types.ts';
import type { ComputeApi } from './context.ts';

type Status = 'BUILD' | 'ACTIVE' | 'PAUSED' | 'SUSPENDED' | 'REBUILD' | 'SHUTOFF' | 'ERROR' | 'DELETED' | 'REBOOT' | 'HARD_REBOOT';
export const STATUS: Record<Instance['state'], Status> = {
  pending: 'BUILD', active: 'ACTIVE', paused: 'PAUSED', suspended: 'SUSPENDED', stopping: 'ACTIVE', exited: 'SHUTOFF', hung: 'ERROR', missing: 'ERROR', deleting: 'DELETED',
};
const VM_STATE: Record<Status, string> = {
  BUILD: 'building', ACTIVE: 'active', PAUSED: 'paused', SUSPENDED: 'suspended', SHUTOFF: 'stopped', ERROR: 'error', DELETED: 'deleted', REBOOT: 'active', HARD_REBOOT: 'active', REBUILD: 'active',
};
/** A server's status: its state's, or the reboot or rebuild it is in. */
export const statusOf = (i: Instance): Status => {
  if (i.state === 'deleting') return STATUS[i.state];
  if (i.rebuilding) return 'REBUILD';
  return i.rebooting ? (i.rebooting === 'HARD' ? 'HARD_REBOOT' : 'REBOOT') : STATUS[i.state];
};
const BUSY_TASK: Partial<Record<Status, string>> = { REBOOT: 'rebooting', HARD_REBOOT: 'rebooting_hard', REBUILD: 'rebuilding' };
const taskState = (i: Instance) => BUSY_TASK[statusOf(i)] ?? TASK_STATE[i.state] ?? null;
const TASK_STATE: Partial<Record<Instance['state'], string>> = { pending: 'spawning', stopping: 'powering-off', deleting: 'deleting' };
/** Nova's power states: 0 no state, 1 running, 3 paused, 4 shut down, 6 crashed, 7 suspended. */
const POWER_STATE: Record<Instance['state'], number> = { pending: 0, active: 1, paused: 3, suspended: 7, stopping: 1, exited: 4, hung: 6, missing: 0, deleting: 0 };

/** A flavor's size, as Nova counts it: disk in whole GB. */
export const flavorDiskGb = (w: Workload) => Math.ceil(w.defaults.disk_mb / 1024);

export function flavorView(api: ComputeApi, w: Workload, detail: boolean) {
  const summary = { id: w.id, name: w.description, links: api.links(`/flavors/${w.id}`) };
  if (!detail) return summary;
  return {
    ...summary, ram: w.defaults.mem_mb, vcpus: w.defaults.vcpus, disk: flavorDiskGb(w), swap: '',
    'OS-FLV-EXT-DATA:ephemeral': 0, 'OS-FLV-DISABLED:disabled': false, rxtx_factor: 1.0,
    'os-flavor-access:is_public': w.visibility === 'public',
  };
}

/** A flavor's extra specs: the workload's machine type and firmware. */
export const extraSpecs = (w: Workload): Record<string, string> => ({ vm_type: w.vm_type, fw_type: w.fw_type });

/** The tenant's one network, named as the server's addresses show it. */
export const networkName = (i: Instance) => `${i.tenant_id}-net`;

/** A server's addresses by network; `extended` adds the address type and MAC (the detail view). */
export function addresses(i: Instance, extended: boolean) {
  const address = (addr: string, type: 'fixed' | 'floating') =>
    ({ version: 4, addr, ...(extended ? { 'OS-EXT-IPS:type': type, 'OS-EXT-IPS-MAC:mac_addr': i.mac } : {}) });
  return { [networkName(i)]: [address(i.ip, 'fixed'), ...(i.external_ip ? [address(i.external_ip, 'floating')] : [])] };
}

/** Nova's hostId: the host hidden per project, the same for two servers of a project on one node. */
const hostId = (i: Instance) => (i.node_id ? createHash('sha224').update(i.tenant_id + i.node_id).digest('hex') : '');

export function serverSummary(api: ComputeApi, i: Instance) {
  return { id: i.id, name: i.name, links: api.links(`/servers/${i.id}`) };
}

/** The view of PUT /servers/{id} (Nova's common view); the detail view adds to it. */
export function serverView(api: ComputeApi, i: Instance) {
  const status = statusOf(i);
  return {
    ...serverSummary(api, i), status, tenant_id: i.tenant_id, user_id: i.user_id ?? '', created: i.created_at, updated: i.updated_at,
    flavor: { id: i.workload_id, links: [{ rel: 'bookmark', href: api.url(`/flavors/${i.workload_id}`) }] },
    image: i.vm_type === 'qemu' ? { id: i.image, links: [{ rel: 'bookmark', href: api.url(`/images/${i.image}`) }] } : '',
    addresses: addresses(i, false),
    accessIPv4: i.access_ipv4 ?? '', accessIPv6: i.access_ipv6 ?? '', metadata: i.metadata ?? {}, hostId: hostId(i),
    'OS-DCF:diskConfig': 'MANUAL',
    // Nova shows progress only while a server is building or running, and a fault only in ERROR.
    ...(status === 'BUILD' || status === 'ACTIVE' ? { progress: 0 } : {}),
    ...(status === 'ERROR' && i.reason ? { fault: { code: 500, created: i.updated_at, message: i.reason } } : {}),
  };
}

/** GET /servers/{id} and /servers/detail; the host attributes are for admins only, as in Nova. */
export function serverDetail(api: ComputeApi, i: Instance, admin: boolean) {
  return {
    ...serverView(api, i), addresses: addresses(i, true),
    key_name: i.key_name ?? null, config_drive: i.vm_type === 'qemu' ? 'True' : '',
    security_groups: [{ name: 'default' }], 'OS-EXT-AZ:availability_zone': 'nova',
    'OS-EXT-STS:vm_state': VM_STATE[statusOf(i)], 'OS-EXT-STS:task_state': taskState(i),
    'OS-EXT-STS:power_state': POWER_STATE[i.state],
    'os-extended-volumes:volumes_attached': (i.volumes ?? []).map((id) => ({ id })),
    ...(admin ? { 'OS-EXT-SRV-ATTR:host': i.node_id, 'OS-EXT-SRV-ATTR:hypervisor_hostname': i.node_id, 'OS-EXT-SRV-ATTR:instance_name': i.id } : {}),
  };
}
