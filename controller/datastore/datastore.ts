// The datastore interface: one collection of records per kind, found by id or by tenant.
// Two implementations: in memory (tests) and SQLite (WAL) with the same in-memory view in front.
import type { ClusterEvent, DeletedServer, ExternalIp, Image, Instance, Keypair, MetadefNamespace, NodeRecord, Pool, Quotas, ServerGroup, Tenant, Volume, VolumeMessage, VolumeServiceState, VolumeType, Workload } from '../api-types.ts';

export interface Collection<T extends { id: string }> {
  get(id: string): T | undefined;
  all(): T[];
  /** Records whose tenant_id (or owner) is the given tenant. */
  byTenant(tenantId: string | null): T[];
  put(record: T): void;
  delete(id: string): boolean;
  readonly size: number;
  /** Calls `listener` after every put (the record) and delete (undefined), loads included: for
   *  what is kept up to date beside the records rather than counted again per request. */
  watch(listener: (id: string, record: T | undefined) => void): void;
}

export interface Datastore {
  tenants: Collection<Tenant>;
  workloads: Collection<Workload>;
  instances: Collection<Instance>;
  events: Collection<ClusterEvent>;
  pools: Collection<Pool>;
  externalIps: Collection<ExternalIp>;
  quotas: Collection<Quotas>;
  images: Collection<Image>;
  volumes: Collection<Volume>;
  /** Compute keypairs, indexed by their user. */
  keypairs: Collection<Keypair>;
  serverGroups: Collection<ServerGroup>;
  /** Glance's metadata definitions, one record per namespace (its name is its id), indexed by owner. */
  metadefNamespaces: Collection<MetadefNamespace>;
  volumeTypes: Collection<VolumeType>;
  /** Block Storage group types: the same shape, their specs being group specs. */
  groupTypes: Collection<VolumeType>;
  volumeMessages: Collection<VolumeMessage>;
  volumeServices: Collection<VolumeServiceState>;
  /** The instance actions of deleted servers (Compute 2.21). */
  deletedServers: Collection<DeletedServer>;
  /** The nodes the controller has seen, with their cordon (docs/nodes.md). */
  nodes: Collection<NodeRecord>;
  /** A promise that settles once every change decided so far is saved, or undefined when none
   *  waits to be: what an answer or a frame that tells of a change waits for (docs/durability.md). */
  committed(): Promise<void> | undefined;
  /** The same for every change made so far, reports included: what the controller waits for before
   *  it tells the scheduler that its placements are saved (docs/protocol.md, "Placements are saved"). */
  saved(): Promise<void> | undefined;
  /** Runs `what`: the changes it makes are what nodes reported (they say it again after a
   *  restart), written behind, and nothing waits for them (docs/durability.md). */
  reported<T>(what: () => T): T;
  /** Called inside reported() when it tells someone (a frame): what it changed so far, and changes
   *  from now on until it returns, are decisions, waited for as such (docs/durability.md). */
  decideReported(): void;
  close(): void;
}

export const COLLECTIONS = ['tenants', 'workloads', 'instances', 'events', 'pools', 'externalIps', 'quotas', 'images', 'volumes', 'keypairs', 'serverGroups', 'metadefNamespaces', 'volumeTypes', 'groupTypes', 'volumeMessages', 'volumeServices', 'deletedServers', 'nodes'] as const;
export type CollectionName = (typeof COLLECTIONS)[number];

export const tenantOf = (record: object): string | null => {
  const r = record as { tenant_id?: string | null; owner?: string };
  return r.tenant_id ?? r.owner ?? null;
};
