// Nova's shelve, shelveOffload and unshelve as the controller decides them (docs/protocol.md
// "Shelve"): the node that ran the instance stops it and keeps its disk, releases its memory and
// vcpus on the offload, and starts it again from that disk on the unshelve. The `<name>-shelved`
// image Nova makes is recorded here as what stands for that disk (its bytes stay on the node).
import { randomUUID } from 'node:crypto';
import { ApiError } from '../shared/errors.ts';
import type { Image, Instance, Tenant } from './api-types.ts';
import { now, type ControllerContext } from './context.ts';
import type { Instances } from './instances.ts';

const SHELVABLE: Instance['state'][] = ['active', 'paused', 'exited'];

export class Shelving {
  constructor(private readonly ctx: ControllerContext, private readonly instances: Instances) {}

  /** Stops the instance on its node and keeps it there with its disk (`shelved`). */
  shelve(tenant: Tenant, id: string, admin = false): Instance {
    const inst = this.instances.unlocked(this.instances.get(tenant, id), admin);
    const busy = inst.rebooting ? 'rebooting' : inst.rebuilding ? 'rebuilding' : inst.shelved_image ? 'shelved already, or being shelved' : undefined;
    if (!SHELVABLE.includes(inst.state) || busy) throw new ApiError('invalid_state', `instance ${id} is ${busy ?? inst.state}: only an active, paused or stopped instance can be shelved`);
    this.instances.ask(inst, { op: 'SHELVE' });
    this.instances.change(inst, { shelved_image: this.recordImage(inst).id });
    return inst;
  }

  /** Releases a shelved instance's memory and vcpus on its node; the disk stays there. */
  offload(tenant: Tenant, id: string, admin = false): Instance {
    const inst = this.instances.unlocked(this.instances.get(tenant, id), admin);
    if (inst.state !== 'shelved') throw new ApiError('invalid_state', `instance ${id} is ${inst.state}: only a shelved instance can be offloaded`);
    this.instances.ask(inst, { op: 'SHELVE_OFFLOAD' });
    return inst;
  }

  /** Starts a shelved instance again, on the node that keeps its disk. */
  unshelve(tenant: Tenant, id: string, admin = false): Instance {
    const inst = this.instances.unlocked(this.instances.get(tenant, id), admin);
    if (inst.state !== 'shelved' && inst.state !== 'shelved_offloaded') throw new ApiError('invalid_state', `instance ${id} is ${inst.state}: only a shelved instance can be unshelved`);
    this.instances.ask(inst, { op: 'UNSHELVE' });
    return inst;
  }

  /** Nova's shelved image: the tenant's, named after the server. It holds no data in the image
   *  service (`queued`): its properties say where the disk it stands for is. */
  private recordImage(inst: Instance): Image {
    const image: Image = {
      id: randomUUID(), name: `${inst.name}-shelved`, status: 'queued', visibility: 'private', owner: inst.tenant_id,
      size: null, checksum: null, disk_format: null, container_format: null, created_at: now(), updated_at: now(),
      properties: { instance_uuid: inst.id, image_type: 'shelved', ciao_disk_node: inst.node_id ?? '' },
    };
    this.ctx.store.images.put(image);
    return image;
  }
}

/** Removes an instance's shelved image record (unshelved, or deleted): the user may have deleted it already. */
export function dropShelvedImage(ctx: ControllerContext, inst: Instance): void {
  if (!inst.shelved_image) return;
  if (ctx.store.images.get(inst.shelved_image)?.properties?.instance_uuid === inst.id) ctx.store.images.delete(inst.shelved_image);
}
