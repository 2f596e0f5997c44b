// Where a START goes: the nodes' last reported capacity, less what was placed on them since, searched
// round robin from just after the last pick (docs/protocol.md, "Placement"). A server group's policy
// narrows the nodes: anti-affinity avoids its members' nodes, affinity keeps to theirs; a soft
// policy is a preference, a hard one a refusal (group_policy) when no node satisfies it.
import type { NodeStats, Requirements, Resources, Role, StartFailureReason } from '../protocol/payloads.ts';

export interface NodeView {
  id: string;
  hostname: string;
  roles: ReadonlySet<Role>;
  /** A simulation backend's node (its HELLO said so): never a candidate for `requirements.realNode`, the only one for `requirements.simulatedNode`. */
  simulated: boolean;
  status: 'READY' | 'FULL';
  memAvailableMB: number;
  diskAvailableMB: number;
  vcpusAvailable: number;
}

export type PlacementResult =
  | { ok: true; nodeId: string }
  /** `awaits`: a node away for a moment (it left, and is waited for) that could take it. */
  | { ok: false; reason: StartFailureReason; message: string; awaits?: string };

export interface PlacementRequest {
  /** Remembered with its group's placements (a START's instance id). */
  instanceId?: string;
  resources: Resources;
  requirements: Requirements;
}

export class Placement {
  private readonly nodes = new Map<string, NodeView>();
  /** Node ids in join order; the round robin walks this list. */
  private order: string[] = [];
  /** Where the last search of each kind (role, real_node, simulated_node) picked: a kind's round robin
   *  is its own, so that thousands of simulated placements do not keep starting a real_node search
   *  just after the same real node (it took every real instance of a mixed cluster's burst). */
  private readonly last = new Map<string, number>();
  /** Members this scheduler placed, by group: the controller's view of them may lag (a burst of starts). */
  private readonly groups = new Map<string, Map<string, string>>();
  /** Nodes an admin cordoned: no new placement (the controller's whole set, COMMAND CORDONED). */
  private cordoned: ReadonlySet<string> = new Set();
  /** Nodes away for a moment (scheduler/nodes-away.ts), as their last STATS left them: never a
   *  candidate, but a refusal says when one of them could take it. */
  private readonly away = new Map<string, NodeView>();

  setCordoned(ids: Iterable<string>): void {
    this.cordoned = new Set(ids);
  }

  get size(): number {
    return this.nodes.size;
  }

  /** A node joined; until its first STATS it is not a candidate. */
  add(id: string, hostname: string, roles: Iterable<Role>, simulated = false): void {
    if (!this.nodes.has(id)) this.order.push(id);
    this.nodes.set(id, { id, hostname, roles: new Set(roles), simulated, status: 'FULL', memAvailableMB: 0, diskAvailableMB: 0, vcpusAvailable: 0 });
  }

  /** A node left; `away`: it is waited for, as it was, until `returned`. */
  remove(id: string, away = false): void {
    const node = this.nodes.get(id);
    if (!node) return;
    this.nodes.delete(id);
    if (away) this.away.set(id, node);
    const i = this.order.indexOf(id);
    this.order.splice(i, 1);
    for (const [kind, at] of this.last) if (i <= at) this.last.set(kind, at - 1);
  }

  /** An away node is back, or no longer waited for. */
  returned(id: string): void {
    this.away.delete(id);
  }

  /** A node's STATS replace what the scheduler believed, reservations included. */
  update(stats: NodeStats): void {
    const node = this.nodes.get(stats.nodeId);
    if (!node) return;
    Object.assign(node, {
      hostname: stats.hostname,
      status: stats.status,
      memAvailableMB: stats.memAvailableMB,
      diskAvailableMB: stats.diskAvailableMB,
      vcpusAvailable: stats.vcpusAvailable,
    });
  }

  get(id: string): NodeView | undefined {
    return this.nodes.get(id);
  }

  /** An instance is gone (deleted): it no longer binds its group's placements. Said by a node
   *  (`nodeId`), only if it is the node the instance was placed on. */
  forget(instanceId: string, nodeId?: string): void {
    for (const [id, members] of this.groups) {
      if (nodeId !== undefined && members.has(instanceId) && members.get(instanceId) !== nodeId) continue;
      if (members.delete(instanceId) && members.size === 0) this.groups.delete(id);
    }
  }

  place(req: PlacementRequest): PlacementResult {
    const group = req.requirements.group;
    if (!group) return this.orAway(this.search(req), req);
    const nodes = new Set([...group.nodes, ...(this.groups.get(group.id)?.values() ?? [])]);
    const anti = group.policy.endsWith('anti-affinity');
    // Affinity with no member placed yet: anywhere.
    const allowed = anti ? (id: string) => !nodes.has(id) : (id: string) => nodes.size === 0 || nodes.has(id);
    let result = this.search(req, allowed);
    if (!result.ok && group.policy.startsWith('soft-')) result = this.search(req);
    else if (!result.ok && result.reason !== 'no_cn' && result.reason !== 'no_net_cn') {
      const where = [...nodes].join(', ');
      const why = result.reason === 'group_policy' ? '' : `: ${result.message}`;
      result = {
        ok: false, reason: 'group_policy',
        message: anti
          ? `server group ${group.id} is anti-affinity and its members are already on ${where}: no other node can take this instance${why}`
          : `server group ${group.id} is affinity and its members are on ${where}, which cannot take this instance${why}`,
      };
    }
    if (result.ok && req.instanceId) {
      let members = this.groups.get(group.id);
      if (!members) this.groups.set(group.id, (members = new Map()));
      members.set(req.instanceId, result.nodeId);
    }
    return this.orAway(result, req, group.policy.startsWith('soft-') ? undefined : allowed);
  }

  /** A refusal names an away node that could have taken the instance, if there is one. */
  private orAway(result: PlacementResult, req: PlacementRequest, allowed: (nodeId: string) => boolean = () => true): PlacementResult {
    if (result.ok || this.away.size === 0) return result;
    const role: Role = req.requirements.networkNode ? 'network' : 'compute';
    for (const node of this.away.values()) {
      if (node.roles.has(role) && matches(node, req) && !this.cordoned.has(node.id) && allowed(node.id) && node.status === 'READY' && fits(node, req.resources)) {
        return { ...result, awaits: node.id };
      }
    }
    return result;
  }

  private search(req: PlacementRequest, allowed: (nodeId: string) => boolean = () => true): PlacementResult {
    const role: Role = req.requirements.networkNode ? 'network' : 'compute';
    const { nodeId, hostname, realNode, simulatedNode } = req.requirements;
    const kind = `${role}${realNode ? ' real' : ''}${simulatedNode ? ' simulated' : ''}`;
    const last = this.last.get(kind) ?? -1;
    const n = this.order.length;
    let withRole = 0;
    let matching = 0;
    const cordoned: string[] = [];
    let permitted = 0;
    let largestFree = 0;
    for (let k = 1; k <= n; k++) {
      const i = (last + k) % n;
      const node = this.nodes.get(this.order[i])!;
      if (!node.roles.has(role)) continue;
      withRole++;
      if (!matches(node, req)) continue;
      if (this.cordoned.has(node.id)) {
        cordoned.push(node.id);
        continue;
      }
      matching++;
      if (!allowed(node.id)) continue;
      permitted++;
      if (node.status === 'READY' && fits(node, req.resources)) {
        this.last.set(kind, i);
        node.memAvailableMB -= req.resources.memMB;
        node.diskAvailableMB -= req.resources.diskMB;
        node.vcpusAvailable -= req.resources.vcpus;
        return { ok: true, nodeId: node.id };
      }
      largestFree = Math.max(largestFree, node.memAvailableMB);
    }
    if (withRole === 0) {
      return role === 'network'
        ? { ok: false, reason: 'no_net_cn', message: 'no network node is connected' }
        : { ok: false, reason: 'no_cn', message: 'no compute node is connected' };
    }
    if (matching === 0) {
      const wanted = [nodeId && `node_id=${nodeId}`, hostname && `hostname=${hostname}`, realNode && 'real_node', simulatedNode && 'simulated_node'].filter(Boolean).join(', ');
      const reason = role === 'network' ? 'no_net_cn' : 'no_cn';
      if (cordoned.length) return { ok: false, reason, message: `every ${role} node${wanted ? ` that matches ${wanted}` : ''} is cordoned (maintenance): ${cordoned.join(', ')}` };
      return { ok: false, reason, message: `no ${role} node matches ${wanted}` };
    }
    if (permitted === 0) return { ok: false, reason: 'group_policy', message: 'no node is left' };
    return {
      ok: false,
      reason: 'full_cloud',
      message: `no ${role} node has ${req.resources.memMB} MB, ${req.resources.vcpus} vcpus and ${req.resources.diskMB} MB disk free: largest free memory is ${Math.max(0, largestFree)} MB`,
    };
  }
}

/** The node is one the request's requirements name (its id, hostname, real or simulated). */
function matches(node: NodeView, { requirements: { nodeId, hostname, realNode, simulatedNode } }: PlacementRequest): boolean {
  return !(nodeId && node.id !== nodeId) && !(hostname && node.hostname !== hostname) && !(realNode && node.simulated) && !(simulatedNode && !node.simulated);
}

function fits(node: NodeView, r: Resources): boolean {
  return node.memAvailableMB >= r.memMB && node.vcpusAvailable >= r.vcpus && node.diskAvailableMB >= r.diskMB;
}
