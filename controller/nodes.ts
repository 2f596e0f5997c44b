// The nodes the controller knows of, as the scheduler reports them. Runtime state: after a
// controller restart the scheduler tells it again (NODE_CONNECTED + last STATS per node).
import type { NodeConnection, NodeStats } from '../protocol/payloads.ts';
import type { NodeInfo } from './api-types.ts';
import { now } from './context.ts';

export class NodeRegistry {
  private readonly nodes = new Map<string, NodeInfo>();

  connected(c: NodeConnection): NodeInfo {
    const node: NodeInfo = {
      id: c.nodeId, hostname: c.hostname ?? c.nodeId, roles: c.roles, kind: c.simulated ? 'simulated' : 'real', tunnel_ip: c.tunnelIp ?? null, status: 'FULL',
      mem_total_mb: 0, mem_available_mb: 0, disk_total_mb: 0, disk_available_mb: 0, vcpus: 0, load: 0,
      instance_count: 0, connected_at: now(), updated_at: now(),
    };
    this.nodes.set(c.nodeId, node);
    return node;
  }

  disconnected(nodeId: string): void {
    const node = this.nodes.get(nodeId);
    if (node) Object.assign(node, { status: 'OFFLINE', updated_at: now() });
  }

  update(s: NodeStats): void {
    const node = this.nodes.get(s.nodeId) ?? this.connected({ nodeId: s.nodeId, hostname: s.hostname, roles: [] });
    Object.assign(node, {
      hostname: s.hostname, status: s.status,
      mem_total_mb: s.memTotalMB, mem_available_mb: s.memAvailableMB,
      disk_total_mb: s.diskTotalMB, disk_available_mb: s.diskAvailableMB,
      vcpus: s.vcpus, load: s.load, instance_count: s.instances.length, updated_at: now(),
    });
  }

  get(id: string): NodeInfo | undefined {
    return this.nodes.get(id);
  }

  isOnline(id: string): boolean {
    const node = this.nodes.get(id);
    return !!node && node.status !== 'OFFLINE';
  }

  all(): NodeInfo[] {
    return [...this.nodes.values()];
  }

  summary() {
    const all = this.all();
    const count = (s: NodeInfo['status']) => all.filter((n) => n.status === s).length;
    return { total: all.length, ready: count('READY'), full: count('FULL'), offline: count('OFFLINE') };
  }
}
