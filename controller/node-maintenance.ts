// Node maintenance (docs/nodes.md): an admin cordons and uncordons nodes, and forgets a node that
// was removed. The cordons live in the datastore (the nodes' records); the scheduler learns the
// whole set from here (COMMAND CORDONED), on each change and each time the controller connects.
import { ApiError, notFound } from '../shared/errors.ts';
import type { Instance, NodeInfo } from './api-types.ts';
import type { ControllerContext } from './context.ts';
import type { Instances } from './instances.ts';
import type { NodeRegistry } from './nodes.ts';

export class NodeMaintenance {
  constructor(private readonly ctx: ControllerContext, private readonly nodes: NodeRegistry, private readonly instances: Instances) {}

  /** Tells the scheduler the whole set (false when it is not connected: the next connection does). */
  announce(): boolean {
    return this.ctx.send({ type: 'COMMAND', op: 'CORDONED', payload: { nodes: this.nodes.cordoned() } });
  }

  /** Tells a scheduler just connected which nodes to wait for before it refuses a START it cannot
   *  place: those the controller knows of that take instances (docs/protocol.md, "Placement"). */
  expect(): boolean {
    return this.ctx.send({ type: 'COMMAND', op: 'NODES_EXPECTED', payload: { nodes: this.nodes.uncordoned() } });
  }

  setCordoned(id: string, cordoned: boolean): NodeInfo {
    const was = this.nodes.get(id)?.cordoned;
    const node = this.nodes.setCordoned(id, cordoned);
    if (!node) throw notFound('node', id);
    if (was !== cordoned) {
      this.announce();
      this.ctx.events.add(null, 'info', `Node ${id} ${cordoned ? 'cordoned: nothing new is placed there' : 'uncordoned'}`);
    }
    return node;
  }

  /** What still binds a node: its instances, and the CNCIs it hosts of tenants with instances elsewhere. */
  holding(id: string): Instance[] {
    const all = this.ctx.store.instances.all();
    const busyTenants = new Set(all.filter((i) => !i.cnci && i.node_id !== id).map((i) => i.tenant_id));
    return all.filter((i) => i.node_id === id && (!i.cnci || busyTenants.has(i.tenant_id)));
  }

  /** Forgets a node whose launcher is gone; `force`: with what it still held. */
  remove(id: string, force: boolean): void {
    const node = this.nodes.get(id);
    if (!node) throw notFound('node', id);
    if (node.status !== 'MISSING') throw new ApiError('in_use', `node ${id} is connected: stop its launcher first (./singlevm/node.sh remove ${id} does)`);
    const held = this.holding(id);
    if (held.length && !force) {
      const names = held.map((i) => (i.cnci ? `${i.id} (CNCI of tenant ${i.tenant_id})` : i.id)).join(', ');
      throw new ApiError('in_use', `node ${id} still holds ${held.length} instance(s): ${names}; delete them, or remove it with force=true (they are lost)`);
    }
    // What it held is lost with it, CNCIs of idle tenants included (the tenant's next instance makes one).
    for (const inst of this.instances.onNode(id)) {
      this.instances.lost(inst, `its node ${id} was removed${held.includes(inst) ? ' (node.sh remove --force)' : ''}`);
    }
    this.nodes.forget(id);
    if (node.cordoned) this.announce();
    this.ctx.events.add(null, 'info', `Node ${id} removed`);
  }
}
