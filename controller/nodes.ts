// The nodes the controller knows of: what the scheduler reports (connections, STATS: runtime state,
// told again after a controller restart) over the records of the nodes it has seen (the `nodes`
// collection), so a node whose launcher is down stays listed as MISSING and keeps its cordon.
import type { NodeConnection, NodeStats } from '../protocol/payloads.ts';
import type { NodeInfo, NodeRecord } from './api-types.ts';
import type { Collection } from './datastore/datastore.ts';
import { now } from './context.ts';

const blank = { mem_total_mb: 0, mem_available_mb: 0, disk_total_mb: 0, disk_available_mb: 0, vcpus: 0, load: 0, instance_count: 0 };

export class NodeRegistry {
  private readonly nodes = new Map<string, NodeInfo>();
  /** The nodes by status, and the cordoned ones, counted as they change: `GET /cluster/status`
   *  asks on every poll, and walking 5 000 nodes each time cost the controller a second of a burst. */
  private readonly counts = { READY: 0, FULL: 0, MISSING: 0, cordoned: 0 };

  constructor(private readonly records?: Collection<NodeRecord>) {
    for (const r of records?.all() ?? []) this.set({ ...r, status: 'MISSING', ...blank, connected_at: now(), updated_at: now() });
  }

  /** Counts a node in (1) or out (-1). */
  private tally(node: NodeInfo, by: 1 | -1) {
    this.counts[node.status] += by;
    if (node.cordoned) this.counts.cordoned += by;
  }

  private set(node: NodeInfo) {
    const old = this.nodes.get(node.id);
    if (old) this.tally(old, -1);
    this.nodes.set(node.id, node);
    this.tally(node, 1);
  }

  private change(node: NodeInfo, fields: Partial<NodeInfo>) {
    this.tally(node, -1);
    Object.assign(node, fields);
    this.tally(node, 1);
  }

  connected(c: NodeConnection): NodeInfo {
    const kept = this.records?.get(c.nodeId);
    const record: NodeRecord = {
      id: c.nodeId, hostname: c.hostname ?? c.nodeId, roles: c.roles, kind: c.simulated ? 'simulated' : 'real', tunnel_ip: c.tunnelIp ?? null,
      cordoned: kept?.cordoned ?? false,
    };
    // Written only when it changes: thousands of simulated nodes reconnecting write nothing.
    if (this.records && JSON.stringify(kept) !== JSON.stringify(record)) this.records.put(record);
    const node: NodeInfo = { ...record, status: 'FULL', ...blank, connected_at: now(), updated_at: now() };
    this.set(node);
    return node;
  }

  disconnected(nodeId: string): void {
    const node = this.nodes.get(nodeId);
    if (node) this.change(node, { status: 'MISSING', updated_at: now() });
  }

  update(s: NodeStats): void {
    const node = this.nodes.get(s.nodeId) ?? this.connected({ nodeId: s.nodeId, hostname: s.hostname, roles: [] });
    this.change(node, {
      hostname: s.hostname, status: s.status,
      mem_total_mb: s.memTotalMB, mem_available_mb: s.memAvailableMB,
      disk_total_mb: s.diskTotalMB, disk_available_mb: s.diskAvailableMB,
      vcpus: s.vcpus, load: s.load, instance_count: s.instances.length, updated_at: now(),
    });
  }

  /** Marks a known node cordoned or not; the record keeps it. */
  setCordoned(id: string, cordoned: boolean): NodeInfo | undefined {
    const node = this.nodes.get(id);
    if (!node) return undefined;
    this.change(node, { cordoned });
    const record = this.records?.get(id);
    if (record && record.cordoned !== cordoned) this.records!.put({ ...record, cordoned });
    return node;
  }

  /** The node is gone for good (removed): neither listed nor kept. */
  forget(id: string): void {
    const node = this.nodes.get(id);
    if (node) this.tally(node, -1);
    this.nodes.delete(id);
    this.records?.delete(id);
  }

  cordoned(): string[] {
    return this.all().filter((n) => n.cordoned).map((n) => n.id);
  }

  uncordoned(): string[] {
    return this.all().filter((n) => !n.cordoned).map((n) => n.id);
  }

  get(id: string): NodeInfo | undefined {
    return this.nodes.get(id);
  }

  isOnline(id: string): boolean {
    const node = this.nodes.get(id);
    return !!node && node.status !== 'MISSING';
  }

  all(): NodeInfo[] {
    return [...this.nodes.values()];
  }

  summary() {
    const { READY, FULL, MISSING, cordoned } = this.counts;
    return { total: this.nodes.size, ready: READY, full: FULL, missing: MISSING, cordoned };
  }
}
